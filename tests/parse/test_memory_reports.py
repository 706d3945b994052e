"""Memory, hang and lockup reports of every kernel era, and the crash reports around them, on real lines.

Each case is a line of a real log (the real-world corpus under tests/data/wild, syzkaller's golden
reports under tests/data/syzkaller), the kind the grammars give it and some of its fields.
"""

from __future__ import annotations

import pytest
from line_helpers import excerpt, functions, parsed

from stallscope.capture import events as ev
from stallscope.parse.kinds import EVENT_KINDS, EVENT_KINDS_WITH_TRACE, REPORT_END_KINDS

ANDROID_OOM = "wild/2023-04-06_real-android-dmabuf-system-heap-oom-panic-no-killable.log"
KDUMP_OOM = "wild/2019-08-12_real-dell-epyc-crash-kernel-boot-oom-no-killable-processes.log"
SLES_OOM = "wild/2014-11-16_real-sles-fileserver-cifsd-oom-pagecache-unreclaimable.log"
PPC32 = "wild/2024-05-15_powermac-g4-ppc32-kswapd-zswap-lowmem-atomic-failures.log"
KMEM_SLUB = "wild/2018-02-20_real-centos7-docker-kmem-accounting-slub-unable-to-allocate.log"
CMA = "wild/2021-09-24_real-rpi-arm64-cma-alloc-failed-page-alloc-warning.log"
WQ_41 = "wild/2015-11-12_real-rsnapshot-xfs-md-server-4-1-2-free-below-min-finite-stalls-vmstat-pending.log"
WQ_DEBUG = "wild/2016-01-27_oom-stall-vmstat-update-workqueue-pending-disk-events-workfn.log"
ARM64_65 = "wild/2025-01-23_real-arm64-rpi5-v3d-irq-null-deref-oops-chromium.log"
ARM64_58 = "wild/2022-07-11_real-arm64-rockpro64-rockchip-i2s-probe-null-deref-oops.log"
PPC64 = "wild/2026-08-17_syzkaller-ppc64le-paging-request-partition-sched-domains.log"
RISCV = "wild/2026-08-17_syzkaller-riscv-oops-user-memory-access-schedule-tail.log"
I386 = "wild/2012-12-29_real-i386-crystalhd-null-deref-oops-scheduling-while-atomic.log"
AMDGPU = "wild/2022-03-26_real-amdgpu-ring-gfx-timeout-gpu-reset-macbookpro.log"

