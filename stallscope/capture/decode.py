"""Turn hex gfp masks and task flags into names, for the kernel that wrote the log.

Older watchdog builds (and ``mode:0xd0``-style warn_alloc lines) print only the hex value, and the
bit positions moved several times between 3.x and 6.x. Each era below is the layout of
include/linux/gfp.h (gfp_types.h) or include/linux/sched.h for a range of releases; the era of a
log comes from its kernel version, or else from the masks the same log prints with names.
Names are produced the way the kernel's ``%pGg`` does: compound names first, in the kernel's
table order, then single flags, then any unknown remainder in hex.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pandas as pd

from stallscope.capture.model import Capture

Version = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Era:
    name: str
    first: Version
    last: Version  # inclusive
    names: tuple[tuple[str, int], ...]  # printing order, compound masks first

    def covers(self, version: Version) -> bool:
        return self.first <= version <= self.last

    def decode(self, mask: int) -> str:
        parts: list[str] = []
        rest = mask
        for name, bits in self.names:
            if bits and rest & bits == bits:
                parts.append(name)
                rest &= ~bits
        if rest:
            parts.append(hex(rest))
        return "|".join(parts)

    def known(self, mask: int) -> bool:
        """True when every set bit has a name in this era (a cheap plausibility test)."""
        covered = 0
        for _, bits in self.names:
            covered |= bits
        return mask & ~covered == 0


# --- gfp -------------------------------------------------------------------------------------
# Bits that never moved: the zone modifiers and the 0x20..0x80 block.
_LOW = {"__GFP_DMA": 0x1, "__GFP_HIGHMEM": 0x2, "__GFP_DMA32": 0x4, "__GFP_MOVABLE": 0x8}

# Single-flag printing order of the kernel's gfpflag_names table.
_SINGLE_ORDER = (
    "__GFP_HIGH", "__GFP_ATOMIC", "__GFP_IO", "__GFP_FS", "__GFP_COLD", "__GFP_NOWARN",
    "__GFP_REPEAT", "__GFP_RETRY_MAYFAIL", "__GFP_NOFAIL", "__GFP_NORETRY", "__GFP_COMP",
    "__GFP_ZERO", "__GFP_NOMEMALLOC", "__GFP_MEMALLOC", "__GFP_HARDWALL", "__GFP_THISNODE",
    "__GFP_RECLAIMABLE", "__GFP_MOVABLE", "__GFP_ACCOUNT", "__GFP_NOACCOUNT", "__GFP_NOTRACK",
    "__GFP_WRITE", "__GFP_RECLAIM", "__GFP_DIRECT_RECLAIM", "__GFP_KSWAPD_RECLAIM",
    "__GFP_WAIT", "__GFP_NO_KSWAPD", "__GFP_OTHER_NODE", "__GFP_NOLOCKDEP", "__GFP_ZEROTAGS",
)


def _gfp_era(name: str, first: Version, last: Version, bits: dict[str, int]) -> Era:
    b = {**_LOW, **bits}
    if "__GFP_WAIT" in b:  # before 4.4 one bit meant "may sleep and reclaim"
        reclaim = b["__GFP_WAIT"]
        atomic = b["__GFP_HIGH"]
        nowait = 0
    else:
        b["__GFP_RECLAIM"] = b["__GFP_DIRECT_RECLAIM"] | b["__GFP_KSWAPD_RECLAIM"]
        reclaim = b["__GFP_RECLAIM"]
        atomic = b["__GFP_HIGH"] | b.get("__GFP_ATOMIC", 0) | b["__GFP_KSWAPD_RECLAIM"]
        nowait = b["__GFP_KSWAPD_RECLAIM"]
    kernel = reclaim | b["__GFP_IO"] | b["__GFP_FS"]
    user = kernel | b["__GFP_HARDWALL"]
    movable = user | b["__GFP_HIGHMEM"] | b["__GFP_MOVABLE"]
    light = (movable | b["__GFP_COMP"] | b["__GFP_NOMEMALLOC"] | b["__GFP_NOWARN"]) & ~reclaim
    transhuge = light | b.get("__GFP_DIRECT_RECLAIM", 0)
    if "__GFP_WAIT" in b:
        transhuge = movable | b["__GFP_COMP"] | b["__GFP_NOMEMALLOC"] | b["__GFP_NORETRY"] | (
            b["__GFP_NOWARN"] | b["__GFP_NO_KSWAPD"])
    compound: list[tuple[str, int]] = [
        ("GFP_TRANSHUGE", transhuge),
        ("GFP_TRANSHUGE_LIGHT", light if "__GFP_DIRECT_RECLAIM" in b else 0),
        ("GFP_HIGHUSER_MOVABLE", movable),
        ("GFP_HIGHUSER", user | b["__GFP_HIGHMEM"]),
        ("GFP_USER", user),
        ("GFP_TEMPORARY", kernel | b["__GFP_RECLAIMABLE"] if first < (4, 14) else 0),
        ("GFP_KERNEL_ACCOUNT", kernel | b.get("__GFP_ACCOUNT", 0) if "__GFP_ACCOUNT" in b else 0),
        ("GFP_KERNEL", kernel),
        ("GFP_NOFS", reclaim | b["__GFP_IO"]),
        ("GFP_ATOMIC", atomic),
        ("GFP_NOIO", reclaim),
        ("GFP_NOWAIT", nowait),
        ("GFP_DMA", b["__GFP_DMA"]),
        ("__GFP_HIGHMEM", b["__GFP_HIGHMEM"]),
        ("GFP_DMA32", b["__GFP_DMA32"]),
    ]
    singles = [(n, b[n]) for n in _SINGLE_ORDER if n in b]
    return Era(name, first, last, tuple(compound + singles))


def _bits(*names: str, start: int = 0x10) -> dict[str, int]:
    """Consecutive bits from ``start`` upwards; an empty name leaves a hole."""
    return {n: start << i for i, n in enumerate(names) if n}


GFP_ERAS: tuple[Era, ...] = (
    _gfp_era("3.x-4.3", (3, 0), (4, 3), _bits(
        "__GFP_WAIT", "__GFP_HIGH", "__GFP_IO", "__GFP_FS", "__GFP_COLD", "__GFP_NOWARN",
        "__GFP_REPEAT", "__GFP_NOFAIL", "__GFP_NORETRY", "__GFP_MEMALLOC", "__GFP_COMP",
        "__GFP_ZERO", "__GFP_NOMEMALLOC", "__GFP_HARDWALL", "__GFP_THISNODE", "__GFP_RECLAIMABLE",
        "__GFP_NOACCOUNT", "__GFP_NOTRACK", "__GFP_NO_KSWAPD", "__GFP_OTHER_NODE", "__GFP_WRITE")),
    _gfp_era("4.4-4.9", (4, 4), (4, 9), _bits(
        "__GFP_RECLAIMABLE", "__GFP_HIGH", "__GFP_IO", "__GFP_FS", "__GFP_COLD", "__GFP_NOWARN",
        "__GFP_REPEAT", "__GFP_NOFAIL", "__GFP_NORETRY", "__GFP_MEMALLOC", "__GFP_COMP",
        "__GFP_ZERO", "__GFP_NOMEMALLOC", "__GFP_HARDWALL", "__GFP_THISNODE", "__GFP_ATOMIC",
        "__GFP_ACCOUNT", "__GFP_NOTRACK", "__GFP_DIRECT_RECLAIM", "__GFP_OTHER_NODE",
        "__GFP_WRITE", "__GFP_KSWAPD_RECLAIM")),
    # 4.10 dropped __GFP_OTHER_NODE, so WRITE and KSWAPD_RECLAIM each moved down one bit.
    _gfp_era("4.10-4.12", (4, 10), (4, 12), _bits(
        "__GFP_RECLAIMABLE", "__GFP_HIGH", "__GFP_IO", "__GFP_FS", "__GFP_COLD", "__GFP_NOWARN",
        "__GFP_REPEAT", "__GFP_NOFAIL", "__GFP_NORETRY", "__GFP_MEMALLOC", "__GFP_COMP",
        "__GFP_ZERO", "__GFP_NOMEMALLOC", "__GFP_HARDWALL", "__GFP_THISNODE", "__GFP_ATOMIC",
        "__GFP_ACCOUNT", "__GFP_NOTRACK", "__GFP_DIRECT_RECLAIM", "__GFP_WRITE",
        "__GFP_KSWAPD_RECLAIM", "__GFP_NOLOCKDEP")),
    _gfp_era("4.13-4.14", (4, 13), (4, 14), _bits(
        "__GFP_RECLAIMABLE", "__GFP_HIGH", "__GFP_IO", "__GFP_FS", "__GFP_COLD", "__GFP_NOWARN",
        "__GFP_RETRY_MAYFAIL", "__GFP_NOFAIL", "__GFP_NORETRY", "__GFP_MEMALLOC", "__GFP_COMP",
        "__GFP_ZERO", "__GFP_NOMEMALLOC", "__GFP_HARDWALL", "__GFP_THISNODE", "__GFP_ATOMIC",
        "__GFP_ACCOUNT", "__GFP_NOTRACK", "__GFP_DIRECT_RECLAIM", "__GFP_WRITE",
        "__GFP_KSWAPD_RECLAIM", "__GFP_NOLOCKDEP")),
    # 4.15 removed __GFP_COLD and __GFP_NOTRACK; __GFP_WRITE took the 0x100 hole.
    _gfp_era("4.15-4.19", (4, 15), (4, 19), _bits(
        "__GFP_RECLAIMABLE", "__GFP_HIGH", "__GFP_IO", "__GFP_FS", "__GFP_WRITE", "__GFP_NOWARN",
        "__GFP_RETRY_MAYFAIL", "__GFP_NOFAIL", "__GFP_NORETRY", "__GFP_MEMALLOC", "__GFP_COMP",
        "__GFP_ZERO", "__GFP_NOMEMALLOC", "__GFP_HARDWALL", "__GFP_THISNODE", "__GFP_ATOMIC",
        "__GFP_ACCOUNT", "__GFP_DIRECT_RECLAIM", "__GFP_KSWAPD_RECLAIM", "__GFP_NOLOCKDEP")),
    # The reordering that put the reclaim bits next to IO/FS. 4.19-rc7-next still had the old
    # layout and 5.2 the new one; the exact release is not pinned down here, so a log from
    # 4.20-5.1 without printed names decodes as ambiguous between the two eras.
    _gfp_era("4.20-6.2", (4, 20), (6, 2), _bits(
        "__GFP_RECLAIMABLE", "__GFP_HIGH", "__GFP_IO", "__GFP_FS", "__GFP_ZERO", "__GFP_ATOMIC",
        "__GFP_DIRECT_RECLAIM", "__GFP_KSWAPD_RECLAIM", "__GFP_WRITE", "__GFP_NOWARN",
        "__GFP_RETRY_MAYFAIL", "__GFP_NOFAIL", "__GFP_NORETRY", "__GFP_MEMALLOC", "__GFP_COMP",
        "__GFP_NOMEMALLOC", "__GFP_HARDWALL", "__GFP_THISNODE", "__GFP_ACCOUNT",
        "__GFP_ZEROTAGS")),
    # 6.3 dropped __GFP_ATOMIC and left its bit unused.
    _gfp_era("6.3+", (6, 3), (99, 99), _bits(
        "__GFP_RECLAIMABLE", "__GFP_HIGH", "__GFP_IO", "__GFP_FS", "__GFP_ZERO", "",
        "__GFP_DIRECT_RECLAIM", "__GFP_KSWAPD_RECLAIM", "__GFP_WRITE", "__GFP_NOWARN",
        "__GFP_RETRY_MAYFAIL", "__GFP_NOFAIL", "__GFP_NORETRY", "__GFP_MEMALLOC", "__GFP_COMP",
        "__GFP_NOMEMALLOC", "__GFP_HARDWALL", "__GFP_THISNODE", "__GFP_ACCOUNT",
        "__GFP_ZEROTAGS")),
)
_UNCERTAIN_GFP = {(4, 20): ("4.15-4.19", "4.20-6.2"), (5, 0): ("4.15-4.19", "4.20-6.2"),
                  (5, 1): ("4.15-4.19", "4.20-6.2")}


# --- task->flags -----------------------------------------------------------------------------
def _pf_era(name: str, first: Version, last: Version, bits: dict[str, int]) -> Era:
    return Era(name, first, last, tuple(sorted(bits.items(), key=lambda kv: kv[1])))


_PF_COMMON = {
    "PF_EXITING": 0x4, "PF_WQ_WORKER": 0x20, "PF_FORKNOEXEC": 0x40, "PF_MCE_PROCESS": 0x80,
    "PF_SUPERPRIV": 0x100, "PF_DUMPCORE": 0x200, "PF_SIGNALED": 0x400, "PF_MEMALLOC": 0x800,
    "PF_NPROC_EXCEEDED": 0x1000, "PF_USED_MATH": 0x2000, "PF_NOFREEZE": 0x8000,
    "PF_MEMALLOC_NOIO": 0x80000, "PF_KTHREAD": 0x200000, "PF_RANDOMIZE": 0x400000,
    "PF_NO_SETAFFINITY": 0x4000000, "PF_MCE_EARLY": 0x8000000, "PF_SUSPEND_TASK": 0x80000000,
}
PF_ERAS: tuple[Era, ...] = (
    # Until 4.11 XFS marked transactions with PF_FSTRANS and kswapd had the next bit.
    _pf_era("3.x-4.11", (3, 0), (4, 11), {
        **_PF_COMMON, "PF_IDLE": 0x2, "PF_EXITPIDONE": 0x8, "PF_VCPU": 0x10,
        "PF_USED_ASYNC": 0x4000, "PF_FROZEN": 0x10000, "PF_FSTRANS": 0x20000, "PF_KSWAPD": 0x40000,
        "PF_LESS_THROTTLE": 0x100000, "PF_SWAPWRITE": 0x800000, "PF_MUTEX_TESTER": 0x20000000,
        "PF_FREEZER_SKIP": 0x40000000}),
    # 4.12 replaced PF_FSTRANS by PF_MEMALLOC_NOFS, one bit above PF_KSWAPD.
    _pf_era("4.12-5.11", (4, 12), (5, 11), {
        **_PF_COMMON, "PF_IDLE": 0x2, "PF_EXITPIDONE": 0x8, "PF_VCPU": 0x10,
        "PF_USED_ASYNC": 0x4000, "PF_FROZEN": 0x10000, "PF_KSWAPD": 0x20000,
        "PF_MEMALLOC_NOFS": 0x40000, "PF_LESS_THROTTLE": 0x100000, "PF_SWAPWRITE": 0x800000,
        "PF_UMH": 0x2000000, "PF_MEMALLOC_NOCMA": 0x10000000, "PF_FREEZER_SKIP": 0x40000000}),
    _pf_era("5.12+", (5, 12), (99, 99), {
        **_PF_COMMON, "PF_VCPU": 0x1, "PF_IDLE": 0x2, "PF_POSTCOREDUMP": 0x8, "PF_IO_WORKER": 0x10,
        "PF_USER_WORKER": 0x4000, "PF_FROZEN": 0x10000, "PF_KSWAPD": 0x20000,
        "PF_MEMALLOC_NOFS": 0x40000, "PF_LOCAL_THROTTLE": 0x100000, "PF_SWAPWRITE": 0x800000,
        "PF_MEMALLOC_PIN": 0x10000000}),
)
PF_WQ_WORKER = 0x20  # the same bit in every era


# --- the kernel version a log names ----------------------------------------------------------
_VERSION_PATTERNS = (
    re.compile(r"Linux version (\d+)\.(\d+)"),
    re.compile(r"(?:Not tainted|Tainted: [A-Z ]*?)\s+(\d+)\.(\d+)[.\-+ ]"),
    re.compile(r"\(?(\d+)\.(\d+)(?:\.\d+)?[-.][\w.+~-]* #\d+"),
)


def version_in(text: str) -> Version | None:
    for pattern in _VERSION_PATTERNS:
        found = pattern.search(text)
        if found:
            return int(found.group(1)), int(found.group(2))
    return None


def kernel_version(capture: Capture, source: str | None = None) -> Version | None:
    """The first kernel version the log prints (boot banner, ``CPU: ...``, ``Not tainted ...``)."""
    for text in _texts(capture, source):
        found = version_in(text)
        if found:
            return found
    return None


def _texts(capture: Capture, source: str | None) -> Iterator[str]:
    events = capture.events
    if len(events):
        rows = events if source is None else events[events["source"] == source]
        yield from (str(t) for t in rows["text"])
    # The banner and CPU lines need not be events of any kind, so read the inputs once more;
    # only lines that can carry a version are looked at.
    from stallscope.sources.reader import InputError, iter_lines

    for stats in capture.inputs:
        if (source is not None and stats.path != source) or stats.path == "-":
            continue
        try:
            for line in iter_lines(stats.path):
                if "Linux version" in line or "ainted" in line or " #" in line:
                    yield line
        except (InputError, OSError):
            continue


# --- era inference ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EraChoice:
    """Which table(s) decode a log, and why."""

    eras: tuple[Era, ...]
    reason: str

    @property
    def ambiguous(self) -> bool:
        return len(self.eras) != 1


def _by_version(eras: tuple[Era, ...], version: Version, uncertain: dict[Version, tuple[str, ...]]
                ) -> tuple[Era, ...]:
    if version in uncertain:
        return tuple(e for e in eras if e.name in uncertain[version])
    return tuple(e for e in eras if e.covers(version))


def _canon(names: str) -> str:
    """Printed names compared loosely: early OOM headers wrote ``GFP_ZERO`` for ``__GFP_ZERO``."""
    return "|".join(sorted(part.lstrip("_") for part in names.split("|") if part))


def gfp_era(capture: Capture, source: str | None = None, version: Version | None = None) -> EraChoice:
    """The gfp layout of a log: from its kernel version, checked against the names it prints."""
    pairs = list(printed_gfp_pairs(capture, source))
    agree = tuple(e for e in GFP_ERAS if all(_canon(e.decode(m)) == _canon(n) for m, n in pairs))
    version = version or kernel_version(capture, source)
    if version is not None:
        by_version = _by_version(GFP_ERAS, version, _UNCERTAIN_GFP)
        both = tuple(e for e in by_version if not pairs or e in agree)
        if both:
            return EraChoice(both, f"kernel {version[0]}.{version[1]} printed in the log")
    if pairs and agree:
        return EraChoice(agree, f"{len(pairs)} gfp value(s) the log prints with names")
    return EraChoice(GFP_ERAS, "no kernel version and no gfp names in the log")


def printed_gfp_pairs(capture: Capture, source: str | None = None) -> Iterable[tuple[int, str]]:
    tasks = capture.tasks
    if not len(tasks):
        return []
    rows = tasks if source is None else tasks[tasks["source"] == source]
    rows = rows[rows["gfp"].notna() & rows["gfp_names"].notna()]
    pairs = {(int(m), str(n)) for m, n in zip(rows["gfp"], rows["gfp_names"], strict=True)}
    events = capture.events
    if len(events):
        rows = events if source is None else events[events["source"] == source]
        for text in rows["text"]:
            # OOM headers (gfp_mask=) and warn_alloc lines (mode:) print the same pair.
            for found in _PRINTED_MASK.finditer(str(text)):
                pairs.add((int(found.group(1), 16), found.group(2)))
    return pairs


_PRINTED_MASK = re.compile(r"(?:gfp_mask=|mode:)0x([0-9a-f]+)\(([A-Za-z0-9_|]+)\)")


def pf_era(capture: Capture, source: str | None = None, version: Version | None = None) -> EraChoice:
    """The task-flags layout: from the kernel version, else from where kswapd's PF_KSWAPD sits."""
    version = version or kernel_version(capture, source)
    if version is not None:
        return EraChoice(_by_version(PF_ERAS, version, {}), f"kernel {version[0]}.{version[1]}")
    gfp = gfp_era(capture, source)
    eras = PF_ERAS
    if not gfp.ambiguous or len(gfp.eras) < len(GFP_ERAS):
        # The gfp layout narrows the release range, and so the flags layouts that can apply.
        first = min(e.first for e in gfp.eras)
        last = max(e.last for e in gfp.eras)
        eras = tuple(e for e in PF_ERAS if e.first <= last and first <= e.last)
        if len(eras) == 1:
            return EraChoice(eras, f"release range of the gfp layout ({gfp.reason})")
    tasks = capture.tasks
    rows = tasks if source is None else tasks[tasks["source"] == source]
    kswapd = rows[rows["comm"].astype(str).str.startswith("kswapd") & rows["flags"].notna()]
    flags = {int(f) for f in kswapd["flags"]}
    # kswapd always carries PF_KSWAPD: a kswapd line with only one of the two candidate bits
    # says which layout the kernel had.
    if flags and all(f & 0x40000 and not f & 0x20000 for f in flags):
        return EraChoice(PF_ERAS[:1], "PF_KSWAPD at 0x40000 in kswapd's flags")
    if flags and all(f & 0x20000 and not f & 0x40000 for f in flags):
        return EraChoice(tuple(e for e in eras if e is not PF_ERAS[0]) or PF_ERAS[1:],
                         "PF_KSWAPD at 0x20000 in kswapd's flags")
    return EraChoice(eras, "no kernel version; kswapd's flags do not tell")


