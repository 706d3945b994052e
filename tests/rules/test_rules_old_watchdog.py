"""The 2015-2016 watchdog (no oom_count) drives oom-plateau, on the logs its authors diagnosed."""

from __future__ import annotations

import pytest

import stallscope
from conftest import DATA, loaded
from stallscope.rules.base import Finding, HostView, Severity
from stallscope.rules.common.oom_trend import oom_counts, oom_trend

VMSTAT = "wild/2016-01-27_oom-stall-vmstat-update-workqueue-pending-disk-events-workfn.log"
SEQ_FROZEN = "wild/2016-01-19_ltp-oom01-hang-no-oom-kill-seq-frozen-after-last-oom.log"
EXITING = "wild/2016-01-22_ltp-oom01-mlock-exiting-task-stuck-swapin-in-do-exit-no-oom.log"
SILENT = "wild/2015-10-22_silent-livelock-zone-reclaimable-vmstat-update-pending-behind-disk-events.log"
AOSP = "wild/2016-06-26_real-aosp-build-4-6-2-reserves-depleted-before-oom-oom-count-zero.log"
FINITE = "wild/2015-11-12_real-rsnapshot-xfs-md-server-4-1-2-free-below-min-finite-stalls-vmstat-pending.log"


def _plateau(name: str) -> list[Finding]:
    return [f for f in loaded(name)[1] if f.rule == "oom-plateau"]


def _view(name: str) -> HostView:
    capture = stallscope.load(str(DATA / name))
    return HostView(None, capture, capture.snapshots, capture.tasks, capture.events)


def test_the_count_is_the_oom_lines_before_each_report() -> None:
    # One "Killed process" (an excerpt without the "invoked oom-killer" header) before three reports.
    view = _view(VMSTAT)
    assert oom_counts(view).tolist() == [1, 1, 1]
    trend = oom_trend(view)
    assert trend is not None and trend.derived and [p.trend for p in trend.phases] == ["flat"]


def test_free_memory_never_rising_after_the_victim_exits_is_a_plateau() -> None:
    # Tetsuo Handa: "free memory does not increase even after OOM victim and dying tasks terminated".
    (finding,) = _plateau(VMSTAT)
    assert finding.severity is Severity.CRITICAL
    assert "18 tasks stalling, oom_count frozen at 1" in finding.title
    assert "stayed at 1 between 113.8s and 242.1s over 3 reports" in finding.explanation
    assert "prints no oom_count" in finding.explanation


def test_no_oom_kill_after_the_last_one_is_a_plateau() -> None:
    # Jan Stancek: "Last OOM message happens at: [6845...] ... seq numbers above appear to hold".
    (finding,) = _plateau(SEQ_FROZEN)
    assert "16 tasks stalling, oom_count frozen at 1" in finding.title


def test_one_report_with_an_exiting_task_stalled_for_long() -> None:
    # Jan Stancek: oom01 "made it to do_exit(), but couldn't complete it".
    (finding,) = _plateau(EXITING)
    assert "oom01(32704) exiting" in finding.title
    assert [(t.comm, t.pid) for t in finding.tasks] == [("oom01", 32704)]
    assert "delay=44849 jiffies (at least 45s)" in finding.explanation
    assert "HZ is unknown" in finding.explanation
    assert [e.line for e in finding.evidence] == [49, 61]


def test_one_report_of_a_silent_livelock() -> None:
    # Tetsuo Handa: a silent livelock, 0 dying / 0 victim tasks, no OOM.
    (finding,) = _plateau(SILENT)
    assert "10 tasks stalling" in finding.title
    assert "The log covers the last 10s of that stall" in finding.explanation


def test_oom_count_zero_in_the_only_report() -> None:
    # Tetsuo Handa: "oom_count=0 in MemAlloc-Info: line says out_of_memory() was never called".
    (finding,) = _plateau(AOSP)
    assert finding.title.endswith("36 tasks stalling, oom_count=0")
    assert finding.evidence[0].text.endswith("oom_count=0")


@pytest.mark.parametrize("name", [
    # "There are many stalls which lasted for finite period ... it was not a livelock."
    FINITE,
    # Victims exist: out_of_memory() returns without a report while it waits for them, so the
    # OOM lines cannot count its calls (expect.json: neither plateau nor livelock).
    "lkml/2015-10-10_first-watchdog-sync4-grep.log",
    "lkml/2015-12-05_oom-reaper-trap-oom-write-early-format.log",
])
def test_no_plateau_where_the_count_cannot_tell(name: str) -> None:
    assert _plateau(name) == []
    assert not [f for f in loaded(name)[1] if f.rule == "oom-livelock"]


def test_finite_stalls_are_counted_as_recoveries() -> None:
    trend = oom_trend(_view(FINITE))
    assert trend is not None and trend.derived and trend.phases == [] and trend.recoveries > 40


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0)])
def test_the_count_takes_oom_lines_of_other_files_by_time(order: tuple[int, ...], tmp_path) -> None:
    """The 2015-12-05 report cut in three files: the first OOM line alone, the second with the
    first report, the three last reports. Before each report are both OOM lines (the count of the
    whole log), counted by line in a report's own file and by time in the others, in whatever
    order the files are given."""
    name = "lkml/2015-12-05_oom-reaper-trap-oom-write-early-format.log"
    lines = (DATA / name).read_text(encoding="utf-8").splitlines(keepends=True)
    assert oom_counts(_view(name)).tolist() == [2, 2, 2, 2]
    paths = []
    for part, (start, end) in enumerate([(0, 15), (15, 33), (33, len(lines))]):
        path = tmp_path / f"part{part}.log"
        path.write_text("".join(lines[start:end]), encoding="utf-8")
        paths.append(str(path))
    capture = stallscope.load(*(paths[at] for at in order))
    counts = oom_counts(HostView(None, capture, capture.snapshots, capture.tasks, capture.events))
    by_line = dict(zip(capture.snapshots["source"].astype(str) + ":" + capture.snapshots["line"].astype(str),
                       counts.tolist(), strict=True))
    assert by_line == {f"{paths[1]}:15": 2, f"{paths[2]}:1": 2, f"{paths[2]}:12": 2, f"{paths[2]}:24": 2}
