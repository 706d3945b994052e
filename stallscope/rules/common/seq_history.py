"""Per-task allocation history shared by seq-livelock and slow-progress (a helper, not a rule).

Each MemAlloc line with ``seq=`` names one allocation request of one task. The same pid seen
again with the same seq and a larger delay is the same request, still not satisfied; a larger
seq means the earlier request completed and a new one is stalling. Computed with whole-column
operations: a long capture holds hundreds of thousands of task lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stallscope.capture.columns import code_dtype, count_dtype
from stallscope.capture.model import labels_at
from stallscope.capture.trajectories import comm_ranks
from stallscope.rules.base import HostView

_RUN_COLUMNS = ("comm", "pid", "seq", "observations", "first", "last", "delay_first", "delay_last")


@dataclass(frozen=True, slots=True)
class _History:
    """The view's task rows with a request, by task then log order, as positions in its tasks
    table (``at``); their pids, seqs and delays are read from the table when asked for.

    Tasks are (boot, comm, pid): a reused pid with another name is another task, and a pid of
    one boot is another task in the next (told apart in ``same_task``; the boots are not kept).
    ``comm`` is the rank of the comm's name among ``names`` (see :func:`comm_ranks`),
    ``len(names)`` where it is missing.
    """

    tasks: pd.DataFrame  # the view's (which the view holds anyway)
    # The rows' positions in ``tasks``, in order: a number a row, where a copy of the rows' pids,
    # seqs and delays in this order and their labels were 19 bytes a row, kept for the view
    # (the 1 GB excerpts family: 8.4 M task rows; bench/README.md, thirty-first round).
    at: np.ndarray
    comm: np.ndarray
    names: list[str]
    same_task: np.ndarray  # whether a row is of the task of the row before it
    # Whether a row begins a run of one task's one request (its seq or, before the watchdog
    # printed one, a delay that kept growing): a flag a row, not the request's number (8 bytes
    # a row kept for the whole view: 67 MB of the 1 GB excerpts family's 8.4 M task rows).
    new_run: np.ndarray

    def __len__(self) -> int:
        return len(self.at)

    def present(self, column: str) -> np.ndarray:
        """Per row of the history, whether ``column`` (pid, seq, delay) has a number."""
        return ~self.tasks[column].array.isna()[self.at]

    def numbers(self, column: str) -> np.ndarray:
        """Per row of the history, ``column``'s number (0 where missing), as wide as the column."""
        values = self.tasks[column].array
        return values.to_numpy(dtype=values.dtype.numpy_dtype, na_value=0)[self.at]

    def take(self, column: str, rows: np.ndarray) -> pd.api.extensions.ExtensionArray:
        """``column``'s cells of the history's rows ``rows`` (-1: a missing cell)."""
        positions = np.where(rows >= 0, self.at[np.maximum(rows, 0)], -1)
        return self.tasks[column].array.take(positions, allow_fill=True)

    def labels(self, rows: np.ndarray) -> np.ndarray:
        """The task rows' labels (the view's index) of the history's rows ``rows``."""
        return labels_at(self.tasks.index, self.at[rows])


# The view memo that holds it: the rules that read it name it in their SHARED_DERIVATIONS (see
# stallscope.rules).
SEQ_HISTORY = "seq_history"


def _ordered(view: HostView) -> _History:
    """The view's :class:`_History` (once per view)."""
    return view.of_view(SEQ_HISTORY, _order)


