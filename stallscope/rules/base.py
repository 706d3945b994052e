"""What a rule returns, and the context every rule reads from."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from stallscope.capture import events as event_tables  # (a view also has an "events" table)
from stallscope.capture.model import Capture, column_values, labels_at, timestamp
from stallscope.memory import release_free_memory


class Severity(str, Enum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"critical": 3, "warning": 2, "info": 1}[self.value]


@dataclass(frozen=True, slots=True)
class Evidence:
    """One log line that supports a finding."""

    source: str
    line: int
    ts: float | None
    text: str

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "line": self.line, "ts": self.ts, "text": self.text}

    @classmethod
    def of_row(cls, row: Mapping[str, object]) -> Evidence:
        """The line of a table's row or a record as a dict (its source, line, time and text)."""
        return cls(str(row["source"]), int(row["line"]), timestamp(row["ts"]), str(row["text"]))  # type: ignore[call-overload]

    def __reduce__(self) -> tuple[type[Evidence], tuple[str, int, float | None, str]]:
        # Pickled as its constructor's arguments (forked processes send their findings): the
        # dataclass' own state restore for frozen slots runs Python code per field.
        return Evidence, (self.source, self.line, self.ts, self.text)


def in_boot(finding: Finding, boot: int) -> Finding:
    """``finding`` naming ``boot``, for a rule that reads every boot at once (boot 0, of a view
    without boot numbers, names none: the diagnosis names the view's)."""
    if boot:
        finding.boot = boot
    return finding


def distinct_lines(evidence: list[Evidence]) -> list[Evidence]:
    """``evidence`` with each log line once (the first time it is cited), in order."""
    seen: set[tuple[str, int]] = set()
    out = []
    for item in evidence:
        if (item.source, item.line) not in seen:
            seen.add((item.source, item.line))
            out.append(item)
    return out


@dataclass(frozen=True, slots=True)
class TaskRef:
    comm: str
    pid: int

    def as_dict(self) -> dict[str, object]:
        return {"comm": self.comm, "pid": self.pid}

    def __reduce__(self) -> tuple[type[TaskRef], tuple[str, int]]:
        return TaskRef, (self.comm, self.pid)  # as Evidence's


