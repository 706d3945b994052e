"""The boots table at the top of a report of a machine with several boots: where each boot is in
the log, when, and what was found in it, the same in the terminal, Markdown and HTML reports."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console

import stallscope
from conftest import DATA
from stallscope.render import html, markdown, text
from stallscope.render.provenance import provenance
from stallscope.render.sections import Parts
from stallscope.rules.base import Finding

# Two dmesg captures of one machine, one after the other as a serial console keeps them: the
# first ends at [1289.804580] on its line 255, the second starts again at [   98.749616].
FIRST = DATA / "lkml" / "2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"
SECOND = DATA / "lkml" / "2016-04-05_oom-livelock-xfs-nofs-noio.log"
FIRST_LINES = 255


@pytest.fixture(scope="module")
def two_boots(tmp_path_factory: pytest.TempPathFactory) -> tuple[stallscope.Capture, list[Finding]]:
    log = tmp_path_factory.mktemp("boots") / "console.log"
    log.write_text(FIRST.read_text(encoding="utf-8") + SECOND.read_text(encoding="utf-8"), encoding="utf-8")
    capture = stallscope.load(str(log))
    return capture, stallscope.diagnose(capture)


def test_a_row_per_boot_says_where_when_and_what_was_found(two_boots: tuple[stallscope.Capture, list[Finding]]
                                                            ) -> None:
    capture, findings = two_boots
    table = Parts(capture, findings).boots()
    assert table is not None
    assert table.columns == ["boot", "lines", "kernel time (s)", "critical", "warning", "info", "first finding"]
    rows = {row[0]: dict(zip(table.columns, row, strict=True)) for row in table.rows}
    assert list(rows) == ["1", "2"]
    for boot, row in rows.items():
        first, last = (int(n) for n in row["lines"].split("-"))
        start, end = (float(t) for t in row["kernel time (s)"].split("-"))
        if boot == "1":
            assert 1 <= first < last <= FIRST_LINES and 1160.1 <= start < end <= 1289.9
        else:
            assert FIRST_LINES < first < last and 98.7 <= start < end < 1160
        mine = [f for f in findings if f.boot == int(boot)]
        counts = Counter(f.severity.value for f in mine)
        assert [int(row[s]) for s in ("critical", "warning", "info")] == [counts[s] for s in ("critical", "warning", "info")]
        assert mine and row["first finding"] == f"{mine[0].rule}: {mine[0].title}"


def test_every_report_shows_it_before_the_boots_parts(two_boots: tuple[stallscope.Capture, list[Finding]]) -> None:
    capture, findings = two_boots
    out = io.StringIO()
    text.render(capture, findings, Console(file=out, width=160, color_system=None), None)
    terminal = out.getvalue()
    assert terminal.index("Boots (2)") < terminal.index("boot 1 of 2") < terminal.index("boot 2 of 2")
    origin = provenance(capture, ["report"])
    document = markdown.render(capture, findings, origin, max_chars=None)
    assert document.index("## Boots (2)") < document.index("## Findings")
    page = html.render(capture, findings, origin)
    assert page.index('<section id="boots">') < page.index('<section id="findings">')


def test_a_capture_of_one_boot_has_no_boots_table() -> None:
    capture = stallscope.load(str(FIRST))
    findings = stallscope.diagnose(capture)
    assert Parts(capture, findings).boots() is None
    out = io.StringIO()
    text.render(capture, findings, Console(file=out, width=160, color_system=None), None)
    assert "Boots (" not in out.getvalue()
    assert "## Boots" not in markdown.render(capture, findings, provenance(capture, ["report"]), max_chars=None)


def test_a_shortened_markdown_report_keeps_the_first_and_last_boots(tmp_path: Path) -> None:
    # Ten copies of the first capture: ten boots of one machine.
    log = tmp_path / "console.log"
    log.write_text(FIRST.read_text(encoding="utf-8") * 10, encoding="utf-8")
    capture = stallscope.load(str(log))
    findings = stallscope.diagnose(capture)
    document = markdown.render(capture, findings, provenance(capture, ["report"]), max_chars=None,
                               levels=(markdown.Limits(boots=4),))
    boots = document[document.index("## Boots (10)"):document.index("## Findings")]
    shown = [line.split("|")[1].strip() for line in boots.splitlines() if line.startswith("|") and "---" not in line]
    assert shown == ["boot", "1", "…", "8", "9", "10"]
    assert "6 more boot row(s) (marked …) not shown" in boots
