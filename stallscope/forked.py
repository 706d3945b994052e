"""Work numbered 0..n-1 shared among forked processes, each result sent back as it is made.

A forked process sees this process's memory as it was at the fork: a capture of a gigabyte is
not pickled on the way in, only each result on the way back. This pays where a piece of work
costs tens of milliseconds whatever its size and a capture has hundreds of them: the rules of
each machine and boot (:func:`stallscope.parallel.diagnose_forked`) and the terminal report's
part of each (:func:`stallscope.render.text.render`); bench/README.md has the measured gains.
Without ``fork`` (not Linux) the callers do the work here.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from multiprocessing.connection import Connection
from typing import TypeVar

from stallscope import signals

T = TypeVar("T")

# What a child is given: the positions it makes, and it gives (position, result) for each.
Work = Callable[[Sequence[int]], Iterable[tuple[int, T]]]


def available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def shared(work: Work[T], positions: Sequence[int], processes: int,
           after_fork: Callable[[], None] | None = None, costs: Sequence[float] | None = None
           ) -> Iterator[tuple[int, T]]:
    """(position, result) of every position, in the order they arrive: child ``k`` of
    ``processes`` makes ``positions[k::processes]`` (or, given each position's expected ``costs``,
    a share of about equal cost: :func:`balanced`) with ``work`` and sends each result as soon as
    it is made; this process only gathers. A child that dies: the positions it did not send are
    made here, with ``work``. Ctrl-C, SIGTERM, an error here or a caller that stops reading stop
    the children. ``after_fork`` runs here once every child exists (to let go of what only they
    needed)."""
    shares = balanced(positions, costs, processes) if costs is not None else [
        positions[first::processes] for first in range(processes)]
    context = multiprocessing.get_context("fork")
    # What each child has still to send, in its order.
    waiting: dict[Connection, dict[int, None]] = {}
    receivers: list[Connection] = []
    children = []
    try:
        for share in shares:
            receiver, sender = context.Pipe(duplex=False)
            receivers.append(receiver)
            # The child is given this process's ends of every pipe so far to close: when this
            # process is gone (killed), the child's next send then fails, and it ends, rather
            # than wait forever on a pipe whose reading end it holds itself.
            child = context.Process(target=_send, args=(work, share, sender, list(receivers)), daemon=True)
            with signals.held():  # no signal while the child sets its handlers (stallscope.signals)
                child.start()
                # Known before the signals held meanwhile are taken: a SIGTERM waiting for the
                # block to end (a test's, once, under load) left this child out of those stopped,
                # alive after this process, holding its standard error open.
                children.append(child)
            sender.close()
            waiting[receiver] = dict.fromkeys(share)
        if after_fork is not None:
            after_fork()
        while waiting:
            for receiver in multiprocessing.connection.wait(list(waiting)):
                try:
                    sent = receiver.recv()
                except (EOFError, OSError):
                    # The child died: what it did not send is made here.
                    yield from work(list(waiting.pop(receiver)))
                    continue
                if sent is None:
                    del waiting[receiver]
                else:
                    waiting[receiver].pop(sent[0], None)
                    yield sent
    except BaseException:
        # Ctrl-C, SIGTERM, an error, or the caller stopped reading (GeneratorExit): the
        # children's shares are not waited for.
        for child in children:
            child.terminate()
        raise
    finally:
        for receiver in receivers:
            receiver.close()
        for child in children:
            child.join(_STOP_SECONDS)
            if child.exitcode is None:
                # Still there after SIGTERM: stopped before its handlers were set (SIGTERM waits
                # while a child is forked, stallscope.signals) and not getting that far.
                child.kill()
                child.join()


# How long a child may take to stop before it is killed.
_STOP_SECONDS = 5.0


def balanced(positions: Sequence[int], costs: Sequence[float], processes: int) -> list[list[int]]:
    """``positions`` in ``processes`` shares of about equal total cost (``costs[i]`` is the cost of
    ``positions[i]``): the costliest first, each to the share with the least so far; each share in
    the order of ``positions``. Interleaved shares of work of unequal sizes (the windows of boots of
    machines rebooted unequally often) left one process with twice the other's."""
    shares: list[list[int]] = [[] for _ in range(processes)]
    loads = [0.0] * processes
    for at in sorted(range(len(positions)), key=lambda at: -costs[at]):
        least = loads.index(min(loads))
        shares[least].append(at)
        loads[least] += costs[at]
    return [[positions[at] for at in sorted(share)] for share in shares]


def _send(work: Work[T], share: Sequence[int], sender: Connection, parent_ends: Sequence[Connection]) -> None:
    signals.as_worker()  # the parent stops it (a Ctrl-C reaches the whole process group)
    for end in parent_ends:
        end.close()
    # A message per result, then None: one message of all results took three times its size
    # to receive (the rules' findings of a 1 GB log, bench/README.md).
    try:
        for item in work(share):
            sender.send(item)
        sender.send(None)
    except BrokenPipeError:
        os._exit(0)  # the parent is gone: nobody to send to, nothing to report
    sender.close()
