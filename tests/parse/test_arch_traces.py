"""Call traces and register dumps of every architecture the kernel prints them for, on real logs.

Each frame line, whatever the unwinder printed around it, is a row of the frames table with the
same columns (function, offset, size, module, reliable); register, stack and code dumps are
recognised (counted as parsed) and belong to the trace they sit in. The logs: syzkaller's golden
reports (tests/data/syzkaller/N, copied from the shared corpus) and the real-world corpus.
"""

from __future__ import annotations

import pytest
from line_helpers import excerpt, functions, parsed

import stallscope
from stallscope.capture.builder import frame_of_fields
from stallscope.parse.kinds import REGISTER_KINDS, TRACE_BODY_KINDS

ARM64_65 = "wild/2025-01-23_real-arm64-rpi5-v3d-irq-null-deref-oops-chromium.log"
ARM64_58 = "wild/2022-07-11_real-arm64-rockpro64-rockchip-i2s-probe-null-deref-oops.log"
ARM_34 = "wild/2013-04-05_real-raspberry-pi-ksoftirqd-gfp-atomic-page-allocation-failure-smsc95xx.log"
ARM_ANDROID = "wild/2015-01-15_real-android-galaxy-nexus-osmcore-oom-killer-arm.log"
ARM_61 = "wild/2023-12-10_real-rpi4-armv7-6.1-brcmfmac-kmalloc-large-allocation-failure.log"
PPC32 = "wild/2024-05-15_powermac-g4-ppc32-kswapd-zswap-lowmem-atomic-failures.log"
PPC64 = "wild/2026-08-17_syzkaller-ppc64le-paging-request-partition-sched-domains.log"
RISCV = "wild/2026-08-17_syzkaller-riscv-oops-user-memory-access-schedule-tail.log"
I386 = "wild/2012-12-29_real-i386-crystalhd-null-deref-oops-scheduling-while-atomic.log"
AMDGPU = "wild/2022-03-26_real-amdgpu-ring-gfx-timeout-gpu-reset-macbookpro.log"


@pytest.mark.parametrize(
    ("log", "contains", "function", "offset", "size", "module", "reliable"),
    [
        # arm64 6.13+ marks where an entry came from: (T) a blocked task's saved state, (P) the
        # faulting pc; neither makes the frame less reliable.
        ("syzkaller/1000", "__switch_to+0x2b0/0x6e0 (T)", "__switch_to", 0x2B0, 0x6E0, None, True),
        (ARM64_65, "v3d_irq+0x118/0x2e0 [v3d] (P)", "v3d_irq", 0x118, 0x2E0, "v3d", True),
        # arm64 <= 4.x printed the address first, like old x86 and riscv.
        ("syzkaller/353", "[<ffff200008091958>] dump_backtrace+0x0/0x440", "dump_backtrace", 0x0, 0x440, None,
         True),
        (RISCV, "[<ffffffe00008c762>] schedule_tail+0x72/0xb2", "schedule_tail", 0x72, 0xB2, None, True),
        # 32-bit ARM up to 3.x: the function with its own offset, then its caller.
        (ARM_34, "(unwind_backtrace+0x0/0xf0) from", "unwind_backtrace", 0x0, 0xF0, None, True),
        # 32-bit ARM 4.x-5.x: only the caller has an offset.
        ("syzkaller/237", "(unwind_backtrace) from", "unwind_backtrace", None, None, None, True),
        ("syzkaller/239", "(warn_slowpath_fmt) from [<e0236b93>] (0xe0236b93)", "warn_slowpath_fmt", None, None,
         None, True),
        # 32-bit ARM 5.16+: no addresses; a module is named on both sides.
        (ARM_61, " unwind_backtrace from show_stack+0x18/0x1c", "unwind_backtrace", None, None, None, True),
        (ARM_61, "brcmf_fws_attach [brcmfmac] from", "brcmf_fws_attach", None, None, "brcmfmac", True),
        # syzkaller's symbolizer: the source line after the frame, inlined callees without an offset.
        ("syzkaller/697", "(show_stack+0x18/0x1c arch/arm/kernel/traps.c:256)", "dump_backtrace", None, None,
         None, True),
        ("syzkaller/400", "dump_stack+0x172/0x1f0 lib/dump_stack.c:113", "dump_stack", 0x172, 0x1F0, None, True),
        ("syzkaller/400", "__dump_stack lib/dump_stack.c:77 [inline]", "__dump_stack", None, None, None, True),
        # powerpc: stack pointer, return address, symbol; "(unreliable)" for a guessed link register.
        (PPC32, "dump_stack_lvl+0x80/0xac (unreliable)", "dump_stack_lvl", 0x80, 0xAC, None, False),
        (PPC32, "[c1c65960] [c01b6234] warn_alloc+0x100/0x178", "warn_alloc", 0x100, 0x178, None, True),
        (PPC64, "partition_and_rebuild_sched_domains kernel/cgroup/cpuset.c:965 [inline]",
         "partition_and_rebuild_sched_domains", None, None, None, True),
        # A module with its build id (5.15+): the module is its name.
        (AMDGPU, "amdgpu_job_timedout+0x18f/0x1c0 [amdgpu", "amdgpu_job_timedout", 0x18F, 0x1C0, "amdgpu", True),
    ],
)
def test_frame_lines_of_every_architecture(
    log: str, contains: str, function: str, offset: int | None, size: int | None, module: str | None, reliable: bool
) -> None:
    kind, fields = parsed(log, contains)
    assert kind == "frame"
    # The last element is the text a finding quotes: here, a marker to see it carried through.
    assert frame_of_fields(fields, " the line\n") == (function, offset, size, module, reliable, "the line")


