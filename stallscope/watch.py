"""Follow a live log: parse only what is new, run the rules now and then, report each finding once.

The pieces:

* a *follower* hands over new bytes: :class:`FileFollower` re-opens a file that was rotated
  (after reading what was left in the old one) and starts over a file that was truncated, as
  ``tail -F`` does; :class:`StreamFollower` reads a pipe or standard input until it ends;
* :class:`LiveCapture` keeps one record reader and one :class:`CaptureBuilder` alive for the whole
  run and feeds them each new line once, so nothing is parsed twice; :meth:`LiveCapture.peek`
  turns what was built so far into a :class:`Capture` without closing the block being printed
  (a trace still arriving is left out until it ends, and is not cut in two);
* :class:`Watcher` runs every rule over the capture built so far when the input pauses, or at
  most every ``interval`` seconds while lines keep coming, and reports only findings it has not
  reported yet. A finding is known by its rule, its machine and the earliest log line it cites
  (where the problem first shows, which stays put while later reports add evidence or change
  the title's numbers); the same finding reported later with a higher severity is reported
  again as an update.

Line numbers count every line read under the followed name since the watch started, so they
go on across a rotation or truncation instead of starting again at 1.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Protocol

import pandas as pd
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from stallscope.api import line_parser
from stallscope.bulk import MAX_LINE_BYTES
from stallscope.capture.boots import number_boots
from stallscope.capture.builder import CaptureBuilder
from stallscope.capture.model import Capture, InputStats
from stallscope.diagnose import diagnose, host_views
from stallscope.outputs import write_stdout
from stallscope.records.prefix import Record
from stallscope.records.stream import RecordReader
from stallscope.render.layout import Fitted, Wrapped
from stallscope.render.text import Spark, finding_panel
from stallscope.rules.base import Finding, HostView

POLL_SECONDS = 0.2
READ_BYTES = 4 << 20  # per read: a large file being caught up on is parsed (and judged) in steps
EXEC_TIMEOUT = 60.0
# A finding, whatever its title says at the moment: rule, machine, earliest evidence line.
Identity = tuple[str, str | None, str, int | str]


class Follower(Protocol):
    name: str
    notes: list[str]

    def read(self, timeout: float) -> bytes | None:
        """New bytes (b"" after waiting up to ``timeout`` for some), or None once the input ended."""
        ...

    def close(self) -> None: ...


class FileFollower:
    """``tail -F`` on one path: survives rotation (rename or delete, then a new file) and truncation."""

    def __init__(self, path: str, from_end: bool = False) -> None:
        self.name = path
        self.notes: list[str] = []
        self._from_end = from_end
        self._handle: BinaryIO | None = None
        self._ident: tuple[int, int] | None = None
        self._newline = True  # whether the last byte handed over ended a line
        self._waiting_noted = False

    def _open(self) -> bool:
        try:
            handle = open(self.name, "rb")  # noqa: SIM115 - kept open across calls on purpose
        except FileNotFoundError:
            if not self._waiting_noted:
                self.notes.append(f"{self.name}: does not exist yet, waiting for it")
                self._waiting_noted = True
            return False
        info = os.fstat(handle.fileno())
        first = self._ident is None
        self._ident = (info.st_dev, info.st_ino)
        if self._from_end:
            handle.seek(0, os.SEEK_END)
            self._from_end = False  # only the file there at the start is skipped; later ones are new
        if first:
            where = "its end" if handle.tell() else "its start"
            self.notes.append(f"following {self.name} from {where}")
        self._handle = handle
        return True

    def _take(self, data: bytes) -> bytes:
        if data:
            self._newline = data.endswith(b"\n")
        return data

    def _end_line(self) -> bytes:
        """A newline if the bytes handed over so far stopped inside a line (the old file's last line)."""
        if self._newline:
            return b""
        self._newline = True
        return b"\n"

    def poll(self) -> bytes:
        """Whatever is new right now, without waiting."""
        if self._handle is None and not self._open():
            return b""
        assert self._handle is not None
        data = self._handle.read(READ_BYTES)
        if len(data) == READ_BYTES:
            return self._take(data)  # more to come: look for rotation once caught up
        try:
            info = os.stat(self.name)
        except FileNotFoundError:
            return self._take(data)  # moved away and not yet replaced: the old file may still grow
        if (info.st_dev, info.st_ino) != self._ident:
            # Rotated. A writer may still have appended to the old file since the read above.
            data += self._handle.read()
            data = self._take(data) + self._end_line()
            self._handle.close()
            self._handle = None
            self.notes.append(f"{self.name}: rotated, following the new file from its start")
            return data
        if info.st_size < self._handle.tell():
            self._handle.seek(0)
            self.notes.append(f"{self.name}: truncated, reading it again from its start")
            return self._take(data) + self._end_line()
        return self._take(data)

    def read(self, timeout: float) -> bytes | None:
        data = self.poll()
        if not data:
            time.sleep(timeout)
        return data

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class StreamFollower:
    """A pipe, socket or standard input, read as it arrives until its end."""

    def __init__(self, stream: BinaryIO, name: str = "-") -> None:
        self.name = name
        self.notes: list[str] = []
        self._fd = stream.fileno()

    def read(self, timeout: float) -> bytes | None:
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return b""
        data = os.read(self._fd, 1 << 20)
        return data if data else None

    def close(self) -> None:
        pass


class LiveCapture:
    """One input parsed as it grows: each line is read and parsed exactly once."""

    def __init__(self, name: str, keep_unparsed: bool = False) -> None:
        self.name = name
        self.builder = CaptureBuilder(keep_unparsed=keep_unparsed)
        self.stats = InputStats(name)
        self.builder.start_input(self.stats)
        self._reader = RecordReader(name)
        self._parser = line_parser()
        self._carry = bytearray()
        self._skipping = False  # inside an overlong line whose head is kept: drop up to its newline
        self.lines = 0
        self.finished = False

    def feed(self, data: bytes) -> None:
        cut = data.rfind(b"\n")
        if cut < 0:
            self._hold(data)
            return
        first = data.find(b"\n")
        if self._skipping:
            self._skipping = False  # the rest of an overlong line: its head was kept
        else:
            self._hold(data[:first])
        held, self._carry = bytes(self._carry), bytearray()
        self._line(held.decode("utf-8", "replace").rstrip("\r"))
        # Decoded only up to the last newline, so a character split between reads stays whole.
        if cut > first:
            for line in data[first + 1 : cut].decode("utf-8", "replace").split("\n"):
                self._line(line[:MAX_LINE_BYTES].rstrip("\r"))
        self._hold(data[cut + 1 :])

    def _hold(self, piece: bytes) -> None:
        """Keep the start of a line still waiting for its newline, at most MAX_LINE_BYTES of it
        (what the file reader keeps of an overlong line), whatever arrives before the newline."""
        if self._skipping or not piece:
            return
        room = MAX_LINE_BYTES - len(self._carry)
        self._carry += piece[:room]
        if len(piece) > room:
            self._skipping = True

    def _line(self, text: str) -> None:
        self.lines += 1
        for record in self._reader.feed(self.lines, text):
            self._add(record)

    def _add(self, record: Record) -> None:
        formats = self.stats.formats
        formats[record.fmt] = formats.get(record.fmt, 0) + 1
        self.builder.add(record, self._parser.parse(record.body), self.stats)

    def finish(self) -> None:
        """The input ended: its last line (even without a newline) and the message held back."""
        if self.finished:
            return
        if self._carry:
            self._line(bytes(self._carry).decode("utf-8", "replace").rstrip("\r"))
            self._carry = bytearray()
        for record in self._reader.flush():
            self._add(record)
        self.builder.finish_input(self.name)
        self.finished = True

    def capture(self) -> Capture:
        """What was read so far; before :meth:`finish`, the block still being printed is left out."""
        # Boots numbered as stallscope.load numbers them: a followed machine may reboot.
        if self.finished:
            return number_boots(self.builder.build())
        return number_boots(peek(self.builder))


def peek(builder: CaptureBuilder) -> Capture:
    """The builder's rows so far without ending open blocks.

    ``build`` ends every open trace and task block, which would cut a trace that is still being
    printed; here those stay open in the builder and reach a later capture whole.
    """
    return builder.snapshot()


def identity(finding: Finding) -> Identity:
    if finding.evidence:
        source, line = min((e.source, e.line) for e in finding.evidence)
        return finding.rule, finding.host, source, line
    return finding.rule, finding.host, "", finding.title


NEW, UPDATE, SUPERSEDED, RESOLVED = "new", "update", "superseded", "resolved"


@dataclass(frozen=True, slots=True)
class Fired:
    """A finding reported by the watch: ``new``; an ``update`` (its severity rose); or, for one
    reported before that the rules no longer find, ``superseded`` (another finding of its machine
    now stands, named by ``by``) or ``resolved`` (nothing of its machine does)."""

    finding: Finding
    event: str
    read_lines: int  # lines read when the rule fired: every evidence line is at or before it
    by: Finding | None = None

    @property
    def update(self) -> bool:
        return self.event == UPDATE

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"event": self.event, "read_lines": self.read_lines, **self.finding.as_dict()}
        if self.by is not None:
            out["superseded_by"] = {"rule": self.by.rule, "severity": self.by.severity.value, "title": self.by.title}
        return out

    def json_line(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=True, allow_nan=False)


