"""What the task-level rules share: each task's own trace, trajectory and gfp names.

Derived once per capture (the rules run host by host over the same capture) or once per host
view, through the view's memos, and then looked up per task row: a scan of a whole table for
every task a finding cites is quadratic on a long capture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from stallscope.capture.columns import count_dtype
from stallscope.capture.decode import Decoded, InputEras, report_gfp, task_gfp_texts
from stallscope.capture.events import (
    BUSY_COLUMNS,
    INVOCATION_READS,
    KILL_READS,
    WORKQUEUE_DUMP_KINDS,
    Reporters,
    WorkqueueDumps,
    alloc_reports_of,
    invocation_rows_of,
    kill_rows_of,
)
from stallscope.capture.hz import HzEstimate, from_ratios, ratios_by_group
from stallscope.capture.machines import machine_labels, source_families
from stallscope.capture.model import Capture
from stallscope.capture.signatures import own_trace_positions, stack_table
from stallscope.capture.stacks import NO_WAIT_SITE, WaitSite, guilty_frame, wait_site
from stallscope.capture.trajectories import (
    TASK_COLUMNS_READ,
    appearance_codes,
    comm_ranks,
    group_numbers,
    trajectories_of,
)
from stallscope.rules.base import Evidence, HostView, TaskRef, task_position


def _stacks(view: HostView) -> dict[int, list[str]]:
    return view.of_capture("stacks", stack_table)


def _own_traces(view: HostView) -> np.ndarray:
    """The position in the capture's traces of each task row's own trace, by task row position."""
    return view.of_capture("own_traces", own_trace_positions)


def _trace_stacks(view: HostView) -> np.ndarray:
    """The stack of each trace of the capture, by position."""
    return view.of_capture("trace_stacks", lambda capture: _numbers(capture.traces["stack"]))


def _numbers(column: pd.Series) -> np.ndarray:
    """A column of numbers none of which is missing, in its own width (an Int32 column: int32)."""
    width = column.dtype.numpy_dtype if isinstance(column.dtype, pd.api.extensions.ExtensionDtype) else column.dtype
    return column.to_numpy(dtype=width)


def _capture_rows(view: HostView) -> np.ndarray | slice:
    """Where this view's task rows are in the capture's tasks table: every row in order (a
    slice) when the view is the whole table (a capture of one machine and one boot). Then what
    is taken from a capture-wide array by these rows is that array itself, not a copy: 16 bytes
    a task row for the two arrays below, on a view of millions of them."""

    def compute(v: HostView) -> np.ndarray | slice:
        ours, whole = v.tasks.index, v.capture.tasks.index
        if ours is whole or (len(ours) == len(whole) and ours.equals(whole)):
            return slice(None)
        return whole.get_indexer(ours)

    return view.of_view("capture rows of tasks", compute)


def _view_traces(view: HostView) -> np.ndarray:
    """:func:`_own_traces` of this host's task rows, in their order (-1: a task without one)."""
    own = _own_traces(view)
    return view.of_view("own_traces", lambda v: own[_capture_rows(v)])


def _task_stacks(view: HostView) -> np.ndarray:
    """The stack of each of this host's task rows' own trace, in their order (-1: none)."""

    def compute(v: HostView) -> np.ndarray:
        traces, stacks = _view_traces(v), _trace_stacks(v)
        out = np.full(len(traces), -1, dtype=stacks.dtype)  # as wide as the stack column
        has = traces >= 0
        out[has] = stacks[traces[has]]
        return out

    return view.of_view("task_stacks", compute)


def task_stacks_of(view: HostView, tasks: pd.Index) -> np.ndarray:
    """The stack of the own trace of each of these task rows of the view (-1: none)."""
    return _task_stacks(view)[view.tasks.index.get_indexer(tasks)]


def _trace_of(view: HostView, task: int) -> int:
    """The position of a task row's own trace in the capture's traces (-1 when it has none).

    Any task row of the capture, this host's or another's.
    """
    row = task_position(view.capture, task)
    return -1 if row < 0 else int(_own_traces(view)[row])


def _stack_of(view: HostView, task: int) -> int | None:
    """The stack of a task row's own trace (None when it has none)."""
    position = _trace_of(view, task)
    return None if position < 0 else int(_trace_stacks(view)[position])


