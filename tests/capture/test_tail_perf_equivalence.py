"""What runs after the rules (fleet summary, HZ, verdict, report sections) reads what plain pandas reads.

Each whole-column computation is compared with the straightforward one it replaced (kept here
as the reference), on the real logs, and on their rows shuffled or reversed, which defeats
every "already in log order" shortcut.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_fleet import make_fleet

import stallscope
from conftest import corpus_logs, loaded
from stallscope.capture import hz
from stallscope.capture import trajectories as trajectory_module
from stallscope.capture.events import NOTABLE_EVENTS
from stallscope.capture.model import Capture
from stallscope.capture.signatures import signatures, trace_codes
from stallscope.capture.trajectories import _grouped, stable_order, trajectories_of
from stallscope.diagnose import host_views, machine_keys
from stallscope.fleet import MachineSummary, Occurrence, SharedSignature, machines, shared_signatures
from stallscope.render import sections
from stallscope.rules.base import Finding, HostView

LOGS = corpus_logs("lkml") + corpus_logs("memalloc-qemu") + corpus_logs("qemu")


def _variants(tasks: pd.DataFrame) -> list[pd.DataFrame]:
    """The rows as loaded, reversed, and shuffled."""
    if not len(tasks):
        return [tasks]
    return [tasks, tasks.iloc[::-1], tasks.sample(frac=1.0, random_state=7)]


@pytest.fixture(scope="module")
def fleet_capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Capture, list[Finding]]:
    directory = make_fleet(tmp_path_factory.mktemp("tail") / "logs")
    capture = stallscope.load(str(directory))
    return capture, stallscope.diagnose(capture)


# --- hz ----------------------------------------------------------------------------------------
def _reference_growth_pairs(tasks: pd.DataFrame) -> pd.DataFrame:
    cols = ["host", "source", "pid", "comm", "seq", "delay", "ts", "line"]
    rows = tasks.loc[tasks["delay"].notna() & tasks["ts"].notna(), cols].copy()
    if rows.empty:
        return pd.DataFrame(columns=["pid", "seq", "d_delay", "d_ts", "ratio", "line"])
    rows["seq"] = rows["seq"].astype("Int64").fillna(-1)
    rows["host"] = rows["host"].astype(object).fillna("")
    keys = ["host", "pid", "comm", "seq"]
    rows = rows.sort_values([*keys, "ts"], kind="stable")
    grouped = rows.groupby(keys, sort=False, observed=True)
    rows["d_delay"] = grouped["delay"].diff().astype("Int64")  # the column may be held as Int32 (schema.INT)
    rows["d_ts"] = grouped["ts"].diff()
    pairs = rows[(rows["d_ts"] >= hz.MIN_SECONDS) & (rows["d_delay"] > 0)].copy()
    pairs["ratio"] = pairs["d_delay"].astype(float) / pairs["d_ts"].astype(float)
    return pairs[["pid", "seq", "d_delay", "d_ts", "ratio", "line"]]


def _host_rows(tasks: pd.DataFrame, host: str | None) -> pd.DataFrame:
    return tasks[tasks["host"].isna()] if host is None else tasks[tasks["host"] == host]


@pytest.mark.parametrize("relative", LOGS)
def test_growth_pairs_are_the_sorted_groupby_diffs(relative: str) -> None:
    for tasks in _variants(loaded(relative)[0].tasks):
        expected, got = _reference_growth_pairs(tasks), hz.growth_pairs(tasks)
        if len(expected) or len(got):
            pd.testing.assert_frame_equal(got, expected, check_exact=True)


@pytest.mark.parametrize("relative", ["lkml/2015-10-10_first-watchdog-sync4-grep.log",
                                      "lkml/2015-12-05_oom-reaper-trap-oom-write-early-format.log"])
def test_growth_pairs_sorted_a_few_tasks_at_a_time_are_the_same(relative: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The pairs are found (and rows out of (seq, ts) order sorted) over parts of whole tasks:
    # parts of a few rows (each ending where its last task does) give what the whole listing gives.
    monkeypatch.setattr(hz, "_SORTED_AT_ONCE", 3)
    for tasks in _variants(loaded(relative)[0].tasks)[1:]:
        expected = _reference_growth_pairs(tasks)
        assert len(expected)
        pd.testing.assert_frame_equal(hz.growth_pairs(tasks), expected, check_exact=True)


@pytest.mark.parametrize("relative", ["lkml/2015-10-10_first-watchdog-sync4-grep.log",
                                      "lkml/2015-12-05_oom-reaper-trap-oom-write-early-format.log"])
@pytest.mark.parametrize("offset", [0, 1 << 16])
def test_a_stable_order_placed_a_part_at_a_time_is_numpys(relative: str, offset: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Each task row's task number (its pid's, in order of appearance), rows as loaded, reversed
    # and shuffled; the numbers beyond 16 bits too (the other sort): ordered 5 rows at a time,
    # the order numpy's stable argsort gives, in 32 bits.
    monkeypatch.setattr(trajectory_module, "_ORDERED_AT_ONCE", 5)
    for tasks in _variants(loaded(relative)[0].tasks):
        numbers = pd.factorize(tasks["pid"])[0] + offset
        assert len(numbers) > 10 and len(set(numbers.tolist())) > 1
        found = stable_order(numbers)
        assert found.dtype == np.int32 and found.tolist() == np.argsort(numbers, kind="stable").tolist()


@pytest.mark.parametrize("relative", LOGS)
def test_pairs_by_host_are_each_hosts_own_pairs(relative: str) -> None:
    for tasks in _variants(loaded(relative)[0].tasks):
        found = hz.pairs_by_host(tasks)
        hosts = [None if pd.isna(h) else str(h) for h in tasks["host"].astype(object).unique()] or [None]
        assert list(found) == hosts
        for host, pairs in found.items():
            expected = _reference_growth_pairs(_host_rows(tasks, host))
            assert sorted(pairs.ratios.tolist()) == sorted(expected["ratio"].tolist())
            assert pairs.first_line == (int(expected["line"].iloc[0]) if len(expected) else None)


@pytest.mark.parametrize("relative", LOGS)
def test_hz_by_host_and_delay_seconds_are_per_host(relative: str) -> None:
    capture = loaded(relative)[0]
    tasks = capture.tasks
    for given in (None, 300.0):
        estimates = hz.hz_by_host(capture, given)
        for host, estimate in estimates.items():
            if len(tasks):
                assert estimate == hz.infer_hz(_host_rows(tasks, host), given)
    expected = pd.Series(np.nan, index=tasks.index, dtype=float)
    for host, estimate in hz.hz_by_host(capture).items():
        if estimate.known and len(tasks):
            mask = tasks["host"].isna() if host is None else tasks["host"] == host
            expected[mask] = tasks.loc[mask, "delay"].astype(float) / float(estimate.hz)  # type: ignore[arg-type]
    pd.testing.assert_series_equal(hz.delay_seconds(capture), expected, check_exact=True)
    pd.testing.assert_series_equal(hz.delay_seconds(capture, pairs=hz.pairs_by_host(tasks)), expected,
                                   check_exact=True)


# --- trajectories ------------------------------------------------------------------------------
@pytest.mark.parametrize("relative", LOGS)
def test_trajectories_are_the_groupby_aggregation(relative: str) -> None:
    tasks = loaded(relative)[0].tasks
    if not len(tasks):
        return
    subsets = [*_variants(tasks), *(_host_rows(tasks, h) for h in tasks["host"].dropna().unique())]
    for rows in subsets:
        pd.testing.assert_frame_equal(trajectories_of(rows), _grouped(rows), check_exact=True)


def test_trajectories_with_missing_keys_and_values() -> None:
    tasks = pd.DataFrame({
        "host": pd.Categorical(["a", None, "a", None, "a", "a"]),
        "pid": pd.array([1, 1, None, 1, 1, None], dtype="Int64"),
        "comm": pd.Categorical(["x", "x", "y", None, "x", "y"]),
        "line": pd.array([1, 2, 3, 4, 5, 6], dtype="Int64"),
        "ts": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0],
        "seq": pd.array([5, None, 7, 7, 6, None], dtype="Int64"),
        "switches": pd.array([None, 2, 3, 3, 4, 9], dtype="Int64"),
        "delay": pd.array([10, None, 30, 31, None, 50], dtype="Int64"),
        "dying": [False, True, False, False, False, True],
        "victim": [False] * 6,
        "exiting": [True, False, False, False, False, False],
        "uninterruptible": [False, False, True, False, True, False],
    }, index=pd.Index([10, 11, 12, 13, 14, 15], dtype="int64"))
    pd.testing.assert_frame_equal(trajectories_of(tasks), _grouped(tasks), check_exact=True)


# --- fleet -------------------------------------------------------------------------------------
def _reference_sources(view: HostView) -> list[str]:
    found: dict[str, None] = {}
    for frame in (view.snapshots, view.tasks, view.events):
        if len(frame):
            found.update(dict.fromkeys(str(s) for s in frame["source"].dropna().unique()))
    return list(found)


def _reference_ends(view: HostView, inputs: list[str]) -> tuple[Occurrence | None, Occurrence | None]:
    parts = []
    snaps, events = view.snapshots, view.events
    if len(snaps):
        parts.append(snaps[snaps["stalling"].fillna(0) > 0][["source", "line", "ts"]])
    if len(view.tasks):
        parts.append(view.tasks[["source", "line", "ts"]])
    if len(events):
        stalls = frozenset(NOTABLE_EVENTS) - {"sysrq"}
        parts.append(events[events["kind"].astype(str).isin(stalls)][["source", "line", "ts"]])
    parts = [p for p in parts if len(p)]
    if not parts:
        return None, None
    rows = pd.concat([p.astype({"source": str}) for p in parts], ignore_index=True)
    order = {s: i for i, s in enumerate(inputs)}
    ranked = rows.assign(_input=rows["source"].map(order).fillna(len(order))).sort_values(
        ["_input", "line"], kind="stable")

    def occurrence(row: pd.Series) -> Occurrence:
        return Occurrence(str(row["source"]), int(row["line"]), None if pd.isna(row["ts"]) else float(row["ts"]))

    return occurrence(ranked.iloc[0]), occurrence(ranked.iloc[-1])


def _check_machines(capture: Capture, findings: list[Finding]) -> None:
    """Each summary's per-machine facts are what that machine's own rows say."""
    summaries = {(m.host, m.sources[0] if m.host is None else None): m for m in machines(capture, findings)}
    inputs = [i.path for i in capture.inputs]
    for view in host_views(capture):
        sources = _reference_sources(view)
        key = (view.host, None) if view.host is not None else (None, sources[0] if sources else None)
        summary: MachineSummary = summaries[key]
        assert summary.sources == sources
        assert (summary.first, summary.last) == _reference_ends(view, inputs)
        snaps, tasks = view.snapshots, view.tasks
        stalling = int(snaps["stalling"].max()) if len(snaps) and snaps["stalling"].notna().any() else None
        assert summary.max_stalling == stalling
        assert summary.tasks == (len(tasks[["comm", "pid"]].drop_duplicates()) if len(tasks) else 0)


def test_machine_summaries_are_each_machines_own_rows(fleet_capture: tuple[Capture, list[Finding]]) -> None:
    _check_machines(*fleet_capture)


@pytest.mark.parametrize("relative", corpus_logs("lkml")[:6])
def test_machine_summary_of_one_log(relative: str) -> None:
    capture, findings = loaded(relative)
    _check_machines(capture, list(findings))


def _reference_shared(capture: Capture, minimum: int = 2) -> list[SharedSignature]:
    sigs = signatures(capture)
    if not len(sigs):
        return []
    sigs = sigs[sigs["signature"] != "(no trace)"]
    host = sigs["host"].astype(object)
    sigs = sigs.assign(machine=host.where(host.notna(), sigs["source"].astype(object)).astype(str))
    out: list[SharedSignature] = []
    for signature, rows in sigs.groupby("signature", sort=False):
        names = list(dict.fromkeys(rows["machine"]))
        if len(names) < minimum:
            continue
        guilty = rows["guilty"].dropna()
        tasks = list(dict.fromkeys(
            f"{c}({int(p)})@{m}" for c, p, m in zip(rows["comm"], rows["pid"], rows["machine"], strict=True)
            if c is not None and not pd.isna(c) and not pd.isna(p)
        ))
        out.append(SharedSignature(str(signature), str(guilty.mode().iloc[0]) if len(guilty) else None,
                                   sorted(names), len(rows), tasks[:8]))
    out.sort(key=lambda s: (-len(s.machines), -s.traces, s.signature))
    return out


def test_shared_signatures_are_the_signature_table_grouped(fleet_capture: tuple[Capture, list[Finding]]) -> None:
    capture = fleet_capture[0]
    for minimum in (1, 2, 3):
        assert shared_signatures(capture, minimum) == _reference_shared(capture, minimum)
    assert shared_signatures(capture)  # the fleet shares stacks: the comparison is not vacuous


@pytest.mark.parametrize("relative", corpus_logs("lkml"))
def test_machine_keys_are_the_distinct_host_source_pairs(relative: str) -> None:
    capture = loaded(relative)[0]
    seen: dict[tuple[str | None, tuple[str, ...] | None], None] = {}
    for frame in (capture.snapshots, capture.tasks, capture.events):
        if len(frame):
            for host, source in frame[["host", "source"]].drop_duplicates().itertuples(index=False):
                seen[(None, (str(source),)) if pd.isna(host) else (str(host), None)] = None
    assert machine_keys(capture) == (list(seen) or [(None, None)])


# --- report sections ---------------------------------------------------------------------------
@pytest.mark.parametrize("relative", LOGS)
def test_signature_groups_are_the_signature_table_grouped(relative: str) -> None:
    capture = loaded(relative)[0]
    if capture.traces.empty:
        return
    assert sections.signature_groups(capture) == sections._groups_of(signatures(capture))


def test_signature_groups_of_a_fleet(fleet_capture: tuple[Capture, list[Finding]]) -> None:
    capture = fleet_capture[0]
    assert sections.signature_groups(capture) == sections._groups_of(signatures(capture))


@pytest.mark.parametrize("relative", LOGS[:8])
def test_report_parts_are_the_sections_derived_once(relative: str) -> None:
    capture, findings = loaded(relative)
    parts = sections.Parts(capture, list(findings))
    assert parts.verdict_text() == sections.verdict_text(capture, list(findings))
    assert parts.timeline() == sections.timeline(capture)
    assert parts.notable_events() == sections.notable_events(capture)
    assert parts.stalled_tasks() == sections.stalled_tasks(capture)
    assert parts.signature_groups() is parts.signature_groups()
    for group in parts.signature_groups():
        for stack in group.stacks:
            assert parts.trace_lines(stack) == sections.trace_lines(capture, stack)


@pytest.mark.parametrize("relative", LOGS)
def test_trace_codes_are_the_signature_table(relative: str) -> None:
    capture = loaded(relative)[0]
    if capture.traces.empty:
        return
    sigs, codes = signatures(capture), trace_codes(capture)
    signature = np.array(codes.signatures, dtype=object)[codes.signature[codes.part]]
    assert signature.tolist() == sigs["signature"].tolist()
    guilty = [None if g < 0 else codes.guilties[g] for g in codes.guilty[codes.part]]
    assert guilty == [None if pd.isna(g) else g for g in sigs["guilty"]]
    assert [None if c < 0 else codes.comms[c] for c in codes.comm] == [
        None if c is None or pd.isna(c) else str(c) for c in sigs["comm"]]
    assert [int(p) if has else None for p, has in zip(codes.pid, codes.has_pid, strict=True)] == [
        None if pd.isna(p) else int(p) for p in sigs["pid"]]


def test_verdict_reads_the_pairs_it_is_given() -> None:
    from stallscope.verdict import verdict

    for relative in LOGS[:6]:
        capture, findings = loaded(relative)
        assert verdict(capture, list(findings), hz.pairs_by_host(capture.tasks)) == verdict(capture, list(findings))
