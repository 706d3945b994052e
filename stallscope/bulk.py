"""The fast path for large plain captures: whole chunks at a time, most lines never touched by Python.

The line-by-line reader (records -> parse -> builder) costs microseconds per line. In a stall log
most lines are call-trace frames that repeat verbatim and only the lines that open a block
(MemAlloc, MemAlloc-Info, task-state and report headers) carry values. So a chunk is handled as:

1. every digit of the chunk turned into ``0`` in one ``str.translate``: the *key* of each line
   keeps its prefix layout and width but not its numbers, so a few thousand keys cover millions
   of lines;
2. one dict lookup per line (``map`` over the keys, in C) gives what the key is: its prefix layout
   (learned once from a real line by the record layer), its line kind (learned once by the Lark
   grammars), and whether it is a trace-body line;
3. only lines that are not trace bodies go through the ordinary record and builder path; each run
   of trace-body lines is handed to the builder as one tuple of frames, cached by its text.

A chunk that holds anything the fast path does not model exactly (lines without a kernel
timestamp, continuation lines, escapes, control characters, caller ids, journal or kmsg records)
is handed to the line-by-line reader instead, so both paths give the same capture.
"""

from __future__ import annotations

import io
import lzma
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import repeat
from typing import BinaryIO, TypeVar

from stallscope.capture.builder import (
    REGISTER_KINDS,
    TRACE_BODY_KINDS,
    CaptureBuilder,
    Frame,
    frame_of_fields,
)
from stallscope.capture.model import InputStats
from stallscope.parse.lines import LineParser, ParsedLine, Template
from stallscope.records.prefix import Record
from stallscope.records.stream import _RSYSLOG_ESCAPE, _Reader, records
from stallscope.sources.export import EXPORT_MAGIC, export_lines
from stallscope.sources.reader import open_binary

T = TypeVar("T")
CHUNK_BYTES = 8 << 20
_ZERO_DIGITS = str.maketrans("123456789", "000000000")
# Anything the console-noise cleaner would touch (CR is handled separately).
_NOISE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x1b]")
FAST_FORMATS = frozenset({"dmesg", "syslog", "syslog-rfc3339", "netconsole-rsyslog"})
# Distinct traces of one capture number in the thousands; the bound only stops a pathological
# log (every trace different) from holding all of them.
_MAX_FRAME_RUNS = 20_000
# No kernel record comes near this; a longer "line" is binary junk or a file without newlines.
# It is kept cut to this length (one line, counted once), so memory does not grow with it.
MAX_LINE_BYTES = 1 << 20
_STAMP = re.compile(r"\[\s*(\d+\.\d+)\]")
_DIGITS = re.compile(r"[0-9]+")
# Line kinds the builder only counts: they neither end nor start a block.
NOOP_KINDS = frozenset({"stack_words"})
# What the record layer says of a line whose timestamp is below the one before it (same host).
BACKWARDS = "timestamp goes backwards"


# eq=False: identity hashing keeps Counter and membership tests in C.
@dataclass(frozen=True, slots=True, eq=False)
class KeyInfo:
    """What every line of one key is."""

    eligible: bool
    kind: str | None = None  # None: not understood by any grammar
    trace_body: bool = False
    body_start: int = 0
    host_span: tuple[int, int] | None = None
    fmt: str | None = None
    # Where printk's timestamp sits, when the rest of the prefix carries nothing else per line.
    ts_span: tuple[int, int] | None = None
    template: Template | None = None
    runs: tuple[tuple[int, int], ...] = ()  # digit runs of the body, as positions in the line
    noop: bool = False  # counted, but changes nothing in the builder (raw stack words)


_INELIGIBLE = KeyInfo(eligible=False)
_BLANK = KeyInfo(eligible=True, kind="blank")


