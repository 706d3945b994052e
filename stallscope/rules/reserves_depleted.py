"""reserves-depleted: Mem-Info shows every zone the kernel can allocate from below its min watermark.

Below the min watermark only callers allowed into the reserves allocate: atomic and __GFP_HIGH
requests (ALLOC_HIGH/ALLOC_HARDER), PF_MEMALLOC reclaimers such as kswapd and OOM victims
(ALLOC_NO_WATERMARKS). An ordinary GFP_KERNEL request fails the watermark check, reclaims and,
failing that, calls the OOM killer. So free memory below min in every zone means the reserves
are being eaten; with nothing left even atomic requests and kswapd fail.

The kernel checks a zone against ``min + lowmem_reserve[class]``: a lower zone keeps memory back
from requests that could have used a higher zone (``lowmem_reserve[]: 0 125 125 125`` under the
DMA line), so a DMA zone with free above min can still be closed to a DMA32 request. Free blocks
all in the high-order atomic reserve (``(H)`` on every buddy list) are closed to order-0
requests. Only lowmem zones count: kernel allocations cannot use HighMem or Movable.

Mem-Info at the min watermark is what an OOM report normally shows, so the rule speaks only when
the depletion is more than that: a zone at ``free:0kB``, atomic or __GFP_HIGH requests (or kswapd
itself) failing, tasks stalling while the OOM killer stays silent, or the OOM killer finding
nothing to kill.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from stallscope.capture.events import number_of, numbers_of
from stallscope.capture.model import missing, timestamp
from stallscope.capture.packed_fields import field_texts, read_each
from stallscope.rules.base import Finding, HostView, Severity, distinct_lines, in_boot
from stallscope.rules.common.task_facts import is_kswapd, label, latest_by_boot, wait_site_of

RULE = "reserves-depleted"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 85
SEVERITY = "warning"
SUMMARY = (
    "Mem-Info shows every zone kernel allocations can use below its min watermark (free:0kB, empty "
    "free lists), together with atomic failures, a failing kswapd or a silent OOM killer: the memory "
    "reserves are used up."
)
NEXT_STEPS: str | None = (
    "who allocates below the watermarks (GFP_ATOMIC / __GFP_HIGH callers, PF_MEMALLOC tasks, OOM "
    "victims) and vm.min_free_kbytes"
)
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.0, 0.5)

# Zones kernel allocations cannot use: their watermarks do not protect the kernel's requests.
_NOT_LOWMEM = frozenset({"HighMem", "Movable", "Device"})
# A request allowed below min: atomic (ALLOC_HARDER) or __GFP_HIGH (ALLOC_HIGH). "__GFP_HIGH"
# must not be read in "__GFP_HIGHMEM". One that says __GFP_NOMEMALLOC was barred from the
# reserves (kswapd's own, or a mempool's or slab's first try): its failure says nothing of them.
_RESERVE_USER = re.compile(r"GFP_ATOMIC|__GFP_ATOMIC|__GFP_HIGH(?![A-Z])")
_MAX_ZONE_EVIDENCE = 4


@dataclass(slots=True)
class Zone:
    """One zone line of a Mem-Info dump with what the lines after it say about it."""

    row: int  # event row of the zone line
    key: tuple[int | None, str]  # (node, zone)
    free_kb: int
    min_kb: int
    populated: bool
    reserve: tuple[int, ...] = ()  # lowmem_reserve[] in pages
    buddy_row: int | None = None
    buddy_counts: tuple[int, ...] = ()
    buddy_kb: int = 0
    # Where the buddy line's fields are (its column and row) until its counts are read
    # (_read_buddy): only the zones a finding cites are.
    buddy_fields: tuple[Any, int] | None = None
    highatomic_only: bool = False  # every non-empty free list is (H)
    page_kb: int = 4
    closed_by_reserve: int = 0  # kB held back by lowmem_reserve from the class of the dump's top zone

    @property
    def name(self) -> str:
        node, zone = self.key
        return zone if node is None else f"Node {node} {zone}"

    @property
    def usable_kb(self) -> int:
        """Free memory an order-0 request outside the high-order atomic reserve can take."""
        return max(0, self.free_kb - self.buddy_kb) if self.highatomic_only else self.free_kb

    @property
    def below_min(self) -> bool:
        return self.usable_kb < self.min_kb

    @property
    def closed(self) -> bool:
        """The watermark check fails for an order-0 request: free <= min + lowmem_reserve."""
        return self.usable_kb <= self.min_kb + self.closed_by_reserve


@dataclass(slots=True)
class Dump:
    source: str
    ts: float | None
    headed: bool  # begun by "Mem-Info:" (not an excerpt of zone lines)
    zones: list[Zone] = field(default_factory=list)
    # The (node, zone) of its populated lowmem zones, kept when the zones are let go (_finish).
    lowmem_keys: frozenset[tuple[int | None, str]] = frozenset()
    depleted: bool = False  # every lowmem zone fails the watermark check (_depleted), once finished

    def lowmem(self) -> list[Zone]:
        return [z for z in self.zones if z.key[1] not in _NOT_LOWMEM and z.populated]

    @property
    def deep(self) -> bool:
        """Some kernel zone has less than half its min watermark free: more than a dip at the watermark."""
        return any(z.usable_kb < z.min_kb // 2 for z in self.lowmem())

    @property
    def empty(self) -> bool:
        """Some kernel zone is at free:0kB (or has nothing outside the high-order atomic reserve)."""
        return any(z.usable_kb == 0 for z in self.lowmem())


def _depleted(lowmem: list[Zone]) -> bool:
    """Every one of a dump's populated lowmem zones fails the watermark check, one below min."""
    return bool(lowmem) and all(z.closed for z in lowmem) and any(z.below_min for z in lowmem)


