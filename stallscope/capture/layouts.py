"""Bit layouts of gfp masks and task flags, one table per range of kernel releases.

Each era is include/linux/gfp.h (gfp_types.h from 6.0) or include/linux/sched.h as it stood for
a range of releases. Names come out the way the kernel's ``%pGg`` prints them: compound names
first, in the kernel's table order, then single flags, then any unknown remainder in hex.
Checked against the hex+names pairs the corpus logs print (2016: 0x24280ca, 2017: 0x14280ca,
6.1: 0x140dca for GFP_HIGHUSER_MOVABLE|__GFP_ZERO(|__GFP_COMP)).
"""

from __future__ import annotations

from dataclasses import dataclass

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
UNCERTAIN_GFP = {(4, 20): ("4.15-4.19", "4.20-6.2"), (5, 0): ("4.15-4.19", "4.20-6.2"),
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
