"""Combine captures read separately (files in parallel, or pieces of one large file) into one.

Every id that links tables (snapshot, report, task, event, stack) is local to the builder that
made it; merging shifts them so they stay unique, and interns stacks again so that a trace seen
by two workers still has one id. Pieces of one file also get their line numbers shifted by the
lines that came before them, so evidence cites the line of the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from stallscope.capture.model import Capture, InputStats, UnparsedLine


@dataclass(frozen=True, slots=True)
class Part:
    """One capture to merge, and how many lines of its file came before it (0 for a whole file)."""

    capture: Capture
    line_offset: int = 0


_CATEGORY_COLUMNS = {
    "snapshots": ("host", "source"),
    "tasks": ("host", "source", "comm", "gfp_names", "state", "workqueue"),
    "events": ("host", "source", "kind", "comm"),
    "traces": ("host", "source"),
    "frames": ("function", "module"),
}


def _shift(frame: pd.DataFrame, column: str, by: int) -> None:
    if by and column in frame.columns:
        frame[column] = frame[column] + by


def _remap(frame: pd.DataFrame, column: str, mapping: dict[int, int]) -> None:
    if column in frame.columns and len(frame):
        frame[column] = frame[column].map(lambda v: pd.NA if pd.isna(v) else mapping[int(v)]).astype("Int64")


def _stack_keys(frames: pd.DataFrame) -> dict[int, tuple[tuple[object, ...], ...]]:
    keys: dict[int, tuple[tuple[object, ...], ...]] = {}
    columns = ["function", "offset", "size", "module", "reliable"]
    for stack, rows in frames.sort_values(["stack", "depth"]).groupby("stack", sort=False):
        keys[int(stack)] = tuple(tuple(row) for row in rows[columns].itertuples(index=False))  # type: ignore[arg-type]
    return keys


def merge(parts: list[Part]) -> Capture:
    if len(parts) == 1 and parts[0].line_offset == 0:
        return parts[0].capture
    tables: dict[str, list[pd.DataFrame]] = {name: [] for name in _CATEGORY_COLUMNS}
    stack_ids: dict[tuple[tuple[object, ...], ...], int] = {}
    inputs: dict[str, InputStats] = {}
    unparsed: list[UnparsedLine] = []
    offsets = {"snapshot": 0, "report": 0, "task": 0, "event": 0}
    for part in parts:
        capture, lines = part.capture, part.line_offset
        keys = _stack_keys(capture.frames)
        # A "Call Trace:" with no frame after it is a stack too, with no frame rows.
        for frame in (capture.traces, capture.tasks, capture.events):
            if "stack" in frame.columns and len(frame):
                for stack in frame["stack"].dropna().unique():
                    keys.setdefault(int(stack), ())
        mapping: dict[int, int] = {}
        for local, key in keys.items():
            found = stack_ids.get(key)
            if found is None:
                found = stack_ids[key] = len(stack_ids)
                frames = capture.frames[capture.frames["stack"] == local].copy()
                frames["stack"] = found
                tables["frames"].append(frames)
            mapping[local] = found
        snapshots = capture.snapshots.copy()
        _shift(snapshots, "line", lines)
        _shift(snapshots, "report", offsets["report"])
        tasks = capture.tasks.copy()
        _shift(tasks, "line", lines)
        _shift(tasks, "state_line", lines)
        _shift(tasks, "snapshot", offsets["snapshot"])
        _remap(tasks, "stack", mapping)
        events = capture.events.copy()
        _shift(events, "line", lines)
        _remap(events, "stack", mapping)
        traces = capture.traces.copy()
        _shift(traces, "line", lines)
        _shift(traces, "task", offsets["task"])
        _shift(traces, "event", offsets["event"])
        _remap(traces, "stack", mapping)
        for name, frame in (("snapshots", snapshots), ("tasks", tasks), ("events", events), ("traces", traces)):
            tables[name].append(frame)
        offsets["snapshot"] += len(snapshots)
        offsets["task"] += len(tasks)
        offsets["event"] += len(events)
        if len(snapshots):
            offsets["report"] = int(snapshots["report"].max()) + 1
        for stats in capture.inputs:
            total = inputs.setdefault(stats.path, InputStats(stats.path, compression=stats.compression))
            total.lines += stats.lines
            total.parsed += stats.parsed
            total.unparsed += stats.unparsed
            total.physical_lines += stats.physical_lines
            total.damaged = total.damaged or stats.damaged
            for kind, n in stats.kinds.items():
                total.kinds[kind] = total.kinds.get(kind, 0) + n
            for fmt, n in stats.formats.items():
                total.formats[fmt] = total.formats.get(fmt, 0) + n
        unparsed += [UnparsedLine(u.source, u.line + lines, u.text) for u in capture.unparsed]
    merged = {name: _concat(frames, name) for name, frames in tables.items()}
    for name in ("snapshots", "tasks", "events"):
        merged[name].index.name = name.rstrip("s") if name != "snapshots" else "snapshot"
    return Capture(
        snapshots=merged["snapshots"],
        tasks=merged["tasks"],
        events=merged["events"],
        frames=merged["frames"],
        traces=merged["traces"],
        inputs=list(inputs.values()),
        unparsed=unparsed,
    )


def _concat(frames: list[pd.DataFrame], name: str) -> pd.DataFrame:
    frames = [f for f in frames if len(f)] or frames[:1]
    if not frames:
        return pd.DataFrame()
    result = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    for column in _CATEGORY_COLUMNS[name]:
        if column in result.columns and not isinstance(result[column].dtype, pd.CategoricalDtype):
            result[column] = result[column].astype("category")
    return result