# --- decoding --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Decoded:
    text: str  # "A|B", or "A|B (4.4-4.9) or C (4.10-4.12)" when the eras disagree
    ambiguous: bool
    how: str  # "printed", or the reason the era was chosen


def decode_with(choice: EraChoice, mask: int) -> Decoded:
    readings: dict[str, list[str]] = {}
    for era in choice.eras:
        readings.setdefault(era.decode(mask), []).append(era.name)
    if len(readings) > 1:
        # An era whose names cover every set bit is a better reading than one that leaves hex.
        clean = {t: e for t, e in readings.items() if "0x" not in t}
        if len(clean) == 1:
            readings = clean
    if len(readings) == 1:
        (text, eras), = readings.items()
        how = choice.reason if not choice.ambiguous else f"every era agrees ({', '.join(eras)})"
        return Decoded(text, False, how)
    # The kernel's names compose compactly in the right era; in a wrong one the same bits fall
    # apart into many single flags. The most compact reading is offered, marked as a guess.
    ranked = sorted(readings.items(), key=lambda item: item[0].count("|"))
    (best, eras), (second, _) = ranked[0], ranked[1]
    others = "; ".join(f"{t} ({', '.join(e)})" for t, e in ranked[1:])
    if best.count("|") < second.count("|"):
        return Decoded(best, True, f"ambiguous ({choice.reason}): most compact reading, era "
                                   f"{', '.join(eras)}; other readings: {others}")
    text = " or ".join(f"{t} ({', '.join(e)})" for t, e in ranked)
    return Decoded(text, True, f"ambiguous: {choice.reason}")


