"""/demo/migration/'s safety rules and figures: the page without controls when DEMO_CONTROLS is
off (a POST is a 404), staff only, CSRF, the 5-30 s bound, one stall at a time, and the stall's
automatic release, on the real database (PostgreSQL, and SQLite in the second pass)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection, transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from impressions.db_stall import RELEASE_MARGIN_SECONDS, StallRefused, stall_start, stall_status
from impressions.models import Impression
from impressions.simulation.latency import Sample, figures, percentile

URL = "/demo/migration/"


# --- the figures (pure) --------------------------------------------------------------------------


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 99) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    values = [0.01] * 98 + [5.0, 5.0]
    assert percentile(values, 99) == 5.0
    assert percentile(values, 50) == 0.01


def test_a_request_still_waiting_counts_with_its_wait_so_far() -> None:
    now = 1000.5
    done = [Sample(started=now - 10 + i * 0.05, seconds=0.01) for i in range(50)]
    stuck = [Sample(started=now - 4.0)]  # no answer yet
    refused = [Sample(started=now - 3.0, seconds=0.02, reason="503")]
    shown = figures(done + stuck + refused, now=now)
    assert shown.requests == 52
    assert shown.waiting == 1
    assert shown.longest_wait_ms == pytest.approx(4000.0)
    assert shown.p99_ms == pytest.approx(4000.0)
    assert shown.p50_ms == pytest.approx(10.0)
    assert shown.errors == {"503": 1}
    assert len(shown.series["t"]) == 60
    assert sum(shown.series["rps"]) == 52


def test_requests_older_than_the_window_are_left_out() -> None:
    now = 5000.0
    shown = figures([Sample(started=now - 61, seconds=9.0)], now=now)
    assert shown.requests == 0 and shown.p99_ms is None


# --- the page and its safety rules ---------------------------------------------------------------


@pytest.fixture
def staff_client(staff_user: Any) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def controls_on(settings: Any) -> None:
    settings.DEMO_CONTROLS = True


@pytest.fixture(autouse=True)
def no_stall_left() -> Any:
    """Each test starts and ends without a stall (a stall outlives its test otherwise)."""
    yield
    deadline = time.monotonic() + 35
    while stall_status().active and time.monotonic() < deadline:
        time.sleep(0.2)


def test_the_page_is_linked_from_the_landing_demo_and_dashboard(staff_client: Client) -> None:
    for page in ("/", "/demo/", "/admin/dashboard/"):
        assert URL in staff_client.get(page).content.decode(), page


@pytest.mark.django_db
def test_with_controls_off_the_page_shows_figures_only_and_a_post_is_404(
    staff_client: Client, settings: Any
) -> None:
    settings.DEMO_CONTROLS = False
    page = staff_client.get(URL).content.decode()
    assert 'id="controls-off"' in page and 'id="stall-form"' not in page
    assert 'id="latency-chart"' in page
    assert staff_client.post(URL, {"action": "stall", "seconds": "5"}).status_code == 404
    assert staff_client.post(URL, {"action": "traffic-start", "rate": "5"}).status_code == 404
    assert not stall_status().active
    data = staff_client.get(f"{URL}data/").json()
    assert data["controls"] is False and data["stall"]["active"] is False


@pytest.mark.django_db
def test_only_staff_see_the_page_or_reach_the_controls(controls_on: None) -> None:
    user = get_user_model().objects.create_user("visitor", password="visitor-password")
    visitor = Client()
    visitor.force_login(user)
    for client in (Client(), visitor):
        for answer in (
            client.get(URL),
            client.get(f"{URL}data/"),
            client.post(URL, {"action": "stall", "seconds": "5"}),
        ):
            assert answer.status_code == 302 and "/admin/login/" in answer["Location"]
    assert not stall_status().active


@pytest.mark.django_db
def test_a_control_without_the_csrf_token_is_refused(staff_user: Any, controls_on: None) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert client.post(URL, {"action": "stall", "seconds": "5"}).status_code == 403
    assert not stall_status().active


@pytest.mark.django_db
@pytest.mark.parametrize("seconds", ["31", "60", "4", "0", "ten"])
def test_a_stall_lasts_5_to_30_seconds(
    staff_client: Client, controls_on: None, seconds: str
) -> None:
    answer = staff_client.post(URL, {"action": "stall", "seconds": seconds}, follow=True)
    assert "No stall: a stall lasts 5 to 30 seconds" in answer.content.decode()
    assert not stall_status().active
    with pytest.raises(StallRefused, match="5 to 30"):
        stall_start(seconds=31)


def _write_waits() -> bool:
    """Whether an INSERT into the raw impressions table, from this test's own connection, has
    to wait (given up after 0.3 s)."""
    row = Impression(
        event_id=uuid.uuid4(),
        ad_id="stall-probe",
        user_id="u",
        occurred_at=timezone.now(),
        recorded_at=timezone.now(),
    )
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = 300" if postgres else "PRAGMA busy_timeout = 300")
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except OperationalError:
        return True
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0" if postgres else "PRAGMA busy_timeout = 30000")
    return False


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_one_stall_at_a_time_and_it_releases_itself(
    staff_client: Client, controls_on: None, topic: str, api_client: APIClient
) -> None:
    started = time.monotonic()
    answer = staff_client.post(URL, {"action": "stall", "seconds": "5"}, follow=True)
    assert "Database stalled for 5 s" in answer.content.decode()
    status = stall_status()
    assert status.active and 3 < status.seconds_left <= 5
    assert _write_waits()
    # The to-be path does not wait for the stall (its throttle gives up on the database).
    sent = time.monotonic()
    event = {"ad_id": "stall-to-be", "user_id": "u"}
    assert api_client.post("/api/impressions/", event, format="json").status_code == 202
    assert stall_status().active, f"the to-be answer took {time.monotonic() - sent:.1f} s"

    second = staff_client.post(URL, {"action": "stall", "seconds": "10"}, follow=True)
    assert "a stall is already running" in second.content.decode()
    with pytest.raises(StallRefused, match="one at a time"):
        stall_start(seconds=5)
    assert staff_client.get(f"{URL}data/").json()["stall"]["active"] is True

    # Nobody releases it: it ends on its own at its deadline.
    while stall_status().active:
        assert time.monotonic() - started < 5 + RELEASE_MARGIN_SECONDS + 2, "still stalled"
        time.sleep(0.1)
    assert time.monotonic() - started >= 4.5
    assert not _write_waits()
    assert Impression.objects.filter(ad_id="stall-probe").count() == 1
    # And the next stall may start.
    stall_start(seconds=5)
    assert stall_status().active
