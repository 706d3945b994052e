"""Rules that once scanned a whole table for every report (quadratic in a storm of reports) now use
lookups built once; their findings must be those of the scanning code, kept here as the reference.

Checked on the real logs and on real logs repeated end to end, where each report, lockdep dump
and reaper failure comes back many times (the shape of a long OOM or hung-task storm).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pytest

import stallscope
from conftest import DATA
from stallscope.capture.events import HELD_LOCK_KINDS, held_locks, held_rows_of, hung_tasks, stack_frames
from stallscope.capture.stacks import normalize_function, reliable_functions, wait_site
from stallscope.diagnose import host_views
from stallscope.rules import lock_owner_cycle, victim_stuck
from stallscope.rules.base import HostView

# The real logs that reach each replaced lookup: lockdep names mmap_sem holders while the OOM
# reaper fails; a hung task waits on a lock taken where it took its last lockdep-listed lock.
MMAP_HOLDERS = "lkml/2016-02-25_oom-reaper-unable-mmap-sem-victim-stuck.log"
LOCKDEP_WAITS = "lkml/2016-03-11_related-no-memalloc-kswapd-xfs-ilock-hung-task.log"


def _scanning_mmap_holders(view: HostView, boot: int | None = None) -> tuple[list[tuple[int, str, int]], list[int]]:
    events = view.events
    held = events[events["kind"] == "lockdep_held"]
    headers = events[events["kind"] == "lockdep_held_header"]
    holders = []
    for index, fields in zip(held.index, held["fields"], strict=True):
        lock = str(fields.get("lock", "")) if isinstance(fields, Mapping) else ""
        if "mmap_sem" in lock or "mmap_lock" in lock:
            header = headers[headers.index < index]
            if len(header):
                h = header.iloc[-1]
                holders.append((int(header.index[-1]), f"{h['comm']}/{h['pid']}", int(h["pid"])))
    stalled = [p for _, _, p in holders if ((view.tasks["pid"] == p) & view.tasks["delay"].notna()).any()]
    return holders, stalled


def _scanning_edges_from_lockdep(view: HostView, held: pd.DataFrame | list[dict[str, object]],  # type: ignore[no-untyped-def]
                                 hung_records: object = None):
    edges: dict[tuple[str, int], set[tuple[str, int]]] = {}
    what: dict[tuple[str, int], str] = {}
    if isinstance(held, list):  # the rule's rows of one boot (held_rows_of)
        held = pd.DataFrame(held, columns=held_locks(view.events.iloc[:0]).columns)
    if held.empty:
        return edges, what
    for _, hung in hung_tasks(view.events).iterrows():
        mine = held[held["holder_pid"] == hung["pid"]]
        if mine.empty:
            continue
        acquiring = mine.iloc[-1]
        site = wait_site(reliable_functions(stack_frames(view.capture, hung["stack"])))
        if site.kind != "lock" or normalize_function(str(acquiring["function"])) not in site.chain:
            continue
        waiter = (str(hung["comm"]), int(hung["pid"]))
        others = held[(held["lock"] == acquiring["lock"]) & (held["holder_pid"] != hung["pid"])]
        edges.setdefault(waiter, set())
        for _, other in others.iterrows():
            edges.setdefault(waiter, set()).add((str(other["holder_comm"]), int(other["holder_pid"])))
        what[waiter] = f"{acquiring['lock']} (taken in {acquiring['function']})"
    return edges, what


def _repeated(relative: str, times: int, folder: Path) -> Path:
    log = folder / f"{Path(relative).stem}.x{times}.log"
    log.write_bytes((DATA / relative).read_bytes() * times)
    return log


@pytest.mark.parametrize("times", [1, 12])
@pytest.mark.parametrize("relative", [MMAP_HOLDERS, LOCKDEP_WAITS])
def test_lookups_find_what_scanning_found(relative: str, times: int, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    capture = stallscope.load(str(_repeated(relative, times, tmp_path)))
    for view in host_views(capture):
        fast = (victim_stuck.check(view), victim_stuck.mmap_holders(view), lock_owner_cycle.check(view),
                lock_owner_cycle._edges_from_lockdep(view, held_rows_of(view.rows.records(*HELD_LOCK_KINDS)),
                                                     view.rows.records("hung_task")))
        with monkeypatch.context() as patched:
            patched.setattr(victim_stuck, "mmap_holders", _scanning_mmap_holders)
            patched.setattr(lock_owner_cycle, "_edges_from_lockdep", _scanning_edges_from_lockdep)
            slow = (victim_stuck.check(view), _scanning_mmap_holders(view), lock_owner_cycle.check(view),
                    _scanning_edges_from_lockdep(view, held_locks(view.events)))
        assert fast == slow
        if relative == MMAP_HOLDERS:
            assert fast[1][0] and any("holding an mmap_sem" in f.explanation for f in fast[0])
        else:
            assert fast[3][0]
