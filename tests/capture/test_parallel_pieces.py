"""Issue 20: reading a file in pieces on several workers gives what one reader gives, byte for byte.

Real logs are cut into pieces at many offsets (piece sizes that put cuts inside traces, reports,
wrapped and continued records), each worker reads its piece with the lines around it, and the
JSON report must equal the single reader's.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import stallscope
from conftest import DATA, ROOT
from stallscope import bulk, forked, parallel, signals
from stallscope.api import line_parser
from stallscope.bulk import read_window
from stallscope.capture.builder import CaptureBuilder
from stallscope.capture.model import InputStats
from stallscope.render import json_report

# Logs big enough to cut, and of enough lines to cut between (a reproducer of one 100 kB line is not).
LOGS = sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*.log")
              if p.stat().st_size >= 16 << 10 and p.read_bytes().count(b"\n") >= 20)


def _document(capture: stallscope.Capture) -> str:
    return json.dumps(json_report.report(capture, stallscope.diagnose(capture), None), sort_keys=True, default=str)


def _in_pieces(path: Path, piece: int, lead: int, monkeypatch: pytest.MonkeyPatch) -> stallscope.Capture:
    monkeypatch.setattr(parallel, "MIN_PIECE_BYTES", max(1024, piece // 2))
    monkeypatch.setattr(parallel, "PIECE_BYTES", piece)
    monkeypatch.setattr(parallel, "LEAD_BYTES", lead)
    # The lines after a piece read a few at a time: each cut stops them where its blocks end.
    monkeypatch.setattr(bulk, "SETTLE_BYTES", 256)
    # Cut near the nominal offsets, not at the next watchdog report: anywhere in a block.
    monkeypatch.setattr(parallel, "REPORT_SEARCH_BYTES", 4096)
    pieces = parallel.plan((str(path),), 2)
    assert len(pieces) >= 2, "the log must really be cut"
    return parallel.load_parallel(str(path), engine=parallel.LocalEngine(2))


@pytest.mark.parametrize("relative", LOGS)
def test_pieces_give_the_single_reader_report(relative: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = DATA / relative
    size = path.stat().st_size
    whole = _document(stallscope.load(str(path)))
    for piece in (size // 6 + 7, size // 3 + 101):
        assert _document(_in_pieces(path, piece, piece // 3, monkeypatch)) == whole, piece


def test_pieces_of_an_interleaved_fleet_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("make_log", ROOT / "bench" / "make_log.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_log"] = module
    spec.loader.exec_module(module)
    log = tmp_path / "fleet.log"
    module.generate(3 << 20, log, seed=11, hosts=3, tasks=40)
    whole = _document(stallscope.load(str(log)))
    size = log.stat().st_size
    for piece in (size // 7, size // 3 - 1234):
        assert _document(_in_pieces(log, piece, piece // 2, monkeypatch)) == whole, piece


def _read_cut(data: bytes, cut: int, settle: bool) -> tuple[stallscope.Capture, InputStats]:
    """The lines of ``data`` before byte ``cut`` as a piece, those after it as the lines read
    after the piece (parallel._load_window's last range)."""
    main, after = InputStats("piece.log"), InputStats("piece.log")
    builder = CaptureBuilder()
    builder.start_input(main)
    read_window("piece.log", [(io.BytesIO(data[:cut]), main), (io.BytesIO(data[cut:]), after)],  # type: ignore[list-item]
                builder, line_parser(), settle=settle)
    builder.finish_input("piece.log")
    return builder.build(), after


def _rows_up_to(capture: stallscope.Capture, line: int) -> list[str]:
    return [table[table["line"] <= line].astype(str).to_csv() for table in
            (capture.tasks, capture.events, capture.traces, capture.snapshots)]


@pytest.mark.parametrize("inside", [False, True])
def test_the_lines_after_a_piece_are_read_as_far_as_its_open_blocks_reach(inside: bool,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker reads past its piece only until no record or row begun in the piece is still
    open (a trace crossing the cut: to its end), not the whole LEAD_BYTES after it; the rows it
    keeps are those of reading on to the end."""
    monkeypatch.setattr(bulk, "SETTLE_BYTES", 512)
    data = (DATA / "memalloc-qemu" / "oomwrite-1cpu-128M-w3.log").read_bytes()
    lines = data.split(b"\n")
    # A trace in the middle of the log (a serial capture: CRLF): cut after its second frame, or
    # before its "Call Trace:" line.
    opening = [at for at, line in enumerate(lines) if line.rstrip(b"\r").endswith(b"] Call Trace:")][80]
    kept = opening + 2 if inside else opening - 1  # lines of the piece
    cut = sum(len(line) + 1 for line in lines[:kept])
    settled, after = _read_cut(data, cut, settle=True)
    whole, after_whole = _read_cut(data, cut, settle=False)
    assert after_whole.physical_lines == data.count(b"\n") - kept
    assert 0 < after.physical_lines < after_whole.physical_lines // 10
    if inside:
        trace = settled.traces[settled.traces["line"] == opening + 1]
        assert len(trace) == 1 and trace["stack"].notna().all()
        # Read on at least to the end of the trace: every one of its frames.
        frames = settled.frames[settled.frames["stack"] == trace["stack"].iloc[0]]
        assert after.physical_lines >= len(frames) - 1
    assert _rows_up_to(settled, kept) == _rows_up_to(whole, kept)


def test_a_signal_waits_while_workers_are_forked() -> None:
    # Directed at this thread (a process-wide signal may be taken by any other thread): held
    # inside, raised as soon as the block ends, once the children would exist.
    reached = False
    with pytest.raises(KeyboardInterrupt), signals.held():
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)
        time.sleep(0.05)
        reached = True
    assert reached


def test_a_forked_worker_takes_held_signals_once_its_handlers_are_set() -> None:
    # The child is forked with Ctrl-C held (as the pool forks its workers) and then sent one:
    # it must not die of it, since signals.as_worker ignores it once the mask is lifted.
    context = multiprocessing.get_context("fork")
    ready, go = context.Event(), context.Event()
    child = context.Process(target=_ignores_ctrl_c, args=(ready, go))
    with signals.held():
        child.start()
        ready.wait(10)
        os.kill(child.pid, signal.SIGINT)  # pending in the child: it holds the signal too
        go.set()
    child.join(10)
    assert child.exitcode == 0


def test_a_forked_child_that_cannot_take_sigterm_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller that stops reading stops forked.shared's children with SIGTERM; a child that
    cannot take it (SIGTERM held, as while a child is forked) is killed once it has had its time,
    not waited for: the caller's Ctrl-C would otherwise wait as long as the child's work."""
    monkeypatch.setattr(forked, "_STOP_SECONDS", 0.5, raising=False)

    def work(share: list[int]) -> Iterator[tuple[int, int]]:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        for position in share:
            yield position, position
            time.sleep(60)

    results = forked.shared(work, [0, 1], 2)
    next(results)
    # Closed in a thread of its own: without the kill, close() would wait for a minute.
    closing = threading.Thread(target=results.close, daemon=True)
    started = time.monotonic()
    closing.start()
    closing.join(20)
    assert not closing.is_alive()
    assert time.monotonic() - started < 10
    assert multiprocessing.active_children() == []


class _Taken(Exception):
    """A signal held while a child was forked, taken as soon as the block ends."""


def test_a_signal_taken_as_a_child_is_forked_stops_that_child(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGTERM that arrives while forked.shared forks a child waits until the child exists and is
    raised as the held block ends: that child must be among those stopped. It was not (it was
    listed after the block), and outlived the process, holding its standard error open: a test's
    `analyze` then seemed to hang for a minute after its one line (found under load, twice)."""
    real = signals.held

    @contextlib.contextmanager
    def held_then_taken() -> Iterator[None]:
        with real():
            yield
        raise _Taken

    monkeypatch.setattr(signals, "held", held_then_taken)

    def work(share: list[int]) -> Iterator[tuple[int, int]]:
        for position in share:
            time.sleep(60)
            yield position, position

    results = forked.shared(work, [0, 1], 2)
    with pytest.raises(_Taken):
        next(results)
    assert multiprocessing.active_children() == []


def _ignores_ctrl_c(ready: object, go: object) -> None:
    ready.set()  # type: ignore[attr-defined]
    go.wait(10)  # type: ignore[attr-defined]
    signals.as_worker()
    time.sleep(0.1)  # a Ctrl-C taken with Python's default handler would end the child here


def test_a_read_piece_leaves_no_builder_for_the_cycle_collector() -> None:
    """A worker reads its next piece with the cycle collector off: the builder of the piece
    before (its columns) must be freed when the piece is returned, not held by a cycle until the
    collector walks the heap again (a 256 MB piece of serial held 130 MB so)."""
    import gc

    from stallscope.capture.builder import CaptureBuilder

    log = DATA / "lkml" / "2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log"
    size = log.stat().st_size
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        capture, _ = parallel._load_piece(parallel.Piece(str(log), size // 3, 2 * size // 3), False)
        left = [o for o in gc.get_objects() if isinstance(o, CaptureBuilder)]
    finally:
        if was_enabled:
            gc.enable()
    assert len(capture.tasks) and not left


def _owner(values: object) -> object:
    """What finally holds an array's memory (its base's base ...)."""
    while getattr(values, "base", None) is not None:
        values = values.base  # type: ignore[attr-defined]
    return values


def test_a_read_piece_keeps_its_columns_where_the_builder_wrote_them() -> None:
    """A worker's piece is built and trimmed without a copy of each column: pandas 3 copies an
    array handed to a Series or a DataFrame unless told not to, and a boolean mask copies every
    column, which held 390 + 360 MB more in a worker reading 256 MB of excerpts. The columns the
    trim leaves alone are still the buffers the builder appended to, or, for an Int64 column whose
    numbers fit in 32 bits (schema.NARROW_INT), the one narrower array made from its buffer."""
    log = DATA / "lkml" / "2016-02-09_too-many-isolated-no-oom-livelock.log"
    size = log.stat().st_size
    capture, _ = parallel._load_piece(parallel.Piece(str(log), size // 3, 2 * size // 3), False)
    assert len(capture.tasks) >= 50
    assert isinstance(_owner(capture.tasks["pid"].array._data), memoryview)  # type: ignore[attr-defined]
    for column in ("flags", "delay"):
        owner = _owner(capture.tasks[column].array._data)  # type: ignore[attr-defined]
        assert isinstance(owner, np.ndarray) and owner.dtype == np.int32 and owner.flags.owndata, column
    assert isinstance(_owner(capture.tasks["ts"].to_numpy()), memoryview)