# The Mem-Info lines a dump is read from.
MEM_INFO_KINDS = ("meminfo_header", "meminfo_zone", "meminfo_lowmem_reserve", "meminfo_buddy")


# The Mem-Info lines of a boot are read this many at a time (each part's fields as arrays and
# lists): a long boot has millions.
_PART_ROWS = 1 << 16


def mem_info_dumps(labels: Any, kinds: Any, sources: Any, fields: Any, stamps: Any) -> list[Dump]:
    """The zone lines of each Mem-Info dump, in log order, with their reserve and buddy lines
    (the row labels, kinds, sources, fields and timestamps of the lines of MEM_INFO_KINDS of one
    boot, in log order, as arrays or Series: read a part at a time, and each field's distinct
    texts once, not a Fields made per line: a long serial capture has millions of these lines,
    each dump with other numbers).

    A dump begins at "Mem-Info:" or where a zone line repeats a zone of the current dump (an
    excerpt of zone lines without their header). Dumps that lack a zone the same source printed
    elsewhere (an excerpt of one zone) are dropped: they cannot say every zone was short.
    """
    kind_codes, kind_names = pd.factorize(kinds, use_na_sentinel=False)
    kind_of = {str(name): at for at, name in enumerate(kind_names)}
    header, zone_kind, reserve_kind, buddy_kind = (kind_of.get(kind, -1) for kind in MEM_INFO_KINDS)
    source_codes, source_names = pd.factorize(sources, use_na_sentinel=False)
    names = [str(name) for name in source_names]
    column = fields.array if isinstance(fields, pd.Series) else fields
    labels, stamps = np.asarray(labels), np.asarray(stamps)
    dumps: list[Dump] = []
    current: Dump | None = None
    current_source = -1
    headed = False
    shown: set[object] = set()  # the (node, zone) of the current dump's zone lines
    for start in range(0, len(kind_codes), _PART_ROWS):
        part = slice(start, start + _PART_ROWS)
        kinds_of_part = kind_codes[part]
        said = _part_lines(column, start, kinds_of_part, zone_kind, reserve_kind, buddy_kind)
        for index, kind, source, what, ts in zip(labels[part].tolist(), kinds_of_part.tolist(),
                                                 source_codes[part].tolist(), said, stamps[part].tolist(),
                                                 strict=True):
            if current is not None and current_source != source:
                current, headed = None, False
            if kind == header:
                current, headed = None, True
            elif kind == zone_kind:
                if what is None:
                    continue
                key = what[0]
                if current is None or key in shown:
                    if dumps:
                        _finish(dumps[-1])
                    current, current_source = Dump(names[source], timestamp(ts), headed), source
                    dumps.append(current)
                    headed = False
                    shown = set()
                shown.add(key)
                current.zones.append(Zone(index, *what))
            elif kind == reserve_kind and current is not None and current.zones:
                last = current.zones[-1]
                if not last.reserve:
                    last.reserve = what
            elif kind == buddy_kind and current is not None and what is not None:
                _attach_buddy(current, index, *what)
    if dumps:
        _finish(dumps[-1])
    return _complete(dumps)


