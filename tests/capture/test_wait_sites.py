"""Where a task waits, named as a maintainer would (stallscope.capture.stacks: the one table of
kernel function classes, and wait_site), checked against syzkaller's guilty frames on its hung-task
reports and on the real-world logs that hang in reclaim and in filesystems."""

from __future__ import annotations

import io
import re
from functools import cache
from pathlib import Path

import pytest

import stallscope
from conftest import DATA, loaded
from stallscope.api import load_stream
from stallscope.capture.events import stack_frames
from stallscope.capture.stacks import (
    BLOCKED_KINDS,
    FUNCTIONS,
    SLEEP_KINDS,
    Role,
    reliable_functions,
    wait_site,
)
from stallscope.corpus import RCU_BUCKET, check_peer, wait_site_named
from stallscope.rules.base import Finding

SYZKALLER = DATA / "syzkaller"



def _hung_and_whole(path: Path) -> bool:
    header = path.read_text(encoding="utf-8", errors="replace").partition("\n\n")[0]
    return "TITLE: INFO: task hung in " in header and "CORRUPTED: Y" not in header


# The folder also holds the reports the grammar tests read; these are syzkaller's hung tasks.
REPORTS = sorted((p.name for p in SYZKALLER.iterdir() if p.name.isdigit() and _hung_and_whole(p)), key=int)

# Reports whose hung task's trace (or header) stallscope does not read yet: the title must then say
# so, never name another frame. Each is a strict xfail below: reading it flips the test.
NOT_READ = {
    "74": "an 'unregister_netdevice: waiting for lo' line printed in the middle cuts the trace after schedule",
    "367": "an audit line printed in the middle cuts the trace after __mutex_lock",
    "1000": "stallscope names do_read_cache_folio, where the task waits; syzkaller its caller read_cache_folio",
}
# What a title says when it cannot name the wait site.
NOT_NAMED = re.compile(r"call trace is cut|call trace was not understood|no call trace read")
HEADER = re.compile(r"INFO: task (.+):(\d+) blocked for more than")


def _report(name: str) -> tuple[str, str]:
    """(syzkaller's guilty frame, the console output without the header lines) of a report."""
    header, _, body = (SYZKALLER / name).read_text(encoding="utf-8", errors="replace").partition("\n\n")
    title = next(line for line in header.splitlines() if line.startswith("TITLE: "))
    found = re.fullmatch(r"TITLE: INFO: task hung in (\S+)", title)
    assert found, f"{name}: not a hung-task report: {title}"
    return found.group(1), body


@cache
def _findings(name: str) -> tuple[Finding, ...]:
    _, body = _report(name)
    capture = load_stream(f"syzkaller-{name}.log", io.BytesIO(body.encode()))
    return tuple(stallscope.diagnose(capture))


def _first_hung_title(name: str) -> str:
    """The title of the finding about the task syzkaller's title is about: the first one reported."""
    _, body = _report(name)
    found = HEADER.search(body)
    assert found, f"{name}: no hung-task header"
    comm, pid = found.group(1), int(found.group(2))
    titles = [f.title for f in _findings(name) if f.rule == "hung-task" and (f.tasks[0].comm, f.tasks[0].pid) == (comm, pid)]
    assert titles, f"{name}: no hung-task finding about {comm}({pid})"
    return titles[0]


def test_the_copies_are_the_non_corrupted_hung_task_reports() -> None:
    assert len(REPORTS) == 40
    for name in REPORTS:
        header = (SYZKALLER / name).read_text(encoding="utf-8", errors="replace").partition("\n\n")[0]
        assert "CORRUPTED: Y" not in header


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=NOT_READ[n])) if n in NOT_READ else n
     for n in REPORTS],
)
def test_hung_task_names_syzkallers_guilty_frame(name: str) -> None:
    frame, _ = _report(name)
    named, title = wait_site_named(list(_findings(name)), frame)
    assert named, f"{name}: syzkaller blames {frame}; stallscope says: {title}"


