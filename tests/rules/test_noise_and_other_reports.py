"""Noise called noise, and reports that are not memory stalls named for what they are."""

from __future__ import annotations

import stallscope
from conftest import DATA

KHUGEPAGED = "wild/2017-09-11_real-i386-khugepaged-order10-allocation-stall-warning.log"
TTM_NORETRY = "noise/2021-01-28_ttm-order9-noretry-huge-page-failure-falls-back.log"
CLAMSCAN = "wild/2017-03-16_real-smtp-vm-380mb-clamscan-allocation-stall-swap-thrash.log"
SWAPPER_NOWAIT = "wild/2017-10-19_real-desktop-swapper-gfp-nowait-slab-failure-dma-debug.log"
RISCV_OOPS = "wild/2026-08-17_syzkaller-riscv-oops-user-memory-access-schedule-tail.log"
ARM64_OOPS = "wild/2025-01-23_real-arm64-rpi5-v3d-irq-null-deref-oops-chromium.log"
OOM_KILL = "qemu/memcg-oom.log"


def _findings(relative: str) -> list[stallscope.Finding]:
    return stallscope.diagnose(stallscope.load(str(DATA / relative)))


def test_khugepaged_huge_page_stall_is_background_noise() -> None:
    (finding,) = [f for f in _findings(KHUGEPAGED) if f.rule == "warn-alloc-stall"]
    assert finding.severity.value == "info"
    assert finding.title.startswith("Background noise: page allocation stalled for 10273 ms")
    assert "nice 19" in finding.explanation


def test_a_user_task_stall_is_not_noise() -> None:
    (finding,) = [f for f in _findings(CLAMSCAN) if f.rule == "warn-alloc-stall"]
    assert finding.severity.value in ("warning", "critical") and "noise" not in finding.title


def test_order9_noretry_failure_is_background_noise() -> None:
    (finding,) = [f for f in _findings(TTM_NORETRY) if f.rule == "allocation-failure"]
    assert finding.severity.value == "info"
    assert finding.title.startswith("Background noise: allocation failure: clinfo(470821) order-9")
    assert "__GFP_NORETRY asks the allocator to give up early" in finding.explanation


def test_an_order0_nowait_failure_is_not_noise() -> None:
    found = [f for f in _findings(SWAPPER_NOWAIT) if f.rule == "allocation-failure"]
    assert found and all(f.severity.value == "warning" and "noise" not in f.title for f in found)


def test_an_oops_is_named_with_its_function_never_as_a_memory_stall() -> None:
    findings = _findings(RISCV_OOPS)
    (finding,) = findings
    assert finding.rule == "other-report" and finding.severity.value == "info"
    assert finding.title == ("Not a memory-allocation stall: Unable to handle kernel access to user memory without "
                             "uaccess routines at virtual address 000000000cc6b0d0 in schedule_tail (called from "
                             "ret_from_exception)")
    # The report's own line, the register line naming where the CPU was, and the caller's frame
    # line, verbatim.
    assert finding.evidence[0].line == 1 and finding.evidence[1].text == "epc : schedule_tail+0x72/0xb2"
    assert finding.evidence[2].text == "[<ffffffe000005570>] ret_from_exception+0x0/0x14"
    assert [(t.comm, t.pid) for t in finding.tasks] == [("syz-executor.1", 5233)]


def test_an_arm64_oops_names_the_faulting_function_and_the_task() -> None:
    (finding,) = [f for f in _findings(ARM64_OOPS) if f.rule == "other-report"]
    assert "in v3d_irq" in finding.title and finding.tasks[0].comm == "chromium"


def test_a_memory_log_without_other_reports_has_no_other_report_finding() -> None:
    assert not [f for f in _findings(OOM_KILL) if f.rule == "other-report"]