def guilty_of(view: HostView, task: int) -> str | None:
    """The guilty frame of a task row's trace (None when the task has no trace, or no culprit)."""
    stack = _stack_of(view, task)
    if stack is None:
        return None
    guilty: dict[int, str | None] = view.of_capture("guilty", lambda _: {})
    if stack not in guilty:
        functions = _stacks(view).get(stack)
        guilty[stack] = guilty_frame(functions) if functions is not None else None
    return guilty[stack]


def wait_site_of(view: HostView, task: int) -> WaitSite:
    """Where a task row's trace waits (:func:`wait_site`; no site when the task has no trace).

    Worked out once per distinct stack: a task blocked for an hour is reported with the same
    stack thousands of times.
    """
    stack = _stack_of(view, task)
    return NO_WAIT_SITE if stack is None else stack_wait_site(view, stack)


def stack_wait_site(view: HostView, stack: int) -> WaitSite:
    """:func:`wait_site_of` for a stack of the capture (by its id)."""
    sites: dict[int, WaitSite] = view.of_capture("wait_sites", lambda _: {})
    if stack not in sites:
        sites[stack] = wait_site(_stacks(view).get(stack, []))
    return sites[stack]


def stack_trace(view: HostView, stack: int) -> tuple[list[str], WaitSite]:
    """The trusted functions of a stack of the capture and where it waits (stack -1, a task row
    without a trace: none and no site): what functions_of and wait_site_of give a task row, for a
    rule that reads the task rows' stacks at once (task_stacks_of) and works out each once."""
    if stack < 0:
        return [], NO_WAIT_SITE
    return _stacks(view).get(stack, []), stack_wait_site(view, stack)


def functions_of(view: HostView, task: int) -> list[str]:
    """Trusted, normalized functions of a task row's trace (claimed orphans included)."""
    stack = _stack_of(view, task)
    return [] if stack is None else _stacks(view).get(stack, [])


def stack_functions(view: HostView) -> dict[int, list[str]]:
    """Trusted, normalized functions of every distinct stack of the capture, innermost first."""
    return _stacks(view)


def traces_where(view: HostView, test: Callable[[list[str]], bool]) -> np.ndarray:
    """Per task row of this host (in order): whether its trace's functions pass ``test``.

    A task without a trace (or with an empty one) does not pass. ``test`` runs once per
    distinct stack, not once per task row.
    """
    stacks = _stacks(view)
    passed = np.array([bool(functions) and test(functions) for functions in stacks.values()] + [False],
                      dtype=bool)
    at = pd.Index(list(stacks), dtype="int64").get_indexer(_task_stacks(view))
    return passed[at]  # -1 (no trace) is the final False


def gfp_names_of(view: HostView) -> pd.Series:
    """gfp names per task row, printed or decoded for the log's kernel era ("" when none): a
    categorical column (a name is read as ``get(task)``; a reader of every row reads its codes
    and categories, see :func:`gfp_name_codes`)."""
    names: pd.Categorical = view.of_capture(GFP_NAMES, task_gfp_texts)
    return view.of_view("gfp", lambda v: pd.Series(names[_capture_rows(v)], index=v.tasks.index, copy=False))


def gfp_name_codes(gfp: pd.Series) -> tuple[np.ndarray, list[str]]:
    """The code of each row of :func:`gfp_names_of` and the names the codes stand for: every
    row's name without a text object per row."""
    return gfp.array.codes, gfp.cat.categories.tolist()  # (Series.cat.codes would copy them)


def report_gfp_names(view: HostView, source: object, mask: object, boot: int) -> Decoded | None:
    """A report's hex-only gfp mask named for the era of its input, or of its boot of this view's
    host where the input holds several (:class:`~stallscope.capture.decode.InputEras`, once per
    input)."""
    name = str(source)
    eras: InputEras = view.of_capture(f"eras:{name}", lambda capture: InputEras(capture, name))
    return report_gfp(eras.gfp((view.host, boot)), mask)


def trajectories_view(view: HostView) -> pd.DataFrame:
    return view.of_view("trajectories", _view_trajectories)


def _view_trajectories(view: HostView) -> pd.DataFrame:
    if not view.whole_boot or not len(view.tasks) or len(view.tasks) == len(view.capture.tasks):
        # A view of several boots (a rule reading them at once): a pid of one boot is another
        # task in the next, so each boot's tasks are its own.
        boots = view.boot_column("tasks")
        several = len(boots) and boots.min() != boots.max()
        return trajectories_of(view.tasks, within=pd.factorize(boots)[0] if several else None)
    # A capture of hundreds of boots: the trajectories of all of them at once, then this boot's.
    # Per boot, pandas' fixed costs were most of the time of the rules that read trajectories.
    part = view.of_capture("boot parts", boot_parts)
    parts, _ = view.of_capture("trajectories by boot", lambda capture: trajectories_by_boot(capture, part))
    return parts[int(part[task_position(view.capture, int(view.tasks.index[0]))])]


