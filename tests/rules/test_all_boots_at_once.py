"""Rules that read every boot of a machine at once (``ALL_BOOTS``): each boot gets the findings its
own view gives, in the same place among the other rules' findings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import stallscope
import stallscope.diagnose  # the submodule of the same name as the function: see diagnose_module
from conftest import DATA, rebooted_serial_capture
from stallscope.capture.model import Capture
from stallscope.diagnose import (
    at_once_rules,
    boots_at_once,
    findings_by_machine,
    iter_host_views,
    per_view_rules,
    view_keys,
)
from stallscope.rules import ALL_RULES

diagnose_module = sys.modules["stallscope.diagnose"]

# Real captures with seq-livelock findings: the same one twice is a machine that ran into the
# same stall after a reboot (the same tasks with the same pids and seqs in both boots, which a
# rule reading all boots at once must keep apart), the other a second kind of boot.
SEQ_FROZEN = DATA / "wild" / "2016-01-19_ltp-oom01-hang-no-oom-kill-seq-frozen-after-last-oom.log"
OOM_REAPER = DATA / "lkml" / "2015-12-05_oom-reaper-trap-oom-write-early-format.log"
# A watchdog without seq or oom_count whose reports show stalls ending (slow-progress, which runs per
# boot, reads seq_history too, keyed by boot since seq-livelock reads every boot at once).
BANNER = next(line for line in (DATA / "qemu" / "oom-stuck-victim.log").read_bytes().splitlines(keepends=True)
              if b"Linux version" in line)
STALLS_END = DATA / "wild" / ("2015-11-12_real-rsnapshot-xfs-md-server-4-1-2-free-below-min-finite-stalls-"
                              "vmstat-pending.log")

def _per_view(capture: Capture) -> dict[int, list[dict[str, object]]]:
    """What every rule, run on each boot's own view, finds there: the way before ALL_BOOTS."""
    found: dict[int, list[dict[str, object]]] = {}
    for at, view in enumerate(iter_host_views(capture)):  # each boot's own view, in view_keys order
        found[at] = []
        for rule in ALL_RULES:
            for finding in rule.check(view):
                finding.host, finding.boot = view.host, view.boot
                found[at].append(finding.as_dict())
    return found


@pytest.fixture(scope="module")
def many_boots(tmp_path_factory: pytest.TempPathFactory) -> Capture:
    """A serial console of a machine rebooted after each incident (real boots of tests/data)."""
    log = tmp_path_factory.mktemp("serial") / "serial.log"
    log.write_bytes(rebooted_serial_capture())
    return stallscope.load(str(log))


def test_some_rule_reads_all_boots_at_once() -> None:
    at_once, per_view = at_once_rules(), per_view_rules()
    assert at_once and set(at_once) | set(per_view) == set(ALL_RULES)
    assert not set(at_once) & set(per_view)


