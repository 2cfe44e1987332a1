"""The delivery-semantics lab's last table in a real browser, reached from the dashboard."""

from __future__ import annotations

import pytest
from pytest_django.live_server_helper import LiveServer
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By

from stats.semantics_lab.plan import LabRow
from stats.semantics_lab.results import lab_table_save
from tests.browser.helpers import assert_clean, follow, screenshot

pytestmark = pytest.mark.browser


def test_the_dashboard_links_to_the_labs_last_table(
    logged_in_browser: WebDriver, live_site: LiveServer
) -> None:
    lab_table_save(
        run_id="r1",
        rows=[
            LabRow("at-most-once", 2000, 1667, 333, 0, 9.1, 3, "after-kafka-commit"),
            LabRow("at-least-once", 2000, 2500, 0, 500, 8.7, 3, "after-db-commit"),
            LabRow("exactly-once", 2000, 2000, 0, 0, 12.4, 3, "after-db-commit"),
        ],
    )
    browser = logged_in_browser
    browser.get(f"{live_site.url}/admin/dashboard/")
    follow(browser, browser.find_element(By.ID, "semantics-lab-link"))

    assert browser.current_url == f"{live_site.url}/admin/semantics-lab/"
    table = browser.find_element(By.ID, "semantics-lab")
    rows = [
        [cell.text for cell in row.find_elements(By.TAG_NAME, "td")][:7]
        for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]
    assert rows == [
        ["at-most-once", "2000", "1667", "333", "0", "9.1 s", "3 × after-kafka-commit"],
        ["at-least-once", "2000", "2500", "0", "500", "8.7 s", "3 × after-db-commit"],
        ["exactly-once", "2000", "2000", "0", "0", "12.4 s", "3 × after-db-commit"],
    ]
    screenshot(browser, "semantics-lab")
    assert_clean(browser, live_site.url)


def test_before_any_run_the_page_says_what_to_run(
    logged_in_browser: WebDriver, live_site: LiveServer
) -> None:
    logged_in_browser.get(f"{live_site.url}/admin/semantics-lab/")
    assert "manage.py semanticslab" in logged_in_browser.find_element(By.ID, "lab-empty").text
    assert_clean(logged_in_browser, live_site.url)
