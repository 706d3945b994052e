"""io-reclaim-recursion: a task that services block I/O waits for I/O that only it can complete.

A block driver's request handler (blk-mq's ->queue_rq, run from the dispatch of the device's
queue) must allocate with GFP_NOIO: an allocation that may start I/O enters direct reclaim, and
reclaim writes dirty or anonymous pages back through the block layer (pageout, swap_writepage,
submit_bio). When those pages go to the device whose request the task is handling, or to any
device queued behind it, the task waits for a request tag or a completion that its own request
handler should have produced: the I/O stops, and every task that writes to the device or swaps
(kswapd among them) hangs behind it. The classic case is swap on a device whose driver allocates
(mtdswap over UBI); a stacked device (loop, dm, md, nbd) whose handler allocates without
memalloc_noio_save() does the same, as dm-crypt's kcryptd worker did in 4.7 (its bio allocation
throttled in throttle_vm_writeout, waiting for the writeback it was itself to encrypt).

The same recursion in a filesystem: its writeback (->writepages) allocates with __GFP_FS, and
reclaim (memory-cgroup reclaim of 3.x-4.x waited on pages under writeback) waits for pages that
this writeback marked and has not submitted yet (XFS's xfs_map_blocks, 2020).

Fires on a trace that reads, from the inside out: the block layer's submission or writeback
(submit_bio, __swap_writepage, pageout) or a wait for a page's writeback, then reclaim (shrink_*,
try_to_free_pages), then the page allocator, then a request handler of a block device
(``*_queue_rq`` or blk-mq's dispatch), a stacked device's I/O worker (dm-crypt's kcryptd_crypt,
loop's worker, md's RAID threads) or a filesystem's writeback (do_writepages, ->writepages).
"""

from __future__ import annotations

from stallscope.capture.stacks import ALLOCATOR_FRAMES, RECLAIM_FRAMES
from stallscope.rules.base import Finding, HostView, Severity, in_boot
from stallscope.rules.common.traced import TRACED, Traced, traced

RULE = "io-reclaim-recursion"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
# With the rescuer: a cause that every hung writer, kswapd and reclaimer waits behind.
RANK = 12
SEVERITY = "critical"
SUMMARY = (
    "A task servicing block I/O (a driver's request handler, a stacked device's worker such as dm-crypt's) "
    "or writing a filesystem's pages back allocates memory that enters direct reclaim, and reclaim writes "
    "pages back or waits for their writeback: it waits for I/O only it can complete (the allocation needs "
    "GFP_NOIO or GFP_NOFS)."
)
NEXT_STEPS: str | None = (
    "the allocation in the frames between the I/O work and the page allocator (it needs GFP_NOIO or "
    "GFP_NOFS, or a memalloc_noio/nofs scope), and whether swap or dirty pages live on that device"
)
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# What it derives that other rules derive too, at a cost on a long boot (seconds, or hundreds of
# MB): forked, rules that share one run in one process, which derives it once (stallscope.rules).
SHARED_DERIVATIONS = (TRACED,)
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.0, 0.177)

# Reclaim writing a page back: the block layer's entry and the writeback that leads to it.
_WRITEBACK = frozenset({"submit_bio", "submit_bio_noacct", "generic_make_request", "__swap_writepage",
                        "swap_writepage", "swap_writeout", "pageout"})
# Reclaim throttled while the machine's pages under writeback exceed the dirty limit (<= 4.7).
_THROTTLE = "throttle_vm_writeout"
# Reclaim waiting for a page's writeback to end (memory-cgroup reclaim did, 3.x-4.x), or for the
# pages under writeback to drop below their limit (throttle_vm_writeout, <= 4.7).
_WRITEBACK_WAIT = frozenset({"wait_on_page_writeback", "wait_on_page_bit", "wait_on_page_bit_common",
                             "folio_wait_writeback", "folio_wait_bit", "folio_wait_bit_common",
                             _THROTTLE})
# blk-mq running a device's queue: what calls a driver's ->queue_rq (and <= 4.x's request_fn).
_DISPATCH = frozenset({"blk_mq_dispatch_rq_list", "__blk_mq_run_hw_queue", "blk_mq_run_work_fn",
                       "blk_mq_do_dispatch_sched", "blk_mq_sched_dispatch_requests",
                       "__blk_mq_sched_dispatch_requests", "__blk_mq_do_dispatch_sched", "__blk_run_queue",
                       "__blk_mq_try_issue_directly", "blk_mq_try_issue_directly", "blk_mq_request_issue_directly"})
# Stacked block devices that service their bios in a worker of their own, not in ->queue_rq:
# dm-crypt (drivers/md/dm-crypt.c), loop (drivers/block/loop.c, 4.x-6.x), md's RAID threads.
# A write to the stacked device is writeback of the device under it: reclaim that waits for
# writeback waits for this worker.
_STACKED_IO = frozenset({"kcryptd_crypt", "kcryptd_crypt_write_convert", "kcryptd_crypt_read_convert",
                         "kcryptd_io_write", "dmcrypt_write", "loop_queue_work", "loop_workfn", "loop_process_work",
                         "loop_handle_cmd", "raid1d", "raid10d", "raid5d"})
