"""The HTML report in a real headless Chromium: it loads offline, draws its charts, logs no error.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and selenium;
skipped, with the reason, where they are missing.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import stallscope
from report_helpers import HOSTILE_NAMES, from_root, hostile_log
from stallscope.render import html
from stallscope.render.provenance import provenance

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
LARGEST = "tests/data/memalloc-qemu/oomwrite-1cpu-128M-w3.log"

pytestmark = pytest.mark.browser

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install '.[test]')")

if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
    _why = f"{CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver; .ci/run does)"
    if os.environ.get("CI"):
        # CI installs them: there a missing browser is a broken set-up, not a reason to skip.
        pytest.fail(_why, pytrace=False)
    pytest.skip(_why, allow_module_level=True)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,2000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _open(driver: object, path: Path) -> tuple[list[str], list[dict[str, object]]]:
    """Load a page; the URLs it requested and what it logged to the console."""
    driver.get_log("performance")  # type: ignore[attr-defined]  # drop what earlier pages left
    driver.get_log("browser")  # type: ignore[attr-defined]
    driver.get(path.as_uri())  # type: ignore[attr-defined]
    assert driver.execute_script("return document.readyState") == "complete"  # type: ignore[attr-defined]
    urls = []
    for entry in driver.get_log("performance"):  # type: ignore[attr-defined]
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls, driver.get_log("browser")  # type: ignore[attr-defined]


def _write_report(relative: str, target: Path) -> Path:
    capture, findings, origin = from_root(relative, ["report", relative, "-o", target.name])
    target.write_text(html.render(capture, findings, origin), encoding="utf-8")
    return target


def test_report_loads_offline_with_charts_and_no_errors(browser: object, tmp_path: Path) -> None:
    from PIL import Image

    page = _write_report(LARGEST, tmp_path / "report.html")
    urls, console = _open(browser, page)
    # Only the file itself: no font, script, stylesheet or image fetched from anywhere.
    assert [u for u in urls if not u.startswith(("file:", "data:"))] == []
    assert page.as_uri() in urls
    assert [e for e in console if e["level"] in ("SEVERE", "WARNING")] == []

    charts = browser.execute_script(  # type: ignore[attr-defined]
        "return [...document.querySelectorAll('figure.chart img')].map(i => "
        "({complete: i.complete, w: i.naturalWidth, h: i.naturalHeight, shown: i.getBoundingClientRect().width}))"
    )
    assert len(charts) >= 3
    for chart in charts:
        assert chart["complete"] and chart["w"] > 200 and chart["h"] > 100 and chart["shown"] > 200, chart

    # A collapsed trace opens on a click, with no script on the page.
    opened = browser.execute_script(  # type: ignore[attr-defined]
        "const d = document.querySelector('details:not([open])'); d.querySelector('summary').click(); return d.open;"
    )
    assert opened is True
    assert browser.execute_script("return document.scripts.length") == 0  # type: ignore[attr-defined]

    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))  # type: ignore[attr-defined]
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, tables and charts, not a blank page
    if os.environ.get("STALLSCOPE_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["STALLSCOPE_KEEP_SCREENSHOT"])


def test_hostile_names_stay_text_in_the_browser(browser: object, tmp_path: Path) -> None:
    capture = stallscope.load(str(hostile_log(tmp_path)))
    page = tmp_path / "hostile.html"
    page.write_text(html.render(capture, stallscope.diagnose(capture), provenance(capture, ["report"])))
    urls, console = _open(browser, page)
    # An <img src=x> that got through would request file:///.../x; an alert would stop the driver.
    assert urls == [page.as_uri()] or all(u == page.as_uri() or u.startswith("data:") for u in urls)
    assert [e for e in console if e["level"] == "SEVERE"] == []
    found = browser.execute_script(  # type: ignore[attr-defined]
        "return {scripts: document.scripts.length, handlers: document.querySelectorAll('[onerror]').length,"
        " links: document.links.length, text: document.body.innerText}"
    )
    assert found["scripts"] == 0 and found["handlers"] == 0 and found["links"] > 0  # the table of contents
    assert all(link.startswith("#") for link in browser.execute_script(  # type: ignore[attr-defined]
        "return [...document.links].map(a => a.getAttribute('href'))"))
    for name in HOSTILE_NAMES:
        assert name in found["text"], name