CASES = [
    # --- OOM killer and Mem-Info --------------------------------------------------------------
    (KDUMP_OOM, "Out of memory and no killable processes...", "oom_no_killable", {}),
    (ANDROID_OOM, "Kernel panic - not syncing: System is deadlocked on memory", "kernel_panic",
     {"reason": "System is deadlocked on memory"}),
    (KDUMP_OOM, "Unreclaimable slab info:", "meminfo_slab_header", {}),
    (KDUMP_OOM, "Name                      Used          Total", "meminfo_slab_header", {}),
    (KDUMP_OOM, "kmalloc-2048           59164KB      59164KB", "meminfo_slab",
     {"slab_cache": "kmalloc-2048", "used_kb": "59164", "total_kb": "59164"}),
    (SLES_OOM, "Node 0 DMA32 per-cpu:", "meminfo_pcp_zone", {"node": "0", "zone": "DMA32"}),
    (SLES_OOM, "CPU    1: hi:  186, btch:  31 usd:   7", "meminfo_pcp",
     {"cpu": "1", "pcp_high": "186", "pcp_batch": "31", "pcp_used": "7"}),
    # --- warn_alloc, vmalloc, CMA, SLUB -----------------------------------------------------------
    ("syzkaller/198", "syz-executor6: vmalloc: allocation failure: 8589934588 bytes", "vmalloc_failure",
     {"comm": "syz-executor6", "size_bytes": "8589934588", "mode": "0x14080c0", "nodemask": "(null)"}),
    ("syzkaller/199", "] vmalloc: allocation failure: 17178820608 bytes", "vmalloc_failure",
     {"size_bytes": "17178820608"}),
    (CMA, "cma: cma_alloc: alloc failed, req-size: 19200 pages, ret: -12", "cma_alloc_failure",
     {"pages": "19200", "ret": "-12"}),
    (PPC32, "SLUB: Unable to allocate memory on node -1, gfp=0x820(GFP_ATOMIC)", "slub_alloc_failure",
     {"node": "-1", "gfp": "0x820", "gfp_names": "(GFP_ATOMIC)"}),
    (KMEM_SLUB, "SLUB: Unable to allocate memory on node -1 (gfp=0x8020)", "slub_alloc_failure",
     {"node": "-1", "gfp": "0x8020"}),
    (PPC32, "cache: skbuff_small_head, object size: 480", "slub_cache",
     {"cache": "skbuff_small_head", "object_size": "480", "buffer_size": "544", "default_order": "1",
      "min_order": "0"}),
    (KMEM_SLUB, "cache: ip6_dst_cache(0:", "slub_cache", {"object_size": "448", "default_order": "2"}),
    (PPC32, "kmalloc-rnd-15-2k debugging increased min order, use slab_debug=O to disable.", "slub_debug_order",
     {"cache": "kmalloc-rnd-15-2k"}),
    (KMEM_SLUB, "node 1: slabs: 88, objs: 3141, free: 0", "slub_node",
     {"node": "1", "slabs": "88", "objs": "3141", "free": "0"}),
    # --- Workqueue dumps of every era ---------------------------------------------------------------
    (WQ_41, "pool 0: cpus=0 node=0 flags=0x0 nice=0 workers=3 manager: 12328 idle: 9632 8646", "wq_pool",
     {"pool": "0", "workers": "3", "manager": "12328", "idle": "9632 8646"}),
    (WQ_41, "pool 4: cpus=2 node=0 flags=0x0 nice=0 workers=2 manager: 11509", "wq_pool",
     {"workers": "2", "manager": "11509"}),
    (WQ_41, "in-flight: 8895:xlog_cil_push_work [xfs] BAR(4592) BAR(576)", "wq_in_flight",
     {"worker": "8895", "work": "xlog_cil_push_work", "barrier": "BAR(4592) BAR(576)"}),
    (WQ_DEBUG, "pending: vmpressure_work_fn(delay=11001), vmw_fb_dirty_flush [vmwgfx](delay=1192)", "wq_pending",
     {"work": "vmpressure_work_fn vmw_fb_dirty_flush", "delay": "11001 1192"}),
    (WQ_DEBUG, "in-flight: 86:disk_events_workfn(delay=11024)", "wq_in_flight",
     {"worker": "86", "work": "disk_events_workfn", "delay": "11024"}),
    # --- Hung tasks -----------------------------------------------------------------------------------
    ("syzkaller/1000", "INFO: task udevd:5612 blocked in I/O wait for more than 143 seconds.", "hung_task",
     {"comm": "udevd", "pid": "5612", "seconds": "143", "how": "blocked in I/O wait for more than"}),
    ("syzkaller/508", "can't die for more than 143 seconds.", "hung_task",
     {"comm": "syz-executor.4", "pid": "21128", "how": "can't die for more than"}),
    ("syzkaller/1000", "Tainted: G             L      syzkaller #0", "dump_taint",
     {"tainted": "G             L", "release": "syzkaller", "build": "#0"}),
    ("syzkaller/349", "Kernel panic - not syncing: hung_task: blocked tasks", "kernel_panic",
     {"reason": "hung_task: blocked tasks"}),
    ("syzkaller/295", "syz-executor7   R running task on cpu   0", "task_state_old",
     {"pid": "19712", "ppid": "4019", "on_cpu": "0"}),
    # The same kernels append the time a sleeping task last ran too (367: a hung task's own line).
    ("syzkaller/367", "syz-executor.0  D12800  6102   3860 0x30020000 115507005282", "task_state_old",
     {"last_ran": "115507005282"}),
    ("syzkaller/611", "task:rcu_sched       state:R  running task on cpu   0", "task_state_new",
     {"comm": "rcu_sched", "state": "R", "pid": "11", "on_cpu": "0"}),
    # --- RCU stalls, soft and hard lockups, NMI backtraces -------------------------------------------
    ("syzkaller/57", "1-...: (65000 ticks this GP)", "rcu_stall_cpu", {"stall_cpu": "1", "ticks": "65000"}),
    ("syzkaller/60", "0: (20822 ticks this GP)", "rcu_stall_cpu", {"stall_cpu": "0", "ticks": "20822"}),
    ("syzkaller/268", "1-...!: (3 GPs behind)", "rcu_stall_cpu", {"stall_cpu": "1", "behind": "3"}),
    ("syzkaller/57", "(detected by 0, t=65002 jiffies", "rcu_stall_gp", {"detected_by": "0", "jiffies": "65002"}),
    ("syzkaller/268", "rcu: rcu_preempt kthread starved for 10492 jiffies!", "rcu_kthread_starved",
     {"flavor": "rcu_preempt", "jiffies": "10492"}),
    ("syzkaller/268", "rcu: RCU grace-period kthread stack dump:", "rcu_stall_dump", {}),
    ("syzkaller/287", "Task dump for CPU 1:", "rcu_stall_dump", {"cpu": "1"}),
    ("syzkaller/269", "rcu: All QSes seen, last rcu_preempt kthread activity", "rcu_stall_note", {}),
    ("syzkaller/521", "OOM is now expected behavior.", "rcu_stall_note", {}),
    ("syzkaller/57", "Sending NMI from CPU 0 to CPUs 1:", "nmi_request", {"cpu": "0", "cpu_list": "1"}),
    ("syzkaller/57", "NMI backtrace for cpu 1", "nmi_backtrace", {"cpu": "1"}),
    ("syzkaller/349", "NMI backtrace for cpu 0 skipped: idling at native_safe_halt+0x2/0x10", "nmi_backtrace",
     {"cpu": "0", "idle_function": "native_safe_halt"}),
    ("syzkaller/421", "INFO: NMI handler (nmi_cpu_backtrace_handler) took too long", "nmi_handler_slow", {}),
    ("syzkaller/64", "BUG: spinlock lockup suspected on CPU#2, syz-executor/12636", "spinlock_lockup",
     {"cpu": "2", "comm": "syz-executor", "pid": "12636"}),
    ("syzkaller/65", "Kernel panic - not syncing: softlockup: hung tasks", "kernel_panic",
     {"reason": "softlockup: hung tasks"}),
    # --- dump_stack headers of every era --------------------------------------------------------------
    ("wild/2012-09-28_real-48gb-multicast-kswapd1-order2-atomic-mlx4-failure.log", "Pid: 80, comm: kswapd1",
     "dump_pid", {"pid": "80", "comm": "kswapd1", "release": "3.4.9-2.rgm.fc16.x86_64"}),
    ("wild/2015-09-01_real-centos7-docker-container-php-memcg-oom.log", "Tainted: G            -------------- T",
     "dump_cpu", {"comm": "php.bin", "release": "3.10.0-229.11.1.el7.x86_64"}),
    (ARM64_65, "Tainted: [C]=CRAP", "dump_taint_legend", {"taint_legend": "[C]=CRAP"}),
    ("syzkaller/26", "4.14.0-rc1+ #1 Not tainted", "dump_taint", {"release": "4.14.0-rc1+"}),
    ("syzkaller/46", "CPU: 0    Not tainted  (2.6.32-17-ridgerun #22)", "dump_taint", {"release": "2.6.32-17-ridgerun"}),
    # --- Crash reports around them -------------------------------------------------------------------
    ("syzkaller/4", "WARNING: CPU: 1 PID: 8377 at arch/x86/kvm/x86.c:7209", "kernel_warning",
     {"cpu": "1", "pid": "8377", "srcline": "arch/x86/kvm/x86.c:7209", "function": "kvm_arch_vcpu_ioctl_run"}),
    ("syzkaller/24", "locks_free_lock_context+0x118/0x180()", "kernel_warning",
     {"function": "locks_free_lock_context"}),
    ("syzkaller/743", "WARNING: net/mac80211/tx.c:5024 at __ieee80211_beacon_get", "kernel_warning",
     {"srcline": "net/mac80211/tx.c:5024", "cpu": "1"}),
    (AMDGPU, "WARNING: CPU: 10 PID: 469 at", "kernel_warning", {"function": "kfd_suspend_all_processes",
                                                               "module": "[amdgpu]"}),
    ("syzkaller/12", "general protection fault: 0000 [#1]", "oops", {"what": "general protection fault"}),
    ("syzkaller/43", "kernel BUG at fs/buffer.c:1917!", "oops", {"what": "kernel BUG at"}),
    ("syzkaller/0", "BUG: unable to handle kernel paging request at", "oops", {}),
    ("syzkaller/536", "Unable to handle kernel paging request at virtual address", "oops", {}),
    (ARM64_58, "Internal error: Oops: 96000004 [#1] PREEMPT SMP", "oops", {"what": "Internal error:"}),
    (PPC64, "BUG: Unable to handle kernel data access at 0x8000000041a25f20", "oops", {}),
    (PPC64, "Oops: Kernel access of bad area, sig: 11 [#1]", "oops", {"what": "Oops"}),
    (RISCV, "Oops [#1]", "oops", {}),
    ("syzkaller/313", "PANIC: double fault, error_code: 0x0", "oops", {}),
    ("syzkaller/241", "Unhandled fault: page domain fault (0x81b) at 0x00001044", "oops", {}),
    ("syzkaller/75", "BUG: scheduling while atomic: syz-executor0/19425/0x00000000", "atomic_bug", {}),
    ("syzkaller/56", "BUG: sleeping function called from invalid context", "atomic_bug", {}),
    ("syzkaller/81", "BUG: using __this_cpu_add() in preemptible", "atomic_bug", {}),
    ("syzkaller/89", "BUG: Bad page state in process syz-executor9  pfn:199e00", "bad_page",
     {"what": "state", "comm": "syz-executor9", "pfn": "199e00"}),
]


