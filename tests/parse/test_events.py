"""The event grammars on real kernel lines, and the events table they fill on real logs."""

from __future__ import annotations

import pytest

from conftest import loaded
from stallscope.capture import events as ev
from stallscope.parse.kinds import EVENT_KINDS
from stallscope.parse.lines import LineParser

PARSER = LineParser()

# (line as printed, kind, fields that must be recovered) - every line is copied from a corpus log
# or from kernel output quoted in public bug reports (hung_task blocker lines, 6.14+).
LINES: list[tuple[str, str, dict[str, str]]] = [
    # OOM killer, every generation of the header
    (
        "oom-write invoked oom-killer: order=0, oom_score_adj=0, gfp_mask=0x24280ca(GFP_HIGHUSER_MOVABLE|GFP_ZERO)",
        "oom_invoke",
        {"comm": "oom-write", "order": "0", "gfp_mask": "0x24280ca", "gfp_names": "(GFP_HIGHUSER_MOVABLE|GFP_ZERO)"},
    ),
    (
        "memeater invoked oom-killer: gfp_mask=0x24280ca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO), order=0, oom_score_adj=0",
        "oom_invoke",
        {"comm": "memeater", "oom_score_adj": "0"},
    ),
    (
        "idle-priority invoked oom-killer: gfp_mask=0x14280ca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO), nodemask=(null),"
        "  order=0, oom_score_adj=0",
        "oom_invoke",
        {"comm": "idle-priority", "nodemask": "(null)"},
    ),
    ("msgctl11 invoked oom-killer: gfp_mask=0xd0, order=1, oom_adj=0", "oom_invoke", {"order": "1", "oom_adj": "0"}),
    (
        "Out of memory: Kill process 3805 (oom-write) score 808 or sacrifice child",
        "oom_kill_process",
        {"pid": "3805", "comm": "oom-write", "score": "808"},
    ),
    (
        "Killed process 3806 (write) total-vm:156kB, anon-rss:4kB, file-rss:0kB, shmem-rss:0kB",
        "oom_killed_process",
        {"pid": "3806", "comm": "write", "anon_rss_kb": "4"},
    ),
    (
        "Out of memory: Killed process 112 (victim) total-vm:34988kB, anon-rss:32992kB, file-rss:4kB, "
        "shmem-rss:712kB, UID:0 pgtables:108kB oom_score_adj:500",
        "oom_killed_process",
        {"pid": "112", "comm": "victim", "oom_score_adj": "500", "scope": "Out of memory:"},
    ),
    (
        "Memory cgroup out of memory: Killed process 114 (leaker) total-vm:42184kB, anon-rss:40328kB, "
        "file-rss:4kB, shmem-rss:712kB, UID:0 pgtables:116kB oom_score_adj:0",
        "oom_killed_process",
        {"pid": "114", "comm": "leaker", "scope": "Memory cgroup out of memory:"},
    ),
    (
        "oom_reaper: reaped process 2020 (a.out), now anon-rss:0kB, file-rss:0kB, shmem-rss:0lB",
        "oom_reaper_reaped",
        {"pid": "2020", "comm": "a.out", "shmem_rss_kb": "0"},
    ),
    ("oom_reaper: unable to reap pid:1562 (a.out)", "oom_reaper_unable", {"pid": "1562", "comm": "a.out"}),
    (
        "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/webapp,"
        "task_memcg=/webapp,task=leaker,pid=114,uid=0",
        "oom_kill_summary",
        {"constraint": "CONSTRAINT_MEMCG", "oom_memcg": "/webapp", "comm": "leaker", "pid": "114"},
    ),
    (
        "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/,"
        "task=victim,pid=112,uid=0",
        "oom_kill_summary",
        {"global_oom": "global_oom", "task_memcg": "/", "comm": "victim"},
    ),
    (
        "[ 3805]  1000  3805   541715   357876     708       6        0             0 oom-write",
        "oom_task_row",
        {"pid": "3805", "uid": "1000", "rss": "357876", "comm": "oom-write"},
    ),
    ("memory: usage 65292kB, limit 65536kB, failcnt 27", "oom_memcg_usage", {"usage_kb": "65292", "failcnt": "27"}),
    ("Memory cgroup stats for /webapp:", "oom_memcg_stats", {"memcg_path": "/webapp"}),
    # warn_alloc
    (
        "DOM Worker: page allocation stalls for 10646ms, order:0, mode:0x24280ca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO)",
        "warn_alloc_stall",
        {"comm": "DOM Worker", "stall_ms": "10646", "mode": "0x24280ca"},
    ),
    (
        "normal-priority: page allocation stalls for 300124ms, order:0, "
        "mode:0x14280ca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO), nodemask=(null)",
        "warn_alloc_stall",
        {"comm": "normal-priority", "stall_ms": "300124", "nodemask": "(null)"},
    ),
    ("page allocation stalls for 2102516ms, order:0", "warn_alloc_stall", {"stall_ms": "2102516"}),
    (
        "insmod: page allocation failure: order:0, mode:0x10cc0(GFP_KERNEL|__GFP_NORETRY), "
        "nodemask=(null),cpuset=/,mems_allowed=0",
        "warn_alloc_failure",
        {"comm": "insmod", "order": "0", "gfp_names": "(GFP_KERNEL|__GFP_NORETRY)", "cpuset": "/"},
    ),
    ("swapper/3: page allocation failure: order:2, mode:0xc020", "warn_alloc_failure", {"comm": "swapper/3"}),
    ("warn_alloc: 364 callbacks suppressed", "ratelimit_suppressed", {"function": "warn_alloc", "suppressed": "364"}),
    ("warn_alloc_show_mem: 9 callbacks suppressed", "ratelimit_suppressed", {"function": "warn_alloc_show_mem"}),
    # hung tasks
    (
        "INFO: task kworker/0:0:4 blocked for more than 120 seconds.",
        "hung_task",
        {"comm": "kworker/0:0", "pid": "4", "seconds": "120"},
    ),
    (
        "INFO: task kworker/0:1:11 is blocked on a mutex likely owned by task dhcpcd:615.",
        "hung_task_blocker",
        {"comm": "kworker/0:1", "pid": "11", "lock_type": "a mutex", "owner_comm": "dhcpcd", "owner_pid": "615"},
    ),
    (
        "INFO: task modprobe:31634 <writer> blocked on an rw-semaphore likely owned by task kworker/u16:0:12 <reader>",
        "hung_task_blocker",
        {"comm": "modprobe", "role": "<writer>", "owner_comm": "kworker/u16:0", "owner_pid": "12"},
    ),
    (
        "INFO: task modprobe:2342 is blocked on an rw-semaphore, but the owner is not found.",
        "hung_task_blocker",
        {"comm": "modprobe", "pid": "2342", "lock_type": "an rw-semaphore"},
    ),
    ('"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.', "hung_task_hint", {}),
    # workqueues
    (
        "BUG: workqueue lockup - pool cpus=1 node=0 flags=0x0 nice=0 stuck for 38s!",
        "wq_lockup",
        {"cpus": "1", "stuck": "38"},
    ),
    ("Showing busy workqueues and worker pools:", "wq_show_busy", {}),
    ("workqueue events_freezable_power_: flags=0x84", "wq_workqueue", {"workqueue": "events_freezable_power_"}),
    (
        "  pwq 6: cpus=3 node=0 flags=0x0 nice=0 active=27/256 MAYDAY",
        "wq_pwq",
        {"pwq": "6", "active": "27", "max_active": "256", "mayday": "MAYDAY"},
    ),
    (
        "  pwq 0: cpus=0 node=0 flags=0x0 nice=0 active=1/256 refcnt=2",
        "wq_pwq",
        {"refcnt": "2"},
    ),
    (
        "    in-flight: 5356:xfs_end_io [xfs], 451(RESCUER):xfs_end_io [xfs] xfs_end_io [xfs], 10498:xfs_end_io [xfs]",
        "wq_in_flight",
        {"worker": "5356 10498", "rescuer": "451", "work": "xfs_end_io xfs_end_io xfs_end_io xfs_end_io"},
    ),
    (
        "    pending: drain_local_pages_wq BAR(9595), e1000_watchdog [e1000]",
        "wq_pending",
        {"work": "drain_local_pages_wq e1000_watchdog", "barrier": "BAR(9595)"},
    ),
    (
        "pool 2: cpus=1 node=0 flags=0x0 nice=0 hung=38s workers=6 manager: 19",
        "wq_pool",
        {"pool": "2", "hung": "38", "workers": "6", "manager": "19"},
    ),
    (
        "pool 256: cpus=0-127 flags=0x4 nice=0 hung=38s workers=3 idle: 425 426",
        "wq_pool",
        {"cpus": "0-127", "idle": "425 426"},
    ),
    # Mem-Info
    ("Mem-Info:", "meminfo_header", {}),
    (" free:1854 free_pcp:130 free_cma:0", "meminfo_counters", {"free": "1854", "name": "free_pcp free_cma"}),
    (
        "Node 0 DMA32 free:3484kB min:3812kB low:4804kB high:5796kB active_anon:659136kB",
        "meminfo_zone",
        {"node": "0", "zone": "DMA32", "free_kb": "3484", "min_kb": "3812", "low_kb": "4804", "high_kb": "5796"},
    ),
    (
        "DMA32 free:44684kB min:44696kB low:55868kB high:67040kB active_anon:1228256kB",
        "meminfo_zone",
        {"zone": "DMA32", "free_kb": "44684"},
    ),
    (
        "Node 0 active_anon:4824kB inactive_anon:155756kB shmem_thp: 0kB all_unreclaimable? no",
        "meminfo_node",
        {"name": "active_anon inactive_anon shmem_thp", "value": "4824 155756 0", "all_unreclaimable": "no"},
    ),
    ("lowmem_reserve[]: 0 953 953 953", "meminfo_lowmem_reserve", {"reserve": "0 953 953 953"}),
    (
        "Node 0 DMA32: 759*4kB (UE) 54*8kB (U) 1*16kB (U) 0*32kB = 3484kB",
        "meminfo_buddy",
        {"zone": "DMA32", "count": "759 54 1 0", "size_kb": "4 8 16 32", "total_kb": "3484"},
    ),
    (
        "Node 0 hugepages_total=0 hugepages_free=0 hugepages_surp=0 hugepages_size=2048kB",
        "meminfo_hugepages",
        {"hugepages_size_kb": "2048"},
    ),
    ("62515 total pagecache pages", "meminfo_pagecache", {"pagecache_pages": "62515"}),
    ("262013 pages RAM", "meminfo_pages", {"pages": "262013", "what": "RAM"}),
    ("Free swap  = 1836440kB", "meminfo_swap", {"free_swap_kb": "1836440"}),
    # lockdep
    ("Showing all locks held in the system:", "lockdep_all_header", {}),
    ("1 lock held by kswapd0/52:", "lockdep_held_header", {"locks": "1", "comm": "kswapd0", "pid": "52"}),
    (
        " #0:  (&xfs_nondir_ilock_class){++++--}, at: [<ffffffffa0242c5b>] xfs_ilock+0x4b/0xe0 [xfs]",
        "lockdep_held",
        {"index": "0", "lock": "(&xfs_nondir_ilock_class)", "function": "xfs_ilock", "module": "[xfs]"},
    ),
    (
        " #0: ffffffff8d127cf0 (rcu_tasks.tasks_gp_mutex){+.+.}-{3:3}, at: rcu_tasks_one_gp+0x29/0xd20 "
        "kernel/rcu/tasks.h:510",
        "lockdep_held",
        {"lock_address": "ffffffff8d127cf0", "lock_wait_type": "-{3:3}", "srcline": "kernel/rcu/tasks.h:510"},
    ),
    # CPU watchdogs and SysRq
    (
        "watchdog: BUG: soft lockup - CPU#1 stuck for 13s! [insmod:111]",
        "soft_lockup",
        {"cpu": "1", "seconds": "13", "comm": "insmod", "pid": "111"},
    ),
    ("rcu: INFO: rcu_preempt self-detected stall on CPU", "rcu_stall", {"flavor": "rcu_preempt"}),
    ("INFO: rcu_sched detected stalls on CPUs/tasks:", "rcu_stall", {"flavor": "rcu_sched"}),
    ("sysrq: SysRq : Kill All Tasks", "sysrq", {"action": "Kill All Tasks"}),
    ("sysrq: Show Memory", "sysrq", {"action": "Show Memory"}),
    # dump_stack headers: the kernel release is recovered
    (
        "CPU: 0 PID: 30909 Comm: DOM Worker Not tainted 4.9.13 #5",
        "dump_cpu",
        {"pid": "30909", "comm": "DOM Worker", "release": "4.9.13", "build": "#5"},
    ),
    (
        "CPU: 2 PID: 1239 Comm: memeater Tainted: G        W       4.5.0-rc7-next-20160310 #103",
        "dump_cpu",
        {"tainted": "G        W", "release": "4.5.0-rc7-next-20160310", "build": "#103"},
    ),
    (
        "CPU: 1 PID: 111 Comm: grower Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2",
        "dump_cpu",
        {"release": "6.1.0-56-amd64", "version": "Debian 6.1.192-2"},
    ),
    ("      Not tainted 4.5.0-rc5-next-20160224+ #75", "dump_taint", {"release": "4.5.0-rc5-next-20160224+"}),
    ("CPU: 1 UID: 0 PID: 111 Comm: grower Not tainted 6.12.0 #1", "dump_cpu", {"uid": "0", "pid": "111"}),
    ("no locks held by khungtaskd/54.", "lockdep_held_header", {"comm": "khungtaskd", "pid": "54"}),
    (
        "INFO: task a:1 blocked on a semaphore likely last held by task b:2",
        "hung_task_blocker",
        {"lock_type": "a semaphore", "owner_comm": "b", "owner_pid": "2"},
    ),
    (
        "[    112]     0   112     8747     8413   110592        0          -1000 victim",
        "oom_task_row",
        {"column": "110592 0 -1000", "comm": "victim"},
    ),
    (
        "Hardware name: LENOVO 7667WAL/7667WAL, BIOS 7NETC2WW (2.22 ) 03/22/2011",
        "dump_hardware",
        {"hardware": "LENOVO 7667WAL/7667WAL, BIOS 7NETC2WW (2.22 ) 03/22/2011"},
    ),
    ("memeater cpuset=/ mems_allowed=0", "dump_cpuset", {"comm": "memeater", "cpuset": "/"}),
]


