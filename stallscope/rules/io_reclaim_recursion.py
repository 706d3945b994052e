"""io-reclaim-recursion: a task that services block I/O waits for I/O that only it can complete.

A block driver's request handler (blk-mq's ->queue_rq, run from the dispatch of the device's
queue) must allocate with GFP_NOIO: an allocation that may start I/O enters direct reclaim, and
reclaim writes dirty or anonymous pages back through the block layer (pageout, swap_writepage,
submit_bio). When those pages go to the device whose request the task is handling, or to any
device queued behind it, the task waits for a request tag or a completion that its own request
handler should have produced: the I/O stops, and every task that writes to the device or swaps
(kswapd among them) hangs behind it. The classic case is swap on a device whose driver allocates
(mtdswap over UBI); a stacked device (loop, dm, md, nbd) whose handler allocates without
memalloc_noio_save() does the same.

Fires on a trace that reads, from the inside out: the block layer's submission or writeback
(submit_bio, __swap_writepage, pageout), then reclaim (shrink_*, try_to_free_pages), then the
page allocator, then a request handler of a block device (``*_queue_rq`` or blk-mq's dispatch).
"""

from __future__ import annotations

from stallscope.capture.stacks import ALLOCATOR_FRAMES, RECLAIM_FRAMES
from stallscope.rules.base import Finding, HostView, Severity
from stallscope.rules.common.traced import traced

RULE = "io-reclaim-recursion"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
# With the rescuer: a cause that every hung writer, kswapd and reclaimer waits behind.
RANK = 12
SEVERITY = "critical"
SUMMARY = (
    "A task servicing block I/O (a driver's request handler) allocates memory that enters direct reclaim, "
    "and reclaim writes pages back through the block layer: it waits for I/O only it can complete (the "
    "allocation needs GFP_NOIO)."
)
NEXT_STEPS: str | None = (
    "the driver's allocation in the frames between its request handler and the page allocator (it needs "
    "GFP_NOIO or memalloc_noio_save()), and whether swap or dirty pages live on that device"
)
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True

# Reclaim writing a page back: the block layer's entry and the writeback that leads to it.
_WRITEBACK = frozenset({"submit_bio", "submit_bio_noacct", "generic_make_request", "__swap_writepage",
                        "swap_writepage", "swap_writeout", "pageout"})
# blk-mq running a device's queue: what calls a driver's ->queue_rq (and <= 4.x's request_fn).
_DISPATCH = frozenset({"blk_mq_dispatch_rq_list", "__blk_mq_run_hw_queue", "blk_mq_run_work_fn",
                       "blk_mq_do_dispatch_sched", "blk_mq_sched_dispatch_requests",
                       "__blk_mq_sched_dispatch_requests", "__blk_mq_do_dispatch_sched", "__blk_run_queue",
                       "__blk_mq_try_issue_directly", "blk_mq_try_issue_directly", "blk_mq_request_issue_directly"})


def _recursion(functions: list[str]) -> tuple[int, int, int] | None:
    """(writeback, allocator, request handler) positions when the trace recurses from a request
    handler through the allocator and reclaim into the block layer again."""
    write = next((at for at, f in enumerate(functions) if f in _WRITEBACK), None)
    if write is None:
        return None
    reclaim = next((at for at in range(write + 1, len(functions)) if functions[at] in RECLAIM_FRAMES), None)
    if reclaim is None:
        return None
    # Named by reclaim's own writeback (__swap_writepage, pageout), not the block layer under it.
    write = max(at for at in range(reclaim) if functions[at] in _WRITEBACK)
    alloc = next((at for at in range(reclaim + 1, len(functions)) if functions[at] in ALLOCATOR_FRAMES), None)
    if alloc is None:
        return None
    # The outermost allocator frame: the driver's own code starts after it.
    while alloc + 1 < len(functions) and functions[alloc + 1] in ALLOCATOR_FRAMES:
        alloc += 1
    handler = next((at for at in range(alloc + 1, len(functions))
                    if functions[at].endswith("_queue_rq") or functions[at] in _DISPATCH), None)
    return (write, alloc, handler) if handler is not None else None


def check(view: HostView) -> list[Finding]:
    findings: list[Finding] = []
    for trace in traced(view):
        found = _recursion(trace.functions)
        if found is None:
            continue
        write, alloc, handler = found
        functions = trace.functions
        # The driver's chain from its request handler to the allocation, outermost first.
        chain = " -> ".join(reversed(functions[alloc:handler + 1]))
        allocating = functions[alloc + 1] if alloc + 1 < handler else functions[handler]
        findings.append(Finding(
            rule=RULE,
            severity=Severity.CRITICAL,
            title=f"Reclaim recursion in the I/O path: {trace.who} services block I/O in {functions[handler]}, "
                  f"allocates in {allocating} and waits for writeback in {functions[write]}",
            explanation=(
                f"{trace.who} runs a block device's request handler ({chain}). That allocation entered direct "
                f"reclaim, and reclaim is writing a page back through the block layer ({functions[write]}): the "
                "task waits for I/O that needs its own request handler to move. No request of that device "
                "completes meanwhile, and every task writing to it or swapping waits too. The allocation in "
                f"{allocating} needs GFP_NOIO (or memalloc_noio_save() around the handler): a driver that "
                "services swap or writeback must not start I/O to get memory."),
            evidence=[trace.line, *trace.frames([write, alloc, handler])],
            tasks=[trace.task] if trace.task is not None else [],
        ))
    return findings
