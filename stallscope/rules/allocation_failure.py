"""allocation-failure: the page allocator gave up and returned NULL ("page allocation failure").

The caller asked for a mode that may fail (__GFP_NORETRY, __GFP_NOWAIT, atomic, high order) and
memory could not be found in time. Whether that is harmful depends on the caller's fallback, so
the finding names the order, the mode and the function that allocated.

Three more reports of the same: the contiguous memory allocator's "cma_alloc: alloc failed",
SLUB's "Unable to allocate memory on node" (a slab cache could not get a page; it asked the page
allocator not to warn), and a warn_alloc() trace whose first line is not in the capture (a paste
that begins at its "CPU:" line, a console that dropped it).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right

import numpy as np
import pandas as pd

from stallscope.capture import events as event_tables
from stallscope.capture.events import field, int_field, suppressed_of
from stallscope.capture.fields import is_fields
from stallscope.capture.model import missing
from stallscope.capture.stacks import guilty_frame, normalize_function, reliable_functions
from stallscope.rules.base import Evidence, Finding, HostView, Severity, TaskRef, in_boot
from stallscope.rules.common.noise import noise_reason
from stallscope.rules.common.task_facts import (
    REPORTERS,
    alloc_reports_by_boot,
    report_gfp_names,
    stack_functions,
    trace_after,
    trace_frame_evidence,
)

RULE = "allocation-failure"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 120
SEVERITY = "warning / info"
SUMMARY = (
    "The page allocator gave up (page allocation failure, SLUB's \"Unable to allocate memory\", a failed "
    "cma_alloc, a warn_alloc trace whose first line is lost): the request, its gfp flags and the frame that "
    "made it; an order-9+ __GFP_NORETRY or khugepaged request is called background noise (info)."
)
NEXT_STEPS: str | None = None
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# What it derives that other rules derive too, at a cost on a long boot (seconds, or hundreds of
# MB): forked, rules that share one run in one process, which derives it once (stallscope.rules).
SHARED_DERIVATIONS = (REPORTERS,)
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.0, 0.194)


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True

# The kinds each boot's reading starts from: a boot without any has no finding.
_KINDS = ("warn_alloc_failure", "slub_alloc_failure", "cma_alloc_failure", "kernel_warning", "dump_cpu")


def check(view: HostView) -> list[Finding]:
    failures = alloc_reports_by_boot(view, "warn_alloc_failure")
    findings: list[Finding] = []
    for boot in sorted(set().union(*(view.records_by_boot(kind) for kind in _KINDS))):
        found = (_page_failures(view, boot, failures.get(boot, [])) + _slab_failures(view, boot)
                 + _cma_failures(view, boot) + _too_large(view, boot) + _headless_warnings(view, boot))
        findings += [in_boot(finding, boot) for finding in found]
    return findings


def _page_failures(view: HostView, boot: int, failures: list[dict[str, object]]) -> list[Finding]:
    """One finding per request of a boot's page allocation failures (rows of ``alloc_reports`` as dicts)."""
    if not failures:
        return []
    suppressed = suppressed_of(view.boot_records(boot, "ratelimit_suppressed"), "warn_alloc")
    dropped = sum(int(row["suppressed"]) for row in suppressed  # type: ignore[call-overload]
                  if row["function"] == "warn_alloc" and not missing(row["suppressed"]))
    counters: dict[object, tuple[np.ndarray, list[object]]] | None = None
    findings: list[Finding] = []
    for (comm, order, mode), rows in _by_request(failures):
        first = rows[0]
        # Before 4.6 the line gives the mask in hex only: name it for the log's kernel. A reading
        # the eras cannot settle (a tie, "A (eras) or B (eras)") stays out of the title.
        decoded = None if first["gfp_names"] else report_gfp_names(view, first["source"], mode, boot)
        settled = decoded.text if decoded and " or " not in decoded.text else None
        names = first["gfp_names"] or settled or mode or "unknown mode"
        functions = reliable_functions(view.stack_frames(first["stack"]))
        caller = guilty_frame(functions) if functions else None
        pid = first["pid"]
        who = f"{comm}" + (f"({int(pid)})" if pid is not None and not pd.isna(pid) else "")
        where = f" in {caller}" if caller else ""
        title = f"Allocation failure: {who} order-{order} {names}{where}" + (
            f" ({len(rows)} reports)" if len(rows) > 1 else ""
        )
        why = [
            f"The page allocator failed an order-{order} allocation with mode {mode}"
            + (f" ({names})" if names != mode else "") + " for "
            f"{who}{', called from ' + caller if caller else ''}."
        ]
        if decoded:
            why.append(f"The kernel printed the mode in hex only; decoded: {decoded.text} ({decoded.how}).")
        if "NORETRY" in str(names) or "NOWAIT" in str(names) or "ATOMIC" in str(names):
            why.append("The mode allows failure (no retry / no sleeping), so the caller must handle NULL; "
                       "the OOM killer is not invoked for it.")
        if "__GFP_NOMEMALLOC" in str(names):
            why.append("The request forbids the memory reserves (__GFP_NOMEMALLOC): callers pass it on a first "
                       "try they can fall back from (a mempool before its pool, slab refilling its per-CPU caches "
                       "before its slow path, the network stack before the pfmemalloc reserves), so the caller may "
                       "well have gone on; only a failure the caller itself reports is one.")
        if order is not None and not pd.isna(order) and int(order) > 0:
            why.append("A higher-order request needs physically contiguous pages: fragmentation can make it "
                       "fail while plenty of memory is free.")
        if counters is None and "MOVABLE" not in str(names):
            counters = _lines_by_source(view, boot, "meminfo_counters", "fields")
        cma = None if "MOVABLE" in str(names) else _free_is_cma(counters or {}, first)
        if cma is not None:
            title += " (free memory is all CMA)"
            why.append(f"Nearly all free memory is CMA (free_cma:{cma[0]} of free:{cma[1]} pages in the Mem-Info "
                       "of the report): CMA pageblocks serve only movable allocations (page cache, user memory), "
                       "so this request, not movable, found nothing it may use while memory was free: the memory "
                       "outside the CMA area is used up. A smaller CMA area (cma= on the command line, or the "
                       "device tree) leaves more to kernel allocations.")
        if dropped:
            why.append(f"printk's ratelimit dropped {dropped} warn_alloc() report(s): there were more.")
        noise = noise_reason(comm, order, names)
        if noise:
            title = f"Background noise: {title[0].lower()}{title[1:]}"
            why.append(f"This is background noise, not a shortage that holds anything up: {noise}.")
        evidence = [Evidence.of_row(r) for r in rows[:3]]
        tasks = [TaskRef(str(comm), int(pid))] if pid is not None and not pd.isna(pid) else []
        findings.append(
            Finding(
                rule=RULE,
                severity=Severity.INFO if noise else Severity.WARNING,
                title=title,
                explanation=" ".join(why),
                evidence=evidence,
                tasks=tasks,
            )
        )
    return findings


