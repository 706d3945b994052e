"""The journal export format (``journalctl -o export``) read as bytes.

A field whose value holds a newline or other non-text bytes is written as its name, a newline,
a 64-bit little-endian length and the raw value: it cannot be split into text lines, so it is
handed over as one item, ``NAME`` + newline + value, which the records layer recognises and
counts as the physical lines it spanned.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

EXPORT_MAGIC = (b"__CURSOR=", b"__REALTIME_TIMESTAMP=")


def export_lines(stream: BinaryIO) -> Iterator[str]:
    """Text lines of an export stream, binary fields as one item each."""
    while True:
        raw = stream.readline()
        if not raw:
            return
        line = raw.rstrip(b"\n")
        if not line or b"=" in line:
            yield line.decode("utf-8", "replace")
            continue
        size = stream.read(8)
        if len(size) < 8:
            yield line.decode("utf-8", "replace")
            return
        (length,) = struct.unpack("<Q", size)
        value = stream.read(length) if length < (1 << 24) else b""
        stream.read(1)  # the newline after the value
        yield (line + b"\n" + value).decode("utf-8", "replace")
