"""Lines of kernel reports that stallscope left unread inside the report (counted "in-report"), each
taken from a real syzkaller report in tests/data/syzkaller, and the kind each is read as now.

The kernel prints them beside a report's header: lockdep's account of who did what (kernel/locking/
lockdep.c: print_unlock_imbalance_bug, print_lock_invalid_wait_context, print_freed_lock_bug,
print_irq_inversion_bug, lockdep_rcu_suspicious), the message of a self-check's WARNING or BUG
(lib/refcount.c, lib/list_debug.c, mm/usercopy.c, lib/string_helpers.c, kernel/sched/core.c,
mm/slub.c), might_sleep's context (5.16+), the fault injection's notice (lib/fault-inject.c),
the arm64 fault's page table, a worker between two work items, tag-based KASAN, 2.6's "last sysfs file", and 3.x-4.x's cpuset line
cut by another CPU's record.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import stallscope
from conftest import DATA
from stallscope.api import load_lines

SYZKALLER = DATA / "syzkaller"
_PREFIX = re.compile(r"^\[ *\d+\.\d+\](\[ *[TC]\d+\])? ")

# (report file, the line's text after its kernel timestamp, the kind it is read as)
CASES = [
    ("116", "syz-executor1/1081 is trying to release lock (mrt_lock) at:", "lockdep_detail"),
    ("257", "syz-executor0/17896 is leaving the kernel with locks still held!", "lockdep_detail"),
    ("150", "syzkaller065230/3505 is freeing memory 000000007fcba654-00000000499fef26, with a lock still held there!",
     "lockdep_detail"),
    ("29", "syz-executor6/1577 just changed the state of lock:", "lockdep_detail"),
    ("528", "context-{4:4}", "lockdep_detail"),
    ("170", "net/tipc/bearer.c:177 suspicious rcu_dereference_protected() usage!", "lockdep_detail"),
    ("166", "./include/linux/rcupdate.h:302 Illegal context switch in RCU read-side critical section!",
     "lockdep_detail"),
    ("733", "refcount_t: underflow; use-after-free.", "check_message"),
    ("343", "list_add corruption. next->prev should be prev (ffff8880ae72d8d8), but was ffff8880a9eb8600. "
     "(next=ffff8880a9eb84f0).", "check_message"),
    ("329", "usercopy: Kernel memory overwrite attempt detected to SLAB object 'names_cache' (offset 4104, size 2)!",
     "check_message"),
    ("714", "strnlen: detected buffer overflow: 17 byte read of buffer size 16", "check_message"),
    ("249", "do not call blocking ops when !TASK_RUNNING; state=1 set at [<ffffffff81094815>] "
     "prepare_to_wait_event+0x75/0xf0", "check_message"),
    ("120", "Thread overran stack, or stack corrupted", "check_message"),
    ("628", "preempt_count: 1, expected: 0", "oops_context"),
    ("628", "RCU nest depth: 0, expected: 0", "oops_context"),
    ("46", "last sysfs file: /sys/devices/virtual/irqk/irqk/dev", "oops_context"),
    ("734", "swapper pgtable: 4k pages, 52-bit VAs, pgdp=0000000044a53000", "oops_fault"),
    ("568", "Pointer tag: [0b], memory tag: [fe]", "sanitizer_detail"),
    ("206", "syz-executor5 cpuset=", "dump_cpuset"),
    ("211", "BUG: workqueue leaked lock or atomic: kworker/0:1/0x00000000/353", "atomic_bug"),
    ("211", "     last function: addrconf_dad_work", "oops_context"),
    ("694", "Workqueue:  0x0 (bat_events)", "workqueue"),
    ("244", "FAULT_INJECTION: forcing a failure.", "fault_injection"),
    ("244", "name failslab, interval 1, probability 0, space 0, times 0", "fault_injection_name"),
]


def _bodies(name: str) -> list[str]:
    text = (SYZKALLER / name).read_text(encoding="utf-8", errors="replace")
    return [_PREFIX.sub("", line) for line in text.partition("\n\n")[2].splitlines()]


@pytest.mark.parametrize(("name", "line", "kind"), CASES)
def test_the_line_is_read_as_its_kind(name: str, line: str, kind: str) -> None:
    assert line in _bodies(name), "the case must be the report's own line"
    stats = load_lines("report.log", [line]).inputs[0]
    assert stats.parsed == 1
    assert stats.kinds == {kind: 1}


@pytest.mark.parametrize("name", sorted({name for name, _, _ in CASES}))
def test_none_of_them_is_left_unread_in_its_report(name: str, tmp_path: Path) -> None:
    log = tmp_path / f"syzkaller-{name}.log"
    log.write_text((SYZKALLER / name).read_text(encoding="utf-8", errors="replace").partition("\n\n")[2],
                   encoding="utf-8")
    capture = stallscope.load(str(log), keep_unparsed=True)
    unread = {u.text.strip() for u in capture.unparsed}
    assert not unread & {line for file, line, _ in CASES if file == name}


# A message of its own printed while a report is open (a driver's, another CPU's) is not a line of
# the report stallscope failed to read; a damaged or unknown line of the report still is.
WILD = DATA / "wild"


def _reasons(log: str) -> dict[str, str]:
    capture = stallscope.load(str(WILD / log), keep_unparsed=True)
    return {u.text.strip(): u.reason for u in capture.unparsed}


def test_a_drivers_message_inside_an_arm64_fault_report_is_another_message() -> None:
    reasons = _reasons("2022-07-11_real-arm64-rockpro64-rockchip-i2s-probe-null-deref-oops.log")
    assert reasons["mmc2: SDHCI controller on fe330000.mmc [fe330000.mmc] using ADMA"] == "other-message"


def test_printk_safes_lost_marker_is_a_dropped_marker() -> None:
    # syzkaller 352 (5.x): printk_safe's NMI buffer overflowed inside a KASAN report's trace.
    log = SYZKALLER / "352"
    capture = stallscope.load(str(log), keep_unparsed=True)
    assert [u.reason for u in capture.unparsed if u.text.strip() == "Lost 33 message(s)!"] == ["dropped-marker"]


def test_xfs_shutting_the_filesystem_down_is_a_filesystem_failure() -> None:
    capture = stallscope.load(str(WILD / "2020-11-22_real-xfs-rmap-internal-error-shutdown-5.9.9-pacman.log"))
    texts = capture.events.loc[capture.events["kind"] == "fs_error", "text"].tolist()
    assert "XFS (dm-3): Please unmount the filesystem and rectify the problem(s)" in texts
    assert any(t.startswith("XFS (dm-3): xfs_do_force_shutdown(0x8) called from line 461") for t in texts)


def test_a_debugging_patchs_line_inside_a_watchdog_report_stays_unread_in_the_report() -> None:
    reasons = _reasons("2016-02-11_kswapd-blocked-xfs-buf-lock-dirty-writeback-too-many-isolated.log")
    assert reasons["zone=DMA NR_INACTIVE_FILE=6 NR_ISOLATED_FILE=32"] == "in-report"


def test_khungtaskds_last_word_is_read() -> None:
    # A 6.10 hung-task storm on LUKS over md RAID-6 ends with it (tests/data/wild/SOURCES.md).
    log = WILD / "2024-08-08_real-luks-on-md-raid6-kcryptd-hung-md-bitmap-startwrite.log"
    line = "Future hung task reports are suppressed, see sysctl kernel.hung_task_warnings"
    assert line in log.read_text(encoding="utf-8")
    assert load_lines("hung.log", [line]).inputs[0].kinds == {"hung_task_hint": 1}
