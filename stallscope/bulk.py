"""The fast path for large plain captures: whole chunks at a time, most lines never touched by Python.

The line-by-line reader (records -> parse -> builder) costs microseconds per line. In a stall log
most lines are call-trace frames that repeat verbatim and only the lines that open a block
(MemAlloc, MemAlloc-Info, task-state and report headers) carry values. So a chunk is handled as:

1. every digit of the chunk (bytes, not decoded) turned into ``0`` in one ``bytes.translate``:
   the *key* of each line keeps its prefix layout and width but not its numbers, so a few
   thousand keys cover millions of lines;
2. one dict lookup per line (``map`` over the keys, in C) gives what the key is: where its
   timestamp, host and body sit (learned once from a real line by the record layer), its line
   kind (learned once by the Lark grammars), and its class letter (head, "Call Trace:", frame,
   register line, stack words);
3. regular-expression searches over the chunk's class letters find the heads and the trace runs;
   only heads are decoded and go through the record and builder path; each run of trace lines
   is handed to the builder as one tuple of frames per "Call Trace:", cached by its frame lines.

A chunk that holds anything the fast path does not model exactly (lines without a kernel
timestamp, continuation lines, escapes, control characters, caller ids, journal or kmsg records)
is handed to the line-by-line reader instead, so both paths give the same capture.
"""

from __future__ import annotations

import io
import lzma
import re
import weakref
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import compress, pairwise, repeat
from operator import attrgetter, getitem, itemgetter
from typing import BinaryIO, TypeVar

from stallscope.capture.builder import (
    FAULT_SITE_KINDS,
    CaptureBuilder,
    Frame,
    LineStream,
    SeenEvent,
    frame_of_fields,
)
from stallscope.capture.model import InputStats
from stallscope.capture.state_lines import StatePlan, state_plan
from stallscope.capture.task_values import TaskValuesOf, compile_task_values
from stallscope.parse.kinds import (
    EVENT_KINDS,
    NOOP_KINDS,
    REGISTER_KINDS,
    STATE_KINDS,
    TASK_PREAMBLE_KINDS,
    TRACE_BODY_KINDS,
)
from stallscope.parse.lines import LineParser, Template
from stallscope.records.prefix import Record
from stallscope.records.stream import OWN_MESSAGE, RSYSLOG_ESCAPE, RecordReader, may_join, records, rewrites
from stallscope.sources.export import EXPORT_MAGIC, export_lines
from stallscope.sources.reader import open_binary, utf8_stream

T = TypeVar("T")
C = TypeVar("C")
CHUNK_BYTES = 8 << 20
# The step in which the lines after a piece are read (read_window's ``settle``): a block or
# record open at a piece's end closes within a few lines, most often in the first step.
SETTLE_BYTES = 64 << 10
# Anything the console-noise cleaner would touch (CR is handled separately) becomes NUL in the
# keys, so one ``in`` test on the translated chunk tells whether the line reader must take it.
# Anything the console-noise cleaner would touch (control bytes, a CR left after CRLF ends were
# undone) and anything not ASCII (a web page's non-breaking space, a line-noise byte, a UTF-8
# task name) becomes NUL in the keys: the record reader takes such lines, one by one.
_NOISE_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, 0x0D, *range(0x0E, 0x20), *range(0x7F, 0x100)])
_KEY_TABLE = bytes.maketrans(b"123456789" + _NOISE_BYTES, b"000000000" + b"\x00" * len(_NOISE_BYTES))
_SHORT_MONOTONIC = "journal-short-monotonic"
FAST_FORMATS = frozenset({"dmesg", "syslog", "syslog-rfc3339", "netconsole-rsyslog", _SHORT_MONOTONIC})
# Distinct traces of one capture number in the thousands; the bound only stops a pathological
# log (every trace different) from holding all of them.
_MAX_FRAME_RUNS = 20_000
# The keys of a process's lines are forgotten past either bound (a reset only costs learning the
# shapes again). A kernel log has thousands of distinct keys of a hundred bytes or so; lines that
# never repeat (journalctl -o json, every line with its cursor) would otherwise fill the cache,
# which lives as long as the process: 74 MB per 64 MB of JSON read by a worker, and the workers
# of a 1 GB journal's read held 450 MB each (bench/README.md).
_MAX_KEYS = 500_000
_MAX_KEY_BYTES = 32 << 20
# Pairs of keys asked whether they may be one message (see BulkReader._newline_cut): a boot has
# a few hundred; the bound only stops a log of lines that never repeat.
_MAX_JOINABLE = 100_000
# How the keys of journalctl's JSON outputs begin (json-seq's record separator is a noise byte).
_JSON_ENTRY = (b"{", b"\x00{", b"data: {")
_KEY_OVERHEAD = 100  # a bytes object and its place in the dict, beside the key's own bytes
# Distinct frame lines (function and offset) number in the tens of thousands at most.
_MAX_FRAME_LINES = 200_000
_UNSEEN = object()
# Event lines a reader knows by their bytes (see BulkReader._event_run); a reset only costs
# decoding them again.
_MAX_EVENT_BODIES = 20_000
# Line shapes with a compiled function; a reset only costs compiling again.
_MAX_COMPILED = 20_000
# No kernel record comes near this; a longer "line" is binary junk or a file without newlines.
# It is kept cut to this length (one line, counted once), so memory does not grow with it.
MAX_LINE_BYTES = 1 << 20
_STAMP = re.compile(r"\[\s*(\d+\.\d+)\]")
_DIGITS = re.compile(r"[0-9]+")
# Line kinds handed to the builder a run at a time (see CaptureBuilder.add_trace_run).
RUN_KINDS = TRACE_BODY_KINDS | {"call_trace"}
# What the record layer says of a line whose timestamp is below the one before it (same host).
BACKWARDS = "timestamp goes backwards"