def boot_parts(capture: Capture) -> np.ndarray:
    """A number per task row of the capture: its machine's boot (numbered from 0), as the views
    are cut."""
    tasks = capture.tasks
    part = pd.factorize(machine_labels(tasks, source_families(capture)))[0]
    if "boot" in tasks.columns:
        part = group_numbers(part, appearance_codes(tasks["boot"].array))
    return part


def trajectories_by_boot(capture: Capture, part: np.ndarray | None = None) -> tuple[BootParts, np.ndarray]:
    """The trajectories of each machine's boot (numbered), and each task row's number (``part``:
    :func:`boot_parts`, if at hand)."""
    tasks = capture.tasks
    part = boot_parts(capture) if part is None else part
    # The task rows a view holds (stallscope.diagnose.followed_tasks): those naming a pid.
    followed = tasks["pid"].notna().to_numpy(dtype=bool, na_value=False)
    # Only the columns read: a copy of every column (the lines' text too) of a long capture's
    # task rows was most of this memo's peak (bench/README.md).
    table = trajectories_of(tasks.loc[followed, TASK_COLUMNS_READ], within=part[followed])
    owner = part[tasks.index.get_indexer(table["first_task"].to_numpy(dtype="int64"))]
    return BootParts(table, owner), part


class BootParts(Mapping[int, pd.DataFrame]):
    """The rows of a table of every boot's trajectories, by boot number (as
    :func:`trajectories_by_boot` numbers them), each boot's table cut when first asked for: the
    rules read the trajectories of a boot with tasks in the allocator, a fraction of the boots
    of a long serial capture. The table is put in boot order once, so that a boot's rows are a
    slice of it: a cut of rows by position took every column's rows, half a millisecond a boot."""

    def __init__(self, table: pd.DataFrame, owner: np.ndarray) -> None:
        order = np.argsort(owner, kind="stable")  # stable: each boot's rows keep their order
        cuts = np.flatnonzero(np.diff(owner[order])) + 1
        self._table = table.iloc[order]
        self._rows = {int(owner[rows[0]]): slice(int(start), int(start) + len(rows))
                      for start, rows in zip(np.r_[0, cuts], np.split(order, cuts), strict=True) if len(rows)}
        self._cut: dict[int, pd.DataFrame] = {}

    def __getitem__(self, boot: int) -> pd.DataFrame:
        found = self._cut.get(boot)
        if found is None:
            found = self._cut[boot] = self._table.iloc[self._rows[boot]].reset_index(drop=True)
        return found

    def __iter__(self) -> Iterator[int]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


def is_kswapd(comm: object) -> bool:
    return str(comm).startswith("kswapd")


def task_ref(view: HostView, task: int) -> TaskRef:
    return TaskRef(str(view.cell("tasks", task, "comm")), int(view.cell("tasks", task, "pid")))


def label(view: HostView, task: int) -> str:
    return f"{view.cell('tasks', task, 'comm')}({view.cell('tasks', task, 'pid')})"


# Per stack: the depth in the frames table and the printed text of each frame its functions
# (stack_functions: the trusted ones, or all when none is) are read from, in the same order.
StackLines = tuple[list[int], list[str]]


def _stack_lines(capture: object) -> dict[int, StackLines]:
    frames = capture.frames  # type: ignore[attr-defined]
    if not len(frames):
        return {}
    frames = frames.loc[frames["stack"].notna(), ["stack", "depth", "reliable", "text"]]
    ordered = frames.sort_values(["stack", "depth"], kind="stable")
    stacks = ordered["stack"].to_numpy(dtype="int64")
    depths = ordered["depth"].to_numpy(dtype="int64").tolist()
    reliable = ordered["reliable"].astype(bool).tolist()
    texts = ordered["text"].astype(object).tolist()
    starts = [0, *(np.flatnonzero(np.diff(stacks)) + 1).tolist()]
    ends = [*starts[1:], len(stacks)]
    out: dict[int, StackLines] = {}
    for start, end in zip(starts, ends, strict=True):
        kept = [at for at in range(start, end) if reliable[at]] or list(range(start, end))
        out[int(stacks[start])] = ([depths[at] for at in kept], [str(texts[at]) for at in kept])
    return out


