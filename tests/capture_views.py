"""Captures made comparable across capture formats: the tables without what depends on where and
how a line was read (source, line numbers, ids of other rows), and the findings' gist."""

from __future__ import annotations

import pandas as pd

import stallscope
from stallscope.capture.model import Capture


def _objects(frame: pd.DataFrame) -> pd.DataFrame:
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(object)
    return frame


def view(capture: Capture, host: str | None = None) -> dict[str, pd.DataFrame]:
    """One host's tables with the ids that depend on what else was read replaced by what they name."""
    stacks = {int(s): tuple(rows.sort_values("depth")["function"].astype(str))
              for s, rows in capture.frames.groupby("stack")}
    snapshot_ts = capture.snapshots["ts"]

    def mine(frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame[frame["host"].isna()] if host is None else frame[frame["host"] == host]
        return rows.reset_index(drop=True)

    def stack(value: object) -> object:
        return None if pd.isna(value) else stacks.get(int(value), ())  # type: ignore[call-overload]

    tasks = mine(capture.tasks)
    tasks["stack"] = tasks["stack"].map(stack).astype(object)
    tasks["snapshot"] = tasks["snapshot"].map(lambda s: None if pd.isna(s) else snapshot_ts[int(s)]).astype(object)
    snapshots = mine(capture.snapshots)
    snapshots["report"] = pd.factorize(snapshots["report"])[0]
    traces = mine(capture.traces)
    traces["stack"] = traces["stack"].map(stack).astype(object)
    dropped = ["host", "source", "line", "state_line", "frame_line", "corrupted", "task", "event"]
    return {
        "snapshots": _objects(snapshots.drop(columns=dropped, errors="ignore")),
        "tasks": _objects(tasks.drop(columns=dropped, errors="ignore")),
        "traces": _objects(traces.drop(columns=dropped, errors="ignore")),
    }


def assert_same_view(got: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]) -> None:
    assert len(expected["tasks"]) or len(expected["snapshots"])  # something to compare
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, check_dtype=False, obj=name)


def findings_of(capture: Capture, host: str | None = None) -> list[tuple[object, ...]]:
    # Frame lines (quoted without a time) are quoted only from traces whose frames sit on
    # consecutive lines: a capture that interleaves or wraps them quotes the rest and not those.
    return [(f.rule, f.severity.value, [(t.comm, t.pid) for t in f.tasks],
             [(e.ts, e.text) for e in f.evidence if e.ts is not None])
            for f in stallscope.diagnose(capture) if f.host == host]
