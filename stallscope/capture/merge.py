"""Combine captures read separately (files in parallel, or pieces of one large file) into one.

Every id that links tables (snapshot, report, task, event, stack) is local to the builder that
made it; merging shifts them so they stay unique, and interns stacks again so that a trace seen
by two workers still has one id. Pieces of one file also get their line numbers shifted by the
lines that came before them, so evidence cites the line of the whole file.

A 1 GB log comes back from its workers as millions of rows, so the tables are joined column by
column on their arrays: integer ids are shifted in place in the joined array, stack ids are
re-mapped through a lookup table, and categorical columns are re-coded rather than expanded to
Python strings. Where a capture does not have the shape the builder gives (other columns, other
dtypes), the column or table falls back to plain ``pd.concat``, which is slow but general.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stallscope.capture.columns import (
    code_dtype,
    integer_column,
    nullable_integers,
    own_mask,
    share_one_value,
    shared_mask,
)
from stallscope.capture.machines import input_positions
from stallscope.capture.model import BootMark, Capture, InputStats, UnparsedLine, column_values, missing
from stallscope.capture.packed_fields import FieldsArray
from stallscope.capture.packed_text import PackedTextArray
from stallscope.capture.schema import CATEGORY_COLUMNS, LINE_COLUMNS, TABLES
from stallscope.memory import release_free_memory


@dataclass(frozen=True, slots=True)
class Link:
    """A reference of a row of one piece to a row that only the piece before holds: the task of
    a trace, the report of a MemAlloc-Info line, ... (see :func:`trim`). The row referred to is
    the ``nth`` row of table ``target`` printed at ``line`` (relative to the piece: 0 or less)."""

    table: str
    column: str
    row: int
    target: str
    line: int
    nth: int


@dataclass(frozen=True, slots=True)
class Part:
    """One capture to merge, and how many lines of its file came before it (0 for a whole file)."""

    capture: Capture
    line_offset: int = 0
    links: tuple[Link, ...] = ()


_TABLES = ("snapshots", "tasks", "events", "traces")
# The tables whose rows other tables refer to keep their id as a named index.
_INDEX_NAMES = {name: TABLES[name].id for name in ("snapshots", "tasks", "events")}
# What makes two stacks the same stack; "depth" orders the frames within one.
_FRAME_KEY = ("function", "offset", "size", "module", "reliable", "text")

# An integer column is either shifted by a constant or re-mapped (stack ids) per part.
Adjust = int | Callable[[np.ndarray], np.ndarray] | None
Values = np.ndarray | pd.api.extensions.ExtensionArray


def merge(parts: list[Part], consume: bool = False) -> Capture:
    """One capture of ``parts``, in their order, settled (see :func:`settle`: records read twice
    dropped, boots numbered). With ``consume`` each part's tables are emptied once joined, so
    that the parts and the result are not all held at once (the caller keeps no use for the
    parts: worker results)."""
    if len(parts) == 1 and parts[0].line_offset == 0:
        return settle(parts[0].capture)
    captures = [part.capture for part in parts]
    if not captures:
        empty = {name: pd.DataFrame() for name in (*_TABLES, "frames")}
        for name, index in _INDEX_NAMES.items():
            empty[name].index.name = index
        return Capture(empty["snapshots"], empty["tasks"], empty["events"], empty["frames"], empty["traces"], [], [])
    stacks = _Stacks()
    remaps = [stacks.add(capture) for capture in captures]
    # Rows per part and table, before ``consume`` empties the parts.
    rows = [{name: len(getattr(capture, name)) for name in _TABLES} for capture in captures]
    adjust: dict[str, list[dict[str, Adjust]]] = {name: [] for name in _TABLES}
    snapshot = task = event = report = 0
    for part, capture, remap in zip(parts, captures, remaps, strict=True):
        lines = part.line_offset
        adjust["snapshots"].append({"line": lines, "report": report})
        adjust["tasks"].append({"line": lines, "state_line": lines, "snapshot": snapshot, "stack": remap})
        adjust["events"].append({"line": lines, "stack": remap})
        adjust["traces"].append({"line": lines, "frame_line": lines, "task": task, "event": event, "stack": remap})
        snapshot += len(capture.snapshots)
        task += len(capture.tasks)
        event += len(capture.events)
        if len(capture.snapshots):
            # The report ids of the next part start after the highest one seen so far.
            report = int((capture.snapshots["report"] + report).max()) + 1
    merged = {"frames": stacks.frames(captures)}
    for name in _TABLES:
        frames = [getattr(c, name) for c in captures]
        if consume:
            for capture in captures:
                # A copy: ``iloc[:0]`` is a view that would keep the part's columns alive.
                setattr(capture, name, getattr(capture, name).iloc[:0].copy())
        merged[name] = _join(frames, adjust[name], name, consume)
        del frames
        if consume:
            # Workers' parts were unpickled by the process pool's result thread, in that thread's
            # heap: their memory, once freed, serves no allocation of this thread until it is
            # handed back (1 GB excerpts: the peak while reading 3.8 -> 3.2 GB, bench/README.md).
            # Parts read in this thread (api.load) lose nothing by it.
            release_free_memory()
    for name, index in _INDEX_NAMES.items():
        merged[name].index.name = index
    if any(part.links for part in parts):
        _resolve(parts, rows, merged)
    snapshots = merged["snapshots"]
    if len(snapshots):
        # Reports numbered in order of appearance, as one reader numbers them (a piece's reader
        # also counted the reports of the lines around its piece).
        codes, _ = pd.factorize(snapshots["report"], sort=False)
        snapshots["report"] = integer_column(codes, np.zeros(len(codes), bool), snapshots["report"])
    return settle(in_reading_order(Capture(
        snapshots=merged["snapshots"],
        tasks=merged["tasks"],
        events=merged["events"],
        frames=merged["frames"],
        traces=merged["traces"],
        inputs=_inputs(captures),
        unparsed=[
            u if not part.line_offset else UnparsedLine(u.source, u.line + part.line_offset, u.text, u.reason)
            for part in parts
            for u in part.capture.unparsed
        ],
        skipped=[s for capture in captures for s in capture.skipped],
        boot_marks=[
            m if not part.line_offset else BootMark(m.source, m.line + part.line_offset, m.host)
            for part in parts
            for m in part.capture.boot_marks
        ],
    )))


def settle(capture: Capture) -> Capture:
    """What is decided once every input is read and merged: records read twice dropped (see
    :mod:`stallscope.capture.duplicates`), then boots numbered (:mod:`stallscope.capture.boots`;
    a record read twice would look like a restart of the timestamps)."""
    from stallscope.capture.boots import number_boots
    from stallscope.capture.duplicates import drop_duplicates

    settled = number_boots(drop_duplicates(capture))
    for table in (settled.snapshots, settled.tasks, settled.events, settled.frames, settled.traces):
        share_one_value(table)
    return settled


def _inputs(captures: list[Capture]) -> list[InputStats]:
    inputs: dict[str, InputStats] = {}
    for capture in captures:
        for stats in capture.inputs:
            total = inputs.setdefault(stats.path, InputStats(stats.path, compression=stats.compression))
            total.lines += stats.lines
            total.parsed += stats.parsed
            total.unparsed += stats.unparsed
            total.physical_lines += stats.physical_lines
            total.corrupted += stats.corrupted
            total.kernel_line = total.kernel_line or stats.kernel_line
            total.damaged = total.damaged or stats.damaged
            for kind, n in stats.kinds.items():
                total.kinds[kind] = total.kinds.get(kind, 0) + n
            for fmt, n in stats.formats.items():
                total.formats[fmt] = total.formats.get(fmt, 0) + n
            for what, n in stats.repaired.items():
                total.repaired[what] = total.repaired.get(what, 0) + n
            for why, n in stats.unparsed_reasons.items():
                total.unparsed_reasons[why] = total.unparsed_reasons.get(why, 0) + n
            total.duplicates += stats.duplicates
            total.duplicate_of.extend(p for p in stats.duplicate_of if p not in total.duplicate_of)
    return list(inputs.values())


# -- stacks ---------------------------------------------------------------------------------
class _Stacks:
    """Stacks interned across captures: the same frames get the same id, in order of first sight."""

    def __init__(self) -> None:
        self.ids: dict[bytes, int] = {}
        # One value -> code table per key column, so that equal frames encode to equal bytes
        # whichever capture (and whichever category order) they come from.
        self._codes: list[dict[object, int]] = [{} for _ in _FRAME_KEY]
        # Per capture: the rows of its frames that belong to stacks new to the merge, and their id.
        self._rows: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, capture: Capture) -> Callable[[np.ndarray], np.ndarray]:
        """Intern the stacks of one capture; returns its local -> merged id mapping."""
        frames = capture.frames
        stack = _ints(frames["stack"]) if len(frames) else np.empty(0, np.int64)
        local: list[int] = []
        merged: list[int] = []
        new: list[int] = []
        if len(frames):
            order = np.lexsort((_ints(frames["depth"]), stack))
            rows = self._encode(frames)[order]
            ordered = stack[order]
            bounds = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
            for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(ordered)], strict=True):
                self._intern(int(ordered[start]), rows[start:stop].tobytes(), local, merged, new)
        # A "Call Trace:" with no frame after it is a stack too, with no frame rows.
        seen = set(local)
        for table in (capture.traces, capture.tasks, capture.events):
            if "stack" in table.columns and len(table):
                for value in pd.unique(table["stack"].dropna().to_numpy()):
                    if int(value) not in seen:
                        seen.add(int(value))
                        self._intern(int(value), b"", local, merged, new)
        lookup = _Lookup(np.array(local, np.int64), np.array(merged, np.int64))
        # The frames of new stacks join the merge: the rows of one stack in the order they had,
        # stacks in the order of their ids, as the capture's own frames are.
        order = np.argsort(stack, kind="stable")
        order = order[np.isin(stack[order], np.array(new, np.int64))]
        self._rows.append((order, lookup(stack[order])))
        return lookup

    def _intern(self, stack: int, key: bytes, local: list[int], merged: list[int], new: list[int]) -> None:
        found = self.ids.get(key)
        if found is None:
            found = self.ids[key] = len(self.ids)
            new.append(stack)
        local.append(stack)
        merged.append(found)

    def _encode(self, frames: pd.DataFrame) -> np.ndarray:
        """The key columns of every frame row as integers, equal where the values are equal."""
        columns: list[np.ndarray] = []
        for name, codes in zip(_FRAME_KEY, self._codes, strict=True):
            values = frames[name].array
            if isinstance(values, pd.Categorical):
                known = [codes.setdefault(v, len(codes)) for v in values.categories]
                columns.append(np.array([*known, -1], np.int64)[values.codes])
            elif pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_integer_dtype(values.dtype):
                # Missing is a column of its own: no integer can stand for it.
                columns += [values.to_numpy(np.int64, na_value=0), np.asarray(values.isna(), np.int64)]
            else:
                found = [-1 if missing(v) else codes.setdefault(v, len(codes)) for v in values]
                columns.append(np.array(found, np.int64))
        return np.ascontiguousarray(np.column_stack(columns))

    def frames(self, captures: list[Capture]) -> pd.DataFrame:
        pieces: list[pd.DataFrame] = []
        for capture, (rows, ids) in zip(captures, self._rows, strict=True):
            if len(rows):
                piece = capture.frames.take(rows)
                piece["stack"] = pd.array(ids, dtype=piece["stack"].dtype)
                pieces.append(piece)
        if not pieces:
            return captures[0].frames.iloc[:0].reset_index(drop=True)
        return _join(pieces, [{} for _ in pieces], "frames")


def _ints(series: pd.Series) -> np.ndarray:
    """Stack ids and depths as int64; a missing one sorts last (the builder prints none)."""
    return series.to_numpy(np.int64, na_value=np.iinfo(np.int64).max)


class _Lookup:
    """Local stack id -> merged stack id, for a whole array of ids at once."""

    def __init__(self, local: np.ndarray, merged: np.ndarray) -> None:
        order = np.argsort(local)
        self.local = local[order]
        self.merged = merged[order]
        # Builder ids are 0..n-1: a direct table beats a search by far.
        self.table: np.ndarray | None = None
        if len(local) and self.local[0] >= 0 and self.local[-1] < 8 * len(local) + 64:
            self.table = np.full(int(self.local[-1]) + 1, -1, np.int64)
            self.table[self.local] = self.merged

    def __call__(self, values: np.ndarray) -> np.ndarray:
        if self.table is not None:
            return self.table[values]
        return self.merged[np.searchsorted(self.local, values)]


# -- tables ---------------------------------------------------------------------------------
def _join(frames: list[pd.DataFrame], adjust: list[dict[str, Adjust]], name: str,
          consume: bool = False) -> pd.DataFrame:
    """The rows of ``frames`` one after the other, as ``pd.concat`` joins them, ids adjusted.
    With ``consume`` the caller lets go of ``frames`` (the list is emptied) and each part's
    column is freed once joined: the parts and the result are then held at once one column at a
    time, not whole tables (1 GB of tasks at 1 GB of log)."""
    given = frames
    # pd.concat leaves empty frames out when choosing a dtype: a categorical column of an empty
    # part must not turn the joined column into plain strings.
    keep = [i for i, f in enumerate(frames) if len(f)] or [0]
    frames = [frames[i] for i in keep]
    adjust = [adjust[i] for i in keep]
    columns = list(frames[0].columns)
    if any(list(f.columns) != columns for f in frames[1:]):
        return _join_slowly(frames, adjust, name)
    # Each part's columns, taken out of its frame; with ``consume`` the frames are let go, so a
    # column is freed as soon as it is joined. (Deleting each column from its frame instead cost
    # pandas a rebuild of the frame's blocks per column: 0.06 s of the 1 GB synthetic family's
    # merge, bench/README.md.)
    parts: list[dict[str, Values]] = [{c: column_values(f[c]) for c in columns} for f in frames]  # type: ignore[misc]
    if consume:
        frames.clear()
        given.clear()
    joined: dict[str, pd.Series] = {}
    for column in columns:
        arrays: list[Values] = [part.pop(column) if consume else part[column] for part in parts]
        values = _join_column(arrays, [a.get(column) for a in adjust], column in CATEGORY_COLUMNS[name])
        # A Series keeps an object column object: the frame constructor would infer strings.
        joined[column] = pd.Series(values, dtype=values.dtype, copy=False)
        del arrays, values
        if consume:
            # Handed back a column at a time (see merge): the parts' columns, freed in the heap
            # of the thread that unpickled them, were held until the table's end, beside the
            # joined ones (1 GB serial: the events table's join 606 -> 846 MB; bench/README.md).
            release_free_memory()
    return pd.DataFrame(joined, columns=columns, copy=False)


# Kept beside _join_slowly (pd.concat) for memory more than time: the 30M fleet family's 4 pieces
# merge with 9.2 MB traced at peak against 24.0 MB, 0.90-1.85x the time (bench/pairs.py, bench/README.md).
def _join_column(arrays: list[Values], adjust: list[Adjust], category: bool) -> Values:
    first = arrays[0]
    same = all(a.dtype == first.dtype for a in arrays[1:])
    if all(isinstance(a, pd.arrays.IntegerArray) for a in arrays):
        return _join_integers(arrays, adjust)
    if all(a is None or a == 0 for a in adjust):
        if same and isinstance(first, PackedTextArray | FieldsArray):
            return type(first)._concat_same_type(arrays)
        if same and isinstance(first, pd.Categorical):
            # Categories equal up to order: pandas keeps those of the first part.
            return pd.api.types.union_categoricals(arrays)
        if category and all(isinstance(a, pd.Categorical) for a in arrays):
            return _recode(arrays)
        if same and isinstance(first, np.ndarray):
            return np.concatenate(arrays)
    series = [_adjusted(pd.Series(a, copy=False), by) for a, by in zip(arrays, adjust, strict=True)]
    joined = pd.concat(series, ignore_index=True)
    if category and not isinstance(joined.dtype, pd.CategoricalDtype):
        joined = _categorize(joined)
    return joined.array


def _join_integers(arrays: list[pd.arrays.IntegerArray], adjust: list[Adjust]) -> pd.arrays.IntegerArray:
    data = np.empty(sum(len(a) for a in arrays), _joined_width(arrays, adjust))
    missing = np.empty(len(data), bool)
    start = 0
    for values, by in zip(arrays, adjust, strict=True):
        stop = start + len(values)
        missing[start:stop] = values.isna()
        chunk = data[start:stop]
        chunk[:] = values.to_numpy(data.dtype, na_value=0)
        if callable(by):
            present = ~missing[start:stop]
            chunk[present] = by(chunk[present])
        elif by:
            chunk += by
        start = stop
    return nullable_integers(data, missing)


def _joined_width(arrays: list[pd.arrays.IntegerArray], adjust: list[Adjust]) -> np.dtype:
    """The widest of the parts' types, and int64 where a part's numbers shifted by its offset
    (the lines of the pieces before it) leave a narrower type."""
    width = np.result_type(*(a.dtype.numpy_dtype for a in arrays))
    if width == np.int64:
        return width
    limits = np.iinfo(width)
    for values, by in zip(arrays, adjust, strict=True):
        if not (isinstance(by, int) and by and len(values)) or values.isna().all():
            continue
        if int(values.min()) + by < limits.min or int(values.max()) + by > limits.max:
            return np.dtype(np.int64)
    return width


def _recode(arrays: list[pd.Categorical]) -> pd.Categorical:
    """Categoricals of different categories joined as one over the (sorted) values they use.

    ``pd.concat`` would turn them into an object array of strings and the caller would
    categorize it again; the result is the same, without a Python object per row. The
    categories stay object dtype, as the builder makes them.
    """
    used: dict[object, None] = {}
    for values in arrays:
        codes = values.codes
        present = np.bincount(codes[codes >= 0], minlength=len(values.categories)) > 0
        used.update(dict.fromkeys(values.categories[present]))
    categories = pd.Index(list(used), dtype=object).sort_values()
    codes = np.empty(sum(len(a) for a in arrays), code_dtype(len(categories)))
    start = 0
    for values in arrays:
        lookup = np.append(categories.get_indexer(values.categories), -1)
        codes[start : start + len(values)] = lookup[values.codes]
        start += len(values)
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories, ordered=False), validate=False)


def _adjusted(series: pd.Series, by: Adjust) -> pd.Series:
    if callable(by):
        present = series.notna()
        values = series.astype(series.dtype if pd.api.types.is_integer_dtype(series.dtype) else "Int64")
        if present.any():
            values[present] = by(values[present].to_numpy(np.int64))
        return values
    return series + by if by else series


def _join_slowly(frames: list[pd.DataFrame], adjust: list[dict[str, Adjust]], name: str) -> pd.DataFrame:
    """Frames of different columns: ``pd.concat`` aligns them, each part adjusted first."""
    adjusted: list[pd.DataFrame] = []
    for frame, by in zip(frames, adjust, strict=True):
        frame = frame.copy()
        for column, how in by.items():
            if column in frame.columns and len(frame):
                frame[column] = _adjusted(frame[column], how)
        adjusted.append(frame)
    result = pd.concat(adjusted, ignore_index=True)
    for column in CATEGORY_COLUMNS[name]:
        if column in result.columns and not isinstance(result[column].dtype, pd.CategoricalDtype):
            result[column] = _categorize(result[column])
    return result


def _categorize(series: pd.Series) -> pd.Series:
    # Sorted like astype("category") would, but object like the builder's categories.
    return series.astype(pd.CategoricalDtype(pd.Index(series.dropna().unique(), dtype=object).sort_values()))


# -- pieces of one file ------------------------------------------------------------------------
# Row references between the tables: (table, column) -> the table whose row ids it holds.
_REFERENCES = {("tasks", "snapshot"): "snapshots", ("traces", "task"): "tasks", ("traces", "event"): "events"}


def shift_lines(capture: Capture, by: int) -> None:
    """Move every line number of ``capture`` by ``by`` (in place)."""
    if not by:
        return
    for name, columns in LINE_COLUMNS.items():
        frame = getattr(capture, name)
        for column in columns:
            if column in frame.columns and len(frame):
                frame[column] = frame[column] + by
    capture.unparsed = [UnparsedLine(u.source, u.line + by, u.text, u.reason) for u in capture.unparsed]
    capture.boot_marks = [BootMark(m.source, m.line + by, m.host) for m in capture.boot_marks]


def trim(capture: Capture, first: int, last: int) -> tuple[Capture, list[Link]]:
    """The rows of ``capture`` that start on lines ``first`` to ``last``, and the links of those
    rows to rows that start before ``first``.

    A worker reads a piece of a large file with the lines before and after it, so that a block
    crossing the piece's edges is seen whole; each row then belongs to the piece where it starts,
    and the piece before holds the rows that this one's rows may refer to.
    """
    kept: dict[str, np.ndarray] = {}
    position: dict[str, np.ndarray] = {}
    for name in _TABLES:
        frame = getattr(capture, name)
        lines = frame["line"].to_numpy(np.int64, na_value=first) if len(frame) else np.zeros(0, np.int64)
        mask = (lines >= first) & (lines <= last)
        kept[name] = mask
        position[name] = np.cumsum(mask) - 1  # old row -> new row (where kept)
    links: list[Link] = []
    tables: dict[str, pd.DataFrame] = {}
    later = _stacks_set_later(capture, kept, last)
    for name in _TABLES:
        frame = getattr(capture, name)
        rows = np.flatnonzero(kept[name])
        if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
            # One run of rows (those of the lines before and after the piece around it): taken
            # as a slice, which shares the columns' memory rather than copying every one.
            out = frame.iloc[rows[0] : rows[-1] + 1].reset_index(drop=True)
        else:
            out = frame[kept[name]].reset_index(drop=True)
        if name in later and len(out):
            # The stack of a task or report whose trace starts after the piece comes from the
            # piece after, which reads that trace whole (see _resolve).
            cleared = later[name][kept[name]]
            if cleared.any():
                out.loc[cleared, "stack"] = pd.NA
        for (table, column), target in _REFERENCES.items():
            if table != name or not len(out):
                continue
            values = out[column].to_numpy(np.int64, na_value=-1)
            present = values >= 0
            inside = present.copy()
            if len(kept[target]):
                inside[present] = kept[target][values[present]]
                fixed = np.where(inside, position[target][np.where(present, values, 0)], 0)
            else:
                inside[:] = False
                fixed = np.zeros(len(values), np.int64)
            # Few rows refer to a row before the piece (a block that crosses its start).
            for row in np.flatnonzero(present & ~inside).tolist():
                links.append(_link(capture, name, column, row, target, int(values[row])))
            out[column] = integer_column(fixed, ~inside, out[column])
        if name == "snapshots" and len(out) and not kept[name].all():
            # A report opened before the piece is the report of the line that opened it.
            dropped = frame[~kept[name]]
            opened = {report: int(np.flatnonzero(~kept[name])[i]) for i, report in
                      enumerate(dropped["report"].tolist())}
            reports = out["report"].to_numpy(np.int64, na_value=-1)
            for row in np.flatnonzero(np.isin(reports, list(opened))).tolist():
                links.append(_link(capture, name, "report", row, "snapshots", opened[int(reports[row])]))
        tables[name] = out
    stacks: set[int] = set()
    for name in ("tasks", "events", "traces"):
        if len(tables[name]):
            stacks |= {int(v) for v in tables[name]["stack"].dropna().unique()}
    frames = capture.frames
    frames = frames[frames["stack"].isin(stacks)].reset_index(drop=True) if len(frames) else frames
    for name, index in _INDEX_NAMES.items():
        tables[name].index.name = index
    unparsed = [u for u in capture.unparsed if first <= u.line <= last]
    marks = [m for m in capture.boot_marks if first <= m.line <= last]
    return Capture(tables["snapshots"], tables["tasks"], tables["events"], frames, tables["traces"],
                   capture.inputs, unparsed, boot_marks=marks), links


def _stacks_set_later(capture: Capture, kept: dict[str, np.ndarray], last: int) -> dict[str, np.ndarray]:
    """Per table (tasks, events): the rows whose stack was set by a trace that starts after line
    ``last`` (a task's last trace, a report's first one): only the lead-out read it, maybe cut."""
    traces = capture.traces
    out: dict[str, np.ndarray] = {}
    if not len(traces):
        return out
    after = traces["line"].to_numpy(np.int64, na_value=-1) > last
    for table, column, which in (("tasks", "task", "last"), ("events", "event", "first")):
        owners = traces[column].to_numpy(np.int64, na_value=-1)
        mask = np.zeros(len(getattr(capture, table)), bool)
        present = owners >= 0
        if present.any():
            # Each owner's deciding trace: its first or its last in table order.
            order = np.flatnonzero(present)
            firsts = pd.Series(order).groupby(owners[order]).agg(which)
            deciding = firsts.to_numpy()
            mask[firsts.index.to_numpy()] = after[deciding]
        out[table] = mask
    return out


def _link(capture: Capture, table: str, column: str, row: int, target: str, old: int) -> Link:
    frame = getattr(capture, target)
    line = int(frame["line"].iat[old])
    lines = frame["line"].to_numpy(np.int64, na_value=-1)
    nth = int(np.count_nonzero(lines[:old] == line))
    return Link(table, column, row, target, line, nth)


def _resolve(parts: list[Part], rows: list[dict[str, int]], merged: dict[str, pd.DataFrame]) -> None:
    """Point every link at the merged row it names: the nth row of its table printed at its
    line (lines are of the whole file once shifted)."""
    starts = {name: 0 for name in _TABLES}
    firsts = _FirstRows(merged)
    written: set[tuple[str, str]] = set()

    def writable(name: str, column: str) -> pd.DataFrame:
        """The merged table, its column given a mask of its own before its first cell is written."""
        table = merged[name]
        if (name, column) not in written:
            written.add((name, column))
            table[column] = own_mask(table[column])
        return table

    for part, counts in zip(parts, rows, strict=True):
        capture = part.capture
        for link in part.links:
            frame = merged[link.target]
            source = str(capture.inputs[0].path) if capture.inputs else ""
            at = firsts.at(link.target, source, link.line + part.line_offset)
            if at is None:
                continue  # the row referred to is out of reach (a block longer than the lead-in)
            target_row = at + link.nth
            row = starts[link.table] + link.row
            table = writable(link.table, link.column)
            if link.column == "report":
                table.iat[row, table.columns.get_loc("report")] = frame["report"].iat[target_row]
                continue
            table.iat[row, table.columns.get_loc(link.column)] = target_row
            if link.table == "traces":
                # This trace, read whole here, gives the task its stack (its last trace) or the
                # report its stack (its first trace, when the piece before had none).
                stack = table["stack"].iat[row]
                at = frame.columns.get_loc("stack")
                if link.target == "tasks" or pd.isna(frame.iat[target_row, at]):
                    writable(link.target, "stack").iat[target_row, at] = stack
        for name in _TABLES:
            starts[name] += counts[name]
    for name, column in written:
        merged[name][column] = shared_mask(merged[name][column])


class _FirstRows:
    """The first row of a merged table printed at a line of a source. Links are a few per cut
    between pieces: each is looked up in the table's columns (a dict of every row, made in Python,
    took 0.06 s for the 254,000 task rows of the 1 GB fleet file, and would take seconds for
    millions of event rows)."""

    def __init__(self, merged: dict[str, pd.DataFrame]) -> None:
        self._merged = merged
        self._lines: dict[str, np.ndarray] = {}
        self._sources: dict[tuple[str, str], np.ndarray] = {}

    def at(self, table: str, source: str, line: int) -> int | None:
        frame = self._merged[table]
        lines = self._lines.get(table)
        if lines is None:
            lines = self._lines[table] = frame["line"].to_numpy(np.int64, na_value=-1)
        mine = self._sources.get((table, source))
        if mine is None:
            mine = self._sources[(table, source)] = (frame["source"] == source).to_numpy(dtype=bool, na_value=False)
        found = np.flatnonzero((lines == line) & mine)
        return int(found[0]) if len(found) else None


def in_reading_order(capture: Capture) -> Capture:
    """``capture`` with its traces in the order they start (inputs in reading order, then line)
    and stack ids numbered by first appearance in that order.

    The builder writes a trace when it ends; with several hosts or CPUs interleaved, traces end
    in another order than they start, and a reader of a piece of the file would see them end in
    yet another. In this order, one reader and many give the same tables.
    """
    traces = capture.traces
    if not len(traces):
        return capture
    position = {stats.path: at for at, stats in enumerate(capture.inputs)}
    sources = input_positions(traces, position)
    lines = traces["line"].to_numpy(np.int64, na_value=-1)
    order = np.lexsort((lines, sources))
    if not (order[1:] > order[:-1]).all():
        traces = traces.take(order).reset_index(drop=True)
        capture.traces = traces
    stacks = traces["stack"].to_numpy(np.int64, na_value=-1)
    present = stacks[stacks >= 0]
    firsts = pd.unique(present)
    if len(firsts) and (firsts == np.arange(len(firsts))).all():
        return capture
    table = np.full(int(max(present.max(), _max_stack(capture))) + 1, -1, np.int64)
    table[firsts] = np.arange(len(firsts))
    unseen = np.flatnonzero(table < 0)  # stacks of no trace (none from the builder): after the rest
    table[unseen] = np.arange(len(firsts), len(firsts) + len(unseen))
    for name in ("traces", "tasks", "events", "frames"):
        frame = getattr(capture, name)
        if len(frame) and "stack" in frame.columns:
            frame["stack"] = _renumbered(frame["stack"], table)
    frames = capture.frames
    if len(frames):
        capture.frames = frames.take(np.lexsort((frames["depth"].to_numpy(np.int64),
                                                 frames["stack"].to_numpy(np.int64)))).reset_index(drop=True)
    return capture


def _renumbered(stacks: pd.Series, table: np.ndarray) -> pd.Series:
    """A stack column with each stack id ``s`` made ``table[s]``, in the column's own width: as
    int64 arrays of every row (the ids, where they are missing, the new ids) the events of the 1
    GB serial family took 150 MB for a moment, the main process's peak (bench/README.md,
    thirty-fourth round)."""
    masked = isinstance(stacks.dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_integer_dtype(stacks.dtype)
    width = stacks.dtype.numpy_dtype if masked else np.int64
    ids = stacks.to_numpy(width, na_value=0)  # a missing row reads stack 0, and is masked again
    missing = stacks.isna().to_numpy()
    renumbered = table.astype(width).take(ids)
    renumbered[missing] = 0
    return pd.Series(nullable_integers(renumbered, missing), index=stacks.index, copy=False)


def _max_stack(capture: Capture) -> int:
    found = -1
    for name in ("tasks", "events", "frames"):
        frame = getattr(capture, name)
        if len(frame) and frame["stack"].notna().any():
            found = max(found, int(frame["stack"].max()))
    return found
