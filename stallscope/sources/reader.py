"""Inputs as streams of text lines: files, ``-`` for stdin, compressed or not.

Compression is recognised by magic bytes, not by file name, because rotated and piped logs
rarely keep an honest suffix. Bytes that are not UTF-8 are replaced, never fatal: a console
capture of a failing machine often carries line noise. A log saved as UTF-16 (Windows editors,
PowerShell's ``>``) is recognised by its byte-order mark or its NUL bytes and read as the same
text in UTF-8; a UTF-8 byte-order mark is dropped.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from stallscope.sources.export import EXPORT_MAGIC, export_lines
from stallscope.sources.journal import JOURNAL_MAGIC, JournalError, JournalStream, is_journal_directory

STDIN_NAME = "-"

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bz2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    # Recognised only to be refused in one clear line: read as text they would be pages of junk.
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"PK\x03\x04", "zip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    # Read through journalctl (stallscope.sources.journal), never as text.
    (JOURNAL_MAGIC, "journal"),
)
_UNSUPPORTED = frozenset({"lz4", "zip", "7z", "journal"})
# Why a kind cannot be read where it was met (a pipe, or inside an archive).
_REFUSED = {
    "zip": "not a zip archive that can be read: a zip is read from a file with its central directory intact "
           "(not from a pipe, nor inside another archive)",
    "journal": "a binary journal is read through journalctl, which needs it as a file: name its path",
}


class InputError(Exception):
    """An input that cannot be read; the message is one line for the user."""


class _Prepended(io.RawIOBase):
    """A byte stream with its already-read first line put back in front."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        return self._rest.readline()

    def read(self, size: int | None = -1) -> bytes:
        if self._head:
            if size is None or size < 0 or size >= len(self._head):
                head, self._head = self._head, b""
                return head + (self._rest.read() if size is None or size < 0 else self._rest.read(size - len(head)))
            head, self._head = self._head[:size], self._head[size:]
            return head
        return self._rest.read(size)

    def __iter__(self) -> Iterator[bytes]:  # type: ignore[override]
        if self._head:
            yield self._head
            self._head = b""
        yield from self._rest


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    compression: str | None


def _detect(stream: io.BufferedReader) -> str | None:
    head = stream.peek(8)[:8]
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
    if kind in _UNSUPPORTED:
        what = _REFUSED.get(kind) or \
            f"{kind} compression is not supported (decompress it first, or use gzip, xz, bz2 or zstd)"
        raise InputError(f"{name}: {what}")
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
                if is_journal_directory(path):
                    return Source(name, None), _journal(name, directory=True)
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
    if name != STDIN_NAME and _peeked(buffered, name) == "journal":
        buffered.close()
        return Source(name, None), _journal(name, directory=False)
    return open_stream(name, buffered, close=name != STDIN_NAME)


def _peeked(buffered: io.BufferedReader, name: str) -> str | None:
    try:
        return _detect(buffered)
    except OSError as error:
        raise InputError(f"{name}: cannot read ({error.strerror or error})") from None


def open_stream(name: str, raw: BinaryIO, close: bool = True) -> tuple[Source, BinaryIO]:
    """Undo the compression of an open byte stream (a file, a member of an archive) called ``name``.

    ``raw`` must have ``peek`` (a buffered reader). Kinds that cannot be read from a stream (a
    zip archive, a binary journal) are refused with :class:`InputError`; with ``close`` the
    stream is closed then.
    """
    kind = _peeked(raw, name)  # type: ignore[arg-type]
    try:
        return Source(name, kind), _decompressed(raw, kind, name)  # type: ignore[arg-type]
    except InputError:
        if close:
            raw.close()
        raise


def _journal(name: str, directory: bool) -> BinaryIO:
    """A journal file or directory as journalctl's export stream (buffered: read line by line)."""
    try:
        return io.BufferedReader(JournalStream(name, directory))
    except JournalError as error:
        raise InputError(str(error)) from None
    except OSError as error:
        raise InputError(f"{name}: cannot run journalctl ({error.strerror or error})") from None


_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# How much of the start is looked at to tell UTF-16 without a byte-order mark: text in UTF-16 has
# a NUL in every other byte (ASCII), which a UTF-8 log never has.
_SNIFF_BYTES = 64


