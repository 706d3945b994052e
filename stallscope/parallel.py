"""Read inputs on every core, or on a Dask cluster: whole files in parallel, large plain files in pieces.

A piece starts at a line that opens a watchdog report (``MemAlloc-Info:``) when one is near the
nominal cut, so that a task's block is rarely split; each worker builds its own capture and
:func:`stallscope.capture.merge.merge` joins them in input order, shifting line numbers by the
lines of the pieces before. Compressed files and standard input are read whole.

Where the pieces run is an :class:`Engine`: a local process pool or a ``dask.distributed``
client. Both get the same pieces from :func:`plan`, run the same :func:`_load_piece` and the
client merges the same way, so the two differ only in where the work happens. On a cluster the
rules run per machine too (:func:`diagnose_on`): the merged capture is cut into one capture per
machine and each is diagnosed where the engine puts it; locally, a capture of many machines or
boots shares its views among forked processes.
"""

from __future__ import annotations

import os
import pickle
import stat
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from itertools import groupby
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, TypeVar

import numpy as np
import pandas as pd

from stallscope import forked, signals
from stallscope.api import line_parser, load, load_stream
from stallscope.bulk import read_window
from stallscope.capture.builder import CaptureBuilder
from stallscope.capture.columns import share_one_value
from stallscope.capture.merge import Link, Part, merge, shift_lines, trim
from stallscope.capture.model import Capture, InputStats, SkippedFile
from stallscope.diagnose import (
    BOOTS_AT_ONCE,
    Keys,
    at_once_rules,
    at_once_windows,
    diagnose,
    findings_by_machine,
    host_views,
    joined,
    per_view_rules,
    ranked,
    view_keys,
    windows_found,
)
from stallscope.memory import no_cycle_collection, old_objects_left_alone, release_free_memory
from stallscope.rules import rule_cost, shared_derivations
from stallscope.rules.base import Finding, Rule
from stallscope.sources.archive import archive_kind
from stallscope.sources.expand import expand
from stallscope.sources.journal import is_journal_file
from stallscope.sources.reader import STDIN_NAME, open_binary, utf16_encoding
from stallscope.verdict import rank

if TYPE_CHECKING:
    from distributed import Client

T = TypeVar("T")
R = TypeVar("R")

# Below this a file is not worth splitting: process start-up costs more than it saves.
MIN_PIECE_BYTES = 24 << 20
# Pieces of about this size: each piece costs a capture built, pickled and merged; a worker's
# memory grows with its piece.
PIECE_BYTES = 256 << 20
# How much of the file before and after its piece a worker reads too (see _load_window): more
# than any block or report that may cross a cut.
LEAD_BYTES = 4 << 20
# How far past a nominal cut to look for the start of a report.
REPORT_SEARCH_BYTES = 4 << 20
_REPORT_MARK = b"MemAlloc-Info:"


@dataclass(frozen=True, slots=True)
class Piece:
    path: str
    start: int = 0
    end: int | None = None  # None: the whole input, read the ordinary way
    # Where a worker opens the file: absolute, since a Dask worker's working directory is not
    # the client's. ``path`` stays the name evidence cites.
    location: str | None = None
    # Read once, in this process (see is_stream).
    stream: bool = False

    @property
    def opens(self) -> str:
        return self.location or self.path


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _cut_after(handle: object, offset: int, size: int) -> int:
    """The first line start at or after ``offset``, preferring the first line of a report nearby.

    A report opens with a MemAlloc-Info line followed by MemAlloc task lines; the line that closes
    a report is followed by other output, so it is not a good place to cut.
    """
    handle.seek(offset)  # type: ignore[attr-defined]
    window = handle.read(REPORT_SEARCH_BYTES)  # type: ignore[attr-defined]
    first_newline = window.find(b"\n")
    if first_newline < 0:
        return size
    fallback = None
    mark = window.find(_REPORT_MARK, first_newline)
    while mark >= 0:
        line_start = window.rfind(b"\n", 0, mark) + 1
        line_end = window.find(b"\n", mark)
        if line_end < 0:
            break
        following = window[line_end + 1 : window.find(b"\n", line_end + 1)]
        if b"MemAlloc: " in following:
            return offset + line_start
        fallback = fallback if fallback is not None else offset + line_start
        mark = window.find(_REPORT_MARK, line_end)
    return fallback if fallback is not None else offset + first_newline + 1