class BulkReader:
    """Feeds one input's text into a builder, chunk by chunk."""

    def __init__(self, source: str, builder: CaptureBuilder, stats: InputStats, parser: LineParser):
        self.source = source
        self.builder = builder
        self.stats = stats
        self.parser = parser
        self.keys: dict[str, KeyInfo] = {"": _BLANK}
        self.frame_runs: dict[tuple[str, ...], tuple[Frame, ...]] = {}
        self.lines_done = 0
        self.fast_lines = 0
        # host -> timestamp of the last line read, as the record layer keeps it: to flag the same
        # lines as going backwards, only heads and the ends of trace runs need their time read.
        self.last_ts: dict[str | None, float] = {}

    # -- learning ---------------------------------------------------------------------------
    def _learn(self, raw: str) -> KeyInfo:
        pre = _Reader(self.source).prefix(raw) if raw else None
        if pre is None or pre.ts is None or pre.caller is not None or pre.fmt not in FAST_FORMATS:
            return _INELIGIBLE
        if pre.fmt == "netconsole-rsyslog" and not pre.inner:
            # A datagram without printk's [ts] continues the previous one: only the line reader
            # knows what to glue it to.
            return _INELIGIBLE
        body = raw[pre.end :]
        if "#0" in body and pre.fmt.startswith("syslog") and _RSYSLOG_ESCAPE.search(body):
            return _INELIGIBLE  # rsyslog escapes: the record layer rewrites the body
        template = self.parser.template(body)
        kind = None if template is None else template.kind
        span = None
        if pre.host is not None:
            at = raw.find(pre.host, 0, pre.end)
            if at < 0:
                return _INELIGIBLE
            span = (at, at + len(pre.host))
        ts_span = None
        if pre.fmt == "dmesg" and pre.wall is None and pre.level is None:
            stamp = _STAMP.match(raw)
            if stamp is not None and float(stamp.group(1)) == pre.ts:
                ts_span = stamp.span(1)
        runs = tuple(m.span() for m in _DIGITS.finditer(raw, pre.end))
        return KeyInfo(True, kind, kind in TRACE_BODY_KINDS, pre.end, span, pre.fmt, ts_span, template, runs,
                       kind in NOOP_KINDS)

    def fast_enough(self, text: str) -> bool:
        """Whether most of a (first) chunk can take the fast path: every line has a kernel timestamp."""
        sample = text[: 1 << 20]
        cut = sample.rfind("\n")
        sample = sample[:cut] if cut > 0 else sample
        if "\r" in sample:
            sample = sample.replace("\r\n", "\n")
        lines = sample.split("\n")
        keys = sample.translate(_ZERO_DIGITS).split("\n")
        for raw, key in zip(lines, keys, strict=True):
            info = self.keys.get(key)
            if info is None:
                info = self.keys[key] = self._learn(raw)
            if info is _INELIGIBLE:
                return False
        return True

    # -- one chunk ----------------------------------------------------------------------------
    def feed(self, text: str) -> None:
        """A chunk of whole lines (without the final newline)."""
        if "\r" in text:
            if text[-1] == "\r":  # a CRLF file's chunk is cut between its last CR and LF
                text = text[:-1]
            if text.count("\r") != text.count("\r\n"):
                self._slow(text.split("\n"))
                return
            text = text.replace("\r\n", "\n")
        lines = text.split("\n")
        if _NOISE.search(text):
            self._slow(lines)
            return
        keys = text.translate(_ZERO_DIGITS).split("\n")
        known = self.keys
        infos = list(map(known.get, keys, repeat(None)))
        if None in infos:
            for i, info in enumerate(infos):
                if info is None:
                    info = known.get(keys[i])
                    if info is None:
                        info = known[keys[i]] = self._learn(lines[i])
                    infos[i] = info
            if len(known) > 500_000:
                known.clear()
                known[""] = _BLANK
        if _INELIGIBLE in infos:
            self._slow(lines)
            return
        self._fast(lines, infos)  # type: ignore[arg-type]

    def _slow(self, lines: list[str]) -> None:
        add = self.builder.add
        parse = self.parser.parse
        formats = self.stats.formats
        reader = _Reader(self.source)
        reader.last_ts = self.last_ts  # shared, so a time going backwards across chunks is seen
        for number, text in enumerate(lines, self.lines_done + 1):
            for record in reader.feed(number, text):
                formats[record.fmt] = formats.get(record.fmt, 0) + 1
                add(record, parse(record.body), self.stats)
        for record in reader.flush():
            formats[record.fmt] = formats.get(record.fmt, 0) + 1
            add(record, parse(record.body), self.stats)
        self.lines_done += len(lines)
        self.stats.physical_lines += len(lines)

    def _fast(self, lines: list[str], infos: list[KeyInfo]) -> None:
        base = self.lines_done
        stats = self.stats
        counts = Counter(infos)
        for info, n in counts.items():
            if info.trace_body and not info.noop:
                stats.kinds[info.kind] = stats.kinds.get(info.kind, 0) + n  # type: ignore[index]
            if info is not _BLANK:
                stats.formats[info.fmt] = stats.formats.get(info.fmt, 0) + n
        if counts.get(_BLANK):
            stats.formats[None] = stats.formats.get(None, 0) + counts[_BLANK]
        if any(info.host_span is not None for info in counts):
            hosts: list[str | None] | None = [
                lines[i][info.host_span[0] : info.host_span[1]] if info.host_span is not None else None
                for i, info in enumerate(infos)
            ]
        else:
            hosts = None
        self._walk(lines, infos, hosts, base)
        self.lines_done += len(lines)
        self.fast_lines += len(lines)
        stats.physical_lines += len(lines)

    def _walk(self, lines: list[str], infos: list[KeyInfo], hosts: list[str | None] | None, base: int) -> None:
        """Heads (lines that are not trace bodies) in log order; runs of trace-body lines whole.

        With several hosts interleaved, a host's trace lines are held until that host's next head
        (or the end of the chunk): nothing another host prints touches this host's block, so the
        builder sees every host's lines in order and creates rows in the order of the log.
        """
        builder = self.builder
        stats = self.stats
        heads = [i for i, info in enumerate(infos) if not (info.trace_body or info.noop)]
        pending: dict[str | None, list[int]] = {}
        previous = -1
        for i in heads:
            if i > previous + 1:
                self._hold(pending, hosts, previous + 1, i)
            host = hosts[i] if hosts is not None else None
            run = pending.pop(host, None)
            if run:
                self._trace_run(lines, infos, run, base)
            info = infos[i]
            raw = lines[i]
            record = self._record(raw, info, base + i + 1)
            template = info.template
            parsed = None
            if template is not None:
                parsed = ParsedLine(template.kind, template.fill([raw[a:b] for a, b in info.runs]))
            builder.add(record, parsed, stats)
            previous = i
        if previous + 1 < len(lines):
            self._hold(pending, hosts, previous + 1, len(lines))
        for run in pending.values():
            self._trace_run(lines, infos, run, base)

    @staticmethod
    def _hold(pending: dict[str | None, list[int]], hosts: list[str | None] | None, start: int, end: int) -> None:
        """Queue the trace-body lines [start, end) on their hosts' pending runs."""
        if hosts is None:
            pending.setdefault(None, []).extend(range(start, end))
            return
        gap = hosts[start:end]
        if gap.count(gap[0]) == len(gap):
            pending.setdefault(gap[0], []).extend(range(start, end))
            return
        for offset, host in enumerate(gap):
            pending.setdefault(host, []).append(start + offset)

    def _record(self, raw: str, info: KeyInfo, number: int) -> Record:
        if info is _BLANK:
            return Record(self.source, number, None, None, "")
        span = info.ts_span
        if span is not None:
            ts = float(raw[span[0] : span[1]])
            return Record(self.source, number, None, ts, raw[info.body_start :], None, None, None,
                          self._after(None, ts), info.fmt)
        pre = _Reader(self.source).prefix(raw)
        assert pre is not None and pre.ts is not None
        return Record(self.source, number, pre.host, pre.ts, raw[info.body_start :], pre.wall, pre.caller,
                      pre.level, self._after(pre.host, pre.ts), pre.fmt)

    def _after(self, host: str | None, ts: float) -> str | None:
        """Note ``ts`` as the host's latest time; whether it went backwards."""
        last = self.last_ts.get(host)
        self.last_ts[host] = ts
        return BACKWARDS if last is not None and ts < last else None

    def _ts(self, raw: str, info: KeyInfo) -> float:
        span = info.ts_span
        if span is not None:
            return float(raw[span[0] : span[1]])
        pre = _Reader(self.source).prefix(raw)
        assert pre is not None and pre.ts is not None
        return pre.ts

    def _trace_run(self, lines: list[str], infos: list[KeyInfo], run: list[int], base: int) -> None:
        """Trace-body lines (and raw stack words, which the builder ignores) between two heads."""
        stats = self.stats
        body_lines = [i for i in run if not infos[i].noop]
        noops = len(run) - len(body_lines)
        if noops:
            stats.lines += noops
            stats.parsed += noops
            stats.kinds["stack_words"] = stats.kinds.get("stack_words", 0) + noops
        host = None
        span = infos[run[0]].host_span
        if span is not None:
            host = lines[run[0]][span[0] : span[1]]
        if not body_lines:
            self.last_ts[host] = self._ts(lines[run[-1]], infos[run[-1]])
            return
        # Keyed by the frame lines alone: register dumps differ on every trace and would make
        # every run a new key (and the cache grow with the log).
        bodies = tuple(lines[i][infos[i].body_start :] for i in body_lines if infos[i].kind == "frame")
        frames = self.frame_runs.get(bodies)
        if frames is None:
            found: list[Frame] = []
            for body in bodies:
                parsed = self.parser.parse(body)
                if parsed is not None and parsed.kind == "frame":
                    found.append(frame_of_fields(parsed.fields))
            frames = tuple(found)
            if len(self.frame_runs) > _MAX_FRAME_RUNS:
                self.frame_runs.clear()
            self.frame_runs[bodies] = frames
        opener = next((i for i in body_lines if infos[i].kind not in REGISTER_KINDS), None)
        record = None
        if opener is not None:
            # Only the opener's record reaches the builder; the times around it decide its flag.
            at = run.index(opener)
            if at:
                self.last_ts[host] = self._ts(lines[run[at - 1]], infos[run[at - 1]])
            record = self._record(lines[opener], infos[opener], base + opener + 1)
        if opener != run[-1]:
            self.last_ts[host] = self._ts(lines[run[-1]], infos[run[-1]])
        self.builder.add_trace_run((self.source, host), record, frames, len(body_lines), stats)