@pytest.mark.parametrize(
    ("log", "contains", "kind"),
    [
        ("syzkaller/1000", "Call trace:", "call_trace"),
        (ARM_ANDROID, "Backtrace:", "call_trace"),
        ("syzkaller/697", "Backtrace:", "call_trace"),
        # Frames without a symbol: powerpc's guessed first entry, a NULL return address.
        ("syzkaller/379", "0xc000000049a875a0 (unreliable)", "frame_address"),
        ("syzkaller/380", "[0000000000000000]           (null) (unreliable)", "frame_address"),
        ("wild/2014-11-16_real-sles-fileserver-cifsd-oom-pagecache-unreclaimable.log", "] 0x7f65a0891077",
         "frame_address"),
    ],
)
def test_trace_headers_and_bare_entries(log: str, contains: str, kind: str) -> None:
    assert parsed(log, contains)[0] == kind


@pytest.mark.parametrize(
    ("log", "contains", "kind"),
    [
        # arm64
        (ARM64_65, "pstate: 404000c9 (nZcv daIF", "arch_registers"),
        (ARM64_65, "pc : v3d_irq+0x118/0x2e0 [v3d]", "arch_registers"),
        (ARM64_65, "sp : ffffffc080003ea0", "arch_registers"),
        (ARM64_65, "x29: ffffffc080003ea0 x28:", "arch_registers"),
        (ARM64_58, "x9 : ffff800009e129f0", "arch_registers"),
        ("syzkaller/45", "pc : [<ffffffc000d394c4>] lr : [<ffffffc000d394c4>] pstate: 200001c5", "arch_registers"),
        ("syzkaller/45", "PC is at _snd_timer_stop.constprop.9+0x184/0x2b0", "fault_location"),
        # 32-bit ARM
        ("syzkaller/46", "pc : [<c01751ac>]    lr : [<c025a42c>]    psr: 80000013", "arch_registers"),
        ("syzkaller/238", "r10: 80117ea8  r9 : 00000000  r8 : 000b0028", "arch_registers"),
        ("syzkaller/238", "Flags: nzCv  IRQs on  FIQs on  Mode SVC_32  ISA ARM  Segment none", "arch_registers"),
        ("syzkaller/238", "Control: 10c5387d  Table: 9a8e406a  DAC: 00000051", "arch_registers"),
        ("syzkaller/238", "Stack: (0x9a917f68 to 0x9a918000)", "memory_dump"),
        (ARM_ANDROID, " r6:000200da r5:00000000 r4:c3ada000 r3:00000000", "arch_registers"),
        (ARM_ANDROID, "Exception stack(0xc3adbfb0 to 0xc3adbff8)", "memory_dump"),
        (ARM_ANDROID, "bfa0:                                     5d056000", "memory_dump"),
        ("syzkaller/676", "Register r0 information: slab kmalloc-512", "arch_registers"),
        # riscv
        (RISCV, "epc : schedule_tail+0x72/0xb2", "arch_registers"),
        (RISCV, " ra : schedule_tail+0x70/0xb2", "arch_registers"),
        (RISCV, "s8 : ffffffe07fdb3e18 s9 : ffffffe07fdb4e00 s10: ffffffe0266696e8", "arch_registers"),
        (RISCV, "status: 0000000000000120 badaddr: 000000000cc6b0d0 cause: 000000000000000f", "arch_registers"),
        # powerpc
        (PPC64, "GPR00: c00000000022d784", "ppc_registers"),
        (PPC64, "REGS: c00000007a3ef6e0 TRAP: 0380", "ppc_registers"),
        (PPC64, "MSR:  800000010280b033 <SF,VEC,VSX,EE,FP,ME,IR,DR,RI,LE,TM[E]>", "ppc_registers"),
        (PPC64, "NIP:  c00000000022d79c LR: c00000000022d784 CTR: 0000000000000000", "registers"),
        (PPC64, "NIP [c00000000022d79c] partition_sched_domains_locked+0x1ac/0x5f0", "fault_location"),
        (PPC64, "LR [c00000000022d784] cpumask_first include/linux/cpumask.h:214 [inline]", "fault_location"),
        (PPC64, "Instruction dump:", "instruction_dump"),
        (PPC64, "<e87f0b20>", "instruction_dump"),
        ("syzkaller/380", "--- interrupt: 700 at assert_slb_presence+0x2c/0x70", "fault_location"),
        ("syzkaller/380", "LR = slb_insert_entry+0x19c/0x2d0", "fault_location"),
        # i386 and x86 <= 4.x
        (I386, "EIP: 0060:[<fa46e8cc>] EFLAGS: 00010246 CPU: 0", "fault_location"),
        (I386, "EIP is at crystalhd_dioq_fetch_wait+0x19c/0x330 [crystalhd]", "fault_location"),
        (I386, "SS:ESP 0068:f5111e34", "fault_location"),
        (I386, "Stack:", "memory_dump"),
        ("syzkaller/0", "IP: [<ffffffff82d4e304>] __memset+0x24/0x30", "fault_location"),
        ("syzkaller/9", "IP: skb_release_data+0x258/0x470", "fault_location"),
        ("syzkaller/99", "IP: node_state include/linux/nodemask.h:405 [inline]", "fault_location"),
        ("syzkaller/162", "RIP  [<ffffffff8123487f>] __lock_acquire+0x61f/0x4b50", "fault_location"),
        ("syzkaller/162", "RSP <ffff8801d94cf880>", "fault_location"),
        # x86 unwinders dumping the stack they could not unwind (frame pointer, 4.14+ ORC)
        ("syzkaller/88", "WARNING: kernel stack frame pointer at ffff88003e1f7f40", "memory_dump"),
        ("syzkaller/245", "WARNING: kernel stack regs at         (ptrval)", "memory_dump"),
        ("syzkaller/245", "unwind stack type:0 next_sp:", "memory_dump"),
        ("syzkaller/245", "(ptrval): ffff8801daf06c10 (0xffff8801daf06c10)", "memory_dump"),
        ("syzkaller/245", "(ptrval): ffffffff812c80ee (__save_stack_trace+0x6e/0xd0)", "memory_dump"),
        ("syzkaller/245", "(ptrval): 0000000000000000 ...", "memory_dump"),
        ("syzkaller/88", "ffff88003ed06ef0: ffff88003ed06f78 (0xffff88003ed06f78)", "memory_dump"),
        # KASAN's shadow bytes around a bad access
        ("syzkaller/5", " ffff8801d5961900: 00 00 01 fc", "memory_dump"),
        ("syzkaller/5", ">ffff8801d5961a00: 00 00 00 fc", "memory_dump"),
    ],
)
def test_register_and_stack_dumps_are_recognised(log: str, contains: str, kind: str) -> None:
    assert kind in REGISTER_KINDS  # part of a trace, never the start of one
    assert parsed(log, contains)[0] == kind


