"""Run every rule over every machine of a capture."""

from __future__ import annotations

from collections.abc import Container, Iterator, Sequence
from itertools import pairwise

import numpy as np
import pandas as pd

from stallscope.capture.columns import count_dtype
from stallscope.capture.machines import source_families
from stallscope.capture.model import Capture
from stallscope.capture.trajectories import combine, text_codes
from stallscope.memory import old_objects_left_alone
from stallscope.rules import ALL_RULES, shared_derivations
from stallscope.rules.base import Finding, HostView, Rule
from stallscope.verdict import rank

# A machine: its host name when the capture prefix names one; otherwise the input files without
# host names that are generations of one rotated log (kern.log.1, kern.log), each other file on
# its own, since unrelated files (one per machine is the common case) must not form one timeline.
Machine = tuple[str | None, tuple[str, ...] | None]
# What the rules judge on its own: each machine and boot (see view_keys).
Keys = Sequence[tuple[Machine, int | None]]
# Why the rows of a machine were put together, per kind of key (shown in the fleet summary).
BY_HOST = "the host name of the log prefix"
BY_FILE = "one file without host names"
BY_ROTATION = "rotated generations of one log file, without host names"


# Rows of a table read at once for the machines of a capture (see machine_keys).
_KEY_ROWS = 1 << 18


def machine_keys(capture: Capture) -> list[Machine]:
    """The machines of a capture, in order of first appearance (snapshots, tasks, events)."""
    seen: dict[Machine, None] = {}
    families = source_families(capture)
    for table in (capture.snapshots, capture.tasks, capture.events):
        # 262,144 rows at a time: pd.unique's table for a whole table's codes took 27 bytes a
        # row at once (the 100 MB serial file's 515,530 event rows: peak +18 -> +9 MB).
        for start in range(0, len(table), _KEY_ROWS):
            frame = table.iloc[start:start + _KEY_ROWS]
            # The distinct (host, source) pairs, on the columns' codes: a long table has few of them.
            hosts, host_names = text_codes(frame["host"])
            sources, source_names = text_codes(frame["source"])
            width = len(source_names) + 1
            for pair in pd.unique(combine(hosts + 1, sources + 1, width)).tolist():
                host, source = divmod(pair, width)
                if host == 0:
                    name = source_names[source - 1] if source else "nan"
                    seen[(None, families.get(name, (name,)))] = None
                else:
                    seen[(host_names[host - 1], None)] = None
    return list(seen) or [(None, None)]


def view_keys(capture: Capture) -> list[tuple[Machine, int | None]]:
    """What the rules judge on its own: each machine (:func:`machine_keys`) and each boot of it
    (see :mod:`stallscope.capture.boots`), in that order. The boot is None for a capture whose
    tables carry no boot column (one boot: ``watch``'s live capture)."""
    machines = machine_keys(capture)
    boots: dict[Machine, set[int]] = {}
    numbered = False
    for frame in (capture.snapshots, capture.tasks, capture.events):
        if not len(frame) or "boot" not in frame.columns:
            continue
        numbered = True
        # The boot column alone, cut per machine (cutting the machine's whole rows copied every
        # column); boots count from 1, -1 where a row has none; 32 bits, as boots are fewer than
        # rows. Every process that lists the views does this: at 1 GB of serial log, the column
        # as 64 bits, its masked maximum and pd.unique's table held 150 MB at once.
        numbers = frame["boot"].to_numpy(dtype=count_dtype(len(frame)), na_value=-1)
        if numbers.max() == 1:
            continue  # one boot everywhere: the common case, without grouping the rows
        for machine in machines:
            at = _machine_positions(frame, machine)
            mine = numbers if at is None else numbers[at]
            if len(mine):
                boots.setdefault(machine, set()).update(b for b in _distinct(mine) if b >= 0)
    if not numbered:
        return [(machine, None) for machine in machines]
    return [(machine, boot) for machine in machines for boot in sorted(boots.get(machine) or {1})]


def _distinct(numbers: np.ndarray) -> list[int]:
    """The distinct values of ``numbers`` (not empty), in the order they first appear, read
    from the first of each run of equal values: boots come in runs of rows, and a comparison per
    row holds a byte per row where pd.unique's hash table of every row took four times the array."""
    starts = np.flatnonzero(numbers[1:] != numbers[:-1]) + 1
    return list(dict.fromkeys([int(numbers[0]), *numbers[starts].tolist()]))


