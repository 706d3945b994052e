"""Archives (``.tar`` plain or compressed with gzip, xz, bz2 or zstd, and ``.zip``) read in place.

Nothing is written to disk: a tar archive is streamed (its members come in the order they were
stored, each read while the stream passes it) and a zip archive is read through its central
directory. Member names are only labels: a name that is absolute or climbs out with ``..`` is
skipped, and so is every member that is not a regular file (links, devices), so nothing outside
the archive is ever opened. Members larger than :data:`MAX_MEMBER_BYTES` and archives with more
than :data:`MAX_MEMBERS` members are refused, since neither is a kernel log.

Which members are read is :func:`stallscope.sources.bundle.select`'s choice (a sosreport or a
supportconfig: its kernel log; any other archive: every member). Each member read is named
``ARCHIVE:MEMBER`` (``sosreport-web1.tar.xz:sosreport-web1/var/log/messages``) in every table,
finding and report. A tar archive is read in one pass when the members to read can be told
from their names as they come (a bundle's logs); otherwise a second pass reads the rest.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import BinaryIO, Generic, TypeVar

from stallscope.capture.model import SkippedFile
from stallscope.sources.bundle import might_be_kernel_log, select
from stallscope.sources.journal import JOURNAL_MAGIC
from stallscope.sources.reader import InputError, open_binary, open_stream

T = TypeVar("T")

SEPARATOR = ":"
MAX_MEMBERS = 500_000
MAX_MEMBER_BYTES = 16 << 30
# Names of archives that may be found inside an archive: read them by unpacking the outer one.
_NESTED_SUFFIXES = (".tar", ".tgz", ".txz", ".tbz", ".tbz2", ".tzst", ".tar.gz", ".tar.xz", ".tar.bz2",
                    ".tar.zst", ".zip")
_TAR_MAGIC_AT = 257  # "ustar" in a POSIX or GNU tar header


class ArchiveDamage(Exception):
    """The archive's own bytes end early or are corrupt: the members read before it are kept."""


def member_name(archive: str, member: str) -> str:
    return f"{archive}{SEPARATOR}{member}"


def archive_kind(path: str) -> str | None:
    """"tar" or "zip" for a file that is an archive (judged by its bytes), else None.

    Only regular files are looked at: a pipe or FIFO can be read once, by the reader.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as handle:
            head = handle.read(len(JOURNAL_MAGIC))
    except OSError:
        return None  # not readable, or a directory: the ordinary reader says why
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip" if zipfile.is_zipfile(path) else None
    if head == JOURNAL_MAGIC:
        return None
    try:
        source, stream = open_binary(path)
    except InputError:
        return None
    try:
        block = stream.read(512)
    except Exception:  # damaged from the start: the ordinary reader reports it
        return None
    finally:
        stream.close()
    del source
    return "tar" if len(block) == 512 and block[_TAR_MAGIC_AT:_TAR_MAGIC_AT + 5] == b"ustar" else None


def _safe(name: str) -> str | None:
    """The member's name as a relative POSIX path, or None when it is absolute or climbs out."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return None
    parts = [p for p in path.parts if p != "."]
    return "/".join(parts) if parts else None


@dataclass(slots=True)
class ArchiveRead(Generic[T]):
    """What was read of one archive: one result per member read, in reading order, and the rest."""

    results: list[T] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    damaged: str | None = None  # why the archive's own bytes could not be read to the end
    bundles: dict[str, str] = field(default_factory=dict)


# Reads one member: (name for the evidence, decompressed stream, its compression) -> result.
MemberReader = Callable[[str, BinaryIO, "str | None"], T]