Request = tuple[object, object, object]


def _by_request(failures: list[dict[str, object]]) -> list[tuple[Request, list[dict[str, object]]]]:
    """The reports grouped by (comm, order, mode) in order of first appearance, a missing value
    as NaN, as ``groupby(..., sort=False, dropna=False)`` groups them (without pandas' cost per
    group: a boot's handful of reports cost a millisecond that way)."""
    groups: dict[tuple[object, ...], tuple[Request, list[dict[str, object]]]] = {}
    for row in failures:
        shown = tuple(math.nan if missing(row[c]) else row[c] for c in ("comm", "order", "mode"))
        key = tuple(None if missing(value) else value for value in shown)
        groups.setdefault(key, (shown, []))[1].append(row)  # type: ignore[arg-type]
    return list(groups.values())


# The page allocator's entry points, whose only WARNING is an order above MAX_ORDER.
_ALLOC_ENTRY = frozenset({"__alloc_pages_nodemask", "__alloc_pages", "__alloc_pages_noprof"})
# Lines from a failure report to the global counters of its Mem-Info (after its trace), and the
# share of free pages in CMA pageblocks that makes the free memory useless to a request not movable.
_MEMINFO_REACH = 120
_CMA_SHARE = 0.9
# cma_alloc's error codes (include/uapi/asm-generic/errno-base.h).
_ERRNO = {-12: "ENOMEM, no free range of that size", -16: "EBUSY, pages in the range could not be migrated",
          -4: "EINTR, interrupted by a fatal signal"}