class Watcher:
    """Feeds a :class:`LiveCapture` from a follower and reports findings as their rules fire."""

    def __init__(self, follower: Follower, live: LiveCapture, interval: float = 2.0,
                 on_fired: Callable[[Fired], None] | None = None,
                 on_view: Callable[[Capture, list[Finding]], None] | None = None,
                 on_note: Callable[[str], None] | None = None) -> None:
        self.follower = follower
        self.live = live
        self.interval = interval
        self.on_fired = on_fired or (lambda fired: None)
        self.on_view = on_view or (lambda capture, findings: None)
        self.on_note = on_note or (lambda note: None)
        self.seen: dict[Identity, int] = {}  # identity -> highest severity rank reported
        self.reported: dict[Identity, Finding] = {}  # identity -> the finding as last reported
        self.fired: list[Fired] = []
        self.stop = False
        self.evaluations = 0

    def evaluate(self) -> list[Fired]:
        """Run every rule over the capture so far; report what is new (oldest evidence first)."""
        capture = self.live.capture()
        findings = diagnose(capture)
        self.evaluations += 1
        fresh: list[Fired] = []
        now: set[Identity] = set()
        for finding in findings:
            key = identity(finding)
            now.add(key)
            rank = finding.severity.rank
            before = self.seen.get(key)
            if before is None or rank > before:
                self.seen[key] = rank
                self.reported[key] = finding
                fresh.append(Fired(finding, NEW if before is None else UPDATE, self.live.lines))
        for key in [k for k in self.reported if k not in now]:
            # Reported before, not found now: the log has since shown what it really was (a
            # plateau that turned into a livelock, a warning that a root cause replaced).
            gone = self.reported.pop(key)
            del self.seen[key]
            standing = [f for f in findings if f.host == gone.host]
            fresh.append(Fired(gone, SUPERSEDED if standing else RESOLVED, self.live.lines,
                               standing[0] if standing else None))
        fresh.sort(key=lambda f: identity(f.finding)[2:])
        for fired in fresh:
            self.fired.append(fired)
            self.on_fired(fired)
        self.on_view(capture, findings)
        return fresh

    def _notes(self) -> None:
        while self.follower.notes:
            self.on_note(self.follower.notes.pop(0))

    def run(self) -> None:
        """Until the input ends or :attr:`stop` is set (Ctrl-C); then one last look at everything."""
        dirty = False
        last = time.monotonic()
        try:
            while not self.stop:
                data = self.follower.read(POLL_SECONDS)
                self._notes()
                if data is None:
                    break
                if data:
                    self.live.feed(data)
                    dirty = True
                now = time.monotonic()
                # A pause in the input is when a report is complete; a busy input is judged at
                # most every interval seconds, so the rules never fall behind the log for long.
                if dirty and (not data or now - last >= self.interval):
                    self.evaluate()
                    dirty = False
                    last = time.monotonic()
        finally:
            self.follower.close()
        self.live.finish()
        self.evaluate()