def frame_evidence(view: HostView, task: int, positions: list[int]) -> list[Evidence]:
    """The printed lines of the frames at ``positions`` (indexes into :func:`functions_of`) of a
    task row's own trace, verbatim, each with its own line number.

    Empty when the lines of the frames are not known (the trace is interleaved with other
    lines, or the task has none): a finding then says where the task waits in its words, and
    quotes no line it cannot point at.
    """
    return trace_frame_evidence(view, _trace_of(view, task), positions)


def trace_frame_evidence(view: HostView, position: int, positions: list[int]) -> list[Evidence]:
    """:func:`frame_evidence` of the trace at ``position`` in the capture's traces (-1: none)."""
    columns = _trace_columns(view)
    if position < 0 or columns is None:
        return []
    first = int(columns.frame_line[position])
    stack = int(columns.stack[position])
    if first == _MISSING or stack == _MISSING:
        return []
    depths, texts = view.of_capture("stack_lines", _stack_lines).get(stack, ([], []))
    source = str(columns.sources[columns.source[position]])
    out: list[Evidence] = []
    for at in sorted(set(positions)):
        if 0 <= at < len(depths):
            # No timestamp: a frame line's own is not kept, and another line's would misquote it.
            out.append(Evidence(source, int(first) + depths[at], None, texts[at]))
    return out


_MISSING = -1  # a missing line or stack in _TraceColumns


@dataclass(frozen=True, slots=True)
class _TraceColumns:
    frame_line: np.ndarray  # int64, _MISSING where not known
    stack: np.ndarray  # int64, _MISSING where not known
    source: np.ndarray  # codes into ``sources``
    sources: list[object]


def _trace_columns(view: HostView) -> _TraceColumns | None:
    """The capture's traces' columns that evidence reads, as arrays (None: no frame lines kept):
    a finding quotes a dozen frames, and a column read through pandas costs ten microseconds.
    Arrays, not lists: a capture of a million traces held 23 MB of lists for the whole run of
    the rules (bench/README.md)."""
    def compute(capture: Capture) -> _TraceColumns | None:
        traces = capture.traces
        if "frame_line" not in traces.columns:
            return None
        codes, sources = pd.factorize(traces["source"], use_na_sentinel=False)
        return _TraceColumns(traces["frame_line"].to_numpy(dtype="int64", na_value=_MISSING),
                             traces["stack"].to_numpy(dtype="int64", na_value=_MISSING), codes, list(sources))

    return view.of_capture("trace columns", compute)


def wait_site_evidence(view: HostView, task: int, site: WaitSite | None = None) -> list[Evidence]:
    """The frames that show where a task waits: the primitive's frame and its caller's (the
    last frame read when the trace is cut before the caller)."""
    site = wait_site_of(view, task) if site is None else site
    if site.depth is not None:
        return frame_evidence(view, task, [site.depth - 1, site.depth] if site.depth else [site.depth])
    if site.cut_after is not None:
        return frame_evidence(view, task, [len(functions_of(view, task)) - 1])
    return []


def stack_wait_site_evidence(view: HostView, position: int) -> list[Evidence]:
    """:func:`wait_site_evidence` of the trace at ``position`` in the capture's traces (-1: none)."""
    columns = _trace_columns(view)
    if position < 0 or columns is None:
        return []
    stack = int(columns.stack[position])
    if stack == _MISSING:
        return []
    site = stack_wait_site(view, stack)
    if site.depth is not None:
        return trace_frame_evidence(view, position, [site.depth - 1, site.depth] if site.depth else [site.depth])
    if site.cut_after is not None:
        return trace_frame_evidence(view, position, [len(_stacks(view).get(int(stack), [])) - 1])
    return []


def trace_after(view: HostView, source: object, line: int, stack: int) -> int:
    """The position of the first trace of ``stack`` printed after ``line`` of ``source`` (-1: none):
    the trace a report (a hung task's) printed."""
    return view.of_capture("trace places", _TracePlaces).first_after(source, line, stack)