def _cut_long_lines(block: bytes) -> bytes:
    """``block`` with every line longer than MAX_LINE_BYTES cut to that length.

    A line of at least MAX_LINE_BYTES covers a whole aligned window of half that size, so only
    windows without a newline (a few ``find`` calls per chunk) need a closer look.
    """
    half = MAX_LINE_BYTES // 2
    pieces: list[bytes] = []
    done = 0
    start = done
    while start + half <= len(block):
        if block.find(b"\n", start, start + half) >= 0:
            start += half
            continue
        begin = block.rfind(b"\n", 0, start) + 1
        end = block.find(b"\n", start)
        end = len(block) if end < 0 else end
        if end - begin > MAX_LINE_BYTES and begin >= done:
            pieces.append(block[done : begin + MAX_LINE_BYTES])
            done = end
        start = end + 1
    if not pieces:
        return block
    pieces.append(block[done:])
    return b"".join(pieces)


class ByteChunks:
    """Blocks of a byte stream cut after their last newline; the cut-off tail starts the next one."""

    def __init__(self, stream: BinaryIO, size: int = CHUNK_BYTES) -> None:
        self.stream = stream
        self.size = size
        self.carry = b""
        self.skipping = False  # inside an overlong line whose head was kept: drop up to its newline

    def __iter__(self) -> Iterator[bytes]:
        while True:
            block = self.stream.read(self.size)
            if not block:
                break
            if self.skipping:
                newline = block.find(b"\n")
                if newline < 0:
                    continue
                self.skipping = False
                block = block[newline:]
            block = self.carry + block
            cut = block.rfind(b"\n")
            if cut < 0:
                self.carry = self._held(block)
                continue
            self.carry = self._held(block[cut + 1 :])
            yield _cut_long_lines(block[:cut])
        if self.carry:
            tail, self.carry = self.carry, b""
            yield tail

    def _held(self, tail: bytes) -> bytes:
        """A line still waiting for its newline, cut to MAX_LINE_BYTES so it cannot grow with the input."""
        if len(tail) <= MAX_LINE_BYTES:
            return tail
        self.skipping = True
        return tail[:MAX_LINE_BYTES]

    def rest(self, head: bytes) -> _Joined:
        """``head``, the held-back tail and the unread stream, as one stream."""
        return _Joined(head + self.carry, self.stream)


