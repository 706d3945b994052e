"""Which files of a support bundle (a sosreport, a supportconfig) hold the kernel's log, in reading order.

A bundle copies the machine's logs and the output of many commands. The kernel's messages are in
several of them at once: syslog's ``var/log/messages`` holds the same lines as journald's export
(``sos_commands/logs/journalctl_--no-pager``) and as ``dmesg``. Read together they would count
every watchdog report two or three times and split one machine in several (a syslog file names
its host, a dmesg file does not). So one copy is read: the first kind in :data:`KERNEL_LOGS`
that the bundle has (its rotated generations oldest first); the other copies are listed as
skipped, naming the copy that was read. A crash kernel's ``vmcore-dmesg.txt`` is the ring buffer
of the boot that crashed, which the live logs may have missed: it is always read.

Everything else in a bundle is skipped and listed with the reason. Names are POSIX paths relative
to where the bundle was found (a directory given on the command line, or an archive's root).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import PurePosixPath

from stallscope.capture.model import SkippedFile
from stallscope.sources.journal import JOURNAL_SUFFIXES
from stallscope.sources.rotation import reading_order

SOSREPORT = "sosreport"
SUPPORTCONFIG = "supportconfig"

# What marks the top folder of a bundle: a folder holding one of these names.
BUNDLE_MARKS: dict[str, str] = {
    "sos_commands": SOSREPORT,  # a folder in every sosreport
    "sos_reports": SOSREPORT,
    "sos_logs": SOSREPORT,
    "supportconfig.txt": SUPPORTCONFIG,  # supportconfig's own log and its list of files
    "basic-environment.txt": SUPPORTCONFIG,
}


@dataclass(frozen=True, slots=True)
class KernelLog:
    """Where a bundle keeps a copy of the kernel's messages.

    ``copy``: the rank of this copy of the live kernel log (the lowest rank present is read, the
    others skipped as duplicates); None for logs read whatever else is there. Files of one rank
    are read in table order, each pattern's rotated generations oldest first.
    """

    bundle: str
    pattern: str  # relative to the bundle's top folder; "*" stays within one path segment
    copy: int | None
    what: str


KERNEL_LOGS: tuple[KernelLog, ...] = (
    # sosreport (sos/report/plugins/logs.py, kernel.py, kdump.py)
    KernelLog(SOSREPORT, "var/log/kern.log*", 0, "syslog's kernel log"),
    KernelLog(SOSREPORT, "var/log/messages*", 1, "syslog"),
    KernelLog(SOSREPORT, "var/log/syslog*", 2, "syslog"),
    # Copied only with sos --all-logs; readable through journalctl where the bundle is a directory.
    KernelLog(SOSREPORT, "var/log/journal/*/*.journal*", 3, "journal files"),
    KernelLog(SOSREPORT, "run/log/journal/*/*.journal*", 3, "journal files"),
    KernelLog(SOSREPORT, "sos_commands/logs/journalctl_--no-pager", 4, "the whole journal (journalctl)"),
    KernelLog(SOSREPORT, "sos_commands/logs/journalctl_--no-pager*--boot_-1", 5, "the previous boot's journal"),
    KernelLog(SOSREPORT, "sos_commands/logs/journalctl_--no-pager*--boot", 5, "this boot's journal"),
    KernelLog(SOSREPORT, "sos_commands/kernel/dmesg", 6, "the ring buffer (dmesg)"),
    KernelLog(SOSREPORT, "sos_commands/kernel/dmesg_-T", 7, "the ring buffer (dmesg -T)"),
    KernelLog(SOSREPORT, "var/log/dmesg*", 8, "the boot's ring buffer saved at boot"),
    KernelLog(SOSREPORT, "var/crash/*/vmcore-dmesg.txt", None, "the crashed kernel's ring buffer (kdump)"),
    # supportconfig (supportutils' bin/supportconfig: messages_file, boot_info, crash_info)
    KernelLog(SUPPORTCONFIG, "messages-*.txt", 0, "rotated syslog (supportconfig -A)"),
    KernelLog(SUPPORTCONFIG, "messages.txt", 0, "syslog (or the journal)"),
    KernelLog(SUPPORTCONFIG, "boot.txt", 1, "this boot's journal and dmesg -T"),
    KernelLog(SUPPORTCONFIG, "messages_localwarn.txt", 2, "syslog's warnings"),
    KernelLog(SUPPORTCONFIG, "crash.txt", None, "the crashed kernel's ring buffer (vmcore-dmesg.txt)"),
)

NOT_A_KERNEL_LOG = "not a kernel log"
ANOTHER_COPY = "another copy of the kernel messages read from"
OUTSIDE = "a binary journal inside an archive (journalctl reads files only: unpack it, or rely on the " \
          "bundle's journalctl text output)"


@dataclass(slots=True)
class Selection:
    """What to read of a list of files, in reading order, and what was left out."""

    read: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    # Top folder of each bundle found -> its kind ("" is the root itself).
    bundles: dict[str, str] = field(default_factory=dict)


def _parts(name: str) -> tuple[str, ...]:
    return PurePosixPath(name).parts


def bundle_roots(names: Iterable[str]) -> dict[str, str]:
    """The top folders of the bundles among ``names`` (files, POSIX paths) and their kinds."""
    roots: dict[str, str] = {}
    for name in names:
        parts = _parts(name)
        for depth, part in enumerate(parts):
            kind = BUNDLE_MARKS.get(part)
            # A folder mark must be a folder (a path goes on below it); a file mark must be the file.
            if kind is None or (kind == SOSREPORT) == (depth == len(parts) - 1):
                continue
            roots.setdefault("/".join(parts[:depth]), kind)
            break
    return roots


def _root_of(name: str, roots: Sequence[str]) -> str | None:
    """The deepest bundle root ``name`` lies below, or None."""
    best: str | None = None
    for root in roots:
        if (not root or name.startswith(root + "/")) and (best is None or len(root) > len(best)):
            best = root
    return best


def _matches(pattern: str, relative: str) -> bool:
    """``fnmatch`` segment by segment: ``*`` never crosses a ``/``."""
    wanted, parts = pattern.split("/"), relative.split("/")
    return len(wanted) == len(parts) and all(fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True))


def kernel_log_of(kind: str, relative: str) -> tuple[int, KernelLog] | None:
    """The entry of :data:`KERNEL_LOGS` (and its position) a file of a bundle of ``kind`` matches."""
    for position, log in enumerate(KERNEL_LOGS):
        if log.bundle == kind and _matches(log.pattern, relative):
            return position, log
    return None


def might_be_kernel_log(name: str) -> bool:
    """Whether ``name`` could be one of a bundle's kernel logs, whichever bundle it turns out to be in."""
    parts = _parts(name)
    for start in range(len(parts)):
        relative = "/".join(parts[start:])
        if any(_matches(log.pattern, relative) for log in KERNEL_LOGS):
            return True
    return False


