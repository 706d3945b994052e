"""The rules that read the events table, on real logs (and on hung-task blocker lines)."""

from __future__ import annotations

from pathlib import Path

import pytest

import stallscope
from conftest import DATA, loaded
from stallscope.rules.base import Finding, Severity

MINE = {"hung-task", "warn-alloc-stall", "allocation-failure", "workqueue-lockup", "lock-owner-cycle"}


def _of(name: str, rule: str) -> list[Finding]:
    _, findings = loaded(name)
    return [f for f in findings if f.rule == rule]


def _text(finding: Finding) -> str:
    return "\n".join([finding.title, finding.explanation, *(e.text for e in finding.evidence)])


def test_fsfreeze_hung_tasks_name_the_freeze_protection() -> None:
    found = _of("qemu/hung-task-fsfreeze.log", "hung-task")
    by_task = {(t.comm, t.pid): f for f in found for t in f.tasks}
    assert set(by_task) == {("touch", 120), ("dd", 121), ("cat", 116)}
    # touch and dd wait at one site: one finding (tests/rules/test_one_finding_per_cause.py).
    assert by_task[("touch", 120)] is by_task[("dd", 121)]
    assert "mnt_want_write" in by_task[("touch", 120)].title
    assert "vfs_write" in by_task[("cat", 116)].title  # cat opened its file before the freeze
    assert "15s" in by_task[("touch", 120)].title
    assert "touch(120) waiting in percpu_down_read in mnt_want_write (from vfs_utimes), 3 reports" in by_task[
        ("touch", 120)].explanation
    assert all(f.severity is Severity.WARNING for f in found)


def test_blocked_kswapd_is_critical_and_named_with_its_lock() -> None:
    (finding,) = _of("lkml/2016-03-11_related-no-memalloc-kswapd-xfs-ilock-hung-task.log", "hung-task")
    assert finding.severity is Severity.CRITICAL
    assert "kswapd0(52)" in finding.title and "xfs_ilock" in finding.title and "xfs_map_blocks" in finding.title
    assert finding.evidence[0].line == 117


def test_hung_thread_of_oom_victim_mentions_the_kills() -> None:
    (finding,) = _of("qemu/oom-stuck-victim.log", "hung-task")
    assert (finding.tasks[0].comm, finding.tasks[0].pid) == ("writer", 120)
    assert ("victim", 118) in {(t.comm, t.pid) for t in finding.tasks}
    assert "victim(118)" in finding.explanation


def test_a_kill_whose_pid_no_number_holds_is_cited_without_its_task(tmp_path: Path) -> None:
    """The same log with the victim's pid in "Killed process" garbled beyond int64: the hung
    writer's finding still cites the kill line, and names no task for it (a TypeError before)."""
    text = (DATA / "qemu" / "oom-stuck-victim.log").read_text()
    log = tmp_path / "garbled-kill.log"
    log.write_text(text.replace("Killed process 118 (victim)", "Killed process 99999999999999999999999 (victim)"))
    (finding,) = [f for f in stallscope.diagnose(stallscope.load(str(log))) if f.rule == "hung-task"]
    assert (finding.tasks[0].comm, finding.tasks[0].pid) == ("writer", 120)
    assert "victim" not in {t.comm for t in finding.tasks}
    assert any("Killed process 99999999999999999999999 (victim)" in e.text for e in finding.evidence)


def test_longest_warn_alloc_stall_is_named() -> None:
    (finding,) = _of("lkml/2017-07-14_oom-lock-holder-sched-idle-warn-alloc-ratelimit-inflight.log", "warn-alloc-stall")
    assert "720370" in finding.title and "normal-priority(6697)" in finding.title
    assert finding.severity is Severity.CRITICAL
    assert "826" in finding.explanation  # 364 + 462 warn_alloc reports were dropped by the ratelimit
    assert finding.evidence[0].line == 185


def test_netconsole_stall_of_2102516ms() -> None:
    (finding,) = _of("lkml/2017-01-17_real-netconsole-rsyslog-2102516ms-stall-backup-server.log", "warn-alloc-stall")
    assert "2102516" in finding.title
    assert "rsync" in finding.title


