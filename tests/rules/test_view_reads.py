"""How the rules read a view's tables (bench/README.md, "What the rules derive once per view")
gives what the plain pandas reads they replaced give.

Each shortcut is compared with the plain computation, kept here as the reference, on the views
of real logs, on their rows shuffled (an index out of order), and on a kind column that is not
categorical.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import math
import tracemalloc
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import stallscope
from conftest import DATA, corpus_logs, loaded
from stallscope.capture import events as event_tables
from stallscope.capture.decode import task_gfp_texts
from stallscope.capture.events import EventRows, kind_records, of_kind, records, tuples
from stallscope.capture.hz import estimate, growth_pairs, growth_ratios, infer_hz
from stallscope.capture.model import labels_at
from stallscope.capture.signatures import own_trace_positions
from stallscope.diagnose import host_views, rows_at
from stallscope.memory import old_objects_left_alone
from stallscope.rules import allocation_failure, base, victim_stuck
from stallscope.rules.base import Evidence, HostView
from stallscope.rules.common import oom_trend
from stallscope.rules.common.task_facts import gfp_names_of, task_stacks_of, view_workqueue_dumps

# The module (the package's "diagnose" is the function).
diagnose_module = importlib.import_module("stallscope.diagnose")
LOGS = corpus_logs("lkml") + corpus_logs("memalloc-qemu") + corpus_logs("qemu") + corpus_logs("oom")
# Logs with page allocation failure reports (some of several tasks, orders and modes).
FAILURES = ["memalloc-qemu/oomwrite-1cpu-128M-w3.log", "qemu/warn-alloc-failure.log",
            "noise/2021-01-28_ttm-order9-noretry-huge-page-failure-falls-back.log",
            "wild/2012-09-28_real-48gb-multicast-kswapd1-order2-atomic-mlx4-failure.log",
            "wild/2013-04-05_real-raspberry-pi-ksoftirqd-gfp-atomic-page-allocation-failure-smsc95xx.log"]


def _reference_of_kind(events: pd.DataFrame, *kinds: str) -> pd.DataFrame:
    return events[events["kind"].isin(kinds).to_numpy(dtype=bool)].sort_index(kind="stable")


def _variants(events: pd.DataFrame) -> list[pd.DataFrame]:
    """The table, its rows shuffled (the index out of order), its kinds as plain strings."""
    shuffled = events.iloc[np.random.default_rng(7).permutation(len(events))]
    plain = events.assign(kind=events["kind"].astype(object))
    return [events, shuffled, plain]


def _kind_sets(events: pd.DataFrame) -> list[tuple[str, ...]]:
    present = [str(k) for k in pd.unique(events["kind"].dropna())]
    # Each kind, pairs of kinds (their rows interleave), a kind the table lacks beside one it has.
    return ([(k,) for k in present] + list(pairwise(present))
            + [("no_such_kind",), (present[0], "no_such_kind", present[0])] if present else [("no_such_kind",)])


def _same_records(got: list[tuple[object, dict[str, object]]], want: list[tuple[object, dict[str, object]]]) -> None:
    assert [index for index, _ in got] == [index for index, _ in want]
    for (_, a), (_, b) in zip(got, want, strict=True):
        assert a.keys() == b.keys()
        for name in a:
            x, y = a[name], b[name]
            assert type(x) is type(y) and (x is y or x == y or (pd.isna(x) and pd.isna(y))), (name, x, y)


@pytest.mark.parametrize("log", LOGS)
def test_event_rows_select_what_a_mask_selects(log: str) -> None:
    capture, _ = loaded(log)
    for view in host_views(capture):
        for events in _variants(view.events):
            if not len(events):
                continue
            rows = EventRows(events)
            for kinds in _kind_sets(events):
                want = _reference_of_kind(events, *kinds)
                pd.testing.assert_frame_equal(rows.of_kind(*kinds), want)
                pd.testing.assert_frame_equal(of_kind(events, *kinds), want)
                _same_records(rows.records(*kinds), list(records(want)))
                _same_records(kind_records(events, *kinds), list(records(want)))
                pd.testing.assert_series_equal(rows.column("ts", *kinds), want["ts"])
                assert rows.count(*kinds) == len(want)


def test_an_absent_kind_is_one_empty_table_and_a_table_without_rows_has_none() -> None:
    capture, _ = loaded(LOGS[0])
    rows = EventRows(capture.events)
    assert rows.of_kind("no_such_kind") is rows.of_kind("other_absent_kind")
    assert list(rows.of_kind("no_such_kind").columns) == list(capture.events.columns)
    empty = EventRows(capture.events.iloc[:0])
    assert empty.of_kind("oom_invoke").empty and empty.records("oom_invoke") == [] and empty.count("x") == 0


@pytest.mark.parametrize("log", LOGS)
def test_derived_tables_are_the_same_from_a_view_and_from_its_table(log: str) -> None:
    capture, _ = loaded(log)
    for view in host_views(capture):
        for derive in (event_tables.oom_kills, event_tables.oom_invocations, event_tables.hung_tasks,
                       event_tables.held_locks, event_tables.workqueue_pools, event_tables.zone_watermarks):
            pd.testing.assert_frame_equal(derive(view.rows), derive(view.events))
        assert event_tables.busy_workqueues(view.rows) == event_tables.busy_workqueues(view.events)


def test_an_empty_derived_table_is_a_copy_of_its_own() -> None:
    capture, _ = loaded(LOGS[0])
    first = event_tables.lock_blockers(capture.events.iloc[:0])
    first["added"] = 1
    second = event_tables.lock_blockers(capture.events.iloc[:0])
    assert "added" not in second.columns
    pd.testing.assert_frame_equal(second, pd.DataFrame([], columns=list(second.columns)))


def _same_tuples(frame: pd.DataFrame) -> None:
    for index in (True, False):
        want = list(frame.itertuples(index=index))
        got = tuples(frame, index=index)
        assert [w._fields for w in want] == [g._fields for g in got]
        for w, g in zip(want, got, strict=True):
            for x, y in zip(w, g, strict=True):
                assert type(x) is type(y) and (x is y or x == y or (pd.isna(x) and pd.isna(y))), (x, y)


@pytest.mark.parametrize("log", LOGS)
def test_tuples_are_itertuples(log: str) -> None:
    capture, _ = loaded(log)
    for view in host_views(capture):
        for frame in (view.tasks, view.snapshots, view.events, event_tables.oom_kills(view.rows),
                      event_tables.alloc_reports(view.rows, "warn_alloc_stall")):
            _same_tuples(frame)
    _same_tuples(pd.DataFrame({"not an identifier": [1, 2], "class": pd.array([None, 3], dtype="Int64")}))


@pytest.mark.parametrize("log", LOGS[:6])
def test_rows_at_a_run_of_positions_is_the_take(log: str) -> None:
    capture, _ = loaded(log)
    table = capture.events
    if len(table) < 4:
        pytest.skip("too few rows")
    for positions in (np.arange(1, len(table) - 1), np.array([0]), np.arange(len(table)),
                      np.array([2, 1, 3]), np.array([0, 2, 3]), np.empty(0, dtype=np.intp)):
        pd.testing.assert_frame_equal(rows_at(table, positions), table.iloc[positions])


@pytest.mark.parametrize("log", LOGS)
def test_growth_ratios_are_the_pairs_ratios(log: str) -> None:
    capture, _ = loaded(log)
    for view in host_views(capture):
        pairs = growth_pairs(view.tasks)
        want = np.sort(pairs["ratio"].to_numpy(dtype=float)) if len(pairs) else np.zeros(0)
        np.testing.assert_array_equal(np.sort(growth_ratios(view.tasks)), want)
        assert infer_hz(view.tasks) == estimate(pairs)


def _reference_groups(failures: pd.DataFrame) -> list[tuple[tuple[object, ...], list[object]]]:
    return [(key, rows["event"].tolist())
            for key, rows in failures.groupby(["comm", "order", "mode"], sort=False, dropna=False)]


@pytest.mark.parametrize("log", FAILURES)
def test_failures_are_grouped_as_groupby_groups_them(log: str) -> None:
    capture, _ = loaded(log)
    found = 0
    for view in host_views(capture):
        failures = event_tables.alloc_reports(view.rows, "warn_alloc_failure")
        if failures.empty:
            continue
        # The rows as the reports table has them, then with missing orders and modes, then twice.
        damaged = failures.assign(order=[None if i % 2 else o for i, o in enumerate(failures["order"])],
                                  mode=[None if i % 3 == 1 else m for i, m in enumerate(failures["mode"])])
        for table in (failures, damaged, pd.concat([failures, damaged])):
            groups = allocation_failure._by_request([row for _, row in event_tables.records(table)])
            want = _reference_groups(table)
            # The keys as a title prints them, a missing value as NaN ("nan"), and each group's rows.
            assert [tuple(str(v) for v in key) for key, _ in groups] == \
                   [tuple(str(v) for v in key) for key, _ in want]
            assert [[row["event"] for row in rows] for _, rows in groups] == [events for _, events in want]
            for (key, _), (ref, _) in zip(groups, want, strict=True):
                for value, expected in zip(key, ref, strict=True):
                    assert (isinstance(value, float) and math.isnan(value)) == bool(pd.isna(expected))
        found += 1
    assert found


def _reference_unprinted(snaps: pd.DataFrame) -> np.ndarray:
    if not len(snaps):
        return np.zeros(0, dtype=bool)
    return (snaps["oom_count"].isna() & ~snaps["text"].astype(str).str.contains("oom_count=", regex=False)).to_numpy(
        dtype=bool)


@pytest.mark.parametrize("log", LOGS)
def test_lines_without_oom_count_are_those_the_text_lacks_it(log: str) -> None:
    capture, _ = loaded(log)
    for view in host_views(capture):
        snaps = view.snapshots
        # The lines as printed, then with every count read as missing (half of them printed).
        blanked = snaps.assign(oom_count=pd.array([None] * len(snaps), dtype="Int64"))
        for table in (snaps, blanked):
            np.testing.assert_array_equal(oom_trend._unprinted(table), _reference_unprinted(table))


# --- cells and per-view candidates ---------------------------------------------------------------
@pytest.mark.parametrize("log", LOGS[:12])
@pytest.mark.parametrize("factor", [1, 10**9])
def test_cells_are_the_columns_values(log: str, factor: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # 10**9: the whole column converted at the first read; 1: each cell read on its own (until
    # as many reads as rows).
    monkeypatch.setattr(base._Cells, "_WHOLE_COLUMN", factor)
    capture, _ = loaded(log)
    for view in host_views(capture):
        for table in ("snapshots", "tasks", "events"):
            frame = getattr(view, table)
            for column in frame.columns:
                want = frame[column].tolist()
                for label, expected in zip(frame.index.tolist()[::7], want[::7], strict=True):
                    got = view.cell(table, label, column)
                    assert type(got) is type(expected), (table, column, got, expected)
                    assert got is expected or got == expected or (pd.isna(got) and pd.isna(expected))


def test_a_cell_of_a_label_held_twice_is_read_as_pandas_reads_it() -> None:
    capture, _ = loaded(LOGS[0])
    view = host_views(capture)[0]
    tasks = pd.concat([view.tasks.head(2), view.tasks.head(2)])
    doubled = dataclasses.replace(view, tasks=tasks, memo={})
    pd.testing.assert_series_equal(doubled.cell("tasks", tasks.index[0], "pid"), tasks["pid"].at[tasks.index[0]])
    with pytest.raises(KeyError):
        view.cell("tasks", -12345, "pid")


def _reference_killed(view: HostView, pid: int) -> list[int]:
    tasks = view.tasks
    others = tasks[(tasks["pid"] != pid) & tasks["delay"].notna() & (tasks["exiting"] | tasks["dying"] | tasks["victim"])]
    return others.drop_duplicates("pid", keep="last").index.tolist()


@pytest.mark.parametrize("log", ["lkml/2015-12-05_oom-reaper-trap-oom-write-early-format.log",
                                 "wild/2015-12-13_oom-victim-blocked-on-i-mutex-held-by-exiting-writer-in-gfp-nofs-xfs-alloc.log"])
def test_killed_allocators_are_those_a_mask_finds(log: str) -> None:
    capture, _ = loaded(log)
    named = 0
    for view in host_views(capture):
        for pid in pd.unique(view.tasks["pid"].dropna()).tolist():
            evidence: list[Evidence] = []
            text = victim_stuck._killed_allocators(view, SimpleNamespace(pid=pid), evidence)
            want = _reference_killed(view, int(pid))
            assert bool(text) == bool(want)
            if want:
                named += 1
                assert evidence == [view.task_evidence(want[0])]
                for row in want[:5]:
                    assert f"{view.cell('tasks', row, 'comm')}({view.cell('tasks', row, 'pid')})" in text
    assert named


# --- the cyclic collector ------------------------------------------------------------------------
def test_the_collector_leaves_the_capture_alone_while_the_rules_run(monkeypatch: pytest.MonkeyPatch) -> None:
    log = "qemu/warn-alloc-failure.log"
    capture, findings = loaded(log)
    seen: list[int] = []
    first = diagnose_module.ALL_RULES[0]

    def check(view: HostView) -> list[object]:
        seen.append(gc.get_freeze_count())
        return first.check(view)  # type: ignore[no-any-return]

    # The first rule as it is (its id, whether it reads all boots at once, ...), its check watched.
    watched = SimpleNamespace(**{**vars(first), "check": check})
    monkeypatch.setattr(diagnose_module, "ALL_RULES", [watched, *diagnose_module.ALL_RULES[1:]])
    before = gc.get_freeze_count()
    found = diagnose_module.diagnose(capture)
    # Every object of the capture is in the collector's permanent generation while rules run.
    assert seen and all(frozen >= len(capture.events) + before for frozen in seen)
    assert gc.get_freeze_count() == before  # given back to the collector afterwards
    assert [f.as_dict() for f in found] == [f.as_dict() for f in findings]


def test_nested_freezes_give_the_objects_back_once_at_the_outermost() -> None:
    before = gc.get_freeze_count()
    with old_objects_left_alone():
        frozen = gc.get_freeze_count()
        with old_objects_left_alone():
            pass
        assert gc.get_freeze_count() == frozen > before  # the inner one did not unfreeze
    assert gc.get_freeze_count() == before


def rebooted(log: Path, folder: Path) -> Path:
    """The same capture twice, rebooted between (its banner at [0.000000] again, or one added)."""
    data = log.read_bytes()
    twice = folder / "twice.log"
    banner = b"[    0.000000] Linux version "
    twice.write_bytes(data + (data if data.startswith(banner) else banner + b"4.10.0 (rebooted)\n" + data))
    return twice


# One dump; two dumps; dumps whose "Showing busy workqueues" header was not captured.
@pytest.mark.parametrize("log", ["memalloc-qemu/oomwrite-1cpu-128M-w3.log", "lkml/2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log",
                                 "repro/overflow-stalling-in-a-trend.log"])
def test_busy_workqueues_of_each_boot_are_those_of_its_events(log: str, tmp_path: Path) -> None:
    # The same capture twice, rebooted between (its banner at [0.000000] again): a view of every
    # boot, whose busy workqueues are read from tuples of its columns, one dump at a time.
    twice = rebooted(DATA / log, tmp_path)
    for path in (DATA / log, twice):
        capture = stallscope.load(str(path))
        for view in host_views(capture, by_boot=False):
            dumps = view_workqueue_dumps(view)
            boots = view.boot_column("events")
            assert dumps, "the log has workqueue dumps"
            for boot, found in dumps.items():
                every = event_tables.busy_workqueues(view.events[boots == boot])
                assert every and list(found.each()) == every
                assert [found.dump(n) for n in range(len(found))] == [
                    [p for p in every if p.dump == n] for n in range(len(found))]
                assert found.latest() == [p for p in every if p.dump == max(p.dump for p in every)]
                # Some dumps only: each one's pool_workqueues as reading them all gives them.
                for only in ([0], [len(found) - 1], list(range(len(found)))[::-1], []):
                    assert list(found.each(only)) == [p for p in every if p.dump in only]
            assert len(dumps) == len(set(boots.tolist())) == (1 if path == DATA / log else 2)


def test_workqueue_lockup_reads_only_the_dumps_with_a_rescuer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The xfs iflock log's two dumps, the first without its MAYDAY and RESCUER marks: the rule
    reads the second dump only, and cites it as reading both did."""
    from stallscope.rules import workqueue_lockup

    lines = (DATA / "lkml/2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log").read_text().splitlines(keepends=True)
    second = [at for at, line in enumerate(lines) if "Showing busy workqueues" in line][1]
    path = tmp_path / "first-dump-unmarked.log"
    path.write_text("".join(line.replace(" MAYDAY", "").replace("(RESCUER)", "") for line in lines[:second])
                    + "".join(lines[second:]))
    view = next(iter(host_views(stallscope.load(str(path)), by_boot=False)))
    (dumps,) = view_workqueue_dumps(view).values()
    every = list(dumps.each())
    mayday = [p for p in every if p.mayday]
    assert len(dumps) == 2 and {p.dump for p in mayday} == {1} and {p.workqueue for p in mayday} == {"xfs-data/sda1"}
    assert {p.dump for p in every if p.rescuers} == {1}
    (boot,) = view.records_by_boot(*event_tables.WORKQUEUE_DUMP_KINDS)
    assert dumps.containing(workqueue_lockup._rescue_lines(view, boot)) == [1]
    read: list[object] = []
    real_each = event_tables.WorkqueueDumps.each

    def each(self: event_tables.WorkqueueDumps, only: object = None) -> object:
        read.append(only)
        return real_each(self, only)  # type: ignore[arg-type]

    monkeypatch.setattr(event_tables.WorkqueueDumps, "each", each)
    (finding,) = workqueue_lockup.check(view)
    assert read == [[1]]
    assert "MAYDAY on xfs-data/sda1" in finding.title
    assert "Workqueues in MAYDAY (no worker could be created, so they depend on their rescuer): xfs-data/sda1." in (
        finding.explanation)
    assert "xfs-data/sda1 rescuer pid 451 running xfs_end_io" in finding.explanation
    assert [e.line for e in finding.evidence if "MAYDAY" in e.text] == [p.line for p in mayday[-2:]]