# A memory cgroup's own copy of a slab cache (kmem accounting, 3.x-4.x): "ip6_dst_cache(0:18479a49f...)",
# "dentry(4:session-1.scope)" (memcg_create_kmem_cache names it "%s(%d:%s)": cache, id, cgroup).
_MEMCG_CACHE = re.compile(r"^(?P<cache>[^()\s]+)\((?P<id>\d+):(?P<cgroup>[^()]*)\)$")
# Lines from SLUB's failure line to its cache line, and from a "CPU:" line to the trace it heads.
_SLUB_REACH = 3
# A page allocation failure's report (trace, Mem-Info, swap and page-cache lines) runs to about this
# many lines: a SLUB failure line within it is the same failure, told by the slab allocator.
_PAGE_REPORT_REACH = 400
# The slab allocator growing a cache (SLUB, and SLAB before 6.5).
_SLAB_PATH = frozenset({"new_slab", "allocate_slab", "___slab_alloc", "__slab_alloc", "cache_grow", "cache_grow_begin",
                        "cache_alloc_refill", "fallback_alloc", "____cache_alloc_node"})
_CPU_REACH = 12


def _slab_failures(view: HostView, boot: int) -> list[Finding]:
    """SLUB's "Unable to allocate memory on node -1 (gfp=0x8020)", grouped by the cache named on
    the line after it ("cache: ip6_dst_cache(...), object size: 448, ...")."""
    failures = view.boot_records(boot, "slub_alloc_failure")
    if not failures:
        return []
    caches = _lines_by_source(view, boot, "slub_cache", None)
    page_lines = _lines_by_source(view, boot, "warn_alloc_failure", None)
    pages = view.records_by_boot("warn_alloc_failure")
    page_stacks = dict(zip(pages.values(boot, None), pages.values(boot, "stack"), strict=True))
    groups: dict[str, list[tuple[dict[str, object], int | None]]] = {}
    told: set[int] = set()
    for _, row in failures:
        line = int(row["line"])  # type: ignore[call-overload]
        if _after_page_report(view, page_stacks, page_lines, row, told):
            continue
        lines, indexes = caches.get(row["source"], ([], []))
        at = bisect_right(lines, line)
        index = indexes[at] if at < len(lines) and lines[at] <= line + _SLUB_REACH else None
        cache = str(view.cell("events", index, "fields").get("cache") or "") if index is not None else ""
        groups.setdefault(cache, []).append((row, index))
    findings: list[Finding] = []
    for cache, rows in groups.items():
        first, _ = rows[0]
        gfp = field(first, "gfp") or ""
        names = field(first, "gfp_names") or None
        decoded = None if names else report_gfp_names(view, first["source"], gfp, boot)
        names = names or (decoded.text if decoded and " or " not in decoded.text else None)
        memcg = _MEMCG_CACHE.match(cache)
        shown = memcg.group("cache") if memcg else (cache or "unknown cache")
        title = (f"Allocation failure: slab cache {shown} could not grow (gfp={gfp}{' ' + names if names else ''})"
                 + (f" ({len(rows)} reports)" if len(rows) > 1 else ""))
        why = [f"SLUB could not get a page for a new slab of {shown} (mode {gfp}"
               + (f", {names}" if names else "") + "): the allocation from that cache returned NULL. SLUB asks "
               "the page allocator not to warn, so this line is the only report of the failure."]
        if memcg:
            why.append(f"The cache is a memory cgroup's own copy ({cache}: cgroup {memcg.group('cgroup') or '?'}), "
                       "made when kernel-memory accounting is on for that cgroup: the cgroup's kmem or memory "
                       "limit, not a shortage of the machine, refused the page.")
        evidence: list[Evidence] = []
        for row, at in rows[:2]:
            evidence.append(Evidence.of_row(row))
            if at is not None:
                evidence.append(view.event_evidence(at))
        findings.append(Finding(rule=RULE, severity=Severity.WARNING, title=title, explanation=" ".join(why),
                                evidence=evidence))
    return findings


def _free_is_cma(counters: dict[object, tuple[np.ndarray, list[object]]],
                 report: dict[str, object]) -> tuple[int, int] | None:
    """(free_cma, free) pages of the Mem-Info printed with a failure report when CMA pageblocks
    hold nearly all the free memory: the global counters (``counters``: the "meminfo_counters"
    lines of its boot and their fields, :func:`_lines_by_source`) after the report's line."""
    line = int(report["line"])  # type: ignore[call-overload]
    seen: dict[str, str] = {}
    lines, found = counters.get(report["source"], ([], []))
    for fields in found[bisect_right(lines, line) : bisect_right(lines, line + _MEMINFO_REACH)]:
        if not is_fields(fields):
            continue
        seen.update(zip(str(fields.get("name", "")).split(), str(fields.get("value", "")).split(), strict=False))
        seen.update({k: v for k, v in fields.items() if k not in ("name", "value")})
    try:
        cma, free = int(seen["free_cma"]), int(seen["free"])
    except (KeyError, ValueError):
        return None
    return (cma, free) if free > 0 and cma >= _CMA_SHARE * free else None


