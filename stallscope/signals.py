"""Ctrl-C and SIGTERM reach stallscope's main thread only, and never while a process is forked.

A terminal's Ctrl-C goes to the whole process group, and the kernel gives a signal sent to a
process to any of its threads that does not hold it; Python then raises KeyboardInterrupt in
the main thread at its next step, wherever that is. A signal that lands while a worker is being
forked interrupts the at-fork handlers (logging's lock, multiprocessing's bootstrap) before the
child has set its own handlers: once, under load, ``analyze -j 2`` hung for a minute after a
Ctrl-C, its child reporting an exception in logging's at-fork handler. So:

- the main thread holds both signals (they wait, pending) while it forks workers, and takes
  them as soon as the children exist (:func:`held`);
- a thread or a child process started while they are held inherits the mask: stallscope's own
  threads (the progress bar's) keep it and never take them; a worker lifts it once its handlers
  are set (:func:`take_held`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

HELD = frozenset({signal.SIGINT, signal.SIGTERM})


@contextmanager
def held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block ends (in the main thread; elsewhere nothing changes)."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def as_worker() -> None:
    """In a worker process or forked child: Ctrl-C and SIGTERM are left to the parent, which stops
    it (a terminal's Ctrl-C reaches the whole process group, and a traceback per worker helps
    nobody). The signals the parent held while forking it are taken from here on."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    take_held()


def take_held() -> None:
    """Take the signals held when this process was forked (call once its handlers are set)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)