def test_the_new_kinds_are_trace_lines() -> None:
    assert REGISTER_KINDS < TRACE_BODY_KINDS
    assert {"frame", "frame_address", "trace_marker"} <= TRACE_BODY_KINDS - REGISTER_KINDS


def test_arm64_hung_task_trace_with_source_markers() -> None:
    capture = excerpt("syzkaller/1000", "INFO: task udevd:5612 blocked in I/O wait", "el0t_64_sync+0x198/0x19c")
    assert capture.unparsed == []
    hung = capture.events[capture.events["kind"] == "hung_task"].iloc[0]
    trace = functions(capture, hung["stack"])
    assert trace[:4] == ["__switch_to", "__schedule", "schedule", "io_schedule"]
    assert "read_cache_folio" in trace and trace[-1] == "el0t_64_sync"
    # The context switch an arm64 trace starts with is a scheduler frame, not where the task waits.
    title = next(f.title for f in stallscope.diagnose(capture) if f.rule == "hung-task")
    # Named as the primitive callers see and its caller: folio_wait_bit in do_read_cache_folio.
    assert "__switch_to" not in title and "folio_wait_bit in do_read_cache_folio" in title


def test_arm64_oops_registers_stay_inside_the_report() -> None:
    # The register dump between the oops header and "Call trace:" neither ends the report nor
    # opens a trace: the trace after it is the oops's.
    capture = excerpt(ARM64_65, "Internal error: Oops:", "el0t_64_irq+")
    oops = capture.events[capture.events["kind"] == "oops"].iloc[0]
    assert functions(capture, oops["stack"])[0] == "v3d_irq"
    frames = capture.frames[capture.frames["stack"] == int(oops["stack"])]
    assert frames.iloc[0]["module"] == "v3d"