_NO_HOST = slice(0, 0)
# A Record from a tuple of all its fields, without the keyword handling of its __new__ (heads
# are hundreds of thousands).
_new_record = tuple.__new__
_NO_FIELDS: dict[str, str] = {}  # what add_own_state is given for a line's fields (it reads none)


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
    # Where printk's timestamp sits: every line of a key has the same layout (digits keep their
    # width in the key), so the prefix is taken apart once per key, not once per line.
    ts_span: tuple[int, int] | None = None
    level: int | None = None
    # Where the wall-clock time sits; ``wall_direct``: it is that text as is (ISO), else the
    # text is a cache key for the time the record layer derives from it (syslog's "Mon DD").
    wall_span: tuple[int, int] | None = None
    wall_direct: bool = False
    template: Template | None = None
    noop: bool = False  # counted, but changes nothing in the builder (raw stack words)
    frame: bool = False
    # "Call Trace:": ends the trace that is open and starts the next one, so it travels with
    # the trace lines that follow it instead of going through the builder on its own.
    restart: bool = False
    # One letter per line of a chunk (see _CLASSES), so that heads, "Call Trace:" lines and
    # frames are found by C-level searches over a bytes string rather than a loop over lines.
    cls: int = ord("H")
    host_cut: slice = field(default_factory=lambda: _NO_HOST)
    ts_cut: slice = field(default_factory=lambda: _NO_HOST)
    wall_cut: slice | None = None
    # The digit runs of a head's body, cut by position: every line of an ASCII key has its digit
    # runs at the same places, so one C-level itemgetter replaces a regex search per line.
    digits: Callable[[str], Sequence[str]] | None = None
    # body_start as one byte (255: too far to say), so that whether a run of lines shares one
    # prefix width is a C-level count over a chunk's bytes of these.
    cut_id: int = 0
    # (cls, cut_id) as one byte (see _LineCodes): one C-level pass over a chunk's infos gives
    # both strings, each then a translate of the codes.
    code: int = 0
    # A MemAlloc task line's table values from its digit runs (see capture.task_values).
    task_values_of: TaskValuesOf | None = None
    # A line of TASK_PREAMBLE_KINDS: its template filling only the fields the builder reads of
    # it (a task-state line's state, pid and command name; not its stack, ppid or flags).
    preamble: Template | None = None
    # A task-state line: how its state and pid follow from its digit runs (capture.state_lines).
    state_plan: StatePlan | None = None
    # 1: a line the fast path takes that no grammar understands (see BulkReader.feed).
    unknown: int = 0
    # A line of EVENT_KINDS: it goes to the builder in a run with the event lines right after
    # it (BulkReader._event_run).
    event: bool = False


# Line classes: H a head (goes through the builder on its own), N raw stack words (only
# counted), R "Call Trace:", F a frame, G a register line (never opens a trace), S a register
# line that names where the CPU was (read on its own too: a crash report's fault site), M any
# other trace line (markers, bare addresses).
_CLASSES = b"HNRFGSM"
_HEAD = re.compile(b"H")
_MATCH_START = re.Match.start
_HEAD_CLASS = ord("H")
_RESTART_CLASS = ord("R")
_FAR_CUT = 255
_BODY_CUTS = [slice(at, None) for at in range(_FAR_CUT)]
_RESTART = re.compile(b"R")
_OPENER = re.compile(b"[RFM]")
_FRAMES_ONLY = bytes.maketrans(_CLASSES, bytes(c == ord("F") for c in _CLASSES))


def _line_class(kind: str | None) -> int:
    if kind in NOOP_KINDS:
        return ord("N")
    if kind == "call_trace":
        return ord("R")
    if kind == "frame":
        return ord("F")
    if kind in FAULT_SITE_KINDS:
        return ord("S")
    if kind in REGISTER_KINDS:
        return ord("G")
    return ord("M") if kind in TRACE_BODY_KINDS else ord("H")


_CODE_OF = attrgetter("code")
# The reader's test of a line that opens as messages do (never the rest of the one before it),
# on the bytes of an ASCII line's body: such pairs are not handed over.
_OWN_MESSAGE = re.compile(rb"\s*" + OWN_MESSAGE.encode())
_HOST_CUT = attrgetter("host_cut")
# The code byte of a line the fast path does not model (see _LineCodes, which never gives it out).
_SLOW_CODE = 255
_INELIGIBLE = KeyInfo(eligible=False, code=_SLOW_CODE)
# The code of a line whose key is not learned yet (see BulkReader._learn_new, which replaces it;
# _LineCodes never gives it out either), and the info that stands for such a key meanwhile.
_UNLEARNED_CODE = 254
_UNLEARNED = KeyInfo(eligible=False, code=_UNLEARNED_CODE)
_UNLEARNED_ONLY = bytes(int(code == _UNLEARNED_CODE) for code in range(256))  # a translate table
# Below one line in this many not learned, a chunk's new keys are learned line by line (see
# BulkReader._learn_new): looking every line up again costs about a tenth of a step of that loop.
_FEW_UNLEARNED = 16
_BLANK = KeyInfo(eligible=True, kind="blank")
# The code of a blank line: every _LineCodes gives _BLANK's triple the code 0 first, and no
# other line has its cut (0: a line the fast path takes has a timestamp before its body).
_BLANK_CODE = 0


class _LineCodes:
    """One byte per (line class, cut id, unknown) triple, and the tables that turn a chunk's codes
    into its class letters, cut ids and which lines no grammar understands.

    Triples are few (a handful of classes times the prefix widths of a capture); once 254 are
    taken, a new triple gets its class's "too far to say" code, which only sends its trace runs
    down the line-by-line path.
    """

    def __init__(self) -> None:
        self.triples: dict[tuple[int, int, int], int] = {}
        self.classes = bytearray(256)
        self.cuts = bytearray(256)
        self.unknown = bytearray(256)
        # _BLANK's triple first, so that its code (0, the default) means the same in every table.
        for triple in [(_BLANK.cls, _BLANK.cut_id, 0), *((c, _FAR_CUT, u) for c in _CLASSES for u in (0, 1))]:
            self.code(*triple)

    def code(self, cls: int, cut_id: int, unknown: int) -> int:
        found = self.triples.get((cls, cut_id, unknown))
        if found is None:
            if len(self.triples) >= _UNLEARNED_CODE:  # the last two codes stand for themselves
                return self.triples[(cls, _FAR_CUT, unknown)]
            found = self.triples[(cls, cut_id, unknown)] = len(self.triples)
            self.classes[found] = cls
            self.cuts[found] = cut_id
            self.unknown[found] = unknown
        return found


@dataclass(slots=True)
class _Caches:
    """What a process learned about keys, traces and dates: the pieces of a large file that one
    worker reads, and the files of a fleet, share their layouts."""

    keys: dict[bytes, KeyInfo] = field(default_factory=lambda: {b"": _BLANK})
    # About how much memory ``keys`` holds (see _MAX_KEY_BYTES).
    key_bytes: int = 0
    frame_runs: dict[tuple[bytes, ...], tuple[Frame, ...]] = field(default_factory=dict)
    walls: dict[str, str | None] = field(default_factory=dict)
    # Functions compiled per template (see _compiled), keyed by the template's identity.
    task_makers: dict[int, tuple[Template, TaskValuesOf | None]] = field(default_factory=dict)
    # (the template filling only what the builder reads, its state plan) per preamble template.
    preambles: dict[int, tuple[Template, tuple[Template, StatePlan | None] | None]] = field(default_factory=dict)
    frame_lines: dict[bytes, Frame | None] = field(default_factory=dict)
    codes: _LineCodes = field(default_factory=_LineCodes)
    # (info of a line, info of the next) -> whether the record reader could join the two lines
    # (see BulkReader._newline_cut): it depends only on their keys.
    joinable: dict[tuple[KeyInfo, KeyInfo], bool] = field(default_factory=dict)


# Per parser, since a key's info holds that parser's template.
_CACHES: weakref.WeakKeyDictionary[LineParser, _Caches] = weakref.WeakKeyDictionary()


def _caches_of(parser: LineParser) -> _Caches:
    caches = _CACHES.get(parser)
    if caches is None:
        caches = _CACHES[parser] = _Caches()
    return caches


