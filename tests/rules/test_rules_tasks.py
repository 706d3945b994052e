"""The task-level rules on the real corpus logs (ground truth: lkml/SOURCES.md, expect.json) and by hand."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

from conftest import DATA
from stallscope.api import load
from stallscope.capture.model import Capture
from stallscope.diagnose import host_views
from stallscope.rules import (
    fs_reclaim_dependency,
    reclaim_throttle,
    rescuer_stuck,
    thp_fragmentation,
    victim_stuck,
)
from stallscope.rules.base import Finding, Severity
from stallscope.verdict import rank, verdict

CORPUS = DATA  # the shared corpus logs, copied into tests/data with their names
MINE: dict[str, ModuleType] = {
    m.RULE: m for m in (reclaim_throttle, rescuer_stuck, victim_stuck, fs_reclaim_dependency, thp_fragmentation)
}
LOGS = sorted(str(p.relative_to(CORPUS)) for p in [*CORPUS.glob("lkml/*.log"), *CORPUS.glob("memalloc-qemu/*.log")])


@cache
def capture_of(relative: str) -> Capture:
    return load(str(CORPUS / relative))


@cache
def findings_of(relative: str) -> tuple[Finding, ...]:
    capture = capture_of(relative)
    out = []
    for view in host_views(capture):
        for module in MINE.values():
            out += module.check(view)
    return tuple(out)


def rules_of(relative: str) -> set[str]:
    return {f.rule for f in findings_of(relative)}


def log(prefix: str) -> str:
    return next(name for name in LOGS if Path(name).name.startswith(prefix))


def hand(tmp_path: Path, text: str) -> list[Finding]:
    path = tmp_path / "hand.log"
    path.write_text(text)
    capture = load(str(path))
    return [f for view in host_views(capture) for m in MINE.values() for f in m.check(view)]


# --- the expectations file, for the rules of this module -----------------------------------------
@pytest.mark.parametrize("relative", LOGS)
def test_expectations(relative: str) -> None:
    expect = json.loads((CORPUS / "expect.json").read_text()).get(relative, {})
    found = rules_of(relative)
    for rule in expect.get("must", []):
        if rule in MINE:
            assert rule in found, f"{rule} missing on {relative}"
    for rule in expect.get("must_not", []):
        assert rule not in found
    text = " ".join(f.title + f.explanation for f in findings_of(relative) if f.rule in MINE)
    mine_must = [r for r in expect.get("must", []) if r in MINE]
    if mine_must:
        for word in expect.get("mentions", []):
            assert word in text, f"{word} not mentioned on {relative}"


def test_findings_cite_real_log_lines() -> None:
    for relative in LOGS:
        lines = (CORPUS / relative).read_text(errors="replace").splitlines()
        for finding in findings_of(relative):
            assert finding.evidence, finding.title
            for e in finding.evidence:
                raw = lines[e.line - 1]
                if e.text.startswith("MemAlloc"):
                    assert e.text in raw, (relative, e.line, e.text)


# --- reclaim-throttle ------------------------------------------------------------------------------
def test_reclaim_throttle_too_many_isolated() -> None:
    (finding,) = [f for f in findings_of(log("2017-02-21")) if f.rule == "reclaim-throttle"]
    assert "shrink_inactive_list <- congestion_wait" in finding.title
    assert {t.comm for t in finding.tasks} == {"systemd-journal", "auditd", "vmtoolsd"}
    assert "too_many_isolated" in finding.explanation


def test_reclaim_throttle_6x_names_writeback_worker() -> None:
    (finding,) = [f for f in findings_of(log("oomwrite")) if f.rule == "reclaim-throttle"]
    assert "reclaim_throttle" in finding.title
    assert "kworker/u2:2(87)" in finding.explanation and "writeback" in finding.explanation
    assert finding.severity is Severity.WARNING  # one report shows where tasks are, not that they stay


def test_reclaim_throttle_not_for_allocator_backoff() -> None:
    # a.out(2269) sleeps in congestion_wait called by the allocator itself, not by reclaim.
    assert "reclaim-throttle" not in rules_of(log("2016-02-25"))


LOOP = """\
[  100.000000] MemAlloc-Info: stalling=1 dying=0 exiting=0 victim=0 oom_count=1
[  100.000100] MemAlloc: a.out(10) flags=0x400000 switches=SW seq=7 gfp=0x14200ca(GFP_HIGHUSER_MOVABLE) order=0 delay=DL
[  100.000200] a.out           R  running task    11240    10      1 0x00000000
[  100.000300] Call Trace:
[  100.000400]  __schedule+0x336/0xe00
[  100.000500]  _cond_resched+0x1c/0x30
[  100.000600]  shrink_inactive_list+0x5b4/0x660
[  100.000700]  shrink_node+0xe1/0x310
[  100.000800]  do_try_to_free_pages+0xe1/0x300
[  100.000900]  try_to_free_pages+0x131/0x3f0
[  100.001000]  __alloc_pages_slowpath+0x3ec/0xd95
[  100.001100]  alloc_pages_current+0x97/0x1b0
"""


def test_reclaim_throttle_same_seq_in_shrink_inactive_list(tmp_path: Path) -> None:
    first = LOOP.replace("SW", "5").replace("DL", "1000")
    second = LOOP.replace("SW", "50").replace("DL", "11000").replace("[  100.", "[  110.")
    (finding,) = [f for f in hand(tmp_path, first + second) if f.rule == "reclaim-throttle"]
    assert finding.severity is Severity.CRITICAL and "a.out(10) kept seq=7" in finding.explanation
    assert "shrink_inactive_list" in finding.title
    assert not [f for f in hand(tmp_path, first) if f.rule == "reclaim-throttle"]


# --- rescuer-stuck ---------------------------------------------------------------------------------
def test_rescuer_stuck_names_xfs_data() -> None:
    found = [f for f in findings_of(log("2017-03-03")) if f.rule == "rescuer-stuck"]
    assert {t.comm for f in found for t in f.tasks} == {"xfs-data/sda1", "xfs-eofblocks/s"}
    data = next(f for f in found if "xfs-data/sda1" in f.title)
    assert "rescuer_thread in its call trace" in data.explanation
    assert "kthreadd" in data.explanation and data.severity is Severity.CRITICAL


RESCUER_NO_TRACE = """\
[  100.000000] MemAlloc-Info: stalling=1 dying=0 exiting=0 victim=0 oom_count=5
[  100.000100] MemAlloc: xfs-data/sda1(451) flags=0x4228060 switches=45509 seq=1 gfp=0x1604240(GFP_NOFS|__GFP_NOWARN|__GFP_COMP|__GFP_NOTRACK) order=0 delay=652073
[  100.000200] xfs-data/sda1   R  running task    12696   451      2 0x00000000
[  100.000300] Workqueue: xfs-data/sda1 xfs_end_io [xfs]
[  100.000400] MemAlloc: kworker/2:0(27) flags=0x4208860 switches=38727 seq=21 gfp=0x1400000(GFP_NOIO) order=0 delay=652160
[  100.000500] kworker/2:0     R  running task    12680    27      2 0x00000000
[  100.000600] Workqueue: events_freezable_power_ disk_events_workfn
"""


def test_rescuer_recognized_by_flags_and_comm(tmp_path: Path) -> None:
    found = [f for f in hand(tmp_path, RESCUER_NO_TRACE) if f.rule == "rescuer-stuck"]
    assert [t.comm for f in found for t in f.tasks] == ["xfs-data/sda1"]  # not the kworker
    assert "PF_WQ_WORKER" in found[0].explanation


def test_idle_rescuer_is_not_stuck(tmp_path: Path) -> None:
    idle = RESCUER_NO_TRACE.replace(
        "switches=45509 seq=1 gfp=0x1604240(GFP_NOFS|__GFP_NOWARN|__GFP_COMP|__GFP_NOTRACK) order=0 delay=652073",
        "switches=45509")
    assert not [f for f in hand(tmp_path, idle) if f.rule == "rescuer-stuck"]


# --- victim-stuck ----------------------------------------------------------------------------------
def test_victim_stuck_across_reports() -> None:
    (finding,) = [f for f in findings_of(log("2015-12-05")) if f.rule == "victim-stuck"]
    assert "write(3807)" in finding.title and "4 reports" in finding.explanation
    assert "write(3806)" in finding.explanation  # the killed task still allocating
    assert finding.severity is Severity.CRITICAL


def test_victim_stuck_reaper_and_mmap_sem() -> None:
    (finding,) = [f for f in findings_of(log("2016-02-25")) if f.rule == "victim-stuck"]
    assert "a.out(1562)" in finding.title and "lock_rename" in finding.title
    assert "OOM reaper" in finding.explanation and "a.out(2269)" in finding.explanation
    assert any("unable to reap" in e.text for e in finding.evidence)


def test_victim_stuck_single_report_is_warning() -> None:
    (finding,) = [f for f in findings_of(log("2016-04-05")) if f.rule == "victim-stuck"]
    assert "file_io.08(1424)" in finding.title and finding.severity is Severity.WARNING


def test_dying_without_victim_is_noted() -> None:
    (finding,) = [f for f in findings_of(log("2016-02-09")) if f.rule == "victim-stuck"]
    assert "victim=0" in finding.title


# --- fs-reclaim-dependency -------------------------------------------------------------------------
def test_fs_reclaim_dependency_chain() -> None:
    (finding,) = [f for f in findings_of(log("2016-04-05")) if f.rule == "fs-reclaim-dependency"]
    text = finding.explanation
    assert text.index("kswapd0(49)") < text.index("GFP_NOFS") < text.index("GFP_NOIO")
    assert "xfs_map_blocks" in text and "bio_copy_kern" in text
    assert "430759" in text  # oom_count=.../430759: the !__GFP_FS calls


@pytest.mark.parametrize("garbled", [0, 1], ids=["first-report", "last-report"])
def test_fs_reclaim_dependency_with_a_count_no_column_holds(tmp_path: Path, garbled: int) -> None:
    """The log with one oom_count garbled beyond int64 (its !__GFP_FS count kept): the sentence
    cites the counts of its first and last reports, and leaves it out when the last is the one
    no number holds (reading every count at once, one garbled count stopped the analysis)."""
    lines = (CORPUS / log("2016-04-05")).read_text().splitlines(keepends=True)
    reports = [at for at, line in enumerate(lines) if "oom_count=" in line and "/" in line.split("oom_count=")[1]]
    at = reports[0] if garbled == 0 else reports[-1]
    head, tail = lines[at].split("oom_count=")
    lines[at] = head + "oom_count=99999999999999999999999/" + tail.split("/", 1)[1]
    path = tmp_path / "garbled.log"
    path.write_text("".join(lines))
    capture = load(str(path))
    (finding,) = [f for view in host_views(capture) for f in fs_reclaim_dependency.check(view)]
    if garbled == 0:
        assert "counts 430759 of its 3071760 out_of_memory() calls" in finding.explanation
        assert "335679 at line 2)" in finding.explanation  # the first report's !__GFP_FS count
    else:
        assert "oom_count counts" not in finding.explanation


def test_fs_reclaim_dependency_open_when_no_worker_allocates() -> None:
    # 2017-02-21: kswapd waits in xfs_buf_lock, but the only GFP_NOFS request is auditd's page fault.
    (finding,) = [f for f in findings_of(log("2017-02-21")) if f.rule == "fs-reclaim-dependency"]
    assert finding.severity is Severity.WARNING and "rather than a proven loop" in finding.explanation
    closed = [f for f in findings_of(log("2017-03-03")) if f.rule == "fs-reclaim-dependency"]
    assert closed[0].severity is Severity.CRITICAL and "xfs-data/sda1(451)" in closed[0].explanation


def _fs_reclaim_finding(relative: str) -> Finding:
    (finding,) = [f for view in host_views(capture_of(relative)) for f in fs_reclaim_dependency.check(view)]
    return finding


def test_fs_reclaim_dependency_names_a_few_tasks_of_a_long_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hundreds of GFP_NOFS tasks in a boot (the serial bench family: 207 tasks, 225 cited lines
    in one finding) are named a few a side, the rest counted; every task stays in the finding's
    tasks. Here the 2017-03-03 log (kthreadd waiting, three workers in GFP_NOFS and
    GFP_NOIO requests) with one task named a side."""
    whole = _fs_reclaim_finding(log("2017-03-03"))
    monkeypatch.setattr(fs_reclaim_dependency, "_MAX_NAMED", 1)
    capped = _fs_reclaim_finding(log("2017-03-03"))
    assert "kthreadd(2) (reclaim) is waiting" in capped.explanation
    assert ("xfs-data/sda1(451) needs GFP_NOFS memory for xfs_log_commit_cil, workqueue xfs-data/sda1 (and 1 more "
            "task(s) needing GFP_NOFS memory and 1 more task(s) needing GFP_NOIO memory)") in capped.explanation
    assert "xfs-eofblocks/s(456)" not in capped.explanation and "kworker/2:0(27)" not in capped.explanation
    assert capped.tasks == whole.tasks and len(capped.tasks) == 4
    assert capped.severity is Severity.CRITICAL
    cited = [e.text for e in capped.evidence]
    assert set(cited) < {e.text for e in whole.evidence}
    assert not any("kworker/2:0(27)" in text or "xfs-eofblocks/s(456)" in text for text in cited)


