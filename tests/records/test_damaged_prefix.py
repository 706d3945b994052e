"""A record whose own prefix was spoiled (a control byte, a cut) is not the rest of the line
before it: a mailer's wrap never begins as the log's prefixes do."""

from __future__ import annotations

import stallscope
from conftest import DATA
from stallscope.api import load_lines
from stallscope.records.stream import records

LOG = DATA / "qemu" / "hung-task-fsfreeze.kmsg.log"


def _spoiled() -> tuple[list[str], int]:
    lines = LOG.read_text().splitlines()
    at = next(n for n, line in enumerate(lines) if ";stallscope-guest: scenario" in line)
    head, rest = lines[at].split("-;", 1)
    lines[at] = f"{head}\r-;{rest}"  # "12,384,4446304,\r-;stallscope-guest: ..."
    return lines, at


def test_a_spoiled_kmsg_prefix_is_not_glued_to_the_line_before() -> None:
    lines, at = _spoiled()
    before = lines[at - 1].split(";", 1)[1]
    read = {r.line: r for r in records(str(LOG), lines)}
    assert read[at].body == before  # line numbers count from 1: read[at] is the line before
    assert "stallscope-guest" in " ".join(r.body for r in read.values() if r.line == at + 1)


def test_the_spoiled_line_does_not_make_a_device_failure() -> None:
    lines, _ = _spoiled()
    capture = load_lines(str(LOG), lines)
    clean = stallscope.load(str(LOG))
    rules = {f.rule for f in stallscope.diagnose(capture)}
    assert rules == {f.rule for f in stallscope.diagnose(clean)}
    read, whole = capture.inputs[0], clean.inputs[0]
    # The CR cuts the spoiled line in two, neither understood; every other line reads as before.
    assert (read.physical_lines, read.parsed, read.lines) == (whole.physical_lines, whole.parsed, whole.lines + 1)