def test_arm32_old_unwinder_trace_of_an_allocation_failure() -> None:
    capture = excerpt(ARM_34, "page allocation failure", "tasklet_hi_action")
    failure = capture.events[capture.events["kind"] == "warn_alloc_failure"].iloc[0]
    assert functions(capture, failure["stack"]) == [
        "unwind_backtrace", "warn_alloc_failed", "__alloc_pages_nodemask", "__netdev_alloc_frag",
        "__netdev_alloc_skb", "rx_submit", "usb_hcd_giveback_urb", "completion_tasklet_func", "tasklet_callback",
    ]


def test_arm32_frame_pointer_trace_keeps_its_frames_across_saved_registers() -> None:
    # Lines of saved registers (" r7:... r4:...") and the exception stack sit between frames.
    capture = excerpt(ARM_ANDROID, "invoked oom-killer", "bfa0:")
    invoke = capture.events[capture.events["kind"] == "oom_invoke"].iloc[0]
    trace = functions(capture, invoke["stack"])
    assert trace[:3] == ["dump_backtrace", "dump_stack", "dump_header.isra.7"]
    assert trace[-1] == "do_DataAbort" and "out_of_memory" in trace


def test_powerpc_trace_of_an_allocation_failure() -> None:
    capture = excerpt(PPC32, "page allocation failure", "start_kernel_thread+0x10/0x14")
    failure = capture.events[capture.events["kind"] == "warn_alloc_failure"].iloc[0]
    frames = capture.frames[capture.frames["stack"] == int(failure["stack"])]
    assert list(frames["function"][:3]) == ["dump_stack_lvl", "warn_alloc", "__alloc_pages"]
    assert list(frames["reliable"][:2]) == [False, True]


def test_powerpc_hung_task_trace() -> None:
    capture = excerpt("syzkaller/379", "blocked for more than", "ret_from_except_lite")
    hung = capture.events[capture.events["kind"] == "hung_task"].iloc[0]
    trace = functions(capture, hung["stack"])
    assert trace[:3] == ["__switch_to", "__schedule", "schedule"]
    assert "exit_aio" in trace


def test_riscv_oops_trace() -> None:
    capture = excerpt(RISCV, "Oops [#1]", "ret_from_exception")
    oops = capture.events[capture.events["kind"] == "oops"].iloc[0]
    assert functions(capture, oops["stack"]) == ["schedule_tail", "ret_from_exception"]
    assert capture.unparsed == []
