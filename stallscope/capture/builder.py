"""Assemble parsed lines into the capture tables.

The watchdog prints, per reported task, a ``MemAlloc:`` line followed by that task's state line
and call trace (the Nov 2017 variant prints the state line first). A block ends at the first
line that is not part of a trace. State is kept per (source, host) so that interleaved hosts in
one receiver log never mix. With printk caller ids (CONFIG_PRINTK_CALLER) the block state is kept
per (source, host, caller) as well: khungtaskd prints a whole report from one task, so lines of
other CPUs printed in between neither end nor join its blocks. The report state (which
MemAlloc-Info line the tasks belong to) stays per (source, host).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stallscope.capture.boots import EARLY_BOOT_SECONDS
from stallscope.capture.columns import (
    MISSING,
    BoolColumn,
    CategoryColumn,
    Column,
    FloatColumn,
    IntColumn,
    TextColumn,
    code_dtype,
    frame_of,
    row_writer,
)
from stallscope.capture.fields import NameIndex, compact
from stallscope.capture.merge import in_reading_order
from stallscope.capture.model import BootMark, Capture, InputStats, UnparsedLine
from stallscope.capture.packed_fields import pack_fields
from stallscope.capture.schema import TABLES
from stallscope.capture.state_lines import STATE_FIELDS, state_and_pid, state_comm
from stallscope.capture.task_values import STATE_WORDS, TaskValues, task_values
from stallscope.capture.task_values import split_comm_pid as split_comm_pid
from stallscope.capture.task_values import to_hex as _hex
from stallscope.capture.task_values import to_int as _int
from stallscope.parse.kinds import (
    EVENT_KINDS,
    EVENT_KINDS_WITH_TRACE,
    KINDS,
    REGISTER_KINDS,
    REPORT_END_KINDS,
    STATE_KINDS,
    TASK_PREAMBLE_KINDS,
    TRACE_BODY_KINDS,
)
from stallscope.parse.lines import ParsedLine
from stallscope.records.prefix import Record
from stallscope.records.stream import REPAIR_REASONS

# Why a row lost a value: the number printed was beyond what its column holds.
OUT_OF_RANGE = "a number too large for its column (kept as missing)"
_NAN = float("nan")
_WORKER_FIELDS = frozenset({"wq_name"})
# Bounds the table of shared event lines; only sharing, never a row, is lost when it is reset.
_MAX_SHARED_BODIES = 20_000
# Bounds the table of shared field values (see _seen_event); a reset only loses sharing.
_MAX_SHARED_VALUES = 100_000
# Bounds the identity cache of whole traces (see _intern_run); a reset only costs hashing.
_MAX_RUN_STACKS = 50_000
# (function, offset, size, module, reliable, the line as printed without its prefix): the text is
# what a finding quotes as evidence, so it is part of the frame (two traces printed differently,
# e.g. with other addresses, are two stacks).
Frame = tuple[str, int | None, int | None, str | None, bool, str]
StreamKey = tuple[str, str | None]
# A task-state line as the tasks table takes it: line number, timestamp, what corrupted the line,
# state letter, pid, its fields and its body (its command name and text are read from those only
# when the line starts a task of its own).
StateLine = tuple[int, float | None, str | None, str | None, int | None, dict[str, str], str]
# Which dump a task row comes from (the tasks table's ``dump``): the watchdog's own MemAlloc
# line, or the task-state line of a dump printed by the kernel.
DUMP_MEMALLOC = "memalloc"
DUMP_WATCHDOG = "watchdog report"  # a task-state line inside a watchdog report, of no MemAlloc line
DUMP_SYSRQ_T = "sysrq-t"
DUMP_SYSRQ_W = "sysrq-w"
DUMP_HUNG_TASK = "hung-task"
DUMP_OTHER = "task dump"  # no header says which (an excerpt, a show_state() of a debug build)
# The SysRq action that announces a dump of tasks.
# The kernel keeps a task's name in 16 bytes (TASK_COMM_LEN), 15 characters and a NUL.
_COMM_MAX = 15


def task_comm(comm: str) -> str:
    """A task name as the kernel keeps it. One longer than a comm can be has another writer's
    output glued before it on the console ("[Playing  (List Repeated)][Vol=01][00:02:54/00:04:07]
    swapper/0: page allocation failure" from a media player on the same serial port): the name is
    what follows the last "]" or blank."""
    comm = comm.strip()
    if len(comm) <= _COMM_MAX:
        return comm
    for separator in ("]", " "):
        tail = comm.rpartition(separator)[2]
        if 0 < len(tail) <= _COMM_MAX:
            return tail
    return comm


# dump_stack()'s header: the line that opens it, and the lines it prints before the trace.
_DUMP_OPENERS = frozenset({"dump_cpu", "dump_pid"})
_DUMP_PREAMBLE = frozenset(kind.start for kind in KINDS if kind.grammar == "dump_header")
_SYSRQ_DUMPS = {"Show State": DUMP_SYSRQ_T, "Show Blocked State": DUMP_SYSRQ_W}
# Event lines that say what the task-state lines after them belong to (see _dump_header).
_DUMP_HEADER_KINDS = frozenset({"sysrq", "hung_task"})


# Not frozen: a frozen dataclass sets each field through object.__setattr__ (650-980 against
# 180 ns to make one here), and the 1 GB serial family makes a million (bench/README.md,
# thirty-seventh round). Nothing writes one after it is made.
@dataclass(slots=True, eq=False)
class SeenEvent:
    """An event line's stripped text and what its row takes from it, worked out once and shared
    by the lines that repeat it (most of a Mem-Info dump, identical reports)."""

    text: str
    fields: Mapping[str, str]
    pid: int  # as the pid column holds it: its ``missing`` when none was printed or it is beyond the column
    pid_dropped: bool  # the pid printed was beyond the column's range (the line counts as corrupted)
    comm_code: int  # its command's code in the events' comm column (-1: none)


@dataclass(frozen=True, slots=True)
class _EventKind:
    """What an event row's kind means for its stream, worked out once per kind."""

    code: int  # its code in the events' kind column
    with_trace: bool  # the trace that follows belongs to it
    opens_dump: bool  # dump_stack()'s first line
    in_dump: bool  # one of dump_stack()'s first lines (the opener or its preamble)
    dump_header: bool  # says what the task-state lines after it belong to (_DUMP_HEADER_KINDS)
# Where a trace starts: its first line's number, timestamp and what corrupted that line.
TraceStart = tuple[int, float | None, str | None]


# Register lines that may name the function the CPU was at (see fault_function).
FAULT_SITE_KINDS = frozenset({"rip", "fault_location", "arch_registers"})
# arm64's and riscv's names of the program counter in a register dump.
_PC_NAMES = frozenset({"pc", "epc"})


def fault_function(kind: str, fields: dict[str, str]) -> str | None:
    """The function a register line says the CPU was at: x86 "RIP: 0010:f+..." (not user space's
    "RIP: 0033:0x7f..."), "PC is at f+...", "EIP is at ...", "IP: f+...", "NIP [...] f+...", and a
    lone "pc : f+..." / "epc : f+..." (never LR, which is the caller)."""
    function = fields.get("function")
    if not function:
        return None
    if kind == "rip":
        return function
    if kind == "fault_location":
        return function if fields.get("site") else None
    if kind == "arch_registers":
        return function if fields.get("reg_name") in _PC_NAMES else None
    return None


def frame_of_fields(fields: dict[str, str], body: str) -> Frame:
    """(function, offset, size, module, reliable, text) of one parsed frame line (any architecture),
    ``body`` the line without its prefix."""
    module = fields.get("module")
    return (
        fields["function"],
        _hex(fields.get("offset")),
        _hex(fields.get("size")),
        # "[amdgpu 9abbe9b6...]": since 5.15 a module may print its build id after its name.
        module[1:-1].partition(" ")[0] if module else None,
        "unreliable" not in fields,
        body.strip(),
    )


# A message of its own printed while a report was open (another CPU's, or a driver's between two
# reports): a subsystem's or a device's printk prefix ("binder: 3798:3799 ...", "usb 1-1: ...",
# "XFS (dm-3): ...", "audit: type=1400 ..."), or the stack-depth note of an exiting task. A line of
# a report stallscope cannot read is counted "in-report"; one of these is no report's line, and
# counting it so would hide the lines that are. (A report's own "Name: value" lines are read by
# the grammars before this is asked.)
# printk_safe's own marker (4.11-5.x): its per-CPU buffer for NMI and recursive printk overflowed,
# and this many messages of that context are lost (whose, it does not say: no block is flagged).
_LOST = re.compile(r"\s*Lost \d+ message\(s\)!\s*$")
_OWN_MESSAGE = re.compile(r"[A-Za-z][\w.\-/]*(?: [\w.:\-]+| \([\w.:\-]+\))?: \S|\S+ \(\d+\) used greatest stack depth:")

@dataclass(slots=True)
class _Report:
    """Where one (source, host) is in the watchdog's reports; shared by all its printk callers."""

    snapshot: int | None = None
    report: int | None = None
    report_has_tasks: bool = False
    # What the task-state lines printed now belong to (DUMP_*): set by the header of a dump.
    dump: str = DUMP_OTHER
    # The stack of the last trace of each pid: what "<Same stack as pid N>" stands for.
    stack_of_pid: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class LineStream:
    """Where one printk caller of one (source, host) is: its open task block and trace."""

    source: str
    host: str | None
    shared: _Report
    task_row: int | None = None
    task_pid: int | None = None
    task_has_state: bool = False
    trace_start: tuple[int, float | None] | None = None
    frames: list[Frame] = field(default_factory=list)
    # The lines of the open trace's first and last frames, and whether a line that is not one of
    # its frames (an <IRQ> marker, a damaged frame, two frames on one line) came between them:
    # only a trace whose frames sit on consecutive lines says the line of each of its frames.
    frame_first: int | None = None
    frame_last: int | None = None
    frame_gap: bool = False
    # The open trace's frames when they came in one run from the bulk reader (``frames`` is then
    # empty): the reader's cached tuple itself, so that its stack is found by identity.
    whole: tuple[Frame, ...] | None = None
    # The row a task-state line just started: a MemAlloc line of the same pid that follows it
    # (the Nov 2017 watchdog prints the state line first) takes that row over.
    dump_row: int | None = None
    event_row: int | None = None
    # dump_stack()'s "CPU: N PID: N Comm: ..." line came with no report open: the frames that
    # follow are its trace (a report whose header line is lost, or that no grammar reads; 32-bit
    # ARM and arm64 print no "Call Trace:" line to open one).
    after_dump: bool = False
    # The open trace is another task's, printed before ("<Same stack as pid N>"): its stack.
    same_as: int | None = None
    # The codes of its host and source in the events table, once it has an event row.
    event_place: tuple[int, int] | None = None


class CaptureBuilder:
    """Feed it (record, parsed line) pairs in log order; ``build()`` returns the Capture."""

    def __init__(self, keep_unparsed: bool = False) -> None:
        self.keep_unparsed = keep_unparsed
        # Which statistics a line's counts go to, when an input is read in phases (a piece of a
        # large file with the lines around it: see stallscope.bulk.read_window); else the current
        # input's.
        self.stats_of_line: Callable[[int], InputStats] | None = None
        self.unparsed: list[UnparsedLine] = []
        self.boot_marks: list[BootMark] = []
        self.inputs: list[InputStats] = []
        self._streams: dict[tuple[str, str | None, str | None], LineStream] = {}
        self._reports: dict[StreamKey, _Report] = {}
        # The caller id printed last per (source, host): a line without one (a blank or mail
        # line, console noise, a trace fed by the bulk reader) belongs to that caller's block.
        self._callers: dict[StreamKey, str] = {}
        self._stack_ids: dict[tuple[Frame, ...], int] = {}
        self._run_stacks: dict[int, tuple[tuple[Frame, ...], int]] = {}
        self.snapshots: dict[str, Column] = {
            "host": CategoryColumn(),
            "source": CategoryColumn(),
            "line": _int_column("snapshots", "line"),
            "ts": FloatColumn(),
            "stalling": _int_column("snapshots", "stalling"),
            "dying": _int_column("snapshots", "dying"),
            "exiting": _int_column("snapshots", "exiting"),
            "victim": _int_column("snapshots", "victim"),
            "oom_count": _int_column("snapshots", "oom_count"),
            "oom_count_nofs": _int_column("snapshots", "oom_count_nofs"),
            "report": _int_column("snapshots", "report"),
            "closing": BoolColumn(),
        }
        self.tasks: dict[str, Column] = {
            "host": CategoryColumn(),
            "source": CategoryColumn(),
            "line": _int_column("tasks", "line"),
            "ts": FloatColumn(),
            "snapshot": _int_column("tasks", "snapshot"),
            "comm": CategoryColumn(),
            "pid": _int_column("tasks", "pid"),
            "flags": _int_column("tasks", "flags"),
            "switches": _int_column("tasks", "switches"),
            "seq": _int_column("tasks", "seq"),
            "gfp": _int_column("tasks", "gfp"),
            "gfp_names": CategoryColumn(),
            "order": _int_column("tasks", "order"),
            "delay": _int_column("tasks", "delay"),
            **{word: BoolColumn() for word in STATE_WORDS},
            "state": CategoryColumn(),
            "state_line": _int_column("tasks", "state_line"),
            "workqueue": CategoryColumn(),
            "stack": _int_column("tasks", "stack"),
            "dump": CategoryColumn(),
        }
        self.frames: dict[str, Column] = {
            "stack": _int_column("frames", "stack"),
            "depth": _int_column("frames", "depth"),
            "function": CategoryColumn(),
            "offset": _int_column("frames", "offset"),
            "size": _int_column("frames", "size"),
            "module": CategoryColumn(),
            "reliable": BoolColumn(),
            "text": CategoryColumn(),
        }
        self.traces: dict[str, Column] = {
            "host": CategoryColumn(),
            "source": CategoryColumn(),
            "line": _int_column("traces", "line"),
            "ts": FloatColumn(),
            "stack": _int_column("traces", "stack"),
            "task": _int_column("traces", "task"),
            "event": _int_column("traces", "event"),
            # The line of its innermost frame (depth 0) when its frames sit on consecutive lines:
            # the frame of depth d is then on line frame_line + d. Missing otherwise.
            "frame_line": _int_column("traces", "frame_line"),
        }
        # Kernel reports around the watchdog (OOM killer, warn_alloc, hung tasks, ...): one row per
        # header line, its parsed fields kept as a dict, its call trace linked by ``stack``.
        self.events: dict[str, Column] = {
            "host": CategoryColumn(),
            "source": CategoryColumn(),
            "line": _int_column("events", "line"),
            "ts": FloatColumn(),
            "kind": CategoryColumn(),
            "pid": _int_column("events", "pid"),
            "comm": CategoryColumn(),
            "stack": _int_column("events", "stack"),
        }
        # The task columns set after their row was written (by the lines that follow a MemAlloc line).
        self._task_state = _category(self.tasks["state"])
        self._task_workqueue = _category(self.tasks["workqueue"])
        self._task_state_line = _integer(self.tasks["state_line"])
        self._task_stack = _integer(self.tasks["stack"])
        self._task_pids = _integer(self.tasks["pid"])
        # Every column of a task row, to overwrite one (a state line's row a MemAlloc line takes over).
        self._task_columns = list(self.tasks.values())
        self._write_snapshot = row_writer(self.snapshots)
        self._write_task = row_writer(self.tasks)
        self._write_frame = row_writer(self.frames)
        self._write_trace = row_writer(self.traces)
        # An event row is appended column by column (see _event): its codes are known in advance.
        self._event_columns = [column.codes if isinstance(column, CategoryColumn) else column.values
                               for column in self.events.values()]
        self._no_event_stack = _integer(self.events["stack"]).missing
        self._event_pids = _integer(self.events["pid"])  # its range and its "missing"
        self._event_kinds: dict[str, _EventKind] = {}
        self._event_comms = _category(self.events["comm"])
        self.event_fields: list[dict[str, str]] = []
        self.snapshot_text = TextColumn()
        self.task_text = TextColumn()
        # Sparse: few tasks are hit by a backwards timestamp or dropped messages.
        self.task_corrupted: dict[int, str] = {}
        self.event_text = TextColumn(grouped=True)  # by kind
        # Event lines repeat verbatim (lowmem_reserve, workqueue and hugepage lines of every
        # Mem-Info dump, identical reports): equal lines share one text and one set of fields.
        self._event_bodies: dict[str, SeenEvent] = {}
        # Lines that differ still share most values: a Mem-Info dump differs from the last in its
        # page counts, not in its zones' watermarks, sizes and zero counters; an OOM task table
        # row from the last one's in its rss. One string per distinct value: a third of the
        # memory the fields of a serial capture's distinct lines took (bench/README.md).
        self._field_values: dict[str, str] = {}
        self._field_names: dict[tuple[str, ...], NameIndex] = {}
        self._task_count = 0
        self._snapshot_count = 0
        self._report_count = 0
        self._event_count = 0

    # -- input bookkeeping ------------------------------------------------------------------
    def start_input(self, stats: InputStats) -> None:
        self.inputs.append(stats)

    def _stream(self, source: str, host: str | None, caller: str | None) -> LineStream:
        if caller is not None:
            self._callers[(source, host)] = caller
        elif self._callers:
            caller = self._callers.get((source, host))
        stream = self._streams.get((source, host, caller))
        if stream is None:
            shared = self._reports.get((source, host))
            if shared is None:
                shared = self._reports[(source, host)] = _Report()
            stream = self._streams[(source, host, caller)] = LineStream(source, host, shared)
        return stream

    def line_stream(self, source: str, host: str | None) -> LineStream:
        """Where the lines of (source, host) without a caller id go, for the bulk reader's calls
        below. It stays the same as long as no line with a caller id is added."""
        return self._stream(source, host, None)

    def _unparsed(self, source: str, line: int, body: str, stats: InputStats, reason: str) -> None:
        stats.unparsed += 1
        stats.unparsed_reasons[reason] = stats.unparsed_reasons.get(reason, 0) + 1
        if self.keep_unparsed:
            self.unparsed.append(UnparsedLine(source, line, body, reason))

    def add(self, record: Record, parsed: ParsedLine | None, stats: InputStats) -> None:
        if parsed is not None:
            self.add_parsed(record, parsed.kind, parsed.fields, stats)
            return
        stats.lines += 1
        if record.corrupted is not None and record.ts is None and record.corrupted.endswith(" messages dropped"):
            # printk's "** N printk messages dropped **": lines are missing here, but what follows
            # still belongs to the blocks that are open; flag them rather than cut them.
            self._unparsed(record.source, record.line, record.body, stats, "dropped-marker")
            self._dropped(record)
            return
        self.add_unknown(self._stream(record.source, record.host, record.caller), record.line, record.ts,
                         record.body, record.fmt, stats)

    def add_unknown(self, stream: LineStream, line: int, ts: float | None, body: str, fmt: str | None,
                    stats: InputStats) -> None:
        """What :meth:`add` does with a line no grammar understands (or a blank one), counted in
        ``stats.lines`` already, given its stream: the bulk reader knows the stream and builds no
        Record for the boot messages and user-space lines of a serial capture (a quarter of its lines)."""
        if body.strip():
            # (Two searches in C first: _starts_boot is a call and a copy, for most lines in vain.)
            starts = ("Linux version " in body or "-- Boot " in body) and _starts_boot(body, ts)
            if starts and line is not None:
                self.boot_marks.append(BootMark(stream.source, line, stream.host))
            if stats.kernel_line is None and ("Linux version" in body or "ainted" in body):
                # The boot banner names the kernel (and so the gfp and flag bit layouts); kept
                # here so that nothing has to read the input again to find it.
                stats.kernel_line = body.strip()
            in_trace = stream.trace_start is not None and fmt is not None and body[:1].isspace()
            if in_trace:
                reason = "trace-line"
            elif fmt is None:
                reason = "no-prefix"
            elif "Lost " in body and _LOST.match(body):
                reason = "dropped-marker"
            elif (stream.trace_start is not None or stream.task_row is not None or stream.event_row is not None) \
                    and not _OWN_MESSAGE.match(body):
                reason = "in-report"
            else:
                reason = "other-message"
            self._unparsed(stream.source, line, body, stats, reason)
            if in_trace:
                # An indented line inside an open trace is one of its frames, damaged (a garbled
                # digit, a cut): the trace goes on without it rather than losing its callers.
                # (Any line of the capture's own: dmesg -T, syslog without printk's time and
                # the like print no [ts] and are no less the kernel's.)
                if stream.task_row is not None:
                    self._corrupt(stream.task_row, "a line of its trace not understood")
                return
            if fmt is None:
                # No prefix at all ("(...snipped...)" in a mail, console garbage): nothing says
                # whose output it cut, and in a one-host log it ends what is open. So it ends
                # every block of its input. (Blank lines do not: the bulk reader cannot place
                # them between other hosts' lines.)
                for (name, _host, _caller), other in self._streams.items():
                    if name == stream.source:
                        self._end_block(other)
                        other.event_row = None
        else:
            stats.parsed += 1  # an empty line carries nothing to understand
        self._end_block(stream)
        # A report's trace follows its header directly: after a line we do not understand, a
        # later trace belongs to something else.
        stream.event_row = None

    def add_parsed(self, record: Record, kind: str, fields: dict[str, str], stats: InputStats) -> None:
        """:meth:`add` of a line a grammar understood, given its kind and fields."""
        stats.lines += 1
        stats.parsed += 1
        stats.kinds[kind] = stats.kinds.get(kind, 0) + 1
        self._dispatch(self._stream(record.source, record.host, record.caller), record, kind, fields)

    def add_counted(self, record: Record, kind: str, fields: dict[str, str]) -> None:
        """:meth:`add_parsed` of a line whose counts the caller has already added to the stats
        (the bulk reader counts a chunk's lines per key, not one by one)."""
        self._dispatch(self._stream(record.source, record.host, record.caller), record, kind, fields)

    def finish_input(self, source: str) -> None:
        for (name, _host, _caller), stream in self._streams.items():
            if name == source:
                self._end_block(stream)

    def _dropped(self, record: Record) -> None:
        # The console of (source, host) lost messages: every caller's open task block may miss lines.
        for (name, host, _caller), stream in self._streams.items():
            if name == record.source and host == record.host and stream.task_row is not None:
                self._corrupt(stream.task_row, f"{record.corrupted} inside its block")

    def _out_of_range(self, line: int | None) -> None:
        """A line held a number no int64 column can hold: counted in its input's statistics."""
        if self.stats_of_line is not None and line is not None:
            self.stats_of_line(line).corrupted += 1
        elif self.inputs:
            self.inputs[-1].corrupted += 1

    def _corrupt(self, row: int, why: str) -> None:
        known = self.task_corrupted.get(row)
        if known is None:
            self.task_corrupted[row] = why
        elif why not in known:
            self.task_corrupted[row] = f"{known}; {why}"

    # -- line kinds -------------------------------------------------------------------------
    def _dispatch(self, stream: LineStream, record: Record, kind: str, fields: dict[str, str]) -> None:
        if kind in TRACE_BODY_KINDS:
            self._trace_line(stream, record, kind, fields)
        elif kind == "call_trace":
            self._end_trace(stream)
            self._start_trace(stream, (record.line, record.ts, record.corrupted))
        elif kind in TASK_PREAMBLE_KINDS:
            self.add_preamble(stream, record.line, record.ts, record.corrupted, record.body, kind, fields)
        elif kind == "same_stack":
            self._same_stack(stream, fields)
        elif kind == "memalloc_task":
            # As add_task: the new row takes the open task's place (or the row its state line,
            # printed just before, started).
            if stream.trace_start is not None:
                self._end_trace(stream)
            self._task(stream, record, fields)
        elif kind == "memalloc_info":
            self._end_block(stream)
            self._snapshot(stream, record, fields)
        elif kind in EVENT_KINDS:
            self._end_block(stream)
            self._event(stream, record.line, record.ts, kind, fields, record.body.strip())
        else:
            self._end_block(stream)
            if kind in REPORT_END_KINDS:
                stream.event_row = None

    def _event(
        self, stream: LineStream, line: int, ts: float | None, kind: str, fields: dict[str, str], text: str,
        seen: SeenEvent | None = None,
    ) -> None:
        if seen is None:
            seen = self._event_bodies.get(text)
            if seen is None:
                seen = self._seen_event(text, fields)
        how = self._event_kinds.get(kind)
        if how is None:
            how = self._event_kind(kind)
        if how.dump_header:
            self._dump_header(stream, kind, seen.fields)
        place = stream.event_place
        if place is None:
            place = stream.event_place = (_category(self.events["host"]).code(stream.host),
                                          _category(self.events["source"]).code(stream.source))
        # The columns of self.events, in their order: host, source, line, ts, kind, pid, comm, stack.
        hosts, sources, lines, times, kinds, pids, comms, stacks = self._event_columns
        hosts.append(place[0])
        sources.append(place[1])
        lines.append(MISSING if line is None else line)
        times.append(_NAN if ts is None else ts)
        kinds.append(how.code)
        pids.append(seen.pid)
        comms.append(seen.comm_code)
        stacks.append(self._no_event_stack)
        if seen.pid_dropped:
            self._out_of_range(line)
        self.event_fields.append(seen.fields)
        self.event_text.append(seen.text, how.code)
        if how.with_trace:
            # The dump_stack() / sched_show_task() output that follows belongs to this report.
            stream.event_row = self._event_count
        if how.opens_dump:
            stream.after_dump = stream.event_row is None and stream.task_row is None
        elif not how.in_dump:
            stream.after_dump = False
        self._event_count += 1

    @property
    def seen_events(self) -> dict[str, SeenEvent]:
        """The event lines remembered, by stripped text: equal lines share one text and one set
        of fields (a reader that knows a line's text need not read its fields again)."""
        return self._event_bodies

    def remember_event(self, text: str, fields: dict[str, str]) -> SeenEvent:
        """What the row of an event line not seen before takes from it (``fields``: its fields),
        remembered for the lines that repeat it."""
        return self._seen_event(text, fields)

    def add_event_run(self, stream: LineStream, lines: list[int], times: list[float], kinds: list[str],
                      seen: list[SeenEvent]) -> None:
        """Consecutive event lines of ``stream`` (each line's :attr:`seen_events` or
        :meth:`remember_event` in ``seen``), as :meth:`add_counted` takes each in turn: the bulk
        reader's way, without records, a run of event lines (a Mem-Info dump) at once. (Their
        rows written a column at a time were 1.4x faster, short of what a second way of writing
        them must gain: bench/README.md.)"""
        self._end_block(stream)
        event = self._event
        for line, ts, kind, one in zip(lines, times, kinds, seen, strict=True):
            event(stream, line, ts, kind, one.fields, one.text, one)  # type: ignore[arg-type]

    @staticmethod
    def _dump_header(stream: LineStream, kind: str, fields: Mapping[str, str]) -> None:
        """What the task-state lines after this line belong to (a SysRq dump, a hung task)."""
        if kind == "sysrq":
            stream.shared.dump = _SYSRQ_DUMPS.get((fields.get("action") or "").strip(), DUMP_OTHER)
        else:
            stream.shared.dump = DUMP_HUNG_TASK

    def _seen_event(self, text: str, fields: dict[str, str]) -> SeenEvent:
        """The shared row values of an event line not seen before, remembered for its repeats."""
        if len(self._event_bodies) >= _MAX_SHARED_BODIES:
            self._event_bodies.clear()
        known = self._field_values
        if len(known) >= _MAX_SHARED_VALUES:
            known.clear()
        comm = fields.get("comm")
        if comm:
            comm = task_comm(comm)
            if comm != fields["comm"]:
                fields = {**fields, "comm": comm}
        pid = _int(fields.get("pid"))  # (read before compact: a dict's get is C, a Fields' is not)
        fields = compact(fields, self._field_names, known.setdefault)
        # What the pid column can hold (a garbled pid of ten digits is dropped).
        pids = self._event_pids
        dropped = pid is not None and pid not in pids.range
        seen = self._event_bodies[text] = SeenEvent(
            text, fields, pids.missing if pid is None or dropped else pid, dropped,
            self._event_comms.code(comm or None))
        return seen

    def _event_kind(self, kind: str) -> _EventKind:
        how = self._event_kinds[kind] = _EventKind(
            _category(self.events["kind"]).code(kind), kind in EVENT_KINDS_WITH_TRACE, kind in _DUMP_OPENERS,
            kind in _DUMP_OPENERS or kind in _DUMP_PREAMBLE, kind in _DUMP_HEADER_KINDS)
        return how

    def _snapshot(self, stream: LineStream, record: Record, fields: dict[str, str]) -> None:
        counts = [_int(fields.get(name)) for name in ("stalling", "dying", "exiting", "victim", "oom_count",
                                                      "oom_count_nofs")]
        # From v5 on a report is bracketed by two MemAlloc-Info lines (counts at scan time, then
        # of what was printed). A line that follows the task lines of an open report closes it:
        # both lines are one observation, not two scans.
        shared = stream.shared
        closing = shared.report is not None and shared.report_has_tasks
        if not closing:
            shared.report = self._report_count
            self._report_count += 1
        shared.dump = DUMP_WATCHDOG
        if self._write_snapshot((record.host, record.source, record.line, record.ts, *counts, shared.report,
                                 closing)):
            self._out_of_range(record.line)
        shared.report_has_tasks = False
        if closing:
            shared.report = None
        self.snapshot_text.append(record.body.strip())
        shared.snapshot = self._snapshot_count
        self._snapshot_count += 1

    def add_task(
        self, stream: LineStream, line: int, ts: float | None, corrupted: str | None, text: str, values: TaskValues
    ) -> None:
        """:meth:`add_counted` of a MemAlloc task line (stripped body ``text``) given the values its
        fields give (see capture.task_values: the bulk reader computes them without the fields)."""
        if stream.trace_start is not None:
            self._end_trace(stream)
        # The new row takes the place of an open task: _task_row resets what _close_task would.
        self._task_row(stream, line, ts, corrupted, text, values)

    def _task(self, stream: LineStream, record: Record, fields: dict[str, str]) -> None:
        self._task_row(stream, record.line, record.ts, record.corrupted, record.body.strip(), task_values(fields))

    def _task_row(
        self, stream: LineStream, line: int, ts: float | None, corrupted: str | None, text: str, values: TaskValues
    ) -> None:
        pid = values[1]
        shared = stream.shared
        taken = stream.dump_row
        if taken is not None and self._task_pids.values[taken] == pid:
            # The state line printed just before was this task's (the Nov 2017 layout): one row.
            self._take_over(taken, stream, line, ts, text, values)
            if corrupted is not None:
                self._corrupt(taken, f"MemAlloc line: {corrupted}")
            return
        row = self._task_count
        if self._write_task((
            stream.host, stream.source, line, ts, shared.snapshot, *values,
            None, None, None, None,  # state, state_line, workqueue, stack: from the lines that follow
            DUMP_MEMALLOC,
        )):
            self._out_of_range(line)
            self._corrupt(row, OUT_OF_RANGE)
        self.task_text.append(text)
        shared.report_has_tasks = shared.report is not None
        stream.task_row = row
        stream.task_pid = pid
        stream.task_has_state = False
        stream.dump_row = None
        self._task_count = row + 1
        if corrupted is not None:
            self._corrupt(row, f"MemAlloc line: {corrupted}")

    def _take_over(self, row: int, stream: LineStream, line: int, ts: float | None, text: str,
                   values: TaskValues) -> None:
        """The row a task-state line started becomes the MemAlloc line's row: its line, time,
        text and values are the MemAlloc line's; the state and state line stay."""
        columns = self._task_columns
        new = (stream.host, stream.source, line, ts, stream.shared.snapshot, *values)
        for column, value in zip(columns, new, strict=False):
            if isinstance(column, IntColumn) and value is not None and value not in column.range:
                value = None
                self._out_of_range(line)
                self._corrupt(row, OUT_OF_RANGE)
            column.set(row, value)  # type: ignore[arg-type]
        columns[-1].set(row, DUMP_MEMALLOC)  # type: ignore[arg-type]
        self.task_text.set(row, text)
        stream.shared.report_has_tasks = stream.shared.report is not None
        stream.task_row = row
        stream.task_pid = values[1]
        stream.dump_row = None

    @staticmethod
    def preamble_fields(kind: str) -> frozenset[str]:
        """The fields :meth:`add_preamble` reads of a line of ``kind``: a reader that fills a
        line's fields from its template may fill only these."""
        if kind in STATE_KINDS:
            return STATE_FIELDS
        return _WORKER_FIELDS if kind == "workqueue" else frozenset()

    def add_preamble(self, stream: LineStream, line: int | None, ts: float | None, corrupted: str | None,
                     body: str, kind: str, fields: dict[str, str]) -> None:
        """A line of TASK_PREAMBLE_KINDS (a task's state line, its workqueue, raw stack words) of
        ``stream``, counted by the caller: what :meth:`add_counted` does with its record, for a
        reader that has the stream and the line's parts at hand (the bulk reader: a capture's
        task-state lines are as many as its tasks, and a record each cost a tenth of a reading)."""
        if kind == "stack_words":
            return
        if kind == "workqueue":
            if stream.task_row is not None and stream.trace_start is None:
                self._task_workqueue.set(stream.task_row, fields.get("wq_name"))
            return
        self._state_line(stream, (line, ts, corrupted, *state_and_pid(fields), fields, body))

    def _state_line(self, stream: LineStream, line: StateLine) -> None:
        # A task-state line: it belongs to the current MemAlloc task if the pid agrees; otherwise
        # it is a task of a dump (SysRq-t/w, a hung-task report, the Nov 2017 watchdog, which
        # prints it before the MemAlloc line): a row of its own.
        if stream.trace_start is not None:
            self._end_trace(stream)
        if self.add_own_state(stream, line):
            return
        self._close_task(stream)
        self._dump_task(stream, line)

    def add_own_state(self, stream: LineStream, line: StateLine) -> bool:
        """A task-state line that is the open MemAlloc task's own (no trace open, the task has
        no state yet, the pid agrees): its state set, True. False, with nothing done, for any
        other (then :meth:`add_preamble`, which reads its fields). The bulk reader asks this
        first: the watchdog prints one such line per task, and it needs neither the line's
        fields nor its text (``line``'s fields and body are not read)."""
        if stream.trace_start is None and stream.task_row is not None and not stream.task_has_state \
                and line[4] in (None, stream.task_pid):
            self._set_state(stream, line)
            return True
        return False

    def _dump_task(self, stream: LineStream, line: StateLine) -> None:
        """A row of the tasks table for a task a kernel dump shows (no watchdog fields)."""
        number, ts, _corrupted, state, pid, fields, body = line
        comm, text = state_comm(fields), body.strip()
        row = self._task_count
        # (comm, pid, flags, switches, seq, gfp, gfp names, order, delay, uninterruptible, exiting,
        # dying, victim): the dump says only whether the task sleeps uninterruptibly.
        values = (comm, pid, None, None, None, None, None, None, None, state == "D", False, False, False)
        if self._write_task((stream.host, stream.source, number, ts, None, *values, None, None, None, None,
                             stream.shared.dump)):
            self._out_of_range(number)
            self._corrupt(row, OUT_OF_RANGE)
        self.task_text.append(text)
        self._task_count = row + 1
        stream.task_row = row
        stream.task_pid = pid
        stream.dump_row = row
        self._set_state(stream, line)

    def _set_state(self, stream: LineStream, line: StateLine) -> None:
        number, _ts, corrupted, state, _pid, _fields, _body = line
        row = stream.task_row
        assert row is not None
        # The row of a task whose block is still open need not be the last one: another host's
        # or another caller's task may have been added since.
        self._task_state.set(row, state)
        self._task_state_line.values[row] = number
        stream.task_has_state = True
        if corrupted is not None:
            self._corrupt(row, f"task-state line: {corrupted}")

    def _start_trace(self, stream: LineStream, start: TraceStart) -> None:
        line, ts, corrupted = start
        stream.trace_start = (line, ts)
        stream.after_dump = False
        stream.dump_row = None  # a MemAlloc line after a trace is another task's
        if corrupted is not None and stream.task_row is not None:
            self._corrupt(stream.task_row, f"first trace line: {corrupted}")

    def wants_fault_site(self, stream: LineStream) -> bool:
        """Whether :meth:`note_fault_site` would keep a fault site of this stream now: a report's
        event row is open and has none yet (a reader may then skip parsing the line)."""
        row = stream.event_row
        return row is not None and "fault_function" not in self.event_fields[row]

    def note_fault_site(self, stream: LineStream, line: int | None, kind: str, fields: dict[str, str],
                        text: str) -> None:
        """A register line that names the function the CPU was at ("RIP: 0010:f+0x1/0x2", "PC is
        at f+0x1/0x2", "NIP [...] f+0x1/0x2", arm64 "pc : f+0x1/0x2"), inside a report: the report's
        event row keeps the first one (``fault_function``, ``fault_line``, ``fault_text``: fields
        the capture format cannot change, like every field). A crash's trace starts at the caller;
        the report is about this function."""
        row = stream.event_row
        if row is None or line is None:
            return
        function = fault_function(kind, fields)
        if function is None:
            return
        own = self.event_fields[row]
        if "fault_function" in own:
            return
        # A copy: rows of one text share their fields.
        self.event_fields[row] = {**own, "fault_function": function, "fault_line": str(line), "fault_text": text}

    def _trace_line(self, stream: LineStream, record: Record, kind: str, fields: dict[str, str]) -> None:
        if kind in FAULT_SITE_KINDS:
            self.note_fault_site(stream, record.line, kind, fields, record.body.strip())
        if stream.trace_start is None:
            if stream.task_row is None and stream.event_row is None and not stream.after_dump:
                return  # a frame outside any trace we follow: parsed, nothing to attach
            if kind in REGISTER_KINDS:
                return  # a register dump before "Call Trace:" (soft lockups, RCU stalls) opens nothing
            self._start_trace(stream, (record.line, record.ts, record.corrupted))
        elif record.corrupted is not None and stream.task_row is not None and any(
                why in record.corrupted for why in REPAIR_REASONS):
            # A later line of the trace put back together (a wrapped frame, a cut-out record).
            self._corrupt(stream.task_row, f"a line of its trace: {record.corrupted}")
        if kind == "frame":
            if stream.whole is not None:
                stream.frames.extend(stream.whole)
                stream.whole = None
            self._frame_lines(stream, record.line, record.line, True)
            stream.frames.append(frame_of_fields(fields, record.body))

    def _same_stack(self, stream: LineStream, fields: dict[str, str]) -> None:
        """"<Same stack as pid N>" right after "Call Trace:": the open trace is that task's last."""
        if stream.trace_start is None or stream.frames or stream.whole:
            return  # not the whole of a trace: nothing to stand for
        stream.same_as = stream.shared.stack_of_pid.get(int(fields["pid"]))

    @staticmethod
    def _frame_lines(stream: LineStream, first: int | None, last: int | None, consecutive: bool) -> None:
        """Frames printed on lines ``first`` to ``last`` (``consecutive``: one frame on each) added
        to the open trace: where its frames are, or that they are not on consecutive lines."""
        if first is None or last is None:
            stream.frame_gap = True
            return
        if stream.frame_last is None:
            stream.frame_first = first
        elif first != stream.frame_last + 1:
            stream.frame_gap = True
        stream.frame_last = last
        if not consecutive:
            stream.frame_gap = True

    def add_trace_run(
        self, stream: LineStream, opener: TraceStart | None, frames: tuple[Frame, ...], restart: bool = False,
        frame_lines: tuple[int | None, int | None, bool] = (None, None, False),
    ) -> None:
        """Consecutive trace-body lines (frames, markers, registers) of the stream ``key``.

        Equivalent to :meth:`add` on each of them, except that the caller counts them in its
        stats; the bulk reader uses it so that the frames of a trace printed many times are
        handled as one tuple instead of line by line. ``opener`` is the (line number, timestamp,
        corruption) of the first line that may open a trace (a frame or marker, not a register
        line), if any; the lines carry no caller id (the bulk reader leaves those to the line
        reader). With ``restart`` the run begins with a "Call Trace:" line, ``opener``: what
        :meth:`add` does with that line comes first. ``frame_lines``: the lines of the run's first
        and last frames, and whether every line between them is one of the frames.
        """
        if restart:
            assert opener is not None
            if stream.trace_start is not None:
                self._end_trace(stream)
            self._start_trace(stream, opener)
        elif stream.trace_start is None:
            if (stream.task_row is None and stream.event_row is None and not stream.after_dump) or opener is None:
                return
            self._start_trace(stream, opener)
        if frames:
            if stream.frame_last is None and frame_lines[2]:
                # The trace's first frames, each on the next line: what _frame_lines does with them.
                stream.frame_first, stream.frame_last = frame_lines[0], frame_lines[1]
            else:
                self._frame_lines(stream, *frame_lines)
        if stream.whole is None and not stream.frames:
            stream.whole = frames
            return
        if stream.whole is not None:
            stream.frames.extend(stream.whole)
            stream.whole = None
        stream.frames.extend(frames)

    # -- block ends -------------------------------------------------------------------------
    def _end_trace(self, stream: LineStream) -> None:
        if stream.trace_start is None:
            return
        line, ts = stream.trace_start
        whole, stream.whole = stream.whole, None
        if stream.same_as is not None and not whole and not stream.frames:
            stack = stream.same_as
        elif whole is not None:
            stack = self._intern_run(whole, line)
        else:
            stack = self._intern(tuple(stream.frames), line)
            stream.frames = []
        stream.same_as = None
        if stream.task_pid is not None and stream.task_row is not None:
            stream.shared.stack_of_pid[stream.task_pid] = stack
        stream.trace_start = None
        frame_line = None if stream.frame_gap else stream.frame_first
        stream.frame_first = stream.frame_last = None
        stream.frame_gap = False
        owner = stream.task_row
        # A hung-task report's trace belongs to the report and to the task its state line shows.
        self._write_trace((stream.host, stream.source, line, ts, stack, owner, stream.event_row, frame_line))
        if owner is not None:
            self._task_stack.values[owner] = stack
            stream.task_row = None
        if stream.event_row is not None:
            events_stack = self.events["stack"]
            assert isinstance(events_stack, IntColumn)
            if events_stack.values[stream.event_row] == events_stack.missing:
                events_stack.values[stream.event_row] = stack
            stream.event_row = None

    def holds_rows_from(self, line: int) -> bool:
        """Whether a line still to come may change a row begun on or before ``line``: a stream's
        open task row, the row a task-state line started, a report's event row (its trace's
        stack, its fault site) or an open trace (its row is written as it ends, with the line it
        began on). A piece of a large file is read on past its end until none is open (see
        parallel._load_window). A row of no line, or a dump_stack() whose trace may follow,
        counts as open."""
        task_lines = _integer(self.tasks["line"]).values
        event_lines = _integer(self.events["line"]).values
        for stream in self._streams.values():
            if stream.after_dump:
                return True
            if stream.trace_start is not None and (stream.trace_start[0] is None or stream.trace_start[0] <= line):
                return True
            for row, lines in ((stream.task_row, task_lines), (stream.dump_row, task_lines),
                               (stream.event_row, event_lines)):
                if row is not None and lines[row] <= line:  # MISSING (no line) is below any
                    return True
        return False

    def _close_task(self, stream: LineStream) -> None:
        stream.dump_row = None
        stream.task_row = None
        stream.task_pid = None
        stream.task_has_state = False

    def _end_block(self, stream: LineStream) -> None:
        if stream.trace_start is not None:  # (a call saved on most lines: no trace is open)
            self._end_trace(stream)
        self._close_task(stream)

    def _intern_run(self, frames: tuple[Frame, ...], line: int | None = None) -> int:
        """:meth:`_intern` of a tuple the bulk reader hands over again and again: by identity
        first, since hashing a tuple of frames walks every field of every frame."""
        known = self._run_stacks.get(id(frames))
        if known is not None and known[0] is frames:
            return known[1]
        stack = self._intern(frames, line)
        if len(self._run_stacks) >= _MAX_RUN_STACKS:
            self._run_stacks.clear()
        # The tuple is kept with its id, so the id cannot be reused by another tuple meanwhile.
        self._run_stacks[id(frames)] = (frames, stack)
        return stack

    def _intern(self, frames: tuple[Frame, ...], line: int | None = None) -> int:
        found = self._stack_ids.get(frames)
        if found is not None:
            return found
        stack = self._stack_ids[frames] = len(self._stack_ids)
        for depth, frame in enumerate(frames):
            if self._write_frame((stack, depth, *frame)):
                self._out_of_range(line)
        return stack

    def build(self, consume: bool = False) -> Capture:
        """The capture, every open block ended (the input is over). With ``consume`` the rows
        move into the capture and the builder is left empty: for a caller done with it."""
        for stream in self._streams.values():
            self._end_block(stream)
        return in_reading_order(self.snapshot(consume))

    def snapshot(self, consume: bool = False) -> Capture:
        """The rows so far, leaving open blocks open (``watch`` looks while a trace is printed)."""
        snapshots = frame_of(self.snapshots, consume)
        snapshots.index.name = "snapshot"
        snapshots["text"] = self.snapshot_text.series(consume)
        tasks = frame_of(self.tasks, consume)
        tasks.index.name = "task"
        tasks["text"] = self.task_text.series(consume)
        tasks["corrupted"] = _sparse_category(self.task_corrupted, len(tasks), tasks.index)
        events = frame_of(self.events, consume)
        events.index.name = "event"
        events["fields"] = pd.Series(pack_fields(self.event_fields), copy=False)
        if consume:
            self.event_fields = []
        events["text"] = self.event_text.series(consume)
        return Capture(
            snapshots=snapshots,
            tasks=tasks,
            events=events,
            frames=frame_of(self.frames, consume),
            traces=frame_of(self.traces, consume),
            inputs=self.inputs,
            unparsed=self.unparsed,
            boot_marks=list(self.boot_marks) if not consume else self._take_marks(),
        )

    def _take_marks(self) -> list[BootMark]:
        marks, self.boot_marks = self.boot_marks, []
        return marks


def _starts_boot(body: str, ts: float | None) -> bool:
    """The kernel's first message (``Linux version 6.1.0 ...``) at a boot's time (``ts``, the
    kernel's, None where the line has none), or journalctl's separator between boots
    (``-- Boot 5d2c... --``).

    start_kernel prints the banner before setup_arch starts any clock, so a booting kernel
    stamps it [0.000000] on every architecture; a banner stamped hours into a boot is that boot's
    old line printed again or quoted (a log tool, a paste), and what follows it is the same boot.
    """
    text = body.lstrip()
    if text.startswith("Linux version "):
        return ts is None or ts <= EARLY_BOOT_SECONDS
    return text.startswith("-- Boot ") and text.rstrip().endswith("--")


def _category(column: Column) -> CategoryColumn:
    assert isinstance(column, CategoryColumn)
    return column


def _int_column(table: str, name: str) -> IntColumn:
    """An integer column as wide as the schema's dtype for it."""
    return IntColumn(TABLES[table].column(name).dtype)


def _sparse_category(values: dict[int, str], rows: int, index: pd.Index) -> pd.Series:
    """A category column of ``rows`` rows, missing but for the rows ``values`` names (few: the
    tasks a backwards timestamp or dropped messages hit): a code per row, not a pointer."""
    categories = pd.Index(sorted(set(values.values())), dtype=object)
    codes = np.full(rows, -1, code_dtype(len(categories)))
    if values:
        codes[list(values)] = categories.get_indexer(list(values.values()))
    dtype = pd.CategoricalDtype(categories, ordered=False)
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype, validate=False), index=index, copy=False)


def _integer(column: Column) -> IntColumn:
    assert isinstance(column, IntColumn)
    return column