class _TracePlaces:
    """The capture's traces ordered by (source, stack, line), to find a report's trace by bisection.

    Comparing the whole traces table for every report cost 0.6 ms a report on a 30 MB capture and
    grew with the capture (every report against every trace).
    """

    def __init__(self, capture: Capture) -> None:
        traces = capture.traces
        self._sources: dict[object, int] = {}
        if not len(traces):
            self._keys = self._lines = self._positions = np.empty(0, dtype=np.int64)
            return
        source = traces["source"]
        if isinstance(source.dtype, pd.CategoricalDtype):
            self._sources = {name: code for code, name in enumerate(source.cat.categories)}
            codes = source.cat.codes.to_numpy(dtype=np.int64)
        else:
            names = source.astype(object)
            self._sources = {name: code for code, name in enumerate(dict.fromkeys(names.dropna()))}
            codes = names.map(self._sources).fillna(-1).to_numpy(dtype=np.int64)
        stacks = traces["stack"].to_numpy(dtype=np.float64, na_value=np.nan)
        lines = traces["line"].to_numpy(dtype=np.float64, na_value=np.nan)
        # A row missing its source, stack or line is never the trace a report printed.
        known = np.flatnonzero((codes >= 0) & ~np.isnan(stacks) & ~np.isnan(lines))
        # One key per (source, stack): stack ids are row numbers of the capture's stack table.
        keys = codes[known] * (1 << 40) + stacks[known].astype(np.int64)
        order = np.lexsort((known, lines[known], keys))
        self._keys, self._lines, self._positions = keys[order], lines[known][order], known[order]

    def first_after(self, source: object, line: int, stack: int) -> int:
        code = self._sources.get(source)
        if code is None:
            return -1
        key = code * (1 << 40) + int(stack)
        low, high = np.searchsorted(self._keys, key, "left"), np.searchsorted(self._keys, key, "right")
        start = low + int(np.searchsorted(self._lines[low:high], line, "right"))
        # The earliest row of those after the line (the table is in reading order, so nearly
        # always the first of them).
        return int(self._positions[start:high].min()) if start < high else -1


def function_evidence(view: HostView, task: int, names: list[str | None]) -> list[Evidence]:
    """The frames of a task row's trace whose functions are ``names`` (the innermost of each)."""
    functions = functions_of(view, task)
    positions = [functions.index(name) for name in names if name is not None and name in functions]
    return frame_evidence(view, task, positions)


def task_and_wait_site(view: HostView, task: int) -> list[Evidence]:
    """The task's line, then the frames that show where it waits."""
    return [view.task_evidence(task), *wait_site_evidence(view, task)]


def task_and_frames(view: HostView, task: int, names: list[str | None]) -> list[Evidence]:
    """The task's line, then the frames of ``names`` in its trace (see :func:`function_evidence`)."""
    return [view.task_evidence(task), *function_evidence(view, task, names)]


def latest_tasks(view: HostView) -> pd.DataFrame:
    """:func:`latest_per_task` of this host's tasks (callers must not modify it)."""
    return view.of_view("latest", lambda v: latest_per_task(v.tasks))


def latest_per_task(tasks: pd.DataFrame) -> pd.DataFrame:
    """The last report's row of each (pid, comm) of each boot: what a task was doing when last seen."""
    if not len(tasks):
        return tasks
    # Found on the key columns alone (comm as a number per name), then only those rows taken:
    # taking every column of a long table (text, arrow-backed strings) costs more. One number
    # per (boot, comm, pid), a missing pid a value of its own (as duplicated() has it); numpy finds
    # each one's last row (a DataFrame of the keys and its duplicated() cost half a millisecond
    # a view, on the hundreds of views of a capture of many boots). A pid of one boot is another
    # task in the next (a rule may read every boot of a machine at once).
    keys = group_numbers(comm_ranks(tasks)[0], appearance_codes(tasks["pid"].array))
    if "boot" in tasks.columns:
        boots = tasks["boot"].to_numpy(dtype="int32", na_value=-1)  # (schema.ID)
        if boots.min() != boots.max():
            keys = group_numbers(boots, keys)
        del boots
    groups = int(keys.max()) + 1  # numbered from 0 in order of appearance
    if groups == len(keys):
        return tasks  # every task once (callers do not modify it: no copy needed)
    # Each group's greatest row position: no sort of the keys (np.unique of the 1 GB excerpts
    # family's 8.4 M rows took 1.9 s and a few arrays of a number per row; this 0.2 s).
    last = np.full(groups, -1, dtype=count_dtype(len(keys)))
    np.maximum.at(last, keys, np.arange(len(keys), dtype=last.dtype))
    last.sort()
    return tasks.iloc[last]