@pytest.mark.parametrize(("line", "kind", "fields"), LINES, ids=[f"{k}-{i}" for i, (_, k, _) in enumerate(LINES)])
def test_event_line(line: str, kind: str, fields: dict[str, str]) -> None:
    parsed = PARSER.parse(line)
    assert parsed is not None, line
    assert parsed.kind == kind
    for name, value in fields.items():
        assert parsed.fields.get(name) == value, (name, parsed.fields)


def test_every_kind_in_the_docstring() -> None:
    # The module docstring is the reference for rule writers: it must name every kind.
    doc = ev.__doc__ or ""
    assert [k for k in sorted(EVENT_KINDS) if f"``{k}``" not in doc] == []


@pytest.mark.parametrize(
    ("short", "long"),
    [
        ("INFO: task dd:1 blocked for more than 5 seconds.", "INFO: task dd:1234567 blocked for more than 86400 seconds."),
        ("Killed process 7 (a) total-vm:1kB, anon-rss:2kB", "Killed process 71234 (a) total-vm:12345678kB, anon-rss:2kB"),
    ],
)
def test_number_width_does_not_change_the_parse(short: str, long: str) -> None:
    a, b = PARSER.parse(short), PARSER.parse(long)
    assert a is not None and b is not None
    assert a.kind == b.kind
    assert a.fields.keys() == b.fields.keys()


