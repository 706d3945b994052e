"""Real lines out of the logs under tests/data, for the grammar tests of every architecture and era."""

from __future__ import annotations

import re
from functools import cache

from conftest import DATA
from stallscope.api import load_lines
from stallscope.capture.model import Capture
from stallscope.parse.lines import LineParser

PARSER = LineParser()

# The console prefixes of the logs these tests read: "[  584.319605][   T31] " (syzkaller's, with
# the printk caller), "[  472.619615] ", "[  +0.002367] " (dmesg -d), "<4>[598175.285002] " (with
# the level), "Dec 29 03:46:15 vdr1 kernel: [21406.783173] " (syslog) and "[Mon Aug 31 18:23:18
# 2015] " (dmesg -T). The record layer reads many more; these tests are about what follows it.
_PREFIX = re.compile(
    r"^(<\d>)?([A-Z][a-z]{2} +\d+ [\d:]+ \S+ kernel: )?"
    r"(\[ *[+]?\d+\.\d+\]|\[[A-Z][a-z]{2} [A-Z][a-z]{2} +\d+ [\d:]+ \d{4}\])(\[ *[TC]\d+\])? ?"
)


@cache
def _lines(relative: str) -> tuple[str, ...]:
    lines = (DATA / relative).read_text(encoding="utf-8", errors="replace").splitlines()
    if relative.startswith("syzkaller/"):
        # syzkaller's report files open with header lines ("TITLE: ...") up to a blank line.
        lines = lines[lines.index("") + 1 :]
    return tuple(lines)


def real_line(relative: str, contains: str) -> str:
    """The first line of the log ``relative`` (under tests/data) holding ``contains``, as printed."""
    for line in _lines(relative):
        if contains in line:
            return line
    raise AssertionError(f"{relative} has no line with {contains!r}")


def body(line: str) -> str:
    """The message of a console line, its printk prefix cut off."""
    return _PREFIX.sub("", line, count=1)


def parsed(relative: str, contains: str) -> tuple[str, dict[str, str]]:
    """(kind, fields) of the first line of ``relative`` holding ``contains``."""
    text = body(real_line(relative, contains))
    result = PARSER.parse(text)
    assert result is not None, f"not understood: {text!r}"
    return result.kind, result.fields


def excerpt(relative: str, first: str, last: str) -> Capture:
    """The capture of the lines of ``relative`` from the first holding ``first`` through the next
    holding ``last``, read like any input."""
    lines = _lines(relative)
    start = next(i for i, line in enumerate(lines) if first in line)
    end = next(i for i in range(start, len(lines)) if last in lines[i])
    return load_lines(relative, [line + "\n" for line in lines[start : end + 1]], keep_unparsed=True)


def functions(capture: Capture, stack: object) -> list[str]:
    return capture.stack_functions(int(stack))  # type: ignore[call-overload]
