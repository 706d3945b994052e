"""Running the installed command as a user does: in a terminal of a given size (a pty), or with
a terminal as its standard input; and reading what it printed as a person would see it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
import threading
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from rich.cells import cell_len

# Escape sequences a terminal acts on (colours, cursor movement), not shown as text.
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
# Rich's table and panel borders: what separates the cells of a line.
_CELL_BORDERS = re.compile("[│┃]")
_BOX = re.compile("[\u2500-\u257f]")
# Variables that would decide the layout or the colours behind the test's back.
_ENVIRONMENT_OF_THE_TEST = ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TERM", "COLORTERM")


def stallscope() -> list[str]:
    """The installed command, as a user runs it (else the module)."""
    exe = shutil.which("stallscope", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "stallscope"]


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _ENVIRONMENT_OF_THE_TEST}
    env["TERM"] = "xterm-256color"
    env.update(extra or {})
    return env


@dataclass
class Run:
    code: int
    out: str  # as printed, escapes included
    err: str

    @property
    def text(self) -> str:
        """What the screen shows: escapes removed, one \\n per line."""
        return ESCAPES.sub("", self.out)

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")


def _terminal(columns: int, rows: int = 24, echo: bool = True) -> tuple[int, int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    if not echo:
        attributes = termios.tcgetattr(slave)
        attributes[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attributes)
    return master, slave


def in_terminal(*args: str, columns: int = 80, env: dict[str, str] | None = None, timeout: float = 120) -> Run:
    """``stallscope args`` with its standard output on a terminal ``columns`` wide."""
    master, slave = _terminal(columns)
    process = subprocess.Popen([*stallscope(), *args], stdin=subprocess.DEVNULL, stdout=slave,
                               stderr=subprocess.PIPE, env=environment(env))
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the program closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    err = process.stderr.read() if process.stderr else b""
    code = process.wait(timeout)
    out = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return Run(code, out, err.decode("utf-8", "replace"))


def typed_in(*args: str, typed: bytes = b"", end: bool = True, timeout: float = 120,
             env: dict[str, str] | None = None) -> Run:
    """``stallscope args`` with a terminal as standard input, on which ``typed`` is typed, then
    Ctrl-D (when ``end``); standard output and error are pipes."""
    master, slave = _terminal(80, echo=False)
    process = subprocess.Popen([*stallscope(), *args], stdin=slave, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=environment(env))
    os.close(slave)

    def type_it() -> None:
        with contextlib.suppress(OSError):  # the program left without reading it all
            # Ctrl-D at the start of a line ends the input, as a user ends `cat > file`.
            os.write(master, typed + (b"\x04" if end else b""))

    typist = threading.Thread(target=type_it, daemon=True)
    typist.start()
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        typist.join(5)
        os.close(master)
    return Run(process.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def piped(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None, timeout: float = 120) -> Run:
    done = subprocess.run([*stallscope(), *args], input=stdin, capture_output=True, env=environment(env),
                          timeout=timeout, check=False)
    return Run(done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"))


# -- reading the layout -------------------------------------------------------------------------
def widest(lines: list[str]) -> int:
    return max((cell_len(line) for line in lines), default=0)


def cells(line: str) -> list[str]:
    """The cells of a table or panel line (the whole line when it has no borders)."""
    return _CELL_BORDERS.split(line)


def split_tokens(lines: list[str], tokens: set[str]) -> list[tuple[int, str]]:
    """Each (line number, token) where ``token`` is cut across two lines: the end of a cell on
    one line and the start of the same cell on the next line are its two halves."""
    found = []
    for number, (top, bottom) in enumerate(pairwise(lines)):
        upper, lower = cells(top), cells(bottom)
        if len(upper) != len(lower):
            continue
        for above, below in zip(upper, lower, strict=True):
            end, start = above.rstrip(), below.lstrip()
            for token in tokens:
                if any(end.endswith(token[:k]) and start.startswith(token[k:]) for k in range(1, len(token))):
                    found.append((number + 1, token))
    return found


def flat(lines: list[str]) -> str:
    """Everything shown, borders and white space removed: a title wrapped over lines is whole here."""
    return re.sub(r"\s", "", _BOX.sub("", "".join("".join(cells(line)) for line in lines)))
