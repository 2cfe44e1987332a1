"""The vendored Chart.js: the bytes the README vouches for, served by us, and it draws."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from django.templatetags.static import static
from pytest_django.live_server_helper import LiveServer
from selenium.webdriver import Chrome as WebDriver

from tests.browser.helpers import assert_clean, screenshot

VENDOR = Path(__file__).resolve().parents[2] / "stats" / "static" / "stats" / "vendor"
CHART_JS = "stats/vendor/chart.umd.min.js"


def _readme_sha256(name: str) -> str:
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    found = re.search(rf"^\| `{re.escape(name)}` \| `([0-9a-f]{{64}})` \|$", readme, re.M)
    assert found, f"no sha256 for {name} in {VENDOR / 'README.md'}"
    return found.group(1)


def _readme_version() -> str:
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    found = re.search(r"^\| version \| ([0-9][0-9A-Za-z.+-]*) \|$", readme, re.M)
    assert found, "no version row in the vendor README"
    return found.group(1)


def test_vendored_files_match_the_readme() -> None:
    for name in ("chart.umd.min.js", "chart.umd.min.js.map"):
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert digest == _readme_sha256(name), f"{name} differs from the README's sha256"
    head = (VENDOR / "chart.umd.min.js").read_text(encoding="utf-8")[:200]
    assert f"Chart.js v{_readme_version()}" in head
    assert (
        (VENDOR / "chart.js.LICENSE.md").read_text(encoding="utf-8").startswith("The MIT License")
    )


def test_vendored_chartjs_loads_from_our_server_and_draws(
    browser: WebDriver, live_site: LiveServer
) -> None:
    browser.get(f"{live_site.url}/admin/login/")
    loaded = browser.execute_async_script(
        """
        const [src, done] = [arguments[0], arguments[arguments.length - 1]];
        const canvas = Object.assign(document.createElement('canvas'), {id: 'probe-chart'});
        canvas.style.cssText = 'position:fixed;left:0;top:0;width:600px;height:300px;'
            + 'background:#fff;z-index:1000';
        document.body.appendChild(canvas);
        const script = document.createElement('script');
        script.src = src;
        script.onload = () => {
            const chart = new Chart(canvas, {
                type: 'bar',
                data: {labels: ['10:00', '10:01', '10:02'],
                       datasets: [{label: 'impressions', data: [3, 7, 5]}]},
                options: {animation: false, responsive: false},
            });
            const pixels = canvas.getContext('2d')
                .getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < pixels.length; i += 4) { if (pixels[i]) painted++; }
            done({version: Chart.version, xScale: chart.scales.x.type, painted});
        };
        script.onerror = () => done({error: 'could not load ' + src});
        document.head.appendChild(script);
        """,
        f"{live_site.url}{static(CHART_JS)}",
    )
    assert "error" not in loaded, loaded["error"]
    assert loaded["version"] == _readme_version()
    assert loaded["xScale"] == "category"
    assert loaded["painted"] > 1000, "the chart drew (almost) nothing"
    screenshot(browser, "vendor-chartjs-probe")
    assert_clean(browser, live_site.url)
