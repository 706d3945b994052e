"""Binary journal files (``*.journal``) and journal directories, read through the real ``journalctl``.

journald's file format is systemd's own (hash tables, entry arrays, compressed fields); its one
faithful reader is ``journalctl``, which this module runs as ``journalctl --file FILE`` (or
``--directory DIR``, which interleaves the files of a directory, rotated ones included) with
``-o export``: the export stream the records layer already reads, fields and all. Only the kernel's
messages (``_TRANSPORT=kernel``) are asked for: a journal holds every program's lines, and the
stall reports are the kernel's. Without ``journalctl`` a journal input is refused in one line
naming the package to install.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
from pathlib import Path

# The first bytes of every journal file (systemd's src/libsystemd/sd-journal/journal-def.h).
JOURNAL_MAGIC = b"LPKSHHRH"
JOURNAL_SUFFIXES = (".journal", ".journal~")
# What to install for journalctl: Debian, Fedora, SUSE and Arch all call the package "systemd".
JOURNALCTL_PACKAGE = "systemd"


class JournalError(Exception):
    """A journal cannot be read here (no journalctl); the message is one line for the user."""


def is_journal_file(path: str | Path) -> bool:
    """Whether ``path`` is a regular file that starts like a journal file (a pipe is not opened)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as handle:
            return handle.read(len(JOURNAL_MAGIC)) == JOURNAL_MAGIC
    except OSError:
        return False


def is_journal_directory(path: str | Path) -> bool:
    """Whether ``path`` is a directory holding journal files of its own (not only in subdirectories)."""
    try:
        with os.scandir(path) as entries:
            return any(e.name.endswith(JOURNAL_SUFFIXES) and e.is_file(follow_symlinks=False) for e in entries)
    except OSError:
        return False


def journalctl_command(path: str, directory: bool) -> list[str]:
    """The command that writes the kernel's entries of a journal file (or directory) as an export stream."""
    program = shutil.which("journalctl")
    if program is None:
        what = "journal directory" if directory else "binary journal file"
        raise JournalError(f"{path}: reading a {what} needs journalctl (install the {JOURNALCTL_PACKAGE} package), "
                           "or export it elsewhere with: journalctl --file FILE -o export")
    where = f"--directory={path}" if directory else f"--file={path}"
    # --no-pager and SYSTEMD_COLORS=0 (below): a pipe must get plain output whatever the environment says.
    return [program, where, "-o", "export", "--no-pager", "_TRANSPORT=kernel"]


class JournalStream(io.RawIOBase):
    """The standard output of a running ``journalctl``, as a byte stream.

    At its end the process is waited for: a failure (a corrupt file, no permission) is raised as
    an OSError carrying journalctl's own message, which the reader reports as damage after the
    entries that came before it.
    """

    def __init__(self, path: str, directory: bool) -> None:
        command = journalctl_command(path, directory)
        environment = {**os.environ, "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "", "LC_ALL": "C.UTF-8"}
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, env=environment)
        assert self._process.stdout is not None
        self._out = self._process.stdout
        self._path = path
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        got = self._out.readinto(buffer)  # type: ignore[attr-defined]
        if not got:
            self._check()
        return got or 0

    def _check(self) -> None:
        if self._checked:
            return
        self._checked = True
        process = self._process
        assert process.stderr is not None
        errors = process.stderr.read(64 << 10).decode("utf-8", "replace")
        code = process.wait()
        if code != 0:
            said = " ".join(errors.split()) or "no message"
            raise OSError(f"journalctl exited with status {code}: {said}")

    def close(self) -> None:
        if not self.closed:
            process = self._process
            if process.poll() is None:
                # Closed before its end (an error upstream): journalctl is not waited for to finish.
                process.kill()
            self._out.close()
            if process.stderr is not None:
                process.stderr.close()
            process.wait()
        super().close()