def _cma_failures(view: HostView, boot: int) -> list[Finding]:
    """"cma: cma_alloc: alloc failed, req-size: 19200 pages, ret: -12": a driver's request for
    physically contiguous memory that the CMA area could not meet, grouped by area."""
    groups: dict[str, list[dict[str, object]]] = {}
    for _, row in view.boot_records(boot, "cma_alloc_failure"):
        groups.setdefault(str(field(row, "cma_area") or ""), []).append(row)
    findings: list[Finding] = []
    for area, rows in groups.items():
        first = rows[0]
        pages, ret = int_field(first, "pages"), int_field(first, "ret")
        size = f"{pages} pages" + (f" ({pages * 4 / 1024:.0f} MiB of 4 KiB pages)" if pages else "")
        where = f"CMA area {area}" if area else "the CMA area"
        why = [f"A driver asked {where} for {size} of physically contiguous memory and got nothing"
               + (f" (error {ret}: {_ERRNO.get(ret, 'see errno')})" if ret is not None else "") + "."]
        why.append("CMA memory is reserved at boot (cma= on the command line, or the device tree) and lent to "
                   "movable pages meanwhile: the request fails when the area is smaller than asked, or when the "
                   "pages in it could not be migrated away (pinned, busy) in time. The driver (camera, video, "
                   "GPU) usually fails the operation that needed the buffer.")
        findings.append(Finding(
            rule=RULE,
            severity=Severity.WARNING,
            title=f"Allocation failure: cma_alloc of {pages} pages failed in {where}"
                  + (f" ({len(rows)} reports)" if len(rows) > 1 else ""),
            explanation=" ".join(why),
            evidence=[Evidence.of_row(r) for r in rows[:3]],
        ))
    return findings


def _too_large(view: HostView, boot: int) -> list[Finding]:
    """The page allocator's WARNING on a request above its largest order ("WARNING: CPU: 3 PID: 2599
    at mm/page_alloc.c:4935 __alloc_pages_nodemask+0x2ec/0x330"): the one WARN in its entry point
    (__alloc_pages_nodemask <= 5.12, __alloc_pages, __alloc_pages_noprof 6.10+) refuses an order
    above MAX_ORDER, which no amount of free memory can satisfy."""
    findings: list[Finding] = []
    for index, row in view.boot_records(boot, "kernel_warning"):
        srcline, function = field(row, "srcline") or "", field(row, "function") or ""
        if not srcline.startswith("mm/page_alloc.c") or normalize_function(function) not in _ALLOC_ENTRY:
            continue
        functions = reliable_functions(view.stack_frames(row["stack"]))
        caller = guilty_frame(functions) if functions else None
        findings.append(Finding(
            rule=RULE,
            severity=Severity.WARNING,
            title=f"Allocation failure: a request above the page allocator's largest order refused ({function} "
                  f"at {srcline})" + (f" for {caller}" if caller else ""),
            explanation=(
                f"The page allocator's entry point {function} warns at {srcline} only when asked for an order "
                "above the largest it manages (MAX_ORDER: 4 MiB blocks with 4 KiB pages on most kernels) and "
                "returns NULL: no amount of free memory can satisfy it. The caller"
                + (f" ({caller})" if caller else "") + " asked for too large a block: a driver's DMA buffer "
                "falling back from CMA, a kmalloc of a size computed wrong, or a table sized from user input."),
            evidence=[view.event_evidence(int(index))],  # type: ignore[call-overload]
        ))
    return findings


