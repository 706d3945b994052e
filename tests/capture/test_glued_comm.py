"""A task name longer than the kernel keeps one (15 characters) has another writer's output glued
before it on the console: the real i.MX6 serial capture below prints a media player's status line
and the kernel's "swapper/0: page allocation failure" on one line. The event's task is swapper/0;
the line stays quoted as printed."""

from __future__ import annotations

import stallscope
from conftest import DATA

LOG = DATA / "wild" / "2014-12-08_real-arm-imx6q-3.10-cma-only-free-gfp-atomic-fec-rx-slab-allocation-failure.log"


def test_the_glued_status_line_is_not_the_task_name() -> None:
    capture = stallscope.load(str(LOG))
    failure = capture.events[capture.events["kind"] == "warn_alloc_failure"].iloc[0]
    assert failure["comm"] == "swapper/0" and failure["fields"]["comm"] == "swapper/0"
    assert failure["text"].startswith("[Playing  (List Repeated)]")
    finding = next(f for f in stallscope.diagnose(capture) if f.rule == "allocation-failure")
    assert finding.title.startswith("Allocation failure: swapper/0(0) order-0")


def test_a_name_of_fifteen_characters_or_blanks_is_kept() -> None:
    from stallscope.capture.builder import task_comm

    assert task_comm("DOM Worker") == "DOM Worker"
    assert task_comm("kworker/u256:12") == "kworker/u256:12"