# Kept beside the line reader (read_lines, which journal export streams need): 1.97-5.1x on a
# whole load of every family but journal-json (bench/pairs.py, bench/README.md).
class BulkReader:
    """Feeds one input's bytes into a builder, chunk by chunk.

    Chunks stay bytes: keys, hosts, timestamps and trace bodies are read from the undecoded
    lines, and only lines that open a block are decoded. Decoding line by line gives the same
    text as decoding the chunk, since a newline never sits inside a UTF-8 sequence; a key is
    only used when its prefix is ASCII, so that its byte positions are character positions.
    """

    def __init__(self, source: str, builder: CaptureBuilder, stats: InputStats, parser: LineParser):
        self.source = source
        self.builder = builder
        self.stats = stats
        self.parser = parser
        caches = self._caches = _caches_of(parser)
        self.keys = caches.keys
        self.frame_runs = caches.frame_runs
        self.walls = caches.walls
        self.task_makers = caches.task_makers
        self.preambles = caches.preambles
        self.frame_lines = caches.frame_lines
        self.codes = caches.codes
        self._host_names: dict[bytes, str] = {}
        # An event line's SeenEvent by its body's bytes (see _event_run), bounded as the
        # builder's table of them is.
        self._event_bodies: dict[bytes, SeenEvent] = {}
        # The builder's stream per host as printed (None: lines without a host); see _line_stream.
        self._streams: dict[bytes | None, LineStream] = {}
        self.lines_done = 0
        self.fast_lines = 0
        self._chunk_cut: slice | None = None
        self._cut_ids = b""
        self._fault_sites = False  # whether the chunk being walked has a register line naming a function
        # Whether the input is journalctl's short-monotonic output (decided on its first lines).
        self._journal: bool | None = None
        # The record reader of every line the fast path does not take, for the whole input.
        self.reader = RecordReader(source, parser, stats.repaired)
        # (first line, statistics) of each phase of the input; one phase unless read_window
        # reads the lines around a piece of a file as well.
        self.phases: list[tuple[int, InputStats]] = [(1, stats)]
        # host -> timestamp of the last line read, as the record layer keeps it: to flag the same
        # lines as going backwards, only heads and the ends of trace runs need their time read.
        # Shared with the reader, so that a time going backwards is seen whichever path reads it.
        self.last_ts: dict[str | None, float] = self.reader.last_ts

    # -- learning ---------------------------------------------------------------------------
    def _learn(self, raw: str, key: bytes) -> KeyInfo:
        if b"\x00" in key:
            return _INELIGIBLE  # console noise or a byte that is not ASCII: the reader's to clean
        pre = RecordReader(self.source).prefix(raw) if raw else None
        if pre is None or pre.ts is None or pre.caller is not None or pre.fmt not in FAST_FORMATS:
            return _INELIGIBLE
        if not raw[: pre.end].isascii():
            return _INELIGIBLE
        if pre.fmt == "netconsole-rsyslog" and not pre.inner:
            # A datagram without printk's [ts] continues the previous one: only the line reader
            # knows what to glue it to.
            return _INELIGIBLE
        body = raw[pre.end :]
        if "#0" in body and pre.fmt.startswith("syslog") and RSYSLOG_ESCAPE.search(body):
            return _INELIGIBLE  # rsyslog escapes: the record layer rewrites the body
        if rewrites(raw, body):
            return _INELIGIBLE  # Unicode spaces, a record printed into this one: the record layer's
        template = self.parser.template(body)
        kind = None if template is None else template.kind
        span = None
        if pre.host is not None:
            at = raw.find(pre.host, 0, pre.end)
            if at < 0:
                return _INELIGIBLE
            span = (at, at + len(pre.host))
        ts_span = None
        for stamp in _STAMP.finditer(raw, 0, pre.end):
            if float(stamp.group(1)) == pre.ts:
                ts_span = stamp.span(1)
        if ts_span is None:
            return _INELIGIBLE
        wall_span = None
        wall_direct = False
        if pre.wall is not None:
            at = raw.find(pre.wall, 0, pre.end)
            if at >= 0:
                wall_span, wall_direct = (at, at + len(pre.wall)), True
            elif span is not None:
                wall_span = (0, span[0])  # everything before the host: the date and time
            else:
                return _INELIGIBLE
        digits = None
        task_values_of = None
        if template is not None and kind not in RUN_KINDS and raw.isascii():
            digits = _digit_cutter(raw, pre.end)
            if kind == "memalloc_task":
                task_values_of = _compiled(self.task_makers, template, compile_task_values)
        preamble = plan = None
        if template is not None and kind in TASK_PREAMBLE_KINDS:
            # Once per template, not per key: every key of a shape (other hosts, prefix widths) shares it.
            preamble, plan = _compiled(  # type: ignore[misc]
                self.preambles, template, lambda shape: self._preamble(shape, len(_DIGITS.findall(raw, pre.end))))
        cls = _line_class(kind)
        cut_id = min(pre.end, _FAR_CUT)
        return KeyInfo(True, kind, kind in RUN_KINDS, pre.end, span, pre.fmt, ts_span, pre.level,
                       wall_span, wall_direct, template, kind in NOOP_KINDS, kind == "frame", kind == "call_trace",
                       cls, slice(*span) if span is not None else _NO_HOST, slice(*ts_span),
                       slice(*wall_span) if wall_span is not None else None, digits, cut_id,
                       self.codes.code(cls, cut_id, int(template is None)), task_values_of, preamble, plan,
                       int(template is None), kind in EVENT_KINDS)

    def _preamble(self, template: Template, runs: int) -> tuple[Template, StatePlan | None]:
        """A preamble line's template filling only the fields the builder reads of it, and for a
        task-state line (a shape of ``runs`` digit runs) its state plan."""
        preamble = template.only(self.builder.preamble_fields(template.kind))
        return preamble, state_plan(preamble, runs) if template.kind in STATE_KINDS else None

    # -- one chunk ----------------------------------------------------------------------------
    def feed(self, block: bytes) -> None:
        """A chunk of whole lines (without the final newline).

        The fast path is an accelerator for the lines it models, run by run: a line it does not
        model goes through the record reader with the line before it (which a continuation or a
        wrapped line may belong to), and so does each chunk's last line (the next chunk's first
        line may continue it). The reader lives as long as the input, so its state (the record it
        holds back, the format seen last) survives every chunk and every run.
        """
        if b"\r" in block:
            if block[-1:] == b"\r":  # a CRLF file's chunk is cut between its last CR and LF
                block = block[:-1]
            block = block.replace(b"\r\n", b"\n")  # a lone CR is left, as noise, to the reader
        lines = block.split(b"\n")
        keys = block.translate(_KEY_TABLE).split(b"\n")
        infos = list(map(self.keys.get, keys, repeat(_UNLEARNED)))
        codes = bytes(map(_CODE_OF, infos))
        if _UNLEARNED_CODE in codes:
            infos, codes = self._learn_new(lines, keys, infos, codes)
        # Taken from the codes as the keys gave them, before any line is marked slow below.
        unknown = codes.translate(self.codes.unknown)
        if self._journal is None:
            self._journal = any(info.fmt == _SHORT_MONOTONIC for info in infos[:2000])
        if self._journal:
            # In journalctl's short-monotonic output a program's /dev/kmsg line reads "[ts] host
            # prog: text", which only the reader, knowing the host, tells from a dmesg line.
            codes = bytes(_SLOW_CODE if info.fmt == "dmesg" else info.code for info in infos)
        if _BLANK_CODE in codes and any(info.host_span is not None for info in set(infos)):
            # A blank line among lines with a host belongs to the host before it: the line reader
            # knows which.
            codes = bytes(_SLOW_CODE if info is _BLANK else info.code for info in infos)
        if 1 in unknown:
            codes = self._newline_cut(lines, infos, codes, unknown)
        # The last line is read as if the fast path did not model it (see above).
        marked = codes[:-1] + bytes((_SLOW_CODE,))
        start = 0
        for run_start, run_end in _runs(marked, _SLOW_CODE, 1):
            slow = max(run_start - 1, start)
            if slow > start:
                self._fast(lines[start:slow], infos[start:slow], codes[start:slow])
            self._slow(lines[slow:run_end])
            start = run_end

    def _newline_cut(self, lines: list[bytes], infos: list[KeyInfo], codes: bytes, unknown: bytes) -> bytes:
        """``codes`` with the lines the record reader would join marked slow: two lines in a row
        of the same time and host that no grammar understands may be one message cut by a newline
        printed inside it (RecordReader.same_message), which only the reader joins. Runs of such
        lines are found in C; only their neighbours' timestamps are compared here, and whether
        any join of the two could be understood is asked once per pair of keys (a boot's first
        messages all carry one time: hundreds of such pairs that never join)."""
        marked: bytearray | None = None
        joinable = self._caches.joinable
        for run_start, run_end in _runs(unknown, 1, 2):
            for at in range(run_start + 1, run_end):
                before, info = infos[at - 1], infos[at]
                line, previous = lines[at], lines[at - 1]
                if (previous[before.ts_cut] == line[info.ts_cut]  # type: ignore[union-attr]
                        and previous[before.host_cut] == line[info.host_cut]  # type: ignore[union-attr]
                        and _OWN_MESSAGE.match(line, info.body_start) is None):  # type: ignore[union-attr]
                    pair = (before, info)
                    joins = joinable.get(pair)  # type: ignore[arg-type]
                    if joins is None:
                        if len(joinable) >= _MAX_JOINABLE:
                            joinable.clear()
                        joins = joinable[pair] = may_join(  # type: ignore[index]
                            self.parser, previous[before.body_start:].decode("utf-8", "replace"),  # type: ignore[union-attr]
                            line[info.body_start:].decode("utf-8", "replace"))  # type: ignore[union-attr]
                    if joins:
                        marked = marked if marked is not None else bytearray(codes)
                        marked[at - 1] = marked[at] = _SLOW_CODE
        return codes if marked is None else bytes(marked)

    def _learn_new(
        self, lines: list[bytes], keys: list[bytes], infos: list[KeyInfo], codes: bytes
    ) -> tuple[list[KeyInfo], bytes]:
        """Learn the keys of the lines of a chunk not known yet (_UNLEARNED in ``infos``, their
        code _UNLEARNED_CODE), and give those lines their infos and codes.

        Most chunks have a few such lines: they are found in C, by their code (a search of
        ``infos`` for a sentinel compared every line's info with it, half a billion instructions
        a worker on the 1 GB synthetic file). A process's first chunk has nothing but: there
        each key is learned once, from its first line, and the chunk's infos looked up again
        (one pass in C instead of a step of this loop for each of 100,000 lines)."""
        known = self.keys
        caches = self._caches
        if codes.count(_UNLEARNED_CODE) * _FEW_UNLEARNED > len(keys):
            chosen = codes.translate(_UNLEARNED_ONLY)
            first_lines: dict[bytes, bytes] = {}
            deque(map(first_lines.setdefault, compress(keys, chosen), compress(lines, chosen)), maxlen=0)
            for key, line in first_lines.items():
                self._learned(key, line)
            # A key learned but not kept is a journal entry's (see _learned).
            infos = list(map(known.get, keys, repeat(_INELIGIBLE)))
            codes = bytes(map(_CODE_OF, infos))
        else:
            learned = bytearray(codes)
            find = codes.find
            at = find(_UNLEARNED_CODE)
            while at >= 0:
                info = known.get(keys[at]) or self._learned(keys[at], lines[at])
                infos[at] = info
                learned[at] = info.code
                at = find(_UNLEARNED_CODE, at + 1)
            codes = bytes(learned)
        if len(known) > _MAX_KEYS or caches.key_bytes > _MAX_KEY_BYTES:
            known.clear()
            known[b""] = _BLANK
            caches.key_bytes = 0
            caches.joinable.clear()  # its pairs hold the keys' infos
        return infos, codes

    def _learned(self, key: bytes, line: bytes) -> KeyInfo:
        """The info of a key not known yet, learned from one of its lines and kept."""
        if key.startswith(_JSON_ENTRY):
            # An entry of journalctl -o json (json-seq, json-sse): never a fast format's line,
            # and its cursor makes every key new (learning each cost 2 us and a key kept).
            return _INELIGIBLE
        info = self.keys[key] = self._learn(line.decode("utf-8", "replace"), key)
        self._caches.key_bytes += len(key) + _KEY_OVERHEAD
        return info

    def _slow(self, lines: list[bytes]) -> None:
        """Lines through the record reader, the grammars and the builder, one by one."""
        self._streams.clear()  # the reader may see printk caller ids: their lines go elsewhere
        add = self.builder.add
        parse = self.parser.parse
        formats = self.stats.formats
        reader = self.reader
        phased = len(self.phases) > 1
        stats = self.stats
        for number, raw in enumerate(lines, self.lines_done + 1):
            for record in reader.feed(number, raw.decode("utf-8", "replace")):
                if phased:  # a record held back from the phase before is counted there
                    stats = self.stats_of_line(record.line)
                    formats = stats.formats
                formats[record.fmt] = formats.get(record.fmt, 0) + 1
                add(record, parse(record.body), stats)
        self.lines_done += len(lines)
        self.stats.physical_lines += len(lines)

    def flush(self) -> None:
        """Hand over the record the reader holds back (before fast lines, and at the end)."""
        if self.reader.pending is None and not self.reader.export:
            return
        add = self.builder.add
        parse = self.parser.parse
        for record in self.reader.flush():
            stats = self.stats_of_line(record.line)
            stats.formats[record.fmt] = stats.formats.get(record.fmt, 0) + 1
            add(record, parse(record.body), stats)

    # -- phases -------------------------------------------------------------------------------
    def holds_lines_from(self, line: int) -> bool:
        """Whether a line still to come may change what the lines up to ``line`` made: a record
        held back, or a row left open (see read_window)."""
        return self.reader.holds_lines_from(line) or self.builder.holds_rows_from(line)

    def begin_phase(self, stats: InputStats) -> None:
        """Count the lines from here on into ``stats`` (see :func:`read_window`)."""
        self.stats = stats
        self.reader.repairs = stats.repaired
        self.phases.append((self.lines_done + 1, stats))
        self.builder.stats_of_line = self.stats_of_line

    def stats_of_line(self, line: int) -> InputStats:
        """The statistics of the phase a line was read in."""
        phases = self.phases
        if len(phases) == 1 or line >= phases[-1][0]:
            return phases[-1][1]
        for first, stats in reversed(phases):
            if line >= first:
                return stats
        return phases[0][1]

    def _fast(self, lines: list[bytes], infos: list[KeyInfo], codes: bytes) -> None:
        """A run of lines the fast path models: counted a key at a time, heads and trace runs
        found by C-level searches over their class letters."""
        self.flush()
        counts = Counter(infos)
        base = self.lines_done
        stats = self.stats
        for info, n in counts.items():
            if info.template is not None:
                # Every line the grammars understood (trace lines, stack words, heads) is counted
                # here, a chunk at a time; the builder is told not to count them.
                stats.kinds[info.kind] = stats.kinds.get(info.kind, 0) + n  # type: ignore[index]
                stats.lines += n
                stats.parsed += n
            if info is not _BLANK:
                stats.formats[info.fmt] = stats.formats.get(info.fmt, 0) + n
        if counts.get(_BLANK):
            stats.formats[None] = stats.formats.get(None, 0) + counts[_BLANK]
        if any(info.host_span is not None for info in counts):
            # Lines without a host (plain dmesg, blanks) get b"": one stream, as None elsewhere.
            hosts: list[bytes] | None = list(map(getitem, lines, map(_HOST_CUT, infos)))
        else:
            hosts = None
        classes = codes.translate(self.codes.classes)
        self._fault_sites = b"S" in classes
        # Where the bodies of trace lines start, if at the same place on every one of the chunk;
        # else each line's place, as one byte, for the runs to check theirs.
        cuts = {info.body_start for info in counts if info.cls != _HEAD_CLASS}
        self._chunk_cut = slice(cuts.pop(), None) if len(cuts) == 1 else None
        self._cut_ids = codes.translate(self.codes.cuts) if self._chunk_cut is None else b""
        self._walk(lines, infos, classes, hosts, base)
        self.lines_done += len(lines)
        self.fast_lines += len(lines)
        stats.physical_lines += len(lines)

    def _walk(
        self, lines: list[bytes], infos: list[KeyInfo], classes: bytes, hosts: list[bytes] | None, base: int
    ) -> None:
        """Heads (lines that are not trace bodies) in log order; runs of trace-body lines whole.

        With several hosts interleaved, a host's trace lines are held until that host's next head
        (or the end of the chunk): nothing another host prints touches this host's block, so the
        builder sees every host's lines in order and creates rows in the order of the log.
        """
        builder = self.builder
        stats = self.stats
        streams = self._streams
        last_ts = self.last_ts
        pending: dict[bytes, list[tuple[int, int]]] = {}
        previous = -1
        taken = 0  # the heads before this one went to the builder in a run of event lines
        # Each head is handled in this loop, not in a method of its own: a large capture has
        # hundreds of thousands of them, and a call apiece shows in the total.
        for i in map(_MATCH_START, _HEAD.finditer(classes)):
            if i < taken:
                continue
            host = hosts[i] if hosts is not None else b""
            if i > previous + 1:
                gap = hosts[previous + 1 : i] if hosts is not None else None
                if not pending and (gap is None or gap.count(host) == len(gap)):
                    # The common case: the lines since the last head are this head's host's.
                    self._trace_run(lines, infos, classes, [(previous + 1, i)], base, host)
                else:
                    self._hold(pending, hosts, previous + 1, i)
            if pending:
                spans = pending.pop(host, None)
                if spans:
                    self._trace_run(lines, infos, classes, spans, base, host)
            previous = i
            info = infos[i]
            if info is _BLANK:
                builder.add(Record(self.source, base + i + 1, None, None, ""), None, stats)
                continue
            stream = streams.get(host if info.host_span is not None else None)
            if stream is None:
                stream = self._line_stream(host, info)
            raw = lines[i].decode("utf-8", "replace")
            ts = float(raw[info.ts_cut])
            last = last_ts.get(stream.host)
            last_ts[stream.host] = ts
            corrupted = BACKWARDS if last is not None and ts < last else None
            template = info.template
            if template is None:
                stats.lines += 1
                builder.add_unknown(stream, base + i + 1, ts, raw[info.body_start :], info.fmt, stats)
                continue
            if info.event:
                # With the event lines right after it (a Mem-Info dump), as one run.
                taken = self._event_run(lines, infos, classes, hosts, i, raw, ts, base, stream)
                previous = taken - 1
                continue
            kind = template.kind
            digits = info.digits
            numbers = digits(raw) if digits is not None else _DIGITS.findall(raw, info.body_start)
            if info.task_values_of is not None:
                builder.add_task(stream, base + i + 1, ts, corrupted, raw[info.body_start :].strip(),
                                 info.task_values_of(numbers))
            elif info.preamble is not None:
                plan = info.state_plan
                if plan is not None and builder.add_own_state(stream, (
                        base + i + 1, ts, corrupted, plan[0], None if plan[1] is None else int(numbers[plan[1]]),
                        _NO_FIELDS, "")):
                    continue  # the open MemAlloc task's state line: no fields needed
                builder.add_preamble(stream, base + i + 1, ts, corrupted, raw[info.body_start :], kind,
                                     info.preamble.fill(numbers))
            else:
                record = self._record(raw, info, base + i + 1, stream.host, ts, corrupted)
                builder.add_counted(record, kind, template.fill(numbers))
        if previous + 1 < len(lines):
            self._hold(pending, hosts, previous + 1, len(lines))
        for host, spans in pending.items():
            self._trace_run(lines, infos, classes, spans, base, host)

    def _event_run(self, lines: list[bytes], infos: list[KeyInfo], classes: bytes, hosts: list[bytes] | None,
                   first: int, raw: str, ts: float, base: int, stream: LineStream) -> int:
        """The event lines from ``first`` (decoded: ``raw``, at ``ts``) on that follow one another
        with nothing between them, of one stream, handed to the builder as one run; where the run
        ends. A line printed before shares that line's fields; a new one has them read from its
        digit runs (an event row keeps no record).

        A line is looked up by its body's bytes and decoded only when new to this reader: a fast
        path line is ASCII, so its bytes and its text have the same places, and ``float`` reads
        the timestamp from bytes (170 against 540 ns a line with the decode; bench/README.md,
        thirty-seventh round)."""
        by_bytes = self._event_bodies
        known = self.builder.seen_events
        numbers: list[int] = []
        times: list[float] = []
        kinds: list[str] = []
        seen: list[SeenEvent] = []
        host = hosts[first] if hosts is not None else b""
        has_host = infos[first].host_span is not None
        at = first
        end = len(lines)
        text: str | None = raw
        while True:
            info = infos[at]
            template = info.template
            assert template is not None
            body = lines[at][info.body_start :].strip()
            one = by_bytes.get(body)
            if one is None:
                if text is None:
                    text = lines[at].decode("utf-8", "replace")
                stripped = text[info.body_start :].strip()
                one = known.get(stripped)
                if one is None:
                    digits = info.digits
                    one = self.builder.remember_event(stripped, template.fill(
                        digits(text) if digits is not None else _DIGITS.findall(text, info.body_start)))
                if len(by_bytes) >= _MAX_EVENT_BODIES:
                    by_bytes.clear()
                by_bytes[body] = one
            numbers.append(base + at + 1)
            times.append(ts)
            kinds.append(template.kind)  # type: ignore[arg-type]
            seen.append(one)
            at += 1
            if at == end or classes[at] != _HEAD_CLASS:
                break
            info = infos[at]
            if not info.event or (info.host_span is not None) != has_host or (
                    hosts is not None and hosts[at] != host):
                break
            text = None
            ts = float(lines[at][info.ts_cut])
        self.builder.add_event_run(stream, numbers, times, kinds, seen)
        self.last_ts[stream.host] = ts
        return at

    @staticmethod
    def _hold(
        pending: dict[bytes, list[tuple[int, int]]], hosts: list[bytes] | None, start: int, end: int
    ) -> None:
        """Queue the trace-body lines [start, end) on their hosts' pending runs, as spans of lines."""
        if hosts is None:
            _add_span(pending, b"", start, end)
            return
        gap = hosts[start:end]
        if gap.count(gap[0]) == len(gap):
            _add_span(pending, gap[0], start, end)
            return
        stretch = start
        for at in range(start + 1, end):
            if hosts[at] != hosts[at - 1]:
                _add_span(pending, hosts[at - 1], stretch, at)
                stretch = at
        _add_span(pending, hosts[end - 1], stretch, end)

    def _line_stream(self, host_bytes: bytes, info: KeyInfo) -> LineStream:
        """The builder's stream for the lines of this host (as printed), kept until a chunk goes
        through the line reader (which may see caller ids, and a caller's lines go elsewhere)."""
        has_host = info.host_span is not None
        host = self._host_name(host_bytes) if has_host else None
        if host is not None and info.fmt == "netconsole-rsyslog":
            self.reader.hosts.add(host)  # what the reader knows of the receiver's hosts, as if it read the line
        stream = self._streams[host_bytes if has_host else None] = self.builder.line_stream(self.source, host)
        return stream

    def _host_name(self, host_bytes: bytes) -> str:
        host = self._host_names.get(host_bytes)
        if host is None:
            if len(self._host_names) >= 100_000:
                self._host_names.clear()
            host = self._host_names[host_bytes] = host_bytes.decode("ascii")  # prefixes are ASCII
        return host

    def _record(
        self, raw: str, info: KeyInfo, number: int, host: str | None, ts: float, corrupted: str | None
    ) -> Record:
        """The record of a head line whose time (and whether it goes backwards) is known."""
        wall = None
        if info.wall_cut is not None:
            wall = raw[info.wall_cut]
            if not info.wall_direct:
                wall = self._wall(wall, raw)
        return _new_record(Record, (self.source, number, host, ts, raw[info.body_start :], wall, None, info.level,
                                    corrupted, info.fmt))

    def _wall(self, text: str, raw: str) -> str | None:
        """The wall time the record layer makes of a prefix's date text (syslog has no year)."""
        wall = self.walls.get(text)
        if wall is None:
            pre = RecordReader(self.source).prefix(raw)
            assert pre is not None
            wall = pre.wall
            if len(self.walls) > 100_000:
                self.walls.clear()
            self.walls[text] = wall
        return wall

    def _trace_run(
        self, lines: list[bytes], infos: list[KeyInfo], classes: bytes, spans: list[tuple[int, int]], base: int,
        host_bytes: bytes,
    ) -> None:
        """Trace lines of one host (``host_bytes`` as printed) between two of its heads: one
        builder call per "Call Trace:"."""
        first = infos[spans[0][0]]
        stream = self._streams.get(host_bytes if first.host_span is not None else None)
        if stream is None:
            stream = self._line_stream(host_bytes, first)
        # Register lines that name where the CPU was (one or two per crash report): read one by
        # one, as the line reader does, before the run's traces are handed over. Most chunks
        # have none, and only a report's trace keeps one (a search per run less).
        for begin, end in spans if self._fault_sites and stream.event_row is not None else ():
            at = classes.find(b"S", begin, end)
            while at >= 0:
                self._fault_site(lines[at], infos[at], base + at + 1, stream)
                at = classes.find(b"S", at + 1, end)
        cut = None
        if len(spans) == 1:
            begin, end = spans[0]
            cut = self._chunk_cut
            if cut is None:
                ids = self._cut_ids
                first_id = ids[begin]
                if first_id != _FAR_CUT and ids.count(ids[begin : begin + 1], begin, end) == end - begin:
                    cut = _BODY_CUTS[first_id]
        if cut is not None:
            # One host and one prefix width: every body is cut with one slice, in C.
            if classes.find(b"R", begin + 1, end) < 0:
                # No "Call Trace:" after the first line: one trace (the common case).
                self._trace_span(lines, infos, classes, begin, end, base, stream, cut)
                return
            bounds = [m.start() for m in _RESTART.finditer(classes, begin, end)]
            if bounds[0] != begin:
                bounds.insert(0, begin)
            bounds.append(end)
            for a, b in pairwise(bounds):
                self._trace_span(lines, infos, classes, a, b, base, stream, cut)
            return
        # Another host's lines sit between this run's lines (or prefix widths vary): line by line.
        run = [i for begin, end in spans for i in range(begin, end)]
        starts = [at for at, i in enumerate(run) if infos[i].restart]
        if not starts:
            self._trace_segment(lines, infos, run, base, stream)
            return
        if starts[0]:
            starts.insert(0, 0)
        starts.append(len(run))
        for begin, end in pairwise(starts):
            self._trace_segment(lines, infos, run[begin:end], base, stream)

    def _fault_site(self, line: bytes, info: KeyInfo, number: int, stream: LineStream) -> None:
        if not self.builder.wants_fault_site(stream):
            return  # a register line of a watchdog's task block, or after a report's first: kept by none
        text = line[info.body_start :].decode("utf-8", "replace")
        parsed = self.parser.parse(text)
        if parsed is not None:
            self.builder.note_fault_site(stream, number, parsed.kind, parsed.fields, text.strip())

    def _trace_span(
        self, lines: list[bytes], infos: list[KeyInfo], classes: bytes, begin: int, end: int, base: int,
        stream: LineStream, cut: slice,
    ) -> None:
        """:meth:`_trace_segment` for the lines [begin, end), with no other host's line among them
        and every body starting at ``cut``."""
        noops = classes.count(b"N", begin, end)
        if noops == end - begin:
            self.last_ts[stream.host] = float(lines[end - 1][infos[end - 1].ts_cut])
            return
        restart = classes[begin] == _RESTART_CLASS
        first_frame = begin + 1 if restart else begin
        if classes.count(b"F", first_frame, end) == end - first_frame:
            frame_lines: Iterable[bytes] = lines[first_frame:end]  # nothing but frames after "Call Trace:"
            where: tuple[int | None, int | None, bool] = (base + first_frame + 1, base + end, True)
        else:
            first_at = classes.find(b"F", first_frame, end)
            last_at = classes.rfind(b"F", first_frame, end)
            if first_at < 0:
                frame_lines = ()
                where = (None, None, False)
            elif classes.count(b"F", first_at, last_at + 1) == last_at + 1 - first_at:
                # Frames on consecutive lines between markers ("<TASK>" ... "</TASK>").
                frame_lines = lines[first_at : last_at + 1]
                where = (base + first_at + 1, base + last_at + 1, True)
            else:
                frame_lines = compress(lines[first_at : last_at + 1],
                                       classes[first_at : last_at + 1].translate(_FRAMES_ONLY))
                where = (base + first_at + 1, base + last_at + 1, False)
        bodies = tuple(map(getitem, frame_lines, repeat(cut)))
        frames = self.frame_runs.get(bodies)
        if frames is None:
            frames = self._frames(bodies)
        if len(frames) != len(bodies):  # a frame line that is not a frame after all: lines unknown
            where = (where[0], where[1], False)
        if restart:  # "Call Trace:" opens the trace (the common case)
            self._hand_over(lines, infos, base, stream, frames, True, begin, None, end - 1, where)
            return
        found = _OPENER.search(classes, begin, end)
        opener = None if found is None else found.start()
        before = opener - 1 if opener is not None and opener > begin else None
        self._hand_over(lines, infos, base, stream, frames, False, opener, before, end - 1, where)

    def _hand_over(
        self, lines: list[bytes], infos: list[KeyInfo], base: int, stream: LineStream, frames: tuple[Frame, ...],
        restart: bool, opener: int | None, before: int | None, last: int,
        where: tuple[int | None, int | None, bool],
    ) -> None:
        """A run of trace lines to the builder: of the opener only its line number, time and
        "backwards" flag (decided by the line ``before`` it) are read; the run's ``last`` line sets
        the host's time. ``where``: the lines of the first and last frames, and whether they are
        consecutive (see CaptureBuilder.add_trace_run)."""
        start = None
        host = stream.host
        if opener is not None:
            if before is not None:
                self.last_ts[host] = float(lines[before][infos[before].ts_cut])
            ts = float(lines[opener][infos[opener].ts_cut])
            previous = self.last_ts.get(host)
            self.last_ts[host] = ts
            start = (base + opener + 1, ts, BACKWARDS if previous is not None and ts < previous else None)
        if opener != last:
            self.last_ts[host] = float(lines[last][infos[last].ts_cut])
        self.builder.add_trace_run(stream, start, frames, restart, where)

    def _frames(self, bodies: tuple[bytes, ...]) -> tuple[Frame, ...]:
        """The frames of a trace's frame lines (bodies only), parsed once per distinct trace."""
        frames = self.frame_runs.get(bodies)
        if frames is None:
            known = self.frame_lines
            found: list[Frame] = []
            for body in bodies:
                # Another trace through the same function at the same offset: parsed already.
                frame = known.get(body, _UNSEEN)
                if frame is _UNSEEN:
                    parsed_text = body.decode("utf-8", "replace")
                    parsed = self.parser.parse(parsed_text)
                    frame = (frame_of_fields(parsed.fields, parsed_text) if parsed is not None
                             and parsed.kind == "frame" else None)
                    if len(known) >= _MAX_FRAME_LINES:
                        known.clear()
                    known[body] = frame
                if frame is not None:
                    found.append(frame)  # type: ignore[arg-type]
            frames = tuple(found)
            if len(self.frame_runs) > _MAX_FRAME_RUNS:
                self.frame_runs.clear()
            self.frame_runs[bodies] = frames
        return frames

    def _trace_segment(
        self, lines: list[bytes], infos: list[KeyInfo], run: list[int], base: int, stream: LineStream
    ) -> None:
        """Trace-body lines (and raw stack words, which the builder ignores), at most one "Call Trace:" first."""
        body_lines = [i for i in run if not infos[i].noop]
        if not body_lines:
            self.last_ts[stream.host] = float(lines[run[-1]][infos[run[-1]].ts_cut])
            return
        # Keyed by the frame lines alone: register dumps differ on every trace and would make
        # every run a new key (and the cache grow with the log).
        frame_at = [i for i in body_lines if infos[i].frame]
        frames = self._frames(tuple([lines[i][infos[i].body_start :] for i in frame_at]))
        # Line positions in the chunk are consecutive where line numbers are.
        where: tuple[int | None, int | None, bool] = (None, None, False) if not frame_at else (
            base + frame_at[0] + 1, base + frame_at[-1] + 1,
            len(frames) == len(frame_at) and frame_at[-1] - frame_at[0] == len(frame_at) - 1)
        opener = next((i for i in body_lines if infos[i].kind not in REGISTER_KINDS), None)
        at = run.index(opener) if opener is not None else 0
        self._hand_over(lines, infos, base, stream, frames, infos[body_lines[0]].restart, opener,
                        run[at - 1] if at else None, run[-1], where)