def test_stall_fragments_without_comm_or_mode(tmp_path: Path) -> None:
    # A netconsole capture can keep only the middle pr_cont() piece of the report.
    log = tmp_path / "fragments.log"
    log.write_text("[ 1.0] page allocation stalls for 12345ms\n[ 2.0] page allocation stalls for 99ms, order:3\n")
    (finding,) = [f for f in stallscope.diagnose(stallscope.load(str(log))) if f.rule == "warn-alloc-stall"]
    assert "12345 ms" in finding.title and "2 stall report" in finding.title
    assert "Orders seen: 3" in finding.explanation


def test_laptop_stalls_are_a_warning() -> None:
    (finding,) = _of("lkml/2017-03-14_real-laptop-syslog-warn-alloc-stalls-thrashing.log", "warn-alloc-stall")
    assert finding.severity is Severity.WARNING
    assert "14239" in finding.title and "4 stall report" in finding.title
    assert {(t.comm, t.pid) for t in finding.tasks} == {("DOM Worker", 30909), ("DOM Worker", 23292), ("firefox-esr", 22792)}


def test_allocation_failure_names_the_allocating_frame() -> None:
    (finding,) = _of("qemu/warn-alloc-failure.log", "allocation-failure")
    assert "alloc_until_fail" in finding.title
    assert "GFP_KERNEL|__GFP_NORETRY" in finding.title and "order-0" in finding.title
    assert "OOM killer is not invoked" in finding.explanation


@pytest.mark.parametrize(
    ("name", "mode", "names", "atomic"),
    [
        # 3.4 (printed): "page allocation failure: order:2, mode:0x4020"
        ("wild/2012-09-28_real-48gb-multicast-kswapd1-order2-atomic-mlx4-failure.log", "0x4020",
         "GFP_ATOMIC|__GFP_COMP", True),
        # 4.4 (printed): "adb: page allocation failure: order:8, mode:0x24040c0"
        ("wild/2019-02-13_real-rpi2-adb-usbfs-order8-page-allocation-failure.log", "0x24040c0",
         "GFP_KERNEL|__GFP_COMP", False),
    ],
)
def test_hex_only_failure_mode_is_named_for_the_kernel(name: str, mode: str, names: str, atomic: bool) -> None:
    (finding,) = _of(name, "allocation-failure")
    assert names in finding.title
    assert f"mode {mode} ({names})" in finding.explanation and "printed the mode in hex only" in finding.explanation
    assert ("OOM killer is not invoked" in finding.explanation) is atomic


def test_hex_only_failure_mode_of_an_unknown_kernel_is_not_guessed_in_the_title() -> None:
    # No version and no names in this 3.x excerpt: 0x20 is GFP_ATOMIC before 4.4, __GFP_HIGH after.
    (finding,) = _of("wild/2013-04-05_real-raspberry-pi-ksoftirqd-gfp-atomic-page-allocation-failure-smsc95xx.log",
                     "allocation-failure")
    assert "order-0 0x20" in finding.title and "GFP" not in finding.title
    assert "GFP_ATOMIC (2.6-4.3) or __GFP_HIGH (4.4+)" in finding.explanation


def test_a_hex_only_failure_after_one_with_names_in_one_boot_is_named(tmp_path: Path) -> None:
    """A boot whose failure reports are of both forms (a 6.1 report with its flags named, then a 4.x
    report in hex only: two captures of one machine without a boot between). The hex-only one's
    title once showed "nan": its missing names were read from a table whose column held the other
    report's names."""
    log = tmp_path / "kern.log"
    log.write_bytes((DATA / "qemu" / "warn-alloc-failure.log").read_bytes()
                    + (DATA / "wild" / "2015-11-20_real-rsnapshot-xfs-md-raid6-server-thp-order9-stall-"
                       "fragmentation.log").read_bytes())
    capture = stallscope.load(str(log))
    failures = [f for f in stallscope.diagnose(capture) if f.rule == "allocation-failure"]
    assert len({f.boot for f in failures}) == 1
    named, hex_only = failures
    assert "order-0 GFP_KERNEL|__GFP_NORETRY" in named.title
    assert "swapper/3 order-2 " in hex_only.title and "nan" not in hex_only.title.split()
    assert "mode 0xc020 (" in hex_only.explanation and "printed the mode in hex only" in hex_only.explanation


