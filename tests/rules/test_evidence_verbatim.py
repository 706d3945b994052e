"""Evidence is quoted, never paraphrased: every evidence line of every finding on every real log
under tests/data is the text of the line at its line number (its message without the console
prefix, or the whole line), so that a reader who opens the log at that line sees what was quoted.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

import stallscope
from conftest import DATA
from stallscope.records.stream import records
from stallscope.sources.reader import iter_lines

LOGS = sorted(str(p.relative_to(DATA)) for p in [*DATA.rglob("*.log"), *DATA.rglob("*.txt")])


@cache
def _quotable(relative: str) -> dict[int, set[str]]:
    """Per line number: the texts a quote of that line may be (whole line, message of each record on it)."""
    path = str(DATA / relative)
    lines = list(iter_lines(path))
    out: dict[int, set[str]] = {}
    for number, text in enumerate(lines, start=1):
        out.setdefault(number, set()).add(text.strip())
    for record in records(path, iter(lines)):
        out.setdefault(record.line, set()).add(record.body.strip())
    return out


@pytest.mark.parametrize("relative", LOGS)
def test_every_evidence_line_quotes_its_line(relative: str) -> None:
    path = DATA / relative
    capture = stallscope.load(str(path))
    findings = stallscope.diagnose(capture)
    quotable = _quotable(relative)
    for finding in findings:
        for evidence in finding.evidence:
            if Path(evidence.source).name != path.name:
                continue  # a bundle's other input: not this file's lines
            assert evidence.text.strip() in quotable.get(evidence.line, set()), (
                f"{finding.rule} quotes line {evidence.line} as {evidence.text!r}; "
                f"the line says {sorted(quotable.get(evidence.line, set()))!r}")


def test_a_wait_site_is_quoted_as_its_two_frame_lines() -> None:
    """kswapd waiting in down() in xfs_buf_lock: the frames of down and of xfs_buf_lock, each on its
    own line, not a sentence about them."""
    relative = "lkml/2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"
    findings = stallscope.diagnose(stallscope.load(str(DATA / relative)))
    kswapd = next(f for f in findings if f.rule == "kswapd-lock-wait")
    assert "down in xfs_buf_lock" in kswapd.title
    assert [(e.line, e.text) for e in kswapd.evidence[1:]] == [
        (15, "down+0x41/0x50"), (16, "xfs_buf_lock+0x64/0x370 [xfs]")]
    assert all(e.ts is None for e in kswapd.evidence[1:])  # a frame line's own time is not kept