def test_a_pwq_line_without_its_dump_is_no_dump(tmp_path: Path) -> None:
    # A real pool_workqueue line alone (a quote, a capture cut before it): no dump to read.
    log = (DATA / "lkml/2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log").read_text()
    pwq = next(line for line in log.splitlines() if " pwq " in line and "active=" in line)
    alone = tmp_path / "pwq.log"
    alone.write_text(pwq + "\n")
    view = next(iter(host_views(stallscope.load(str(alone)), by_boot=False)))
    (dumps,) = view_workqueue_dumps(view).values()
    assert (len(dumps), dumps.latest(), list(dumps.each())) == (0, [], [])
    assert event_tables.busy_workqueues(view.events) == []


def test_the_latest_workqueue_dump_is_read_without_the_earlier_ones() -> None:
    # A log of two dumps: the latest one's lines only are read for it, an earlier one when asked.
    capture = stallscope.load(str(DATA / "lkml/2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log"))
    view = next(iter(host_views(capture, by_boot=False)))
    records = view.records_by_boot(*event_tables.WORKQUEUE_DUMP_KINDS)
    (boot,) = records
    asked: list[slice] = []

    def lines(part: slice) -> list[tuple[object, ...]]:
        asked.append(part)
        return records.tuples(boot, event_tables.BUSY_COLUMNS, part)

    kinds = records.values(boot, "kind")
    dumps = event_tables.WorkqueueDumps(kinds, lines)
    assert len(dumps) == 2
    latest = dumps.latest()
    assert latest and {p.dump for p in latest} == {1}
    assert asked == [slice(kinds.index("wq_show_busy", kinds.index("wq_show_busy") + 1), len(kinds))]
    assert dumps.dump(0) and asked[1:] == [slice(kinds.index("wq_show_busy"), asked[0].start)]
    assert list(dumps.each()) == event_tables.busy_workqueues(view.events) and len(asked) == 2
    # Dumps not read yet are read together for each() and not kept: asked again, they are read again.
    again = event_tables.WorkqueueDumps(kinds, lines)
    assert list(again.each()) == list(again.each()) == list(dumps.each())
    assert asked[2:] == [slice(kinds.index("wq_show_busy"), len(kinds))] * 2