# 1000: its header is the 6.x "blocked in I/O wait for more than"; 1001: the task's name holds a
# newline, so the header is two lines of the raw text (the reader joins them: "newline-joined").
@pytest.mark.parametrize("name", [n for n in REPORTS if n not in ("1000", "1001")])
def test_a_title_names_the_frame_or_says_why_not(name: str) -> None:
    frame, _ = _report(name)
    title = _first_hung_title(name)
    assert wait_site_named([_Titled(title)], frame)[0] or NOT_NAMED.search(title), title


class _Titled:
    rule = "hung-task"

    def __init__(self, title: str) -> None:
        self.title = title


@pytest.mark.parametrize(
    ("name", "words"),
    [
        # The wording of the README: primitive in caller, (from origin) past a generic wrapper or helper.
        ("72", "waiting in mutex_lock in rtnl_lock (from ieee80211_unregister_hw)"),
        ("447", "waiting in wait_for_completion in __flush_work (from p9_fd_close)"),
        ("69", "waiting in ldsem_down_write in tty_ldisc_lock_pair_timeout (from tty_ldisc_hangup)"),
        ("73", "waiting in wait_for_completion in kthread_stop (from set_current_rng)"),
        ("419", "waiting in wait_for_completion_timeout in usb_start_wait_urb (from ld_usb_write)"),
        ("70", "waiting in wait_on_page_bit in __filemap_fdatawait_range (from iterate_bdevs)"),
        # The slow paths of every era read as the call that was made: rwsem, rt_mutex, semaphore.
        ("176", "waiting in down_read in do_exit"),  # rwsem_down_read_failed, call_rwsem_down_read_failed
        ("437", "waiting in down_write in register_netdevice_notifier"),  # rwsem_down_write_slowpath
        ("385", "waiting in down_write in grab_super"),  # rwsem_down_write_failed, call_rwsem_down_write_failed
        ("430", "waiting in rt_mutex_lock in i2c_transfer"),  # __rt_mutex_slowlock, rt_mutex_slowlock.constprop
        ("254", "waiting in down in console_lock (from console_device)"),  # __down
        ("526", "waiting in down_write in register_netdevice_notifier"),  # arm64: __switch_to on top
        ("349", "waiting in wait_on_buffer in jbd2_journal_commit_transaction"),  # bit_wait_io, __wait_on_bit
        # RCU: the flavour the caller asked for, the network stack's wrapper, and who called it.
        ("179", "waiting in synchronize_sched in input_close_device"),  # __wait_rcu_gp under it
        ("434", "waiting in synchronize_rcu_expedited in synchronize_net (from packet_release)"),
        ("435", "waiting in synchronize_srcu in fsnotify_mark_destroy_workfn"),  # __synchronize_srcu
        # A trace the builder did not tie to its report (the 4.15 task line is not read) is its trace.
        ("441", "waiting in mutex_lock in rtnl_lock (from ipv6_sock_ac_close)"),
        # Cut traces say so instead of naming a wrong frame.
        ("74", "in the scheduler; its call trace is cut after schedule"),
        ("367", "waiting in mutex_lock; its call trace is cut before the caller"),
    ],
)
def test_wait_site_wording(name: str, words: str) -> None:
    titles = [f.title for f in _findings(name) if f.rule == "hung-task"]
    # One task's title ends with its report count, several tasks' (one finding per cause) with their names.
    ending = r"(?: \(\d+ reports\)|: \S+\(\d+\)(?:, \S+\(\d+\))*(?: and \d+ more)?)?$"
    assert any(re.search(rf"blocked for more than \d+s {re.escape(words)}{ending}", t) for t in titles), titles