def test_workqueue_lockup_with_mayday_and_rescuers() -> None:
    (finding,) = _of("lkml/2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log", "workqueue-lockup")
    assert finding.severity is Severity.CRITICAL
    assert "132s" in finding.title and "xfs-data/sda1" in finding.title
    assert "rescuer pid 451" in finding.explanation
    assert finding.evidence[0].text.startswith("BUG: workqueue lockup")


def test_a_hung_pool_whose_number_no_number_holds_is_pool_question_mark(tmp_path: Path) -> None:
    """A workqueue dump's hung pool with its pool number garbled beyond int64 (the inflate
    mutation of a real log): named "pool ?", where the analysis stopped with a ValueError."""
    lines = (DATA / "repro" / "overflow-stalling-in-a-trend.log").read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "] pool " in line and " hung=" in line and "hung=0s" not in line)
    number = lines[at].split("] pool ")[1].split(":")[0]
    lines[at] = lines[at].replace(f"] pool {number}:", "] pool 99999999999999999999999:", 1)
    log = tmp_path / "garbled-pool.log"
    log.write_text("".join(lines))
    (finding,) = [f for f in stallscope.diagnose(stallscope.load(str(log))) if f.rule == "workqueue-lockup"]
    assert "pool ? (cpus=" in finding.explanation


def test_hung_pools_without_watchdog_line() -> None:
    (finding,) = _of("lkml/2017-03-03_wq-mem-reclaim-xfs-rescuer.log", "workqueue-lockup")
    assert "673s" in finding.title
    assert "xfs-eofblocks/sda1 rescuer pid 456" in finding.explanation


def test_idle_workqueue_dump_is_not_a_lockup() -> None:
    # 2016-04-05 dumps busy workqueues with hung=0s pools: busy is not stuck.
    assert _of("lkml/2016-04-05_oom-livelock-xfs-nofs-noio.log", "workqueue-lockup") == []
    assert _of("qemu/sysrq-t.log", "workqueue-lockup") == []


def test_lockdep_holders_of_mmap_sem() -> None:
    (finding,) = _of("lkml/2016-02-25_oom-reaper-unable-mmap-sem-victim-stuck.log", "lock-owner-cycle")
    assert finding.severity is Severity.INFO
    assert "&mm->mmap_sem" in finding.title and "10 task" in finding.title
    assert "SyS_mremap" in finding.explanation


def test_held_lock_holders_are_named_as_the_log_prints_them() -> None:
    """A boot where one "locks held by" header names a pid no number holds (a 40-digit one): the
    other holders were written as floats ("a.out/2269.0") and the unnamed one as "nan"."""
    (finding,) = _of("repro/overflow-lockdep-holder-pid.log", "lock-owner-cycle")
    assert "by a.out/2269, a.out/2371, a.out/2600," in finding.explanation
    assert "a.out/?," in finding.explanation
    assert ".0," not in finding.explanation and "nan" not in finding.explanation


@pytest.mark.parametrize("name", ["qemu/thrash-nooom-sysrq-m.log", "qemu/sysrq-m.log", "qemu/sysrq-t.log"])
def test_quiet_logs_get_nothing_from_these_rules(name: str) -> None:
    _, findings = loaded(name)
    assert [f.rule for f in findings if f.rule in MINE] == []


_BLOCKERS = """\
[  125.362363] INFO: task zsh:470 is blocked on a mutex likely owned by task zsh:470.
[  125.364467] task:zsh             state:D stack:0     pid:470   tgid:470   ppid:430    task_flags:0x400100 flags:0x00004002
[  125.367493] Call Trace:
[  125.368359]  <TASK>
[  125.369180]  __schedule+0x13b4/0x2120
[  125.371486]  schedule+0xdc/0x280
[  125.372518]  schedule_preempt_disabled+0x10/0x20
[  125.374049]  __mutex_lock+0x698/0x1200
[  125.376572]  mutex_lock+0x81/0x90
[  125.377000]  </TASK>
"""