class _Guarded(io.RawIOBase):
    """A member's stream whose read errors (tarfile's own among them) are OSErrors: damage."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self.stream.read(len(buffer))
        except (tarfile.TarError, EOFError, zipfile.BadZipFile) as error:
            raise OSError(f"archive data ends early or is corrupt ({error})") from error
        buffer[: len(data)] = data
        return len(data)


def _read_member(archive: str, name: str, raw: BinaryIO, reader: MemberReader[T]) -> T:
    label = member_name(archive, name)
    if name.lower().endswith(_NESTED_SUFFIXES):
        raise InputError(f"{label}: an archive inside an archive (unpack the outer one to read it)")
    buffered = io.BufferedReader(_Guarded(raw), buffer_size=1 << 20)
    try:
        head = buffered.peek(_TAR_MAGIC_AT + 5)
    except OSError as error:
        raise ArchiveDamage(f"{archive}: {error} at {name}; analyzed the members before") from None
    if head[_TAR_MAGIC_AT:_TAR_MAGIC_AT + 5] == b"ustar":
        raise InputError(f"{label}: an archive inside an archive (unpack the outer one to read it)")
    source, stream = open_stream(label, buffered)
    try:
        return reader(label, stream, source.compression)
    finally:
        stream.close()


def read_archive(path: str, kind: str, reader: MemberReader[T]) -> ArchiveRead[T]:
    """Read the members :func:`select` picks out of the archive at ``path`` with ``reader``."""
    if kind == "zip":
        return _read_zip(path, reader)
    return _read_tar(path, reader)


def _refused(out: ArchiveRead[T], label: str, error: InputError) -> None:
    reason = str(error)
    out.skipped.append(SkippedFile(label, reason[len(label) + 2:] if reason.startswith(label + ": ") else reason))


# -- zip ----------------------------------------------------------------------------------------
def _read_zip(path: str, reader: MemberReader[T]) -> ArchiveRead[T]:
    out: ArchiveRead[T] = ArchiveRead()
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise InputError(f"{path}: cannot read the zip archive ({error})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise InputError(f"{path}: more than {MAX_MEMBERS:,} members: not a log archive")
        regular: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = _safe(info.filename)
            label = member_name(path, name or info.filename)
            if info.is_dir():
                continue
            if name is None:
                out.skipped.append(SkippedFile(label, "unsafe member name (absolute, or climbing out with ..)"))
            elif _is_zip_link(info):
                out.skipped.append(SkippedFile(label, "not a regular file (a symbolic link)"))
            elif info.file_size > MAX_MEMBER_BYTES:
                out.skipped.append(SkippedFile(label, f"larger than {MAX_MEMBER_BYTES >> 30} GiB"))
            else:
                regular.setdefault(name, info)
        selection = select(list(regular), in_archive=True, prefix=path + SEPARATOR)
        out.skipped.extend(selection.skipped)
        out.bundles = selection.bundles
        for name in selection.read:
            info = regular[name]
            try:
                with archive.open(info) as raw:
                    out.results.append(_read_member(path, name, raw, reader))  # type: ignore[arg-type]
            except InputError as error:
                _refused(out, member_name(path, name), error)
            except (OSError, zipfile.BadZipFile, EOFError, RuntimeError, ArchiveDamage) as error:
                # RuntimeError: an encrypted member.
                out.skipped.append(SkippedFile(member_name(path, name), f"cannot be read ({error})"))
    return out


def _is_zip_link(info: zipfile.ZipInfo) -> bool:
    # The high 16 bits of external_attr are the Unix mode when the zip was made on Unix.
    mode = info.external_attr >> 16
    return (mode & 0o170000) not in (0, 0o100000)


# -- tar ----------------------------------------------------------------------------------------
def _tar_members(path: str) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    """The members of a tar archive (any compression) in stored order, streamed."""
    source, stream = open_binary(path)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:  # type: ignore[call-overload]
            for count, info in enumerate(archive, 1):
                if count > MAX_MEMBERS:
                    raise InputError(f"{path}: more than {MAX_MEMBERS:,} members: not a log archive")
                yield archive, info
                # Stream mode keeps every header it passed; nothing here looks back at them.
                archive.members.clear()
    except (tarfile.TarError, EOFError, OSError) as error:
        what = source.compression or "tar"
        raise ArchiveDamage(f"{path}: {what} data ends early or is corrupt ({error}); "
                            "analyzed the members before") from None
    finally:
        stream.close()


def _read_tar(path: str, reader: MemberReader[T]) -> ArchiveRead[T]:
    out: ArchiveRead[T] = ArchiveRead()
    early: dict[str, T] = {}
    refused: dict[str, InputError] = {}
    names: list[str] = []

    def take(archive: tarfile.TarFile, info: tarfile.TarInfo, name: str, into: dict[str, T]) -> None:
        handle = archive.extractfile(info)
        if handle is None:
            return
        try:
            into[name] = _read_member(path, name, handle, reader)  # type: ignore[arg-type]
        except InputError as error:
            refused[name] = error

    try:
        for archive, info in _tar_members(path):
            name = _safe(info.name)
            label = member_name(path, name or info.name)
            if info.isdir():
                continue
            if name is None:
                out.skipped.append(SkippedFile(label, "unsafe member name (absolute, or climbing out with ..)"))
            elif not info.isreg():
                out.skipped.append(SkippedFile(label, "not a regular file (a link or a device)"))
            elif info.size > MAX_MEMBER_BYTES:
                out.skipped.append(SkippedFile(label, f"larger than {MAX_MEMBER_BYTES >> 30} GiB"))
            elif name not in early:
                names.append(name)
                if might_be_kernel_log(name):
                    take(archive, info, name, early)
    except ArchiveDamage as damage:
        out.damaged = str(damage)
    selection = select(names, in_archive=True, prefix=path + SEPARATOR)
    out.skipped.extend(selection.skipped)
    out.bundles = selection.bundles
    late_names = {n for n in selection.read if n not in early and n not in refused}
    late: dict[str, T] = {}
    if late_names and out.damaged is None:
        try:
            for archive, info in _tar_members(path):
                name = _safe(info.name)
                if name in late_names and info.isreg() and name not in late:
                    take(archive, info, name, late)
        except ArchiveDamage as damage:
            out.damaged = str(damage)
    for name in selection.read:
        if name in refused:
            _refused(out, member_name(path, name), refused[name])
        elif name in early or name in late:
            out.results.append(early[name] if name in early else late[name])
    return out
