"""The Markdown report: golden files, a real Markdown parser, size limit, hostile task names.

Rewrite the golden files after a deliberate change with
``STALLSCOPE_UPDATE_GOLDEN=1 pytest tests/render/test_report_markdown.py`` and read the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

import stallscope
from conftest import DATA
from report_helpers import HOSTILE_NAMES, from_root, hostile_log
from stallscope.render import markdown, sections
from stallscope.render.mdtext import code, fenced, inline, paragraph
from stallscope.render.provenance import provenance

UPDATE = bool(os.environ.get("STALLSCOPE_UPDATE_GOLDEN"))
GOLDEN = DATA / "reports"
LARGEST = "tests/data/memalloc-qemu/oomwrite-1cpu-128M-w3.log"
CASES = {
    "too-many-isolated-kswapd-xfs-buf-lock": "tests/data/lkml/2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log",
    "memalloc-qemu-oomwrite": LARGEST,
}


def _md() -> MarkdownIt:
    # html=True as on GitLab and (before sanitising) GitHub: raw HTML from the log would pass.
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def _report(relative: str) -> str:
    capture, findings, origin = from_root(relative, ["report", relative, "-o", "report.md"])
    return markdown.render(capture, findings, origin)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_report(name: str) -> None:
    text = _report(CASES[name])
    golden = GOLDEN / f"{name}.md"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden}; create it with STALLSCOPE_UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(CASES))
def test_report_parses_as_markdown_with_every_part(name: str) -> None:
    text = _report(CASES[name])
    tokens = _md().parse(text)
    headings = [t.content for i, t in enumerate(tokens[1:], 1) if tokens[i - 1].type == "heading_open"]
    assert headings[0].startswith("stallscope report")
    for part in ("Findings", "Watchdog reports over time", "Stalled tasks", "Stack signatures",
                 "How this report was made"):
        assert any(h.startswith(part) for h in headings), (part, headings)
    assert sum(t.type == "table_open" for t in tokens) >= 3  # timeline, tasks, inputs
    assert any(t.type == "fence" for t in tokens)
    html = _md().render(text)
    assert "<script" not in html.lower()
    assert len(text) <= markdown.DEFAULT_MAX_CHARS


def test_provenance_names_version_command_and_hash() -> None:
    text = _report(CASES["too-many-isolated-kswapd-xfs-buf-lock"])
    tail = text[text.index("## How this report was made"):]
    assert f"stallscope {stallscope.__version__}" in tail
    assert "`stallscope report tests/data/lkml/2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log -o report.md`" in tail
    assert re.search(r"`[0-9a-f]{64}`", tail)
    assert "13,246 bytes" in tail  # the file's size
    counts = re.search(r"\| +(\d+) \| +(\d+) \| +(\d+) \|$", tail, re.MULTILINE)
    assert counts, tail  # lines, understood, not understood
    lines, understood, not_understood = (int(n) for n in counts.groups())
    assert lines == understood + not_understood > 0


def test_largest_log_is_shortened_only_when_asked_and_says_so() -> None:
    capture, findings, origin = from_root(LARGEST, ["report"])
    full = markdown.render(capture, findings, origin, max_chars=None)
    assert "Shortened" not in full and "not shown" not in full
    short = markdown.render(capture, findings, origin, max_chars=12_000)
    assert len(short) <= 12_000
    assert "**Shortened**" in short[:3000]  # stated at the top, not only where rows were cut
    assert "not shown" in short
    assert "## How this report was made" in short  # the provenance survives shortening
    assert _md().parse(short)


def _first_layout_that_fits(capture: object, findings: list, origin: object, max_chars: int) -> str | None:
    """What the report is by its definition: the first layout of LEVELS, each written whole, that
    fits (None: none does)."""
    parts = sections.Parts(capture, findings)  # type: ignore[arg-type]
    for limits in markdown.LEVELS:
        body, tail = markdown._Writer(parts, origin, limits).render()  # type: ignore[arg-type]
        if len(body) + len(tail) <= max_chars:
            return body + tail
    return None


@pytest.mark.parametrize("relative", [LARGEST, "tests/data/lkml/2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"])
def test_layouts_stopped_when_too_long_give_the_first_layout_that_fits(relative: str) -> None:
    """A layout is no longer written to its end once it is surely too long: the report is still
    the first layout that fits, at every limit between the shortest and the whole layout."""
    capture, findings, origin = from_root(relative, ["report"])
    whole = len(markdown.render(capture, findings, origin, max_chars=None))
    shortest = len(_first_layout_that_fits(capture, findings, origin, 10**9) or "")
    lengths = sorted({len(body) + len(tail) for limits in markdown.LEVELS
                      for body, tail in [markdown._Writer(sections.Parts(capture, findings), origin, limits).render()]})
    # The layouts differ (a shortened one can be longer than the whole: its notes of what is left
    # out), so the limits below choose among them.
    assert whole in lengths and len(lengths) > 2
    for max_chars in sorted({*lengths, *(n - 1 for n in lengths), *(n + 1 for n in lengths), shortest, whole}):
        expected = _first_layout_that_fits(capture, findings, origin, max_chars)
        got = markdown.render(capture, findings, origin, max_chars=max_chars)
        if expected is not None:
            assert got == expected, max_chars
        else:
            assert len(got) <= max_chars and "**Cut** at" in got


def test_hard_cut_keeps_fences_closed_and_says_so() -> None:
    capture, findings, origin = from_root(LARGEST, ["report"])
    text = markdown.render(capture, findings, origin, max_chars=4_000)
    assert len(text) <= 4_000
    assert "## How this report was made" in text
    tokens = _md().parse(text)
    # The notice must be a block of its own, not swallowed by an unclosed code fence.
    quotes = [i for i, t in enumerate(tokens) if t.type == "blockquote_open"]
    assert any("**Cut** at 4,000 characters" in tokens[i + 2].content for i in quotes)


def test_hostile_task_names_are_shown_literally(tmp_path: Path) -> None:
    capture = stallscope.load(str(hostile_log(tmp_path)))
    text = markdown.render(capture, stallscope.diagnose(capture), provenance(capture, ["report"]))
    html = _md().render(text)
    assert "<script" not in html and "<img" not in html
    assert 'href="javascript' not in html and "<a " not in html
    assert "<strong>b</strong>" not in html and "<em>i</em>" not in html  # **b** and _i_ are not emphasis
    assert "<del>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Each name reaches the rendered page whole, in a code span of the task table.
    for name in HOSTILE_NAMES:
        escaped = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        assert f"<code>{escaped}(" in html, name
    # Every table row keeps its column count, the one with a pipe in a name included.
    for table in re.findall(r"<table>.*?</table>", html, re.DOTALL):
        header = len(re.findall(r"<th[ >]", table))
        assert all(len(re.findall(r"<td[ >]", row)) == header for row in re.findall(r"<tr>(?:(?!</tr>).)*<td.*?</tr>", table, re.DOTALL))


def test_escaping_helpers() -> None:
    assert inline("a|b") == "a\\|b"
    assert inline("<b>") == "\\<b\\>"
    assert inline("[x](javascript:y)") == "\\[x\\](javascript:y)"
    assert inline("xfs_buf_lock") == "xfs_buf_lock"  # intraword underscores are not emphasis
    assert inline("__GFP_FS") == "\\_\\_GFP_FS"
    assert inline("a\x1b[31mb\u202ec") == "a\\\\x1b\\[31mb\\\\u202ec"
    assert paragraph("# not a heading") == "\\# not a heading"
    assert paragraph("1. not a list") == "1\\. not a list"
    assert code("a`b") == "``a`b``"
    assert code("`x") == "`` `x ``"
    block = fenced(["plain", "````", "x"])
    assert block.startswith("`````text\n") and block.endswith("\n`````")
    md = _md()
    for text in ("a|b", "<i>x</i>", "**x**", "`x`", "&amp;", "~~x~~", "x_y_ _z_"):
        rendered = md.render(inline(text)).strip()
        assert rendered.startswith("<p>") and "<i>" not in rendered and "<strong>" not in rendered
        assert "<code>" not in rendered and "<del>" not in rendered and "<em>" not in rendered
