"""The library entry points: ``load`` captures into DataFrames, ``diagnose`` them."""

from __future__ import annotations

from stallscope.capture.builder import CaptureBuilder
from stallscope.capture.model import Capture, InputStats
from stallscope.parse.lines import LineParser
from stallscope.records.stream import records
from stallscope.sources.reader import iter_lines, open_binary

_parser: LineParser | None = None


def line_parser() -> LineParser:
    """The process-wide parser, so the shape cache is shared by every input."""
    global _parser
    if _parser is None:
        _parser = LineParser()
    return _parser


def load(*paths: str, keep_unparsed: bool = False) -> Capture:
    """Read kernel-log captures (paths, or ``-`` for stdin) into a :class:`Capture`.

    Raises :class:`stallscope.sources.reader.InputError` for an input that cannot be read.
    """
    parser = line_parser()
    builder = CaptureBuilder(keep_unparsed=keep_unparsed)
    for path in paths:
        stats = InputStats(path)
        builder.start_input(stats)
        if path != "-":
            source, stream = open_binary(path)
            stream.close()
            stats.compression = source.compression
        parse = parser.parse
        add = builder.add
        for record in records(path, iter_lines(path)):
            add(record, parse(record.body), stats)
        builder.finish_input(path)
    return builder.build()