def is_stream(path: str) -> bool:
    """Standard input, a pipe, a FIFO, a socket, a terminal, ``<(command)``: what can be read only
    once, from start to end, by the process that opens it."""
    if path == STDIN_NAME:
        return True
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False  # the reader will say why it cannot open it


def read_here(path: str) -> bool:
    """Whether ``path`` is read by this process, whole: a stream (see :func:`is_stream`), an
    archive (its members exist only inside it: a worker would reopen and re-read the whole
    archive for each), or a binary journal (read through journalctl, never cut in pieces)."""
    return is_stream(path) or archive_kind(path) is not None or is_journal_file(path)


def plan(paths: tuple[str, ...], jobs: int) -> list[Piece]:
    return _plan(paths, jobs)[0]


def _plan(paths: tuple[str, ...], jobs: int) -> tuple[list[Piece], list[SkippedFile]]:
    """The pieces to read for ``paths``, and the files of bundles that are not read."""
    pieces: list[Piece] = []
    expansion = expand(paths)
    for path in expansion.inputs:
        if read_here(path):
            # Opened once, here: no peek at its compression, no piece, no worker.
            pieces.append(Piece(path, stream=True))
            continue
        location = os.path.abspath(path)
        if jobs < 2:
            pieces.append(Piece(path, location=location))
            continue
        source, stream = open_binary(path)
        head = stream.read(64)
        stream.close()
        size = Path(path).stat().st_size
        # UTF-16 is read whole: a cut after a newline byte would split one of its characters.
        if source.compression is not None or size < 2 * MIN_PIECE_BYTES or utf16_encoding(head) is not None:
            pieces.append(Piece(path, location=location))
            continue
        count = max(jobs, min(64, size // PIECE_BYTES))
        step = max(MIN_PIECE_BYTES, size // count)
        with open(path, "rb") as handle:
            start = 0
            while start < size:
                end = size if size - start < step + MIN_PIECE_BYTES // 2 else _cut_after(handle, start + step, size)
                pieces.append(Piece(path, start, end, location))
                start = end
    return pieces, expansion.skipped


class _Range:
    """The bytes [start, end) of a file, as a readable stream."""

    def __init__(self, handle: BinaryIO, start: int, end: int) -> None:
        self.handle = handle
        self.start = start
        self.left = end - start
        self._placed = False

    def _place(self) -> None:
        # Sought on first read: several ranges of one handle are read one after the other.
        if not self._placed:
            self.handle.seek(self.start)
            self._placed = True

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        self._place()
        size = self.left if size < 0 else min(size, self.left)
        data = self.handle.read(size)
        self.left -= len(data)
        return data

    def readinto(self, buffer: memoryview) -> int:
        if self.left <= 0:
            return 0
        self._place()
        got = self.handle.readinto(buffer[: self.left] if len(buffer) > self.left else buffer)  # type: ignore[attr-defined]
        self.left -= got or 0
        return got or 0


def _load_piece(piece: Piece, keep_unparsed: bool) -> tuple[Capture, tuple[Link, ...]]:
    """One piece (or whole file) read into its own capture: what every worker runs."""
    loaded = _read_piece(piece, keep_unparsed)
    line_parser().remember()  # the shapes this worker learned, for the next run
    capture = loaded[0]
    for table in (capture.snapshots, capture.tasks, capture.events, capture.frames, capture.traces):
        share_one_value(table)  # sent as one value each (_reduce_array), until the merge joins them
    # The pool pickles the piece into one buffer next: on top of the heap the reading freed but
    # kept (a 256 MB piece of excerpts: 210 MB), its peak was the worker's.
    release_free_memory()
    return loaded


def _read_piece(piece: Piece, keep_unparsed: bool) -> tuple[Capture, tuple[Link, ...]]:
    if piece.stream:
        return load(piece.path, keep_unparsed=keep_unparsed), ()
    if piece.end is None:
        # The same steps as stallscope.load for one file, opened where the worker sees it.
        source, stream = open_binary(piece.opens)
        try:
            return load_stream(piece.path, stream, keep_unparsed, source.compression), ()
        finally:
            stream.close()
    with open(piece.opens, "rb") as handle:
        return _load_window(piece, handle, keep_unparsed)


def _line_start(handle: BinaryIO, offset: int) -> int:
    """The start of the line that holds byte ``offset`` (0 at the start of the file)."""
    at = offset
    while at > 0:
        back = max(0, at - 65536)
        handle.seek(back)
        found = handle.read(at - back).rfind(b"\n")
        if found >= 0:
            return back + found + 1
        at = back
    return 0


def _load_window(piece: Piece, handle: BinaryIO, keep_unparsed: bool) -> tuple[Capture, tuple[Link, ...]]:
    """A piece read with up to LEAD_BYTES of the file before and after it (whole lines), so that
    a block or record that crosses either edge is read whole, as one reader of the whole file
    reads it: before it, to be in the state that reader is in where the piece starts; after
    it, only as far as a block or record begun inside it reaches (bulk.read_window's
    ``settle``). Only the rows that start inside the piece are kept; the piece before keeps the
    others, and links say which of its rows the kept rows refer to (see capture.merge.trim)."""
    assert piece.end is not None
    size = os.fstat(handle.fileno()).st_size
    before = _line_start(handle, max(0, piece.start - LEAD_BYTES)) if piece.start else 0
    after = piece.end if piece.end >= size else _line_start(handle, min(size, piece.end + LEAD_BYTES))
    lead_in, main, lead_out = InputStats(piece.path), InputStats(piece.path), InputStats(piece.path)
    builder = CaptureBuilder(keep_unparsed=keep_unparsed)
    builder.start_input(main)
    ranges = [(before, piece.start, lead_in), (piece.start, piece.end, main), (piece.end, after, lead_out)]
    phases = [(_Range(handle, a, b), stats) for a, b, stats in ranges if b > a or stats is main]
    with no_cycle_collection():
        # The lines after the piece only as far as a block or record of the piece reaches.
        read_window(piece.path, phases, builder, line_parser(), settle=after > piece.end)  # type: ignore[arg-type]
        builder.finish_input(piece.path)
        capture = builder.build(consume=True)
        # The reader's phases, which the builder asks through this bound method, make a cycle
        # that would hold the builder's columns until the collector next walks the heap: it
        # is off while a worker reads its next piece (a 256 MB piece of serial: 130 MB kept).
        builder.stats_of_line = None
    # Line numbers count from the piece's first line; the lines before it are 0 and below.
    shift_lines(capture, -lead_in.physical_lines)
    return trim(capture, 1, main.physical_lines)


class Engine(Protocol):
    """Where pieces are read and machines diagnosed."""

    #: Whether work may leave this machine (files are then opened by absolute path on workers,
    #: and standard input is read on the client).
    remote: bool

    def workers(self) -> int: ...

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]: ...


def _reduce_array(array: np.ndarray) -> tuple[object, ...]:
    """How the process pool pickles an array: one value read as every row (a column held as
    ``columns.nullable_integers`` and ``share_one_value`` hold one) as that value and a length,
    which numpy would write out whole, and any other array as numpy does. The pieces of the 1 GB
    excerpts capture arrive in the main process with each such column as it left its reader
    (bench/README.md, thirty-first round)."""
    if array.ndim == 1 and array.strides == (0,) and len(array) > 1:
        return np.broadcast_to, (array[:1].copy(), len(array))
    return array.__reduce_ex__(pickle.DEFAULT_PROTOCOL)  # (the protocol the pool's pickler writes)


ForkingPickler.register(np.ndarray, _reduce_array)


class LocalEngine:
    """A process pool on this machine, started on first use and shared by reading and rules."""

    remote = False

    def __init__(self, jobs: int | None = None) -> None:
        self.jobs = jobs or default_jobs()
        self._pool: Executor | None = None

    def workers(self) -> int:
        return self.jobs

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if self.jobs < 2 or len(items) < 2:
            return [fn(item) for item in items]
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.jobs, initializer=signals.as_worker)  # stopped by close()
        with signals.held():  # the workers are forked at the first submission (stallscope.signals)
            results = self._pool.map(fn, items)
        return list(results)

    def close(self, abort: bool = False) -> None:
        """Stop the pool: wait for its workers, or with ``abort`` (an error or a signal is on
        its way out) stop them at once, so that none is left reading a large file for minutes."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if abort:
            # The executor has no public way to stop busy workers before Python 3.14.
            workers = list(getattr(pool, "_processes", {}).values())
            for worker in workers:
                worker.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            for worker in workers:
                worker.join(5)
            return
        pool.shutdown()

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self.close(abort=kind is not None)


class DaskEngine:
    """A ``dask.distributed`` cluster: every file must be readable at the same path on its workers."""

    remote = True

    def __init__(self, client: Client, owned: bool = False) -> None:
        self.client = client
        self._owned = owned

    @classmethod
    def connect(cls, address: str, timeout: float = 30.0) -> DaskEngine:
        try:
            from distributed import Client
        except ImportError:
            raise EngineError("--engine dask needs dask.distributed: pip install 'stallscope[dask]'") from None
        try:
            client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise EngineError(f"cannot reach the Dask scheduler at {address} ({error})") from None
        return cls(client, owned=True)

    def workers(self) -> int:
        threads = self.client.nthreads()
        return max(1, sum(threads.values()))

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if not items:
            return []
        # pure=False: a file read twice (it may have grown) must be read again, not served from
        # the result of an earlier call with an equal argument.
        futures = self.client.map(fn, list(items), pure=False)
        return list(self.client.gather(futures))

    def close(self) -> None:
        if self._owned:
            self.client.close()

    def __enter__(self) -> DaskEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EngineError(Exception):
    """The engine cannot be used (library missing, scheduler unreachable): one line for the user."""


def load_parallel(
    *paths: str, jobs: int | None = None, keep_unparsed: bool = False, engine: Engine | None = None
) -> Capture:
    """Like :func:`stallscope.load`, using ``jobs`` worker processes (default: every core) or ``engine``."""
    if engine is None:
        with LocalEngine(jobs) as local:
            return load_parallel(*paths, keep_unparsed=keep_unparsed, engine=local)
    pieces, skipped = _plan(paths, engine.workers())
    if any(p.stream for p in pieces):
        # Standard input and pipes exist only here, readable once, and an archive's members only
        # inside it: read everything on the client in input order.
        return load(*paths, keep_unparsed=keep_unparsed)
    if not engine.remote and (engine.workers() < 2 or len(pieces) < 2):
        return load(*paths, keep_unparsed=keep_unparsed)
    if not engine.remote:
        line_parser()  # compiled before the pool forks, so that every worker inherits it
    results = engine.map(partial(_load_piece, keep_unparsed=keep_unparsed), pieces)
    parts: list[Part] = []
    lines_before: dict[str, int] = {}
    for piece, (capture, links) in zip(pieces, results, strict=True):
        offset = lines_before.get(piece.path, 0) if piece.end is not None else 0
        parts.append(Part(capture, offset, links))
        # Line numbers are physical lines of the file: a record can span several (a wrapped or
        # continued line joined back), so the records of the piece are not its lines.
        lines_before[piece.path] = offset + sum(i.physical_lines for i in capture.inputs)
    del results
    merged = merge(parts, consume=True)
    merged.skipped = skipped
    return merged


# -- rules per machine --------------------------------------------------------------------------
def _machine_rows(frame: pd.DataFrame, host: str | None, sources: set[str]) -> pd.DataFrame:
    if not len(frame):
        return frame
    if host is not None:
        return frame[frame["host"] == host]
    return frame[frame["host"].isna() & frame["source"].isin(sources)]


def split_machines(capture: Capture) -> list[Capture]:
    """One capture per machine (see :func:`stallscope.diagnose.host_views`), row ids kept.

    Row labels stay those of the whole capture, so a trace still points at its task row and the
    findings of each part are the findings of that machine in the whole.
    """
    # Per machine, all its boots: diagnosing a part splits it into boots itself.
    views = host_views(capture, by_boot=False)
    if len(views) < 2:
        return [capture]
    parts: list[Capture] = []
    for view in views:
        sources: set[str] = set()
        for frame in (view.snapshots, view.tasks, view.events):
            if len(frame):
                sources |= {str(s) for s in frame["source"].dropna().unique()}
        traces = _machine_rows(capture.traces, view.host, sources)
        stacks: set[int] = set()
        for frame in (traces, view.tasks, view.events):
            if len(frame) and "stack" in frame.columns:
                stacks |= {int(s) for s in frame["stack"].dropna().unique()}
        frames = capture.frames[capture.frames["stack"].isin(stacks)] if len(capture.frames) else capture.frames
        parts.append(Capture(
            snapshots=view.snapshots,
            tasks=view.tasks,
            events=view.events,
            frames=frames,
            traces=traces,
            inputs=[i for i in capture.inputs if i.path in sources],
            unparsed=[],
        ))
    return parts


# From this many views (machines, and boots of a machine) on, they go to forked processes. The
# rules cost tens of milliseconds per view whatever its size, so a serial capture of a machine
# rebooted after each incident (the bench's serial family: 268 boots in 30 MB) spends most of its
# time there; forking costs about as much as one view (bench/README.md).
FORK_RULES_VIEWS = 8
# From this many rows on, the rules go to forked processes whatever the number of views: shared
# by views where there are as many as processes, else by rules (one long boot: a journal of 11
# million kernel lines), each process reading every view with its share of them. The rules of a
# 1 GB capture's views held ~90 MB more in the main process, where its report then runs, and one
# 1 GB boot's 1.45 GB; below this, forking costs more than half the rules save (bench/README.md).
SPLIT_RULES_ROWS = 300_000


def diagnose_forked(capture: Capture, processes: int = 2) -> list[Finding]:
    """:func:`stallscope.diagnose` with the views (machines and boots) shared among ``processes``
    forked processes while this one gathers their findings; with fewer views than processes but
    many rows (one long boot), the rules shared instead (:data:`SPLIT_RULES_ROWS`).

    The same findings in the same order: the findings are kept by view position and ranked
    together. Without ``fork`` (not Linux), with few views and rows, or when a forked process
    fails, the views left run here.
    """
    keys = view_keys(capture)
    views = len(keys)
    rows = len(capture.snapshots) + len(capture.tasks) + len(capture.events)
    many_rows = rows >= SPLIT_RULES_ROWS and keys[0][1] is not None and not per_view_rules()
    split = many_rows and views < processes
    if (views < FORK_RULES_VIEWS and not many_rows) or processes < 2 or not forked.available():
        return diagnose(capture)
    # Frozen before the fork: the forked processes' collectors leave the capture alone too.
    with old_objects_left_alone():
        if split:
            return _shared_with_children(capture, keys, processes, rule_groups=processes)
        # Not more processes than views to share: a process with none would only be forked.
        return _shared_with_children(capture, keys, max(2, min(processes, views - 1)))


def _shared_with_children(capture: Capture, keys: Keys, processes: int, rule_groups: int = 1) -> list[Finding]:
    # The rules that read every boot of a machine at once read a window of its boots at a time
    # (all the rules do): the processes share the windows, each about the same number of boots
    # (shared by rule instead, one process had two thirds of the time, bench/README.md), windows
    # small enough for every process to have two (a capture of a hundred boots). Each process
    # derives what the rules derive from the whole capture (stack tables, gfp names, trace
    # places) for itself: deriving it here first, then forking, cost more (bench/README.md).
    # Views of their own only for a rule that does not read all boots (none today), or for every
    # rule where the capture numbers no boots; then the first view is read here before the fork.
    views = len(keys)
    windows = at_once_windows(capture, size=min(BOOTS_AT_ONCE, -(-views // (2 * processes))), keys=keys)
    by_view = bool(per_view_rules()) or not windows
    shared: dict[str, object] = {}
    at_once: dict[int, list[Finding]] = {}
    found = findings_by_machine(capture, (0,), shared, at_once=False) if by_view else {at: [] for at in range(views)}
    # Deriving those leaves tens of MB freed but resident in the heap (70 MB for a 1 GB log),
    # and a forked process starts with every resident page of this one: handed back first.
    release_free_memory()

    def let_go() -> None:
        # This process only gathers and reports: without the rules' derivations and the garbage
        # of views of its own, the report's peak stays near the capture's size (a process that
        # ran views held 60 MB more of a 1 GB log, scattered among its findings).
        shared.clear()
        release_free_memory()

    # Each window with every rule, or (``rule_groups``) with each group of the rules in turn:
    # groups of about equal cost (each rule's COST for the capture's rows). Taken alternately in
    # their order, the costliest rules of a 1 GB journal fell into one group: 6.9 s against 0.5 s
    # (bench/README.md).
    rules = at_once_rules()
    rows = (len(capture.tasks), len(capture.events))
    groups = rules_in_groups(rules, rule_groups, rows)
    tasks = [(window, group) for window in windows for group in groups]
    work = partial(_findings_of, capture, shared, tasks, keys)
    # Position -1 - k: task k; a position from 0: a view. A task's or view's findings are sent as
    # soon as they are found: one message of all of a process's findings took three times its
    # size to receive (the parent's peak at 1 GB, bench/README.md).
    positions = [-1 - place for place in range(len(tasks))] + (list(range(1, views)) if by_view else [])
    # A window costs about the same per boot (its rows and boots' fixed costs), times its rules'
    # share of the rules' cost; a view alike.
    whole = sum(rule_cost(rule, rows) for rule in rules) or 1.0
    costs = ([len(window) * sum(rule_cost(rule, rows) for rule in group) / whole for window, group in tasks]
             + [1] * (len(positions) - len(tasks)))
    # Closed on the way out, whatever stops this loop: the children are stopped then and there
    # (as render.text closes its own), not whenever the generator is let go of.
    known: dict[object, object] = {}
    with closing(forked.shared(work, positions, processes, let_go, costs)) as results:
        for position, result in results:
            if position < 0:
                for at, findings in result.items():  # type: ignore[union-attr]
                    at_once.setdefault(at, []).extend(_sharing_equal_parts(findings, known))
            else:
                found[position] = _sharing_equal_parts(result, known)  # type: ignore[arg-type]
    return ranked(joined(found, at_once))


def rules_in_groups(rules: Sequence[Rule], count: int, rows: tuple[int, int]) -> list[tuple[Rule, ...]]:
    """``rules`` in ``count`` groups of about equal cost on a boot of ``rows`` (task rows, event
    rows; each rule's COST), the costliest first, each to the group with the least so far; none
    empty. Rules that share a derivation (SHARED_DERIVATIONS) are in one group: in two, the 1 GB
    excerpts capture's seq history was each process's largest derivation, and a 1 GB journal's
    OOM invocations took 0.75 s in each (bench/README.md). Each group runs in the order of
    :func:`holding_briefly`. (The findings do not depend on the order: each view's are ranked
    in rule order once gathered, ``diagnose.joined``.)"""
    members = _sharing(rules)
    costs = [sum(rule_cost(rules[at], rows) for at in unit) for unit in members]
    shares = forked.balanced(range(len(members)), costs, count)
    groups = [sorted(at for unit in share for at in members[unit]) for share in shares]
    return [holding_briefly([rules[at] for at in group]) for group in groups if group]


def holding_briefly(rules: Sequence[Rule]) -> tuple[Rule, ...]:
    """``rules`` in an order that holds each shared derivation for fewer rules: after each rule,
    the one that reads most of the derivations held then (the first in ``rules`` of equals).
    A derivation is let go once the last rule that reads it is done (``diagnose.done_with``); in
    rule order one group of a 1 GB journal held its OOM kills (50 MB) from hung-task through
    four other rules to oom-kill, and its peak was 787 MB, 722 in this order (bench/README.md,
    thirty-second round)."""
    left = list(rules)
    ordered: list[Rule] = []
    held: set[str] = set()
    while left:
        chosen = max(left, key=lambda rule: (len(held.intersection(shared_derivations(rule))), -left.index(rule)))
        left.remove(chosen)
        ordered.append(chosen)
        still_read = {name for rule in left for name in shared_derivations(rule)}
        held = (held | set(shared_derivations(chosen))) & still_read
    return tuple(ordered)


def _sharing(rules: Sequence[Rule]) -> list[list[int]]:
    """The positions of ``rules`` in sets that share no derivation with one another: a rule is in
    the set of every rule it shares one with, directly or through others."""
    sets: list[tuple[set[str], list[int]]] = []
    for at, rule in enumerate(rules):
        names, members = set(shared_derivations(rule)), [at]
        for other in [each for each in sets if each[0] & names]:
            sets.remove(other)
            names |= other[0]
            members += other[1]
        sets.append((names, sorted(members)))
    return sorted((members for _, members in sets), key=lambda members: members[0])


def _sharing_equal_parts(findings: list[Finding], known: dict[object, object]) -> list[Finding]:
    """``findings`` (unpickled here) with each task reference, evidence line and text equal to
    one received before replaced by that one: the findings of a capture of thousands of boots
    name the same few hundred tasks and cite the same lines again and again (1 GB serial: 25,000
    findings; this process held 30 MB less after the rules, bench/README.md)."""
    for finding in findings:
        finding.tasks = [known.setdefault(task, task) for task in finding.tasks]  # type: ignore[misc]
        finding.evidence = [known.setdefault(line, line) for line in finding.evidence]  # type: ignore[misc]
        finding.title = known.setdefault(finding.title, finding.title)  # type: ignore[assignment]
        finding.explanation = known.setdefault(finding.explanation, finding.explanation)  # type: ignore[assignment]
    return findings


def _findings_of(capture: Capture, shared: dict[str, object], tasks: list[tuple[list[int], tuple[Rule, ...]]],
                 keys: Keys, chosen: Sequence[int]) -> Iterable[tuple[int, list[Finding] | dict[int, list[Finding]]]]:
    """For position -1 - k, the findings of task k's rules on its window of boots (by view
    position); for a view's position, the findings of the rules that do not read all boots."""
    places = [-1 - position for position in chosen if position < 0]
    # Tasks of one group of rules in a row are read as one run of windows (windows of one machine
    # in a row share the finding of where its rows are).
    for group, run in groupby(places, key=lambda place: tasks[place][1]):
        run_places = list(run)
        for at, found in windows_found(capture, [tasks[place][0] for place in run_places], shared, group, keys):
            yield -1 - run_places[at], found
    views = [position for position in chosen if position >= 0]
    if views:
        yield from findings_by_machine(capture, views, shared, at_once=False).items()


def _diagnose_part(capture: Capture) -> list[Finding]:
    return diagnose(capture)


def diagnose_on(capture: Capture, engine: Engine | None = None) -> list[Finding]:
    """:func:`stallscope.diagnose`, each machine a task of a remote ``engine``; locally, with
    two or more workers, the views of a capture of many machines or boots shared with a forked
    process (:func:`diagnose_forked`).

    Sending each machine's tables to a worker process would cost more time and memory than the
    rules take; a forked process sees the capture as it is.
    """
    if engine is None or not engine.remote:
        if engine is not None and engine.workers() >= 2:
            return diagnose_forked(capture, engine.workers())
        return diagnose(capture)
    parts = split_machines(capture)
    if len(parts) < 2:
        return diagnose(capture)
    results = engine.map(_diagnose_part, parts) if engine is not None else [_diagnose_part(p) for p in parts]
    # The order stallscope.diagnose gives; stable, so machines keep their order within a tie.
    return rank([f for found in results for f in found])

