"""Boots: where one machine's log starts again.

A serial or netconsole capture of a machine that hung and was rebooted, ``journalctl -k`` over
several boots, or two dmesg files of one host concatenated hold several boots of one machine.
The kernel's counters and timestamps start again at each: an OOM count that drops, a delay
that shrinks, a timestamp that goes back to zero are a new boot, not a trend. So every row of
the snapshots, tasks and events tables carries ``boot``: 1 for the first boot of its machine
(see :mod:`stallscope.capture.machines`), 2 for the next, ... (numbered from 1, in reading order).

A boot starts after a line that starts one (the ``Linux version`` banner, journalctl's ``-- Boot
ID --``) once the machine has rows before it, or where the kernel's timestamps restart: a row
more than :data:`RESTART_SECONDS` before the row before it (of the same machine) and to less than
half the time of the first row of the boot so far and into a boot's first minutes
(:data:`EARLY_BOOT_SECONDS`), or to its very time (the log again).
Interleaved CPUs put rows out of order by milliseconds; a mail that quotes pieces of one boot's
log out of order goes back by minutes, not to half its start (``[1116.8]`` then ``[1039.9]`` in
a quote that starts at ``[1095.6]``); a reboot goes back to the first seconds. Only a banner
tells a reboot whose rows start later than half those of the boot before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stallscope.capture.machines import machine_labels, source_families
from stallscope.capture.model import Capture

# A timestamp this far below the one before it is a new boot. Rows of one boot go backwards by
# the milliseconds between CPUs printing at once; a reboot goes back to the seconds of a boot.
RESTART_SECONDS = 5.0
# ... and it goes back to less than this part of the time the boot's rows started at,
RESTART_FRACTION = 0.5
# ... and into the first minutes of a boot, where a console that starts after the boot messages
# (netconsole, a serial logger attached late) prints its first lines. A mail that quotes a later
# excerpt before an earlier one ([8633] ... [9544], then [1065]) goes back by an hour, not to a
# boot's first minutes: without a banner, that is one boot quoted out of order.
EARLY_BOOT_SECONDS = 300.0
_TABLES = ("snapshots", "tasks", "events")


def number_boots(capture: Capture) -> Capture:
    """Set the ``boot`` column of the snapshots, tasks and events tables (in place)."""
    frames = [(name, getattr(capture, name)) for name in _TABLES]
    frames = [(name, frame) for name, frame in frames if len(frame)]
    for name in _TABLES:
        frame = getattr(capture, name)
        if not len(frame):
            frame["boot"] = pd.Series(dtype="Int64")
    if not frames:
        return capture
    position = {stats.path: at for at, stats in enumerate(capture.inputs)}
    families = source_families(capture)
    labels = [machine_labels(frame, families) for _, frame in frames]
    inputs = [frame["source"].astype(object).map(position).fillna(len(position)).to_numpy(np.int64)
              for _, frame in frames]
    names, codes = np.unique(np.concatenate(labels), return_inverse=True)
    machine = codes.astype(np.int64)
    source = np.concatenate(inputs)
    line = np.concatenate([frame["line"].to_numpy(np.int64, na_value=0) for _, frame in frames])
    ts = np.concatenate([frame["ts"].to_numpy(np.float64, na_value=np.nan) for _, frame in frames])
    mark_machine, mark_source, mark_line = _marks(capture, position, names, machine, source)
    rows = len(machine)
    # Rows and marks in reading order per machine; a mark before the rows of its line.
    all_machine = np.concatenate([machine, mark_machine])
    all_source = np.concatenate([source, mark_source])
    all_line = np.concatenate([line, mark_line])
    is_row = np.concatenate([np.ones(rows, bool), np.zeros(len(mark_machine), bool)])
    order = np.lexsort((is_row, all_line, all_source, all_machine))
    marks_so_far = np.cumsum(~is_row[order])
    row_order = order[is_row[order]]  # row ids in reading order per machine
    marks_at = marks_so_far[is_row[order]]
    ordered_machine = machine[row_order]
    ordered_ts = ts[row_order]
    start = _starts(ordered_machine, ordered_ts, marks_at)
    boot = pd.Series(start.astype(np.int64)).groupby(ordered_machine).cumsum().to_numpy() + 1
    numbered = np.empty(rows, np.int64)
    numbered[row_order] = boot
    at = 0
    for _name, frame in frames:
        frame["boot"] = pd.array(numbered[at : at + len(frame)], dtype="Int64")
        at += len(frame)
    return capture


def _starts(machine: np.ndarray, ts: np.ndarray, marks_at: np.ndarray) -> np.ndarray:
    """Which rows (in reading order per machine) start a boot: the first row after a boot mark,
    and a row more than RESTART_SECONDS before the row before it that also goes back to less
    than RESTART_FRACTION of the time of the first row of the boot it would end (or to its very
    time: the same log again)."""
    rows = len(machine)
    start = np.zeros(rows, bool)
    if rows < 2:
        return start
    series = pd.Series(ts)
    carried = series.groupby(machine).ffill().to_numpy()  # the last timestamp so far
    coming = series.groupby(machine).bfill().to_numpy()  # the next timestamp from here
    same = machine[1:] == machine[:-1]
    marked = same & (marks_at[1:] > marks_at[:-1])
    with np.errstate(invalid="ignore"):
        dropped = same & (carried[:-1] - ts[1:] > RESTART_SECONDS)
    candidates = np.flatnonzero(marked | dropped) + 1
    if not len(candidates):
        return start
    # Few rows are candidates: each is judged against the first timestamp of its boot so far.
    first_row = np.flatnonzero(np.concatenate(([True], ~same)))
    boot_first = dict.fromkeys(machine[first_row].tolist(), np.nan)
    for at in first_row.tolist():
        boot_first[int(machine[at])] = coming[at]
    for at in candidates.tolist():
        owner = int(machine[at])
        first = boot_first[owner]
        restarted = ts[at] < first - RESTART_SECONDS and ts[at] < min(first * RESTART_FRACTION, EARLY_BOOT_SECONDS)
        if marked[at - 1] or restarted or ts[at] == first:
            start[at] = True
            boot_first[owner] = coming[at]
    return start


def _marks(capture: Capture, position: dict[str, int], names: np.ndarray, machine: np.ndarray,
           source: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The boot marks as (machine code, input position, line) arrays: a mark that names no
    host applies to every machine with rows in its input."""
    if not capture.boot_marks:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    code_of = {str(name): at for at, name in enumerate(names.tolist())}
    in_input: dict[int, list[int]] = {}
    for pair in pd.unique(pd.Series(list(zip(source.tolist(), machine.tolist(), strict=True)))):
        in_input.setdefault(int(pair[0]), []).append(int(pair[1]))
    out: list[tuple[int, int, int]] = []
    for mark in capture.boot_marks:
        at = position.get(mark.source)
        if at is None:
            continue
        if mark.host is not None and f"host:{mark.host}" in code_of:
            out.append((code_of[f"host:{mark.host}"], at, mark.line))
        else:
            out.extend((code, at, mark.line) for code in in_input.get(at, []))
    if not out:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    found = np.array(out, np.int64)
    return found[:, 0], found[:, 1], found[:, 2]


def boots_of(frame: pd.DataFrame) -> list[int]:
    """The boots a table's rows belong to, in order (``[1]`` for a table without the column)."""
    if not len(frame) or "boot" not in frame.columns:
        return [1]
    return sorted(int(b) for b in frame["boot"].dropna().unique())
