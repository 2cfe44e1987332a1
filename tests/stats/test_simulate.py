"""`manage.py simulate`: the event generator, pacing and figures, and one run against a server."""

from __future__ import annotations

import io
import json
import random
import re
import socket
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from impressions.contract import event_from_input
from impressions.models import Impression
from impressions.simulation import (
    Event,
    EventSource,
    HttpSender,
    Outcome,
    Pacer,
    Simulation,
    Tally,
    ad_ids,
    progress_line,
    summary_lines,
    user_ids,
    zipf_weights,
)
from stats.models import AdMinuteCount

NOW = datetime(2026, 1, 15, 10, 30, tzinfo=UTC)


# --- pure functions ------------------------------------------------------------------------------


def test_ids_are_numbered_and_padded() -> None:
    assert ad_ids(3) == ["demo-ad-01", "demo-ad-02", "demo-ad-03"]
    assert ad_ids(120)[0] == "demo-ad-001"
    assert user_ids(2) == ["sim-user-1", "sim-user-2"]


def test_zipf_weights_fall_with_rank_and_skew_zero_is_uniform() -> None:
    weights = zipf_weights(12, 1.1)
    assert sum(weights) == pytest.approx(1.0)
    assert weights == sorted(weights, reverse=True)
    assert weights[0] / weights[1] == pytest.approx(2**1.1)
    assert zipf_weights(4, 0) == [0.25] * 4


def test_skew_makes_ad_1_the_most_frequent() -> None:
    source = EventSource(ads=12, users=500, skew=1.1, rng=random.Random(7))
    counts = Counter(e["ad_id"] for e in source.batch(20_000))
    ranked = [ad for ad, _ in counts.most_common()]
    assert ranked[0] == "demo-ad-01"
    assert ranked[:3] == ["demo-ad-01", "demo-ad-02", "demo-ad-03"]
    assert counts["demo-ad-01"] > 4 * counts["demo-ad-12"]
    assert set(counts) == set(ad_ids(12))


def test_no_skew_spreads_ads_evenly() -> None:
    source = EventSource(ads=4, users=10, skew=0, rng=random.Random(1))
    counts = Counter(e["ad_id"] for e in source.batch(8000))
    assert max(counts.values()) < 1.1 * min(counts.values())


def test_events_are_valid_per_the_contract_with_fresh_ids() -> None:
    events = EventSource(ads=12, users=500, skew=1.1, rng=random.Random(3)).batch(2000)
    for event in events:
        parsed = event_from_input(event, now=NOW)
        assert str(parsed.event_id) == event["event_id"]
        assert parsed.event_id.version == 4
    assert len({e["event_id"] for e in events}) == len(events)
    assert {e["user_id"] for e in events} <= set(user_ids(500))
    # The same seed draws the same ads and users, but never the same event ids.
    again = EventSource(ads=12, users=500, skew=1.1, rng=random.Random(3)).batch(2000)
    assert [e["ad_id"] for e in again] == [e["ad_id"] for e in events]
    assert not {e["event_id"] for e in again} & {e["event_id"] for e in events}


def test_pacer_spaces_requests_and_forgives_only_a_short_backlog() -> None:
    pacer = Pacer(rate=10, start=100.0)
    assert pacer.next_due() == 100.0
    pacer.advance(5, now=100.0)
    assert pacer.next_due() == pytest.approx(100.5)
    pacer.advance(5, now=100.6)  # a little late: the schedule holds
    assert pacer.next_due() == pytest.approx(101.0)
    pacer.advance(1, now=110.0)  # stalled for 9 s: at most 1 s of catch-up
    assert pacer.next_due() == pytest.approx(109.0)


def test_the_request_carries_one_event_or_a_batch() -> None:
    event = {"event_id": "e", "ad_id": "demo-ad-01", "user_id": "sim-user-1"}
    to_be = HttpSender("http://127.0.0.1:8000/", "to-be")
    target, body, headers = to_be.request_for([event])
    assert (target, json.loads(body or b"")) == ("/api/impressions/", event)
    assert headers["Content-Type"] == "application/json"
    assert json.loads(to_be.request_for([event, event])[1] or b"") == [event, event]
    as_is = HttpSender("http://example.test/prefix", "as-is")
    assert as_is.request_for([event])[0] == "/prefix/api/impressions/sync/"
    pixel = HttpSender("http://127.0.0.1:8000", "pixel")
    target, body, _ = pixel.request_for([event])
    assert target == "/i.gif?event_id=e&ad_id=demo-ad-01&user_id=sim-user-1"
    assert body is None
    with pytest.raises(ValueError, match="http"):
        HttpSender("ftp://x", "to-be")