def machine_reason(machine: Machine) -> str:
    host, sources = machine
    if host is not None:
        return BY_HOST
    return BY_ROTATION if sources is not None and len(sources) > 1 else BY_FILE


# Where a view's rows are in one of the capture's tables: positions, or a range where they are
# one run of rows (a boot of an input read from its start); None: all of the table's rows.
Rows = np.ndarray | range
# Where they are in each of its snapshots, tasks and events tables.
Positions = tuple[Rows | None, Rows | None, Rows | None]


def _machine_positions(frame: pd.DataFrame, machine: Machine) -> np.ndarray | None:
    """The positions of ``machine``'s rows in ``frame`` (None: every row is the machine's)."""
    host, sources = machine
    if not len(frame):
        return None
    if host is not None:
        mask = frame["host"] == host
    else:
        mask = frame["host"].isna()
        if sources is not None:
            mask &= frame["source"].isin(sources) if len(sources) > 1 else frame["source"] == sources[0]
    found = mask.to_numpy(dtype=bool, na_value=False)
    return None if found.all() else np.flatnonzero(found)


def _boot_positions(frame: pd.DataFrame, rows: np.ndarray | None) -> dict[int, Rows] | None:
    """The positions in ``frame`` of each boot among ``rows`` (None: all rows), in row order (rows
    without a boot in none); None for a table without a boot column. Found once per machine: a
    capture of hundreds of boots would otherwise compare the whole table with each boot."""
    if not len(frame) or "boot" not in frame.columns:
        return None
    # Boots count from 1 (-1: no boot). The arrays are as narrow as the table allows and the
    # rows are sorted only when their boots are out of order: the float copies and the sort took
    # about 64 bytes per row at once, in each process of the rules and again for the report (an
    # estimate; a 1 GB serial capture has 5 million event rows).
    width = count_dtype(len(frame))  # boots are fewer than rows
    values = frame["boot"].to_numpy(dtype=width, na_value=-1)
    if rows is not None:
        values = values[rows]
    elif len(values) and values.min() >= 0 and not (values[1:] < values[:-1]).any():
        # Every row has its boot and the boots come in order (an input read from its start):
        # each boot's rows are one run, a range. Positions were 4 bytes a row of every table,
        # held by each rules process through all its rules, and made again with a sorted copy
        # for each view (bench/README.md, thirty-fifth round).
        cuts = np.flatnonzero(values[1:] != values[:-1]) + 1
        bounds = [0, *cuts.tolist(), len(values)]
        return {boot: range(start, stop) for boot, start, stop in
                zip(values[bounds[:-1]].tolist(), bounds[:-1], bounds[1:], strict=True)}
    if len(values) and values.min() >= 0:
        # Every row has its boot (the usual case): no copy of the boots, positions made narrow.
        present = np.arange(len(values), dtype=width)
        boots = values
    else:
        present = np.flatnonzero(values >= 0)
        boots = values[present]
    del values
    if not len(present):
        return {}
    if (boots[1:] < boots[:-1]).any():
        order = np.argsort(boots, kind="stable")
        present, boots = present[order], boots[order]
    cuts = np.flatnonzero(boots[1:] != boots[:-1]) + 1
    firsts = boots[np.r_[0, cuts]].tolist()
    if rows is not None:
        present = rows[present]
    present = present.astype(width, copy=False)
    return {boot: at for boot, at in zip(firsts, np.split(present, cuts), strict=True)}


def _view_positions(rows: np.ndarray | None, boots: dict[int, Rows] | None, boot: int | None,
                    size: int) -> Rows | None:
    if boot is None or boots is None:
        return rows
    found = boots.get(boot)
    if found is None:
        return np.empty(0, dtype=np.intp)
    return None if len(found) == size else found


