"""Turn the names given on the command line into the inputs to read, in reading order.

A directory stands for every regular file below it; a directory that is (or holds) a support
bundle (a sosreport, a supportconfig) stands for the bundle's kernel log only, the rest listed
as skipped (see :mod:`stallscope.sources.bundle`). Rotated logs (``kern.log.2.gz``,
``kern.log.1``, ``kern.log``) are read oldest first, so that one host's messages stay in time
order across the rotation. A folder of binary journal files is one input (journalctl reads it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from stallscope.capture.model import SkippedFile
from stallscope.sources.bundle import select
from stallscope.sources.reader import STDIN_NAME, InputError
from stallscope.sources.rotation import reading_order, rotation, rotation_family

__all__ = ["Expansion", "expand", "expand_inputs", "reading_order", "rotation", "rotation_family"]


@dataclass(slots=True)
class Expansion:
    """The inputs to read, in order, and the files of bundles that are not read."""

    inputs: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


def _walk(directory: Path) -> tuple[list[str], set[str]]:
    """The files below ``directory`` (hidden ones left out) as POSIX paths relative to it, and
    which of them are symbolic links."""
    found: list[str] = []
    links: set[str] = set()
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith("."):
                continue
            path = Path(root) / name
            if not path.is_file():
                continue
            relative = path.relative_to(directory).as_posix()
            found.append(relative)
            if path.is_symlink():
                links.add(relative)
    return found, links


def _directory(name: str, out: Expansion) -> None:
    base = Path(name)
    files, links = _walk(base)
    # Skipped files are named as the inputs are: below the directory as it was given.
    selection = select(files, in_archive=False, prefix=f"{base}/", links=frozenset(links))
    out.skipped.extend(selection.skipped)
    if not selection.read:
        if selection.bundles:
            kinds = " and ".join(sorted(set(selection.bundles.values())))
            raise InputError(f"{name}: the {kinds} holds no kernel log ({len(selection.skipped)} file(s) skipped)")
        raise InputError(f"{name}: directory holds no log file")
    out.inputs.extend(str(base / relative) for relative in selection.read)


def expand(names: Iterable[str]) -> Expansion:
    """Files (and ``-``) to read for ``names``; a directory is searched recursively.

    Raises :class:`InputError` for a name that does not exist or a directory holding no file.
    """
    out = Expansion()
    for name in names:
        if name == STDIN_NAME:
            out.inputs.append(name)
            continue
        path = Path(name)
        if path.is_dir():
            _directory(name, out)
        elif path.exists():
            out.inputs.append(name)
        else:
            raise InputError(f"{name}: no such file or directory")
    return out


def expand_inputs(names: Iterable[str]) -> list[str]:
    """:func:`expand`'s inputs."""
    return expand(names).inputs