def test_the_peer_check_over_the_copies() -> None:
    """The corpus report's measure, over the reports copied here: every one it misses is one whose
    trace or header is not read (listed above), none is a wrong frame."""
    result = check_peer(SYZKALLER)
    assert not result.crashes and not result.timeouts
    assert len(result.hung_named) + len(result.hung_missed) == 40
    assert {report for report, _, _ in result.hung_missed} <= set(NOT_READ)
    assert len(result.hung_named) >= 40 - len(NOT_READ)
    assert f"hung-task wait site = guilty frame in {len(result.hung_named)}/40" in result.summary()
    # Every line not understood is counted under its report and its reason, and those inside a
    # report are listed one by one (report, line, reason, text), as the corpus report prints them.
    by_report = result.unparsed_by_report
    assert sum(n for reasons in by_report.values() for n in reasons.values()) == result.unparsed
    missed = [(report, why) for report, _, why, _ in result.missed_lines]
    assert len(missed) == result.reasons["in-report"] + result.reasons["trace-line"]
    assert all(by_report[report][why] >= missed.count((report, why)) for report, why in missed)
    assert ("206", 25, "in-report", "rcu_read_lock") in result.missed_lines


def test_the_rcu_bucket_is_any_rcu_grace_period_wait() -> None:
    # syzkaller files synchronize_srcu and synchronize_net hangs under synchronize_rcu.
    assert wait_site_named([_Titled("x waiting in synchronize_srcu in f")], RCU_BUCKET)[0]
    assert wait_site_named([_Titled("x waiting in synchronize_rcu_expedited in synchronize_net")], RCU_BUCKET)[0]
    assert not wait_site_named([_Titled("x waiting in mutex_lock in rtnl_lock")], RCU_BUCKET)[0]
    assert not wait_site_named([_Titled("x waiting in synchronize_rcux")], RCU_BUCKET)[0]


# --- the real-world corpus ----------------------------------------------------------------------
def _titles(relative: str, rule: str) -> list[str]:
    _, findings = loaded(relative)
    return [f.title for f in findings if f.rule == rule]


@pytest.mark.parametrize(
    ("relative", "rule", "words"),
    [
        # Both wait at one site: one finding (tests/rules/test_one_finding_per_cause.py).
        ("wild/2020-12-11_real-devices-4-19-kswapd-khugepaged-hung-rmap-walk-rwsem.log", "hung-task",
         "2 tasks blocked for more than 122s waiting in down_read in rmap_walk_file: khugepaged(66), kswapd0(79)"),
        # The log ends inside the wait: no caller is made up.
        ("wild/2018-02-19_real-lustre-oss-zfs-txg-sync-hung-task-el7.log", "hung-task",
         "txg_sync(32290) blocked for more than 120s waiting in io_schedule_timeout; its call trace is cut "
         "before the caller"),
        # An open-coded wait (taskq_wait calls schedule itself) is named by the function that sleeps.
        ("wild/2024-02-20_real-aws-zfs-txg-sync-hung-task-taskq-wait-6.2.log", "hung-task",
         "txg_sync(8100) blocked for more than 120s waiting in taskq_wait"),
        ("lkml/2016-03-11_related-no-memalloc-kswapd-xfs-ilock-hung-task.log", "hung-task",
         "kswapd0(52) blocked for more than 120s waiting in down_read in xfs_ilock (from xfs_map_blocks)"),
        ("wild/2016-02-11_kswapd-blocked-xfs-buf-lock-dirty-writeback-too-many-isolated.log", "kswapd-lock-wait",
         "kswapd0(47) is blocked waiting in down in xfs_buf_lock (from _xfs_buf_find)"),
        ("wild/2016-05-14_oom-reaper-unable-to-reap-victim-blocked-i-mmap-rwsem-vma-link.log", "victim-stuck",
         "is not exiting: waiting in down_write in vma_link"),
        ("lkml/2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log", "kswapd-lock-wait",
         "kswapd0(69) is blocked waiting in io_schedule in __xfs_iflock (from xfs_reclaim_inode)"),
    ],
)
def test_real_logs_read_right(relative: str, rule: str, words: str) -> None:
    titles = _titles(relative, rule)
    assert any(words in title for title in titles), titles


