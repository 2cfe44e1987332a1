"""The dashboard says up to when the statistics are complete and draws the buckets after that
dashed and lighter, in a real chromium (and with no console error or foreign request)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By

from impressions.contract import AdImpressionEvent
from stats.bucketing import floor_to
from stats.offset_update import OffsetUpdate
from stats.services import record_impressions
from tests.browser.helpers import assert_clean, screenshot
from tests.browser.test_dashboard import wait_for_chart

pytestmark = pytest.mark.browser


def test_buckets_after_complete_through_are_drawn_dashed(
    logged_in_browser: WebDriver, live_site: LiveServer, topic: str
) -> None:
    # The assertion below needs the window's end inside an hour, not on its first instant:
    # a run that began at 13:59:34 loaded the page at the turn of the hour and saw no partial
    # bucket. Start at least a minute past the hour.
    past_the_hour = timezone.now() - floor_to(timezone.now(), "hour")
    if past_the_hour < timedelta(seconds=60):
        time.sleep((timedelta(seconds=60) - past_the_hour).total_seconds())
    now = timezone.now()
    record_impressions(
        events=[
            AdImpressionEvent(
                1, uuid.uuid4(), f"ad-{i % 3}", f"u{i}", now - timedelta(minutes=7 * i)
            )
            for i in range(200)
        ]
    )
    through = floor_to(now - timedelta(hours=3), "hour") + timedelta(minutes=20)
    record_impressions(
        events=[],
        offsets=[
            OffsetUpdate(
                settings.STATS_CONSUMER_GROUP, settings.IMPRESSIONS_TOPIC, 0, 1,
                read_through=through + timedelta(seconds=settings.STATS_ALLOWED_LATENESS_SECONDS),
                end_offset=1, topic_partitions=1,
            )
        ],
    )  # fmt: skip
    browser = logged_in_browser
    browser.get(f"{live_site.url}/admin/dashboard/?range=24h")
    chart = wait_for_chart(browser)
    drawn: dict[str, Any] = browser.execute_script(
        "const c = document.getElementById('impressions-chart');"
        "const set = Chart.getChart(c).data.datasets[0];"
        "const n = set.data.length;"
        "return {final: Number(c.dataset.final), partial: Number(c.dataset.partial),"
        " firstDash: set.segment.borderDash({p0DataIndex: 0, p1DataIndex: 1}) || null,"
        " lastDash: set.segment.borderDash({p0DataIndex: n - 2, p1DataIndex: n - 1}) || null};"
    )
    assert 0 < drawn["final"] < chart["points"]
    assert drawn["partial"] == 1  # the window ends now, inside the current hour
    assert drawn["firstDash"] is None and drawn["lastDash"] == [6, 4]
    note = browser.find_element(By.ID, "completeness").text
    assert f"complete through {through:%Y-%m-%d %H:%M:%S} UTC" in note
    assert "The last bucket is partial" in note
    assert "late events" in browser.find_element(By.ID, "pipeline-complete-through").text
    assert browser.find_element(By.ID, "group-verdict").text == "OK"  # no lag on the topic
    screenshot(browser, "dashboard-completeness", full_page=True)
    assert_clean(browser, live_site.url)