@dataclass(slots=True)
class Finding:
    rule: str
    severity: Severity
    title: str
    explanation: str
    evidence: list[Evidence] = field(default_factory=list)
    tasks: list[TaskRef] = field(default_factory=list)
    host: str | None = None
    # The boot of its machine the finding is about (1 the first; None: not numbered).
    boot: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "host": self.host,
            "boot": self.boot,
            "title": self.title,
            "explanation": self.explanation,
            "evidence": [e.as_dict() for e in self.evidence],
            "tasks": [t.as_dict() for t in self.tasks],
        }


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HostView:
    """The part of a capture that belongs to one host (None: a capture without host names).

    Several rules read the same derived tables (trace signatures, trajectories, ...), and on a
    long capture deriving them costs more than the rules themselves: ``capture_memo`` holds what
    is derived from the whole capture (one dict shared by all views of a capture), ``memo`` what
    is derived from this view. Both are filled on first use; see ``of_capture`` and ``of_view``.
    """

    host: str | None
    capture: Capture
    snapshots: pd.DataFrame
    tasks: pd.DataFrame
    events: pd.DataFrame
    # Which boot of the machine these rows are (see stallscope.capture.boots); None: not numbered.
    boot: int | None = None
    # Whether the rows are all the rows of one machine's boot (or of one machine, when the
    # capture numbers no boots), as stallscope.diagnose cuts them: then what is derived per boot
    # may be derived for every boot of the capture at once (see ``of_capture``) and looked up.
    whole_boot: bool = False
    capture_memo: dict[str, object] = field(default_factory=dict, compare=False, repr=False)
    memo: dict[str, object] = field(default_factory=dict, compare=False, repr=False)
    # The cells ``cell`` read, by (table, column): millions of reads on a long capture, each
    # found by a key of its own, not a name made per call.
    columns_read: dict[tuple[str, str], _Cells] = field(default_factory=dict, compare=False, repr=False)

    def of_capture(self, name: str, compute: Callable[[Capture], T]) -> T:
        """``compute(capture)``, computed once for every view sharing this view's capture memo."""
        if name not in self.capture_memo:
            self.capture_memo[name] = compute(self.capture)
            # A derivation from the whole capture leaves its temporaries freed but resident (tens
            # of MB each at 1 GB, bench/README.md), and the next one would add its own on top:
            # handed back once per derivation (a dozen per capture), they never pile up.
            release_free_memory()
        return self.capture_memo[name]  # type: ignore[return-value]

    def of_view(self, name: str, compute: Callable[[HostView], T]) -> T:
        """``compute(view)``, computed once per view (callers must not modify the result)."""
        if name not in self.memo:
            self.memo[name] = compute(self)
        return self.memo[name]  # type: ignore[return-value]

    def boots_of(self, table: str, labels: object) -> np.ndarray:
        """The boot of each row ``labels`` of this view's "snapshots", "tasks" or "events" (0 in a
        table without boot numbers): for a rule that reads every boot at once (``ALL_BOOTS``)."""
        return self.boot_column(table)[getattr(self, table).index.get_indexer(np.asarray(labels))]

    def boot_column(self, table: str) -> np.ndarray:
        """The boot of every row of this view's "snapshots", "tasks" or "events", in row order (0
        in a table without boot numbers)."""

        def compute(view: HostView) -> np.ndarray:
            # 32 bits: a view of millions of task rows holds this while its rules run.
            frame = getattr(view, table)
            if "boot" not in frame.columns:
                return np.zeros(len(frame), dtype=np.int32)
            return frame["boot"].to_numpy(dtype=np.int32, na_value=0)

        return self.of_view(f"boot column {table}", compute)

    def boot_rows(self, table: str, boot: int) -> np.ndarray:
        """The positions of ``boot``'s rows in this view's "snapshots", "tasks" or "events", in row
        order (every row in a table without boot numbers, boot 0): each boot's found once per view."""

        return self.of_view(f"boot rows {table}", lambda view: by_boot(view.boot_column(table))).get(
            boot, np.empty(0, dtype=np.intp))

    def boot_records(self, boot: int, *kinds: str) -> list[tuple[object, dict[str, object]]]:
        """``kind_records`` of these kinds in one boot (every boot grouped once per view)."""
        return self.records_by_boot(*kinds).get(boot, [])

    def records_by_boot(self, *kinds: str) -> BootRecords:
        """``kind_records`` of these kinds, by boot (boots in order, 0 where none is numbered): the
        rows found once per view, each boot's records made when asked for."""
        return self.of_view(f"records by boot {kinds}", lambda view: BootRecords(view, kinds))

    def boot_view(self, boot: int) -> HostView:
        """The rows of one boot of this view as a view of their own: for a rule that reads every
        boot at once (``ALL_BOOTS``) where a rare case needs the boot's own view (each costs
        pandas' fixed costs again). Boot 0 of a view without boot numbers is the view itself."""
        if not boot:
            return self
        tables = [getattr(self, name).iloc[self.boot_rows(name, boot)] for name in ("snapshots", "tasks", "events")]
        return HostView(host=self.host, capture=self.capture, snapshots=tables[0], tasks=tables[1],
                        events=tables[2], boot=boot, capture_memo=self.capture_memo)

    @property
    def rows(self) -> event_tables.EventRows:
        """This view's events found by kind (:class:`~stallscope.capture.events.EventRows`), kept
        for every rule: pass it where an events table is asked for."""
        return self.of_view("event rows", lambda view: event_tables.EventRows(view.events))

    def cell(self, table: str, index: int, column: str) -> Any:
        """``<table>.at[index, column]`` of this view's "snapshots", "tasks" or "events", as a
        Python object (an int, str, float, bool, or pandas' missing value).

        For reads in loops: a DataFrame's ``at`` builds the column anew on every call, and a
        Series' ``at`` costs microseconds more than a dict; the rules read cells 500 times a view
        (bench/README.md). Each column keeps the cells read (see :class:`_Cells`).
        """
        cells = self.columns_read.get((table, column))
        if cells is None:
            cells = self.columns_read[(table, column)] = _Cells(getattr(self, table)[column])
        return cells.get(index)

    def snapshot_evidence(self, index: int) -> Evidence:
        return self._line_evidence("snapshots", index)

    def task_evidence(self, index: int) -> Evidence:
        return self._line_evidence("tasks", index)

    def event_evidence(self, index: int) -> Evidence:
        return self._line_evidence("events", index)

    def _line_evidence(self, table: str, index: int) -> Evidence:
        return Evidence(str(self.cell(table, index, "source")), int(self.cell(table, index, "line")),
                        timestamp(self.cell(table, index, "ts")), str(self.cell(table, index, "text")))

    def report_stacks(self, reports: pd.DataFrame | Sequence[Mapping[str, object]]) -> list[int | None]:
        """:func:`stallscope.capture.events.report_stacks` of these reports (a table, or its rows as
        dicts), with the capture-wide
        tables it searches derived once for all views (a capture of many boots has many views)."""
        return event_tables.report_stacks(
            self.capture, reports, free=self.of_capture("free traces", event_tables.free_traces),
            headers=self.of_capture("trace headers", lambda capture: event_tables.trace_headers(capture.events)))

    def stack_frames(self, stack: object) -> list[tuple[str, bool]]:
        """:func:`stallscope.capture.events.stack_frames` of the capture, every stack's found once."""
        if stack is None or pd.isna(stack):  # type: ignore[arg-type]
            return []
        return self.of_capture("frames by stack", lambda capture: event_tables.frames_by_stack(capture.frames)).get(
            int(stack), [])  # type: ignore[call-overload]

    def functions(self, stack: object) -> list[str]:
        """The function names of one stack, innermost first ([] for none)."""
        return [function for function, _ in self.stack_frames(stack)]


