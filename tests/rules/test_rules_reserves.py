"""reserves-depleted on real logs: what the log authors said about the zones' watermarks."""

from __future__ import annotations

import pytest

from conftest import DATA, loaded
from stallscope.rules.base import Finding, Severity
from stallscope.rules.reserves_depleted import MEM_INFO_KINDS, _read_buddy, mem_info_dumps

AOSP = "wild/2016-06-26_real-aosp-build-4-6-2-reserves-depleted-before-oom-oom-count-zero.log"
CRASH_KERNEL = "wild/2019-08-12_real-dell-epyc-crash-kernel-boot-oom-no-killable-processes.log"
HIGHATOMIC = "wild/2020-06-16_real-android-arm64-binder-gfp-atomic-failure-highatomic-reserve.log"
POWERMAC = "wild/2024-05-15_powermac-g4-ppc32-kswapd-zswap-lowmem-atomic-failures.log"
RSNAPSHOT = "wild/2015-11-12_real-rsnapshot-xfs-md-server-4-1-2-free-below-min-finite-stalls-vmstat-pending.log"


def _found(name: str) -> list[Finding]:
    return [f for f in loaded(name)[1] if f.rule == "reserves-depleted"]


def _lines(name: str) -> list[str]:
    return (DATA / name).read_text(encoding="utf-8", errors="replace").splitlines()


def test_zones_at_zero_before_the_oom_killer_was_called() -> None:
    # Tetsuo Handa: "your 4.6.2 kernel is depleting memory reserves before invoking the OOM
    # killer. (oom_count=0 in MemAlloc-Info: line says out_of_memory() was never called)."
    (finding,) = _found(AOSP)
    assert finding.severity is Severity.WARNING
    assert "DMA32 free:0kB below min:7168kB" in finding.title
    assert "oom_count=0" in finding.explanation
    assert "Every free list of DMA, DMA32 is empty" in finding.explanation
    assert [e.line for e in finding.evidence] == [1, 3, 5, 6, 11]


def test_every_evidence_line_is_the_log_line() -> None:
    for name in (AOSP, CRASH_KERNEL, HIGHATOMIC, POWERMAC):
        lines = _lines(name)
        for item in _found(name)[0].evidence:
            assert item.text in lines[item.line - 1], (name, item.line)


def test_lowmem_reserve_closes_a_zone_above_min() -> None:
    # Michal Hocko: "the free memory is below min watermark (node zone DMA has lowmem
    # protection for GFP_KERNEL allocation)"; DMA free:484kB min:4kB, lowmem_reserve 125 pages.
    (finding,) = _found(CRASH_KERNEL)
    assert "Node 0 DMA32 free:1404kB below min:1428kB" in finding.title
    assert "Node 0 DMA free:484kB min:4kB (+500kB lowmem_reserve)" in finding.explanation
    assert "no process to kill" in finding.explanation
    assert {e.line for e in finding.evidence} == {48, 50, 111}


def test_free_pages_all_in_the_highatomic_reserve() -> None:
    # Jaewon Kim: order-0 GFP_ATOMIC failed while the only free pages were highatomic (H).
    (finding,) = _found(HIGHATOMIC)
    assert "672kB of it outside the high-order atomic reserve, min:6192kB" in finding.title
    assert "GFP_ATOMIC" in finding.explanation or "atomic" in finding.explanation
    assert [e.line for e in finding.evidence] == [23, 1]


def test_kswapd_failing_in_an_exhausted_lowmem_zone() -> None:
    # Yu Zhao: "OOM kills were due to the low memory conditions in the DMA zone where the kernel
    # itself failed to allocate from"; the Mem-Info prints no HighMem zone line.
    (finding,) = _found(POWERMAC)
    assert finding.title.split(": ", 1)[1] == "DMA free:0kB below min:11208kB, every kernel zone short in 3 of 3 dumps"
    assert "3 allocation failure(s) of requests allowed into the reserves" in finding.explanation
    assert 2 in {e.line for e in finding.evidence}  # kswapd0: page allocation failure


def test_zone_line_excerpt_says_what_it_does_not_show() -> None:
    # Tetsuo Handa: "free: remained below min: level ... There are many stalls which lasted for
    # finite period": the poster kept only the Normal zone lines.
    (finding,) = _found(RSNAPSHOT)
    assert "51 of 51 dumps" in finding.title
    assert "only the Node 0 Normal zone line(s)" in finding.explanation
    assert "no OOM killer invocation" in finding.explanation


@pytest.mark.parametrize("name", [
    # An OOM report at the watermark whose OOM killer kills: what an OOM report shows.
    "qemu/oom-global.log",
    # A laptop thrashing: DMA32 8 kB below min while warn_alloc reports stalls.
    "lkml/2017-03-14_real-laptop-syslog-warn-alloc-stalls-thrashing.log",
    # Normal 64 kB below min (DMA and DMA32 closed by lowmem_reserve) while tasks stall after an
    # OOM kill: a dip; the author blames the vmstat_update work left pending, not the reserves.
    "wild/2016-01-27_oom-stall-vmstat-update-workqueue-pending-disk-events-workfn.log",
    # A watchdog log whose Mem-Info stays above min.
    "wild/2015-11-20_real-rsnapshot-xfs-md-raid6-server-thp-order9-stall-fragmentation.log",
])
def test_no_finding_at_the_watermark(name: str) -> None:
    assert _found(name) == []


def test_a_dump_that_is_not_depleted_keeps_only_which_zones_it_showed() -> None:
    """165 real Mem-Info dumps, some depleted and some not: only the depleted ones are reported,
    so the others keep the keys of their zones (what completes a dump) and let go of the rest."""
    events = loaded("memalloc-qemu/oomwrite-1cpu-128M-w3.log")[0].events
    lines = events[events["kind"].isin(MEM_INFO_KINDS)]
    dumps = mem_info_dumps(lines.index, lines["kind"], lines["source"], lines["fields"], lines["ts"])
    depleted = [d for d in dumps if d.depleted]
    assert 0 < len(depleted) < len(dumps)
    assert all(d.zones and d.lowmem_keys == {z.key for z in d.lowmem()} for d in depleted)
    # A depleted dump's buddy lines are read in full when a finding cites their counts: until
    # then each zone holds its line's fields, and reading them gives the counts and the total.
    buddies = [z for d in depleted for z in d.zones if z.buddy_row is not None]
    assert buddies and all(z.buddy_fields is not None and not z.buddy_counts for z in buddies)
    for zone in buddies:
        _read_buddy(zone)
    assert all(z.buddy_counts and z.buddy_fields is None for z in buddies)
    assert sum(z.buddy_kb for z in buddies) > 0
    assert all(not d.zones and d.lowmem_keys for d in dumps if not d.depleted)
    assert {key[1] for d in dumps for key in d.lowmem_keys} >= {"DMA", "DMA32"}