@pytest.mark.parametrize(
    "line",
    [
        "DMA: preallocated 128 KiB GFP_KERNEL pool for atomic allocations",
        "percpu: Embedded 62 pages/cpu s217088 r8192 d28672 u1048576",
        "zswap: loaded using pool lzo/zbud",
        "stallmod: order-0 allocation failed after 38567 pages (150 MiB)",
        "kswapd0         D ffff880039ffb760     0    52      2 0x00000000",
    ],
)
def test_unrelated_lines_are_not_events(line: str) -> None:
    parsed = PARSER.parse(line)
    assert parsed is None or parsed.kind not in EVENT_KINDS


def test_oom_global_events() -> None:
    capture, _ = loaded("qemu/oom-global.log")
    kills = ev.oom_kills(capture.events)
    assert list(zip(kills["comm"], kills["pid"], strict=True)) == [("victim", 112), ("grower", 111)]
    assert list(kills["oom_score_adj"]) == [500, 0]
    assert not kills["memcg"].any()
    calls = ev.oom_invocations(capture.events)
    assert list(calls["comm"]) == ["grower", "grower"]
    assert list(calls["pid"]) == [111, 111]  # from the "CPU: .. PID: 111 Comm: grower" line after it
    assert calls["stack"].notna().all()
    assert ev.kernel_release(capture.events) == "6.1.0-56-amd64"


