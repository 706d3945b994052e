"""A progress bar on standard error while large inputs are read.

``stallscope.load`` reads files through its own streams, so progress is observed from outside:
the read offset of each input's open file, as Linux shows it in ``/proc/self/fdinfo``. Where
that is not available the bar still shows that work goes on, without a fraction.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from stallscope.sources.expand import expand_inputs
from stallscope.sources.reader import STDIN_NAME, InputError

THRESHOLD = 4 * 1024 * 1024  # below this, reading takes about a second: a bar would only flicker
_POLL_SECONDS = 0.2
_PROC = Path("/proc/self")


def open_positions(wanted: dict[str, str], proc: Path = _PROC) -> dict[str, int]:
    """The read offset of each open file among ``wanted`` (real path -> input name)."""
    found: dict[str, int] = {}
    try:
        descriptors = os.listdir(proc / "fd")
    except OSError:
        return found
    for fd in descriptors:
        try:
            name = wanted.get(os.readlink(proc / "fd" / fd))
            if name is None:
                continue
            for line in (proc / "fdinfo" / fd).read_text().splitlines():
                if line.startswith("pos:"):
                    found[name] = max(found.get(name, 0), int(line.split()[1]))
        except (OSError, ValueError):
            continue  # closed between listing and reading: the next poll sees the next file
    return found


class _Tracker:
    """Bytes read so far across inputs that are read one after the other."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.sizes = sizes
        self.order = list(sizes)
        self.done = dict.fromkeys(sizes, 0)

    def update(self, positions: dict[str, int]) -> int:
        for name, position in positions.items():
            self.done[name] = max(self.done[name], min(position, self.sizes[name]))
            # Inputs are read in order: once one is open, every input before it is finished.
            for earlier in self.order[: self.order.index(name)]:
                self.done[earlier] = self.sizes[earlier]
        return sum(self.done.values())


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
    with progress:
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()
            progress.update(task, completed=total)