# The names of the view memos below that several rules read and that cost seconds or tens of MB
# on a long boot: a rule that reads one names it in its SHARED_DERIVATIONS (see stallscope.rules).
REPORTERS = "reporters"
OOM_INVOCATIONS = "oom invocations"
OOM_KILLS = "oom kills"
GFP_NAMES = "gfp"


def view_reporters(view: HostView) -> Reporters:
    """The dump_cpu lines of the view, to name the task of a report (see
    :class:`~stallscope.capture.events.Reporters`), found once for every report reader."""
    return view.of_view(REPORTERS, lambda v: Reporters(v.rows))


def oom_invocations_by_boot(view: HostView) -> dict[int, list[dict[str, object]]]:
    """The rows of :func:`~stallscope.capture.events.oom_invocations` (as dicts, in log order) of
    each boot of the view that has any (0 where none is numbered), found once for the rules that
    read them (callers must not modify them)."""
    def compute(v: HostView) -> dict[int, list[dict[str, object]]]:
        # Only the columns read, a part at a time: an OOM storm's 100,000 invocations a GB as
        # records of every column took 110 MB while read (bench/README.md).
        invocations = v.records_by_boot("oom_invoke")
        names = [name for name in INVOCATION_READS if name in v.events.columns]
        return {boot: invocation_rows_of(invocations.rows(boot, names), view_reporters(v)) for boot in invocations}

    return view.of_view(OOM_INVOCATIONS, compute)


def oom_kills_by_boot(view: HostView) -> dict[int, list[dict[str, object]]]:
    """The rows of :func:`~stallscope.capture.events.oom_kills` (as dicts, in log order) of each
    boot of the view that has any (0 where none is numbered), found once for the rules that read
    them (callers must not modify them)."""
    def compute(v: HostView) -> dict[int, list[dict[str, object]]]:
        kills = v.records_by_boot("oom_killed_process")
        return {boot: kill_rows_of(kills.rows(boot, KILL_READS)) for boot in kills}

    return view.of_view(OOM_KILLS, compute)


def alloc_reports_by_boot(view: HostView, kind: str) -> dict[int, list[dict[str, object]]]:
    """The rows of :func:`~stallscope.capture.events.alloc_reports` (as dicts, in log order) of
    each boot of the view that has any (0 where none is numbered), found once for the rules that
    read them (callers must not modify them)."""
    return view.of_view(f"alloc reports {kind}", lambda v: {
        boot: alloc_reports_of(records, view_reporters(v)) for boot, records in v.records_by_boot(kind).items()})


def view_workqueue_dumps(view: HostView) -> dict[int, WorkqueueDumps]:
    """The workqueue dumps of each boot of the view (0 where none is numbered), each dump read
    when a rule first asks for it and kept for the others (callers must not modify them)."""
    def compute(v: HostView) -> dict[int, WorkqueueDumps]:
        records = v.records_by_boot(*WORKQUEUE_DUMP_KINDS)
        return {boot: WorkqueueDumps(records.values(boot, "kind"), partial(records.tuples, boot, BUSY_COLUMNS))
                for boot in records}

    return view.of_view("workqueue dumps", compute)


def latest_by_boot(view: HostView) -> dict[int, list[int]]:
    """The rows of :func:`latest_tasks` of each boot of the view, in row order (0: no boot numbered)."""

    def compute(v: HostView) -> dict[int, list[int]]:
        latest = latest_tasks(v)
        found: dict[int, list[int]] = {}
        for task, boot in zip(latest.index.tolist(), v.boots_of("tasks", latest.index).tolist(), strict=True):
            found.setdefault(boot, []).append(task)
        return found

    return view.of_view("latest by boot", compute)


def boot_hz(view: HostView, boot: int) -> HzEstimate:
    """HZ of the kernel of one boot of the view (:func:`~stallscope.capture.hz.infer_hz` of that
    boot's tasks), the growth pairs of every boot found in one pass."""

    def compute(v: HostView) -> dict[int, HzEstimate]:
        codes, boots = pd.factorize(v.boot_column("tasks"))
        return {int(b): from_ratios(ratios) for b, ratios in zip(boots.tolist(), ratios_by_group(v.tasks, codes),
                                                                  strict=True)}

    return view.of_view("hz by boot", compute).get(boot) or from_ratios(np.zeros(0))