def _compiled(cache: dict[int, tuple[Template, C | None]], template: Template,
              compile_for: Callable[[Template], C | None]) -> C | None:
    """``compile_for(template)``, once per template: keyed by identity, since a template's own
    hash walks all its fields; kept with its template, so that the id cannot be reused."""
    known = cache.get(id(template))
    if known is None or known[0] is not template:
        if len(cache) >= _MAX_COMPILED:
            cache.clear()
        known = cache[id(template)] = (template, compile_for(template))
    return known[1]


def _digit_cutter(raw: str, start: int) -> Callable[[str], Sequence[str]]:
    """What ``_DIGITS.findall(line, start)`` gives for every line of ``raw``'s key (an ASCII one)."""
    cuts = [slice(*run.span()) for run in _DIGITS.finditer(raw, start)]
    # itemgetter returns a bare item for one index; a trailing empty cut keeps it a tuple (the
    # template reads only the runs it knows).
    while len(cuts) < 2:
        cuts.append(slice(0, 0))
    return itemgetter(*cuts)


def _runs(codes: bytes, code: int, least: int) -> Iterator[tuple[int, int]]:
    """The (start, end) of every run of at least ``least`` bytes ``code`` in ``codes`` (one byte
    per line of a chunk). Found with bytes.find, which skips to the next such byte in C: a regular
    expression such as ``\\xff+`` tries a match at every byte (2% of the instructions of reading the
    synthetic family, counted; bench/README.md)."""
    wanted = bytes((code,)) * least
    other = _OTHER_THAN[code]
    at = codes.find(wanted)
    while at >= 0:
        beyond = other.search(codes, at)
        end = len(codes) if beyond is None else beyond.start()
        yield at, end
        at = codes.find(wanted, end)


