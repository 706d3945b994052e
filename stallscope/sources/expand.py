"""Turn the names given on the command line into the inputs to read, in reading order.

A directory stands for every regular file below it. Rotated logs (``kern.log.2.gz``,
``kern.log.1``, ``kern.log``) are read oldest first, so that one host's messages stay in
time order across the rotation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from stallscope.sources.reader import STDIN_NAME, InputError

_COMPRESSED = (".gz", ".xz", ".bz2", ".zst")
_ROTATION = re.compile(r"^(?P<base>.+?)(?:[.-](?P<n>\d+))?$")


def rotation(path: Path) -> tuple[str, str, int]:
    """(folder, base name, generation) of a log file: ``kern.log.2.gz`` is generation 2 of
    ``kern.log``; the live file (no number) is generation 0, the newest."""
    name = path.name
    for suffix in _COMPRESSED:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    match = _ROTATION.match(name)
    base, number = (match["base"], match["n"]) if match else (name, None)
    return str(path.parent), base, int(number) if number is not None else 0


# logrotate's own names for older generations: "kern.log.1", "kern.log.2.gz", "messages-20261126".
_LOGROTATE = re.compile(r"^(?P<base>.+?)(?:\.\d+|-\d{8})$")


def rotation_family(path: str) -> tuple[str, str, bool]:
    """The log a file is one generation of: its folder and base name (``var/log``, ``kern.log``),
    and whether its name is one logrotate gives (``.N``, ``-YYYYMMDD``) rather than a name that
    only ends in a number (``node-2``), which may as well be another machine's file."""
    folder, base, generation = rotation(Path(path))
    name = Path(path).name
    for suffix in _COMPRESSED:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return folder, base, generation == 0 or _LOGROTATE.match(name) is not None


def _order(path: Path) -> tuple[str, str, int]:
    folder, base, generation = rotation(path)
    # The live file (no number) is the newest: it sorts after every numbered generation.
    return folder, base, -generation if generation else 1


def _walk(directory: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(root) / f for f in files if not f.startswith("."))
    return sorted((p for p in found if p.is_file()), key=_order)


def expand_inputs(names: Iterable[str]) -> list[str]:
    """Files (and ``-``) to read for ``names``; a directory is searched recursively.

    Raises :class:`InputError` for a name that does not exist or a directory holding no file.
    """
    inputs: list[str] = []
    for name in names:
        if name == STDIN_NAME:
            inputs.append(name)
            continue
        path = Path(name)
        if path.is_dir():
            files = _walk(path)
            if not files:
                raise InputError(f"{name}: directory holds no log file")
            inputs.extend(str(p) for p in files)
        elif path.exists():
            inputs.append(name)
        else:
            raise InputError(f"{name}: no such file or directory")
    return inputs
