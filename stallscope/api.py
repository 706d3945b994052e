"""The library entry points: ``load`` captures into DataFrames, ``diagnose`` them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO

from stallscope.bulk import read_input, read_lines, read_stream
from stallscope.capture.builder import CaptureBuilder
from stallscope.capture.model import Capture, InputStats
from stallscope.memory import no_cycle_collection
from stallscope.parse.lines import LineParser, shared_parser
from stallscope.sources.expand import expand_inputs


def line_parser() -> LineParser:
    """The process-wide parser, so the shape cache is shared by every input."""
    return shared_parser()


def load(*paths: str, keep_unparsed: bool = False) -> Capture:
    """Read kernel-log captures (files, directories, or ``-`` for stdin) into a :class:`Capture`.

    Raises :class:`stallscope.sources.reader.InputError` for an input that cannot be read. A
    compressed input cut short is read up to the damage and its ``InputStats.damaged`` says so.
    """
    parser = line_parser()
    builder = CaptureBuilder(keep_unparsed=keep_unparsed)
    with no_cycle_collection():
        for path in expand_inputs(paths):
            stats = InputStats(path)
            builder.start_input(stats)
            read_input(path, builder, stats, parser)
            builder.finish_input(path)
        return builder.build(consume=True)


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
        return builder.build(consume=True)


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
        return builder.build(consume=True)
