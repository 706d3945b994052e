"""mm-work-pending on real workqueue dumps, and the items the dumps are read into."""

from __future__ import annotations

import pytest

from conftest import DATA, loaded
from stallscope.capture.events import busy_workqueues
from stallscope.rules.base import Finding, Severity

SILENT = "wild/2015-10-22_silent-livelock-zone-reclaimable-vmstat-update-pending-behind-disk-events.log"
VMSTAT = "wild/2016-01-27_oom-stall-vmstat-update-workqueue-pending-disk-events-workfn.log"
RSNAPSHOT = "wild/2015-11-12_real-rsnapshot-xfs-md-server-4-1-2-free-below-min-finite-stalls-vmstat-pending.log"
RESCUER = "lkml/2017-03-03_wq-mem-reclaim-xfs-rescuer.log"


def _found(name: str) -> list[Finding]:
    return [f for f in loaded(name)[1] if f.rule == "mm-work-pending"]


def _lines(name: str) -> list[str]:
    return (DATA / name).read_text(encoding="utf-8", errors="replace").splitlines()


def test_dump_items_keep_their_worker_delay_and_flusher() -> None:
    busy = busy_workqueues(loaded(VMSTAT)[0].events)
    last = [p for p in busy if p.dump == 1]
    vmstat = next(p for p in last if p.workqueue == "vmstat")
    assert [(w.function, w.delay) for w in vmstat.waiting] == [("vmstat_update", 140854)]
    disk = next(p for p in last if p.workqueue == "events_freezable_power_")
    assert [(r.function, r.worker, r.delay) for r in disk.running] == [("disk_events_workfn", 86, 141637)]
    events = next(p for p in busy_workqueues(loaded(RESCUER)[0].events) if p.cpus == "2" and p.workqueue == "events")
    assert [(w.function, w.flushers) for w in events.waiting] == [("drain_local_pages_wq", [9595]),
                                                                  ("e1000_watchdog", [])]


def test_vmstat_update_behind_a_worker_stalled_in_the_allocator() -> None:
    # Tetsuo Handa: "I'm observing vmstat_update workqueue item forever remains pending"; the pool's
    # in-flight disk_events_workfn runs on kworker/3:1(86), a MemAlloc task.
    (finding,) = _found(VMSTAT)
    assert finding.severity is Severity.CRITICAL
    assert finding.title == ("vmstat_update pending on cpus=3 for delay=140854 behind disk_events_workfn on "
                             "kworker/3:1(86) stalled in the allocator")
    assert [(t.comm, t.pid) for t in finding.tasks] == [("kworker/3:1", 86)]
    assert "HZ is unknown" in finding.explanation
    assert [e.line for e in finding.evidence] == [131, 4, 127]


def test_pending_in_two_dumps_without_delays() -> None:
    # "only one job is in-flight state. All other jobs are waiting ... while the in-flight job is
    # blocked at memory allocation" (the first-generation dumps print no delay).
    (finding,) = _found(SILENT)
    assert "vmstat_update pending on cpus=2 for at least 10s behind disk_events_workfn on kworker/2:0(20)" in finding.title
    assert "in every dump from 133.1s to 143.2s" in finding.explanation


def test_no_idle_worker_and_kthreadd_stalled() -> None:
    # "vmstat_update() and submit_flushes() remained pending for about 110 seconds"; the pool's
    # manager waits for kthreadd, itself a MemAlloc task.
    (finding,) = _found(RSNAPSHOT)
    assert "vmstat_update pending on cpus=2 for at least 110s behind xlog_cil_push_work" in finding.title
    assert "kthreadd(2) is itself stalled in the allocator (delay=61314)" in finding.explanation
    assert "its manager 11509 is creating one" in finding.explanation


def test_drain_waited_for_in_flush_work() -> None:
    (finding,) = _found(RESCUER)
    assert finding.title.startswith("drain_local_pages_wq pending on cpus=2 for at least 673s")
    assert "pid 9595 waits for it in flush_work() (BAR)" in finding.explanation
    assert "hung=673s" in finding.explanation


def test_every_evidence_line_is_the_log_line() -> None:
    for name in (SILENT, VMSTAT, RSNAPSHOT, RESCUER):
        lines = _lines(name)
        for item in _found(name)[0].evidence:
            assert item.text in lines[item.line - 1], (name, item.line)


@pytest.mark.parametrize("name", [
    # A SysRq-t dump whose workqueues hold nothing memory management needs.
    "qemu/sysrq-t.log",
    # An OOM storm whose dumps list no pending vmstat or drain work.
    "memalloc-qemu/oomwrite-1cpu-128M-w3.log",
])
def test_no_finding_without_pending_mm_work(name: str) -> None:
    assert _found(name) == []


def test_first_watchdog_stalls_that_keep_ending_are_slow_progress() -> None:
    # "There are many stalls which lasted for finite period. Sometimes the system slowed down, but
    # it was not a livelock."
    (finding,) = [f for f in loaded(RSNAPSHOT)[1] if f.rule == "slow-progress"]
    assert finding.severity is Severity.WARNING
    assert "83 times" in finding.title and "216 reports" in finding.title
    assert "between 1066s and 9662s" in finding.explanation
