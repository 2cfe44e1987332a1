"""The pages a newcomer opens without logging in: the landing page and the API docs, clean
under the site's Content-Security-Policy (script-src 'self') and with nothing from elsewhere."""

from __future__ import annotations

import pytest
from pytest_django.live_server_helper import LiveServer
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.helpers import assert_clean, screenshot

pytestmark = pytest.mark.browser


def test_the_landing_page_leads_to_the_dashboard_demo_docs_and_health(
    browser: WebDriver, live_site: LiveServer
) -> None:
    browser.get(f"{live_site.url}/")
    links = {
        a.text.split("\n")[0]: a.get_attribute("href")
        for a in browser.find_elements(By.CSS_SELECTOR, ".cards a")
    }
    assert {"Dashboard", "Demo page", "API docs", "Health"} <= set(links)
    screenshot(browser, "landing")
    browser.get(links["Health"] or "")
    assert '"ok"' in browser.find_element(By.TAG_NAME, "body").text
    assert_clean(browser, live_site.url)


def test_the_api_docs_draw_every_operation_from_the_schema(
    browser: WebDriver, live_site: LiveServer
) -> None:
    browser.get(f"{live_site.url}/api/docs/")
    WebDriverWait(browser, 15).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, ".opblock")) >= 6,
        "Swagger UI did not draw the operations",
    )
    paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/api/impressions/", "/api/stats/ads/", "/api/stats/pipeline/"} <= paths
    screenshot(browser, "api-docs")
    assert_clean(browser, live_site.url)
