"""How far this design can go towards issue 18's targets, measured on one file and scaled to 1 GB:
what reading costs as it is, what it costs with every row the builder writes made free (the
reader's own work: its line loop, its shapes, the fields of event lines new to it), what a
reader costs that takes one Python step per line and does the rest in C passes (the floor of
a reader in Python that visits each line), and what each table holds per row.

    python bench/bounds.py FILE [--repeat 3] [--cores 2] [--target 25]

Each reading is ``api.load`` in this process, its CPU seconds, the best of ``--repeat`` after
one load that warms the process (a reading worker reads many chunks: its shapes are learned
once). Seconds at 1 GB are the CPU seconds scaled by size and shared by ``--cores`` processes,
as ``analyze`` reads with one worker per core. The budget is ``--target`` times ``grep -c
MemAlloc`` (its output captured) on the same file, scaled likewise: what the whole run (reading,
rules, report) may take (bench/README.md, thirty-eighth round).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable

from stallscope import api
from stallscope.capture.builder import CaptureBuilder

GB = 1 << 30
TABLES = ("snapshots", "tasks", "events", "frames", "traces")
# The builder's calls that write rows, as the bulk reader makes them (stallscope/bulk.py). Made
# free, what is left of a load is the reader's own work.
ROW_WRITERS = ("add_counted", "add_event_run", "add_preamble", "add_task", "add_trace_run", "add_unknown")
DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)


def best_cpu(read: Callable[[], object], repeat: int) -> float:
    read()
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        read()
        best = min(best, time.process_time() - started)
    return best


def rows_made_free() -> Callable[[], None]:
    """Replace the row writers by calls that do nothing; returns what puts them back."""
    saved = {name: getattr(CaptureBuilder, name) for name in (*ROW_WRITERS, "add_own_state")}
    for name in ROW_WRITERS:
        setattr(CaptureBuilder, name, lambda self, *args, **kwargs: None)
    # True: "the open task's state line was taken", so the reader does not fall back to a preamble.
    CaptureBuilder.add_own_state = lambda self, *args: True  # type: ignore[method-assign]

    def restore() -> None:
        for name, method in saved.items():
            setattr(CaptureBuilder, name, method)
    return restore


def one_step_a_line(data: bytes) -> Callable[[], int]:
    """A reader's least work in Python: each MiB split into lines and digit-masked in C, each
    line's shape looked up and counted in C, and one Python step per line (an append)."""
    def read() -> int:
        shapes: dict[bytes, bytes] = {}
        rows: list[int] = []
        for start in range(0, len(data), 1 << 20):
            block = data[start:start + (1 << 20)]
            lines = block.split(b"\n")
            keys = block.translate(DIGITS_AS_ZERO).split(b"\n")
            Counter(map(shapes.setdefault, keys, keys))
            append = rows.append
            for number, _line in enumerate(lines):
                append(number)
        return len(rows)
    return read


def grep_seconds(path: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(["grep", "-c", "MemAlloc", path], capture_output=True, check=False)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--target", type=float, default=25.0, help="the family's target, times grep -c")
    args = parser.parse_args()
    size = os.path.getsize(args.file)
    scale = GB / size
    with open(args.file, "rb") as stream:
        data = stream.read()
    lines = data.count(b"\n")
    print(f"{args.file}: {size / 1e6:.1f} MB, {lines:,} lines; at 1 GB: x{scale:.2f}, "
          f"{args.cores} cores")
    grep = grep_seconds(args.file, max(args.repeat, 5))
    print(f"grep -c MemAlloc {grep:.3f} s; {args.target:g}x at 1 GB, the whole run's budget: "
          f"{grep * scale * args.target:.1f} s")

    def at_1gb(cpu: float) -> str:
        return f"{cpu:6.2f} s CPU  -> {cpu * scale / args.cores:5.1f} s at 1 GB"

    captures: list[object] = []

    def load() -> None:
        captures[:] = [api.load(args.file)]

    print(f"reading as it is                  {at_1gb(best_cpu(load, args.repeat))}")
    capture = captures.pop()
    restore = rows_made_free()
    try:
        free = best_cpu(lambda: api.load(args.file), args.repeat)
    finally:
        restore()
    print(f"  the builder's rows made free    {at_1gb(free)}")
    floor = one_step_a_line(data)
    del data
    print(f"  one Python step a line (floor)  {at_1gb(best_cpu(floor, args.repeat))}")
    print("tables: rows, bytes a row (pandas' memory_usage, deep), MB at 1 GB")
    for name in TABLES:
        table = getattr(capture, name)
        held = int(table.memory_usage(deep=True, index=True).sum())
        rows = len(table)
        per_row = f"{held / rows:7.1f} B" if rows else "      - B"
        print(f"  {name:10s} {rows:>10,d} {per_row}  -> {held * scale / 1e6:7.1f} MB")


if __name__ == "__main__":
    main()
