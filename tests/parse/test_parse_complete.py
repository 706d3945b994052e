"""Issue 2's bar: plain-dmesg watchdog captures leave no watchdog or trace line unparsed."""

from __future__ import annotations

import pytest

from conftest import corpus_logs, loaded
from test_golden import _WATCHDOG_OR_TRACE

# rsyslog/syslog captures need the prefix layer for those formats; they are checked elsewhere.
PLAIN_DMESG = [
    name
    for name in corpus_logs("lkml") + corpus_logs("memalloc-qemu")
    if "syslog" not in name and "rsyslog" not in name
]


@pytest.mark.parametrize("name", PLAIN_DMESG)
def test_no_watchdog_or_trace_line_left_unparsed(name: str) -> None:
    capture, _ = loaded(name)
    leftovers = [u for u in capture.unparsed if _WATCHDOG_OR_TRACE.search(u.text)]
    assert leftovers == []


@pytest.mark.parametrize("name", PLAIN_DMESG)
def test_line_accounting_adds_up(name: str) -> None:
    capture, _ = loaded(name)
    for stats in capture.inputs:
        assert stats.parsed + stats.unparsed == stats.lines
        assert stats.unparsed == len([u for u in capture.unparsed if u.source == stats.path])
