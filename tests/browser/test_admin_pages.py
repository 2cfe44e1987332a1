"""The admin and the dashboard in a real browser: log in, open the pages, nothing broken."""

from __future__ import annotations

import pytest
from pytest_django.live_server_helper import LiveServer
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By

from tests.browser.helpers import assert_clean, screenshot

pytestmark = pytest.mark.browser


def test_login_form_leads_to_the_admin_index(
    logged_in_browser: WebDriver, live_site: LiveServer
) -> None:
    browser = logged_in_browser
    assert browser.current_url == f"{live_site.url}/admin/"
    assert "staff" in browser.find_element(By.ID, "user-tools").text.lower()
    assert browser.find_element(By.ID, "content").is_displayed()
    assert_clean(browser, live_site.url)


def test_dashboard_shows_its_heading_without_errors(
    logged_in_browser: WebDriver, live_site: LiveServer
) -> None:
    browser = logged_in_browser
    browser.get(f"{live_site.url}/admin/dashboard/")

    assert browser.current_url == f"{live_site.url}/admin/dashboard/"
    headings = [h for h in browser.find_elements(By.TAG_NAME, "h1") if h.is_displayed()]
    assert "Impression statistics" in [h.text for h in headings]
    assert browser.find_element(By.ID, "top-ads").is_displayed()

    path = screenshot(browser, "admin-dashboard")
    assert path.stat().st_size > 0
    assert_clean(browser, live_site.url)


def test_anonymous_dashboard_redirects_to_the_login_form(
    browser: WebDriver, live_site: LiveServer
) -> None:
    browser.get(f"{live_site.url}/admin/dashboard/")
    assert browser.current_url.startswith(f"{live_site.url}/admin/login/")
    assert browser.find_element(By.ID, "id_username").is_displayed()
    assert_clean(browser, live_site.url)