def view_positions(capture: Capture, chosen: Container[int] | None = None, by_boot: bool = True,
                   keys: Keys | None = None) -> Iterator[tuple[int, Machine, int | None, Positions]]:
    """(position in :func:`view_keys`, machine, boot, where its rows are) of each view (with
    ``chosen``, of those at these positions): row positions, not copies of the rows, so that a
    capture of thousands of boots can list its views without holding them all. ``keys``: the
    caller's :func:`view_keys` of the capture, when it has them."""
    tables = (capture.snapshots, capture.tasks, capture.events)
    if keys is None:
        keys = view_keys(capture) if by_boot else [(machine, None) for machine in machine_keys(capture)]
    # The rows of the machine at hand and where each of its boots is in them: the keys list a
    # machine's boots one after another.
    current: Machine | None = None
    machine_rows: list[np.ndarray | None] = []
    boots: list[dict[int, Rows] | None] = []
    for at, (machine, boot) in enumerate(keys):
        if chosen is not None and at not in chosen:
            continue
        if machine != current or not machine_rows:
            current = machine
            machine_rows = [_machine_positions(frame, machine) for frame in tables]
            boots = [_boot_positions(frame, rows) if boot is not None else None
                     for frame, rows in zip(tables, machine_rows, strict=True)]
        snapshots, tasks, events = (_view_positions(rows, by, boot, len(frame))
                                    for frame, rows, by in zip(tables, machine_rows, boots, strict=True))
        yield at, machine, boot, (snapshots, tasks, events)


def rows_at(frame: pd.DataFrame, positions: Rows | None) -> pd.DataFrame:
    """The rows of ``frame`` at ``positions`` (None: the frame itself)."""
    if positions is None:
        return frame
    if isinstance(positions, range):
        return frame.iloc[positions.start : positions.stop]
    if len(positions) and bool((np.diff(positions) == 1).all()):
        # A run of rows (a boot of one input file): a slice, not a copy of every column.
        return frame.iloc[int(positions[0]):int(positions[-1]) + 1]
    return frame.iloc[positions]


def followed_tasks(tasks: pd.DataFrame) -> pd.DataFrame:
    """The task rows a view holds: a task line whose pid was beyond any pid's range (garbled)
    names no task the rules can follow; its row stays in the capture with ``corrupted`` saying why."""
    return tasks[tasks["pid"].notna()] if len(tasks) and tasks["pid"].hasnans else tasks


def iter_host_views(capture: Capture, chosen: Container[int] | None = None,
                    by_boot: bool = True) -> Iterator[HostView]:
    """One view per machine and boot (with ``chosen``, of those at these positions of
    :func:`view_keys`), each made when asked for: a machine's rows are copied out of the
    tables, so holding one view at a time keeps a fleet capture's memory near its own size."""
    for _at, view in _numbered_views(capture, chosen, by_boot):
        yield view


def _numbered_views(capture: Capture, chosen: Container[int] | None, by_boot: bool = True,
                    shared: dict[str, object] | None = None) -> Iterator[tuple[int, HostView]]:
    # One memo for all views: what the rules derive from the whole capture is derived once.
    shared = {} if shared is None else shared
    for at, machine, boot, (snapshots, tasks, events) in view_positions(capture, chosen, by_boot):
        yield at, HostView(
            host=machine[0],
            capture=capture,
            snapshots=rows_at(capture.snapshots, snapshots),
            tasks=followed_tasks(rows_at(capture.tasks, tasks)),
            events=rows_at(capture.events, events),
            boot=boot,
            whole_boot=by_boot,
            capture_memo=shared,
        )


def host_views(capture: Capture, by_boot: bool = True) -> list[HostView]:
    """The views of :func:`iter_host_views`; without ``by_boot`` one per machine, all its boots."""
    return list(iter_host_views(capture, by_boot=by_boot))


# The rules that read every boot of a machine at once (``ALL_BOOTS``, see stallscope.rules): run
# once per machine, not once per boot. A view per boot costs each rule pandas' fixed costs per
# step, tens of milliseconds per boot over all rules, and a serial capture has hundreds of boots.
def at_once_rules() -> list[Rule]:
    return [rule for rule in ALL_RULES if getattr(rule, "ALL_BOOTS", False)]


def per_view_rules() -> list[Rule]:
    return [rule for rule in ALL_RULES if not getattr(rule, "ALL_BOOTS", False)]


