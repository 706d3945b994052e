"""A trace printed once and referred to after: "<Same stack as pid N>" (Android and ChromeOS
kernels' sched_show_task), on syzkaller's reports 254 and 443 (tests/data/syzkaller)."""

from __future__ import annotations

import pandas as pd

import stallscope
from conftest import DATA
from stallscope.api import load_lines


def _frames_by_pid(capture: stallscope.Capture) -> dict[int, int]:
    tasks = capture.tasks
    return {int(pid): (0 if pd.isna(stack) else len(capture.stack_functions(int(stack))))
            for pid, stack in zip(tasks["pid"], tasks["stack"], strict=True)}


def _report_lines(name: str) -> list[str]:
    text = (DATA / "syzkaller" / name).read_text(encoding="utf-8", errors="replace")
    return [line + "\n" for line in text.split("\n\n", 1)[1].splitlines()]  # after the header


def test_a_task_whose_trace_is_another_tasks_has_that_trace() -> None:
    # 254: init(2295) to init(2298) each print "Call Trace:" then "<Same stack as pid 2294>".
    capture = stallscope.load(str(DATA / "syzkaller" / "254"), keep_unparsed=True)
    frames = _frames_by_pid(capture)
    assert frames[2294] > 0
    assert [frames[pid] for pid in (2295, 2296, 2297, 2298)] == [frames[2294]] * 4
    assert capture.inputs[0].kinds["same_stack"] == 4
    assert not [u for u in capture.unparsed if "Same stack" in u.text]


def test_the_line_reader_and_the_fast_path_agree() -> None:
    # The fast path hands a trace over as one run of frames; the line reader frame by frame.
    for name in ("254", "443"):
        fast = _frames_by_pid(stallscope.load(str(DATA / "syzkaller" / name)))
        lines = _frames_by_pid(load_lines(name, _report_lines(name)))
        assert fast == lines, name


def test_a_task_named_that_is_not_in_the_dump_has_no_trace() -> None:
    # 443: kworker/0:3(2098) has "<Same stack as pid 30>", and pid 30 printed no trace here.
    frames = _frames_by_pid(stallscope.load(str(DATA / "syzkaller" / "443")))
    assert frames[2098] == 0 and frames[5725] == frames[4989] > 0
