"""The dead-letter page in a real browser: reached from the admin index, lists what the
consumer dead-lettered with the payload escaped, discards with a note, and fixes and replays
one record from its detail page; no console error
and nothing from another origin (the page runs under CSP script-src 'self')."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
from kafka import KafkaProducer
from pytest_django.live_server_helper import LiveServer
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from stats.models import DeadLetter
from tests.browser.helpers import assert_clean, follow, screenshot
from tests.stats.topic_data import counted_per_ad

pytestmark = [pytest.mark.browser, pytest.mark.integration]

GOOD = {"schema_version": 1, "ad_id": "ad-b", "user_id": "u", "timestamp": "2026-11-25T08:00:00Z"}


def test_the_dead_letter_page_lists_escapes_and_discards_with_a_note(
    logged_in_browser: WebDriver,
    live_site: LiveServer,
    raw_producer: KafkaProducer,
    topic: str,
    run_consumer: Callable[..., None],
) -> None:
    values = [
        b'{"ad_id": "<img src=x onerror=alert(1)>"',
        json.dumps(GOOD | {"event_id": str(uuid.uuid4()), "user_id": 7}).encode(),
        json.dumps(GOOD | {"event_id": str(uuid.uuid4()), "timestamp": "yesterday"}).encode(),
    ]
    for value in values:
        raw_producer.send(topic, key=b"ad-b", value=value, partition=1)
    raw_producer.flush()
    run_consumer()
    browser = logged_in_browser

    follow(browser, browser.find_element(By.ID, "dead-letters-link"))  # from the admin index
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 3
    page = browser.find_element(By.ID, "result_list").text
    assert "ad_id: " in page and "user_id: " in page and "timestamp: " in page
    screenshot(browser, "admin-dead-letters")

    follow(browser, rows[-1].find_element(By.CSS_SELECTOR, "th a"))  # oldest: markup in an ad id
    raw = browser.find_element(By.CSS_SELECTOR, ".field-raw_value pre").text
    assert raw == values[0].decode()  # shown as text, not run or rendered as markup
    assert not browser.find_elements(By.CSS_SELECTOR, ".field-raw_value img")
    screenshot(browser, "admin-dead-letter-detail", full_page=True)

    browser.back()
    wait = WebDriverWait(browser, 15)
    wait.until(lambda b: b.find_element(By.ID, "action-toggle").is_displayed())
    browser.find_element(By.ID, "action-toggle").click()  # select every row (the admin's script)
    wait.until(
        lambda b: all(box.is_selected() for box in b.find_elements(By.NAME, "_selected_action"))
    )
    Select(browser.find_element(By.NAME, "action")).select_by_value("discard")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    wait.until(lambda b: b.find_elements(By.ID, "discard-submit"))  # the confirmation page
    browser.find_element(By.ID, "discard-submit").click()  # no note yet: the browser refuses
    note = browser.find_element(By.ID, "id_note")
    assert note.get_attribute("required") is not None and note.get_attribute("validationMessage")
    assert not DeadLetter.objects.exclude(status="new").exists()
    note.send_keys("traffic from a broken test client")
    follow(browser, browser.find_element(By.ID, "discard-submit"))
    assert "Discarded 3 dead letters" in browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    assert set(DeadLetter.objects.values_list("status", flat=True)) == {"discarded"}
    assert_clean(browser, live_site.url)


def test_a_dead_letter_is_fixed_and_replayed_from_its_detail_page(
    logged_in_browser: WebDriver,
    live_site: LiveServer,
    raw_producer: KafkaProducer,
    topic: str,
    run_consumer: Callable[..., None],
) -> None:
    broken = json.dumps(GOOD | {"event_id": str(uuid.uuid4()), "user_id": 7}).encode()
    raw_producer.send(topic, key=b"ad-b", value=broken, partition=1)
    raw_producer.flush()
    run_consumer()
    browser = logged_in_browser

    follow(browser, browser.find_element(By.ID, "dead-letters-link"))
    follow(browser, browser.find_element(By.CSS_SELECTOR, "#result_list tbody tr th a"))
    follow(browser, browser.find_element(By.ID, "fix-and-replay"))
    value = browser.find_element(By.ID, "id_value")
    assert value.get_attribute("value") == broken.decode()  # prefilled with the record's value

    value.clear()
    value.send_keys(
        broken.decode().replace('"user_id": 7', '"user_id": "7"').replace("ad-b", "ad b")
    )
    browser.find_element(By.ID, "fix-submit").click()
    WebDriverWait(browser, 15).until(lambda b: b.find_elements(By.ID, "fix-value-errors"))
    refused = browser.find_element(By.ID, "fix-value-errors").text
    assert refused.startswith("Not replayed: ad_id")  # the contract's reason; nothing sent
    screenshot(browser, "admin-dead-letter-fix", full_page=True)

    value = browser.find_element(By.ID, "id_value")
    value.clear()
    value.send_keys(broken.decode().replace('"user_id": 7', '"user_id": "7"'))
    browser.find_element(By.ID, "fix-submit").click()
    WebDriverWait(browser, 15).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".messagelist"))
    assert "Replayed a fixed copy" in browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    assert '"user_id": "7"' in browser.find_element(By.CSS_SELECTOR, ".field-raw_fixed_value").text
    (letter,) = DeadLetter.objects.all()
    assert letter.status == "replayed" and letter.fixed_value is not None
    run_consumer()
    assert counted_per_ad() == {"ad-b": 1}
    assert_clean(browser, live_site.url)
