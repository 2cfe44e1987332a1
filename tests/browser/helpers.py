"""Helpers for browser tests: what a clean page is, and screenshots.

    from tests.browser.helpers import assert_clean, screenshot

Every browser test ends with `assert_clean(browser, live_site.url)`: no console message of
level SEVERE (console.error, uncaught exceptions, failed loads) and no request to an origin
other than the live server's (no CDN, no web fonts, no analytics) since the test started.
"""

from __future__ import annotations

import base64
import json
import re
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = ROOT / ".local" / "screenshots"

# Schemes whose URLs never leave the browser.
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})
# Chromium asks every origin for /favicon.ico on its own (once per session: the answer is
# cached, so only the first test would see it). The site has no favicon, so that 404 is
# logged as a SEVERE console entry; it says nothing about the page and is not counted.
# A page's own <link rel="icon"> that fails still counts (it has another URL).
BROWSER_FAVICON_404 = (
    "/favicon.ico - Failed to load resource: the server responded with a status of 404"
)
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def follow(driver: WebDriver, element: WebElement, *, timeout: float = 15) -> None:
    """Click something that loads another page, and return once that page has loaded.

    A click can return before the navigation it starts has replaced the old document, so a
    `find_element` right after it may read the page being left (make test once looked for
    the message list on the form it had just submitted). Waiting for the old root element
    to go stale and the new document to be complete closes that window.
    """
    old_root = driver.find_element(By.TAG_NAME, "html")
    element.click()
    wait = WebDriverWait(driver, timeout)
    wait.until(ec.staleness_of(old_root))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or ""), parts.port or DEFAULT_PORTS.get(parts.scheme)


@dataclass
class BrowserLog:
    """What the browser reported during the current test: console entries and requested URLs.

    chromedriver hands out each log entry once; `collect` keeps them here so that several
    checks in one test all see everything since the test started.
    """

    console: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def collect(self, driver: WebDriver) -> BrowserLog:
        self.console.extend(driver.get_log("browser"))
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            method, params = message.get("method"), message.get("params", {})
            if method == "Network.requestWillBeSent":
                self.requests.append(params["request"]["url"])
            elif method == "Network.webSocketCreated":
                self.requests.append(params["url"])
        return self

    def clear(self) -> None:
        self.console.clear()
        self.requests.clear()

    def errors(self, site_url: str) -> list[dict[str, Any]]:
        """SEVERE console entries, except the browser's own favicon probe of the site."""
        favicon_404 = site_url.rstrip("/") + BROWSER_FAVICON_404
        return [
            entry
            for entry in self.console
            if entry.get("level") == "SEVERE"
            and not (
                entry.get("source") == "network"
                and str(entry.get("message", "")).startswith(favicon_404)
            )
        ]

    def foreign_requests(self, site_url: str) -> list[str]:
        allowed = origin(site_url)
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme not in LOCAL_SCHEMES and origin(url) != allowed
        ]


_logs: weakref.WeakKeyDictionary[WebDriver, BrowserLog] = weakref.WeakKeyDictionary()


def browser_log(driver: WebDriver) -> BrowserLog:
    """This test's log so far (pending entries collected first; nothing is consumed)."""
    return _logs.setdefault(driver, BrowserLog()).collect(driver)


def reset_browser_log(driver: WebDriver) -> None:
    """Forget everything logged so far (done before each test by the conftest)."""
    browser_log(driver).clear()


def assert_clean(driver: WebDriver, live_server_url: str) -> None:
    """No console errors and no request to another origin than `live_server_url`'s so far."""
    log = browser_log(driver)
    problems = []
    errors = log.errors(live_server_url)
    if errors:
        problems.append(
            "console errors:\n"
            + "\n".join(f"  [{e.get('source', '?')}] {e.get('message')}" for e in errors)
        )
    foreign = log.foreign_requests(live_server_url)
    if foreign:
        problems.append(
            f"requests to origins other than {live_server_url}:\n"
            + "\n".join(f"  {url}" for url in foreign)
        )
    assert not problems, f"page is not clean (now at {driver.current_url}):\n" + "\n".join(problems)


def screenshot(driver: WebDriver, name: str, *, full_page: bool = False) -> Path:
    """Save .local/screenshots/<name>.png (the 1280x900 viewport, or the whole page); return it."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "screenshot"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{safe}.png"
    if full_page:
        size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {
                    "x": 0,
                    "y": 0,
                    "width": size["width"],
                    "height": size["height"],
                    "scale": 1,
                },
            },
        )
        path.write_bytes(base64.b64decode(shot["data"]))
    elif not driver.save_screenshot(str(path)):
        raise AssertionError(f"chromium could not save a screenshot to {path}")
    return path