@pytest.mark.parametrize(("log", "contains", "kind", "fields"), CASES)
def test_report_lines_of_every_era(log: str, contains: str, kind: str, fields: dict[str, str]) -> None:
    found, got = parsed(log, contains)
    assert found == kind
    assert fields.items() <= got.items()
    assert kind in EVENT_KINDS or kind in ("task_state_old", "task_state_new")


SCAFFOLDING = [
    ("syzkaller/4", "------------[ cut here ]------------", "oops_cut"),
    ("syzkaller/548", "8<--- cut here ---", "oops_cut"),
    ("syzkaller/162", "---[ end trace", "oops_end"),
    (ARM64_58, "---[ end Kernel panic - not syncing: Attempted to kill init!", "oops_end"),
    ("syzkaller/4", "Kernel Offset: disabled", "oops_epilogue"),
    ("syzkaller/4", "Rebooting in 86400 seconds..", "oops_epilogue"),
    ("syzkaller/4", "Dumping ftrace buffer:", "oops_epilogue"),
    ("syzkaller/4", "(ftrace buffer empty)", "oops_epilogue"),
    (ARM64_58, "SMP: stopping secondary CPUs", "oops_epilogue"),
    ("syzkaller/551", "CPU1: stopping", "oops_epilogue"),
    (ARM64_58, "Memory Limit: none", "oops_epilogue"),
    (ARM64_58, "CPU features: 0x800,00105811,00001086", "oops_epilogue"),
    (ARM64_65, "PHYS_OFFSET: 0x0", "oops_epilogue"),
    ("syzkaller/382", "#PF: supervisor read access in kernel mode", "oops_fault"),
    ("syzkaller/382", "#PF: error_code(0x0000) - not-present page", "oops_fault"),
    ("syzkaller/382", "PGD ", "oops_fault"),
    (I386, "*pdpt = 000000002f95e001 *pde = 0000000000000000", "oops_fault"),
    ("syzkaller/241", "[00001044] *pgd=", "oops_fault"),
    ("syzkaller/655", "] pgd=0800000107ed2003, p4d=0800000107ed2003", "oops_fault"),
    ("syzkaller/45", "pgd = ffffffc0a39a0000", "oops_fault"),
    ("syzkaller/536", "Mem abort info:", "oops_fault"),
    ("syzkaller/536", "ESR = 0x96000004", "oops_fault"),
    ("syzkaller/536", "EC = 0x25: DABT (current EL), IL = 32 bits", "oops_fault"),
    ("syzkaller/536", "SET = 0, FnV = 0", "oops_fault"),
    ("syzkaller/536", "ISV = 0, ISS = 0x00000004", "oops_fault"),
    (ARM64_65, "CM = 0, WnR = 0, TnD = 0, TagAccess = 0", "oops_fault"),
    (ARM64_65, "user pgtable: 4k pages, 39-bit VAs", "oops_fault"),
    (ARM64_58, "[0000000000000005] user address but active_mm is swapper", "oops_fault"),
    (PPC64, "Faulting instruction address: 0xc00000000022d79c", "oops_fault"),
    (PPC64, "LE PAGE_SIZE=64K MMU=Hash SMP NR_CPUS=2048 NUMA pSeries", "oops_fault"),
    ("syzkaller/0", "task: ffff880066be2280 task.stack: ffff880066be8000", "oops_task"),
    ("syzkaller/548", "Process syz-executor.0 (pid: 11783, stack limit = 0xdf960dff)", "oops_task"),
    (I386, "Process mplayer2 (pid: 17775, ti=f5110000", "oops_task"),
    ("syzkaller/65", "irq event stamp: 494028", "oops_context"),
    ("syzkaller/65", "hardirqs last  enabled at (494027):", "oops_context"),
    ("syzkaller/56", "in_atomic(): 1, irqs_disabled(): 0, pid: 3658, name: syz-fuzzer", "oops_context"),
    ("syzkaller/81", "caller is __this_cpu_preempt_check+0x1c/0x20", "oops_context"),
    ("syzkaller/75", "INFO: lockdep is turned off.", "oops_context"),
    ("syzkaller/608", "Preemption disabled at:", "oops_context"),
    ("syzkaller/5", "Disabling lock debugging due to kernel taint", "oops_context"),
    ("syzkaller/89", "page:ffffea00059a9000 count:0 mapcount:0", "page_dump"),
    ("syzkaller/89", "flags: 0x200000000040019(locked|uptodate|dirty|swapbacked)", "page_dump"),
    ("syzkaller/5", "raw: 0200000000000100 ffff8801d5961000", "page_dump"),
    ("syzkaller/5", "page dumped because: kasan: bad access detected", "page_dump"),
    ("syzkaller/627", "page_owner tracks the page as allocated", "page_dump"),
    ("syzkaller/627", "page last allocated via order 0, migratetype Unmovable", "page_dump"),
    ("syzkaller/725", "page last free pid 5083 tgid 5083 stack trace:", "page_dump"),
]


