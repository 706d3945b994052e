"""Pieces of one file read by separate workers, merged, equal the file read at once."""

from __future__ import annotations

import weakref
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_bulk import _make_log_module

import stallscope
from conftest import DATA
from stallscope import parallel
from stallscope.capture.merge import Part, merge


@pytest.fixture
def big_log(tmp_path: Path) -> Path:
    log = tmp_path / "fleet.log"
    _make_log_module().generate(3 << 20, log, seed=3, hosts=3, tasks=30)
    return log


def test_pieces_merge_to_the_whole(big_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_PIECE_BYTES", 256 << 10)
    pieces = parallel.plan((str(big_log),), jobs=4)
    assert len(pieces) >= 4
    assert pieces[0].start == 0 and pieces[-1].end == big_log.stat().st_size
    assert all(a.end == b.start for a, b in pairwise(pieces))
    parts, before = [], 0
    for piece in pieces:
        capture, links = parallel._load_piece(piece, True)
        parts.append(Part(capture, before, links))
        before += sum(i.physical_lines for i in capture.inputs)
    whole = stallscope.load(str(big_log), keep_unparsed=True)
    merged = merge(parts)
    # Nothing is lost or invented at the cuts: the same rows, links between them (report ids, a
    # task's snapshot, a trace's task), frames and line accounting.
    for name in ("snapshots", "tasks", "events", "traces"):
        pd.testing.assert_frame_equal(getattr(merged, name), getattr(whole, name), check_categorical=False,
                                      obj=name)
    columns = ["source", "line", "ts", "comm", "pid", "seq", "delay", "switches", "state"]
    pd.testing.assert_frame_equal(merged.tasks[columns], whole.tasks[columns], check_categorical=False)
    assert [merged.stack_functions(int(s)) for s in merged.tasks["stack"].dropna()] == [
        whole.stack_functions(int(s)) for s in whole.tasks["stack"].dropna()
    ]
    assert [(i.lines, i.parsed, i.unparsed) for i in merged.inputs] == [(i.lines, i.parsed, i.unparsed) for i in whole.inputs]
    assert merged.unparsed == whole.unparsed
    findings = [(f.rule, f.host, [e.line for e in f.evidence]) for f in stallscope.diagnose(merged)]
    assert findings == [(f.rule, f.host, [e.line for e in f.evidence]) for f in stallscope.diagnose(whole)]


def test_merging_two_files_keeps_their_ids_apart() -> None:
    a = stallscope.load(str(DATA / "lkml" / "2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"))
    b = stallscope.load(str(DATA / "lkml" / "2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log"))
    merged = merge([Part(a), Part(b)])
    assert len(merged.tasks) == len(a.tasks) + len(b.tasks)
    # Every task still points at a snapshot of its own file and at a stack with its own frames.
    for frame, source in ((a, a.inputs[0].path), (b, b.inputs[0].path)):
        rows = merged.tasks[merged.tasks["source"] == source]
        assert list(rows["comm"].astype(str)) == list(frame.tasks["comm"].astype(str))
        snaps = merged.snapshots.loc[rows["snapshot"].dropna().astype(int)]
        assert set(snaps["source"].astype(str)) <= {source}
        for (_, row), (_, original) in zip(rows.iterrows(), frame.tasks.iterrows(), strict=True):
            if pd.notna(original["stack"]):
                assert merged.stack_functions(int(row["stack"])) == frame.stack_functions(int(original["stack"]))
    rules = {f.rule for f in stallscope.diagnose(merged)}
    assert {"oom-plateau", "oom-livelock"} <= rules  # each file judged on its own timeline


def _dtypes(capture: stallscope.Capture) -> dict[str, dict[str, str]]:
    """Each column's dtype, categories' own dtype included (object, not pyarrow strings)."""
    return {
        name: {
            column: f"{dtype}[{dtype.categories.dtype}]" if isinstance(dtype, pd.CategoricalDtype) else str(dtype)
            for column, dtype in getattr(capture, name).dtypes.items()
        }
        for name in ("snapshots", "tasks", "events", "frames", "traces")
    }


def test_merged_columns_have_the_builders_dtypes(big_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_PIECE_BYTES", 256 << 10)
    parts, before = [], 0
    for piece in parallel.plan((str(big_log),), jobs=4):
        capture, links = parallel._load_piece(piece, False)
        parts.append(Part(capture, before, links))
        before += sum(i.physical_lines for i in capture.inputs)
    merged = merge(parts)
    assert _dtypes(merged) == _dtypes(stallscope.load(str(big_log)))
    # Parts of one file see different comm names and event kinds: joined, every value is kept.
    for name, column in (("tasks", "comm"), ("events", "kind"), ("events", "comm")):
        values = [None if pd.isna(v) else v for p in parts for v in getattr(p.capture, name)[column]]
        assert [None if pd.isna(v) else v for v in getattr(merged, name)[column]] == values
    assert set(merged.frames["function"]) == {f for p in parts for f in p.capture.frames["function"]}


def test_a_stack_seen_twice_keeps_one_id() -> None:
    a = stallscope.load(str(DATA / "lkml" / "2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"))
    merged = merge([Part(a), Part(a, a.lines)])
    assert len(merged.frames) == len(a.frames)
    assert merged.frames["stack"].nunique() == a.frames["stack"].nunique()
    n = len(a.tasks)
    first, second = merged.tasks.iloc[:n], merged.tasks.iloc[n:]
    assert list(first["stack"]) == list(second["stack"])
    assert list(second["line"]) == [line + a.lines for line in first["line"]]
    assert list(second["snapshot"]) == [s + len(a.snapshots) for s in first["snapshot"]]
    traces = merged.traces.iloc[len(a.traces) :]
    assert list(traces["task"].dropna()) == [t + n for t in a.traces["task"].dropna()]
    for stack in merged.tasks["stack"].dropna().unique():
        assert merged.stack_functions(int(stack))


def test_parts_of_other_columns_are_still_joined() -> None:
    a = stallscope.load(str(DATA / "lkml" / "2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"))
    b = stallscope.load(str(DATA / "lkml" / "2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log"))
    fast = merge([Part(a), Part(b)])
    odd = stallscope.Capture(
        snapshots=b.snapshots, tasks=b.tasks.drop(columns="workqueue"), events=b.events,
        frames=b.frames, traces=b.traces, inputs=b.inputs, unparsed=b.unparsed,
    )
    slow = merge([Part(a), Part(odd)])
    pd.testing.assert_frame_equal(slow.tasks.drop(columns="workqueue"), fast.tasks.drop(columns="workqueue"))
    assert slow.tasks["workqueue"].iloc[len(a.tasks) :].isna().all()
    assert isinstance(slow.tasks["workqueue"].dtype, pd.CategoricalDtype)


def _two_real_parts() -> list[Part]:
    a = stallscope.load(str(DATA / "lkml" / "2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"))
    b = stallscope.load(str(DATA / "lkml" / "2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log"))
    return [Part(a), Part(b)]


def test_consuming_parts_gives_the_same_capture() -> None:
    kept = merge(_two_real_parts())
    consumed = merge(_two_real_parts(), consume=True)
    for name in ("snapshots", "tasks", "events", "traces", "frames"):
        pd.testing.assert_frame_equal(getattr(consumed, name), getattr(kept, name), obj=name)


def _buffer_bytes(values: object) -> int:
    """The size of the buffer that a column's array keeps alive (a view keeps its base's)."""
    array = getattr(values, "_data", getattr(values, "codes", values))
    if not isinstance(array, np.ndarray):
        return 0
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array.nbytes if array.base is None else memoryview(array.base).nbytes


def _root(values: object) -> np.ndarray | None:
    """The array that owns a column's buffer (a view keeps its base alive), if NumPy's."""
    array = getattr(values, "_data", getattr(values, "_ndarray", values))
    if not isinstance(array, np.ndarray):
        return None
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def _tasks_buffers(parts: list[Part], columns: list[str]) -> list[tuple[set[int], weakref.ref[np.ndarray]]]:
    """(the positions of the columns that share one buffer, the buffer, weakly) of each part's
    tasks table: a block of several columns is freed once the last of them is joined. (A
    function of its own: a local variable of the test would hold the last buffer.)"""
    from stallscope.capture.model import column_values

    buffers: list[tuple[set[int], weakref.ref[np.ndarray]]] = []
    for part in parts:
        owners: dict[int, tuple[set[int], weakref.ref[np.ndarray]]] = {}
        for at, column in enumerate(columns):
            root = _root(column_values(part.capture.tasks[column]))
            if root is not None:
                owners.setdefault(id(root), (set(), weakref.ref(root)))[0].add(at)
        buffers.extend(owners.values())
    return buffers


def test_consuming_parts_frees_each_column_once_joined(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``consume`` a part's column is freed once its joined column exists: the parts and the
    result are held at once one column at a time (at 1 GB of log the tasks table alone is 1 GB).
    An emptied part must not be a view of its rows either (``iloc[:0]`` keeps them alive)."""
    from stallscope.capture import merge as merging

    parts = _two_real_parts()
    columns = list(parts[0].capture.tasks.columns)
    buffers = _tasks_buffers(parts, columns)
    joined = [0]
    tasks = [False]
    join, join_column = merging._join, merging._join_column

    def watching_join(frames: list[pd.DataFrame], adjust: object, name: str, *rest: object) -> pd.DataFrame:
        tasks[0] = name == "tasks"
        try:
            return join(frames, adjust, name, *rest)
        finally:
            tasks[0] = False

    def watching_column(arrays: list[object], *rest: object) -> object:
        if tasks[0]:
            # Joining column n (columns are joined in order): the buffers of columns 0 .. n-1
            # alone are freed in every part; column n's is still held.
            at = joined[0]
            assert all(ref() is None for positions, ref in buffers if max(positions) < at), at
            assert all(ref() is not None for positions, ref in buffers if at in positions), at
            joined[0] += 1
        return join_column(arrays, *rest)

    monkeypatch.setattr(merging, "_join", watching_join)
    monkeypatch.setattr(merging, "_join_column", watching_column)
    assert len(buffers) > 10
    merged = merge(parts, consume=True)
    assert len(columns) > 10 and joined == [len(columns)]
    assert all(ref() is None for _positions, ref in buffers)
    assert len(merged.tasks) > 0 and all(len(p.capture.tasks) == 0 for p in parts)
    assert list(parts[0].capture.tasks.columns) == list(merged.tasks.columns)
    for part in parts:
        for name in ("snapshots", "tasks", "events", "traces"):
            frame = getattr(part.capture, name)
            assert sum(_buffer_bytes(frame[c].array) for c in frame.columns) == 0, name
