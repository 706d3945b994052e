"""Records read twice: the same kernel message in two inputs of one machine.

People hand over what they have: ``kern.log`` and ``syslog`` (the same kernel lines, both written
by syslog), rotated generations that overlap, a directory holding a copy of a log beside it.
Counted twice, a watchdog report would double the stalled tasks and turn a warning into a
critical finding. So a row of the snapshots, tasks or events table is dropped when an earlier
input of the same machine (see :mod:`stallscope.capture.machines`) holds a row with the same
kernel timestamp and message; its traces go with it. Each input counts the rows it lost and
names the inputs that held them first (``InputStats.duplicates``, ``duplicate_of``).

Within one input nothing is dropped: a line printed twice there was printed twice. Rows without
a timestamp are dropped only when every row of their input was seen before (the whole input is a
repeat): two messages without a timestamp may be equal and still be two events.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stallscope.capture.columns import integer_column
from stallscope.capture.machines import input_positions, machine_labels, source_families
from stallscope.capture.model import Capture

# The tables whose rows are messages of the log, and the columns that make two rows the same message.
_MESSAGE_TABLES = ("snapshots", "tasks", "events")
_IDENTITY = ("ts", "text")
# Row references to renumber once rows are gone: (table, column) -> the table referred to.
_REFERENCES = {("tasks", "snapshot"): "snapshots", ("traces", "task"): "tasks", ("traces", "event"): "events"}
_INDEX_NAMES = {"snapshots": "snapshot", "tasks": "task", "events": "event"}


def drop_duplicates(capture: Capture) -> Capture:
    """``capture`` without the rows an earlier input of the same machine already holds (in place)."""
    position = {stats.path: at for at, stats in enumerate(capture.inputs)}
    if len(position) < 2:
        return capture
    families = source_families(capture)
    frames: dict[str, pd.DataFrame] = {}
    for name in _MESSAGE_TABLES:
        frame = getattr(capture, name)
        if not len(frame) or any(column not in frame.columns for column in _IDENTITY):
            continue
        frames[name] = pd.DataFrame({
            "machine": machine_labels(frame, families),
            "input": input_positions(frame, position),
            "key": pd.util.hash_pandas_object(frame[list(_IDENTITY)], index=False).to_numpy(),
            "timed": frame["ts"].notna().to_numpy(),
        })
    pairs = pd.concat([rows[["machine", "input"]] for rows in frames.values()]).drop_duplicates()
    if not pairs["machine"].duplicated().any():
        return capture  # every machine's rows come from one input: nothing can be seen twice
    seen: dict[str, np.ndarray] = {}
    first: dict[str, np.ndarray] = {}
    for name, rows in frames.items():
        seen[name], first[name] = _seen_before(rows)
    # An input every row of which was seen before is a repeat: its rows without a timestamp go too.
    repeats = _whole_repeats(frames, seen, len(position))
    dropped: dict[str, np.ndarray] = {}
    for name, rows in frames.items():
        inputs = rows["input"].to_numpy()
        dropped[name] = seen[name] & (rows["timed"].to_numpy() | repeats[np.minimum(inputs, len(position))])
    if not any(mask.any() for mask in dropped.values()):
        return capture
    _count(capture, frames, dropped, first)
    _remove(capture, dropped)
    return capture


def _seen_before(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Whether each row repeats a message an earlier input of its machine holds (the n-th copy
    of a message in an input repeats it when an earlier input holds it n times or more), and
    the first input that holds it."""
    group = ["machine", "key", "input"]
    nth = rows.groupby(group, sort=False).cumcount().to_numpy()
    counts = rows.groupby(group, sort=False).size().rename("count").reset_index().sort_values("input", kind="stable")
    # The most copies any earlier input of the machine holds, per (machine, key, input).
    counts["before"] = counts.groupby(["machine", "key"], sort=False)["count"].shift(fill_value=0)
    counts["before"] = counts.groupby(["machine", "key"], sort=False)["before"].cummax()
    counts["first"] = counts.groupby(["machine", "key"], sort=False)["input"].transform("min")
    joined = rows[group].merge(counts, on=group, how="left", sort=False)
    return nth < joined["before"].to_numpy(), joined["first"].to_numpy(np.int64)


def _whole_repeats(frames: dict[str, pd.DataFrame], seen: dict[str, np.ndarray], inputs: int) -> np.ndarray:
    rows = np.zeros(inputs + 1, np.int64)
    repeated = np.zeros(inputs + 1, np.int64)
    for name, frame in frames.items():
        at = np.minimum(frame["input"].to_numpy(), inputs)
        np.add.at(rows, at, 1)
        np.add.at(repeated, at, seen[name].astype(np.int64))
    return (rows > 0) & (rows == repeated)


def _count(capture: Capture, frames: dict[str, pd.DataFrame], dropped: dict[str, np.ndarray],
           first: dict[str, np.ndarray]) -> None:
    for name, rows in frames.items():
        mask = dropped[name]
        if not mask.any():
            continue
        inputs = rows["input"].to_numpy()[mask]
        origins = first[name][mask]
        for at, origin in zip(inputs.tolist(), origins.tolist(), strict=True):
            if at >= len(capture.inputs):
                continue
            stats = capture.inputs[at]
            stats.duplicates += 1
            if origin < len(capture.inputs):
                held = capture.inputs[origin].path
                if held not in stats.duplicate_of:
                    stats.duplicate_of.append(held)


def _remove(capture: Capture, dropped: dict[str, np.ndarray]) -> None:
    """Drop the rows, the traces of dropped tasks and reports, and renumber every row reference."""
    kept = {name: ~dropped.get(name, np.zeros(len(getattr(capture, name)), bool)) for name in _MESSAGE_TABLES}
    traces = capture.traces
    if len(traces):
        keep = np.ones(len(traces), bool)
        for column, table in (("task", "tasks"), ("event", "events")):
            owners = traces[column].to_numpy(np.int64, na_value=-1)
            linked = owners >= 0
            keep[linked] &= kept[table][owners[linked]]
        kept["traces"] = keep
    else:
        kept["traces"] = np.ones(0, bool)
    # Old row id -> new row id (-1 for a dropped row).
    renumber = {name: np.where(mask, np.cumsum(mask) - 1, -1) for name, mask in kept.items()}
    for name, mask in kept.items():
        frame = getattr(capture, name)
        if not len(frame) or mask.all():
            continue
        frame = frame[mask].reset_index(drop=True)
        if name in _INDEX_NAMES:
            frame.index.name = _INDEX_NAMES[name]
        setattr(capture, name, frame)
    for (name, column), target in _REFERENCES.items():
        frame = getattr(capture, name)
        if not len(frame) or column not in frame.columns:
            continue
        values = frame[column].to_numpy(np.int64, na_value=-1)
        present = values >= 0
        fixed = np.full(len(values), -1, np.int64)
        fixed[present] = renumber[target][values[present]]
        frame[column] = integer_column(fixed, fixed < 0, frame[column])
    snapshots = capture.snapshots
    if len(snapshots) and "report" in snapshots.columns:
        # Reports numbered in order of appearance again, without the ones dropped.
        codes, _ = pd.factorize(snapshots["report"], sort=False)
        snapshots["report"] = integer_column(codes, np.zeros(len(codes), bool), snapshots["report"])