@pytest.mark.parametrize(("log", "contains", "kind"), SCAFFOLDING)
def test_crash_report_scaffolding_is_recognised(log: str, contains: str, kind: str) -> None:
    assert parsed(log, contains)[0] == kind
    assert kind not in EVENT_KINDS


def test_report_headers_own_the_trace_after_them() -> None:
    assert {"oops", "kernel_warning", "kernel_panic", "atomic_bug", "bad_page", "nmi_backtrace", "rcu_stall_dump",
            "spinlock_lockup", "vmalloc_failure"} <= EVENT_KINDS_WITH_TRACE
    assert {"oops_cut", "oops_end", "oops_epilogue"} == REPORT_END_KINDS


def test_no_killable_process_then_the_panic() -> None:
    capture = excerpt(ANDROID_OOM, "Out of memory and no killable processes", "deadlocked on memory")
    kinds = list(capture.events["kind"])
    assert kinds == ["oom_no_killable", "kernel_panic"]
    assert ev.field(capture.events.iloc[1], "reason") == "System is deadlocked on memory"


def test_slub_failure_with_its_cache_and_nodes() -> None:
    capture = excerpt(KMEM_SLUB, "SLUB: Unable to allocate", "node 1: slabs")
    assert list(capture.events["kind"]) == ["slub_alloc_failure", "slub_cache", "slub_node", "slub_node"]
    assert capture.unparsed == []


