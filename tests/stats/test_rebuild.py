"""`rebuildstats`: repairs corrupted counters, user rows and reach rows of a range so that every
table equals brute force over the raw rows again (reach rows after the range included), reports
what it changed, reports nothing for an intact range, and refuses days pruning may have taken."""

from __future__ import annotations

import importlib
import io
import random
import threading
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from impressions.contract import AdImpressionEvent
from impressions.models import Impression
from stats.models import ALL_ADS, AdDailyReach, AdDailyUser, AdDayCount, AdHourCount, AdMinuteCount
from stats.rebuild import stats_rebuild
from stats.retention import first_rebuildable_day
from stats.services import record_impressions
from tests.stats.reach_brute import distinct_users, expected_state, reach_users, stored_state

pytestmark = pytest.mark.django_db

DAY0 = timezone.now().date() - timedelta(days=6)  # well inside the raw-row retention


def at(day: int, seconds: int = 0) -> datetime:
    return datetime.combine(DAY0 + timedelta(days=day), time(), UTC) + timedelta(seconds=seconds)


def event(ad: str, user: str, moment: datetime) -> AdImpressionEvent:
    return AdImpressionEvent(1, uuid.uuid4(), ad, user, moment)


@pytest.fixture
def recorded() -> list[AdImpressionEvent]:
    """Five days of events for 4 ads and 25 users, recorded in a random order (late events)."""
    rng = random.Random(20261205)
    events = [
        event(f"ad-{rng.randrange(4)}", f"u{rng.randrange(25)}", at(0, rng.randrange(5 * 86400)))
        for _ in range(600)
    ]
    for start in range(0, len(events), 37):
        record_impressions(events=events[start : start + 37])
    return events


def assert_equals_brute_force() -> None:
    assert stored_state() == expected_state()
    assert not AdDailyReach.objects.filter(users__lte=0).exists()
    days = [DAY0 + timedelta(days=i) for i in range(-1, 7)]
    for first in days:
        for last in days[days.index(first) :]:
            assert reach_users(first, last) == distinct_users(first, last), (first, last)


def test_recording_equals_brute_force_and_leaves_no_zero_reach_rows(recorded: Any) -> None:
    assert_equals_brute_force()


def test_a_late_event_leaves_no_zero_reach_row() -> None:
    record_impressions(events=[event("a", "u", at(0)), event("a", "u", at(2))])
    assert AdDailyReach.objects.get(ad_id="a", day=at(2).date()).previous_day == at(0).date()
    record_impressions(events=[event("a", "u", at(1))])  # late: day 2's previous day moves
    assert_equals_brute_force()  # the (day 2, previous day 0) row went, not left at 0


def test_rebuilding_an_intact_range_changes_nothing(recorded: Any) -> None:
    before = stored_state()
    reports = stats_rebuild(first=DAY0, last=DAY0 + timedelta(days=5))
    assert [r.changed for r in reports] == [False] * 6
    assert stored_state() == before


