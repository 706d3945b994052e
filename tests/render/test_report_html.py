"""The HTML report as a document: self-contained, escaped, with the same content as Markdown.

That it really loads and draws in a browser is tests/render/test_report_browser.py.
"""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import stallscope
from report_helpers import HOSTILE_NAMES, from_root, hostile_log
from stallscope.render import html
from stallscope.render.provenance import provenance

LOG = "tests/data/lkml/2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"
LARGEST = "tests/data/memalloc-qemu/oomwrite-1cpu-128M-w3.log"


class _Collector(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(document: str) -> _Collector:
    collector = _Collector()
    collector.feed(document)
    collector.close()
    return collector


def _render(relative: str) -> str:
    capture, findings, origin = from_root(relative, ["report", relative, "-o", "report.html"])
    return html.render(capture, findings, origin)


def test_nothing_is_loaded_from_elsewhere() -> None:
    document = _render(LARGEST)
    page = _parse(document)
    names = {tag for tag, _ in page.tags}
    assert "script" not in names and "iframe" not in names and "object" not in names
    for tag, attrs in page.tags:
        for key in ("src", "href"):
            value = attrs.get(key)
            if value is not None:
                assert value.startswith(("data:", "#")), (tag, key, value[:80])
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)  # no inline handlers
    csp = [a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0] and "script-src" not in csp[0]
    assert "@import" not in document and "url(" not in document.split("<body>")[0]


def test_charts_are_svg_with_drawn_data() -> None:
    page = _parse(_render(LARGEST))
    images = [a["src"] for t, a in page.tags if t == "img" and (a.get("src") or "").startswith("data:image/svg+xml")]
    assert len(images) >= 3  # stalling/oom_count, per-task delay, kernel reports
    for src in images:
        svg = base64.b64decode(src.split(",", 1)[1]).decode("utf-8")
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
        assert "<script" not in svg and "href=\"http" not in svg
        assert len(re.findall(r"<path ", svg)) > 10  # axes alone have fewer: lines and markers are there


def test_same_content_as_markdown_and_provenance() -> None:
    document = _render(LOG)
    text = " ".join(_parse(document).text)
    for part in ("Findings", "Watchdog reports", "Stalled tasks", "Stack signatures", "How this report was made",
                 "kswapd0(67)", "xfs_buf_lock", "oom-plateau", f"stallscope {stallscope.__version__}",
                 f"stallscope report {LOG} -o report.html"):
        assert part in text, part
    assert re.search(r"\b[0-9a-f]{64}\b", text)
    assert "<details open><summary>Representative trace" in document


def test_hostile_task_names_are_text(tmp_path: Path) -> None:
    capture = stallscope.load(str(hostile_log(tmp_path)))
    document = html.render(capture, stallscope.diagnose(capture), provenance(capture, ["report"]))
    page = _parse(document)
    assert not any(tag == "script" for tag, _ in page.tags)
    assert all((a.get("href") or "").startswith("#") for t, a in page.tags if t == "a")  # the contents only
    assert [a for t, a in page.tags if t == "img" and not (a.get("src") or "").startswith("data:")] == []
    assert not any(k.startswith("on") for _, attrs in page.tags for k in attrs)
    text = "".join(page.text)
    for name in HOSTILE_NAMES:
        assert name in text, name