# For the codes _runs looks for (lines not modelled; the "not understood" flag), a pattern of
# any other byte: where a run of that code ends.
_OTHER_THAN = {code: re.compile(b"[^" + re.escape(bytes((code,))) + b"]") for code in (1, _SLOW_CODE)}


def _add_span(pending: dict[bytes, list[tuple[int, int]]], host: bytes | None, start: int, end: int) -> None:
    spans = pending.get(host)
    if spans is None:
        pending[host] = [(start, end)]
    elif spans[-1][1] == start:
        spans[-1] = (spans[-1][0], end)
    else:
        spans.append((start, end))


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
        """Chunks read into one buffer behind the carried tail: a chunk costs one copy (the block
        handed on), not a fresh read buffer and two copies."""
        readinto = _readinto_of(self.stream)
        buffer = bytearray(MAX_LINE_BYTES + self.size)
        view = memoryview(buffer)
        try:
            while True:
                held = len(self.carry)
                got = readinto(view[held : held + self.size])
                if not got:
                    break
                end = held + got
                if self.skipping:
                    newline = buffer.find(b"\n", held, end)
                    if newline < 0:
                        continue
                    self.skipping = False
                    view[held : held + end - newline] = view[newline:end]
                    end = held + end - newline
                cut = buffer.rfind(b"\n", 0, end)
                if cut < 0:
                    self.carry = self._held(bytes(view[:end]))
                    view[: len(self.carry)] = self.carry
                    continue
                block = bytes(view[:cut])
                self.carry = self._held(bytes(view[cut + 1 : end]))
                view[: len(self.carry)] = self.carry
                yield _cut_long_lines(block)
        finally:
            view.release()
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