def test_self_deadlock_is_a_cycle(tmp_path: Path) -> None:
    log = tmp_path / "self-deadlock.log"
    log.write_text(_BLOCKERS)
    findings = [f for f in stallscope.diagnose(stallscope.load(str(log))) if f.rule == "lock-owner-cycle"]
    (finding,) = findings
    assert finding.severity is Severity.CRITICAL
    assert "zsh(470) -> zsh(470)" in finding.title


def test_two_task_cycle_and_a_plain_wait(tmp_path: Path) -> None:
    log = tmp_path / "abba.log"
    log.write_text(
        "[ 10.0] INFO: task a:1 is blocked on a mutex likely owned by task b:2.\n"
        "[ 10.1] INFO: task b:2 <writer> blocked on an rw-semaphore likely owned by task a:1 <reader>\n"
    )
    (cycle,) = [f for f in stallscope.diagnose(stallscope.load(str(log))) if f.rule == "lock-owner-cycle"]
    assert cycle.severity is Severity.CRITICAL
    assert "a(1) -> b(2) -> a(1)" in cycle.title
    plain = tmp_path / "wait.log"
    plain.write_text("[ 10.0] INFO: task kworker/0:1:11 is blocked on a mutex likely owned by task dhcpcd:615.\n")
    (wait,) = [f for f in stallscope.diagnose(stallscope.load(str(plain))) if f.rule == "lock-owner-cycle"]
    assert wait.severity is Severity.WARNING
    assert "kworker/0:1(11)" in wait.title and "dhcpcd(615)" in wait.title


def test_a_blocker_line_with_a_pid_no_number_holds_is_left_out(tmp_path: Path) -> None:
    """_BLOCKERS' line with its waiter's pid garbled beyond int64, beside a plain one: the plain
    wait is still found (the garbled line stopped the analysis with a TypeError)."""
    log = tmp_path / "garbled.log"
    log.write_text(_BLOCKERS.splitlines(keepends=True)[0].replace("zsh:470 is", "zsh:99999999999999999999999 is")
                   + "[  125.362400] INFO: task a:1 is blocked on a mutex likely owned by task b:2.\n")
    (wait,) = [f for f in stallscope.diagnose(stallscope.load(str(log))) if f.rule == "lock-owner-cycle"]
    assert "a(1)" in wait.title and "b(2)" in wait.title and "99999" not in wait.explanation


def test_a_hung_task_whose_blocker_names_an_owner_pid_no_number_holds(tmp_path: Path) -> None:
    """A hung-task report of _BLOCKERS' task, its blocker line's owner pid garbled beyond int64:
    the report is still a finding, without that owner (a TypeError stopped the analysis)."""
    lines = _BLOCKERS.splitlines(keepends=True)
    log = tmp_path / "garbled-owner.log"
    log.write_text("[  125.360000] INFO: task zsh:470 blocked for more than 122 seconds.\n"
                   + lines[0].replace("owned by task zsh:470.", "owned by task zsh:99999999999999999999999.")
                   + "".join(lines[1:]))
    (hung,) = [f for f in stallscope.diagnose(stallscope.load(str(log))) if f.rule == "hung-task"]
    assert "zsh(470)" in hung.title and "99999" not in hung.explanation


def test_a_blank_line_between_netconsole_datagrams_misplaces_nothing(tmp_path: Path) -> None:
    # Fuzz campaign seeds 95935 and 99908: a blank line after the first datagram ("rsync: ") of
    # the pr_cont()-split stall report. The next datagram (no printk time, its host field lost)
    # starts a record of its own on its own line, of the same host; it is not glued to the blank.
    lines = (DATA / "lkml/2017-01-17_real-netconsole-rsyslog-2102516ms-stall-backup-server.log").read_text().splitlines()
    damaged = tmp_path / "blank.log"
    damaged.write_text("\n".join([lines[0], "", *lines[1:]]) + "\n")
    capture = stallscope.load(str(damaged))
    (finding,) = [f for f in stallscope.diagnose(capture) if f.rule == "warn-alloc-stall"]
    first = finding.evidence[0]
    assert first.line == 3 and first.text.startswith("page allocation stalls for 2102516ms")
    assert first.text.split(",")[0].split(" for ")[0] in lines[1]
    assert capture.events["host"].astype(str).unique().tolist() == ["storage8"]
