"""stats.lag_verdict: Burrow's rules, one test per rule, on hand-made sample histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stats.lag_verdict import SAMPLE_SLOTS, LagSample, group_verdict, partition_verdict, recent

T = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
STEP = timedelta(seconds=5)


def history(*points: tuple[int, int]) -> list[LagSample]:
    """(offset, lag) every 5 s from T on."""
    return [LagSample(T + i * STEP, offset, lag) for i, (offset, lag) in enumerate(points)]


def just_after(samples: list[LagSample]) -> datetime:
    return samples[-1].at + timedelta(seconds=1)


def test_rule_1_ok_when_the_lag_was_zero_at_some_sample() -> None:
    samples = history((10, 5), (10, 0), (10, 9))  # would be a STALL without the zero
    assert partition_verdict(samples, lag_now=9, now=just_after(samples)) == "OK"


def test_rule_1_ok_when_there_is_no_lag_now() -> None:
    samples = history((10, 5), (10, 5), (10, 5))
    assert partition_verdict(samples, lag_now=0, now=T + timedelta(hours=1)) == "OK"


def test_rule_2_rewind_when_the_offset_goes_backwards() -> None:
    samples = history((100, 5), (120, 5), (40, 90))
    assert partition_verdict(samples, lag_now=90, now=just_after(samples)) == "REWIND"


def test_rule_3_stop_when_the_samples_stopped_longer_ago_than_the_window_lasts() -> None:
    samples = history((100, 50), (150, 40), (200, 30))  # 10 s of samples, healthy ones
    assert partition_verdict(samples, lag_now=30, now=samples[-1].at + timedelta(seconds=11)) == (
        "STOP"
    )
    assert partition_verdict(samples, lag_now=30, now=samples[-1].at + timedelta(seconds=9)) == "OK"


def test_rule_4_stall_when_the_offset_does_not_move_while_there_is_lag() -> None:
    samples = history((100, 5), (100, 8), (100, 12))
    assert partition_verdict(samples, lag_now=12, now=just_after(samples)) == "STALL"


def test_rule_5_warn_when_the_offset_moves_but_the_lag_never_shrinks() -> None:
    samples = history((100, 50), (150, 50), (200, 70))
    assert partition_verdict(samples, lag_now=70, now=just_after(samples)) == "WARN"


def test_rule_6_ok_when_the_lag_shrinks_somewhere() -> None:
    samples = history((100, 50), (150, 60), (200, 40))
    assert partition_verdict(samples, lag_now=40, now=just_after(samples)) == "OK"


def test_no_samples_is_ok_as_in_burrow() -> None:
    assert partition_verdict([], lag_now=1000, now=T) == "OK"


def test_the_group_takes_its_worst_partition_in_burrows_order() -> None:
    assert group_verdict(["OK", "WARN", "OK"]) == "WARN"
    assert group_verdict(["STOP", "STALL", "WARN"]) == "STALL"
    assert group_verdict(["STALL", "REWIND"]) == "REWIND"
    assert group_verdict([]) == "OK"


def test_the_window_drops_samples_left_in_the_ring_from_before_a_pause() -> None:
    old = LagSample(T - timedelta(hours=1), 5, 3)
    fresh = history((100, 5), (110, 4))
    window = recent([fresh[1], old, fresh[0]], interval=STEP)
    assert window == fresh
    assert len(recent(history(*[(i, 1) for i in range(40)]), interval=STEP)) == SAMPLE_SLOTS