# A filesystem writing its dirty pages back: the pages it has marked for writeback are not on disk
# until it submits them, so its own reclaim must not wait for them (the path needs GFP_NOFS).
_FS_WRITEBACK = frozenset({"do_writepages", "write_cache_pages", "generic_writepages", "iomap_writepages",
                           "iomap_do_writepage", "iomap_writepage_map", "__writeback_single_inode",
                           "writeback_single_inode", "__filemap_fdatawrite_range", "filemap_fdatawrite_wbc"})


def _context(name: str) -> str | None:
    """What an outer frame says the task is doing for I/O: servicing a block device's requests,
    or writing a filesystem's pages back."""
    if name.endswith("_queue_rq") or name in _DISPATCH:
        return "block"
    if name in _STACKED_IO:
        return "stacked"
    if name in _FS_WRITEBACK or name.endswith(("_writepages", "_writepage", "_do_writepage")):
        return "writeback"
    return None


def _recursion(functions: list[str]) -> tuple[int, int, int, int, str] | None:
    """(I/O frame, reclaim frame, outermost allocator frame, I/O context frame, context) when the trace recurses
    from a block request handler or a filesystem's writeback, through the allocator and reclaim,
    into writing pages back or waiting for their writeback."""
    inner = next((at for at, f in enumerate(functions) if f in _WRITEBACK or f in _WRITEBACK_WAIT), None)
    if inner is None:
        return None
    reclaim = next((at for at in range(inner + 1, len(functions)) if functions[at] in RECLAIM_FRAMES), None)
    if reclaim is None:
        return None
    # Named by reclaim's own step (__swap_writepage, pageout, wait_on_page_bit), not the block
    # layer under it.
    inner = max(at for at in range(reclaim) if functions[at] in _WRITEBACK or functions[at] in _WRITEBACK_WAIT)
    alloc = next((at for at in range(reclaim + 1, len(functions)) if functions[at] in ALLOCATOR_FRAMES), None)
    if alloc is None:
        return None
    # The outermost allocator frame: the caller's own code starts after it.
    while alloc + 1 < len(functions) and functions[alloc + 1] in ALLOCATOR_FRAMES:
        alloc += 1
    for at in range(alloc + 1, len(functions)):
        context = _context(functions[at])
        if context is not None:
            return inner, reclaim, alloc, at, context
    return None


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    return [in_boot(finding, boot) for boot, traces in traced(view).items() for finding in _of_boot(view, traces)]


def _of_boot(view: HostView, traces: list[Traced]) -> list[Finding]:
    findings: list[Finding] = []
    for trace in traces:
        found = _recursion(trace.functions)
        if found is None:
            continue
        inner, reclaim, alloc, outer, context = found
        functions = trace.functions
        # The chain from the I/O work to the allocation, outermost first.
        chain = " -> ".join(reversed(functions[alloc:outer + 1]))
        allocating = functions[alloc + 1] if alloc + 1 < outer else functions[outer]
        waits = "waits for writeback" if functions[inner] in _WRITEBACK_WAIT else "writes back"
        if context in ("block", "stacked"):
            doing, needs = (f"services block I/O in {functions[outer]}",
                            "GFP_NOIO (or memalloc_noio_save() around the handler): a driver that services "
                            "swap or writeback must not start I/O to get memory")
            handler = ("a block device's request handler" if context == "block"
                       else "a stacked block device's I/O worker (dm-crypt, loop, md)")
            through = "" if functions[inner] in _WRITEBACK_WAIT else " through the block layer"
            mover = "its own request handler" if context == "block" else "this very worker"
            why = (f"{trace.who} runs {handler} ({chain}). That allocation entered direct "
                   f"reclaim, and reclaim ({functions[reclaim]}) {waits}{through} "
                   f"({functions[inner]}): the task waits "
                   f"for I/O that needs {mover} to move. No request of that device completes "
                   "meanwhile, and every task writing to it or swapping waits too.")
        else:
            doing, needs = (f"writes a filesystem's pages back in {functions[outer]}",
                            "GFP_NOFS (or memalloc_nofs_save() around the writeback): the filesystem's "
                            "writeback path must not recurse into reclaim that waits on writeback")
            why = (f"{trace.who} is writing a filesystem's dirty pages back ({chain}). That allocation entered "
                   f"direct reclaim, and reclaim ({functions[reclaim]}) {waits} ({functions[inner]}): pages "
                   "this very writeback has "
                   "marked but not yet submitted never finish, so the task waits for itself, and every task "
                   "syncing or reclaiming on that filesystem waits behind it.")
        if functions[inner] == _THROTTLE:
            # GFP_NOIO does not spare it: throttle_vm_writeout sleeps HZ/10 before it looks at the mask.
            needs = ("to be spared the writeback throttle: throttle_vm_writeout sleeps 100 ms "
                     "(congestion_wait(HZ/10)) in every reclaim pass while the pages under writeback exceed the "
                     "dirty limit, a GFP_NOIO or GFP_NOFS caller once per pass, so the task that ends that "
                     "writeback moves at about ten allocations a second")
        findings.append(Finding(
            rule=RULE,
            severity=Severity.CRITICAL,
            title=f"Reclaim recursion in the I/O path: {trace.who} {doing}, allocates in {allocating} and "
                  f"{waits} in {functions[inner]}",
            explanation=f"{why} The allocation in {allocating} needs {needs}.",
            evidence=[trace.line, *trace.frames([inner, alloc, outer])],
            tasks=[trace.task] if trace.task is not None else [],
        ))
    return findings