def _part_lines(column: Any, start: int, kinds: np.ndarray, zone_kind: int, reserve_kind: int,
                buddy_kind: int) -> list[Any]:
    """What each line of a part (``kinds``: its lines' kind codes, from row ``start`` of
    ``column``) says, by kind: a zone line its (node, zone), free and min kB and whether it is
    populated (None: not a zone line one can read); a lowmem_reserve line its reserves; a buddy
    line its (node, zone), page size, whether every free list is (H), and where its fields are
    (None: a missing cell)."""
    said: list[Any] = [None] * len(kinds)
    rows = np.flatnonzero(kinds == zone_kind)
    if len(rows):
        _, codes, strings = field_texts(column.take(rows + start), _ZONE_FIELDS)
        free_at, min_at, zone_at, node_at, names_at, values_at = codes
        free, minimum, node = (read_each(at, strings, number_of) for at in (free_at, min_at, node_at))
        zone, counter_names, counter_values = (read_each(at, strings, _text) for at in (zone_at, names_at, values_at))
        for at, row in enumerate(rows.tolist()):
            said[row] = _zone_line(free[at], minimum[at], zone[at], node[at], counter_names[at], counter_values[at])
    rows = np.flatnonzero(kinds == reserve_kind)
    if len(rows):
        _, (codes,), strings = field_texts(column.take(rows + start), ("reserve",))
        for row, reserve in zip(rows.tolist(), read_each(codes, strings, _reserves), strict=True):
            said[row] = reserve
    rows = np.flatnonzero(kinds == buddy_kind)
    if len(rows):
        present, codes, strings = field_texts(column.take(rows + start), _BUDDY_FIELDS)
        node, zone = read_each(codes[0], strings, number_of), read_each(codes[1], strings, _text)
        page_kb, highatomic = read_each(codes[2], strings, _page_kb), read_each(codes[3], strings, _highatomic_only)
        for at, row in enumerate(rows.tolist()):
            if present[at]:
                said[row] = ((node[at], zone[at] or ""), page_kb[at], highatomic[at], (column, row + start))
    return said


def _text(text: object) -> object:
    return text


def _zone_line(free: int | None, minimum: int | None, name: str | None, node: int | None, names: str | None,
               values: str | None) -> tuple[tuple[int | None, str], int, int, bool] | None:
    """A zone line's (node, zone), free and min kB and whether it is populated."""
    if free is None or minimum is None or name is None:
        return None
    # show_free_areas() prints only populated zones; a zone with no managed pages has no
    # watermarks worth the name (min:0kB).
    populated = minimum > 0 and _managed_pages(names, values) > 0
    return (node, name), free, minimum, populated


_ZONE_FIELDS = ("free_kb", "min_kb", "zone", "node", "name", "value")


def _finish(dump: Dump) -> None:
    """A dump no later line adds to: its reserves applied; one that is not depleted keeps only
    which zones it showed (a long boot of a real capture has tens of thousands of dumps, each
    printing other numbers, and only the depleted ones are reported). The buddy counts are read
    for the one dump a finding cites (in a capture of one OOM storm nearly every dump is
    depleted: the bench's synthetic family has 11,000)."""
    _close_by_reserve(dump)
    lowmem = dump.lowmem()
    dump.lowmem_keys = frozenset([z.key for z in lowmem])
    dump.depleted = _depleted(lowmem)
    if not dump.depleted:
        dump.zones = []


# Bounds _COUNTER_AT: a capture prints few sets of zone counter names.
_MAX_COUNTER_NAMES = 20_000


def _managed_pages(names: str | None, values: str | None) -> int:
    """The zone line's ``managed:`` (else ``present:``) counter; 1 when it printed neither."""
    where = _COUNTER_AT.get(names)
    if where is None:
        if len(_COUNTER_AT) >= _MAX_COUNTER_NAMES:
            _COUNTER_AT.clear()
        where = _COUNTER_AT[names] = _counter_at(names)  # type: ignore[index]
    if not where:
        return 1
    numbers = values.split() if values else []
    # As a dict of the counters has it: of a repeated name the last one with a value.
    for places in where:
        for at in places:
            if at < len(numbers):
                return int(numbers[at])
    return 1


def _counter_at(names: str | None) -> tuple[tuple[int, ...], ...]:
    """Where ``managed`` and ``present`` stand among a zone line's counter names (each name's
    places, the last first; managed first), by the names' string: a boot prints one set of names."""
    parts = (names or "").split()
    return tuple(places for name in ("managed", "present")
                 if (places := tuple(at for at in range(len(parts) - 1, -1, -1) if parts[at] == name)))