@pytest.mark.parametrize("window", [diagnose_module.BOOTS_AT_ONCE, 7, 1])
def test_each_boot_gets_what_its_own_view_gives(many_boots: Capture, window: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the window of boots the rules read at once (a machine's boots, a few, one)."""
    monkeypatch.setattr(diagnose_module, "BOOTS_AT_ONCE", window)
    keys = view_keys(many_boots)
    assert len({boot for _, boot in keys}) >= 8 and len(keys) > 2 * 7
    expected = _per_view(many_boots)
    found = findings_by_machine(many_boots, shared={})
    assert {at: [f.as_dict() for f in fs] for at, fs in found.items()} == expected
    # The all-boots rules do find something here, in several boots.
    at_once = boots_at_once(many_boots)
    rules = {rule.RULE for rule in at_once_rules()}
    assert len(at_once) >= 4 and {f.rule for fs in at_once.values() for f in fs} <= rules
    # Only the chosen boots, and each with its own.
    chosen = {1, 3}
    assert {at: [f.as_dict() for f in fs] for at, fs in findings_by_machine(many_boots, chosen, {}).items()} == \
        {at: expected[at] for at in chosen}


# Old watchdog logs whose oom_count is derived from the OOM lines of each boot (in a view of both
# boots the second must not count the first's), and one whose single report decides (oom-plateau asks
# for that boot's own view); a log whose oom-livelock counts the kills logged in its window (the
# second boot's clock repeats the first's times: the first boot's kills are not in its window).
VMSTAT = DATA / "wild" / "2016-01-27_oom-stall-vmstat-update-workqueue-pending-disk-events-workfn.log"
SILENT = DATA / "wild" / ("2015-10-22_silent-livelock-zone-reclaimable-vmstat-update-pending-behind-disk-"
                          "events.log")
KILLS = DATA / "wild" / "2016-05-14_oom-reaper-unable-to-reap-victim-blocked-i-mmap-rwsem-vma-link.log"
# Tasks that kept one seq with every trace in shrink_inactive_list (reclaim-throttle): the same pids
# in both boots are two tasks each.
LRU_LOOP = DATA / "wild" / "2017-09-01_sysrq-t-memalloc-line-gfp-nofs-write-stuck-shrink-inactive-list.log"
# A build that counts the !__GFP_FS out_of_memory() calls apart (oom_count=A/B): each boot's own count.
NOFS = DATA / "lkml" / "2016-04-05_oom-livelock-xfs-nofs-noio.log"
# kswapd0(69) blocked in __xfs_iflock, its switches frozen over the boot's reports (kswapd-lock-wait):
# the next boot's kswapd0(69) is another thread.
KSWAPD = DATA / "lkml" / "2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log"
# OOM victims that do not exit (victim-stuck): one the reaper could not reap while lockdep lists the
# mmap_sem holders, one behind a killed writer stalled in the allocator (a GFP_NOFS allocation in xfs,
# which the newer kernel of the banner decodes otherwise).
REAPER = DATA / "lkml" / "2016-02-25_oom-reaper-unable-mmap-sem-victim-stuck.log"
# A pending drain_local_pages_wq behind a worker stalled in the allocator, rescuers in MAYDAY: each
# boot's workqueue dumps and stalled workers are its own.
RESCUER = DATA / "lkml" / "2017-03-03_wq-mem-reclaim-xfs-rescuer.log"
# A hung task after an NFS server's failures (hung-task names them); kswapd0 hung on an xfs lock.
NFS_HUNG = DATA / "wild" / "2018-03-30_nfs-server-not-responding-rpi3bplus-hung-objcopy.log"
KSWAPD_HUNG = DATA / "lkml" / "2016-03-11_related-no-memalloc-kswapd-xfs-ilock-hung-task.log"
# Traces read in every boot: a kcryptd worker whose allocation recursed into reclaim waiting on the
# writeback it serves; the OOM killer stuck printing its report to the console.
KCRYPTD = DATA / "wild" / "2016-06-16_real-dmcrypt-lvm-swap-kcryptd-throttle-vm-writeout-kswapd-mempool.log"
CONSOLE = DATA / "wild" / "2016-12-14_oom-lock-holder-stuck-in-printk-console-unlock-oom-kill-process.log"
# Order-9 requests stalling while the last buddy lines of the boot show smaller blocks free.
THP = DATA / "wild" / "2015-11-20_real-rsnapshot-xfs-md-raid6-server-thp-order9-stall-fragmentation.log"
# Every kernel zone below min with oom_count=0 in the boot's watchdog line (reserves-depleted).
RESERVES = DATA / "wild" / "2016-06-26_real-aosp-build-4-6-2-reserves-depleted-before-oom-oom-count-zero.log"
NOFS_WRITER = DATA / "wild" / "2015-12-13_oom-victim-blocked-on-i-mutex-held-by-exiting-writer-in-gfp-nofs-xfs-alloc.log"
# Allocation failures of the page allocator (a 6.1 test module's), of CMA and of a SLUB cache; a
# 720 s allocation stall (warn_alloc) behind an OOM lock holder that never ran.
ALLOC_FAIL = DATA / "qemu" / "warn-alloc-failure.log"
CMA = DATA / "wild" / "2021-09-24_real-rpi-arm64-cma-alloc-failed-page-alloc-warning.log"
SLUB = DATA / "wild" / "2018-02-20_real-centos7-docker-kmem-accounting-slub-unable-to-allocate.log"
LOCK_HOLDER = DATA / "lkml" / "2017-07-14_oom-lock-holder-sched-idle-warn-alloc-ratelimit-inflight.log"
# The reports of the small rules: an Android OOM without a killable process (a panic); a soft lockup in
# memory cgroup reclaim, then a test module's soft lockup and RCU stall; an NVMe controller's timeouts,
# then a SATA disk's media errors (or an NFS server's, in a boot with hung tasks: "also in this log"); XFS retrying an order-5 allocation; an oops, then a KASAN report.
NO_KILLABLE = DATA / "wild" / "2023-04-06_real-android-dmabuf-system-heap-oom-panic-no-killable.log"
MEMCG_LOCKUP = DATA / "wild" / "2019-08-02_real-memcg-gfp-nofs-charge-soft-lockup-no-oom-kill-xfs.log"
SOFTLOCKUP = DATA / "qemu" / "softlockup.log"
NVME = DATA / "wild" / "2019-08-22_real-nvme-timeout-controller-unresponsive-io-errors.log"
SATA = DATA / "wild" / "2023-07-07_sata-ssd-media-error-unc-sdb-failed.log"
XFS_RETRY = DATA / "wild" / "2016-03-29_real-loop0-xfs-kmem-alloc-order5-nofs-retry-congestion-wait.log"
OOPS = DATA / "wild" / "2026-08-17_syzkaller-riscv-oops-user-memory-access-schedule-tail.log"
KASAN = DATA / "syzkaller" / "5"


_TWO_BOOTS = [
    (SEQ_FROZEN, SEQ_FROZEN, "seq-livelock", "made no progress"),
    (SEQ_FROZEN, OOM_REAPER, "seq-livelock", "made no progress"),
    (STALLS_END, SEQ_FROZEN, "slow-progress", ""),
    (VMSTAT, VMSTAT, "oom-plateau", "stayed at 1 between 113.8s and 242.1s over 3 reports"),
    (SILENT, VMSTAT, "oom-plateau", ""),
    (KILLS, KILLS, "oom-livelock", "2 kill(s) are logged in this window"),
    (LRU_LOOP, LRU_LOOP, "reclaim-throttle", "kept seq="),
    (LRU_LOOP, SEQ_FROZEN, "reclaim-throttle", ""),
    (NOFS, NOFS, "fs-reclaim-dependency", "as coming from !__GFP_FS requests"),
    (KSWAPD, KSWAPD, "kswapd-lock-wait", "stayed at 23883 across 2 reports"),
    (KSWAPD, KSWAPD, "mm-work-pending", "for at least 91s"),
    (RESCUER, RESCUER, "mm-work-pending", "for at least 673s behind disk_events_workfn on kworker"),
    (RESCUER, KSWAPD, "workqueue-lockup", "MAYDAY on xfs-data/sda1"),
    (RESCUER, RESCUER, "rescuer-stuck", "xfs-data/sda1(451) is the rescuer of xfs-data/sda1"),
    (NFS_HUNG, NFS_HUNG, "hung-task", "reported failures"),
    (KSWAPD_HUNG, NFS_HUNG, "hung-task", "kswapd0(52) blocked for more than 120s"),
    (KCRYPTD, KCRYPTD, "io-reclaim-recursion", "kworker/u8:4(1592) services block I/O in kcryptd_crypt"),
    (CONSOLE, KCRYPTD, "oom-printk-stall", "a.out(15607) in console_unlock under oom_kill_process"),
    (REAPER, REAPER, "victim-stuck", "Lockdep shows 10 task(s) holding an mmap_sem"),
    (NOFS_WRITER, NOFS_WRITER, "victim-stuck", "themselves waiting for memory: write(3787) seq=46308"),
    (THP, THP, "thp-fragmentation", "4 order-9 allocation(s) stalling while smaller pages are free"),
    (RESERVES, RESERVES, "reserves-depleted", "says oom_count=0 while tasks stall"),
    (SEQ_FROZEN, OOM_REAPER, "oom-kill", "invoked"),
    (KILLS, KILLS, "oom-kill", "killed"),
    (ALLOC_FAIL, ALLOC_FAIL, "allocation-failure", "order-0 GFP_KERNEL|__GFP_NORETRY in alloc_until_fail"),
    (CMA, SLUB, "allocation-failure", "cma_alloc"),
    (SLUB, ALLOC_FAIL, "allocation-failure", "slab cache ip6_dst_cache could not grow"),
    (LOCK_HOLDER, LOCK_HOLDER, "warn-alloc-stall", "normal-priority(6697) asking for an order-0"),
    (NOFS_WRITER, NOFS_WRITER, "lock-owner-cycle", "Lockdep lists these locks as held"),
    (NO_KILLABLE, NO_KILLABLE, "oom-panic", "the OOM killer found no killable process"),
    (MEMCG_LOCKUP, SOFTLOCKUP, "cpu-lockup", "in memory cgroup reclaim"),
    (NVME, SATA, "device-error", "nvme nvme0: I/O 128 QID 2 timeout"),
    (NFS_HUNG, NVME, "device-error", "Also in this log, device failures from nfs server ease"),
    (XFS_RETRY, XFS_RETRY, "xfs-alloc-retry", "(from xfs_iext_realloc_indirect)"),
    (OOPS, KASAN, "other-report", "in schedule_tail"),
]


@pytest.mark.parametrize(("first", "second", "rule", "said"), _TWO_BOOTS, ids=[
        "same-boot-again", "another-boot", "stalls-ending-then-frozen", "derived-counts-twice", "one-report-then-derived", "kills-in-each-window", "lru-loop-twice", "lru-loop-then-frozen",
        "nofs-counts-twice", "kswapd-twice", "pending-in-every-dump", "pending-behind-a-stalled-worker",
        "mayday-then-mayday", "rescuer-twice", "device-failures-twice",
        "hung-kswapd-then-nfs", "recursion-twice", "printk-then-recursion", "reaper-twice", "nofs-writer-twice",
        "thp-twice", "reserves-twice", "invoked-then-killed", "kills-twice", "page-failure-twice",
        "cma-then-slub", "slub-then-page", "stall-twice", "held-locks-twice", "no-killable-twice",
        "memcg-lockup-then-module", "nvme-then-sata", "memory-then-not", "xfs-retry-twice", "oops-then-kasan"])
def test_two_real_captures_of_one_machine_read_as_two_boots(first: Path, second: Path, rule: str, said: str,
                                                             tmp_path: Path) -> None:
    log = tmp_path / "kern.log"
    # Each boot begins with a real kernel's banner, as a serial console records it.
    log.write_bytes(b"".join(BANNER + path.read_bytes() for path in (first, second)))
    capture = stallscope.load(str(log))
    assert [boot for _, boot in view_keys(capture)] == [1, 2]
    expected = _per_view(capture)
    assert rule in {rule.RULE for rule in at_once_rules()}
    # The rule finds in each boot what its authors saw there (the same log twice: twice).
    assert all(any(f["rule"] == rule and said in f"{f['title']} {f['explanation']}" for f in expected[at])
               for at in ((0, 1) if first == second else (0,)))
    assert {at: [f.as_dict() for f in fs] for at, fs in findings_by_machine(capture, shared={}).items()} == expected


def test_one_task_that_ends_a_boot_and_starts_the_next_is_two_tasks(tmp_path: Path) -> None:
    """The watchdog's reports of one task, its request stuck, in two boots: in a view of both boots
    its last line of the first boot and its first line of the second are next to each other, with
    the same comm, pid and seq, and must still be two requests (a finding in each boot)."""
    lines = [line for line in SEQ_FROZEN.read_text().splitlines(keepends=True)
             if "MemAlloc-Info:" in line or "oom01(22011)" in line]
    assert sum("oom01(22011)" in line for line in lines) == 2
    log = tmp_path / "kern.log"
    log.write_text("".join(lines) * 2)
    capture = stallscope.load(str(log))
    assert [boot for _, boot in view_keys(capture)] == [1, 2]
    expected = _per_view(capture)
    assert [[f["rule"] for f in expected[at] if f["rule"] == "seq-livelock"] for at in (0, 1)] == [["seq-livelock"]] * 2
    assert {at: [f.as_dict() for f in fs] for at, fs in findings_by_machine(capture, shared={}).items()} == expected


def test_every_rule_reading_all_boots_at_once_is_checked_on_a_capture_where_it_finds() -> None:
    """Each ALL_BOOTS rule fires on one of the two-boot captures above (or the serial capture):
    the comparison with each boot's own view is not vacuous for any of them."""
    checked = {rule for *_, rule, _ in _TWO_BOOTS}
    assert {rule.RULE for rule in at_once_rules()} <= checked
