"""Boots: where one machine's log starts again.

A serial or netconsole capture of a machine that hung and was rebooted, ``journalctl -k`` over
several boots, or two dmesg files of one host concatenated hold several boots of one machine.
The kernel's counters and timestamps start again at each: an OOM count that drops, a delay
that shrinks, a timestamp that goes back to zero are a new boot, not a trend. So every row of
the snapshots, tasks and events tables carries ``boot``: 1 for the first boot of its machine
(see :mod:`stallscope.capture.machines`), 2 for the next, ... (numbered from 1, in reading order).

A boot starts after a line that starts one (the ``Linux version`` banner stamped in a boot's
first minutes, journalctl's ``-- Boot ID --``: see ``capture.builder``) once the machine has rows
before it, or where the kernel's timestamps restart: a row
more than :data:`RESTART_SECONDS` before the row before it (of the same machine) and to less than
half the time of the first row of the boot so far and into a boot's first minutes
(:data:`EARLY_BOOT_SECONDS`), or to its very time (the log again).
Interleaved CPUs put rows out of order by milliseconds; a mail that quotes pieces of one boot's
log out of order goes back by minutes, not to half its start (``[1116.8]`` then ``[1039.9]`` in
a quote that starts at ``[1095.6]``); a reboot goes back to the first seconds. Only a banner
tells a reboot whose rows start later than half those of the boot before.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from stallscope.capture.columns import code_dtype, count_dtype, nullable_integers
from stallscope.capture.machines import input_positions, machine_codes, source_families
from stallscope.capture.model import Capture
from stallscope.capture.schema import TABLES

_BOOT_DTYPE = TABLES["tasks"].column("boot").dtype
_BOOT_NUMPY_DTYPE = pd.api.types.pandas_dtype(_BOOT_DTYPE).numpy_dtype

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
    """Set the ``boot`` column of the snapshots, tasks and events tables (in place).

    Works on a few arrays of a number per row, each dropped as soon as it is used: on a capture
    of millions of rows every such array is tens of MB, and they would all be held at the peak."""
    frames = [(name, getattr(capture, name)) for name in _TABLES]
    frames = [(name, frame) for name, frame in frames if len(frame)]
    for name in _TABLES:
        frame = getattr(capture, name)
        if not len(frame):
            frame["boot"] = pd.Series(dtype=_BOOT_DTYPE)
    if not frames:
        return capture
    position = {stats.path: at for at, stats in enumerate(capture.inputs)}
    names, codes = machine_codes([frame for _, frame in frames], source_families(capture))
    # Codes and positions as narrow as their count allows: a copy of each per row (six million
    # rows at 1 GB of serial log) is held at the peak.
    machine = np.concatenate(codes, dtype=code_dtype(len(names)))
    del codes
    source = np.concatenate([input_positions(frame, position) for _, frame in frames],
                            dtype=code_dtype(len(position) + 1))
    mark_machine, mark_source, mark_line = _marks(capture, position, names, machine, source)
    rows = len(machine)
    # Rows and marks in reading order per machine; a mark before the rows of its line: twice
    # the line, and one more for a row, is one key (np.lexsort of a key of its own held both
    # and their sorted copies at once: the merge's peak at 1 GB of serial log). A key that is
    # the same for every row (one machine, one input: the usual capture) is left out.
    keys = [_line_key(frames, mark_line, rows)]
    for values, marks in ((source, mark_source), (machine, mark_machine)):
        if (values != values[0]).any() or (len(marks) and (marks != values[0]).any()):
            keys.append(np.concatenate([values, marks]) if len(marks) else values)
    del source
    # One key where the keys' ranges fit one 64-bit number (a fleet's machines and inputs): the
    # keys are let go before it is sorted, and the order is 32 bits wide (np.lexsort held the
    # keys, a 64-bit order and its own copies at once: the merge's peak at 1 GB of fleet log,
    # bench/README.md, thirty-fifth round).
    key = keys[0] if len(keys) == 1 else _one_key(keys)
    if key is None:
        order = np.lexsort(keys)
        del keys
    else:
        del keys
        order = stable_order_by_range(key)
        del key
    # Numpy sorts into 64 bits; the positions of the rows in that order are taken from a copy
    # in 32 bits where they fit (the rows' order of 64 bits and its rows' order of 64 bits beside
    # it were the merge's peak at 1 GB of serial log: bench/README.md, thirty-fourth round).
    order = order.astype(count_dtype(len(order)), copy=False)
    if len(mark_machine):
        is_row = order < rows
        # Whether a mark comes right before each row in that order: a flag, not a count of the
        # marks so far (32 bits a row), is what _starts reads.
        after_mark = np.concatenate(([False], ~is_row[:-1]))[is_row]
        row_order = order[is_row]  # row ids in reading order per machine
        del is_row
    else:
        after_mark = np.zeros(rows, bool)
        row_order = order
    del order
    row_order = row_order.astype(count_dtype(rows), copy=False)
    ordered_machine = machine[row_order]
    del machine
    ordered_ts = _Ordered([frame["ts"].to_numpy(np.float64, na_value=np.nan) for _, frame in frames], row_order)
    start = _starts(ordered_machine, ordered_ts, after_mark)
    del ordered_ts, after_mark
    # Each machine's boots counted from its first row: a machine's rows are together, so its
    # count is the running count less the count before its first row (pandas' grouped cumsum
    # held three arrays of 64 bits per row: the merge's peak for a 1 GB fleet capture).
    width = count_dtype(rows)
    boot = np.cumsum(start, dtype=width)
    del start
    firsts = (np.flatnonzero(ordered_machine[1:] != ordered_machine[:-1]) + 1).tolist()
    del ordered_machine
    for first, end in reversed(list(zip(firsts, [*firsts[1:], rows], strict=False))):
        boot[first:end] -= boot[first - 1]  # last machine first: the count before is still whole
    boot += 1
    numbered = np.empty(rows, width)
    numbered[row_order] = boot
    del boot, row_order
    at = 0
    for _name, frame in frames:
        boots = numbered[at : at + len(frame)].astype(_BOOT_NUMPY_DTYPE)  # (a copy: ``numbered`` goes)
        # (A Series on the frame's index: an array set as a column is copied, its mask made whole.)
        frame["boot"] = pd.Series(nullable_integers(boots, np.zeros(len(boots), bool)), index=frame.index, copy=False)
        at += len(frame)
    return capture


class _Ordered:
    """The times of the rows in reading order per machine, read from the tables' own columns
    through the order a part at a time: as one array (and the tables' joined before it) they
    were 48 MB each at 1 GB of serial log, at the merge's peak (bench/README.md, thirty-fourth
    round)."""

    def __init__(self, columns: list[np.ndarray], order: np.ndarray) -> None:
        self.columns = columns
        self.order = order
        self.bounds = np.cumsum([0, *(len(column) for column in columns)])

    def __len__(self) -> int:
        return len(self.order)

    def take(self, positions: np.ndarray) -> np.ndarray:
        """The times at these positions of the order (a new array)."""
        rows = self.order[positions]
        out = np.empty(len(rows), np.float64)
        which = np.searchsorted(self.bounds, rows, side="right") - 1
        for number, column in enumerate(self.columns):
            mine = which == number
            out[mine] = column[rows[mine] - self.bounds[number]]
        return out

    def between(self, start: int, end: int) -> np.ndarray:
        return self.take(np.arange(start, end))

    def at(self, position: int) -> float:
        row = int(self.order[position])
        number = int(np.searchsorted(self.bounds, row, side="right")) - 1
        return float(self.columns[number][row - int(self.bounds[number])])

    def timed(self) -> np.ndarray:
        """Whether each row has a time."""
        out = np.empty(len(self), bool)
        for part in range(0, len(self), _PART_ROWS):
            end = min(part + _PART_ROWS, len(self))
            np.isnan(self.between(part, end), out=out[part:end])
        np.logical_not(out, out=out)
        return out


# About how many rows stable_order_by_range sorts at once (each range is a pass over the keys).
_RANGE_ROWS = 1 << 20


def stable_order_by_range(key: np.ndarray) -> np.ndarray:
    """``np.argsort(key, kind="stable")`` as positions 32 bits wide where they fit, sorted a range
    of keys at a time (ranges of about _RANGE_ROWS rows, cut at keys of a sample of them).

    numpy's argsort makes a 64-bit position per row, and its copy in 32 bits was made beside it:
    75 MB at once for the 6.25 M rows and marks of the 1 GB serial capture, the merge's peak
    (bench/README.md, thirty-fifth round). Here only a range's positions are 64 bits at once."""
    width = count_dtype(len(key))
    if len(key) <= _RANGE_ROWS:
        return np.argsort(key, kind="stable").astype(width, copy=False)
    # Cut values from every row of a sample, in order: each range has about _RANGE_ROWS rows
    # (more where one key is on many rows: a range is never cut inside a key).
    sample = np.sort(key[:: max(1, len(key) // 4096)])
    cuts = np.unique(sample[:: max(1, len(sample) * _RANGE_ROWS // len(key))][1:])
    if not len(cuts):  # (one key on nearly every row)
        return np.argsort(key, kind="stable").astype(width, copy=False)
    order = np.empty(len(key), dtype=width)
    done = 0
    for low, high in zip([None, *cuts.tolist()], [*cuts.tolist(), None], strict=True):
        chosen = key < high if low is None else key >= low
        if low is not None and high is not None:
            chosen &= key < high
        at = np.flatnonzero(chosen).astype(width, copy=False)
        del chosen
        order[done : done + len(at)] = at[np.argsort(key[at], kind="stable")]
        done += len(at)
    return order


def _one_key(keys: list[np.ndarray]) -> np.ndarray | None:
    """``keys`` (integers, the last one sorting first, as np.lexsort takes them) as one 64-bit
    key that sorts the rows the same way; None when their ranges do not fit one."""
    lows = [int(values.min()) for values in keys]
    spans = [int(values.max()) - low + 1 for values, low in zip(keys, lows, strict=True)]
    if math.prod(spans) >= 1 << 62:
        return None
    key = np.zeros(len(keys[0]), dtype=np.int64)
    for values, low, span in zip(reversed(keys), reversed(lows), reversed(spans), strict=True):
        key *= span
        key += values  # (in place, without a 64-bit copy of each key)
        key -= low
    return key


def _line_key(frames: list[tuple[str, pd.DataFrame]], mark_line: np.ndarray, rows: int) -> np.ndarray:
    """Each row's line, then each mark's; with marks, twice the line and one more for a row.
    Written into one array as narrow as the largest key allows (32 bits below a file of 2**30
    lines): 64-bit lines of every table, joined into a copy and that joined with the marks' into
    another, were the merge's peak at 1 GB of serial log (bench/README.md, thirty-fourth round)."""
    twice = len(mark_line) > 0
    highest = max([int(frame["line"].max(skipna=True)) if frame["line"].notna().any() else 0 for _, frame in frames]
                  + [int(mark_line.max()) if twice else 0])
    key = np.empty(rows + len(mark_line), count_dtype(2 * highest + 2 if twice else highest + 1))
    at = 0
    for _, frame in frames:
        key[at : at + len(frame)] = frame["line"].to_numpy(key.dtype, na_value=0)
        at += len(frame)
    if twice:
        key[rows:] = mark_line
        key *= 2
        key[:rows] += 1
    return key


def _starts(machine: np.ndarray, ts: _Ordered, after_mark: np.ndarray) -> np.ndarray:
    """Which rows (in reading order per machine) start a boot: the first row after a boot mark,
    and a row more than RESTART_SECONDS before the row before it that also goes back to less
    than RESTART_FRACTION of the time of the first row of the boot it would end (or to its very
    time: the same log again). ``machine``: each row's machine, each machine's rows together."""
    rows = len(machine)
    start = np.zeros(rows, bool)
    if rows < 2:
        return start
    same = machine[1:] == machine[:-1]
    first_row = np.flatnonzero(np.concatenate(([True], ~same)))  # each machine's first row
    marked = same & after_mark[1:]
    # How far each row goes back from the last time before it, a part of the rows at a time:
    # each array of a time per row is 48 MB at 1 GB of serial log, held at the merge's peak.
    timed = ts.timed()
    where = _last_timed(timed, first_row)
    dropped = np.empty(rows - 1, bool)
    with np.errstate(invalid="ignore"):
        for part in range(0, rows - 1, _PART_ROWS):
            end = min(part + _PART_ROWS, rows - 1)
            back = _carried(ts, where[part:end])
            np.subtract(back, ts.between(part + 1, end + 1), out=back)
            np.greater(back, RESTART_SECONDS, out=dropped[part:end])
    del where
    dropped &= same
    candidates = np.flatnonzero(marked | dropped) + 1
    if not len(candidates):
        return start
    # Few rows are candidates: each is judged against the first timestamp of its boot so far,
    # the time of the first row from there on that has one (within its machine).
    ends = np.append(first_row[1:], rows)
    boot_first: dict[int, float] = {}
    group_end: dict[int, int] = {}
    for owner, at, end in zip(machine[first_row].tolist(), first_row.tolist(), ends.tolist(), strict=True):
        boot_first[owner] = _next_time(ts, timed, at, end)
        group_end[owner] = end
    for at in candidates.tolist():
        owner = int(machine[at])
        first = boot_first[owner]
        time = ts.at(at)
        restarted = time < first - RESTART_SECONDS and time < min(first * RESTART_FRACTION, EARLY_BOOT_SECONDS)
        if marked[at - 1] or restarted or time == first:
            start[at] = True
            boot_first[owner] = _next_time(ts, timed, at, group_end[owner])
    return start


# Rows whose times go back are looked for this many at a time (see _starts).
_PART_ROWS = 1 << 18


def _last_timed(timed: np.ndarray, first_row: np.ndarray) -> np.ndarray:
    """Per row, 2j+1 where row j is the last row so far of its machine that has a time, an even
    number before the first (``first_row``: where each machine's rows begin): what a forward
    fill that does not cross from one machine's rows into the next carries (see _carried). In
    numpy: pandas' grouped fill held three more arrays of a number per row, 150 MB at the peak
    of a 1 GB serial capture's merge (bench/README.md)."""
    # Row i as 2i+1 where it has a time; the first row of a machine without one as 2i: the
    # running maximum then carries each machine's last timed row and no earlier machine's.
    where = np.arange(1, 2 * len(timed) + 1, 2, dtype=count_dtype(2 * len(timed) + 1))
    where[~timed] = 0
    starts = first_row[~timed[first_row]]
    where[starts] = 2 * starts
    np.maximum.accumulate(where, out=where)
    return where


def _carried(ts: _Ordered, where: np.ndarray) -> np.ndarray:
    """The last time so far of each row's machine (NaN before its first), for rows whose
    :func:`_last_timed` is ``where``."""
    carried = ts.take(where >> 1)
    carried[(where & 1) == 0] = np.nan
    return carried


def _next_time(ts: _Ordered, timed: np.ndarray, at: int, end: int) -> float:
    """The time of the first row of ``at`` to ``end`` (exclusive) that has one, else NaN."""
    if at >= end:
        return float("nan")
    found = int(np.argmax(timed[at:end]))
    return ts.at(at + found) if timed[at + found] else float("nan")


def _marks(capture: Capture, position: dict[str, int], names: list[str], machine: np.ndarray,
           source: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The boot marks as (machine code, input position, line) arrays: a mark that names no
    host applies to every machine with rows in its input."""
    if not capture.boot_marks:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    code_of = {name: at for at, name in enumerate(names)}
    in_input: dict[int, list[int]] = {}
    # The (input, machine) pairs as one number each, as narrow as their count allows: a tuple
    # per row would cost ~100 bytes a row, and np.unique sorts a copy (64 bits a row: twice 48 MB
    # at 1 GB of serial log).
    machines = int(machine.max()) + 1 if len(machine) else 1
    pairs = source.astype(code_dtype(machines * (int(source.max()) + 1 if len(source) else 1)))
    for pair in np.unique(pairs * machines + machine).tolist():
        in_input.setdefault(pair // machines, []).append(pair % machines)
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