# -- output -------------------------------------------------------------------------------------
def run_exec(command: str, fired: Fired, on_note: Callable[[str], None]) -> None:
    """Run ``command`` (through the shell) with the finding as one JSON document on its stdin."""
    finding = fired.finding
    env = dict(os.environ, STALLSCOPE_RULE=finding.rule, STALLSCOPE_SEVERITY=finding.severity.value,
               STALLSCOPE_HOST=finding.host or "", STALLSCOPE_EVENT=fired.event)
    try:
        done = subprocess.run(command, shell=True, input=(fired.json_line() + "\n").encode(), env=env,
                              timeout=EXEC_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        on_note(f"--exec: {command!r} still running after {EXEC_TIMEOUT:.0f}s, stopped it")
        return
    except OSError as error:
        on_note(f"--exec: cannot run {command!r} ({error})")
        return
    if done.returncode:
        on_note(f"--exec: {command!r} exited with {done.returncode} for {finding.rule}")


def _machine_name(view: HostView) -> str:
    if view.host is not None:
        return view.host
    for frame in (view.snapshots, view.tasks, view.events):
        if len(frame):
            return str(frame["source"].iloc[0])
    return "-"


def live_view(capture: Capture, findings: list[Finding], status: str, tail: int = 40) -> RenderableType:
    """Per machine: stalling and oom_count over the latest reports, worst tasks, current findings."""
    table = Table(title=status, title_justify="left", expand=True)
    for column in ("machine", "stalling", "oom_count", "worst tasks (delay)", "findings"):
        table.add_column(column, overflow="fold")
    by_host: dict[str | None, list[Finding]] = {}
    for finding in findings:
        by_host.setdefault(finding.host, []).append(finding)
    for view in host_views(capture):
        snaps = view.snapshots
        stalling = [int(v) for v in snaps["stalling"].dropna().tail(tail)] if len(snaps) else []
        ooms = [int(v) for v in snaps["oom_count"].dropna().tail(tail)] if len(snaps) else []
        low = min(ooms) if ooms else 0
        # The sparklines shrink with the terminal (the worst of each stretch kept).
        stall_cell = Spark(stalling, str(stalling[-1])) if stalling else Text("")
        oom_cell = Spark([v - low for v in ooms], str(ooms[-1])) if ooms else Text("")
        tasks = view.tasks
        worst = Wrapped("")
        if len(tasks):
            latest = tasks.groupby(["comm", "pid"], observed=True, dropna=False).tail(1)
            latest = latest.assign(_d=latest["delay"].fillna(-1)).nlargest(3, "_d")
            worst = Wrapped("\n".join(
                f"{row.comm}({row.pid})" + ("" if pd.isna(row.delay) else f" {int(row.delay)}")
                for row in latest.itertuples()), before="(")
        mine = by_host.get(view.host, []) if view.host is not None else [
            f for f in by_host.get(None, []) if f.evidence and f.evidence[0].source == _machine_name(view)]
        found = Wrapped("\n".join(f"{f.severity.value} {f.rule}" for f in mine))
        table.add_row(Wrapped(_machine_name(view), after=("/", "-_")), stall_cell, oom_cell, worst, found)
    # Narrow terminals: names and rules kept whole, the least needed columns left out.
    return Group(Fitted(table, ("oom_count", "worst tasks (delay)"), {"machine": 20}))


class Output:
    """Where fired findings go: JSON lines or panels on stdout, a command, a live view."""

    def __init__(self, console: Console, as_json: bool, command: str | None, live: Live | None,
                 errors: Console) -> None:
        self.console = console
        self.as_json = as_json
        self.command = command
        self.live = live
        self.errors = errors

    def note(self, message: str) -> None:
        self.errors.print(Text(f"stallscope watch: {message}"), soft_wrap=True)

    def fired(self, fired: Fired) -> None:
        if self.as_json:
            write_stdout(fired.json_line() + "\n")
        else:
            target = self.live.console if self.live is not None else self.console
            if fired.event in (SUPERSEDED, RESOLVED):
                what = f"{fired.finding.severity.value} {fired.finding.rule}: {fired.finding.title}"
                by = f" by {fired.by.severity.value} {fired.by.rule}" if fired.by is not None else ""
                target.print(Text(f"{fired.event}{by}: {what}", style="bold"))
            else:
                if fired.update:
                    target.print(Text(f"severity raised to {fired.finding.severity.value}:", style="bold"))
                target.print(finding_panel(fired.finding))
        if self.command:
            run_exec(self.command, fired, self.note)

    def view(self, watcher: Watcher) -> Callable[[Capture, list[Finding]], None]:
        def show(capture: Capture, findings: list[Finding]) -> None:
            if self.live is not None:
                status = (f"watching {watcher.live.name}: {watcher.live.lines} lines, "
                          f"{len(watcher.seen)} finding(s) reported")
                self.live.update(live_view(capture, findings, status))
        return show
