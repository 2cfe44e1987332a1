"""The dashboard as a person uses it, in a real chromium: the chart draws what the API returns,
the interval switch, the drill-down, the CSV download, auto-refresh and its pause, the demo
page's impressions arriving. Every test ends with no console error and no foreign request."""

from __future__ import annotations

import csv
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from impressions.contract import AdImpressionEvent
from stats.services import record_impressions
from tests.browser.helpers import assert_clean, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def broker_settings(settings: Any) -> None:
    """The pipeline panel asks the broker; the tests' broker is wherever settings point."""
    settings.KAFKA_ADMIN_TIMEOUT_SECONDS = 2.0


def seed(n: int = 120, *, ads: int = 4, minutes: int = 600) -> None:
    now = timezone.now()
    record_impressions(
        events=[
            AdImpressionEvent(
                1,
                uuid.uuid4(),
                f"ad-{i % ads}",
                f"u{i % 37}",
                now - timedelta(minutes=i * minutes / n),
            )
            for i in range(n)
        ]
    )


def wait_for_chart(browser: WebDriver) -> dict[str, Any]:
    """The chart's state once Chart.js drew it: points, total, and the window it covers."""
    WebDriverWait(browser, 10).until(
        lambda b: b.execute_script(
            "const c = document.getElementById('impressions-chart');"
            "return c && window.Chart && Chart.getChart(c) && c.dataset.total !== undefined;"
        )
    )
    state: dict[str, Any] = browser.execute_script(
        "const c = document.getElementById('impressions-chart');"
        "const chart = Chart.getChart(c);"
        "return {points: chart.data.datasets[0].data.length,"
        " total: chart.data.datasets[0].data.reduce((a, b) => a + b, 0),"
        " from: c.dataset.from, to: c.dataset.to, interval: c.dataset.interval};"
    )
    return state


def api_get(browser: WebDriver, path: str) -> Any:
    """GET a stats API URL with the browser's own session, as the browsable API would."""
    return browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {headers: {Accept: 'application/json'}})"
        ".then(r => r.json()).then(done);",
        path,
    )


def api_total(browser: WebDriver, start: str, end: str) -> int:
    page = api_get(browser, f"/api/stats/ads/?from={start}&to={end}&limit=1000")
    return sum(row["impressions"] for row in page["results"])


def test_the_chart_draws_what_the_api_returns_and_the_interval_switch_redraws_it(
    logged_in_browser: WebDriver, live_site: LiveServer
) -> None:
    seed()
    browser = logged_in_browser
    browser.get(f"{live_site.url}/admin/dashboard/?range=24h")
    chart = wait_for_chart(browser)
    assert chart["interval"] == "hour" and 24 <= chart["points"] <= 25
    assert chart["total"] == api_total(browser, chart["from"], chart["to"]) == 120
    card = browser.find_element(By.CSS_SELECTOR, "#card-impressions .card-value")
    assert card.text == "120"
    screenshot(browser, "dashboard-24h")

    browser.find_element(By.CSS_SELECTOR, ".interval-switch [data-interval=minute]").click()
    WebDriverWait(browser, 10).until(ec.url_contains("interval=minute"))
    minutes = wait_for_chart(browser)
    assert minutes["interval"] == "minute" and minutes["points"] >= 24 * 60
    assert minutes["total"] == api_total(browser, minutes["from"], minutes["to"])
    assert_clean(browser, live_site.url)


def test_an_ad_opens_its_drill_down_with_its_own_chart(
    logged_in_browser: WebDriver, live_site: LiveServer
) -> None:
    seed()
    browser = logged_in_browser
    browser.get(f"{live_site.url}/admin/dashboard/?range=24h")
    link = browser.find_element(By.CSS_SELECTOR, "#top-ads tbody tr:first-child a")
    ad_id = link.text
    link.click()
    WebDriverWait(browser, 10).until(ec.url_contains(f"/admin/dashboard/ads/{ad_id}/"))
    chart = wait_for_chart(browser)
    detail = api_get(browser, f"/api/stats/ads/{ad_id}/?from={chart['from']}&to={chart['to']}")
    assert chart["total"] == detail["impressions"] == 30
    assert browser.find_elements(By.CSS_SELECTOR, "#daily-users tbody tr")
    screenshot(browser, f"drill-down-{ad_id}")
    assert_clean(browser, live_site.url)


def test_the_csv_download_adds_up_to_the_api(
    logged_in_browser: WebDriver, live_site: LiveServer, tmp_path: Path
) -> None:
    seed()
    browser = logged_in_browser
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    browser.get(f"{live_site.url}/admin/dashboard/?range=7d")
    chart = wait_for_chart(browser)
    browser.find_element(By.ID, "export-series").click()
    deadline = time.monotonic() + 10
    while not list(tmp_path.glob("*.csv")) and time.monotonic() < deadline:
        time.sleep(0.1)
    (downloaded,) = tmp_path.glob("*.csv")
    rows = list(csv.DictReader(downloaded.open()))
    assert len(rows) == chart["points"]
    assert sum(int(r["impressions"]) for r in rows) == api_total(
        browser, chart["from"], chart["to"]
    )
    assert_clean(browser, live_site.url)