def findings_by_machine(capture: Capture, chosen: Container[int] | None = None,
                        shared: dict[str, object] | None = None, at_once: bool = True) -> dict[int, list[Finding]]:
    """The findings of every machine and boot (or of the ``chosen`` positions of
    :func:`view_keys`), by that position, in rule order: not ranked. ``shared`` holds what the
    rules derive from the whole capture (see ``HostView.capture_memo``), kept across calls.
    Without ``at_once``, the rules that read all boots at once are left out where boots are
    numbered (:func:`boots_at_once` gives theirs, :func:`joined` puts them together)."""
    found: dict[int, list[Finding]] = {}
    per_view = per_view_rules()
    keys = view_keys(capture)
    if not per_view and keys[0][1] is not None:
        # Every rule reads all boots at once: no boot's own view is needed.
        found = {at: [] for at in range(len(keys)) if chosen is None or at in chosen}
        return joined(found, boots_at_once(capture, chosen, shared, keys=keys)) if at_once else found
    for at, view in _numbered_views(capture, chosen, shared=shared):
        mine = found[at] = []
        # A capture without boot numbers (watch's live one) has each machine in one view.
        for rule in ALL_RULES if view.boot is None else per_view:
            for finding in rule.check(view):
                finding.host = view.host
                finding.boot = view.boot
                mine.append(finding)
        # Let go of this machine's rows (and what the rules derived from them) before the
        # next machine's are copied: the loop variable would hold them until then, and what
        # the memo holds refers back to the view (cycles that wait for a full collection).
        view.memo.clear()
        del view
    return joined(found, boots_at_once(capture, chosen, shared, keys=keys)) if at_once else found


def boots_at_once(capture: Capture, chosen: Container[int] | None = None,
                  shared: dict[str, object] | None = None, rules: Sequence[Rule] | None = None,
                  keys: Keys | None = None) -> dict[int, list[Finding]]:
    """The findings of the rules that read every boot of a machine at once (:func:`at_once_rules`,
    or those of them in ``rules``), by the position in :func:`view_keys` of the boot each names
    (with ``chosen``, of those positions only); nothing where the capture numbers no boots
    (:func:`findings_by_machine` runs them per view there). ``keys``: :func:`view_keys` of the
    capture when the caller has them (derived again, they cost tens of milliseconds a call)."""
    found: dict[int, list[Finding]] = {}
    keys = view_keys(capture) if keys is None else keys
    for _, more in windows_found(capture, at_once_windows(capture, chosen, keys=keys), shared, rules, keys):
        for at, findings in more.items():
            found.setdefault(at, []).extend(findings)
    return found


