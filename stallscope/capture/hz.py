"""How many jiffies per second the logging kernel counted, so ``delay=`` can be read in seconds.

``delay`` is jiffies since the task entered the allocator's slow path. The same request (same
pid, same ``seq``) seen in two reports has aged by the time between the two lines, so the ratio
of delay growth to timestamp growth is HZ. Pairs closer than a second apart are dominated by
printing jitter and are not used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

from stallscope.capture.columns import code_dtype, count_dtype
from stallscope.capture.model import Capture
from stallscope.capture.trajectories import appearance_codes, group_numbers, stable_order, text_codes
from stallscope.memory import release_free_memory

COMMON_HZ = (100, 250, 300, 1000)
SNAP_TOLERANCE = 0.05  # relative distance within which an estimate is taken as a common value
MIN_SECONDS = 1.0
PAIR_COLUMNS = ["pid", "seq", "d_delay", "d_ts", "ratio", "line"]


@dataclass(frozen=True, slots=True)
class HzEstimate:
    hz: float | None  # what to divide delay by; None when unknown
    raw: float | None  # the median ratio before snapping
    pairs: int  # observation pairs the estimate rests on
    how: str  # "override", "snapped", "raw" or "unknown"
    note: str

    @property
    def known(self) -> bool:
        return self.hz is not None


@dataclass(frozen=True, slots=True)
class HostPairs:
    """What the growth pairs of one host's rows say: their ratios and where the first one is."""

    ratios: np.ndarray  # d_delay / d_ts of every pair, in no particular order
    first_line: int | None  # the line of the first pair of :func:`growth_pairs` of those rows

    def estimate(self) -> HzEstimate:
        return from_ratios(self.ratios)


def growth_pairs(tasks: pd.DataFrame) -> pd.DataFrame:
    """Consecutive observations of one request: columns pid, seq, d_delay, d_ts, ratio, line.

    In the order of a stable sort on host, pid, comm, seq and ts.
    """
    if not len(tasks):
        return pd.DataFrame(columns=PAIR_COLUMNS)
    pairs = _Pairs(tasks, _ranked_hosts(tasks))
    listed = pairs.in_sort_order()
    d_delay, d_ts = pairs.d_delay[listed], pairs.d_ts[listed]
    at = pairs.at[pairs.rows[listed]]
    return pd.DataFrame(
        {
            "pid": tasks["pid"].array.take(at),
            "seq": tasks["seq"].array.take(at).astype("Int64").fillna(-1),
            "d_delay": pd.array(d_delay, dtype="Int64"),
            "d_ts": d_ts,
            "ratio": d_delay.astype(float) / d_ts,
            "line": tasks["line"].array.take(at),
        },
        index=tasks.index.take(at),
    )


def growth_ratios(tasks: pd.DataFrame) -> np.ndarray:
    """The ratio column of :func:`growth_pairs`, in no particular order, without building its
    table (a millisecond for each of a capture's hundreds of boots)."""
    if not len(tasks):
        return np.zeros(0)
    return _Pairs(tasks, _ranked_hosts(tasks)).ratios()


def _ranked_hosts(tasks: pd.DataFrame) -> np.ndarray:
    # Hosts ranked by name, a missing one read as "": the order a sort on the host column gives.
    return pd.Categorical(tasks["host"].astype(object).fillna(""), ordered=True).codes.astype("int64")


def pairs_by_host(tasks: pd.DataFrame) -> dict[str | None, HostPairs]:
    """What :func:`growth_pairs` of each host's rows says (None: rows without a host), hosts in log order.

    All hosts in one pass over the table: selecting each host's rows out of a long table
    costs more than finding the pairs.
    """
    if not len(tasks):
        return {None: HostPairs(np.zeros(0), None)}
    codes, hosts = _host_codes(tasks)
    pairs = _Pairs(tasks, codes)
    if len(hosts) == 1:
        # One host's pairs are all the pairs (their order does not matter: a median is taken).
        found = [pairs.ratios(in_place=True)]
    else:
        ratios, by_host, bounds = _grouped_ratios(pairs, len(hosts))
        found = [ratios[by_host[start:end]] for start, end in pairwise(bounds.tolist())]
        del ratios, by_host
    # The differences are let go before the first pairs are found: 12 bytes a pair less at the
    # report's peak on the 1 GB excerpts capture (bench/README.md).
    pairs.d_delay = pairs.d_ts = np.zeros(0)
    first = pairs.first_per_host(len(hosts))
    del pairs
    line = tasks["line"]
    found_by_host = {
        host: HostPairs(ratios_of_host, None if first[i] < 0 else int(line.iat[int(first[i])]))
        for i, (host, ratios_of_host) in enumerate(zip(hosts, found, strict=True))
    }
    # The pairs' arrays of a part of the rows each are freed into the heap, where they stayed
    # resident under what the report computes next (the verdict's trajectories: 1,210 MB against
    # 1,144 MB of the 1 GB excerpts capture, bench/README.md): handed back.
    release_free_memory()
    return found_by_host