def _readinto_of(stream: BinaryIO) -> Callable[[memoryview], int | None]:
    """``stream.readinto``, or for a stream with read() only (a wrapper that stops at damage) the
    same by way of a copy; either way an error of the stream itself is :class:`StreamDamage`."""
    readinto = getattr(stream, "readinto", None)
    if readinto is None:
        def readinto(view: memoryview) -> int:
            data = stream.read(len(view))
            view[: len(data)] = data
            return len(data)

    def guarded(view: memoryview) -> int | None:
        try:
            return readinto(view)  # type: ignore[no-any-return]
        except _DAMAGE as error:
            raise StreamDamage(error) from error

    return guarded


class StreamDamage(Exception):
    """The input's bytes could not be read on (a truncated or corrupt compressed stream, a read
    error): only this ends an input early. What the grammars or the builder make of a line never
    does: a line they cannot take is that line unparsed."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _Joined:
    """Bytes already read, then the rest of the stream, behind readline()/read()."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head = io.BytesIO(head)
        self.rest = rest

    def readline(self) -> bytes:
        line = self.head.readline()
        if line.endswith(b"\n"):
            return line
        try:
            return line + self.rest.readline()
        except _DAMAGE as error:
            raise StreamDamage(error) from error

    def read(self, size: int = -1) -> bytes:
        data = self.head.read(size)
        try:
            if size < 0:
                return data + self.rest.read()
            return data + self.rest.read(size - len(data)) if len(data) < size else data
        except _DAMAGE as error:
            raise StreamDamage(error) from error


