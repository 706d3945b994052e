"""The Markdown report: what gets pasted into or attached to a bug ticket.

It renders on GitHub and GitLab and still reads as plain text in Bugzilla or mail (tables are
padded, traces are in fenced blocks). By default it fits one ticket comment: when the full
report would be longer, tables and traces are shortened step by step, and every cut says what
was left out and where to find it.
"""

from __future__ import annotations

from dataclasses import dataclass

from stallscope.capture.model import Capture
from stallscope.render import sections
from stallscope.render.mdtext import code, fenced, inline, paragraph, table
from stallscope.render.provenance import Provenance, human_size
from stallscope.render.text import downsample, sparkline
from stallscope.rules.base import Finding

# GitHub refuses comments longer than 65,536 characters; leave room for a line of the reporter's.
DEFAULT_MAX_CHARS = 65_000
SPARK_POINTS = 60
_ELSEWHERE = "the HTML report and `stallscope export` have them all"


@dataclass(frozen=True, slots=True)
class Limits:
    """How much of each part is shown; None means all of it."""

    evidence: int | None = None  # lines per finding
    tasks_named: int | None = 40  # task names listed per finding or signature
    timeline: int | None = None
    tasks: int | None = None
    events: int | None = None
    signatures: int | None = None
    frames: int | None = None  # frames per representative trace
    boots: int | None = None  # rows of the boots table (its first and last)


# From everything to the least that still answers what happened; the first that fits is used.
LEVELS = (
    Limits(),
    Limits(evidence=40, timeline=200, tasks=200, events=100, signatures=30, frames=60, boots=200),
    Limits(evidence=20, timeline=60, tasks=60, events=40, signatures=15, frames=40, boots=60),
    Limits(evidence=10, tasks_named=20, timeline=30, tasks=30, events=20, signatures=8, frames=30, boots=30),
    Limits(evidence=5, tasks_named=10, timeline=12, tasks=15, events=10, signatures=4, frames=20, boots=12),
    Limits(evidence=3, tasks_named=5, timeline=8, tasks=8, events=5, signatures=2, frames=12, boots=8),
)


def _head(items: list[str] | list[list[str]], limit: int | None) -> tuple[list, int]:  # type: ignore[type-arg]
    if limit is None or len(items) <= limit:
        return list(items), 0
    return list(items[:limit]), len(items) - limit


def _ends(rows: list[list[str]], limit: int | None) -> tuple[list[list[str]], int, int]:
    """First and last rows of a long timeline (the start and the end both matter), the cut, where."""
    if limit is None or len(rows) <= limit:
        return rows, 0, 0
    first = limit // 3
    return rows[:first] + rows[len(rows) - (limit - first):], len(rows) - limit, first


def _note(text: str) -> str:
    return f"*{text}*"


class _TooLong(Exception):
    """The report being written is already longer than its budget: a shorter layout is needed."""