def test_nmi_backtraces_own_their_cpu_traces() -> None:
    capture = excerpt("syzkaller/57", "NMI backtrace for cpu 1", "apic_timer_interrupt+0x93/0xa0")
    nmi = capture.events[capture.events["kind"] == "nmi_backtrace"].iloc[0]
    trace = functions(capture, nmi["stack"])
    assert trace[0] == "wait_for_xmitr" and "serial8250_console_write" in trace


def test_cant_die_task_is_a_hung_task_with_its_trace() -> None:
    capture = excerpt("syzkaller/508", "can't die for more than", "entry_SYSCALL_64_after_hwframe")
    hung = ev.hung_tasks(capture.events).iloc[0]
    assert (hung["comm"], hung["pid"], hung["seconds"]) == ("syz-executor.4", 21128, 143)
    assert "p9_client_rpc" in functions(capture, hung["stack"])


def test_workqueue_dump_before_the_watchdog_era() -> None:
    capture = excerpt(WQ_41, "Showing busy workqueues and worker pools:", "pool 4: cpus=2")
    pools = ev.workqueue_pools(capture.events)
    assert list(pools["pool"]) == [0, 1, 4]
    assert pools["hung"].isna().all()  # before 4.5 the dump had no hung=
    assert capture.unparsed == []


def test_debug_build_workqueue_delays() -> None:
    capture = excerpt(WQ_DEBUG, "pending: vmpressure_work_fn(delay=11001)", "pending: vmstat_update(delay=10241)")
    pending = capture.events[capture.events["kind"] == "wq_pending"]
    assert ev.ints(pending.iloc[0], "delay") == [11001, 1192]


def test_kernel_release_skips_a_release_without_a_version() -> None:
    capture = excerpt("syzkaller/1000", "INFO: task udevd", "task:udevd")
    assert ev.kernel_release(capture.events) is None  # "syzkaller" names no kernel version