def chunks(stream: BinaryIO, size: int = CHUNK_BYTES) -> Iterator[str]:
    """Decoded pieces of a byte stream that end at line boundaries."""
    for block in ByteChunks(stream, size):
        yield block.decode("utf-8", "replace")


def _decoded_lines(block: bytes) -> list[str]:
    return block.decode("utf-8", "replace").split("\n")


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
    """Feed one byte stream into ``builder``, chunk by chunk (see :meth:`BulkReader.feed`).

    A journal export stream (its entries span lines and carry binary fields) is read by the
    record reader alone. A stream that ends early or is corrupt keeps what was read before;
    ``stats.damaged`` says why.
    """
    if compression is not None:
        stream = _UpToDamage(stream)  # type: ignore[assignment]
    try:
        try:
            stream = utf8_stream(stream)  # a byte-order mark dropped, UTF-16 read as UTF-8
        except _DAMAGE as error:
            raise StreamDamage(error) from error
        blocks = ByteChunks(stream, CHUNK_BYTES)
        pieces = iter(blocks)
        first = next(pieces, None)
        if first is None:
            return
        if first.startswith(EXPORT_MAGIC):
            lines: Iterator[str] = export_lines(blocks.rest(first + b"\n"))  # type: ignore[arg-type]
            read_lines(name, lines, builder, stats, parser)
            return
        reader = BulkReader(name, builder, stats, parser)
        try:
            reader.feed(first)
            for block in pieces:
                reader.feed(block)
        finally:
            # What came before damage is read to its end too.
            reader.flush()
    except StreamDamage as damage:
        # What was read before the damage stays in the capture: a rotated log cut off by a full
        # disk still holds the hours before. The caller reports stats.damaged.
        what = compression or "file"
        stats.damaged = f"{name}: {what} data ends early or is corrupt ({damage.error}); analyzed the lines before"