def test_progress_and_summary_lines() -> None:
    tally = Tally()
    for _ in range(8):
        tally.add(Outcome(accepted=True), 1)
    tally.add(Outcome(accepted=False, reason="503"), 1)
    tally.add(Outcome(accepted=False, reason="connection refused"), 1)
    line = progress_line(tally, elapsed=5.0, duration=10.0)
    assert line.startswith("[##########----------]  50%  0:05/0:10")
    assert "sent 10  accepted 8  refused 2  2.0 events/s" in line
    assert "Ctrl+C" in progress_line(tally, elapsed=65.0, duration=0)
    assert progress_line(tally, elapsed=65.0, duration=0).startswith("1:05")
    summary = "\n".join(summary_lines(tally, elapsed=5.0, target_rate=2))
    assert "sent:     10 events in 10 requests" in summary
    assert "accepted: 8" in summary
    assert "refused:  2 (503: 1, connection refused: 1)" in summary
    assert "2.0 events/s achieved (target 2)" in summary
    assert "too slowly" not in summary
    assert "--batch" in summary_lines(tally, elapsed=5.0, target_rate=20)[-1]  # 2/s of 20/s


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def test_simulation_sends_rate_times_duration_and_counts_refusals() -> None:
    clock = FakeClock()
    batches: list[int] = []

    def send(events: Sequence[Event]) -> Outcome:
        batches.append(len(events))
        return Outcome(accepted=len(batches) % 4 != 0, reason="" if len(batches) % 4 else "503")

    simulation = Simulation(
        send=send,
        source=EventSource(ads=3, users=5, skew=1, rng=random.Random(0)),
        rate=20,
        batch=2,
        duration=3,
        clock=clock,
        sleep=clock.sleep,
    )
    ticks: list[float] = []
    tally = simulation.run(progress=lambda t, elapsed: ticks.append(elapsed), every=1.0)
    assert tally.sent == 60 and tally.requests == 30 and set(batches) == {2}
    assert tally.refused == Counter({"503": 14}) and tally.accepted == 46
    assert simulation.elapsed() == pytest.approx(3.0)
    assert ticks == pytest.approx([1.0, 2.0, 3.0])


# --- the command ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def summary_count(output: str, name: str) -> int:
    match = re.search(rf"^  {name}:\s+(\d+)", output, re.MULTILINE)
    assert match, output
    return int(match.group(1))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate": 0}, "--rate"),
        ({"duration": -1}, "--duration"),
        ({"ads": 0}, "--ads"),
        ({"skew": -1}, "--skew"),
        ({"path": "pixel", "batch": 5}, "--batch"),
        ({"url": "localhost:8000"}, "--url"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("simulate", **options)


def test_an_unreachable_site_is_counted_as_refused_not_raised() -> None:
    out = io.StringIO()
    call_command("simulate", url=f"http://127.0.0.1:{free_port()}", rate=10, duration=1, stdout=out)
    output = out.getvalue()
    assert summary_count(output, "accepted") == 0
    assert summary_count(output, "refused") == summary_count(output, "sent") > 0
    assert "connection refused" in output


@pytest.mark.django_db(transaction=True)
def test_a_run_against_a_live_server_records_what_it_reports(live_server: Any) -> None:
    out = io.StringIO()
    call_command(
        "simulate",
        url=live_server.url,
        path="as-is",
        rate=15,
        duration=2,
        ads=5,
        users=20,
        stdout=out,
    )
    output = out.getvalue()
    accepted = summary_count(output, "accepted")
    assert summary_count(output, "refused") == 0, output
    assert 5 <= accepted <= 31, output  # at most 15/s for 2 s (+ the first at t=0)
    assert Impression.objects.count() == accepted
    assert sum(AdMinuteCount.objects.values_list("impressions", flat=True)) == accepted
    assert set(Impression.objects.values_list("ad_id", flat=True)) <= set(ad_ids(5))
    assert re.search(r"done after 2\.\d s", output), output