class _Writer:
    def __init__(self, parts: sections.Parts, origin: Provenance, limits: Limits, budget: int | None = None) -> None:
        self.parts = parts
        self.capture = parts.capture
        self.findings = parts.findings
        self.origin = origin
        self.limits = limits
        self.cuts: list[str] = []
        self.out: list[str] = []
        # With a budget, writing stops (_TooLong) as soon as the body is surely longer: the
        # layout without limits of a capture of hundreds of boots is megabytes long, and writing
        # it whole only to find it too long took most of the report's time (bench/README.md).
        self.budget = budget
        self.size = 0  # what the blocks so far take joined, at least the body's length so far

    def add(self, *blocks: str) -> None:
        self.out.extend(blocks)
        if self.budget is None:
            return
        self.size += sum(map(len, blocks)) + len(blocks)
        if self.size > self.budget:
            # The body is the blocks joined by newlines without its trailing whitespace, and what
            # comes later (more blocks, the "Shortened" notice) only makes it longer.
            self.size = len("\n".join(self.out).rstrip())
            if self.size > self.budget:
                raise _TooLong

    def cut(self, what: str, count: int) -> str:
        self.cuts.append(f"{count} {what}")
        return _note(f"{count} more {what} not shown; {_ELSEWHERE}.")

    def ends_table(self, source: sections.Table, limit: int | None, what: str) -> None:
        """A table of which, when long, the first and last rows are shown (the start and the end
        both matter), the rows left out marked … and said."""
        rows, more, at = _ends(source.rows, limit)
        cells = [[inline(c) for c in r] for r in rows]
        if more:
            cells.insert(at, ["…"] + [""] * (len(source.columns) - 1))
        self.add(table(source.columns, cells, source.numeric), "")
        if more:
            self.add(self.cut(f"{what} (marked …)", more), "")

    def tasks_named(self, names: list[str]) -> str:
        shown, more = _head(names, self.limits.tasks_named)
        text = ", ".join(code(n) for n in shown)
        return text + (f" and {more} more" if more else "")

    def header(self) -> None:
        names = [i.name for i in self.origin.inputs]
        title = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        self.add(f"# stallscope report: {inline(title)}", "")
        self.add(f"**Verdict.** {inline(self.parts.verdict_text())}", "")
        self.add(*(f"- {inline(label)}: {inline(value)}" for label, value in self.parts.summary_items()))
        self.add("")

    def boots_part(self) -> None:
        boots = self.parts.boots()
        if boots is None:
            return
        self.add(f"## Boots ({len(boots.rows)})", "")
        self.add("Each boot of a machine is diagnosed on its own; its findings are under its name below.", "")
        self.ends_table(boots, self.limits.boots, "boot row(s)")

    def findings_part(self) -> None:
        if not self.findings:
            self.add("## Findings", "", "No rule found a stall pattern in this capture.", "")
            return
        self.add(f"## Findings ({len(self.findings)})", "")
        groups = self.parts.finding_groups()
        number = 0
        for title, found in groups:
            if title is not None:
                self.add(f"### On {code(title)}", "")
            for finding in found:
                number += 1
                self.finding(number, finding, "####" if title is not None else "###")

    def finding(self, number: int, finding: Finding, level: str) -> None:
        where = f" on {code(finding.host)}" if finding.host else ""
        self.add(f"{level} {number}. {finding.severity.value.upper()} {code(finding.rule)}{where}: "
                 f"{inline(finding.title)}", "")
        self.add(paragraph(finding.explanation), "")
        if finding.tasks:
            self.add(f"Tasks: {self.tasks_named([f'{t.comm}({t.pid})' for t in finding.tasks])}", "")
        evidence, more = _head(finding.evidence, self.limits.evidence)  # type: ignore[arg-type]
        if evidence:
            self.add("Evidence (input:line [kernel time] text):", "")
            self.add(fenced([_evidence_line(e) for e in evidence]), "")
        if more:
            self.add(self.cut(f"evidence line(s) of finding {number}", more), "")

    def timeline_part(self) -> None:
        timeline = self.parts.timeline()
        if timeline is None:
            return
        self.add("## Watchdog reports over time", "")
        stalling = [int(v) for v in self.capture.snapshots["stalling"].dropna()]
        if stalling:
            points = stalling if len(stalling) <= SPARK_POINTS else downsample(stalling, SPARK_POINTS)
            spark = sparkline(points)
            self.add(f"stalling over time: {code(spark)} (max {max(stalling)}"
                     + (f", {len(stalling)} reports in {len(points)} steps)" if len(points) < len(stalling) else ")"),
                     "")
        self.ends_table(timeline, self.limits.timeline, "watchdog report row(s)")

    def events_part(self) -> None:
        counts, notable = self.parts.event_counts(), self.parts.notable_events()
        if not counts:
            return
        self.add("## Kernel reports around the stall", "")
        self.add("Lines understood, by kind: " + ", ".join(f"{code(k)} {n}" for k, n in counts) + ".", "")
        if notable is None:
            return
        rows, more = _head(notable.rows, self.limits.events)
        self.add(_cells_table(notable, rows, {"kind", "task", "host"}), "")
        if more:
            self.add(self.cut("event row(s)", more), "")

    def tasks_part(self) -> None:
        tasks = self.parts.stalled_tasks()
        if tasks is None:
            return
        self.add(f"## Stalled tasks ({len(tasks.rows)}, latest report of each, longest delay first)", "")
        rows, more = _head(tasks.rows, self.limits.tasks)
        self.add(_cells_table(tasks, rows, {"host", "task", "state", "gfp"}), "")
        if more:
            self.add(self.cut("task(s)", more), "")

    def signatures_part(self) -> None:
        groups = self.parts.signature_groups()
        if not groups:
            return
        self.add(f"## Stack signatures ({len(groups)})", "")
        self.add("Traces grouped by where they wait; one representative trace each (innermost frame first).", "")
        shown, more = _head(groups, self.limits.signatures)  # type: ignore[arg-type]
        for number, group in enumerate(shown, 1):
            self.add(f"### {number}. {code(group.signature)}", "")
            facts = f"{group.traces} trace(s) printed, {len(group.stacks)} distinct"
            if group.guilty:
                facts += f"; guilty frame {code(group.guilty)}"
            self.add(facts, "")
            if group.tasks:
                self.add(f"Tasks: {self.tasks_named(group.tasks)}", "")
            frames, cut = _head(self.parts.trace_lines(group.stacks[0]), self.limits.frames)
            if cut:
                frames.append(f"... {cut} outer frame(s) not shown")
                self.cuts.append(f"{cut} frame(s) of signature {number}")
            self.add(fenced(frames), "")
        if more:
            self.add(self.cut("signature(s)", more), "")

    def provenance_part(self) -> None:
        origin = self.origin
        self.add("## How this report was made", "")
        self.add(f"- stallscope {inline(origin.version)}")
        self.add(f"- command: {code(origin.command)}")
        self.add(f"- lines read: {origin.lines}, understood: {origin.lines - origin.unparsed}, "
                 f"not understood: {origin.unparsed}", "")
        rows = [
            [code(i.name), inline(human_size(i.size) + (f", {i.compression}" if i.compression else "")),
             code(i.sha256) if i.sha256 else "not hashed (standard input)",
             str(i.lines), str(i.parsed), str(i.unparsed)]
            for i in origin.inputs
        ]
        columns = ["input", "size", "sha256", "lines", "understood", "not understood"]
        self.add(table(columns, rows, {"lines", "understood", "not understood"}), "")

    def render(self) -> tuple[str, str]:
        """The report in two pieces: everything up to the provenance, and the provenance."""
        self.header()
        for part in (self.boots_part, self.findings_part, self.timeline_part, self.events_part, self.tasks_part,
                     self.signatures_part):
            part()
        body = "\n".join(self.out).rstrip() + "\n\n"
        self.out, self.budget = [], None
        self.provenance_part()
        tail = "\n".join(self.out).rstrip() + "\n"
        if not self.cuts:
            return body, tail
        # The reader learns at the top that this is not everything, and what is missing.
        first_break = body.index("\n\n") + 2
        notice = (f"> **Shortened** to fit a ticket comment: {inline('; '.join(self.cuts))} left out "
                  f"(each place is marked). {_ELSEWHERE.capitalize()}.\n\n")
        return body[:first_break] + notice + body[first_break:], tail