# Counter names -> where managed and present stand: a capture prints few sets of names.
_COUNTER_AT: dict[str | None, tuple[tuple[int, ...], ...]] = {}


def _reserves(text: str | None) -> tuple[int, ...]:
    return tuple(numbers_of(text))


def _page_kb(sizes: str | None) -> int:
    """The page size of a buddy line: its first block size (4 where it printed none)."""
    first = sizes.split(None, 1) if sizes else None
    return int(first[0]) if first else 4


def _highatomic_only(types: str | None) -> bool:
    """Every free list of a buddy line is of the high-order atomic reserve, ``(H)``."""
    # Most buddy lines have no (H) list at all: only those are taken apart.
    parts = types.split() if types and "(H)" in types else []
    return bool(parts) and all(t == "(H)" for t in parts)


def _attach_buddy(dump: Dump, index: int, key: tuple[int | None, str], page_kb: int, highatomic_only: bool,
                  fields_at: tuple[Any, int]) -> None:
    """The buddy line (``Node 0 DMA32: 12*4kB (UM) ... = 48kB``) to its zone of ``dump``: what
    the watermark check needs of it now (its page size, whether every free block is in the
    high-order atomic reserve), its counts once the dump is known to be depleted."""
    for zone in dump.zones:
        if zone.key == key and zone.buddy_row is None:
            break
    else:
        return
    zone.buddy_row = index
    zone.buddy_fields = fields_at
    zone.page_kb = page_kb
    if highatomic_only:
        _read_buddy(zone)
        zone.highatomic_only = zone.buddy_kb > 0


_BUDDY_FIELDS = ("node", "zone", "size_kb", "migrate_types")


def _read_buddy(zone: Zone) -> None:
    """The free block counts and total of the zone's buddy line, read once."""
    if zone.buddy_fields is None:
        return
    column, at = zone.buddy_fields  # type: ignore[misc]
    zone.buddy_fields = None
    fields = column[at]
    zone.buddy_counts = tuple(numbers_of(fields.get("count")))
    zone.buddy_kb = number_of(fields.get("total_kb")) or 0


def _close_by_reserve(dump: Dump) -> None:
    """Set each zone's lowmem_reserve against requests whose highest zone is the dump's top lowmem zone.

    lowmem_reserve[] is indexed by zone type; the printed lowmem zones are taken as types 0, 1, ...
    in order, which holds when no lower zone is empty (an empty one makes this an underestimate).
    """
    lowmem = [z for z in dump.zones if z.key[1] not in _NOT_LOWMEM]
    top = len(lowmem) - 1
    for zone in lowmem:
        if len(zone.reserve) > top >= 0:
            zone.closed_by_reserve = zone.reserve[top] * zone.page_kb


def _complete(dumps: list[Dump]) -> list[Dump]:
    known: dict[str, set[tuple[int | None, str]]] = {}
    for dump in dumps:
        known.setdefault(dump.source, set()).update(dump.lowmem_keys)
    return [d for d in dumps if d.lowmem_keys >= known[d.source]]


@dataclass(slots=True)
class Context:
    """What the rest of the log says about the reserves: who failed, what the OOM killer did."""

    reserve_failures: list[int]  # failure reports of requests allowed below min, or of kswapd
    failures: int
    oom_invoked: int
    oom_kills: int
    no_killable: list[int]
    zero_oom_count: list[int]  # watchdog lines with stalls and oom_count=0
    stalls_after_oom: int  # watchdog reports with stalling tasks, warn_alloc stalls, after the last OOM line

    @property
    def oom_silent(self) -> bool:
        """Tasks stall and the OOM killer has not spoken since (or ever)."""
        return self.stalls_after_oom > 0


