"""What each reported task did between reports: the watchdog documentation's own reading.

``seq`` counts allocation requests, ``switches`` counts context switches. Across two reports:
a new ``seq`` means the earlier request finished (slow, but progressing); the same ``seq`` with
``switches`` frozen means the task never ran (blocked); the same ``seq`` with ``switches`` rising
means it ran and retried without success (livelocked). A task marked dying or victim in more
than one report has been killed but is not exiting.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pandas as pd

from stallscope.capture.columns import count_dtype
from stallscope.capture.model import Capture, column_values, labels_at

CLASSES = ("progressing", "livelocked", "blocked", "victim-not-exiting", "single-observation")

COLUMNS = [
    "host", "pid", "comm", "observations", "first_task", "last_task", "first_line", "last_line",
    "first_ts", "last_ts", "seq_first", "seq_last", "seq_changes", "switches_first",
    "switches_last", "switches_delta", "delay_first", "delay_last", "delay_growth",
    "allocating", "dying", "victim", "exiting", "uninterruptible", "kind", "reason",
]


def trajectories(capture: Capture) -> pd.DataFrame:
    """One row per task (host, pid, comm) across every report that lists it, classified."""
    return trajectories_of(capture.tasks)


# The task columns a trajectory reads: copying the others (text) of a long capture is slow.
TASK_COLUMNS_READ = ["host", "pid", "comm", "line", "ts", "seq", "switches", "delay", "dying", "victim",
                     "exiting", "uninterruptible"]


def group_numbers(*codes: np.ndarray) -> np.ndarray:
    """One number per distinct combination of the rows' codes, in order of first appearance.

    Each of ``codes`` numbers a key column's values: from -1 (missing, a value of its own) to
    below the row count, as ``pd.factorize`` gives them.
    """
    widths = [int(c.max()) + 2 if len(c) else 1 for c in codes]
    if np.prod([float(w) for w in widths]) >= 2.0**62:
        # Too many combinations for one 64-bit number: number the leading columns first.
        head = group_numbers(*codes[:-1])
        return group_numbers(head, codes[-1])
    # One number per combination, then numbered in order of appearance (a hash of few keys).
    kind = np.int32 if np.prod([float(w) for w in widths]) < 2.0**31 else np.int64
    out = np.zeros(len(codes[0]), dtype=kind)
    for column, width in zip(codes, widths, strict=True):
        out *= width
        out += column
        out += 1
    return appearance_codes(out)


# Rows factorized at once by appearance_codes.
_FACTORIZED_AT_ONCE = 1 << 20


def appearance_codes(values: np.ndarray | pd.api.extensions.ExtensionArray) -> np.ndarray:
    """``pd.factorize(values)[0]`` (each distinct value numbered in order of first appearance,
    -1 where missing) as numbers 32 bits wide where they fit, of a numpy array or a nullable
    integer array.

    pd.factorize makes a 64-bit number per row and sizes its hash table to the rows, not to the
    distinct values: 11 bytes a row at once, at the peaks of the processes that group the 8.4 M
    task rows of the 1 GB excerpts capture by task (the rules' latest rows and trajectories, the
    report's HZ pairs; bench/README.md, thirty-fifth round). Here each part of
    _FACTORIZED_AT_ONCE rows is factorized alone, its numbers written narrow, and the parts'
    distinct values (in order: each part's in order of first appearance) factorized together
    give each its number over all rows."""
    width = count_dtype(len(values) + 1)
    masked = isinstance(values, pd.arrays.IntegerArray)
    if len(values) <= _FACTORIZED_AT_ONCE or not (masked or isinstance(values, np.ndarray)):
        return pd.factorize(values)[0].astype(width, copy=False)  # type: ignore[no-any-return]
    out = np.empty(len(values), dtype=width)
    distinct = []
    for start in range(0, len(values), _FACTORIZED_AT_ONCE):
        part = slice(start, start + _FACTORIZED_AT_ONCE)
        codes, uniques = pd.factorize(values[part], size_hint=_FACTORIZED_AT_ONCE // 64)
        out[part] = codes
        distinct.append(uniques.to_numpy(dtype=uniques.dtype.numpy_dtype) if masked  # (none missing)
                        else uniques)
    overall = pd.factorize(np.concatenate(distinct))[0].astype(width, copy=False)
    first = 0
    for start, uniques in zip(range(0, len(values), _FACTORIZED_AT_ONCE), distinct, strict=True):
        part = slice(start, start + _FACTORIZED_AT_ONCE)
        # Each part's own numbers to the overall ones; -1 (missing) takes the appended -1.
        out[part] = np.append(overall[first : first + len(uniques)], -1)[out[part]]
        first += len(uniques)
    return out


def combine(major: np.ndarray, minor: np.ndarray, width: int) -> np.ndarray:
    """``major * width + minor`` (``minor`` from 0 to below ``width``), in 32 bits when that fits.

    ``major`` may hold -1 (a row of nothing), which gives negative numbers: ``divmod`` by
    ``width`` still takes them apart. Whole-column temporaries cost more than their arithmetic
    when freed memory goes back to the system at once: the narrower, the cheaper.
    """
    high = (int(major.max()) + 1) * width if len(major) else 0
    out = major.astype(count_dtype(high))
    out *= width
    out += minor
    return out


def text_codes(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Per row, a number into the returned names (``str`` of each value; -1 where missing).

    A categorical column's own codes (a narrow integer type, not copied per value) when it
    has them.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        # At least 32 bits: arithmetic on int8 codes would wrap around past 127 categories.
        return column.cat.codes.to_numpy().astype(np.int32), [str(c) for c in column.cat.categories]
    codes, uniques = pd.factorize(column)
    return codes, [str(u) for u in uniques]


def stable_order(numbers: np.ndarray) -> np.ndarray:
    """``np.argsort(numbers, kind="stable")`` of non-negative numbers, fast for few distinct ones,
    as positions 32 bits wide where they fit.

    numpy's argsort makes 64-bit positions: of the 8.4 M task rows of the 1 GB excerpts capture,
    67 MB, and a 32-bit copy besides, at the peak of the processes that group them (the report's
    HZ pairs, the trajectories; bench/README.md, thirtieth round). Above _ORDERED_AT_ONCE rows
    the order is a counting sort: each part of the rows is sorted alone and its rows placed after
    the rows of the same number in the parts before it."""
    position = count_dtype(len(numbers) + 1)
    if len(numbers) <= _ORDERED_AT_ONCE:
        return _argsort(numbers).astype(position, copy=False)
    # Where each number's rows begin in the order, moved on as each part places its rows.
    sizes = np.bincount(numbers).astype(position, copy=False)
    next_at = np.cumsum(sizes, dtype=position)
    next_at -= sizes
    del sizes
    order = np.empty(len(numbers), dtype=position)
    for start in range(0, len(numbers), _ORDERED_AT_ONCE):
        part = numbers[start : start + _ORDERED_AT_ONCE]
        within = _argsort(part)
        ranked = part[within]
        heads = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
        lengths = np.diff(np.r_[heads, len(ranked)])
        # A row's place: where its number's rows go on, and how many of them come before it here.
        places = next_at[ranked]
        places += np.arange(len(ranked), dtype=position) - np.repeat(heads, lengths).astype(position, copy=False)
        order[places] = within + start
        next_at[ranked[heads]] += lengths.astype(position, copy=False)
    return order


# How many rows stable_order sorts with one argsort.
_ORDERED_AT_ONCE = 1 << 20


def _argsort(numbers: np.ndarray) -> np.ndarray:
    if len(numbers) and int(numbers.max()) < 1 << 16:
        # A stable sort of 16-bit integers is a radix sort: linear, not n log n.
        return np.argsort(numbers.astype(np.uint16), kind="stable")
    return np.argsort(numbers, kind="stable")


def comm_text(tasks: pd.DataFrame) -> pd.Series:
    """``tasks["comm"].astype(str)``, converted once per distinct comm, not once per row."""
    comm = tasks["comm"]
    if not isinstance(comm.dtype, pd.CategoricalDtype):
        return comm.astype(str)
    names = pd.Series(comm.cat.categories.astype(str)).array
    return pd.Series(names.take(comm.cat.codes.to_numpy(), allow_fill=True), index=comm.index, name=comm.name)


def comm_ranks(tasks: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Per row, the rank of ``str(comm)`` among the distinct names, and those names in order.

    Equal ranks for equal names and missing comms last (rank ``len(names)``), so sorting or
    comparing the ranks sorts or compares :func:`comm_text`; without a string per row, which
    a long capture pays for in time and in arrow memory.
    """
    comm = tasks["comm"]
    if isinstance(comm.dtype, pd.CategoricalDtype):
        labels = [str(c) for c in comm.cat.categories]
        codes = comm.cat.codes.to_numpy()
    else:
        found, uniques = pd.factorize(comm)
        labels, codes = [str(u) for u in uniques], found
    names = sorted(set(labels))
    place = {name: i for i, name in enumerate(names)}
    lookup = np.array([place[label] for label in labels] + [len(names)], dtype=np.int32)
    return lookup[codes], names


def comm_starts_with(tasks: pd.DataFrame, prefix: str) -> np.ndarray:
    """``comm_text(tasks).str.startswith(prefix, na=False)``, tested once per distinct comm."""
    comm = tasks["comm"]
    if isinstance(comm.dtype, pd.CategoricalDtype):
        hit = np.array([str(c).startswith(prefix) for c in comm.cat.categories] + [False], dtype=bool)
        return hit[comm.cat.codes.to_numpy()]  # type: ignore[no-any-return]
    return comm_text(tasks).str.startswith(prefix, na=False).to_numpy(dtype=bool)


# Kept beside _grouped (the groupby, also the path for other column types): 2.46x on the 250,000
# task rows of the excerpts family, 2.7% of its analyze (bench/pairs.py, bench/README.md).
def trajectories_of(tasks: pd.DataFrame, within: np.ndarray | None = None) -> pd.DataFrame:
    """One row per task (host, pid, comm) of ``tasks``, classified; with ``within`` (per row, a
    number of the part it belongs to, such as its machine and boot), one row per task of each
    part: the trajectories of every part at once, as if each part's rows were given alone."""
    if not len(tasks):
        return pd.DataFrame(columns=COLUMNS)
    if not _plain(tasks):
        return _grouped(tasks, within)
    # The groupby's aggregations, for all groups at once with numpy: on a long capture the
    # pandas machinery for 17 aggregations over three keys costs several times the arithmetic.
    groups = _Groups(_task_numbers(tasks, within))
    keys = _keys(tasks, groups.order[groups.starts], within)
    if keys is None:
        return _grouped(tasks, within)
    # Each column made apart and the table made once (set one by one, the 26 columns cost
    # pandas' fixed costs 26 times: a quarter of a window of boots' fixed cost, bench/README.md).
    columns: dict[str, object] = dict(keys)
    columns["observations"] = groups.sizes
    # Labels of the groups' rows only: a RangeIndex's to_numpy() makes and keeps an array of every
    # label (8 bytes a row of a long capture).
    columns["first_task"] = labels_at(tasks.index, groups.order[groups.starts]).astype(np.int64)
    columns["last_task"] = labels_at(tasks.index, groups.order[groups.stops]).astype(np.int64)
    for column in ("line", "ts", "seq", "switches", "delay"):
        first, last = groups.first_last(tasks[column])
        columns[f"first_{column}" if column in ("line", "ts") else f"{column}_first"] = _at(tasks[column], first)
        columns[f"last_{column}" if column in ("line", "ts") else f"{column}_last"] = _at(tasks[column], last)
    for column in ("dying", "victim", "exiting", "uninterruptible"):
        columns[column] = groups.any(tasks[column].to_numpy(dtype=bool))
    allocating = groups.any(tasks["delay"].notna().to_numpy(dtype=bool))
    return _finish(columns, groups.changes(tasks["seq"]), allocating, tasks)


class _Groups:
    """Rows numbered by group (in order of first appearance), listed group by group.

    The numbers and the listing are a number per row each, 32 bits where the rows' count allows:
    the 1 GB excerpts capture has 8.4 M task rows, and the trajectories of its one boot (the
    verdict's, victim-stuck's) were the largest part of two processes' peaks (bench/README.md,
    twenty-ninth round).
    """

    def __init__(self, numbers: np.ndarray) -> None:
        position = count_dtype(len(numbers) + 1)
        self.numbers = numbers.astype(position, copy=False)
        self.sizes = np.bincount(self.numbers)
        # Numbered by first appearance and listed stably: group g's rows are a block of the
        # listing, the blocks in group order.
        self.order = stable_order(self.numbers).astype(position, copy=False)
        self.stops = np.cumsum(self.sizes) - 1
        self.starts = self.stops - self.sizes + 1

    def any(self, values: np.ndarray) -> np.ndarray:
        """Per group, whether any of its rows' ``values`` is true."""
        return np.logical_or.reduceat(values[self.order], self.starts)

    def listed(self, column: pd.Series) -> np.ndarray:
        """The rows where ``column`` has a value, group by group (each group's in row order)."""
        if not column.hasnans:
            return self.order
        return self.order[column.notna().to_numpy(dtype=bool)[self.order]]  # type: ignore[no-any-return]

    def first_last(self, column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Per group, the row position of its first and last value that is not missing (-1: none)."""
        if not column.hasnans:
            return self.order[self.starts], self.order[self.stops]
        listed = self.listed(column)
        first = np.full(len(self.sizes), -1, dtype="int64")
        last = np.full(len(self.sizes), -1, dtype="int64")
        if len(listed):
            owner = self.numbers[listed]
            change = owner[1:] != owner[:-1]
            heads, tails = np.r_[True, change], np.r_[change, True]
            first[owner[heads]] = listed[heads]
            last[owner[tails]] = listed[tails]
        return first, last

    def changes(self, seq: pd.Series) -> np.ndarray:
        """Per group, how often a printed seq differs from the group's previous printed seq."""
        listed = self.listed(seq)
        values = seq.to_numpy(dtype=seq.array.dtype.numpy_dtype, na_value=0)[listed]
        owner = self.numbers[listed]
        del listed
        changed = (owner[1:] == owner[:-1]) & (values[1:] != values[:-1])
        return np.bincount(owner[1:][changed], minlength=len(self.sizes))


def _grouped(tasks: pd.DataFrame, within: np.ndarray | None = None) -> pd.DataFrame:
    """:func:`trajectories_of` by pandas' groupby, for task tables of other column types."""
    rows = tasks[TASK_COLUMNS_READ].copy()
    rows["host"] = rows["host"].astype(object).where(rows["host"].notna(), None)
    rows["comm"] = comm_text(rows)
    rows["task"] = rows.index
    rows["within"] = 0 if within is None else within
    # A pid reused by another program is another task: comm is part of the key.
    grouped = rows.groupby(["within", "host", "pid", "comm"], sort=False, dropna=False, observed=True)
    out = grouped.agg(
        observations=("task", "size"),
        first_task=("task", "first"),
        last_task=("task", "last"),
        first_line=("line", "first"),
        last_line=("line", "last"),
        first_ts=("ts", "first"),
        last_ts=("ts", "last"),
        seq_first=("seq", "first"),
        seq_last=("seq", "last"),
        switches_first=("switches", "first"),
        switches_last=("switches", "last"),
        delay_first=("delay", "first"),
        delay_last=("delay", "last"),
        dying=("dying", "any"),
        victim=("victim", "any"),
        exiting=("exiting", "any"),
        uninterruptible=("uninterruptible", "any"),
    ).reset_index().drop(columns="within")
    # Group numbers in the order of the aggregation (first appearance): what a Python function
    # per group would compute, computed for all groups at once.
    group = grouped.ngroup().to_numpy(dtype="int64")
    present = np.bincount(group[rows["delay"].notna().to_numpy()], minlength=len(out)) > 0
    changes = _Groups(group).changes(rows["seq"])
    return _finish({name: out[name] for name in out.columns}, changes, present, rows)


# What _classify reads of a trajectory.
_Judged = namedtuple("_Judged", ["observations", "dying", "victim", "switches_delta", "seq_changes", "seq_first",
                                 "seq_last", "allocating", "switches_last", "delay_growth"])


def _finish(columns: dict[str, object], changes: np.ndarray, allocating: np.ndarray, rows: pd.DataFrame
            ) -> pd.DataFrame:
    """The table of the aggregated columns (each a Series or an array, by name) and those
    computed from them, then the classification."""
    out = {name: column_values(column) if isinstance(column, pd.Series) else column for name, column in columns.items()}
    # One type whatever the hosts (pandas infers float for a key of missing values only): the
    # trajectories of each boot alike whether derived alone or with the capture's other boots.
    host = pd.Series(out["host"]).astype(object)
    out["host"] = host.where(host.notna(), None)  # a Series: the table keeps its object type
    out["seq_changes"] = _typed_like(changes, rows["seq"])
    out["allocating"] = _typed_like(allocating, rows["delay"])
    out["switches_delta"] = out["switches_last"] - out["switches_first"]  # type: ignore[operator]
    out["delay_growth"] = out["delay_last"] - out["delay_first"]  # type: ignore[operator]
    # As itertuples gives them: Python scalars, pd.NA where missing.
    judged = zip(*(out[name].tolist() for name in _Judged._fields), strict=True)  # type: ignore[attr-defined]
    kinds = [_classify(_Judged._make(values)) for values in judged]
    out["kind"] = [k for k, _ in kinds]
    out["reason"] = [r for _, r in kinds]
    table = pd.DataFrame({name: out[name] for name in COLUMNS})
    first = np.asarray(out["first_task"])
    if len(first) > 1 and (first[1:] < first[:-1]).any():
        table = table.sort_values("first_task", kind="stable").reset_index(drop=True)
    return table




def _plain(tasks: pd.DataFrame) -> bool:
    """Whether the columns have the types the builder gives them (what the numpy path reads)."""
    dtypes = tasks.dtypes
    return (
        all(isinstance(dtypes[c], pd.Int64Dtype | pd.Int32Dtype) for c in ("line", "seq", "switches", "delay"))
        and dtypes["ts"] == np.dtype("float64")
        and all(dtypes[c] == np.dtype(bool) for c in ("dying", "victim", "exiting", "uninterruptible"))
        and tasks.index.dtype == np.dtype("int64")
    )


def _task_numbers(tasks: pd.DataFrame, within: np.ndarray | None = None) -> np.ndarray:
    """Per row, the number of its (part, host, pid, comm) in order of first appearance (missing
    is a value; the part is ``within``'s number, or one part for all rows)."""
    host = tasks["host"]
    hosts = host.cat.codes.to_numpy() if isinstance(host.dtype, pd.CategoricalDtype) else pd.factorize(host)[0]
    pid = appearance_codes(tasks["pid"].array)  # (32 bits where they fit, before the other keys are made)
    comm = tasks["comm"]
    if isinstance(comm.dtype, pd.CategoricalDtype):
        # Categories named alike are one comm: the key is the name.
        names = pd.factorize(pd.Index([str(c) for c in comm.cat.categories], dtype=object))[0]
        codes = np.append(names, -1).astype(np.int32)[comm.cat.codes.to_numpy()]
    else:
        codes = pd.factorize(comm_text(tasks))[0]
    if within is None:
        return group_numbers(hosts, pid, codes)
    return group_numbers(appearance_codes(within), hosts, pid, codes)


def _keys(tasks: pd.DataFrame, firsts: np.ndarray, within: np.ndarray | None = None) -> dict[str, pd.Series] | None:
    """The host, pid and comm columns of each group, from its first row.

    None when those rows do not make one group each (names that read alike: the groupby path
    then makes one group of them). Found with a set of the keys: a groupby per window of boots
    cost a millisecond of pandas' fixed costs.
    """
    rows = tasks[["host", "pid", "comm"]].iloc[firsts]
    host = rows["host"].astype(object).where(rows["host"].notna(), None)
    comm = comm_text(rows)
    parts = [0] * len(firsts) if within is None else within[firsts].tolist()
    if len(set(zip(parts, host.tolist(), rows["pid"].tolist(), comm.tolist(), strict=True))) != len(firsts):
        return None
    return {"host": host, "pid": rows["pid"], "comm": comm}


def _at(column: pd.Series, rows: np.ndarray) -> object:
    """``column`` at ``rows`` (-1: missing), keeping its type."""
    return column.array.take(rows, allow_fill=True)


def _typed_like(values: np.ndarray, column: pd.Series) -> object:
    """Per-group ``values`` as pandas types a Python function's results on ``column``.

    Those come back nullable (Int64 for integers, boolean) when the column is (the builder's
    Int64 columns are); the table's dtypes stay what a per-group function gave them.
    """
    if not isinstance(column.array, pd.arrays.IntegerArray | pd.arrays.FloatingArray | pd.arrays.BooleanArray):
        return values
    if values.dtype == bool:
        return pd.array(values, dtype="boolean")
    return pd.array(values, dtype=column.dtype if column.dtype.kind in "iu" else "Int64")


def _known(value: object) -> bool:
    return value is not None and not pd.isna(value)  # type: ignore[arg-type]


def _classify(t: object) -> tuple[str, str]:
    n = t.observations  # type: ignore[attr-defined]
    if n < 2:
        return "single-observation", "listed in one report only"
    killed = t.dying or t.victim  # type: ignore[attr-defined]
    delta = t.switches_delta  # type: ignore[attr-defined]
    frozen = _known(delta) and delta == 0
    if killed:
        ran = "never scheduled" if frozen else "still listed"
        return "victim-not-exiting", f"killed (dying/victim) and {ran} across {n} reports"
    if t.seq_changes > 0:  # type: ignore[attr-defined]
        return "progressing", f"seq {t.seq_first} -> {t.seq_last}: earlier requests completed"  # type: ignore[attr-defined]
    if _known(t.seq_last):  # type: ignore[attr-defined]
        same = f"seq={t.seq_last}"  # type: ignore[attr-defined]
    else:
        same = "the same request" if t.allocating else "no allocation in progress"  # type: ignore[attr-defined]
    if frozen:
        return "blocked", f"{same} and switches frozen at {t.switches_last}: never scheduled"  # type: ignore[attr-defined]
    if _known(delta):
        if not t.allocating:  # type: ignore[attr-defined]
            # kswapd (listed unconditionally) runs without an allocation of its own.
            return "progressing", f"switches +{delta}: running, no allocation of its own"
        return "livelocked", f"{same} kept while switches rose by {delta}: retrying, no progress"
    grew = t.delay_growth  # type: ignore[attr-defined]
    if _known(grew) and grew > 0:
        return "livelocked", f"{same} kept and delay grew by {grew} jiffies (switches not printed)"
    return "single-observation", "listed more than once but nothing comparable was printed"