def at_once_windows(capture: Capture, chosen: Container[int] | None = None, size: int | None = None,
                    keys: Keys | None = None) -> list[list[int]]:
    """The positions in :func:`view_keys` (``keys``, when the caller has them) of each window of
    boots the rules read at once: up to ``size`` (BOOTS_AT_ONCE) boots of one machine (those
    ``chosen``), machine by machine, in order; none where the capture numbers no boots."""
    keys = view_keys(capture) if keys is None else keys
    if keys[0][1] is None:
        return []
    machines: dict[Machine, list[int]] = {}
    for at, (machine, _) in enumerate(keys):
        if chosen is None or at in chosen:
            machines.setdefault(machine, []).append(at)
    # A machine's boots in windows of about equal size (101 boots: 51 and 50, not 64 and 37): the
    # forked processes share the windows by size.
    windows = []
    for boots in machines.values():
        count = -(-len(boots) // (size or BOOTS_AT_ONCE))
        windows += [boots[at * len(boots) // count:(at + 1) * len(boots) // count] for at in range(count)]
    return windows


def windows_found(capture: Capture, windows: Sequence[Sequence[int]], shared: dict[str, object] | None = None,
                  rules: Sequence[Rule] | None = None, keys: Keys | None = None
                  ) -> Iterator[tuple[int, dict[int, list[Finding]]]]:
    """For each window of :func:`at_once_windows` (by its place in ``windows``), the findings of
    the rules that read all boots at once (or those of them in ``rules``) on its boots, by view
    position (in ``keys``, :func:`view_keys` of the capture when the caller has them). Windows of
    one machine in a row share the finding of where its rows are."""
    keys = view_keys(capture) if keys is None else keys
    rules = at_once_rules() if rules is None else rules
    if not rules:
        return
    positions = {key: at for at, key in enumerate(keys)}
    shared = {} if shared is None else shared
    done = done_with(rules)
    tables = (capture.snapshots, capture.tasks, capture.events)
    machine: Machine | None = None
    rows: list[tuple[np.ndarray | None, dict[int, Rows] | None]] = []
    for place, window in enumerate(windows):
        if keys[window[0]][0] != machine:
            # Where each boot of the machine's rows are, found once for its windows in a row.
            machine = keys[window[0]][0]
            rows = []
            for frame in tables:
                mine = _machine_positions(frame, machine)
                rows.append((mine, _boot_positions(frame, mine)))
        view = _machine_view(capture, machine, shared, rows, {keys[at][1] for at in window})  # type: ignore[misc]
        found: dict[int, list[Finding]] = {}
        for index, rule in enumerate(rules):
            for finding in rule.check(view):
                at = positions.get((machine, finding.boot))
                if at is None or at not in window:
                    continue
                finding.host = view.host
                found.setdefault(at, []).append(finding)
            for name in done[index]:
                view.memo.pop(name, None)
        view.memo.clear()
        del view
        yield place, found


def done_with(rules: Sequence[Rule]) -> list[tuple[str, ...]]:
    """Per rule, the shared derivations (SHARED_DERIVATIONS) no later rule of ``rules`` reads:
    their view memos are let go once it is done. The rules that come after would otherwise run
    on top of them: one group of a 1 GB journal's forked rules peaked 959 -> 916 MB without them
    (bench/README.md, twenty-eighth round). What is derived from the whole capture (``shared``)
    stays: the windows after this one read it again."""
    last = {name: index for index, rule in enumerate(rules) for name in shared_derivations(rule)}
    return [tuple(name for name in shared_derivations(rule) if last[name] == index)
            for index, rule in enumerate(rules)]


# The boots of a machine read at once by the rules that read all boots (``ALL_BOOTS``), a window
# at a time: what they derive for all 8,000 boots of a 1 GB serial capture at once took 2 GB; a
# window of 64 holds its share, and costs a 64th of its boots' fixed costs (bench/README.md).
BOOTS_AT_ONCE = 64


def joined(found: dict[int, list[Finding]], at_once: dict[int, list[Finding]]) -> dict[int, list[Finding]]:
    """Each view's findings with those of the rules that read all boots at once, in rule order
    (a finding's place among a view's findings decides ties in ranking)."""
    if not at_once:
        return found
    order = {rule.RULE: at for at, rule in enumerate(ALL_RULES)}
    for at, more in at_once.items():
        found[at] = sorted([*found.get(at, []), *more], key=lambda finding: order[finding.rule])
    return found


def _machine_view(capture: Capture, machine: Machine, shared: dict[str, object],
                  rows: list[tuple[np.ndarray | None, dict[int, Rows] | None]], boots: set[int]) -> HostView:
    """The rows of ``boots`` of ``machine`` in table order, as one view. ``rows``: per table
    (snapshots, tasks, events), the machine's rows and where each boot's are
    (:func:`_machine_positions`, :func:`_boot_positions`)."""
    parts = []
    for frame, (mine, of_boot) in zip((capture.snapshots, capture.tasks, capture.events), rows, strict=True):
        if of_boot is None:  # a table without boot numbers: every boot's view has all its rows
            parts.append(rows_at(frame, mine))
            continue
        # A boot's own view leaves out the rows without a boot: so does this one.
        kept = [at for boot, at in of_boot.items() if boot in boots]
        parts.append(rows_at(frame, _joined(kept, len(frame))))
    snapshots, tasks, events = parts
    return HostView(host=machine[0], capture=capture, snapshots=snapshots, tasks=followed_tasks(tasks),
                    events=events, boot=None, whole_boot=False, capture_memo=shared)


def _joined(kept: list[Rows], size: int) -> Rows | None:
    """The rows of several boots in table order (None: all ``size`` rows of the table): a range
    where they are runs that follow one another (a window of boots of one input)."""
    runs = sorted((at for at in kept if isinstance(at, range)), key=lambda run: run.start)
    if len(runs) == len(kept) and all(a.stop == b.start for a, b in pairwise(runs)):
        whole = range(runs[0].start, runs[-1].stop) if runs else range(0)
    else:
        width = count_dtype(size)
        whole = np.sort(np.concatenate([np.arange(at.start, at.stop, dtype=width) if isinstance(at, range) else at
                                        for at in kept]))
    return None if len(whole) == size else whole


def ranked(by_machine: dict[int, list[Finding]]) -> list[Finding]:
    """Findings of all machines, most severe first, then closest to a root cause, then in log
    order; ties keep machine order."""
    return rank([f for at in sorted(by_machine) for f in by_machine[at]])


def diagnose(capture: Capture) -> list[Finding]:
    """All findings, most severe first, then closest to a root cause, then in log order."""
    with old_objects_left_alone():
        return ranked(findings_by_machine(capture))