def _order(view: HostView) -> _History:
    # Each column is taken once, already in the history's order, and each array of a number per
    # row is as narrow as it can be and let go when used: the 1 GB excerpts family has 8.4 M
    # task rows, and a rules process held 600 MB here at its peak (bench/README.md, twenty-seventh
    # round). Forked, the rules that read it run in one process (SHARED_DERIVATIONS).
    tasks = view.tasks
    ranks, names = comm_ranks(tasks)
    requested = np.flatnonzero((tasks["seq"].notna() | tasks["delay"].notna()).to_numpy(dtype=bool))
    requested = requested.astype(count_dtype(len(tasks)), copy=False)
    # A view of all the boots of a machine (seq-livelock reads them at once): a pid of one boot
    # is another task in the next, so the boot leads the key (a boot's own view has one).
    boots = (tasks["boot"].to_numpy(dtype="int32", na_value=0) if "boot" in tasks.columns  # (schema.ID)
             else np.zeros(len(tasks), dtype="int32"))
    # By boot, comm and pid, then in reading order (the table's row order, which is the log's
    # order across rotated files too): a comm's rank sorts as its name, a pid as a multi-column
    # sort ranks it (missing last). lexsort is stable, so rows of one task stay in reading order;
    # a view of one boot is not sorted by it (8.4 M task rows of one boot in the 1 GB excerpts
    # capture, where every key is an array of a number a row at the rules' peak).
    keys = [_sort_codes(tasks["pid"].array.take(requested)), ranks[requested]]
    if len(boots) and boots.min() != boots.max():
        keys.append(boots[requested])
    at = requested[np.lexsort(keys)]
    del requested, keys
    # (The ranks as narrow as their count allows: kept for the view, a number per row.)
    comm, boot = ranks[at].astype(code_dtype(len(names) + 1), copy=False), boots[at]
    del ranks, boots
    # Each of pid, delay and seq taken in the history's order when it is used, and let go.
    pid = tasks["pid"].array.take(at)
    pids, has_pid = pid.to_numpy(dtype=pid.dtype.numpy_dtype, na_value=0), ~pid.isna()
    del pid
    same_task = np.zeros(len(at), dtype=bool)
    same_task[1:] = ((comm[1:] == comm[:-1]) & (comm[1:] != len(names)) & (pids[1:] == pids[:-1])
                     & (boot[1:] == boot[:-1]))
    del boot
    same_task[1:] &= has_pid[1:] & has_pid[:-1]
    del pids, has_pid
    # The first watchdog version printed no seq: there, a request lasts while its delay keeps
    # growing, and a smaller delay means a new request began. Such requests get negative ids.
    delay = tasks["delay"].array.take(at)
    delays, has_delay = delay.to_numpy(dtype=delay.dtype.numpy_dtype, na_value=0), ~delay.isna()
    del delay
    shrank = np.zeros(len(at), dtype=bool)
    shrank[1:] = has_delay[1:] & has_delay[:-1] & (delays[1:] < delays[:-1])
    del delays, has_delay
    # The number of such a request, counted down from -1 (a seq is never negative).
    synthetic = np.cumsum(~same_task | shrank, dtype=count_dtype(len(at) + 1))
    del shrank
    # Two rows are of one request when both print the same seq or neither prints one and they
    # are of the same synthetic request (compared apart: no array of both kinds of number).
    seq = tasks["seq"].array.take(at)
    has_seq = ~seq.isna()
    seqs = seq.to_numpy(dtype=seq.dtype.numpy_dtype, na_value=0)
    same_request = np.where(has_seq[1:] & has_seq[:-1], seqs[1:] == seqs[:-1],
                            ~has_seq[1:] & ~has_seq[:-1] & (synthetic[1:] == synthetic[:-1]))
    del seq, has_seq, seqs, synthetic
    new_run = ~(same_task & np.r_[False, same_request])
    return _History(tasks, at, comm, names, same_task, new_run)


def _sort_codes(values: pd.api.extensions.ExtensionArray) -> np.ndarray:
    """How a multi-column ``sort_values`` ranks a column: its categories' order (sorted values for
    another type), missing values last."""
    categorical = pd.Categorical(values, ordered=True)
    codes = categorical.codes.astype(count_dtype(len(categorical.categories) + 1))
    codes[codes < 0] = len(categorical.categories)
    return codes


