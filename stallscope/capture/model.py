"""The public result of loading captures: pandas DataFrames plus what was (not) understood."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


def column_values(series: pd.Series) -> object:
    """A column's values as pandas holds them: its extension array (Int64, categorical, packed
    strings), or NumPy's array (``.array`` would wrap a NumPy column in an extension array,
    slower to index and to take from)."""
    return series.array if isinstance(series.dtype, pd.api.extensions.ExtensionDtype) else series.to_numpy()


def labels_at(index: pd.Index, positions: np.ndarray) -> np.ndarray:
    """The labels of a table's rows at ``positions``. A RangeIndex's are computed: its
    ``to_numpy()`` makes (and keeps with the table) an array of every label, 8 bytes for each of
    the millions of rows of a long capture, in every process that asked."""
    if isinstance(index, pd.RangeIndex):
        if index.step == 1 and index.start >= 0 and index.stop < 1 << 31:
            # 32 bits where the labels fit (a task's row of a long capture, kept per row).
            return np.asarray(positions, dtype=np.int32) + np.int32(index.start)
        return index.start + np.asarray(positions, dtype=np.int64) * index.step
    return index.to_numpy()[positions]


def missing(value: object) -> bool:
    """Whether a cell read as a Python object (``Series.tolist``, a row dict) is a missing value:
    None, pandas' NA or NaN (of a float or a category column)."""
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def timestamp(value: object) -> float | None:
    """A table's timestamp as a float, or None where the line had none (NaN / NA)."""
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]


def text_blocks(texts: Sequence[object], size: int = 4096) -> Iterator[tuple[int, str]]:
    """(position of its first text, the texts joined by newlines) of each run of ``size`` texts (a
    table's ``text`` column as a list): a substring or a pattern without a newline searched in a
    block is one C call, where a search per line costs a Python step each and most lines hold
    nothing sought."""
    for start in range(0, len(texts), size):
        yield start, "\n".join(map(str, texts[start : start + size]))


@dataclass(slots=True)
class InputStats:
    """How much of one input stallscope understood."""

    path: str
    # Kernel records: continuation lines joined into one, a journal entry or #012-escaped
    # message of several lines split into one each (parsed + unparsed == lines).
    lines: int = 0
    parsed: int = 0
    unparsed: int = 0
    compression: str | None = None
    kinds: dict[str, int] = field(default_factory=dict)
    formats: dict[str | None, int] = field(default_factory=dict)  # capture format -> records
    physical_lines: int = 0  # lines of the (decompressed) input
    # Lines read with a value that had to be dropped (a number beyond its column's range): the
    # line is parsed, the value missing, and the row's ``corrupted`` says so where it has one.
    corrupted: int = 0
    # The first line naming the kernel that is not an event (the boot banner, "Linux version").
    kernel_line: str | None = None
    # Why reading stopped early (a truncated or corrupt compressed stream): what came before
    # was analyzed, and the command line says so and exits with its own code.
    damaged: str | None = None
    # What the record layer put back together, by kind: "split-at-timestamp" (a record printed
    # into the middle of another line), "dropped-marker-cut-off" (printk's "** N printk messages
    # dropped **" glued to a record), "wrap-joined" (a line a mailer or web page broke),
    # "tail-joined" (the rest of an interrupted line, printed later), "newline-joined" (one message
    # cut by a newline inside a name it prints). The records concerned say
    # so in ``corrupted``, and so do the task rows they belong to.
    repaired: dict[str, int] = field(default_factory=dict)
    # The lines not understood, by why (the keys of UNPARSED_REASONS).
    unparsed_reasons: dict[str, int] = field(default_factory=dict)
    # Rows (watchdog reports, task lines, kernel reports) dropped because an earlier input of the
    # same machine holds the same message at the same kernel time (see capture.duplicates), and
    # those inputs.
    duplicates: int = 0
    duplicate_of: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "lines": self.lines,
            "parsed": self.parsed,
            "unparsed": self.unparsed,
            "physical_lines": self.physical_lines,
            "corrupted": self.corrupted,
            "compression": self.compression,
            "formats": {name or "unprefixed": n for name, n in self.formats.items()},
            "damaged": self.damaged,
            "repaired": dict(self.repaired),
            "unparsed_reasons": dict(self.unparsed_reasons),
            "duplicates": self.duplicates,
            "duplicate_of": list(self.duplicate_of),
        }


# Why a line was not understood, from where it came: only "in-report" and "trace-line" are lines
# of the reports stallscope reads that it failed to read; the others are recognised as not its
# business (a kernel message of another subsystem, text without a kernel prefix, printk's marker).
UNPARSED_REASONS: dict[str, str] = {
    "in-report": "inside a watchdog report, a task dump or a kernel report, and not understood",
    "trace-line": "a damaged line inside a call trace (the trace goes on without it)",
    "other-message": "a kernel message of no report stallscope reads (boot, drivers, user space via /dev/kmsg)",
    "no-prefix": "no capture prefix: not a kernel record (a paste's prose, console noise, a shell prompt)",
    "dropped-marker": "printk's '** N printk messages dropped **' (printk_safe's 'Lost N message(s)!'): the lines "
                      "it stands for are lost",
}


@dataclass(frozen=True, slots=True)
class UnparsedLine:
    source: str
    line: int
    text: str
    reason: str = "other-message"  # a key of UNPARSED_REASONS


@dataclass(frozen=True, slots=True)
class BootMark:
    """A line that starts a boot: the kernel's ``Linux version`` banner, or journalctl's
    ``-- Boot ID --`` separator (``host`` None: every host of the input)."""

    source: str
    line: int
    host: str | None = None


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A file of a bundle or an archive that was not read (not a kernel log, another copy of
    one, not a regular file, ...), and why; ``path`` names it as a source would be named."""

    path: str
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "reason": self.reason}


@dataclass(slots=True)
class Capture:
    """Everything stallscope read.

    ``snapshots``: one row per ``MemAlloc-Info:`` line.
    ``tasks``: one row per ``MemAlloc:`` task line, with the task-state line and trace after it.
    ``events``: one row per kernel report header around the watchdog (OOM kill, hung task, ...).
    ``frames``: one row per frame of each distinct call trace (``stack`` is shared by identical traces).
    ``traces``: one row per call trace printed, with the task row it belongs to (if any).
    ``skipped``: files of bundles and archives that were not read, with the reason.
    ``boot_marks``: the lines that start a boot (see :mod:`stallscope.capture.boots`).
    """

    snapshots: pd.DataFrame
    tasks: pd.DataFrame
    events: pd.DataFrame
    frames: pd.DataFrame
    traces: pd.DataFrame
    inputs: list[InputStats]
    unparsed: list[UnparsedLine]
    skipped: list[SkippedFile] = field(default_factory=list)
    boot_marks: list[BootMark] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return sum(i.lines for i in self.inputs)

    def stack_functions(self, stack: int) -> list[str]:
        """The function names of one stack, innermost first."""
        rows = self.frames[self.frames["stack"] == stack]
        return [str(f) for f in rows.sort_values("depth")["function"]]
