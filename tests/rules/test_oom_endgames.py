"""How an OOM episode ends, from real logs: a kill (global or in a memory cgroup), a kill asked
for by hand (SysRq-f), a report cut before its victim, a panic (nothing killable, panic_on_oom)."""

from __future__ import annotations

import pytest

import stallscope
from conftest import DATA

MEMCG_PANIC = "oom/2017-02-09_real-3.10-kvm-memcg-oom-compulsory-panic-on-oom-24g-free.log"
SYSRQ_F = "oom/2016-01-12_sysrq-f-manual-oom-kills-same-child-again.log"
BOOT_NO_KILLABLE = "wild/2019-08-12_real-dell-epyc-crash-kernel-boot-oom-no-killable-processes.log"
DEADLOCKED = "wild/2023-04-06_real-android-dmabuf-system-heap-oom-panic-no-killable.log"
MEMCG_KILL = "qemu/memcg-oom.log"
CUT_BEFORE_VICTIM = "wild/2017-11-05_real-qubes-xen-dom0-xorg-order3-oom-killer.log"


def _findings(relative: str, rule: str) -> list[stallscope.Finding]:
    return [f for f in stallscope.diagnose(stallscope.load(str(DATA / relative))) if f.rule == rule]


def test_compulsory_panic_on_oom_set_off_by_a_memory_cgroup() -> None:
    (finding,) = _findings(MEMCG_PANIC, "oom-panic")
    assert finding.severity.value == "critical"
    assert finding.title.startswith("Kernel panic by vm.panic_on_oom=2")
    assert "a memory cgroup's limit set it off (mem_cgroup_oom_synchronize)" in finding.title
    # The invocation, the memcg frame of its trace, the panic: each line as printed.
    assert [(e.line, e.text) for e in finding.evidence] == [
        (1, "DefSch0200 invoked oom-killer: gfp_mask=0xd0, order=0, oom_score_adj=0"),
        (13, "[<ffffffff811c17bf>] mem_cgroup_oom_synchronize+0x34f/0x580"),
        (51, "Kernel panic - not syncing: Out of memory: compulsory panic_on_oom is enabled"),
    ]
    assert not _findings(MEMCG_PANIC, "oom-kill")  # nobody was killed


def test_no_killable_process_at_boot_names_the_boot_thread_and_claims_no_panic_line() -> None:
    (finding,) = _findings(BOOT_NO_KILLABLE, "oom-panic")
    # The log ends before the panic: the title does not say one was printed.
    assert finding.title == "The OOM killer found no killable process (invoked by swapper/0): the kernel panics next"
    assert "the log ends before the panic" in finding.explanation and "boot thread" in finding.explanation
    assert [e.line for e in finding.evidence] == [5, 111]
    assert not _findings(BOOT_NO_KILLABLE, "oom-kill")


def test_system_deadlocked_on_memory() -> None:
    (finding,) = _findings(DEADLOCKED, "oom-panic")
    assert finding.title.startswith("Kernel panic: the OOM killer found no killable process")
    assert [e.text for e in finding.evidence] == ["Out of memory and no killable processes...",
                                                  "Kernel panic - not syncing: System is deadlocked on memory"]


@pytest.mark.parametrize("relative", [MEMCG_KILL, SYSRQ_F, CUT_BEFORE_VICTIM])
def test_no_panic_no_oom_panic(relative: str) -> None:
    assert not _findings(relative, "oom-panic")


def test_memcg_oom_names_the_cgroup_and_the_constraint() -> None:
    (finding,) = _findings(MEMCG_KILL, "oom-kill")
    assert finding.title == "The OOM killer killed 1 task(s) in memory cgroup /webapp: leaker(114)"
    assert "a memory cgroup limit (/webapp), constraint CONSTRAINT_MEMCG" in finding.explanation
    assert "the whole machine" not in finding.explanation


def test_sysrq_f_is_said_to_be_by_hand() -> None:
    (finding,) = _findings(SYSRQ_F, "oom-kill")
    assert "3 of them with order=-1, by hand through SysRq-f rather than by a shortage" in finding.explanation
    # The exiting child killed again and again is named once, with the count.
    assert finding.title == "The OOM killer killed 5 task(s): a.out(9574), a.out(9575) 4 times"
    assert any(e.text.startswith("kworker/0:8 invoked oom-killer: order=-1") for e in finding.evidence)


def test_a_report_cut_before_its_victim_says_so_and_kills_nobody() -> None:
    (finding,) = _findings(CUT_BEFORE_VICTIM, "oom-kill")
    assert finding.title.startswith("The OOM killer was invoked by Xorg (order-3 ")
    assert finding.title.endswith("; no victim is named in the log")
    assert "killed" not in finding.title and "It killed" not in finding.explanation


def test_no_oom_kill_finding_contradicts_its_log() -> None:
    """Never "invoked 0 time(s) ... and killed X": a kill without its header says the header is missing."""
    for log in sorted(DATA.rglob("*.log")):
        for finding in stallscope.diagnose(stallscope.load(str(log))):
            if finding.rule == "oom-kill":
                assert "invoked 0 time" not in finding.explanation, log