def test_memcg_oom_events() -> None:
    capture, _ = loaded("qemu/memcg-oom.log")
    kills = ev.oom_kills(capture.events)
    assert list(kills["comm"]) == ["leaker"]
    assert bool(kills["memcg"].iloc[0])
    summary = ev.of_kind(capture.events, "oom_kill_summary").iloc[0]
    assert ev.field(summary, "oom_memcg") == "/webapp"
    assert len(ev.of_kind(capture.events, "oom_memcg_stat")) == 33


def test_hung_task_events_link_their_trace() -> None:
    capture, _ = loaded("qemu/hung-task-fsfreeze.log")
    hung = ev.hung_tasks(capture.events)
    assert len(hung) == 8
    assert sorted(set(zip(hung["comm"], hung["pid"], strict=True))) == [("cat", 116), ("dd", 121), ("touch", 120)]
    touch = hung[hung["comm"] == "touch"].iloc[0]
    functions = [f for f, _ in ev.stack_frames(capture, touch["stack"])]
    assert "mnt_want_write" in functions


def test_zone_watermarks_of_the_thrashing_laptop() -> None:
    capture, _ = loaded("lkml/2017-03-14_real-laptop-syslog-warn-alloc-stalls-thrashing.log")
    zones = ev.zone_watermarks(capture.events)
    dma32 = zones[zones["zone"] == "DMA32"]
    assert len(dma32) == 4
    # Tetsuo's remark on this log: "DMA32 free:" is below "DMA32 min:".
    assert dma32["below_min"].all()
    assert list(dma32["min_kb"].unique()) == [44696]


