"""Inputs as streams of text lines: files, ``-`` for stdin, compressed or not.

Compression is recognised by magic bytes, not by file name, because rotated and piped logs
rarely keep an honest suffix. Bytes that are not UTF-8 are replaced, never fatal: a console
capture of a failing machine often carries line noise.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

STDIN_NAME = "-"

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bz2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


class InputError(Exception):
    """An input that cannot be read; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    compression: str | None


def _detect(stream: io.BufferedReader) -> str | None:
    head = stream.peek(6)[:6]
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def _decompressed(raw: io.BufferedReader, kind: str | None, name: str) -> BinaryIO:
    if kind is None:
        return raw
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    if kind == "xz":
        return lzma.LZMAFile(raw)  # type: ignore[return-value]
    if kind == "bz2":
        return bz2.BZ2File(raw)  # type: ignore[return-value]
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        raise InputError(f"{name}: zstd-compressed input needs the 'zstandard' package") from None
    return zstandard.ZstdDecompressor().stream_reader(raw)  # type: ignore[no-any-return]


def open_binary(name: str) -> tuple[Source, BinaryIO]:
    """Open a path (or ``-``) and undo its compression."""
    if name == STDIN_NAME:
        raw = sys.stdin.buffer if sys.stdin is not None else None
        if raw is None:
            raise InputError("-: standard input is closed")
        buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]
    else:
        path = Path(name)
        try:
            if path.is_dir():
                raise InputError(f"{name}: is a directory")
            buffered = open(path, "rb")  # noqa: SIM115 - closed by iter_lines
        except InputError:
            raise
        except FileNotFoundError:
            raise InputError(f"{name}: no such file") from None
        except PermissionError:
            raise InputError(f"{name}: permission denied") from None
        except OSError as error:
            raise InputError(f"{name}: cannot open ({error.strerror or error})") from None
    try:
        kind = _detect(buffered)
    except OSError as error:
        raise InputError(f"{name}: cannot read ({error.strerror or error})") from None
    return Source(name, kind), _decompressed(buffered, kind, name)


def iter_lines(name: str) -> Iterator[str]:
    """Yield the lines of one input without their line terminators (LF, CRLF or a lone CR)."""
    source, stream = open_binary(name)
    try:
        try:
            for raw in stream:
                text = raw.decode("utf-8", "replace")
                yield text.rstrip("\r\n")
        except (EOFError, OSError, lzma.LZMAError, ValueError) as error:
            what = source.compression or "file"
            raise InputError(f"{name}: {what} data ends early or is corrupt ({error})") from None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