Records = list[tuple[object, dict[str, object]]]


class BootRecords(Mapping[int, Records]):
    """``kind_records`` of some kinds of a view, by boot (boots in increasing order), each boot's
    records (a dict per row) made when asked for and not kept: the Mem-Info lines of every boot of
    a long serial capture as dicts at once took gigabytes. Each column's rows are taken once, when
    first read (a rule that reads a few columns by ``values`` takes only those), and kept as the
    table holds them; a boot's Python objects are made when asked for: kept as lists for the
    whole view, the columns of a boot of millions of Mem-Info lines took hundreds of megabytes
    for as long as its rules ran (bench/README.md)."""

    def __init__(self, view: HostView, kinds: tuple[str, ...]) -> None:
        rows = view.rows
        hits = rows.positions(*kinds)
        labels = labels_at(view.events.index, hits)
        if len(hits) and (labels[1:] < labels[:-1]).any():
            # In log order (the table's index order), as kind_records gives them.
            order = np.argsort(labels, kind="stable")
            hits = hits[order]
        self._rows, self._hits = rows, hits
        self._names = list(view.events.columns)
        self._columns: dict[str | None, Any] = {}
        self._boots = by_boot(view.boot_column("events")[hits])

    def _column(self, name: str | None) -> Any:
        """One column of these rows, as the table holds it (None: their row labels): an array
        that ``take`` and ``tolist`` read."""
        column = self._columns.get(name)
        if column is None:
            column = self._columns[name] = (self._rows.labels_array_at(self._hits) if name is None
                                            else self._rows.values_at(self._hits, name))
        return column

    def __getitem__(self, boot: int) -> Records:
        return self._records(self._boots[boot], self._names)

    def tuples(self, boot: int, names: Sequence[str], part: slice | None = None) -> list[tuple[object, ...]]:
        """``boot``'s rows as tuples (row label, *the columns ``names``): its records without a
        dict per row and with only the columns read, for a reader of every line of a kind that a
        long capture holds by the hundred thousand (workqueue dumps: 200,000 lines a GB).
        ``part``: only those of the boot's rows (its columns then not converted whole)."""
        rows = self._boots.get(boot)
        if rows is None:
            return []
        if part is not None:
            hits = self._hits[rows[part]]
            return list(zip(self._rows.labels_at(hits), *(self._rows.column_at(hits, name) for name in names),
                            strict=True))
        columns = [self._column(None), *(self._column(name) for name in names)]
        return list(zip(*(self._at(column, rows) for column in columns), strict=True))

    def array(self, boot: int, name: str | None) -> Any:
        """One column of ``boot``'s records (None: their row labels) as the table holds it, no
        Python object made per row: for a reader that selects or compares them in numpy."""
        rows = self._boots.get(boot)
        column = self._column(name)
        if rows is None:
            return column[:0]
        return column if len(rows) == len(self._hits) else column.take(rows)

    def each(self, boot: int, names: Sequence[str], size: int = 1 << 15) -> Iterator[tuple[object, ...]]:
        """``tuples(boot, names)``, made a part of ``size`` rows at a time: for a reader that goes
        over a boot's lines once (a boot of a million Mem-Info lines as tuples at once took a
        hundred megabytes while its dumps were read)."""
        for start in range(0, self.count(boot), size):
            yield from self.tuples(boot, names, slice(start, start + size))

    def rows(self, boot: int, names: Sequence[str]) -> Iterator[tuple[object, dict[str, object]]]:
        """``boot``'s records with only the columns ``names``, made a part at a time (see
        ``each``): for a reader of a few columns of each line of a kind that a boot may hold by
        the hundred thousand (an OOM storm's kill lines)."""
        for label, *values in self.each(boot, names):
            yield label, dict(zip(names, values, strict=True))

    def _records(self, rows: np.ndarray, names: list[str]) -> Records:
        return event_tables.as_records(self._at(self._column(None), rows), names,
                                       [self._at(self._column(name), rows) for name in names], range(len(rows)))

    def count(self, boot: int) -> int:
        """How many records ``boot`` has, without making them."""
        rows = self._boots.get(boot)
        return 0 if rows is None else len(rows)

    def values(self, boot: int, name: str | None) -> list[object]:
        """One column of ``boot``'s records (None: their row labels), without making the records."""
        rows = self._boots.get(boot)
        if rows is None:
            return []
        return self._at(self._column(name), rows)

    def _at(self, column: Any, rows: np.ndarray) -> list[object]:
        """The entries of ``column`` at a boot's ``rows``, as Python objects (what ``records``
        gives): all of it when they are all its rows, in order (one boot: most views)."""
        return column.tolist() if len(rows) == len(self._hits) else column.take(rows).tolist()  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[int]:
        return iter(self._boots)

    def __len__(self) -> int:
        return len(self._boots)