def _trace_sites(relative: str) -> list[str]:
    """What every trace of a log waits in, in order (the traces of a SysRq-w dump belong to no task)."""
    capture = stallscope.load(str(DATA / relative))
    stacks = capture.traces.sort_values("line")["stack"]
    return [wait_site(reliable_functions(stack_frames(capture, stack))).describe() for stack in stacks]


def test_a_sysrq_w_dump_of_blocked_kswapd_threads() -> None:
    sites = _trace_sites("wild/2019-05-21_real-fleet-kswapd-hung-xfs-reclaim-inodes-ag-mutex.log")
    # kswapd0 (__mutex_lock_slowpath, mutex_lock), kswapd1 and mysqld (down_read through xfs_ilock).
    assert sites == ["mutex_lock in xfs_reclaim_inodes_ag", "wait_for_completion in xfs_buf_submit_wait",
                     "down_read in xfs_ilock (from xfs_attr_get)"]


def test_freeze_protection_is_named_for_its_wrapper() -> None:
    sites = _trace_sites("wild/2021-10-29_real-xfs-freeze-kswapd-blocked-shrinker-rwsem-mounts-hang.log")
    assert "percpu_down_read in mnt_want_write (from open_last_lookups)" in sites
    assert "percpu_down_read in xfs_trans_alloc" in sites  # sb_start_intwrite inlined
    assert "down_write in prealloc_shrinker" in sites


# --- the table ----------------------------------------------------------------------------------
def test_every_sleep_is_named_by_a_function_of_its_own_group() -> None:
    for name, cls in FUNCTIONS.items():
        if cls.role is Role.SLEEP:
            assert cls.kind in SLEEP_KINDS, name
            assert cls.primitive is not None and FUNCTIONS[cls.primitive].primitive == cls.primitive, name
        elif cls.kind is not None:
            assert (cls.role, cls.kind) == (Role.SCHEDULER, "io"), name
    assert set(SLEEP_KINDS) >= BLOCKED_KINDS


def test_unreliable_frames_and_the_scheduler_are_not_wait_sites() -> None:
    # syzkaller 179: "? __sched_text_start", "? wait_for_completion" and friends are unreliable.
    capture = load_stream("179.log", io.BytesIO(_report("179")[1].encode()))
    stack = capture.traces.sort_values("line")["stack"].iloc[0]
    frames = stack_frames(capture, stack)
    assert ("__sched_text_start", False) in frames
    site = wait_site(reliable_functions(frames))
    assert (site.primitive, site.kind, site.caller, site.asleep) == ("synchronize_sched", "rcu", "input_close_device",
                                                                     True)
    assert site.blocked


def test_reclaims_own_back_off_is_not_a_blocked_wait() -> None:
    # 2017-02-21: direct reclaimers sleep in congestion_wait from shrink_inactive_list.
    capture, _ = loaded(next(str(p.relative_to(DATA)) for p in (DATA / "lkml").glob("2017-02-21_*.log")))
    sites = {wait_site(reliable_functions(stack_frames(capture, s))) for s in capture.traces["stack"].unique()}
    throttled = [s for s in sites if s.primitive == "congestion_wait"]
    assert throttled and all(s.kind == "throttle" and not s.blocked for s in throttled)
    assert any(s.caller == "shrink_inactive_list" for s in throttled)


def test_no_trace_is_no_wait_site() -> None:
    site = wait_site([])
    assert (site.primitive, site.caller, site.asleep, site.describe()) == (None, None, False, "")
    assert site.waiting() == "(no call trace read)"


def test_sources_copied_unchanged() -> None:
    # The fixtures keep syzkaller's header lines; the tests strip them (see _report).
    for name in REPORTS:
        assert (SYZKALLER / name).read_text(encoding="utf-8", errors="replace").startswith("TITLE: INFO: task hung in ")
    assert Path(SYZKALLER / "README.md").exists()
