"""The tables of a capture: every column with its dtype and meaning, in the order ``load`` gives them.

This is the one schema of the tables. The builder's output is checked against it
(tests/capture/test_schema.py, on real logs), the merge of pieces and inputs takes its category and
line-number columns from it, the export writes each table's id column as named here, and the
tables of ``schema/export.md`` are written from it by ``python -m stallscope.capture.schema``.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

INT = "Int64"  # pandas' nullable integer: missing where the kernel did not print the number, never 0
# An INT column is held as NARROW_INT when every number of it fits (capture/columns.py): the
# kernel's counters and masks and the line numbers of a capture almost always do, and a 1 GB
# capture of watchdog reports has 8 million task rows of seven such columns (bench/README.md).
# Exported as INT, so that a file's column types do not depend on its numbers.
NARROW_INT = "Int32"
# Narrower where the values are bounded: the ids the builder numbers (rows, traces, boots; 2**31 of
# them would not fit in any memory), a pid (pid_t is a C int; PID_MAX_LIMIT is 2**22) and an
# allocation order (below MAX_PAGE_ORDER, at most a few tens). A garbled number beyond the column is
# missing, the line counted as corrupted, as a number beyond Int64 is. Half or an eighth of the
# memory of a row's number: a 1 GB capture has millions of task rows (bench/README.md).
ID = "Int32"
PID = "Int32"
ORDER = "Int8"
FLOAT = "float64"  # NaN when the line had none
CATEGORY = "category"  # strings repeated across rows
BOOL = "bool"
FIELDS = "packed_fields"  # a line's field mapping per row, each distinct one held once (capture/packed_fields.py)
LINE_TEXT = "packed_text"  # a line's message per row, in compressed blocks (capture/packed_text.py)


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    dtype: str
    meaning: str
    line: bool = False  # holds a line number of the row's input (shifted when inputs are joined)


def held_as(column: Column, dtype: str) -> bool:
    """Whether a table may hold ``column`` with ``dtype``: its own, or NARROW_INT for an INT."""
    return dtype == column.dtype or (column.dtype == INT and dtype == NARROW_INT)


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    row: str  # what one row is
    id: str | None  # the name of its row id (the index in a Capture; the first column when exported)
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)


# Where a row comes from: every table but frames starts with these.
_PLACE = (
    Column("host", CATEGORY, "host name from the capture prefix; missing without one"),
    Column("source", CATEGORY, "input the line is in"),
    Column("line", INT, "1-based line number in that input", line=True),
    Column("ts", FLOAT, "kernel time in seconds"),
)

# Which boot a row of the tables with time is in (capture/boots.py).
_BOOT = Column("boot", ID, "which boot of its machine the row is in: 1 for the first in the capture, 2 for the next "
               "(a `Linux version` banner of a boot's first minutes, journalctl's `-- Boot` line or kernel timestamps "
               "that restart start one)")

TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        Table("snapshots", "One row per `MemAlloc-Info:` line.", "snapshot", (
            *_PLACE,
            Column("stalling", INT, "stalling tasks counted by the watchdog"),
            Column("dying", INT, "dying tasks counted by the watchdog"),
            Column("exiting", INT, "exiting tasks counted by the watchdog"),
            Column("victim", INT, "OOM victims counted by the watchdog"),
            Column("oom_count", INT, "`oom_count=` (the A of `A/B`)"),
            Column("oom_count_nofs", INT, "the B of `oom_count=A/B`"),
            Column("report", ID, "the two lines that bracket one report share it"),
            Column("closing", BOOL, "the line that closes a report"),
            Column("text", LINE_TEXT, "the message"),
            _BOOT,
        )),
        Table("tasks", "One row per `MemAlloc:` task line, and one per task a kernel dump shows (the task-state "
              "line of SysRq-t/SysRq-w, a hung-task report, a `show_state()`): those have no watchdog fields "
              "(`flags` to `delay` missing) and `uninterruptible` tells whether the task was in D state.", "task", (
            *_PLACE,
            Column("snapshot", ID, "the `snapshots` row it was reported under (missing for a dump's task)"),
            Column("comm", CATEGORY, "task name"),
            Column("pid", PID, "process id"),
            Column("flags", INT, "`flags=` (task flags, PF_*)"),
            Column("switches", INT, "context switches"),
            Column("seq", INT, "allocation request sequence number"),
            Column("gfp", INT, "GFP mask"),
            Column("gfp_names", CATEGORY, "the mask's names as printed"),
            Column("order", ORDER, "allocation order"),
            Column("delay", INT, "jiffies since the request started"),
            Column("uninterruptible", BOOL, "marked uninterruptible (D state)"),
            Column("exiting", BOOL, "marked exiting"),
            Column("dying", BOOL, "marked dying"),
            Column("victim", BOOL, "marked as an OOM victim"),
            Column("state", CATEGORY, "scheduler state letter from the task-state line"),
            Column("state_line", INT, "line number of that task-state line", line=True),
            Column("workqueue", CATEGORY, "workqueue named for a kworker"),
            Column("stack", ID, "the trace printed for it (`frames.stack`)"),
            Column("dump", CATEGORY, "where the row comes from: `memalloc` (a MemAlloc line), `sysrq-t`, `sysrq-w`, "
                   "`hung-task`, `watchdog report` (a task-state line in a watchdog report), `task dump` (no header "
                   "says)"),
            Column("text", LINE_TEXT, "the message"),
            Column("corrupted", CATEGORY, "why the task's block may be damaged (timestamps going backwards, printk "
                   "messages dropped inside it, a line repaired), or missing"),
            _BOOT,
        )),
        Table("events", "One row per line of a kernel report around the watchdog (OOM killer, hung task, "
              "Mem-Info, workqueue dump, ...). The kinds and their fields are listed in "
              "`stallscope/capture/events.py`.", "event", (
            *_PLACE,
            Column("kind", CATEGORY, "which report line this is (`oom_killed_process`, `hung_task`, ...)"),
            Column("pid", PID, "pid named on the line"),
            Column("comm", CATEGORY, "task name named on the line"),
            Column("stack", ID, "the trace that followed the report"),
            Column("fields", FIELDS, "every field of the line (a read-only mapping of strings, "
                   "`capture.fields.Fields`; a JSON object when exported)"),
            Column("text", LINE_TEXT, "the message"),
            _BOOT,
        )),
        Table("frames", "One row per frame of each distinct call trace (identical traces share one `stack`).",
              None, (
            Column("stack", ID, "trace id"),
            Column("depth", INT, "0 is the innermost frame"),
            Column("function", CATEGORY, "function name"),
            Column("offset", INT, "the `+0x1f` of the frame"),
            Column("size", INT, "the `/0x40` of the frame"),
            Column("module", CATEGORY, "`[module]`, missing for the core kernel"),
            Column("reliable", BOOL, "False for frames the unwinder marked `?` or `(unreliable)`"),
            Column("text", CATEGORY, "the frame line as printed, without its capture prefix (what evidence quotes)"),
        )),
        Table("traces", "One row per call trace printed.", "trace", (
            *_PLACE,
            Column("stack", ID, "its frames (`frames.stack`)"),
            Column("task", ID, "the `tasks` row it belongs to, if any"),
            Column("event", ID, "the `events` row it belongs to, if any"),
            Column("frame_line", INT, "the line of its first frame when its frames are on consecutive lines (the "
                   "frame of depth d is on line frame_line + d); missing otherwise", line=True),
        )),
    )
}

# Derived views, for the code that handles columns by their nature.
CATEGORY_COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(c.name for c in table.columns if c.dtype == CATEGORY) for name, table in TABLES.items()
}
LINE_COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(c.name for c in table.columns if c.line) for name, table in TABLES.items()
}


def markdown(table: Table) -> str:
    """A table's section of schema/export.md: its row id first, as the export writes it."""
    rows = [f"### `{table.name}`", "", textwrap.fill(table.row, 100), ""]
    rows += ["| column | dtype | meaning |", "|---|---|---|"]
    if table.id is not None:
        rows.append(f"| `{table.id}` | int64 | row id |")
    rows += [f"| `{c.name}` | {c.dtype} | {c.meaning} |" for c in table.columns]
    return "\n".join(rows) + "\n"


EXPORT_DOC = "schema/export.md"


def export_doc(current: str) -> str:
    """``schema/export.md`` with its tables section written from :data:`TABLES`."""
    head, _, _ = current.partition("\n## Tables\n")
    return head + "\n## Tables\n\n" + "\n".join(markdown(table) for table in TABLES.values())


if __name__ == "__main__":  # python -m stallscope.capture.schema: rewrite the tables of schema/export.md
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / EXPORT_DOC
    doc.write_text(export_doc(doc.read_text()))