def read_window(name: str, phases: list[tuple[BinaryIO, InputStats]], builder: CaptureBuilder,
                parser: LineParser, settle: bool = False) -> None:
    """Feed consecutive byte ranges of one file (each ending at a line end) into ``builder``, the
    lines of each counted into its own statistics: a piece of a large file with the lines before
    and after it, read so that the blocks and records that cross the piece's edges are seen
    whole (stallscope.parallel keeps only the rows that start inside the piece).

    With ``settle``, the last range (the lines after the piece) is read only as far as it must
    be: SETTLE_BYTES at a time, until no record or row begun before it is still open. Its
    lines can change nothing else the piece keeps."""
    reader: BulkReader | None = None
    try:
        for number, (stream, stats) in enumerate(phases):
            if reader is None:
                reader = BulkReader(name, builder, stats, parser)
                builder.stats_of_line = reader.stats_of_line
            else:
                reader.begin_phase(stats)
            if settle and number == len(phases) - 1:
                last = reader.lines_done
                for block in ByteChunks(stream, SETTLE_BYTES):
                    reader.feed(block)
                    if not reader.holds_lines_from(last):
                        break
                continue
            for block in ByteChunks(stream, CHUNK_BYTES):
                reader.feed(block)
    finally:
        if reader is not None:
            reader.flush()


def _stream_errors() -> tuple[type[BaseException], ...]:
    """What a decompressor or the file system raises when the bytes cannot be read on."""
    errors: tuple[type[BaseException], ...] = (EOFError, OSError, lzma.LZMAError, ValueError)
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        return errors
    return (*errors, zstandard.ZstdError)


_DAMAGE = _stream_errors()


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
    for record in records(path, counted(lines, stats), parser, stats.repaired):
        formats[record.fmt] = formats.get(record.fmt, 0) + 1
        add(record, parse(record.body), stats)