def test_held_locks_name_their_holder() -> None:
    capture, _ = loaded("lkml/2016-02-25_oom-reaper-unable-mmap-sem-victim-stuck.log")
    held = ev.held_locks(capture.events)
    assert len(held) == 10
    assert set(held["lock"]) == {"&mm->mmap_sem"}
    assert list(held["holder_pid"][:2]) == [2269, 2371]
    assert set(held["function"]) == {"SyS_mremap"}


def test_busy_workqueues_with_rescuer() -> None:
    capture, _ = loaded("lkml/2017-03-03_wq-mem-reclaim-xfs-rescuer.log")
    busy = ev.busy_workqueues(capture.events)
    mayday = {p.workqueue for p in busy if p.mayday}
    assert mayday == {"xfs-data/sda1"}
    rescuers = {(p.workqueue, r) for p in busy for r in p.rescuers}
    assert rescuers == {("xfs-data/sda1", 451), ("xfs-eofblocks/sda1", 456)}
    pools = ev.workqueue_pools(capture.events)
    assert pools["hung"].max() == 673


def test_warn_alloc_ratelimit_counts() -> None:
    capture, _ = loaded("lkml/2017-07-14_oom-lock-holder-sched-idle-warn-alloc-ratelimit-inflight.log")
    suppressed = ev.suppressed_callbacks(capture.events)
    assert list(zip(suppressed["function"], suppressed["suppressed"], strict=True)) == [
        ("warn_alloc", 364),
        ("warn_alloc", 462),
        ("warn_alloc_show_mem", 9),
    ]
    stalls = ev.alloc_reports(capture.events)
    assert list(stalls["stall_ms"]) == [300124, 320133, 720318, 720370]
    assert list(stalls["pid"]) == [7193, 6697, 7193, 6697]


@pytest.mark.parametrize(
    "name",
    [
        "qemu/oom-global.log",
        "qemu/sysrq-m.log",
        "qemu/warn-alloc-failure.log",
        "lkml/2016-04-05_oom-livelock-xfs-nofs-noio.log",
        "lkml/2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log",
    ],
)
def test_report_blocks_leave_nothing_unparsed(name: str) -> None:
    # Every line of a Mem-Info, workqueue or OOM task-table dump is a kind of its own: an unparsed
    # line there would mean a format generation the grammars miss. (Call traces inside reports
    # belong to the trace grammars and are checked elsewhere.)
    capture, _ = loaded(name)
    events = capture.events
    blocks = events[events["kind"].astype(str).str.match(r"(meminfo|wq|oom_task)")]
    first, last = int(blocks["line"].min()), int(blocks["line"].max())
    inside = [u for u in capture.unparsed if first <= u.line <= last and "snipped" not in u.text]
    assert inside == []