def _mostly_ascii_utf16(data: bytes, encoding: str) -> bool:
    """Whether ``data`` reads as UTF-16 text of mostly ASCII characters (a kernel log): line noise
    that happens to start with the bytes of a byte-order mark does not."""
    pairs = len(data) // 2
    high = data[1 : 2 * pairs : 2] if encoding == "utf-16-le" else data[0 : 2 * pairs : 2]
    return pairs > 0 and high.count(0) * 2 >= pairs


def _utf16_without_bom(head: bytes) -> str | None:
    pairs = len(head) // 2
    if pairs < 8:
        return None
    even, odd = head[0 : 2 * pairs : 2], head[1 : 2 * pairs : 2]
    if odd.count(0) == pairs and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) == pairs and odd.count(0) == 0:
        return "utf-16-be"
    return None


class _Transcoded(io.RawIOBase):
    """A UTF-16 byte stream read as UTF-8 bytes."""

    def __init__(self, head: bytes, rest: BinaryIO, encoding: str) -> None:
        self._decoder = codecs.getincrementaldecoder(encoding)("replace")
        self._rest = rest
        self._head = head
        self._out = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._out and not self._done:
            raw = self._head or self._rest.read(1 << 16)
            self._head = b""
            if not raw:
                self._done = True
                self._out = self._decoder.decode(b"", final=True).encode("utf-8")
            else:
                self._out = self._decoder.decode(raw).encode("utf-8")
        size = min(len(buffer), len(self._out))
        buffer[:size] = self._out[:size]
        self._out = self._out[size:]
        return size


def utf16_encoding(head: bytes) -> str | None:
    """The UTF-16 byte order of a stream starting with ``head`` (its first bytes), or None."""
    for bom, encoding in _UTF16_BOMS:
        if head.startswith(bom) and _mostly_ascii_utf16(head[len(bom) : _SNIFF_BYTES], encoding):
            return encoding
    return _utf16_without_bom(head[:_SNIFF_BYTES])


def utf8_stream(stream: BinaryIO) -> BinaryIO:
    """``stream`` as UTF-8 bytes: a byte-order mark dropped, UTF-16 transcoded."""
    head = stream.read(_SNIFF_BYTES)
    encoding = utf16_encoding(head)
    if encoding is not None:
        bom = len(codecs.BOM_UTF16_LE) if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else 0
        return io.BufferedReader(_Transcoded(head[bom:], stream, encoding))  # type: ignore[return-value]
    if head.startswith(_UTF8_BOM):
        head = head[len(_UTF8_BOM) :]
    return _HeadThen(head, stream)  # type: ignore[return-value]


class _HeadThen:
    """Bytes already read, then the rest of the stream: read(), readinto() and readline() as the
    stream's own (errors of the stream itself pass through unchanged)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = io.BytesIO(head)
        self._left = len(head)
        self._rest = rest

    def readline(self) -> bytes:
        if not self._left:
            return self._rest.readline()
        line = self._head.readline()
        self._left -= len(line)
        return line if line.endswith(b"\n") else line + self._rest.readline()

    def read(self, size: int = -1) -> bytes:
        if not self._left:
            return self._rest.read(size)
        data = self._head.read(size)
        self._left -= len(data)
        if size < 0:
            return data + self._rest.read()
        return data + self._rest.read(size - len(data)) if len(data) < size else data

    def readinto(self, view: memoryview) -> int:
        if not self._left and hasattr(self._rest, "readinto"):
            return self._rest.readinto(view)  # type: ignore[no-any-return]
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def __iter__(self) -> Iterator[bytes]:
        if self._left:
            line = self.readline()
            while line and self._left:
                yield line
                line = self.readline()
            if line:
                yield line
        yield from self._rest  # the stream's own line iteration: most lines never pass through here


def _text_lines(stream: BinaryIO) -> Iterator[str]:
    for raw in stream:
        yield raw.decode("utf-8", "replace").rstrip("\r\n")


def iter_lines(name: str) -> Iterator[str]:
    """Yield the lines of one input without their line terminators (LF, CRLF).

    A journal export stream is handed over by :func:`export_lines`, whose binary fields are
    one item spanning several lines.
    """
    source, stream = open_binary(name)
    try:
        try:
            text = utf8_stream(stream)
            first = text.readline()
            lines = export_lines if first.startswith(EXPORT_MAGIC) else _text_lines
            yield from lines(_Prepended(first, text))  # type: ignore[arg-type]
        except (EOFError, OSError, lzma.LZMAError, ValueError) as error:
            what = source.compression or "file"
            raise InputError(f"{name}: {what} data ends early or is corrupt ({error})") from None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
