"""The shortcuts that keep the rules fast on long captures read what the plain pandas code reads.

Each fast path (a lookup table per capture, a conversion per distinct value, a count for all
groups at once) is compared with the straightforward computation it replaces, on the real logs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import corpus_logs, loaded
from stallscope.api import load
from stallscope.capture.hz import infer_hz
from stallscope.capture.model import Capture
from stallscope.capture.signatures import first_trace_rows, own_trace_rows, task_signatures
from stallscope.capture.trajectories import comm_text, trajectories_of
from stallscope.diagnose import diagnose, host_views
from stallscope.rules.base import HostView
from stallscope.rules.common.task_facts import functions_of, gfp_names_of, traces_where

LOGS = corpus_logs("lkml") + corpus_logs("memalloc-qemu")


def capture_of(relative: str) -> Capture:
    return loaded(relative)[0]


@pytest.mark.parametrize("relative", LOGS)
def test_own_trace_rows_are_the_traces_task_signatures_picks(relative: str) -> None:
    capture = capture_of(relative)
    sigs = task_signatures(capture)
    own = own_trace_rows(capture)
    picked = {int(task): int(capture.traces.index[position]) for task, position in own.items()}
    assert picked == {int(task): int(trace) for task, trace in sigs["trace"].items()}


TRACE = """\
[  {t}.000300] Call Trace:
[  {t}.000400]  schedule+0x2c/0x80
[  {t}.000500]  rwsem_down_read_failed+0xf8/0x150
[  {t}.000600]  down_read+0x17/0x20
[  {t}.000700]  xfs_map_blocks+0x7e/0x150 [xfs]
[  {t}.000800]  kswapd+0x406/0x7d0
"""
# In each of two reports: a task whose trace a line the parser does not know cuts from it (an
# orphan its task line claims), and a task whose trace the builder ties to it.
CLAIMS = "".join(
    f"[  {t}.000000] MemAlloc-Info: stalling=2 dying=0 exiting=0 victim=0 oom_count=1\n"
    f"[  {t}.000100] MemAlloc: kswapd0(49) flags=0xa40840 switches=466 uninterruptible\n"
    f"[  {t}.000200] kswapd0 @@ a state line this parser does not know\n"
    + TRACE.format(t=t)
    + f"[  {t}.000900] MemAlloc: dd(7) flags=0x400040 switches=3 seq=5 gfp=0x24201ca(GFP_HIGHUSER_MOVABLE) "
    "order=0 delay=300\n"
    + TRACE.format(t=t)
    for t in (100, 160)
)


def test_own_trace_rows_claim_orphans_as_task_signatures_does(tmp_path: Path) -> None:
    path = tmp_path / "claims.log"
    path.write_text(CLAIMS)
    capture = load(str(path))
    sigs = task_signatures(capture)
    own = own_trace_rows(capture)
    assert len(own) == len(sigs) == 4 and len(first_trace_rows(capture)) == 2
    assert {int(t): int(capture.traces.index[p]) for t, p in own.items()} == {
        int(t): int(trace) for t, trace in sigs["trace"].items()
    }


def test_comm_text_is_astype_str() -> None:
    frame = pd.DataFrame({"comm": pd.Series(["kswapd0", None, "dd", "kswapd0"], dtype="category")},
                         index=[3, 5, 8, 13])
    pd.testing.assert_series_equal(comm_text(frame), frame["comm"].astype(str), check_exact=True)
    plain = frame.assign(comm=frame["comm"].astype(object))
    pd.testing.assert_series_equal(comm_text(plain), plain["comm"].astype(str), check_exact=True)


def _changes(values: pd.Series) -> int:
    present = values.dropna()
    return int((present.diff().fillna(0) != 0).sum())


def _any_present(values: pd.Series) -> bool:
    return bool(values.notna().any())


@pytest.mark.parametrize("relative", LOGS)
def test_trajectory_counts_are_the_per_group_functions(relative: str) -> None:
    """seq_changes and allocating, counted for all groups at once, as a function per group gives them."""
    tasks = capture_of(relative).tasks
    if not len(tasks):
        return
    rows = tasks.assign(host=tasks["host"].astype(object).where(tasks["host"].notna(), None),
                        comm=tasks["comm"].astype(str))
    grouped = rows.groupby(["host", "pid", "comm"], sort=False, dropna=False, observed=True)
    expected = grouped.agg(first_task=("line", lambda s: s.index[0]), seq_changes=("seq", _changes),
                           allocating=("delay", _any_present))
    expected = expected.sort_values("first_task", kind="stable").reset_index(drop=True)
    got = trajectories_of(tasks)
    for column in ("seq_changes", "allocating"):
        pd.testing.assert_series_equal(got[column], expected[column], check_exact=True)


@pytest.mark.parametrize("relative", LOGS)
def test_traces_where_tests_each_task_rows_functions(relative: str) -> None:
    def in_reclaim(functions: list[str]) -> bool:
        return "shrink_inactive_list" in functions or "kswapd" in functions

    for view in host_views(capture_of(relative)):
        expected = [bool(fs) and in_reclaim(fs) for fs in (functions_of(view, int(t)) for t in view.tasks.index)]
        assert traces_where(view, in_reclaim).tolist() == expected


@pytest.mark.parametrize("relative", LOGS[:4])
def test_cells_read_like_at_and_gfp_names_are_text(relative: str) -> None:
    for view in host_views(capture_of(relative)):
        names = gfp_names_of(view)
        for task in view.tasks.index[:50]:
            for column in ("comm", "pid", "line", "ts", "workqueue", "flags", "delay"):
                cell, at = view.cell("tasks", task, column), view.tasks.at[task, column]
                assert (pd.isna(cell) and pd.isna(at)) or cell == at
            assert isinstance(names.get(task), str)


def test_views_of_one_diagnosis_share_what_is_derived_from_the_capture() -> None:
    capture = capture_of("lkml/2017-03-03_wq-mem-reclaim-xfs-rescuer.log")
    first, again = host_views(capture), host_views(capture)
    assert all(v.capture_memo is first[0].capture_memo for v in first)
    assert first[0].capture_memo is not again[0].capture_memo
    assert [f.as_dict() for f in diagnose(capture)] == [f.as_dict() for f in diagnose(capture)]


def test_trajectories_of_every_boot_at_once_are_each_boots_own(tmp_path: Path) -> None:
    """The rules read a boot's trajectories from those of every boot of the capture, derived at
    once (pandas' fixed costs per boot were most of their time on a capture of hundreds of boots):
    each boot's are those of its own rows alone, as the plain computation gives them."""
    from stallscope.rules.common.task_facts import trajectories_view

    _, views, shared_machine = _boots_of_two_machines(tmp_path)
    for view in views:
        alone = trajectories_of(view.tasks)
        if not len(alone):
            continue
        pd.testing.assert_frame_equal(trajectories_view(view), alone)
    assert any((trajectories_view(v)["observations"] > 1).any() for v in shared_machine)


def test_hz_of_every_boot_at_once_is_each_boots_own(tmp_path: Path) -> None:
    """HZ of each boot of a view of several boots, from the growth pairs of all of them found at
    once: what that boot's own rows alone give."""
    from stallscope.rules.common.task_facts import boot_hz

    capture, views, _ = _boots_of_two_machines(tmp_path)
    machines = host_views(capture, by_boot=False)
    known = 0
    for view in views:
        machine = next(m for m in machines if m.host == view.host and set(view.tasks.index) <= set(m.tasks.index))
        assert boot_hz(machine, int(view.boot)) == infer_hz(view.tasks)
        known += infer_hz(view.tasks).known
    assert known >= 2


def _boots_of_two_machines(tmp_path: Path) -> tuple[Capture, list[HostView], list[HostView]]:
    """A capture of two machines, one of three boots, its views, and those of its views that read
    what is derived for every boot of the capture at once."""
    data = Path(__file__).resolve().parents[1] / "data"
    # Logs whose tasks are listed in several reports (trajectories of more than one observation).
    early = (data / "lkml" / "2015-12-05_oom-reaper-trap-oom-write-early-format.log").read_text()
    first = (data / "lkml" / "2015-10-10_first-watchdog-sync4-grep.log").read_text()
    # A serial console of a machine that hung and was rebooted twice (timestamps restart), and a
    # second machine's file: pids and comms recur across boots and machines.
    (tmp_path / "console.log").write_text(early + first + early)
    (tmp_path / "other.log").write_text(first)
    capture = load(str(tmp_path / "console.log"), str(tmp_path / "other.log"))
    views = host_views(capture)
    shared_machine = [v for v in views if v.whole_boot and 0 < len(v.tasks) < len(capture.tasks)]
    assert len(shared_machine) >= 3  # the path under test is taken
    return capture, views, shared_machine
