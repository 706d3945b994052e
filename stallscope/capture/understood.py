"""How much of an input is kernel output stallscope understands: none means the input is not a
kernel log (a binary file, a README, another program's log), which must not read as "no stall"."""

from __future__ import annotations

import numpy as np

from stallscope.capture.model import Capture, InputStats


def understood_records(capture: Capture) -> int:
    """Records that are kernel output to stallscope: in a capture format it recognises (a dmesg,
    syslog, journal or console prefix), or a watchdog line or kernel report it took apart (a log
    pasted without prefixes). Not ``parsed``, which counts the blank lines of any text, nor every
    grammar's match: a line of words can read as a piece of a call trace."""
    prefixed = sum(n for stats in capture.inputs for fmt, n in stats.formats.items() if fmt is not None)
    taken_apart = len(capture.snapshots) + len(capture.tasks) + len(capture.events) + len(capture.traces)
    return max(prefixed, taken_apart)


def understood_by_input(capture: Capture) -> dict[str, int]:
    """:func:`understood_records` per input (by path)."""
    rows: dict[str, int] = {}
    for frame in (capture.snapshots, capture.tasks, capture.events, capture.traces):
        if len(frame) and "source" in frame.columns:
            # Counted on the column as it is (a category's codes): a copy of millions of rows as
            # Python objects first cost most of this function on a large capture.
            counts = frame["source"].value_counts(sort=False)
            for source, n in zip(counts.index, counts.to_numpy(np.int64), strict=True):
                rows[str(source)] = rows.get(str(source), 0) + int(n)
    out: dict[str, int] = {}
    for stats in capture.inputs:
        prefixed = sum(n for fmt, n in stats.formats.items() if fmt is not None)
        out[stats.path] = max(out.get(stats.path, 0), prefixed, rows.get(stats.path, 0))
    return out


def not_understood(capture: Capture) -> list[InputStats]:
    """The inputs read that hold no kernel line stallscope understands (a damaged input that
    yielded nothing is said to be damaged instead)."""
    understood = understood_by_input(capture)
    return [stats for stats in capture.inputs if not understood.get(stats.path) and not stats.damaged]


def not_a_kernel_log(stats: InputStats) -> str:
    """What the reports say of such an input, instead of a verdict."""
    return f"this does not look like a kernel log: 0 of {stats.physical_lines} lines understood"
