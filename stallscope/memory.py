"""Give memory the process no longer uses back to the system between the phases of a run.

A capture arrives from worker processes as many column arrays of a few hundred KB to a few MB
that are joined and then freed. glibc keeps much of what was freed in its heap (each free of an
mmap-ed block raises the size below which it serves blocks from the heap), so a 1 GB log left
~75 MB resident that held nothing. ``malloc_trim`` after loading and after the rules hands it
back. (Fixing the mmap threshold instead kept memory as low but made every fresh array fault
its pages in: loading was ~15% slower.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache


@cache
def _trim() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    # The symbols the interpreter is linked with first: ``find_library`` runs ``ldconfig -p`` in a
    # child process (21 ms here, once in the main process and once in each reading worker).
    with suppress(OSError, AttributeError):
        return ctypes.CDLL(None).malloc_trim
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None  # another C library (musl): nothing to hand back this way


def release_free_memory() -> bool:
    """Return the heap's free pages to the system (Linux with glibc); whether that was possible."""
    trim = _trim()
    if trim is None:
        return False
    trim(0)  # type: ignore[operator]
    return True


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Reading a log creates millions of long-lived container objects (rows, field dicts) and no
    reference cycles: the cyclic collector would only walk the growing heap again and again
    (about 7% of the reading time). It is switched back on, as it was, afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def old_objects_left_alone() -> Iterator[None]:
    """While the rules run, the cyclic collector leaves alone every object that existed before
    (``gc.freeze``): the capture's hundreds of thousands of field dicts and rows. The rules make
    short-lived objects in great numbers, and each of the collections they set off walked the
    whole capture again (and, in the forked process of ``diagnose_forked``, wrote to every object
    it walked, copying the pages it shares with its parent): 10-17% of the rules' time on the
    serial family (bench/README.md). Unlike switching the collector off, the rules' own cycles
    (a view and the memo that refers back to it) are still collected; the objects go back to
    the collector's care afterwards. Nested uses (a library caller around ``diagnose``) freeze
    and give back once, at the outermost: ``gc.unfreeze`` gives back every frozen object."""
    global _frozen
    if _frozen:
        yield
        return
    gc.freeze()
    _frozen = True
    try:
        yield
    finally:
        _frozen = False
        gc.unfreeze()


_frozen = False