def test_rebuild_repairs_a_range_and_the_reach_after_it(recorded: Any) -> None:
    day1, day3 = at(1).date(), at(3).date()
    # Lose one raw row on day 1 of a user with a later day: the stored statistics still count
    # it, so day 1 must lose the impression and the user row, and the user's next day (after
    # the range) its previous day.
    lost = next(
        i
        for i in Impression.objects.filter(occurred_at__gte=at(1), occurred_at__lt=at(2))
        if Impression.objects.filter(ad_id=i.ad_id, user_id=i.user_id).count() == 2
        and Impression.objects.filter(
            ad_id=i.ad_id, user_id=i.user_id, occurred_at__gte=at(4)
        ).exists()
    )
    lost.delete()
    minute = AdMinuteCount.objects.filter(minute__gte=at(2), minute__lt=at(3)).first()
    assert minute is not None
    minute.impressions += 5
    minute.save(update_fields=["impressions"])
    AdHourCount.objects.filter(hour__gte=at(2), hour__lt=at(3)).first().delete()  # type: ignore[union-attr]
    AdDayCount.objects.create(ad_id="ghost", day=day1, impressions=3)
    AdDailyUser.objects.filter(day=day3, ad_id=ALL_ADS).first().delete()  # type: ignore[union-attr]
    reach = AdDailyReach.objects.filter(day=day3).first()
    assert reach is not None
    reach.users += 2
    reach.save(update_fields=["users"])
    AdDailyReach.objects.create(ad_id="ad-0", day=day3, previous_day=at(-9).date(), users=0)
    assert stored_state() != expected_state()

    out = io.StringIO()
    call_command(
        "rebuildstats", "--from", day1.isoformat(), "--to", at(4).date().isoformat(), stdout=out
    )
    assert_equals_brute_force()
    lines = out.getvalue().splitlines()
    day_lines = {line.split(":")[0]: line for line in lines if line[:4].isdigit()}
    assert set(day_lines) == {str(day1), str(at(2).date()), str(day3)}
    assert "minute counters" in day_lines[str(day1)]  # 1 lowered or removed
    assert "daily users 0 changed, 0 added, 1 removed" in day_lines[str(day1)]
    assert "day counters 1 changed, 0 added, 1 removed" in day_lines[str(day1)]
    assert "reach rows after the range" in day_lines[str(day1)]
    assert "minute counters 1 changed" in day_lines[str(at(2).date())]
    assert "hour counters 0 changed, 1 added" in day_lines[str(at(2).date())]
    assert "daily users 0 changed, 1 added, 0 removed" in day_lines[str(day3)]
    assert "reach rows 1 changed, 0 added, 1 removed" in day_lines[str(day3)]
    assert lines[-1] == "done: 3 days, 3 changed, 0 intact"

    again = io.StringIO()
    call_command(
        "rebuildstats", "--from", day1.isoformat(), "--to", at(4).date().isoformat(), stdout=again
    )
    assert "done: 3 days, 0 changed, 3 intact" in again.getvalue()


def test_days_pruning_may_have_taken_are_refused(recorded: Any, settings: Any) -> None:
    before = stored_state()
    old = timezone.now().date() - timedelta(days=settings.RAW_IMPRESSION_RETENTION_DAYS)
    with pytest.raises(CommandError, match="may already be pruned.*RAW_IMPRESSION_RETENTION_DAYS"):
        call_command("rebuildstats", "--from", old.isoformat(), "--to", DAY0.isoformat())
    assert stored_state() == before
    settings.RAW_IMPRESSION_RETENTION_DAYS = 9  # now day 0 (6 days ago) is still safe ...
    stats_rebuild(first=DAY0, last=DAY0)
    settings.RAW_IMPRESSION_RETENTION_DAYS = 6  # ... and now it is not
    oldest = first_rebuildable_day(now=timezone.now())
    assert oldest > DAY0
    with pytest.raises(CommandError, match=f"days before {oldest} may already be pruned"):
        call_command("rebuildstats", "--from", DAY0.isoformat(), "--to", at(1).isoformat())


def test_rebuild_refuses_an_empty_or_future_range() -> None:
    with pytest.raises(CommandError, match="must be after from"):
        call_command("rebuildstats", "--from", at(2).isoformat(), "--to", at(1).isoformat())
    far = date.today() + timedelta(days=10)
    with pytest.raises(CommandError, match="in the future"):
        call_command("rebuildstats", "--from", DAY0.isoformat(), "--to", far.isoformat())


@pytest.mark.django_db(transaction=True)
def test_recording_while_rebuilding_stays_exact() -> None:
    """Consumers keep recording into the rebuilt days: the rebuild's lock makes them wait, so
    no count is lost or doubled (PostgreSQL: a SHARE lock on the raw table; SQLite: the write
    lock)."""
    rng = random.Random(7)

    def batch() -> list[AdImpressionEvent]:
        return [
            event(
                f"ad-{rng.randrange(3)}", f"u{rng.randrange(30)}", at(0, rng.randrange(3 * 86400))
            )
            for _ in range(40)
        ]

    record_impressions(events=batch())
    failures: list[BaseException] = []

    def keep_recording() -> None:
        try:
            for _ in range(25):
                record_impressions(events=batch())
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)
        finally:
            connection.close()

    writer = threading.Thread(target=keep_recording)
    writer.start()
    while writer.is_alive():
        stats_rebuild(first=DAY0, last=DAY0 + timedelta(days=2))
    writer.join()
    assert not failures
    assert_equals_brute_force()


def test_the_migration_removes_zero_reach_rows_an_older_version_left() -> None:
    record_impressions(events=[event("a", "u", at(0))])
    AdDailyReach.objects.create(ad_id="a", day=at(2).date(), previous_day=at(1).date(), users=0)
    migration = importlib.import_module("stats.migrations.0006_retention")
    migration.remove_zero_reach_rows(django_apps, None)
    assert_equals_brute_force()
