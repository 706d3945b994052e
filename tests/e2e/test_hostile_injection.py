"""Issue 7, injection: free text from the log is shown inertly, and unchanged in meaning, by every renderer.

Each attack is a task name (comm) written as /dev/kmsg writes it: every byte below 0x20, above
0x7e and the backslash as ``\\xNN``, so that escape sequences and control characters reach the
capture exactly as the kernel held them (a plain console capture loses them to the noise
cleaner before anything is rendered, which is inert already). The name then turns up in the
verdict, the task tables, the finding titles, explanations and evidence of every report.

Renderers are checked against a capture that differs only by a benign name: the structure of
the rendered document (HTML elements, Markdown's HTML) must be the same, and the name must be
there as text.
"""

from __future__ import annotations

import html as html_lib
import io
import json
import re
import warnings
from collections import Counter
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt
from rich.console import Console

import stallscope
from stallscope.api import load_lines
from stallscope.capture.model import Capture
from stallscope.render import html, json_report, markdown, text
from stallscope.render.mdtext import clean
from stallscope.render.provenance import provenance
from stallscope.rules.base import Finding

ATTACKS: dict[str, str] = {
    "rich-markup": "[bold red]x[/bold red][link=https://evil.example]y[/link]",
    "ansi-escapes": "a\x1b[31mred\x1b]8;;https://evil.example\x1b\\lnk\x1b]8;;\x1b\\\x1b[2J\x1b[?1049h",
    "control-chars": "n\x00u\x07l\x08l\x0bv\x7f\x9bc1\u202eevil\u2028x",
    "html": "<script>alert(1)</script><img src=x onerror=alert(2)>",
    "markdown": "a|b`c``](javascript:alert(3)) <details open>**x**",
    "json": 'q"uote\\back\ufeff{"a":1}',
}
BENIGN = "benign"


def _kmsg_escaped(value: str) -> str:
    return "".join(
        chr(b) if 0x20 <= b <= 0x7E and b != 0x5C else f"\\x{b:02x}" for b in value.encode("utf-8")
    )


def _capture(comm: str) -> tuple[Capture, list[Finding]]:
    name = _kmsg_escaped(comm)
    lines = [
        "6,1,100000000,-;MemAlloc-Info: stalling=1 dying=0 exiting=0 victim=0 oom_count=5",
        f"6,2,100100000,-;MemAlloc: {name}(12) flags=0x0 switches=1 seq=1 gfp=0x0 order=0 delay=5 uninterruptible",
        "6,3,130000000,-;MemAlloc-Info: stalling=1 dying=0 exiting=0 victim=0 oom_count=5",
        f"6,4,130100000,-;MemAlloc: {name}(12) flags=0x0 switches=1 seq=1 gfp=0x0 order=0 delay=3005 uninterruptible",
    ]
    capture = load_lines("hostile.log", lines)
    return capture, stallscope.diagnose(capture)


@pytest.fixture(params=sorted(ATTACKS), name="attack")
def _attack(request: pytest.FixtureRequest) -> str:
    return ATTACKS[request.param]


def test_attack_reaches_the_capture_unchanged(attack: str) -> None:
    """The premise of every other test here: the renderers are handed the hostile name as is."""
    capture, findings = _capture(attack)
    assert set(capture.tasks["comm"].astype(str)) == {attack}
    assert any(t.comm == attack for f in findings for t in f.tasks)


# -- terminal ------------------------------------------------------------------------------------
_SGR = re.compile(r"\x1b\[[0-9;]*m")


def _terminal(comm: str) -> str:
    capture, findings = _capture(comm)
    buffer = io.StringIO()
    # A colour terminal, wide enough that no name is folded across table rows.
    text.render(capture, findings, Console(file=buffer, force_terminal=True, color_system="truecolor", width=400))
    return buffer.getvalue()


def test_terminal_shows_the_name_inertly(attack: str) -> None:
    out = _terminal(attack)
    plain = _SGR.sub("", out)
    # The only escapes are rich's own colours: no cursor movement, screen clear, title or link.
    assert "\x1b" not in plain
    assert not [c for c in plain if c != "\n" and (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F)]
    assert "\u202e" not in plain and "\u2028" not in plain
    # Shown as the same characters, with invisible ones spelled out.
    assert f"{clean(attack)}(12)" in plain
    assert plain.count(clean(attack)) >= 3  # task table, finding tasks, evidence


# -- JSON ----------------------------------------------------------------------------------------
def test_json_round_trips_the_name_exactly(attack: str) -> None:
    capture, findings = _capture(attack)
    document = json_report.render(capture, findings)
    assert document.isascii()  # \u escapes: nothing a terminal or a pipe could act on
    assert not re.search(r"[\x00-\x09\x0b-\x1f]", document)
    parsed = json.loads(document)
    assert {"schema_version", "inputs", "summary", "verdict", "findings"} <= set(parsed)
    comms = {t["comm"] for f in parsed["findings"] for t in f["tasks"]}
    assert comms == {attack}
    assert any(attack in e["text"] for f in parsed["findings"] for e in f["evidence"])


# -- Markdown ------------------------------------------------------------------------------------
class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attrs += attrs

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _tags(document: str) -> _Tags:
    parser = _Tags()
    parser.feed(document)
    parser.close()
    return parser


def _markdown_html(comm: str) -> tuple[str, str]:
    capture, findings = _capture(comm)
    source = markdown.render(capture, findings, provenance(capture, ["report"]))
    # html=True as GitLab (and GitHub before sanitising): raw HTML in the source would pass.
    return source, MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(source)


def test_markdown_shows_the_name_inertly(attack: str) -> None:
    source, rendered = _markdown_html(attack)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e\u2028]", source)
    page = _tags(rendered)
    assert page.tags == _tags(_markdown_html(BENIGN)[1]).tags  # no element, link or emphasis added
    assert not any(name.startswith("on") or (value or "").startswith("javascript") for name, value in page.attrs)
    assert f"{clean(attack)}(12)" in "".join(page.text)


# -- HTML ----------------------------------------------------------------------------------------
def _html(comm: str) -> str:
    capture, findings = _capture(comm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # matplotlib: no glyph for a spelled-out character's font
        return html.render(capture, findings, provenance(capture, ["report"]))


def test_html_shows_the_name_inertly(attack: str) -> None:
    document = _html(attack)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", document)
    page = _tags(document)
    assert page.tags == _tags(_html(BENIGN)).tags
    assert not any(name.startswith("on") for name, _ in page.attrs)
    assert all((value or "").startswith(("#", "data:,")) for name, value in page.attrs if name == "href")
    assert f"{clean(attack)}(12)" in "".join(page.text)


def test_html_charts_stay_well_formed_svg(attack: str) -> None:
    """A control character in a chart label would make the SVG image unreadable (no chart at all)."""
    import base64
    import xml.dom.minidom

    images = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', _html(attack))
    assert images
    for data in images:
        svg = base64.b64decode(data).decode("utf-8")
        xml.dom.minidom.parseString(svg)
    assert any(html_lib.escape(clean(attack), quote=False) in base64.b64decode(d).decode() for d in images)
