"""Real-browser fixtures: Debian's headless chromium driven by Selenium against the live server.

The browser and its driver are the ones `scripts/browser-local ensure` installs from Debian's
packages (paths from $CHROMIUM / $CHROMEDRIVER, else /usr/bin). Nothing is ever downloaded:
both paths are passed to Selenium explicitly, so Selenium Manager never runs (it is also put
in offline mode, and made to raise if anything calls it). A missing browser is a failed test,
never a skipped one.

Fixtures: `browser` (session), `live_site` (the live server + transactional database),
`logged_in_browser` (staff/staff-password, logged in through /admin/login/). Helpers
(`assert_clean`, `screenshot`) are in tests/browser/helpers.py. The browser is shared by the
session; before each test it is sent to about:blank, its cookies are cleared and its logs are
emptied.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from pytest_django.live_server_helper import LiveServer
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.selenium_manager import SeleniumManager
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.helpers import reset_browser_log

WINDOW_WIDTH, WINDOW_HEIGHT = 1280, 900
DEFAULT_CHROMIUM = "/usr/bin/chromium"
DEFAULT_CHROMEDRIVER = "/usr/bin/chromedriver"
ENSURE_HINT = "run scripts/browser-local ensure"
WAIT_SECONDS = 10

# The account of the `staff_user` fixture (tests/conftest.py).
STAFF_USERNAME = "staff"
STAFF_PASSWORD = "staff-password"  # noqa: S105 - a test account in the test database

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY")

CHROME_ARGUMENTS = [
    "--headless=new",
    # As root (and in containers) chromium refuses to start with its sandbox; /dev/shm is
    # often 64 MB in containers, too small for the renderer.
    "--no-sandbox",
    "--disable-dev-shm-usage",
    f"--window-size={WINDOW_WIDTH},{WINDOW_HEIGHT}",
    "--lang=en-US",
    # Hermetic: no proxy from the environment, no background traffic of the browser itself,
    # and no host name but the live server's resolves. A page that tries another origin still
    # shows up in the performance log, so assert_clean reports it.
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that uses the browser is marked `browser`, whether or not it says so."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


def _executable(env_var: str, default: str) -> str:
    given = os.environ.get(env_var)
    path = given or default
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        where = f"${env_var}={path}" if given else f"{path} (or set ${env_var})"
        pytest.fail(f"no executable at {where}: {ENSURE_HINT}", pytrace=False)
    return path


def _refuse_selenium_manager(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(
        "Selenium Manager was asked for a browser or driver; browser tests use Debian's "
        f"chromium and chromedriver only ({ENSURE_HINT})"
    )


def chrome_options(chromium: str) -> Options:
    options = Options()
    options.binary_location = chromium
    for argument in CHROME_ARGUMENTS:
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return options


def _size_viewport(driver: WebDriver, width: int, height: int) -> None:
    """Make the page's viewport (and so every screenshot) width x height: headless chromium
    reserves room for browser UI that it does not draw (143 px of a 900 px high window)."""
    inner_width, inner_height = driver.execute_script(
        "return [window.innerWidth, window.innerHeight]"
    )
    window = driver.get_window_size()
    driver.set_window_size(
        width + window["width"] - inner_width, height + window["height"] - inner_height
    )
    actual = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    assert actual == [width, height], f"viewport is {actual}, wanted {[width, height]}"


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """One headless chromium for the session (viewport 1280x900), logging console and network."""
    chromium = _executable("CHROMIUM", DEFAULT_CHROMIUM)
    chromedriver = _executable("CHROMEDRIVER", DEFAULT_CHROMEDRIVER)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SE_OFFLINE", "true")
        mp.delenv("SE_CHROMEDRIVER", raising=False)  # it would override executable_path
        for proxy_var in PROXY_VARIABLES:  # Selenium talks to chromedriver on localhost
            mp.delenv(proxy_var, raising=False)
        mp.setattr(SeleniumManager, "binary_paths", _refuse_selenium_manager)
        try:
            driver = webdriver.Chrome(
                service=Service(executable_path=chromedriver), options=chrome_options(chromium)
            )
        except WebDriverException as exc:
            pytest.fail(
                f"could not start {chromium} through {chromedriver}: {exc.msg or exc}\n"
                f"({ENSURE_HINT}; `scripts/browser-local status` shows both versions)",
                pytrace=False,
            )
    try:
        _size_viewport(driver, WINDOW_WIDTH, WINDOW_HEIGHT)
        yield driver
    finally:
        driver.quit()


@pytest.fixture(autouse=True)
def _fresh_browser(request: pytest.FixtureRequest) -> None:
    """Before each test that uses the browser: blank page, no cookies, empty logs."""
    if "browser" not in request.fixturenames:
        return
    driver: WebDriver = request.getfixturevalue("browser")
    driver.get("about:blank")
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    reset_browser_log(driver)


@pytest.fixture
def live_site(
    live_server: LiveServer, transactional_db: None, monkeypatch: pytest.MonkeyPatch
) -> LiveServer:
    """pytest-django's live server. It runs in other threads, which see committed data only,
    so the test needs `transactional_db` (as pytest-django documents).

    The server's request threads close their database connection after each request
    (CONN_MAX_AGE 0 instead of the settings' 60 s): chromium keeps HTTP connections alive, the
    live server does not wait for their daemon threads when it stops, and a connection kept by
    one of them would stop the test database from being dropped at the end of the session.
    """
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    return live_server


@pytest.fixture
def logged_in_browser(browser: WebDriver, live_site: LiveServer, staff_user: Any) -> WebDriver:
    """The browser, logged in as staff/staff-password through the real admin login form."""
    browser.get(f"{live_site.url}/admin/login/?next=/admin/")
    browser.find_element(By.ID, "id_username").send_keys(STAFF_USERNAME)
    browser.find_element(By.ID, "id_password").send_keys(STAFF_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    wait = WebDriverWait(browser, WAIT_SECONDS)
    wait.until(ec.url_to_be(f"{live_site.url}/admin/"))
    wait.until(ec.presence_of_element_located((By.ID, "user-tools")))
    return browser
