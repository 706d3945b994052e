"""Where the command line's output goes: files that appear complete or not at all, consoles that
say when their reader went away, and the exit codes both end with.

A report or an exported table is written under a temporary name beside its target and renamed
when complete, so that a full disk, a signal or an error never leaves a file that looks whole.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

# 128 + SIGPIPE, what a shell reports for a program stopped by its reader going away (`| head`).
EXIT_PIPE = 141
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM


class OutputError(Exception):
    """An output could not be written (disk full, permission, a closed stream): one line for the user."""


class ReaderGone(Exception):
    """Standard output's reader went away (a pipe into ``head``): stop writing, quietly."""


class PipeConsole(Console):
    """A rich Console that reports a broken pipe as :class:`ReaderGone` (rich would exit with 1)."""

    def on_broken_pipe(self) -> None:
        raise ReaderGone


def write_stdout(text: str) -> None:
    """``text`` to standard output; a reader that went away is :class:`ReaderGone` (click would
    otherwise turn the broken pipe into exit code 1)."""
    write_stdout_pieces((text,))


def write_stdout_pieces(pieces: Iterable[str], end: str = "") -> None:
    """:func:`write_stdout` of the pieces, each written as it comes (a long report need not be
    held whole), then ``end``."""
    try:
        for piece in pieces:
            sys.stdout.write(piece)
        sys.stdout.write(end)
        sys.stdout.flush()
    except BrokenPipeError:
        raise ReaderGone from None


def console(**options: Any) -> Console:
    return PipeConsole(**options)


def describe(error: OSError) -> str:
    return error.strerror or str(error)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """A temporary path beside ``target`` to write; renamed to ``target`` when the block ends
    without error, removed otherwise. OS errors become :class:`OutputError`."""
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    except OSError as error:
        raise OutputError(f"{target}: cannot write ({describe(error)})") from None
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        # mkstemp makes the file private; the result gets the permissions a new file would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, target)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"{target}: cannot write ({describe(error)}); nothing was left behind") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text(target: str | Path, text: str) -> None:
    """``text`` into ``target``, whole or not at all."""
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_all(targets: list[Path], write: Callable[[list[Path]], None]) -> None:
    """Write several files as one: ``write`` fills temporary paths (in the order of ``targets``),
    and only when every one is complete are they renamed, the last of them last; on failure
    none of them is left, under either name."""
    temporaries: list[Path] = []
    try:
        for target in targets:
            handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
            os.close(handle)
            temporaries.append(Path(name))
        write(temporaries)
        umask = os.umask(0)
        os.umask(umask)
        for temporary, target in zip(temporaries, targets, strict=True):
            os.chmod(temporary, 0o666 & ~umask)
            os.replace(temporary, target)
    except OSError as error:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
        where = targets[0].parent if targets else "output"
        raise OutputError(f"{where}: cannot write ({describe(error)}); nothing was left behind") from None
    except BaseException:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
        raise