def test_fs_reclaim_dependency_names_the_workers_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Of more restricted tasks than are named, the workers (which close the loop) are; the loop
    is closed by any of them, named or not."""
    only = {"kworker/2:0"}  # as if the two xfs workers were user tasks

    def worker(view: object, task: int) -> bool:
        return view.cell("tasks", task, "comm") in only  # type: ignore[attr-defined]

    monkeypatch.setattr(fs_reclaim_dependency, "_worker", worker)
    monkeypatch.setattr(fs_reclaim_dependency, "_MAX_NAMED", 1)
    finding = _fs_reclaim_finding(log("2017-03-03"))
    assert "kworker/2:0(27) needs GFP_NOIO memory for bio_copy_kern" in finding.explanation
    assert "(and 2 more task(s) needing GFP_NOFS memory)" in finding.explanation
    assert finding.severity is Severity.CRITICAL


def test_fs_reclaim_dependency_needs_a_filesystem_wait() -> None:
    # 6.1 run: a GFP_NOFS writeback worker, but kswapd is throttled, not blocked in the filesystem.
    assert "fs-reclaim-dependency" not in rules_of(log("oomwrite"))
    assert "fs-reclaim-dependency" not in rules_of(log("2017-02-26"))


# --- thp-fragmentation -----------------------------------------------------------------------------
THP = """\
[  200.000000] MemAlloc-Info: stalling=1 dying=0 exiting=0 victim=0 oom_count=0
[  200.000100] MemAlloc: khugepaged(40) flags=0x200040 switches=100 seq=7 gfp=0x4742ca(GFP_TRANSHUGE|__GFP_THISNODE) order=9 delay=30000
"""
BUDDY = ("[  200.100000] Node 0 Normal: 5000*4kB (UME) 3000*8kB (UME) 100*16kB (U) 0*32kB 0*64kB 0*128kB "
         "0*256kB 0*512kB 0*1024kB 0*2048kB 0*4096kB = 45600kB\n")


def test_thp_fragmentation_with_buddy_lines(tmp_path: Path) -> None:
    (finding,) = [f for f in hand(tmp_path, THP + BUDDY) if f.rule == "thp-fragmentation"]
    assert finding.severity is Severity.WARNING and "fragmented" in finding.explanation
    assert "45600 kB free" in finding.explanation


def test_thp_fragmentation_without_buddy_lines(tmp_path: Path) -> None:
    (finding,) = [f for f in hand(tmp_path, THP) if f.rule == "thp-fragmentation"]
    assert finding.severity is Severity.INFO and "unknown" in finding.explanation


def test_thp_not_for_order_0_logs() -> None:
    assert not any("thp-fragmentation" in rules_of(name) for name in LOGS)


# --- verdict ---------------------------------------------------------------------------------------
def test_verdict_names_root_cause_with_lines() -> None:
    relative = log("2016-04-05")
    findings = list(findings_of(relative))
    text = verdict(capture_of(relative), findings)
    assert text.startswith("Most likely root cause: reclaim waits on the filesystem")
    assert "(lines 3, 13, 14)" in text and "Next, given line 3" in text


def test_verdict_ranks_rescuer_first_and_reports_hz() -> None:
    ranked = rank(list(findings_of(log("2017-03-03"))))
    assert ranked[0].rule == "rescuer-stuck"
    text = verdict(capture_of(log("2015-12-05")), list(findings_of(log("2015-12-05"))))
    assert "HZ=1000" in text and "victim-not-exiting" in text


def test_verdict_without_findings() -> None:
    assert verdict(capture_of(log("2015-10-10")), []).startswith("No finding")