def text_of(browser: WebDriver, locator: tuple[str, str]) -> str:
    """The element's text, found again if a refresh swapped it out between finding and
    reading (CI saw a StaleElementReferenceException there)."""
    return str(
        WebDriverWait(browser, 5, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda b: b.find_element(*locator).text
        )
    )


def test_new_impressions_appear_without_a_reload_unless_paused(
    logged_in_browser: WebDriver, live_site: LiveServer
) -> None:
    seed(4, minutes=40)  # 0-30 minutes ago: inside the hour however the window moves
    browser = logged_in_browser
    browser.get(f"{live_site.url}/admin/dashboard/?range=1h")
    card = (By.CSS_SELECTOR, "#card-impressions .card-value")
    before = text_of(browser, card)
    seed(5, minutes=5)
    WebDriverWait(browser, 15).until(
        lambda b: text_of(b, card) != before, "the card did not refresh"
    )
    assert int(text_of(browser, card)) == int(before) + 5
    wait_for_chart(browser)  # redrawn after the swap

    browser.find_element(By.ID, "refresh-toggle").click()
    assert "paused" in browser.find_element(By.ID, "refresh-status").text
    paused_at = text_of(browser, card)
    seed(5, minutes=5)
    time.sleep(7)  # longer than one refresh period: a running refresh would have shown them
    assert text_of(browser, card) == paused_at
    browser.find_element(By.ID, "refresh-toggle").click()  # resume (kept in localStorage)
    assert_clean(browser, live_site.url)


def test_a_bad_range_shows_a_form_error_not_a_server_error(
    logged_in_browser: WebDriver, live_site: LiveServer
) -> None:
    browser = logged_in_browser
    browser.get(f"{live_site.url}/admin/dashboard/?range=custom&from=0001-01-01+00:00")
    errors = browser.find_element(By.ID, "range-errors")
    assert "between 1970-01-01" in errors.text
    wait_for_chart(browser)
    assert_clean(browser, live_site.url)


@pytest.mark.integration
def test_the_demo_page_counts_its_impressions(
    browser: WebDriver,
    live_site: LiveServer,
    topic: str,
    run_consumer: Callable[..., None],
    stats_client: Any,
) -> None:
    browser.get(f"{live_site.url}/demo/")
    pixels = browser.find_elements(By.CSS_SELECTOR, "img[src*='/i.gif']")
    assert pixels
    WebDriverWait(browser, 10).until(
        lambda b: all(
            b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", p)
            for p in pixels
        )
    )
    shown = [parse_qs(urlsplit(p.get_attribute("src") or "").query)["ad_id"][0] for p in pixels]
    run_consumer()
    for ad_id in set(shown):
        assert stats_client.get(f"/api/stats/ads/{ad_id}/").json()["impressions"] == shown.count(
            ad_id
        )
    assert_clean(browser, live_site.url)


def test_the_placement_filter_restricts_cards_and_chart_and_survives_the_interval_switch(
    logged_in_browser: WebDriver, live_site: LiveServer
) -> None:
    seed()  # 120 impressions without a placement
    now = timezone.now()
    record_impressions(
        events=[
            AdImpressionEvent(
                2,
                uuid.uuid4(),
                f"ad-{i % 2}",
                f"p{i % 5}",
                now - timedelta(minutes=5 + i * 20),
                placement="home-top",
            )
            for i in range(12)
        ]
    )
    browser = logged_in_browser
    browser.get(f"{live_site.url}/admin/dashboard/?range=24h")
    wait_for_chart(browser)
    field = browser.find_element(By.ID, "placement-input")
    field.send_keys("home-top")
    browser.find_element(By.CSS_SELECTOR, "#placement-form input[type=submit]").click()
    WebDriverWait(browser, 10).until(ec.url_contains("placement=home-top"))
    chart = wait_for_chart(browser)
    assert chart["total"] == 12
    assert browser.find_element(By.CSS_SELECTOR, "#card-impressions .card-value").text == "12"
    assert browser.find_element(By.CSS_SELECTOR, "#card-unique-users .card-value").text == "5"
    assert "home-top" in browser.find_element(By.ID, "placement-active").text
    screenshot(browser, "dashboard-placement")

    browser.find_element(By.CSS_SELECTOR, ".interval-switch [data-interval=minute]").click()
    WebDriverWait(browser, 10).until(ec.url_contains("interval=minute"))
    assert "placement=home-top" in browser.current_url
    assert wait_for_chart(browser)["total"] == 12
    browser.find_element(By.ID, "placement-clear").click()
    WebDriverWait(browser, 10).until(lambda b: "placement" not in b.current_url)
    assert wait_for_chart(browser)["total"] == 132
    assert_clean(browser, live_site.url)