class _Joined:
    """Bytes already read, then the rest of the stream, behind readline()/read()."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head = io.BytesIO(head)
        self.rest = rest

    def readline(self) -> bytes:
        line = self.head.readline()
        if line.endswith(b"\n"):
            return line
        return line + self.rest.readline()

    def read(self, size: int = -1) -> bytes:
        data = self.head.read(size)
        if size < 0:
            return data + self.rest.read()
        return data + self.rest.read(size - len(data)) if len(data) < size else data


def chunks(stream: BinaryIO, size: int = CHUNK_BYTES) -> Iterator[str]:
    """Decoded pieces of a byte stream that end at line boundaries."""
    for block in ByteChunks(stream, size):
        yield block.decode("utf-8", "replace")


def _lines_of(texts: Iterator[str]) -> Iterator[str]:
    for text in texts:
        for line in text.split("\n"):
            yield line.rstrip("\r")


def read_input(path: str, builder: CaptureBuilder, stats: InputStats, parser: LineParser) -> None:
    """Feed one input (a path, or ``-``) into ``builder``."""
    source, stream = open_binary(path)
    stats.compression = source.compression
    try:
        read_stream(path, stream, builder, stats, parser, source.compression)
    finally:
        if path != "-":
            stream.close()


def read_stream(
    name: str,
    stream: BinaryIO,
    builder: CaptureBuilder,
    stats: InputStats,
    parser: LineParser,
    compression: str | None = None,
) -> None:
    """Feed one byte stream into ``builder``: chunk by chunk when its format allows, else line by line.

    The choice is made once, on the first chunk, so that a format the fast path does not model
    is read by one line reader from start to end (its continuation state is never cut).
    A stream that ends early or is corrupt keeps what was read before; ``stats.damaged`` says why.
    """
    if compression is not None:
        stream = _UpToDamage(stream)  # type: ignore[assignment]
    try:
        blocks = ByteChunks(stream, CHUNK_BYTES)
        pieces = iter(blocks)
        first = next(pieces, None)
        if first is None:
            return
        if first.startswith(EXPORT_MAGIC):
            lines: Iterator[str] = export_lines(blocks.rest(first + b"\n"))  # type: ignore[arg-type]
            read_lines(name, lines, builder, stats, parser)
            return
        texts = (block.decode("utf-8", "replace") for block in _chain(first, pieces))
        head = next(texts)
        reader = BulkReader(name, builder, stats, parser)
        if reader.fast_enough(head):
            reader.feed(head)
            for text in texts:
                reader.feed(text)
        else:
            read_lines(name, _lines_of(_chain(head, texts)), builder, stats, parser)
    except _DAMAGE as error:
        # What was read before the damage stays in the capture: a rotated log cut off by a full
        # disk still holds the hours before. The caller reports stats.damaged.
        what = compression or "file"
        stats.damaged = f"{name}: {what} data ends early or is corrupt ({error}); analyzed the lines before"


_DAMAGE = (EOFError, OSError, lzma.LZMAError, ValueError)


class _UpToDamage:
    """A decompressing stream whose read() hands over what came before an error, then raises it.

    GzipFile/LZMAFile.read(n) drop everything decompressed in a call that meets the damage (up
    to a whole chunk); read1() steps give it back.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        if self.error is not None:
            raise self.error
        read1 = getattr(self.stream, "read1", self.stream.read)
        parts: list[bytes] = []
        got = 0
        while size < 0 or got < size:
            try:
                piece = read1(size - got if size >= 0 else 1 << 20)
            except _DAMAGE as error:
                if not parts:
                    raise
                self.error = error
                break
            if not piece:
                break
            parts.append(piece)
            got += len(piece)
        return b"".join(parts)

    def readline(self) -> bytes:
        return self.stream.readline()


def _chain(first: T, rest: Iterator[T]) -> Iterator[T]:
    yield first
    yield from rest


def counted(lines: Iterable[str], stats: InputStats) -> Iterator[str]:
    """``lines`` passed on, counted into ``stats.physical_lines`` (a journal binary field spans several)."""
    for text in lines:
        stats.physical_lines += 1 + text.count("\n")
        yield text


def read_lines(
    path: str, lines: Iterator[str], builder: CaptureBuilder, stats: InputStats, parser: LineParser
) -> None:
    """The line reader: every line through the record layer, the grammars and the builder."""
    parse = parser.parse
    add = builder.add
    formats = stats.formats
    for record in records(path, counted(lines, stats)):
        formats[record.fmt] = formats.get(record.fmt, 0) + 1
        add(record, parse(record.body), stats)