def decode_gfp(mask: int, version: Version | None = None) -> Decoded:
    """One gfp mask, for a known kernel version or (without one) under every era."""
    eras = _by_version(GFP_ERAS, version, _UNCERTAIN_GFP) if version else GFP_ERAS
    reason = f"kernel {version[0]}.{version[1]}" if version else "no kernel version given"
    return decode_with(EraChoice(eras, reason), mask)


def decode_flags(flags: int, version: Version | None = None) -> Decoded:
    eras = _by_version(PF_ERAS, version, {}) if version else PF_ERAS
    reason = f"kernel {version[0]}.{version[1]}" if version else "no kernel version given"
    return decode_with(EraChoice(eras, reason), flags)


def task_gfp_names(capture: Capture) -> pd.DataFrame:
    """Per task row: gfp names as printed, or decoded for the log's era, and how they were got."""
    tasks = capture.tasks
    out = pd.DataFrame(index=tasks.index, columns=["gfp_names", "ambiguous", "how"], dtype=object)
    if not len(tasks):
        return out
    for source in tasks["source"].dropna().unique():
        rows = tasks[tasks["source"] == source]
        choice: EraChoice | None = None
        for index, mask, names in zip(rows.index, rows["gfp"], rows["gfp_names"], strict=True):
            if pd.notna(names):
                out.loc[index] = [str(names), False, "printed"]
            elif pd.notna(mask):
                choice = choice or gfp_era(capture, str(source))
                found = decode_with(choice, int(mask))
                out.loc[index] = [found.text, found.ambiguous, found.how]
    return out


def task_flag_names(capture: Capture) -> pd.DataFrame:
    """Per task row: the PF_* names of ``flags=`` for the log's era."""
    tasks = capture.tasks
    out = pd.DataFrame(index=tasks.index, columns=["flag_names", "ambiguous", "how"], dtype=object)
    for source in tasks["source"].dropna().unique() if len(tasks) else []:
        rows = tasks[(tasks["source"] == source) & tasks["flags"].notna()]
        if not len(rows):
            continue
        choice = pf_era(capture, str(source))
        for index, flags in zip(rows.index, rows["flags"], strict=True):
            found = decode_with(choice, int(flags))
            out.loc[index] = [found.text, found.ambiguous, found.how]
    return out
