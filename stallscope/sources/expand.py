"""Turn the names given on the command line into the inputs to read, in reading order.

A directory stands for every regular file below it that looks like a kernel log by its content
(:mod:`stallscope.sources.sniff`: binary files, JSON that is not a journal export and text
without a kernel line are listed as skipped, with the reason); a directory that is (or holds) a
support bundle (a sosreport, a supportconfig) stands for the bundle's kernel log only, the rest listed
as skipped (see :mod:`stallscope.sources.bundle`). Rotated logs (``kern.log.2.gz``,
``kern.log.1``, ``kern.log``) are read oldest first, so that one host's messages stay in time
order across the rotation. A folder of binary journal files is one input (journalctl reads it).
A file named twice (or two files with the same bytes: a copy beside the log) is read once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from stallscope.capture.model import SkippedFile
from stallscope.sources.bundle import ANOTHER_COPY, bundle_roots, select
from stallscope.sources.reader import STDIN_NAME, InputError
from stallscope.sources.rotation import reading_order, rotation, rotation_family
from stallscope.sources.sniff import why_not_a_kernel_log

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
    before = len(out.skipped)
    files, links = _walk(base)
    # Skipped files are named as the inputs are: below the directory as it was given.
    selection = select(files, in_archive=False, prefix=f"{base}/", links=frozenset(links))
    out.skipped.extend(selection.skipped)
    roots = list(bundle_roots(files))
    read: list[str] = []
    for relative in selection.read:
        path = base / relative
        # A bundle's kernel log is known by its place in the bundle; any other file by its content.
        if path.is_file() and not any(not root or relative.startswith(root + "/") for root in roots):
            why = why_not_a_kernel_log(str(path))
            if why is not None:
                out.skipped.append(SkippedFile(str(path), why))
                continue
        read.append(relative)
    if not read:
        skipped = len(out.skipped) - before
        if selection.bundles:
            kinds = " and ".join(sorted(set(selection.bundles.values())))
            raise InputError(f"{name}: the {kinds} holds no kernel log ({skipped} file(s) skipped)")
        if skipped:
            raise InputError(f"{name}: directory holds no kernel log ({skipped} file(s) skipped; list them with "
                             "--show-skipped)")
        raise InputError(f"{name}: directory holds no log file")
    out.inputs.extend(str(base / relative) for relative in read)


def expand(names: Iterable[str | os.PathLike[str]]) -> Expansion:
    """Files (and ``-``) to read for ``names``; a directory is searched recursively.

    Raises :class:`InputError` for a name that does not exist or a directory holding no file.
    """
    out = Expansion()
    # Each input by its name as text: a Path from a caller of the API became the rows' source
    # as it was, a machine's views (found by the sources' names) held none of the rows, and
    # diagnose() gave no finding at all (tests/sources/test_expand.py).
    for name in map(os.fspath, names):
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
    _read_once(out)
    return out


def _read_once(out: Expansion) -> None:
    """Leave out a file named again (the same file twice, a directory and a file in it) and a
    file with the same bytes as one before it (a copy beside the log): read twice, every report
    would count twice. Files are compared by size first, so few are hashed."""
    first: dict[str, str] = {}
    digests: dict[str, bytes] = {}
    by_size: dict[int, list[str]] = {}
    kept: list[str] = []
    for name in out.inputs:
        if name == STDIN_NAME or not os.path.isfile(name):
            kept.append(name)
            continue
        real = os.path.realpath(name)
        if real in first:
            out.skipped.append(SkippedFile(name, f"{ANOTHER_COPY} {first[real]} (the same file)"))
            continue
        first[real] = name
        size = os.path.getsize(name)
        same = [other for other in by_size.get(size, []) if size and _digest(other, digests) == _digest(name, digests)]
        if same:
            out.skipped.append(SkippedFile(name, f"{ANOTHER_COPY} {same[0]} (the same bytes)"))
            continue
        by_size.setdefault(size, []).append(name)
        kept.append(name)
    out.inputs[:] = kept


def _digest(name: str, known: dict[str, bytes]) -> bytes:
    """A hash of the file's bytes; a file that cannot be read gets its own name (equal to no
    other: the reader then says why it cannot be read)."""
    if name not in known:
        digest = hashlib.blake2b(digest_size=16)
        try:
            with open(name, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            known[name] = name.encode()
            return known[name]
        known[name] = digest.digest()
    return known[name]


def expand_inputs(names: Iterable[str | os.PathLike[str]]) -> list[str]:
    """:func:`expand`'s inputs."""
    return expand(names).inputs