def _context(view: HostView, boot: int) -> Context:
    failures = view.boot_records(boot, "warn_alloc_failure")
    reserve_failures = []
    for index, row in failures:
        names = str((row["fields"] or {}).get("gfp_names", ""))  # type: ignore[attr-defined]
        if (_RESERVE_USER.search(names) or is_kswapd(row["comm"])) and "__GFP_NOMEMALLOC" not in names:
            reserve_failures.append(int(index))  # type: ignore[call-overload]
    # On arrays: a boot's few reports, and each Series operation costs its fixed cost.
    at = view.boot_rows("snapshots", boot)
    if len(at):
        labels, stalling_all, oom_counts, stamps = view.of_view("reserves-depleted snapshot columns", _snapshot_columns)
        stalling = stalling_all[at]
        zero = labels[at[stalling & (oom_counts[at] == 0)]]
        stalled_at = stamps[at[stalling]]
    else:
        zero, stalled_at = view.snapshots.index[:0], np.zeros(0)
    # Only counts and times of these: read without making each line's record.
    oom = _times(view.records_by_boot("oom_invoke", "oom_killed_process", "oom_kill_process").values(boot, "ts"))
    # Reading order is the row order of both tables within a source; across sources, time.
    last_oom = float(np.nanmax(oom)) if len(oom) and not np.isnan(oom).all() else None
    stalls = np.concatenate([stalled_at, _times(view.records_by_boot("warn_alloc_stall").values(boot, "ts"))])
    if last_oom is not None:
        stalls = stalls[stalls > last_oom]
    elif len(oom):
        stalls = stalls[:0]  # OOM lines without time: no telling what came after them
    return Context(
        reserve_failures=reserve_failures,
        failures=len(failures),
        oom_invoked=view.records_by_boot("oom_invoke").count(boot),
        oom_kills=view.records_by_boot("oom_killed_process", "oom_kill_process").count(boot),
        no_killable=[int(i) for i in view.records_by_boot("oom_no_killable").values(boot, None)],  # type: ignore[call-overload]
        zero_oom_count=[int(i) for i in zero],
        stalls_after_oom=len(stalls),
    )


