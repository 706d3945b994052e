"""Rotated logs: which files are generations of one log, and the order that reads them oldest first."""

from __future__ import annotations

import re
from pathlib import Path, PurePath

_COMPRESSED = (".gz", ".xz", ".bz2", ".zst")
_ROTATION = re.compile(r"^(?P<base>.+?)(?:[.-](?P<n>\d+))?$")


def rotation(path: PurePath) -> tuple[str, str, int]:
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


# logrotate's ``dateext`` generations end in a date: the larger, the newer (unlike ``.N``).
_DATED = re.compile(r"-(?P<date>(?:19|20)\d{6})$")


def generation_rank(name: str) -> int:
    """Where one generation of a rotated log comes in reading order (oldest first): ``kern.log.3``
    before ``kern.log.1``, ``messages-20240101`` before ``messages-20240108``, both before the
    live file. ``name`` is a file name without its compression suffix."""
    dated = _DATED.search(name)
    if dated:
        return int(dated["date"]) - 100_000_000  # every date sorts before every numbered generation
    match = _ROTATION.match(name)
    number = match["n"] if match else None
    # The live file (no number) is the newest: it sorts after every numbered generation.
    return -int(number) if number is not None else 1


def reading_order(path: PurePath) -> tuple[str, str, int]:
    """The sort key that reads each rotated log oldest first: folder, base name, generation rank."""
    folder, base, _ = rotation(path)
    name = path.name
    for suffix in _COMPRESSED:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return folder, base, generation_rank(name)
