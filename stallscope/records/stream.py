"""From the lines of one input to kernel records."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from stallscope.records.prefix import Record, split_prefix


def records(source: str, lines: Iterable[str]) -> Iterator[Record]:
    """Number the lines of ``source`` from 1 and take their prefixes apart."""
    for number, text in enumerate(lines, 1):
        ts, body = split_prefix(text)
        yield Record(source, number, None, ts, body)