def _cells_table(source: sections.Table, rows: list[list[str]], literal: set[str]) -> str:
    """Log-derived names as code spans (no emphasis inside ``__GFP_FS``), the rest as text."""
    cells = [[code(c) if name in literal else inline(c) for name, c in zip(source.columns, r, strict=True)]
             for r in rows]
    return table(source.columns, cells, source.numeric)


def _evidence_line(e: object) -> str:
    where = f"{e.source}:{e.line}"  # type: ignore[attr-defined]
    if e.ts is not None:  # type: ignore[attr-defined]
        where += f" [{e.ts:.6f}]"  # type: ignore[attr-defined]
    return f"{where} {e.text}"  # type: ignore[attr-defined]


def _downsample(values: list[int], points: int) -> list[int]:
    """The maximum of each of ``points`` equal slices: peaks must survive the squeeze."""
    step = len(values) / points
    return [max(values[int(i * step): max(int((i + 1) * step), int(i * step) + 1)]) for i in range(points)]


def render(
    capture: Capture,
    findings: list[Finding],
    origin: Provenance,
    max_chars: int | None = DEFAULT_MAX_CHARS,
    levels: tuple[Limits, ...] = LEVELS,
) -> str:
    """The report; ``max_chars`` None or 0 means no limit."""
    body = tail = ""
    # Derived once for every layout tried: only the limits differ between them.
    parts = sections.Parts(capture, findings)
    for at, limits in enumerate(levels):
        # The last layout is written whole even when too long: it is then cut below.
        budget = max_chars if max_chars and at < len(levels) - 1 else None
        try:
            body, tail = _Writer(parts, origin, limits, budget).render()
        except _TooLong:
            continue
        if not max_chars or len(body) + len(tail) <= max_chars:
            return body + tail
    # Even the shortest form is too long (hundreds of findings): cut the body at a line, say so,
    # and keep the provenance, which a reader needs to trust and reproduce what is left.
    notice = f"> **Cut** at {max_chars:,} characters: {_ELSEWHERE}.\n\n"
    room = max(0, max_chars - len(tail) - len(notice) - 16)
    keep = body[:room]
    keep = keep[: keep.rfind("\n") + 1] if "\n" in keep else ""
    # An open fence would swallow the notice: close it first.
    open_fence = _open_fence(keep)
    if open_fence:
        keep += open_fence + "\n"
    return keep + "\n" + notice + tail


def _open_fence(text: str) -> str | None:
    fence: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if fence is None:
            if stripped.startswith("```"):
                fence = stripped[: len(stripped) - len(stripped.lstrip("`"))]
        elif stripped and stripped == "`" * len(stripped) and len(stripped) >= len(fence):
            fence = None
    return fence