def test_every_workqueue_dump_is_read_some_lines_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # each() of a boot's dumps reads no more than _LINES_AT_ONCE lines in one go (a dump larger
    # than that alone), and gives what one read of every line gives.
    capture = stallscope.load(str(DATA / "lkml/2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log"))
    view = next(iter(host_views(capture, by_boot=False)))
    records = view.records_by_boot(*event_tables.WORKQUEUE_DUMP_KINDS)
    (boot,) = records
    kinds = records.values(boot, "kind")
    asked: list[slice] = []

    def lines(part: slice) -> list[tuple[object, ...]]:
        asked.append(part)
        return records.tuples(boot, event_tables.BUSY_COLUMNS, part)

    first = kinds.index("wq_show_busy", kinds.index("wq_show_busy") + 1)
    monkeypatch.setattr(event_tables, "_LINES_AT_ONCE", first - kinds.index("wq_show_busy"))
    every = list(event_tables.WorkqueueDumps(kinds, lines).each())
    assert every == event_tables.busy_workqueues(view.events) and {p.dump for p in every} == {0, 1}
    assert asked == [slice(kinds.index("wq_show_busy"), first), slice(first, len(kinds))]


@pytest.mark.parametrize("log", ["memalloc-qemu/oomwrite-1cpu-128M-w3.log", "lkml/2016-04-05_oom-livelock-xfs-nofs-noio.log"])
def test_task_arrays_of_a_view_are_the_capture_rows_of_its_tasks(log: str, tmp_path: Path) -> None:
    # A view of the whole capture takes the capture-wide arrays themselves; a view of one boot of
    # the same capture rebooted, the rows of its own tasks.
    twice = rebooted(DATA / log, tmp_path)
    for path, boots in ((DATA / log, 1), (twice, 2)):
        capture = stallscope.load(str(path))
        views = host_views(capture)
        assert len(views) == boots
        own = own_trace_positions(capture)
        for view in views:
            names = view.of_capture("gfp", task_gfp_texts)  # the capture-wide array the view reads
            rows = capture.tasks.index.get_indexer(view.tasks.index)
            gfp = gfp_names_of(view)
            assert gfp.index.equals(view.tasks.index) and gfp.tolist() == names[rows].tolist()
            stacks = capture.traces["stack"].to_numpy(dtype="int64")
            expected = np.where(own[rows] >= 0, stacks[np.maximum(own[rows], 0)], -1)
            assert task_stacks_of(view, view.tasks.index).tolist() == expected.tolist()
            assert any(gfp.tolist()) and (own[rows] >= 0).any(), "the log prints gfp names and traces"
            whole = len(view.tasks) == len(capture.tasks)
            assert np.shares_memory(gfp.array.codes, names.codes) == whole


