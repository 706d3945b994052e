"""The library entry points: ``load`` captures into DataFrames, ``diagnose`` them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import BinaryIO

from stallscope.bulk import read_input, read_lines, read_stream
from stallscope.capture.builder import CaptureBuilder
from stallscope.capture.merge import Part, merge, settle
from stallscope.capture.model import Capture, InputStats, SkippedFile
from stallscope.memory import no_cycle_collection
from stallscope.parse.lines import LineParser, shared_parser
from stallscope.sources.archive import archive_kind, read_archive
from stallscope.sources.expand import expand
from stallscope.sources.reader import STDIN_NAME, InputError


def line_parser() -> LineParser:
    """The process-wide parser, so the shape cache is shared by every input."""
    return shared_parser()


def load(*paths: str | os.PathLike[str], keep_unparsed: bool = False) -> Capture:
    """Read kernel-log captures (files, directories, archives, or ``-`` for stdin) into a :class:`Capture`.

    A directory or archive that is a support bundle (sosreport, supportconfig) is read for its
    kernel log only; ``capture.skipped`` lists what was not read and why. Raises
    :class:`stallscope.sources.reader.InputError` for an input that cannot be read. A
    compressed input cut short is read up to the damage and its ``InputStats.damaged`` says so.
    """
    parser = line_parser()
    expansion = expand(paths)
    parts: list[Part] = []
    skipped: list[SkippedFile] = list(expansion.skipped)
    damaged: list[InputStats] = []
    builder: CaptureBuilder | None = None
    with no_cycle_collection():
        for path in expansion.inputs:
            kind = archive_kind(path) if path != STDIN_NAME else None
            if kind is not None:
                if builder is not None:  # the files before the archive, in reading order
                    parts.append(Part(builder.build(consume=True)))
                    builder = None
                parts.extend(_archive_parts(path, kind, keep_unparsed, skipped, damaged))
                continue
            if builder is None:
                builder = CaptureBuilder(keep_unparsed=keep_unparsed)
            stats = InputStats(path)
            builder.start_input(stats)
            read_input(path, builder, stats, parser)
            builder.finish_input(path)
        if builder is not None:
            parts.append(Part(builder.build(consume=True)))
        capture = merge(parts, consume=True)
    capture.inputs.extend(damaged)
    capture.skipped = skipped
    parser.remember()  # the shapes this read learned, for the next run
    return capture


def _archive_parts(path: str, kind: str, keep_unparsed: bool, skipped: list[SkippedFile],
                   damaged: list[InputStats]) -> list[Part]:
    """One part per member read of the archive at ``path``; what was not read goes to ``skipped``,
    and the archive itself to ``damaged`` when its bytes end early."""
    found = read_archive(path, kind, lambda name, stream, compression: load_stream(
        name, stream, keep_unparsed, compression))
    skipped.extend(found.skipped)
    if found.damaged is not None:
        damaged.append(InputStats(path, damaged=found.damaged))
    elif not found.results:
        kinds = " and ".join(sorted(set(found.bundles.values())))
        what = f"the {kinds} holds no kernel log" if kinds else "the archive holds no log file"
        raise InputError(f"{path}: {what} ({len(found.skipped)} member(s) skipped)")
    return [Part(capture) for capture in found.results]


def load_stream(
    name: str, stream: BinaryIO, keep_unparsed: bool = False, compression: str | None = None
) -> Capture:
    """Build a capture from one open byte stream (a file, a piece of one, bytes in memory) named
    ``name``; ``compression`` names what already decompresses it, so damage is reported as such."""
    builder = CaptureBuilder(keep_unparsed=keep_unparsed)
    stats = InputStats(name, compression=compression)
    builder.start_input(stats)
    with no_cycle_collection():
        read_stream(name, stream, builder, stats, line_parser(), compression)
        builder.finish_input(name)
        return settle(builder.build(consume=True))


def load_lines(name: str, lines: Iterable[str], keep_unparsed: bool = False) -> Capture:
    """Build a capture from already-decoded lines of one input called ``name``.

    Used for pieces of a large file read by worker processes, and by callers that hold text.
    """
    builder = CaptureBuilder(keep_unparsed=keep_unparsed)
    stats = InputStats(name)
    builder.start_input(stats)
    with no_cycle_collection():
        read_lines(name, iter(lines), builder, stats, line_parser())
        builder.finish_input(name)
        return settle(builder.build(consume=True))