def _order_key(name: str) -> tuple[str, str, int]:
    # supportconfig names its copies "messages-20240101.txt": the generation is before the ".txt".
    return reading_order(PurePosixPath(name.removesuffix(".txt")))


def select(names: Sequence[str], in_archive: bool, prefix: str = "", links: frozenset[str] = frozenset()) -> Selection:
    """Which of ``names`` (regular files, POSIX paths relative to one top folder) to read.

    Files below a bundle's top folder are read when they are its chosen copy of the kernel log
    (see the module docstring); files outside any bundle are read as they are, like the files of
    a directory. Binary journal files are read through journalctl, one input per folder holding
    them; inside an archive they are skipped (journalctl reads files). ``prefix`` is put before
    each name in the listing of skipped files (an archive's name and a colon). ``links``: the
    names that are symbolic links; inside a bundle they are not followed (a bundle's links point
    into the machine it came from, which is not the one reading it).
    """
    roots = bundle_roots(names)
    out = Selection(bundles=dict(roots))
    plain: list[str] = []
    journal_dirs: dict[str, None] = {}
    # Per bundle: rank -> (table position, name) of the kernel logs found.
    found: dict[str, dict[int | None, list[tuple[int, str]]]] = {}
    for name in names:
        root = _root_of(name, list(roots))
        if root is None:
            if name.endswith(JOURNAL_SUFFIXES):
                if in_archive:
                    out.skipped.append(SkippedFile(prefix + name, OUTSIDE))
                else:
                    journal_dirs[str(PurePosixPath(name).parent)] = None
                continue
            plain.append(name)
            continue
        if name in links:
            out.skipped.append(SkippedFile(prefix + name, "a symbolic link (not followed inside a bundle)"))
            continue
        relative = name[len(root) + 1:] if root else name
        hit = kernel_log_of(roots[root], relative)
        if hit is None:
            out.skipped.append(SkippedFile(prefix + name, f"{NOT_A_KERNEL_LOG} ({roots[root]})"))
            continue
        position, log = hit
        if name.endswith(JOURNAL_SUFFIXES) and in_archive:
            out.skipped.append(SkippedFile(prefix + name, OUTSIDE))
            continue
        found.setdefault(root, {}).setdefault(log.copy, []).append((position, name))
    out.read.extend(sorted(plain, key=lambda name: reading_order(PurePosixPath(name))))
    out.read.extend(sorted(journal_dirs))
    for root in sorted(found):
        by_rank = found[root]
        ranks = sorted(rank for rank in by_rank if rank is not None)
        chosen: list[str] = []
        if ranks:
            chosen = _in_order(by_rank[ranks[0]])
            journals = [n for n in chosen if n.endswith(JOURNAL_SUFFIXES)]
            if journals:  # the journal files of a folder are one input: journalctl --directory
                chosen = [n for n in chosen if n not in journals] + sorted({str(PurePosixPath(n).parent)
                                                                            for n in journals})
            for rank in ranks[1:]:
                for _, name in by_rank[rank]:
                    out.skipped.append(SkippedFile(prefix + name, f"{ANOTHER_COPY} {prefix}{chosen[-1]}"))
        out.read.extend(chosen)
        out.read.extend(_in_order(by_rank.get(None, [])))
    return out


def _in_order(entries: list[tuple[int, str]]) -> list[str]:
    """Names in table order, and within one pattern oldest generation first."""
    return [name for _, name in sorted(entries, key=lambda e: (e[0], _order_key(e[1])))]