@pytest.mark.parametrize("log", ["memalloc-qemu/oomwrite-1cpu-128M-w3.log", "lkml/2015-12-05_oom-reaper-trap-oom-write-early-format.log"])
def test_a_boots_rows_made_a_part_at_a_time_are_its_tuples_records_and_arrays(log: str, tmp_path: Path) -> None:
    # Two boots (the capture twice, rebooted between), parts of 7 rows: boots cut inside a part
    # and parts cut inside a boot.
    capture = stallscope.load(str(rebooted(DATA / log, tmp_path)))
    names = ("source", "line", "ts", "fields", "comm")
    checked = 0
    for view in host_views(capture, by_boot=False):
        for kinds in (("oom_killed_process",), ("meminfo_zone", "meminfo_buddy"), ("oom_invoke", "dump_cpu")):
            records = view.records_by_boot(*kinds)
            checked += len(records) == 2
            for boot in records:
                whole = records.tuples(boot, names)
                assert whole and list(records.each(boot, names, size=7)) == whole
                assert list(records.rows(boot, names)) == [
                    (label, {name: row[name] for name in names}) for label, row in records[boot]]
                for name in (None, "line", "source", "fields"):
                    assert records.array(boot, name).tolist() == records.values(boot, name)
    assert checked >= 2, "kinds of two boots each"


def test_labels_of_a_range_index_are_computed_not_materialized() -> None:
    index = pd.RangeIndex(5, 5 + 3 * 4_000_000, 3)
    positions = np.array([0, 7, 3_999_999, 12])
    tracemalloc.start()
    try:
        got = labels_at(index, positions)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.tolist() == index.to_numpy()[positions].tolist()
    assert peak < 1 << 20, peak  # every label as an array would be 32 MB
    other = pd.Index([9, 4, 1])
    assert labels_at(other, np.array([2, 0])).tolist() == [1, 9]