def _lines_by_source(view: HostView, boot: int, kind: str,
                     column: str | None) -> dict[object, tuple[np.ndarray, list[object]]]:
    """Per source, the lines of a boot's rows of ``kind`` (in log order, an array) and each row's
    value of ``column`` (None: its label), read from the columns and found by bisection: a storm
    of SLUB lines made a scan per line quadratic, and a long boot's hundreds of thousands of
    Mem-Info lines as a dict each held hundreds of MB (a 1 GB journal of one boot), as a boxed
    number each tens of MB (bench/README.md)."""
    records = view.records_by_boot(kind)
    if not records.count(boot):
        return {}
    lines = pd.Series(records.array(boot, "line"), copy=False)
    timed = lines.notna().to_numpy()
    numbers = lines.to_numpy(dtype=np.int64, na_value=0)
    codes, sources = pd.factorize(records.array(boot, "source"), use_na_sentinel=False)
    names = sources.tolist()
    values = records.values(boot, column)
    # Each source's rows together, in log order within it (one sort, not a pass per source:
    # an archive holds hundreds of rotated files).
    order = np.flatnonzero(timed)
    order = order[np.argsort(codes[order], kind="stable")]
    out: dict[object, tuple[np.ndarray, list[object]]] = {}
    for rows in np.split(order, np.flatnonzero(np.diff(codes[order])) + 1):
        if len(rows):
            out[names[codes[rows[0]]]] = (numbers[rows], [values[at] for at in rows.tolist()])
    return out


def _after_page_report(view: HostView, page_stacks: dict[object, object],
                       page_lines: dict[object, tuple[np.ndarray, list[object]]], row: dict[str, object],
                       told: set[int]) -> bool:
    """Whether a SLUB failure line is the slab allocator's account of the page allocation failure
    reported just before it: the first SLUB line after a report whose trace goes through the slab
    allocator. Those are one failure, already a finding."""
    lines, indexes = page_lines.get(row["source"], ([], []))
    line = int(row["line"])  # type: ignore[call-overload]
    at = bisect_left(lines, line) - 1
    if at < 0 or lines[at] < line - _PAGE_REPORT_REACH:
        return False
    index = indexes[at]
    if index in told:
        return False
    functions = {normalize_function(name) for name, _ in view.stack_frames(page_stacks[index])}
    if not functions & _SLAB_PATH:
        return False
    told.add(index)
    return True


def _headless_warnings(view: HostView, boot: int) -> list[Finding]:
    """A warn_alloc() trace no report line heads: the task its "CPU:" line names, and the caller
    that allocated. Whether it was a failure or a stall is in the line that is missing."""
    cpus = view.records_by_boot("dump_cpu")
    if not cpus.count(boot):
        return []
    free = view.of_capture("free traces", event_tables.free_traces)
    stacks = stack_functions(view)
    findings: list[Finding] = []
    seen: set[int] = set()
    fields: list[object] | None = None
    # Read from the columns, a record made only for a line a trace follows: every trace's "CPU:"
    # line is one, hundreds of thousands in a long boot (a dict each held hundreds of MB).
    for at_row, (index, source, number) in enumerate(zip(cpus.values(boot, None), cpus.values(boot, "source"),
                                                         cpus.values(boot, "line"), strict=True)):
        lines, traces, _ = free.get(source, ([], [], []))
        at = bisect_right(lines, int(number))  # type: ignore[call-overload]
        if at == len(lines) or lines[at] > int(number) + _CPU_REACH:  # type: ignore[call-overload]
            continue
        stack = traces[at]
        functions = stacks.get(stack, [])
        if "warn_alloc" not in functions or stack in seen:
            continue
        seen.add(stack)
        caller = guilty_frame(functions)
        if fields is None:
            fields = cpus.values(boot, "fields")
        row = {"fields": fields[at_row]}
        comm, pid = field(row, "comm"), int_field(row, "pid")
        who = f"{comm}({pid})" if comm and pid is not None else (comm or "a task")
        position = trace_after(view, source, int(number), stack)  # type: ignore[call-overload]
        frames = [functions.index("warn_alloc")] + ([functions.index(caller)] if caller in functions else [])
        findings.append(Finding(
            rule=RULE,
            severity=Severity.WARNING,
            title=f"Allocation failure or stall: {who}{' in ' + caller if caller else ''} (a warn_alloc() report "
                  "whose first line is not in the capture)",
            explanation=(
                f"The page allocator's warn_alloc() printed this trace for {who}"
                + (f", allocating in {caller}" if caller else "") + ". Its first line, which says whether the "
                "allocation failed (\"page allocation failure: order:N, mode:...\") or stalled (\"page "
                "allocation stalls for Nms\"), and with which order and mode, is not in this capture: look for "
                "it just before the \"CPU:\" line in the full log."),
            evidence=[view.event_evidence(int(index)),  # type: ignore[call-overload]
                      *trace_frame_evidence(view, position, frames)],
            tasks=[TaskRef(str(comm), pid)] if comm and pid is not None else [],
        ))
    return findings
