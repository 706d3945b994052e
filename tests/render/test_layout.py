"""Wrapped text: lines cut on the string, then the styled text cut once at their ends. Checked on
the findings of a real log at many widths: every line fits, no word or flag is lost or cut where
it fits whole, and every character keeps the style it had before wrapping."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

import stallscope
from conftest import DATA
from stallscope.render.layout import Wrapped

LOGS = [DATA / "lkml" / "2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log",
        DATA / "lkml" / "2016-04-05_oom-livelock-xfs-nofs-noio.log"]


def _bodies() -> list[Text]:
    """Each finding as its panel shows it: title in bold, tasks, evidence with a dim location."""
    bodies = []
    for log in LOGS:
        capture = stallscope.load(str(log))
        for finding in stallscope.diagnose(capture):
            body = Text("   indented start " + finding.title + "\n", style="bold")
            body.append(finding.explanation + "\n")
            for e in finding.evidence:
                body.append(f"  {e.source}:{e.line}  ", style="dim")
                body.append(e.text + "\n")
            bodies.append(body)
    assert len(bodies) >= 6
    return bodies


def _styled(text: Text) -> list[tuple[str, str]]:
    """(character, style) for every character, spans and base style combined."""
    out: list[tuple[str, str]] = []
    # Text.render leaves a text's own (base) style to its caller; joined, it is a span like the rest.
    for segment in Text("").join([text]).render(_CONSOLE):
        out.extend((char, str(segment.style or "")) for char in segment.text)
    return out


_CONSOLE = Console(width=200)


@pytest.mark.parametrize("width", [120, 80, 40, 17, 5])
def test_wrapped_lines_fit_and_keep_every_word_and_style(width: int) -> None:
    for body in _bodies():
        wrapped = Wrapped(body, after=("|,", "/", "-_"))
        source_lines = body.split("\n")
        lines = wrapped.lines(width)
        assert all(cell_len(line.plain) <= width for line in lines), width
        # The words in order; a word breaks across lines only when it does not fit a line.
        assert "".join("".join(line.plain.split()) for line in lines) == "".join(body.plain.split())
        whole = {word for line in lines for word in line.plain.split()}
        for word in body.plain.split():
            if cell_len(word) <= width and word not in whole:
                assert any(word.startswith(w) for w in whole), word
        # Every non-space character keeps its style: compare them in order.
        before = [pair for line in source_lines for pair in _styled(line) if not pair[0].isspace()]
        after = [pair for line in lines for pair in _styled(line) if not pair[0].isspace()]
        assert after == before


def test_a_line_that_fits_is_kept_whole_without_trailing_spaces() -> None:
    text = Text("  GFP_NOFS|__GFP_COMP   ", style="bold")
    assert [line.plain for line in Wrapped(text, after="|").lines(40)] == ["  GFP_NOFS|__GFP_COMP"]
    assert [line.plain for line in Wrapped(text, after="|").lines(12)] == ["  GFP_NOFS|", "__GFP_COMP"]
    assert [line.plain for line in Wrapped(Text(""), after="|").lines(10)] == [""]