def _snapshot_columns(view: HostView) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The watchdog lines' labels, whether tasks were stalling, oom_count and time, as arrays
    once per view (converted per boot, each boot read the whole window's columns)."""
    snaps = view.snapshots
    return (snaps.index.to_numpy(), snaps["stalling"].to_numpy(dtype="int64", na_value=0) > 0,
            snaps["oom_count"].to_numpy(dtype="float64", na_value=np.nan),
            snaps["ts"].to_numpy(dtype="float64", na_value=np.nan))


def _times(stamps: list[object]) -> np.ndarray:
    """These timestamps as an array (NaN where a line had none)."""
    return np.array([np.nan if missing(ts) else float(ts) for ts in stamps], dtype="float64")  # type: ignore[arg-type]


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    findings = []
    lines = view.records_by_boot(*MEM_INFO_KINDS)
    for boot in lines:
        finding = _of_boot(view, boot, mem_info_dumps(
            *(lines.array(boot, name) for name in (None, "kind", "source", "fields", "ts"))))
        if finding is not None:
            findings.append(in_boot(finding, boot))
    return findings


def _of_boot(view: HostView, boot: int, dumps: list[Dump]) -> Finding | None:
    depleted = [d for d in dumps if d.depleted]
    if not depleted:
        return None
    context = _context(view, boot)
    empty = [d for d in depleted if d.empty]
    deep = any(d.deep for d in depleted)
    if not (empty or context.reserve_failures or context.no_killable or (context.oom_silent and deep)):
        # At the watermark while the OOM killer acts (what an OOM report shows), or a dip of a
        # few pages below min while tasks thrash: the reserves are not what gave out.
        return None
    worst = empty[-1] if empty else depleted[-1]
    return _finding(view, boot, dumps, depleted, worst, context)


def _zone_text(zone: Zone) -> str:
    text = f"{zone.name} free:{zone.free_kb}kB min:{zone.min_kb}kB"
    if zone.highatomic_only:
        text += f" (all {zone.buddy_kb}kB of its free blocks in the high-order atomic reserve)"
    elif not zone.below_min and zone.closed_by_reserve:
        text += f" (+{zone.closed_by_reserve}kB lowmem_reserve)"
    return text


def _finding(view: HostView, boot: int, dumps: list[Dump], depleted: list[Dump], worst: Dump, context: Context
             ) -> Finding:
    zones = worst.lowmem()
    count = f"{len(depleted)} of {len(dumps)} Mem-Info dumps" if len(dumps) > 1 else "the Mem-Info dump"
    why = [f"In {count} every zone kernel allocations can use fails its min watermark check: "
           + ", ".join(_zone_text(z) for z in zones) + "."]
    reserved = [z for z in zones if not z.below_min and z.closed_by_reserve]
    if reserved:
        why.append(", ".join(z.name for z in reserved) + " still has free pages above min, but they are held back "
                   "by lowmem_reserve from requests that may use a higher zone (the kernel checks free against "
                   "min + lowmem_reserve).")
    if any(z.highatomic_only for z in zones):
        why.append("Every free block left is in the high-order atomic reserve (H), which order-0 requests cannot "
                   "take: the min watermark did not protect them from ordinary allocations.")
    if not worst.headed and not any(z.buddy_row is not None for z in worst.zones):
        names = ", ".join(z.name for z in worst.zones)
        why.append(f"The log holds only the {names} zone line(s) of these dumps, without their Mem-Info header: "
                   "zones it does not show are not judged.")
    why.append("Below min only atomic and __GFP_HIGH requests, PF_MEMALLOC reclaimers (kswapd, direct reclaim) "
               "and OOM victims may allocate: the reserves they rely on are used up.")
    for zone in zones:
        _read_buddy(zone)
    empty_lists = [z for z in zones if z.buddy_row is not None and not any(z.buddy_counts)]
    high_empty = [z for z in zones if z.buddy_row is not None and any(z.buddy_counts) and not any(z.buddy_counts[1:])]
    if empty_lists:
        why.append("Every free list of " + ", ".join(z.name for z in empty_lists) + " is empty (= 0kB).")
    if high_empty:
        why.append("No free block above order 0 in " + ", ".join(z.name for z in high_empty) + ".")
    why += _correlations(view, boot, context)
    evidence = [view.event_evidence(z.row) for z in zones[:_MAX_ZONE_EVIDENCE]]
    evidence += [view.event_evidence(z.buddy_row) for z in empty_lists[:2] if z.buddy_row is not None]
    evidence += [view.event_evidence(i) for i in context.reserve_failures[:2]]
    evidence += [view.event_evidence(i) for i in context.no_killable[:1]]
    evidence += [view.snapshot_evidence(i) for i in context.zero_oom_count[-1:]]
    title = (f"Memory reserves depleted: {_short(min(zones, key=lambda z: z.usable_kb - z.min_kb))}"
             + (f", every kernel zone short in {len(depleted)} of {len(dumps)} dumps" if len(dumps) > 1 else ""))
    return Finding(rule=RULE, severity=Severity.WARNING, title=title, explanation=" ".join(why),
                   evidence=distinct_lines(evidence))


def _short(zone: Zone) -> str:
    """The shortest zone in a title: its free memory against min, as the zone line prints them."""
    if zone.highatomic_only:
        return (f"{zone.name} free:{zone.free_kb}kB, {zone.usable_kb}kB of it outside the high-order atomic "
                f"reserve, min:{zone.min_kb}kB")
    return f"{zone.name} free:{zone.free_kb}kB below min:{zone.min_kb}kB"


def _correlations(view: HostView, boot: int, context: Context) -> list[str]:
    out: list[str] = []
    if context.reserve_failures:
        out.append(f"{len(context.reserve_failures)} allocation failure(s) of requests allowed into the reserves "
                   "(GFP_ATOMIC, __GFP_HIGH or kswapd's own) are logged: even the reserves could not serve them.")
    elif context.failures:
        out.append(f"{context.failures} allocation failure(s) are logged.")
    if context.no_killable:
        out.append("The OOM killer found no process to kill: nothing can give the memory back.")
    elif context.zero_oom_count:
        out.append("The watchdog line says oom_count=0 while tasks stall: out_of_memory() was never called, so "
                   "the reserves went before the OOM killer was invoked (a caller allocating without watermarks, "
                   "or requests that may not invoke it).")
    elif context.oom_silent and not (context.oom_invoked or context.oom_kills):
        out.append("Tasks stall but no OOM killer invocation is logged: the reserves are used up without the OOM "
                   "killer being called.")
    elif context.oom_silent:
        out.append(f"{context.stalls_after_oom} stall report(s) follow the last OOM killer line and the OOM killer "
                   "stays silent since.")
    elif context.oom_invoked or context.oom_kills:
        out.append(f"The OOM killer was invoked {context.oom_invoked} time(s) and killed {context.oom_kills} "
                   "task(s) in this log.")
    kswapd = [t for t in latest_by_boot(view).get(boot, []) if is_kswapd(view.cell("tasks", t, "comm"))]
    for task in kswapd[:2]:
        state = view.cell("tasks", task, "state")
        site = wait_site_of(view, task)
        where = site.waiting() if site.caller or site.primitive else ""
        parts = [f"in state {state}" if isinstance(state, str) else "", where]
        said = ", ".join(p for p in parts if p)
        if said:
            out.append(f"{label(view, task)} is {said}.")
    return out
