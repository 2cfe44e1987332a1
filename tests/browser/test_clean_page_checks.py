"""The browser-test machinery itself: assert_clean sees what it must, screenshots work."""

from __future__ import annotations

import pytest
from pytest_django.live_server_helper import LiveServer
from selenium.webdriver import Chrome as WebDriver

from tests.browser.helpers import assert_clean, browser_log, screenshot

pytestmark = pytest.mark.browser

# Blocked by --host-resolver-rules, so nothing leaves the machine.
FOREIGN = "https://cdn.example.com/lib.js"


def test_same_origin_requests_are_recorded_and_clean(
    browser: WebDriver, live_site: LiveServer
) -> None:
    browser.get(f"{live_site.url}/admin/login/")
    requests = browser_log(browser).requests
    assert f"{live_site.url}/admin/login/" in requests
    assert any(url.startswith(f"{live_site.url}/static/admin/css/") for url in requests)
    assert_clean(browser, live_site.url)


def test_console_errors_fail_the_check(browser: WebDriver, live_site: LiveServer) -> None:
    browser.get(f"{live_site.url}/admin/login/")
    browser.execute_script("console.error('deliberate test error')")
    with pytest.raises(AssertionError, match="deliberate test error"):
        assert_clean(browser, live_site.url)


def test_uncaught_exceptions_fail_the_check(browser: WebDriver, live_site: LiveServer) -> None:
    browser.get(f"{live_site.url}/admin/login/")
    browser.execute_script("setTimeout(() => { throw new Error('deliberate uncaught'); }, 0)")
    browser.execute_async_script("setTimeout(arguments[0], 100)")
    with pytest.raises(AssertionError, match="deliberate uncaught"):
        assert_clean(browser, live_site.url)


def test_requests_to_other_origins_fail_the_check(
    browser: WebDriver, live_site: LiveServer
) -> None:
    browser.get(f"{live_site.url}/admin/login/")
    browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const script = document.createElement('script');
        script.src = arguments[0];
        script.onerror = script.onload = () => done();
        document.head.appendChild(script);
        """,
        FOREIGN,
    )
    with pytest.raises(AssertionError, match="cdn.example.com") as failure:
        assert_clean(browser, live_site.url)
    assert "requests to origins other than" in str(failure.value)


def test_another_port_on_the_same_host_is_another_origin(
    browser: WebDriver, live_site: LiveServer
) -> None:
    browser.get(f"{live_site.url}/admin/login/")
    log = browser_log(browser)
    log.requests.append("http://localhost:1/elsewhere.js")
    assert log.foreign_requests(live_site.url) == ["http://localhost:1/elsewhere.js"]
    log.requests.pop()
    assert_clean(browser, live_site.url)


def test_screenshot_is_a_viewport_sized_png(browser: WebDriver, live_site: LiveServer) -> None:
    browser.get(f"{live_site.url}/admin/login/")
    data = screenshot(browser, "self-test login").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 900)
    assert_clean(browser, live_site.url)
