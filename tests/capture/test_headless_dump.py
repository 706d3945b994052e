"""dump_stack() output whose report line is missing: the "CPU: N PID: N Comm: ..." line opens the
trace that follows it, also where no "Call Trace:" line does (32-bit ARM and arm64 print none).

The log is a real paste that begins at the CPU line (tests/data/wild/SOURCES.md): its warn_alloc
trace must be read, with the task the CPU line names, by the line reader and the fast path alike.
"""

from __future__ import annotations

import stallscope
from conftest import DATA
from stallscope.api import load_lines
from stallscope.capture.events import free_traces, stack_frames

LOG = DATA / "wild" / "2023-12-10_real-rpi4-armv7-6.1-brcmfmac-kmalloc-large-allocation-failure.log"


def test_the_trace_after_a_lone_cpu_line_is_read() -> None:
    capture = stallscope.load(str(LOG))
    free = free_traces(capture)
    (lines, stacks, _), = free.values()
    assert lines.tolist() == [4]  # "unwind_backtrace from show_stack+0x18/0x1c", after CPU, Hardware name, Workqueue
    functions = [name for name, _ in stack_frames(capture, int(stacks[0]))]
    assert functions[:3] == ["unwind_backtrace", "show_stack", "dump_stack_lvl"]
    # ARM names a frame "callee from caller+off/size": the last line's frame is worker_thread.
    assert "brcmf_fws_attach" in functions and functions[-1] == "worker_thread"


def test_line_reader_and_fast_path_agree() -> None:
    lines = LOG.read_text(encoding="utf-8").splitlines()
    plain = load_lines(str(LOG), lines)
    fast = stallscope.load(str(LOG))
    assert plain.frames["function"].tolist() == fast.frames["function"].tolist()
    assert plain.traces["line"].tolist() == fast.traces["line"].tolist()


def test_frames_with_no_cpu_line_before_them_stay_unattached() -> None:
    lines = [line for line in LOG.read_text(encoding="utf-8").splitlines() if "CPU: 0 PID" not in line]
    assert len(load_lines(str(LOG), lines).traces) == 0
