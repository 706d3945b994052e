"""A progress bar on standard error while large inputs are read.

Inputs are read through their own streams, often by worker processes each reading a piece of a
file, so progress is observed from outside: the read offset of every descriptor open on an
input, in this process and its descendants, as Linux shows it in ``/proc/PID/fdinfo``. Bytes
read are counted per descriptor from where it was first seen, which makes the bar an estimate;
it ends full. Without ``/proc`` the bar shows that work goes on, without a fraction.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from stallscope import signals
from stallscope.sources.expand import expand_inputs
from stallscope.sources.reader import STDIN_NAME, InputError

THRESHOLD = 4 * 1024 * 1024  # below this, reading takes about a second: a bar would only flicker
_POLL_SECONDS = 0.2
_PROC = Path("/proc")
# A descriptor first seen this close to the start of its file is taken to have started there
# (a whole-file read); further in, it is a worker's piece that started about where it was seen.
_FROM_START = 4 * 1024 * 1024


def processes(proc: Path = _PROC, root: int | None = None) -> list[int]:
    """This process and its descendants (the loader's worker processes)."""
    found = [os.getpid() if root is None else root]
    for pid in found:  # grows while walking: breadth first
        try:
            tasks = os.listdir(proc / str(pid) / "task")
        except OSError:
            continue
        for tid in tasks:
            try:
                children = (proc / str(pid) / "task" / tid / "children").read_text().split()
            except OSError:
                continue
            found.extend(int(c) for c in children if int(c) not in found)
    return found


def open_positions(wanted: dict[str, str], proc: Path = _PROC) -> dict[tuple[int, str], tuple[str, int]]:
    """Every descriptor open on a ``wanted`` file (real path -> input name): (pid, fd) -> (name, offset)."""
    found: dict[tuple[int, str], tuple[str, int]] = {}
    for pid in processes(proc):
        base = proc / str(pid)
        try:
            descriptors = os.listdir(base / "fd")
        except OSError:
            continue
        for fd in descriptors:
            try:
                name = wanted.get(os.readlink(base / "fd" / fd))
                if name is None:
                    continue
                for line in (base / "fdinfo" / fd).read_text().splitlines():
                    if line.startswith("pos:"):
                        found[(pid, fd)] = (name, int(line.split()[1]))
            except (OSError, ValueError):
                continue  # closed between listing and reading: the next poll sees what follows
    return found


# Offsets move by well under this between two polls; a longer jump is a new piece on a reused fd.
_JUMP = 16 * 1024 * 1024


class _Tracker:
    """Bytes read so far, summed over every descriptor seen on each input."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.sizes = sizes
        # (pid, fd, name) -> [offset where the current read began, furthest offset seen]
        self.seen: dict[tuple[int, str, str], list[int]] = {}
        self.finished = dict.fromkeys(sizes, 0)  # bytes of reads that were followed by another on the fd

    def update(self, positions: dict[tuple[int, str], tuple[str, int]]) -> int:
        for (pid, fd), (name, offset) in positions.items():
            key = (pid, fd, name)
            current = self.seen.get(key)
            if current is not None and current[1] <= offset < current[1] + _JUMP:
                current[1] = offset
                continue
            if current is not None:  # the fd was closed and reused for another piece
                self.finished[name] += current[1] - current[0]
            self.seen[key] = [0 if offset < _FROM_START else offset, offset]
        done = dict(self.finished)
        for (_, _, name), (first, last) in self.seen.items():
            done[name] += last - first
        return sum(min(done[name], size) for name, size in self.sizes.items())


def _sizes(names: Sequence[str]) -> dict[str, int]:
    try:
        files = [n for n in expand_inputs(names) if n != STDIN_NAME]
    except InputError:
        return {}  # load() reports it, with its exit code
    sizes: dict[str, int] = {}
    for name in files:
        try:
            sizes[name] = os.path.getsize(name)
        except OSError:
            continue
    return sizes


@contextmanager
def reading(names: Sequence[str], console: Console, threshold: int = THRESHOLD) -> Iterator[None]:
    """Show a transient progress bar on ``console`` while the body reads ``names``.

    Nothing is shown unless the console is a terminal and the inputs add up to ``threshold``.
    """
    sizes = _sizes(names) if console.is_terminal else {}
    total = sum(sizes.values())
    if not sizes or total < threshold:
        yield
        return
    tracker = _Tracker(sizes)
    wanted = {os.path.realpath(name): name for name in sizes}
    progress = Progress(
        TextColumn("reading {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task(f"{len(sizes)} input(s)", total=total)
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(_POLL_SECONDS):
            progress.update(task, completed=tracker.update(open_positions(wanted)))

    watcher = threading.Thread(target=poll, name="stallscope-progress", daemon=True)
    # Started with Ctrl-C held, the bar's threads (rich's refresh, this poll) keep it held: only
    # the main thread takes it (stallscope.signals).
    with signals.held():
        progress.start()
        watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        progress.update(task, completed=total)
        progress.stop()
