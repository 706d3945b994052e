"""One finding per cause: tasks that one rule finds waiting at one site are one finding naming them all."""

from __future__ import annotations

import stallscope
from conftest import DATA


def _hung(relative: str) -> list[stallscope.Finding]:
    findings = stallscope.diagnose(stallscope.load(str(DATA / relative)))
    return [f for f in findings if f.rule == "hung-task"]


def test_kswapd_and_khugepaged_hung_on_one_rwsem_are_one_finding() -> None:
    # Two hung-task reports, both traces in down_read called from rmap_walk_file.
    (finding,) = _hung("wild/2020-12-11_real-devices-4-19-kswapd-khugepaged-hung-rmap-walk-rwsem.log")
    assert finding.title.startswith("Hung tasks: 2 tasks blocked for more than 122s waiting in down_read in "
                                    "rmap_walk_file")
    assert {(t.comm, t.pid) for t in finding.tasks} == {("khugepaged", 66), ("kswapd0", 79)}
    assert finding.severity.value == "critical"  # kswapd is one of them
    # Each task's report line and the two frames of its wait site, quoted.
    assert [e.line for e in finding.evidence] == [1, 8, 9, 15, 21, 22]


def test_tasks_of_one_frozen_filesystem_group_by_primitive_and_caller_not_by_syscall() -> None:
    # touch (vfs_utimes) and dd (path_openat) both wait in percpu_down_read in mnt_want_write; cat
    # waits in percpu_down_read called from vfs_write: another site, another finding.
    findings = _hung("qemu/hung-task-fsfreeze.log")
    titles = sorted(f.title for f in findings)
    assert len(findings) == 2
    assert titles[0].startswith("Hung task: cat(116) blocked for more than 10s waiting in percpu_down_read in vfs_write")
    assert titles[1].startswith("Hung tasks: 2 tasks blocked for more than 15s waiting in percpu_down_read in "
                                "mnt_want_write: touch(120), dd(121)")


def test_a_single_hung_task_keeps_its_own_finding() -> None:
    (finding,) = _hung("qemu/oom-stuck-victim.log")
    assert finding.title.startswith("Hung task: writer(120) blocked")