def ratios_by_group(tasks: pd.DataFrame, groups: np.ndarray) -> list[np.ndarray]:
    """The :func:`growth_ratios` of each group of task rows (``groups``: its number, from 0, per
    row; a request is one group's), in one pass over the table."""
    if not len(tasks):
        return []
    count = int(groups.max()) + 1
    ratios, order, bounds = _grouped_ratios(_Pairs(tasks, groups), count)
    return [ratios[order[start:end]] for start, end in pairwise(bounds.tolist())]


def _grouped_ratios(pairs: _Pairs, groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ratio of every pair, the pairs in group order, and where each group's begin."""
    # A task is one group's: its pairs are that group's.
    owner = pairs.task_hosts()[pairs.task[pairs.rows]]
    ratios = pairs.ratios()
    order = stable_order(owner).astype(count_dtype(len(owner) + 1), copy=False)
    return ratios, order, np.searchsorted(owner[order], np.arange(groups + 1))


def _host_codes(tasks: pd.DataFrame) -> tuple[np.ndarray, list[str | None]]:
    """Per task row, its host's number (as narrow as the hosts' count allows: 8 bits for up to
    127 hosts); the hosts (None for no host) in order of first appearance."""
    codes, names = text_codes(tasks["host"])
    present = pd.unique(codes)  # in order of first appearance, -1 (no host) included
    lookup = np.zeros(len(names) + 1, dtype=code_dtype(len(present)))
    lookup[present + 1] = np.arange(len(present))
    codes += 1  # (text_codes' own array: no copy of a number per row)
    return lookup[codes], [None if code < 0 else names[code] for code in present.tolist()]


class _Pairs:
    """Every growth pair of a task table, whole columns at once.

    The rows are as ``sort_values([host, pid, comm, seq, ts], kind="stable")`` orders them,
    with ``hosts`` ranking the hosts, and each row is compared with the one before it: a pair
    is two rows of one request (rows without a pid or comm belong to none, as a groupby drops
    them). Only the rows with a delay and a timestamp are listed: ``at`` gives their positions
    in the table, ``rows`` the later row of each pair as a place in the listing, ``task`` the
    task (host, pid, comm) of each listed row, its tasks' rows together; ``task_host``,
    ``task_pid`` and ``task_comm`` each task's (by its number), what ranks the tasks.
    """

    def __init__(self, tasks: pd.DataFrame, hosts: np.ndarray) -> None:
        # Positions are 32 bits where they fit and each array of a number per row is let go as
        # soon as it is used: the 1 GB excerpts capture has 8.4 M task rows, and the process
        # writing its report held 67 bytes a row here at its peak (bench/README.md,
        # twenty-eighth round).
        delay, ts, pid = tasks["delay"], tasks["ts"], tasks["pid"]
        position = count_dtype(len(tasks) + 1)
        # Categories in their own order, other values sorted: how a multi-column sort ranks them.
        comm = pd.Categorical(tasks["comm"], ordered=True).codes
        usable = delay.notna().to_numpy(dtype=bool) & ts.notna().to_numpy(dtype=bool)
        usable &= pid.notna().to_numpy(dtype=bool) & (comm >= 0)
        # Whole columns need no selection when every row is usable (the common case).
        at = np.flatnonzero(usable).astype(position) if not usable.all() else None
        del usable
        pid_values = pid.array if at is None else pid.array.take(at)
        if at is not None:
            hosts, comm = hosts[at], comm[at]
        pids = appearance_codes(pid_values).astype(position, copy=False)  # (32 bits before the other keys are made)
        task = group_numbers(hosts, pids, comm).astype(np.int32)
        del pids
        order = stable_order(task).astype(position, copy=False)
        self.at = order if at is None else at[order]  # table positions, in the listing
        del at
        self.task = task[order]
        del task
        # Each task's host, pid and comm, from its first row in the listing (its rows all have
        # them: they make the task; task numbers run from 0, in the listing's order). The
        # columns of a value per row are let go here, before the pairs are found: held to the
        # end they were 90 MB of the 1 GB excerpts capture at the peak of the process writing
        # its report (bench/README.md, thirty-second round).
        first = order[_task_starts(self.task)]
        del order
        self.task_host = hosts[first].astype(np.int32)
        self.task_pid = pid_values.take(first).to_numpy(dtype="int64")
        self.task_comm = comm[first]
        del hosts, comm, pid_values, first
        # Each part of whole tasks at a time (a pair is two rows of one task): the columns taken
        # in the listing's order and their differences were 30 bytes a row at once, of the 1 GB
        # excerpts capture's 8.4 M task rows at the peak of the process writing its report.
        seq, seq_width, delay_width = tasks["seq"], _width(tasks["seq"]), _width(delay)
        # Written in place, a part after another: parts joined at the end were two copies of
        # the pairs at once. A pair is two rows, so there are fewer pairs than rows.
        most = max(len(self.task) - 1, 0)
        rows = np.empty(most, dtype=position)
        d_delays = np.empty(most, dtype=delay_width)
        d_tss = np.empty(most)
        count = 0
        for part in _task_parts(self.task):
            task = self.task[part]
            seqs = _taken(seq, seq_width, -1, self.at[part])
            times = _taken(ts, "float64", np.nan, self.at[part])
            # A task's rows in log order are usually in (seq, ts) order already: then grouping
            # the tasks is all the sorting there is to do, and it is cheap.
            if not _ascending(task, seqs, times):
                # lexsort is stable and the task is its first key: the task numbers stay in place.
                resorted = np.lexsort((times, seqs, task))
                seqs, times = seqs[resorted], times[resorted]
                self.at[part] = self.at[part][resorted]
                del resorted
            same = (task[1:] == task[:-1]) & (seqs[1:] == seqs[:-1])
            del seqs
            d_ts = times[1:] - times[:-1]
            del times
            same &= d_ts >= MIN_SECONDS
            # Delays are never negative: their differences fit the column's width.
            delays = _taken(delay, delay_width, 0, self.at[part])
            d_delay = delays[1:] - delays[:-1]
            del delays
            same &= d_delay > 0
            kept = np.flatnonzero(same)
            found = slice(count, count + len(kept))
            d_delays[found] = d_delay[kept]
            d_tss[found] = d_ts[kept]
            rows[found] = kept + (part.start + 1)
            count = found.stop
        self.d_delay, self.d_ts, self.rows = (_first_of(values, count) for values in (d_delays, d_tss, rows))

    def ratios(self, in_place: bool = False) -> np.ndarray:
        """d_delay / d_ts of every pair; ``in_place``: written over d_ts, which the pairs then
        no longer have (a third array of the pairs at once, the report's peak on the 1 GB
        excerpts capture: bench/README.md)."""
        if not in_place:
            return np.divide(self.d_delay, self.d_ts)  # type: ignore[no-any-return]
        ratios = np.divide(self.d_delay, self.d_ts, out=self.d_ts)
        self.d_delay = self.d_ts = np.zeros(0)
        return ratios  # type: ignore[no-any-return]

    def task_hosts(self) -> np.ndarray:
        """Per task number, its host."""
        return self.task_host

    def _task_ranks(self) -> np.ndarray:
        """Per task number, its place when tasks are sorted by host, pid and comm."""
        ranks = np.empty(len(self.task_host), dtype="int64")
        ranks[np.lexsort((self.task_comm, self.task_pid, self.task_host))] = np.arange(len(ranks))
        return ranks

    def in_sort_order(self) -> np.ndarray:
        """Positions into ``rows`` that list the pairs as the full sort would."""
        if not len(self.rows):
            return self.rows
        # Each task's rows are together and in (seq, ts) order: ordering the tasks is enough.
        return stable_order(self._task_ranks()[self.task[self.rows]])

    def first_per_host(self, hosts: int) -> np.ndarray:
        """Per host number, the table position of its first pair's later row (-1: no pair)."""
        first = np.full(hosts, -1, dtype="int64")
        if not len(self.rows):
            return first
        # The first pair in sort order: the first pair of the host's lowest-ranked task with
        # pairs (a task's pairs are listed in order).
        owner = self.task[self.rows]
        heads = _task_starts(owner)  # each task's first pair
        tasks = owner[heads]
        ranks = self._task_ranks()[tasks]
        host = self.task_hosts()[tasks]
        for at in np.lexsort((ranks, host)).tolist():
            if first[host[at]] < 0:
                first[host[at]] = self.at[self.rows[heads[at]]]
        return first


def _task_starts(task: np.ndarray) -> np.ndarray:
    """Where each task's rows begin in a listing of them (``task``: each row's task number,
    tasks together in ascending numbers)."""
    return np.flatnonzero(np.r_[True, task[1:] != task[:-1]]) if len(task) else np.zeros(0, dtype="int64")


def _first_of(values: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` of ``values``: a view while it is most of them, else a copy (a view
    keeps the whole array)."""
    return values[:count] if 2 * count >= len(values) else values[:count].copy()


def _width(column: pd.Series) -> np.dtype:
    """The numbers' own type: an Int64 column may be held as Int32 (schema.NARROW_INT)."""
    dtype = column.dtype
    masked = isinstance(dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_integer_dtype(dtype)
    return dtype.numpy_dtype if masked else np.dtype(np.int64)  # type: ignore[union-attr]


def _taken(column: pd.Series, dtype: str | np.dtype, missing: object, at: np.ndarray) -> np.ndarray:
    """``column`` at the positions ``at`` as numpy numbers (``missing`` for a missing value),
    without a whole column's array first."""
    return column.array.take(at).to_numpy(dtype=dtype, na_value=missing)  # type: ignore[no-any-return]


# About how many rows _Pairs reads at once: parts end where a task does.
_SORTED_AT_ONCE = 1 << 20


def _task_parts(task: np.ndarray) -> Iterator[slice]:
    """Parts of the listing of about _SORTED_AT_ONCE rows, each ending where a task does
    (``task``: the task number of each row, tasks together in ascending numbers)."""
    start, end = 0, len(task)
    while start < end:
        stop = min(end, start + _SORTED_AT_ONCE)
        if stop < end:
            stop = int(np.searchsorted(task, task[stop - 1], side="right"))
        yield slice(start, stop)
        start = stop


def _ascending(task: np.ndarray, seq: np.ndarray, ts: np.ndarray) -> bool:
    """Whether within each task (rows grouped) the rows are in (seq, ts) order."""
    same = task[1:] == task[:-1]
    ordered = (seq[1:] > seq[:-1]) | ((seq[1:] == seq[:-1]) & (ts[1:] >= ts[:-1]))
    return bool(np.all(ordered | ~same))


def infer_hz(tasks: pd.DataFrame, hz: float | None = None) -> HzEstimate:
    """HZ of the kernel that printed ``tasks`` (one host), or ``hz`` when the caller knows it."""
    if hz is not None:
        return _override(hz)
    return from_ratios(growth_ratios(tasks))


def _override(hz: float) -> HzEstimate:
    return HzEstimate(float(hz), None, 0, "override", f"HZ={hz:g} given by the user")


def estimate(pairs: pd.DataFrame) -> HzEstimate:
    """HZ from the :func:`growth_pairs` of one host."""
    return from_ratios(pairs["ratio"].to_numpy(dtype=float) if len(pairs) else np.zeros(0))


def from_ratios(ratios: np.ndarray) -> HzEstimate:
    """HZ from growth ratios (:func:`growth_ratios`)."""
    if not len(ratios):
        return HzEstimate(None, None, 0, "unknown",
                          "HZ unknown: no request was seen in two reports a second or more apart")
    raw = float(pd.Series(ratios).median())
    for common in COMMON_HZ:
        if abs(raw - common) <= SNAP_TOLERANCE * common:
            return HzEstimate(float(common), raw, len(ratios), "snapped",
                              f"HZ={common} (median {raw:.0f} jiffies/s over {len(ratios)} pairs)")
    return HzEstimate(raw, raw, len(ratios), "raw",
                      f"HZ about {raw:.0f}: median over {len(ratios)} pairs, not a common value; "
                      "timestamps may be from a receiver, not the kernel")


def hz_by_host(capture: Capture, hz: float | None = None,
               pairs: dict[str | None, HostPairs] | None = None) -> dict[str | None, HzEstimate]:
    """HZ per host (None: rows without one); ``pairs``: :func:`pairs_by_host` of the tasks, if at hand."""
    tasks = capture.tasks
    if not len(tasks):
        return {None: infer_hz(tasks, hz)}
    if hz is not None:
        return dict.fromkeys(_host_codes(tasks)[1], _override(hz))
    return {host: found.estimate() for host, found in (pairs or pairs_by_host(tasks)).items()}


def delay_seconds(capture: Capture, hz: float | None = None,
                  pairs: dict[str | None, HostPairs] | None = None) -> pd.Series:
    """``delay`` of every task row in seconds (NaN where HZ or the delay is unknown)."""
    tasks = capture.tasks
    seconds = np.full(len(tasks), np.nan)
    if len(tasks):
        codes, hosts = _host_codes(tasks)
        estimates = hz_by_host(capture, hz, pairs)
        known = np.array([e.hz if e.known else np.nan for e in (estimates[h] for h in hosts)], dtype=float)
        # Missing delays stay NaN; a host of unknown HZ divides by NaN.
        seconds = tasks["delay"].to_numpy(dtype="float64", na_value=np.nan) / known[codes]
    return pd.Series(seconds, index=tasks.index, dtype=float)