def _names(names: list[str], ranks: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The comm names of ``ranks`` (as :func:`comm_text` gives them: missing ones NaN)."""
    return pd.Series([*names, None]).array.take(ranks.astype("int64"))


def _first_last(present: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per block [starts, stops], the positions of its first and last present value (-1: none),
    as wide as ``starts``."""
    first = np.full(len(starts), -1, dtype=starts.dtype)
    last = np.full(len(starts), -1, dtype=starts.dtype)
    at = np.flatnonzero(present).astype(starts.dtype, copy=False)
    if len(at):
        block = np.searchsorted(stops, at).astype(starts.dtype, copy=False)  # the block each present position is in
        change = block[1:] != block[:-1]
        first[block[np.r_[True, change]]] = at[np.r_[True, change]]
        last[block[np.r_[change, True]]] = at[np.r_[change, True]]
    return first, last


@dataclass(frozen=True, slots=True)
class _Runs:
    """Runs of consecutive observations of one task with one request, as positions in the history."""

    history: _History
    starts: np.ndarray
    stops: np.ndarray
    seq_first: np.ndarray  # the run's first row with a seq (-1: none)
    delay_first: np.ndarray  # its first and last rows with a delay (-1: none)
    delay_last: np.ndarray

    def frame(self, runs: np.ndarray | None = None) -> pd.DataFrame:
        """The :func:`request_runs` table, or its rows ``runs`` (by run number, kept as the index)."""
        history = self.history
        pick = (lambda values: values) if runs is None else (lambda values: values[runs])
        starts, stops = pick(self.starts), pick(self.stops)
        return pd.DataFrame(
            {
                "comm": _names(history.names, history.comm[starts]),
                "pid": history.take("pid", starts).to_numpy(dtype="int64"),
                "seq": history.take("seq", pick(self.seq_first)),
                "observations": (stops - starts + 1).astype(np.int64),
                "first": history.labels(starts).astype(np.int64),  # (labels may be 32 bits)
                "last": history.labels(stops).astype(np.int64),
                "delay_first": history.take("delay", pick(self.delay_first)),
                "delay_last": history.take("delay", pick(self.delay_last)),
            },
            index=None if runs is None else pd.RangeIndex(len(self.starts))[runs],
        )


def _runs(view: HostView) -> _Runs:
    history = _ordered(view)
    # Positions 32 bits wide where they fit: a long capture's reports each start a run of every
    # task (the 1 GB excerpts family: 8.4 M task rows, its five arrays of a number per run were
    # 330 MB at 64 bits, the peak of the process running seq-livelock; bench/README.md).
    position = count_dtype(len(history) + 1)
    starts = np.flatnonzero(history.new_run).astype(position, copy=False)
    stops = np.empty_like(starts)
    stops[:-1] = starts[1:] - 1
    stops[-1:] = len(history) - 1
    seq_first = _first_last(history.present("seq"), starts, stops)[0]
    delay_first, delay_last = _first_last(history.present("delay"), starts, stops)
    return _Runs(history, starts, stops, seq_first, delay_first, delay_last)


def request_runs(view: HostView) -> pd.DataFrame:
    """One row per run of consecutive observations of one task with one seq.

    Columns: comm, pid, seq, observations, first (task row), last (task row), delay_first,
    delay_last.
    """
    if not len(_ordered(view)):
        return pd.DataFrame(columns=list(_RUN_COLUMNS))
    return _runs(view).frame()


def stuck_requests(view: HostView) -> pd.DataFrame:
    """Runs seen at least twice whose delay kept growing: requests that made no progress."""
    if not len(_ordered(view)):
        return pd.DataFrame(columns=list(_RUN_COLUMNS))
    runs = _runs(view)
    # The runs are chosen first and only theirs are made a table: a long capture has a run per
    # report of every task.
    delays = runs.history.numbers("delay")
    grew = np.where(runs.delay_last >= 0, delays[runs.delay_last], 0) > np.where(
        runs.delay_first >= 0, delays[runs.delay_first], 0)
    del delays
    return runs.frame(np.flatnonzero((runs.stops - runs.starts + 1 >= 2) & grew))


def advancing_tasks(view: HostView) -> pd.DataFrame:
    """Tasks whose seq moved forward between observations: comm, pid, seq_first, seq_last, first, last."""
    history = _ordered(view)
    # The rows with a seq, of a task with a name and a pid (a groupby leaves the others out).
    kept = np.flatnonzero(history.present("seq") & (history.comm != len(history.names)) & history.present("pid"))
    if not len(kept):
        return pd.DataFrame(columns=["comm", "pid", "seq_first", "seq_last", "first", "last"])
    # Numbers of a row each as narrow as their columns (millions of rows on a long capture).
    kept = kept.astype(count_dtype(len(history)), copy=False)
    # A task's rows are together (sorted by boot, comm, then pid): two kept rows are of one task
    # when no row from one to the other begins another (a task number per row from same_task,
    # not its comm, pid and boot compared).
    task = np.cumsum(~history.same_task, dtype=count_dtype(len(history) + 1))[kept]
    change = task[1:] != task[:-1]
    del task
    seq = history.numbers("seq")[kept]
    starts = np.flatnonzero(np.r_[True, change])
    stops = np.r_[starts[1:], len(kept)] - 1
    stepped = np.r_[False, ~change & (seq[1:] > seq[:-1])]
    moved = np.flatnonzero(np.logical_or.reduceat(stepped, starts))
    starts, stops = starts[moved], stops[moved]
    summary = pd.DataFrame(
        {
            "comm": _names(history.names, history.comm[kept[starts]]),
            "pid": history.take("pid", kept[starts]),
            "seq_first": history.take("seq", kept[starts]),
            "seq_last": history.take("seq", kept[stops]),
            "first": history.labels(kept[starts]).astype(np.int64),
            "last": history.labels(kept[stops]).astype(np.int64),
        }
    )
    return summary.sort_values("first", kind="stable").reset_index(drop=True)
