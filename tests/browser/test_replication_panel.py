"""The dashboard's pipeline panel shows each partition's leader, replicas and in-sync replicas
(here on the one-broker default; a node down on the three-broker cluster is flagged in
tests/cluster/test_replication.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_django.live_server_helper import LiveServer
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By

from stats.kafka_admin import partition_replicas
from tests.browser.helpers import assert_clean, screenshot
from tests.stats.topic_data import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_the_pipeline_panel_shows_leader_replicas_and_in_sync_replicas(
    logged_in_browser: WebDriver, live_site: LiveServer, topic: str, settings: Any
) -> None:
    settings.KAFKA_ADMIN_TIMEOUT_SECONDS = 2.0
    # A topic just created elects its partitions' leaders a moment later.
    wait_for(
        lambda: [p["leader"] for p in partition_replicas(topic).values()] == [1] * 3,
        "the topic's leaders",
    )
    browser = logged_in_browser
    browser.get(f"{live_site.url}/admin/dashboard/")
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#replication th")]
    assert [h.lower() for h in headers] == ["partition", "leader", "replicas", "in sync"]
    rows = [
        [td.text for td in row.find_elements(By.TAG_NAME, "td")]
        for row in browser.find_elements(By.CSS_SELECTOR, "#replication tbody tr")
    ]
    assert rows == [[str(partition), "1", "1", "1"] for partition in range(3)]
    assert browser.find_element(By.ID, "under-replicated").text == "every partition fully in sync"
    assert not browser.find_elements(By.CSS_SELECTOR, "#replication tr.under-replicated")
    screenshot(browser, "dashboard-replication-one-broker", full_page=True)
    assert_clean(browser, live_site.url)
