"""Read inputs on every core: whole files in parallel, and large plain files in pieces.

A piece starts at a line that opens a watchdog report (``MemAlloc-Info:``) when one is near the
nominal cut, so that a task's block is rarely split; each worker builds its own capture and
:func:`stallscope.capture.merge.merge` joins them in input order, shifting line numbers by the
lines of the pieces before. Compressed files and standard input are read whole.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from stallscope.api import line_parser, load
from stallscope.bulk import read_stream
from stallscope.capture.builder import CaptureBuilder
from stallscope.capture.merge import Part, merge
from stallscope.capture.model import Capture, InputStats
from stallscope.sources.expand import expand_inputs
from stallscope.sources.reader import STDIN_NAME, open_binary

# Below this a file is not worth splitting: process start-up costs more than it saves.
MIN_PIECE_BYTES = 24 << 20
# How far past a nominal cut to look for the start of a report.
_REPORT_SEARCH = 4 << 20
_REPORT_MARK = b"MemAlloc-Info:"


@dataclass(frozen=True, slots=True)
class Piece:
    path: str
    start: int = 0
    end: int | None = None  # None: the whole input, read the ordinary way


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _cut_after(handle: object, offset: int, size: int) -> int:
    """The first line start at or after ``offset``, preferring the first line of a report nearby.

    A report opens with a MemAlloc-Info line followed by MemAlloc task lines; the line that closes
    a report is followed by other output, so it is not a good place to cut.
    """
    handle.seek(offset)  # type: ignore[attr-defined]
    window = handle.read(_REPORT_SEARCH)  # type: ignore[attr-defined]
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


def plan(paths: tuple[str, ...], jobs: int) -> list[Piece]:
    pieces: list[Piece] = []
    for path in expand_inputs(paths):
        if path == STDIN_NAME or jobs < 2:
            pieces.append(Piece(path))
            continue
        source, stream = open_binary(path)
        stream.close()
        size = Path(path).stat().st_size
        if source.compression is not None or size < 2 * MIN_PIECE_BYTES:
            pieces.append(Piece(path))
            continue
        count = max(jobs, min(64, size // (64 << 20)))
        step = max(MIN_PIECE_BYTES, size // count)
        with open(path, "rb") as handle:
            start = 0
            while start < size:
                end = size if size - start < step + MIN_PIECE_BYTES // 2 else _cut_after(handle, start + step, size)
                pieces.append(Piece(path, start, end))
                start = end
    return pieces


class _Range:
    """The bytes [start, end) of a file, as a readable stream."""

    def __init__(self, handle: BinaryIO, start: int, end: int) -> None:
        handle.seek(start)
        self.handle = handle
        self.left = end - start

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        size = self.left if size < 0 else min(size, self.left)
        data = self.handle.read(size)
        self.left -= len(data)
        return data


def _load_piece(piece: Piece, keep_unparsed: bool) -> Capture:
    if piece.end is None:
        return load(piece.path, keep_unparsed=keep_unparsed)
    builder = CaptureBuilder(keep_unparsed=keep_unparsed)
    stats = InputStats(piece.path)
    builder.start_input(stats)
    with open(piece.path, "rb") as handle:
        read_stream(piece.path, _Range(handle, piece.start, piece.end), builder, stats, line_parser())  # type: ignore[arg-type]
    builder.finish_input(piece.path)
    return builder.build()


def load_parallel(*paths: str, jobs: int | None = None, keep_unparsed: bool = False) -> Capture:
    """Like :func:`stallscope.load`, using ``jobs`` worker processes (default: every core)."""
    jobs = jobs or default_jobs()
    pieces = plan(paths, jobs)
    if jobs < 2 or len(pieces) < 2 or any(p.path == STDIN_NAME for p in pieces):
        return load(*paths, keep_unparsed=keep_unparsed)
    with ProcessPoolExecutor(max_workers=min(jobs, len(pieces))) as pool:
        captures = list(pool.map(_load_piece, pieces, [keep_unparsed] * len(pieces)))
    parts: list[Part] = []
    lines_before: dict[str, int] = {}
    for piece, capture in zip(pieces, captures, strict=True):
        offset = lines_before.get(piece.path, 0) if piece.end is not None else 0
        parts.append(Part(capture, offset))
        lines_before[piece.path] = offset + capture.lines
    return merge(parts)
