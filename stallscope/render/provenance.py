"""What a ticket reader needs to trust and reproduce a report: tool version, command, inputs.

Each input is identified by its name, size on disk and SHA-256, next to how many of its lines
stallscope understood, so that a reader can check they hold the same file and rerun the command.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from stallscope import __version__
from stallscope.capture.model import Capture
from stallscope.sources.reader import STDIN_NAME

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class InputFile:
    name: str
    size: int | None  # bytes on disk; None for standard input
    sha256: str | None
    compression: str | None
    lines: int
    parsed: int
    unparsed: int

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "compression": self.compression,
            "lines": self.lines,
            "parsed": self.parsed,
            "unparsed": self.unparsed,
        }


@dataclass(frozen=True, slots=True)
class Provenance:
    version: str
    command: str
    inputs: tuple[InputFile, ...]

    @property
    def lines(self) -> int:
        return sum(i.lines for i in self.inputs)

    @property
    def unparsed(self) -> int:
        return sum(i.unparsed for i in self.inputs)


def sha256_of(path: str) -> str | None:
    """The file's SHA-256, or None when it cannot be read again (gone, or not a regular file)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def command_line(args: Sequence[str] | None = None) -> str:
    """The command as a user would type it again; ``args`` are the words after the program name."""
    return shlex.join(["stallscope", *(sys.argv[1:] if args is None else args)])


def provenance(capture: Capture, args: Sequence[str] | None = None) -> Provenance:
    files = []
    for stats in capture.inputs:
        on_disk = stats.path != STDIN_NAME and os.path.isfile(stats.path)
        files.append(
            InputFile(
                name=stats.path,
                size=os.path.getsize(stats.path) if on_disk else None,
                sha256=sha256_of(stats.path) if on_disk else None,
                compression=stats.compression,
                lines=stats.lines,
                parsed=stats.parsed,
                unparsed=stats.unparsed,
            )
        )
    return Provenance(__version__, command_line(args), tuple(files))


def human_size(size: int | None) -> str:
    if size is None:
        return "unknown"
    if size < 1024:
        return f"{size} B"
    value, unit = size / 1024, "KiB"
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            break
        value /= 1024
    return f"{value:.1f} {unit} ({size:,} bytes)"