def by_boot(boots: np.ndarray) -> dict[int, np.ndarray]:
    """The positions of each boot's entries in ``boots`` (a boot number per row), in order, boots
    in increasing order: one sort, where selecting each boot's rows apart would read the whole
    array once per boot (thousands of boots in a long serial capture)."""
    order = np.argsort(boots, kind="stable")
    cuts = np.flatnonzero(np.diff(boots[order])) + 1
    return {int(boots[rows[0]]): rows for rows in np.split(order, cuts) if len(rows)}


class _Cells:
    """The cells of one column of a view read so far, by row label, as Python objects (what
    ``Series.tolist`` gives: an int, not numpy's int64).

    A cell is read with ``Series.at`` the first time (a few microseconds), and once a column
    has been read at one row in _WHOLE_COLUMN of its length, the whole column is converted to a
    dict at once (about a tenth of that per row): a boot's small table is converted after a few
    reads, while a view of a million task rows that the rules read at a few hundred is never
    converted (it cost a second and hundreds of megabytes per column, bench/README.md).
    """

    __slots__ = ("cells", "index", "numbers", "reads", "series", "unique", "values", "whole")

    _WHOLE_COLUMN = 16

    def __init__(self, series: pd.Series) -> None:
        self.series = series
        self.cells: dict[object, Any] = {}
        self.whole = False
        self.reads = 0
        self.index = series.index
        self.unique: bool | None = None  # whether a label names one row (asked at the first miss)
        # Whether a cell read by position is numpy's scalar, to be made a Python one.
        self.numbers = series.dtype != object
        # The column's values (pandas' extension array, or numpy's), read by position: what
        # ``Series.at`` reads, without its indexer's machinery (half its cost a call).
        self.values: Any = None

    def get(self, label: object) -> Any:
        try:
            return self.cells[label]
        except KeyError:
            if self.whole:
                raise
        if self.unique is None:
            self.unique = self.index.is_unique
        if not self.unique:  # not from the builder: a label may name several rows
            return self.series.at[label]
        self.reads += 1
        if self.reads * self._WHOLE_COLUMN >= len(self.index):
            self.cells = dict(zip(self.index.tolist(), self.series.tolist(), strict=True))
            self.whole = True
            return self.cells[label]
        if self.values is None:
            self.values = column_values(self.series)
        value = self.values[self.index.get_loc(label)]
        if self.numbers and isinstance(value, np.generic):
            value = value.item()
        self.cells[label] = value
        return value


def task_position(capture: Capture, task: int) -> int:
    """Where task row ``task`` is in ``capture.tasks`` (-1: no such row)."""
    try:
        found = capture.tasks.index.get_loc(task)
    except KeyError:
        return -1
    # A label held twice (not from the builder) gives a slice or mask: its first row.
    if isinstance(found, slice):
        return int(found.start)
    if isinstance(found, np.ndarray):
        return int(np.flatnonzero(found)[0])
    return int(found)




class Rule(Protocol):
    """A diagnosis: a module of stallscope.rules with its id, rank, documentation and check."""

    RULE: str
    RANK: int
    SEVERITY: str
    SUMMARY: str
    NEXT_STEPS: str | None
    ABOUT_MEMORY: bool

    def check(self, view: HostView) -> list[Finding]: ...
