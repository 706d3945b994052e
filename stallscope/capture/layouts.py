"""Bit layouts of gfp masks and task flags, one table per range of kernel releases.

Every table below was read from the kernel sources of the releases its era names (listed in
``source``): the ``___GFP_*`` values of include/linux/gfp.h (include/linux/gfp_types.h from 6.0,
an enum of bit numbers from 6.9), the composite masks defined there, and the order in which the
kernel's ``%pGg`` printer names them (``__def_gfpflag_names`` of include/trace/events/mmflags.h,
used by mm/debug.c's ``gfpflag_names`` since 4.6). Task flags are the ``PF_*`` values of
include/linux/sched.h.

Decoding follows lib/vsprintf.c ``format_flags()``: walk the table in order, print each entry
whose bits are all still set and clear them, then print what is left in hex. So composite
masks come out first (``GFP_HIGHUSER_MOVABLE|__GFP_ZERO``), and a bit the printer has no name
for stays hex even when gfp.h defines it (``__GFP_NOLOCKDEP`` before 6.17).

Versions are (major, minor): every 2.6.x release is (2, 6), read from 2.6.32. Kernels before
4.6 print masks in hex only; their names follow the tracepoint table of
include/trace/events/gfpflags.h, spelt and ordered as 4.6 spelt them. Where a change could not
be pinned to one release, :data:`UNCERTAIN_GFP` lists the eras it may belong to.

Configuration: the tables assume CONFIG_NUMA, CONFIG_LOCKDEP (it only names a bit), no
CONFIG_KASAN_HW_TAGS (arm64 MTE debug builds give __GFP_SKIP_* bits of their own and, from
6.9, move __GFP_NOLOCKDEP up) and CONFIG_SLAB_OBJ_EXT from 6.10 (without LOCKDEP its
__GFP_NO_OBJ_EXT takes __GFP_NOLOCKDEP's bit).
"""

from __future__ import annotations

from dataclasses import dataclass

Version = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Era:
    name: str
    first: Version
    last: Version  # inclusive
    names: tuple[tuple[str, int], ...]  # the printer's table, in its order
    source: str = ""  # the kernel sources the values were read from
    layout: int = 0  # every bit the kernel defines in the era, named by the printer or not

    def covers(self, version: Version) -> bool:
        return self.first <= version <= self.last

    def decode(self, mask: int) -> str:
        parts: list[str] = []
        rest = mask
        for name, bits in self.names:
            if not rest:
                break
            if bits and rest & bits == bits:
                parts.append(name)
                rest &= ~bits
        if rest:
            parts.append(hex(rest))
        return "|".join(parts)

    def known(self, mask: int) -> bool:
        """True when every set bit means something in this era (a cheap plausibility test)."""
        covered = self.layout
        for _, bits in self.names:
            covered |= bits
        return mask & ~covered == 0


def _layout(bits: str) -> dict[str, int]:
    """Flag names from bit 0 upward, ``-`` for a bit no flag uses."""
    return {name: 1 << i for i, name in enumerate(bits.split()) if name != "-"}


# --- gfp -------------------------------------------------------------------------------------
def _mask(expression: str, values: dict[str, int]) -> int:
    """``A|B|~C``: the union of the names without ``~``, less those with it (gfp.h's ``& ~``)."""
    keep = drop = 0
    for term in expression.split("|"):
        if term.startswith("~"):
            drop |= values[term[1:]]
        else:
            keep |= values[term]
    return keep & ~drop


# The kernel's composite masks, each in terms of single flags or composites defined above it.
# Before 4.4 one bit (__GFP_WAIT) meant "may sleep and reclaim" and GFP_ATOMIC was __GFP_HIGH alone.
_WAIT_COMPOSITES = {
    "GFP_ATOMIC": "__GFP_HIGH",
    "GFP_NOIO": "__GFP_WAIT",
    "GFP_NOFS": "__GFP_WAIT|__GFP_IO",
    "GFP_KERNEL": "__GFP_WAIT|__GFP_IO|__GFP_FS",
    "GFP_TEMPORARY": "GFP_KERNEL|__GFP_RECLAIMABLE",
    "GFP_USER": "GFP_KERNEL|__GFP_HARDWALL",
    "GFP_HIGHUSER": "GFP_USER|__GFP_HIGHMEM",
    "GFP_HIGHUSER_MOVABLE": "GFP_HIGHUSER|__GFP_MOVABLE",
    # From 2.6.38, when transparent huge pages came with __GFP_NO_KSWAPD.
    "GFP_TRANSHUGE": "GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_NOMEMALLOC|__GFP_NORETRY|__GFP_NOWARN|__GFP_NO_KSWAPD",
    "GFP_DMA": "__GFP_DMA",
    "GFP_DMA32": "__GFP_DMA32",
}
# 4.4 split __GFP_WAIT into __GFP_DIRECT_RECLAIM and __GFP_KSWAPD_RECLAIM.
_RECLAIM_COMPOSITES = {
    "__GFP_RECLAIM": "__GFP_DIRECT_RECLAIM|__GFP_KSWAPD_RECLAIM",
    "GFP_ATOMIC": "__GFP_HIGH|__GFP_ATOMIC|__GFP_KSWAPD_RECLAIM",
    "GFP_KERNEL": "__GFP_RECLAIM|__GFP_IO|__GFP_FS",
    "GFP_KERNEL_ACCOUNT": "GFP_KERNEL|__GFP_ACCOUNT",
    "GFP_NOWAIT": "__GFP_KSWAPD_RECLAIM",
    "GFP_NOIO": "__GFP_RECLAIM",
    "GFP_NOFS": "__GFP_RECLAIM|__GFP_IO",
    "GFP_TEMPORARY": "GFP_KERNEL|__GFP_RECLAIMABLE",
    "GFP_USER": "GFP_KERNEL|__GFP_HARDWALL",
    "GFP_DMA": "__GFP_DMA",
    "GFP_DMA32": "__GFP_DMA32",
    "GFP_HIGHUSER": "GFP_USER|__GFP_HIGHMEM",
    "GFP_HIGHUSER_MOVABLE": "GFP_HIGHUSER|__GFP_MOVABLE",
    "GFP_TRANSHUGE_LIGHT": "GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_NOMEMALLOC|__GFP_NOWARN|~__GFP_RECLAIM",
    "GFP_TRANSHUGE": "GFP_TRANSHUGE_LIGHT|__GFP_DIRECT_RECLAIM",
}
_THP_44 = "GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_NOMEMALLOC|__GFP_NORETRY|__GFP_NOWARN|~__GFP_KSWAPD_RECLAIM"
_THP_46 = "GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_NOMEMALLOC|__GFP_NORETRY|__GFP_NOWARN|~__GFP_RECLAIM"

# The printer's order, 4.6-6.16 (mmflags.h): composites, then single flags in a fixed order that
# only lost and gained names over the years. An era prints the names it defines, in this order.
# For the eras before 4.6 (no printer) the tracepoint's names are slotted in where 4.6 had them.
_MMFLAGS_ORDER = (
    "GFP_TRANSHUGE", "GFP_TRANSHUGE_LIGHT", "GFP_HIGHUSER_MOVABLE", "GFP_HIGHUSER", "GFP_USER",
    "GFP_TEMPORARY", "GFP_KERNEL_ACCOUNT", "GFP_KERNEL", "GFP_NOFS", "GFP_ATOMIC", "GFP_NOIO",
    "GFP_NOWAIT", "GFP_DMA", "__GFP_HIGHMEM", "GFP_DMA32", "__GFP_HIGH", "__GFP_WAIT", "__GFP_ATOMIC",
    "__GFP_IO", "__GFP_FS", "__GFP_COLD", "__GFP_NOWARN", "__GFP_REPEAT", "__GFP_RETRY_MAYFAIL",
    "__GFP_NOFAIL", "__GFP_NORETRY", "__GFP_COMP", "__GFP_ZERO", "__GFP_NOMEMALLOC", "__GFP_MEMALLOC",
    "__GFP_HARDWALL", "__GFP_THISNODE", "__GFP_RECLAIMABLE", "__GFP_KMEMCG", "__GFP_MOVABLE",
    "__GFP_NOACCOUNT", "__GFP_ACCOUNT", "__GFP_NOTRACK", "__GFP_NO_KSWAPD", "__GFP_WRITE",
    "__GFP_RECLAIM", "__GFP_DIRECT_RECLAIM", "__GFP_KSWAPD_RECLAIM", "__GFP_OTHER_NODE",
    "__GFP_ZEROTAGS", "__GFP_SKIP_KASAN_POISON",
)
# 6.17 (mmflags.h's TRACE_GFP_FLAGS): composites, then every single flag in bit order.
_BIT_ORDER_COMPOSITES = (
    "GFP_TRANSHUGE", "GFP_TRANSHUGE_LIGHT", "GFP_HIGHUSER_MOVABLE", "GFP_HIGHUSER", "GFP_USER",
    "GFP_KERNEL_ACCOUNT", "GFP_KERNEL", "GFP_NOFS", "GFP_ATOMIC", "GFP_NOIO", "GFP_NOWAIT", "GFP_DMA",
    "GFP_DMA32", "__GFP_RECLAIM",
)


def _gfp_era(name: str, first: Version, last: Version, source: str, bits: str, composites: dict[str, str],
             *, bit_order: bool = False, also: int = 0) -> Era:
    """One era: ``bits`` its ``___GFP_*`` layout from bit 0 (see :func:`_layout`), ``also`` bits
    some of its releases put elsewhere (unnamed ones, such as __GFP_NOLOCKDEP's moves)."""
    values = {f"__GFP_{flag}": bit for flag, bit in _layout(bits).items()}
    singles = dict(values)
    for composite, expression in composites.items():  # each built from those above it
        values[composite] = _mask(expression, values)
    order = [*_BIT_ORDER_COMPOSITES, *sorted(singles, key=singles.__getitem__)] if bit_order else _MMFLAGS_ORDER
    layout = also
    for bit in singles.values():
        layout |= bit
    return Era(name, first, last, tuple((n, values[n]) for n in order if n in values), source, layout)


def _reclaim(**changes: str | None) -> dict[str, str]:
    """The 4.4+ composites with some redefined (a value) or gone (None); order is kept."""
    out = {k: changes.get(k, v) for k, v in _RECLAIM_COMPOSITES.items()}
    return {k: v for k, v in out.items() if v is not None}


def _without(composites: dict[str, str], *gone: str) -> dict[str, str]:
    return {k: v for k, v in composites.items() if k not in gone}


_BITS_2632 = ("DMA HIGHMEM DMA32 MOVABLE WAIT HIGH IO FS COLD NOWARN REPEAT NOFAIL NORETRY MEMALLOC COMP ZERO "
              "NOMEMALLOC HARDWALL THISNODE RECLAIMABLE KMEMCG NOTRACK NO_KSWAPD OTHER_NODE WRITE")
_BITS_44 = ("DMA HIGHMEM DMA32 MOVABLE RECLAIMABLE HIGH IO FS COLD NOWARN REPEAT NOFAIL NORETRY MEMALLOC COMP "
            "ZERO NOMEMALLOC HARDWALL THISNODE ATOMIC NOACCOUNT NOTRACK DIRECT_RECLAIM OTHER_NODE WRITE "
            "KSWAPD_RECLAIM")
_BITS_410 = ("DMA HIGHMEM DMA32 MOVABLE RECLAIMABLE HIGH IO FS COLD NOWARN REPEAT NOFAIL NORETRY MEMALLOC COMP "
             "ZERO NOMEMALLOC HARDWALL THISNODE ATOMIC ACCOUNT NOTRACK DIRECT_RECLAIM WRITE KSWAPD_RECLAIM "
             "NOLOCKDEP")
_BITS_418 = ("DMA HIGHMEM DMA32 MOVABLE RECLAIMABLE HIGH IO FS WRITE NOWARN RETRY_MAYFAIL NOFAIL NORETRY MEMALLOC "
             "COMP ZERO NOMEMALLOC HARDWALL THISNODE ATOMIC ACCOUNT DIRECT_RECLAIM KSWAPD_RECLAIM NOLOCKDEP")
_BITS_52 = ("DMA HIGHMEM DMA32 MOVABLE RECLAIMABLE HIGH IO FS ZERO ATOMIC DIRECT_RECLAIM KSWAPD_RECLAIM WRITE "
            "NOWARN RETRY_MAYFAIL NOFAIL NORETRY MEMALLOC COMP NOMEMALLOC HARDWALL THISNODE ACCOUNT")

GFP_ERAS: tuple[Era, ...] = (
    # 0x100000 was __GFP_KMEMCG in 3.8-3.15 (3.10.99 has it, 3.19.8 not) and __GFP_NOACCOUNT in
    # 4.1-4.3. Bits added later in the range (NO_KSWAPD and OTHER_NODE 2.6.38, WRITE 3.2,
    # MEMALLOC 3.6) are named for the whole era: an older kernel never sets them.
    _gfp_era("2.6-3.18", (2, 6), (3, 18), "2.6.32.9, 3.4.39, 3.10.99", _BITS_2632, _WAIT_COMPOSITES),
    _gfp_era("3.19-4.3", (3, 19), (4, 3), "3.19.8, 4.1.2, 4.2.8",
             _BITS_2632.replace("KMEMCG", "NOACCOUNT"), _WAIT_COMPOSITES),
    # 4.4: the reclaim bits; __GFP_RECLAIMABLE moved to 0x10. No GFP_KERNEL_ACCOUNT yet.
    _gfp_era("4.4", (4, 4), (4, 4), "4.4", _BITS_44,
             _reclaim(GFP_KERNEL_ACCOUNT=None, GFP_TRANSHUGE_LIGHT=None, GFP_TRANSHUGE=_THP_44)),
    # 4.5 renamed __GFP_NOACCOUNT to __GFP_ACCOUNT (with the opposite sense).
    _gfp_era("4.5", (4, 5), (4, 5), "4.5", _BITS_44.replace("NOACCOUNT", "ACCOUNT"),
             _reclaim(GFP_TRANSHUGE_LIGHT=None, GFP_TRANSHUGE=_THP_44)),
    # 4.6: the %pGg printer; GFP_TRANSHUGE without any reclaim bit.
    _gfp_era("4.6-4.7", (4, 6), (4, 7), "4.6.2, 4.7.4", _BITS_44.replace("NOACCOUNT", "ACCOUNT"),
             _reclaim(GFP_TRANSHUGE_LIGHT=None, GFP_TRANSHUGE=_THP_46)),
    _gfp_era("4.8-4.9", (4, 8), (4, 9), "4.8.15, 4.9", _BITS_44.replace("NOACCOUNT", "ACCOUNT"), _reclaim()),
    # 4.10 dropped __GFP_OTHER_NODE: WRITE and KSWAPD_RECLAIM moved down one bit. 4.12 added
    # __GFP_NOLOCKDEP (0x2000000), which the printer never names until 6.17.
    _gfp_era("4.10-4.12", (4, 10), (4, 12), "4.10.17, 4.11, 4.12", _BITS_410, _reclaim()),
    # 4.13 renamed __GFP_REPEAT to __GFP_RETRY_MAYFAIL; 4.14 removed GFP_TEMPORARY.
    _gfp_era("4.13", (4, 13), (4, 13), "4.13.4", _BITS_410.replace("REPEAT", "RETRY_MAYFAIL"), _reclaim()),
    _gfp_era("4.14", (4, 14), (4, 14), "4.14.177", _BITS_410.replace("REPEAT", "RETRY_MAYFAIL"),
             _reclaim(GFP_TEMPORARY=None)),
    # 4.15 removed __GFP_COLD and __GFP_NOTRACK and left their bits unused.
    _gfp_era("4.15-4.17", (4, 15), (4, 17), "4.15.18, 4.16.13, 4.17",
             _BITS_410.replace("REPEAT", "RETRY_MAYFAIL").replace("COLD", "-").replace("NOTRACK", "-"),
             _reclaim(GFP_TEMPORARY=None)),
    # 4.18 closed the holes ("mm: save two stranding bit in gfp_mask").
    _gfp_era("4.18-5.0", (4, 18), (5, 0), "4.18, 4.19.304, 4.20, 5.0.1", _BITS_418, _reclaim(GFP_TEMPORARY=None)),
    # The reordering that put ZERO and the reclaim bits next to IO/FS: after 5.0.1, by 5.2.1.
    _gfp_era("5.2-5.13", (5, 2), (5, 13), "5.2.1, 5.3, 5.4, 5.10.7, 5.11, 5.12.9", _BITS_52 + " NOLOCKDEP",
             _reclaim(GFP_TEMPORARY=None)),
    # 5.14 added __GFP_ZEROTAGS and __GFP_SKIP_KASAN_POISON, the latter set in every
    # GFP_HIGHUSER_MOVABLE whatever the configuration (so 0x1100cca).
    _gfp_era("5.14-5.17", (5, 14), (5, 17), "5.14-rc5, 5.14.2, 5.15.55, 5.16.10, 5.17-rc5",
             _BITS_52 + " ZEROTAGS SKIP_KASAN_POISON NOLOCKDEP",
             _reclaim(GFP_TEMPORARY=None, GFP_HIGHUSER_MOVABLE="GFP_HIGHUSER|__GFP_MOVABLE|__GFP_SKIP_KASAN_POISON")),
    # 5.18: the __GFP_SKIP_* bits exist only with CONFIG_KASAN_HW_TAGS; NOLOCKDEP is 0x8000000.
    _gfp_era("5.18-6.2", (5, 18), (6, 2), "5.18.12, 5.19, 6.0-rc1, 6.2.12",
             _BITS_52 + " ZEROTAGS - - - NOLOCKDEP", _reclaim(GFP_TEMPORARY=None)),
    # 6.3 dropped __GFP_ATOMIC and left 0x200 unused; 6.4 moved NOLOCKDEP to 0x4000000.
    _gfp_era("6.3-6.6", (6, 3), (6, 6), "6.3.8, 6.4.6, 6.5, 6.6.47",
             _BITS_52.replace("ATOMIC", "-") + " ZEROTAGS - - NOLOCKDEP",
             _reclaim(GFP_TEMPORARY=None, GFP_ATOMIC="__GFP_HIGH|__GFP_KSWAPD_RECLAIM"), also=0x8000000),
    # GFP_NOWAIT gained __GFP_NOWARN (in 6.8; 6.6.47 lacks it). 6.9 numbered the bits with an
    # enum (NOLOCKDEP 0x1000000), 6.10 added __GFP_NO_OBJ_EXT (0x2000000): neither is printed.
    _gfp_era("6.8-6.14", (6, 8), (6, 14), "6.8, 6.9, 6.12, 6.13.7, 6.14",
             _BITS_52.replace("ATOMIC", "-") + " ZEROTAGS NOLOCKDEP NO_OBJ_EXT",
             _reclaim(GFP_TEMPORARY=None, GFP_ATOMIC="__GFP_HIGH|__GFP_KSWAPD_RECLAIM",
                      GFP_NOWAIT="__GFP_KSWAPD_RECLAIM|__GFP_NOWARN"), also=0x4000000),
    # The printer now names every single bit, in bit order, after the composites.
    _gfp_era("6.17+", (6, 17), (99, 99), "6.17.0, 6.18.2",
             _BITS_52.replace("ATOMIC", "-") + " ZEROTAGS NOLOCKDEP NO_OBJ_EXT",
             _reclaim(GFP_TEMPORARY=None, GFP_ATOMIC="__GFP_HIGH|__GFP_KSWAPD_RECLAIM",
                      GFP_NOWAIT="__GFP_KSWAPD_RECLAIM|__GFP_NOWARN"), bit_order=True),
)
# Releases whose sources were not read and that fall between two eras that differ.
UNCERTAIN_GFP: dict[Version, tuple[str, ...]] = {
    (5, 1): ("4.18-5.0", "5.2-5.13"),
    (5, 13): ("5.2-5.13", "5.14-5.17"),
    (6, 7): ("6.3-6.6", "6.8-6.14"),
    (6, 15): ("6.8-6.14", "6.17+"),
    (6, 16): ("6.8-6.14", "6.17+"),
}


# --- task->flags -----------------------------------------------------------------------------
def _pf_era(name: str, first: Version, last: Version, source: str, bits: str) -> Era:
    """``bits``: the PF_* names from bit 0 to bit 31 (see :func:`_layout`)."""
    flags = {f"PF_{flag}": bit for flag, bit in _layout(bits).items()}
    layout = 0
    for bit in flags.values():
        layout |= bit
    return Era(name, first, last, tuple(flags.items()), source, layout)


# Where two releases of an era differ only by a flag added or removed (no bit changing its
# meaning), the era names it: a kernel without the flag never sets that bit.
PF_ERAS: tuple[Era, ...] = (
    # PF_WQ_WORKER from 2.6.36.
    _pf_era("2.6-3.0", (2, 6), (3, 0), "2.6.32.9",
            "ALIGNWARN STARTING EXITING EXITPIDONE VCPU WQ_WORKER FORKNOEXEC MCE_PROCESS SUPERPRIV DUMPCORE "
            "SIGNALED MEMALLOC FLUSHER USED_MATH FREEZING NOFREEZE FROZEN FSTRANS KSWAPD OOM_ORIGIN "
            "LESS_THROTTLE KTHREAD RANDOMIZE SWAPWRITE SPREAD_PAGE SPREAD_SLAB THREAD_BOUND MCE_EARLY "
            "MEMPOLICY MUTEX_TESTER FREEZER_SKIP FREEZER_NOSIG"),
    # PF_MEMALLOC_NOIO from 3.9.
    _pf_era("3.1-3.9", (3, 1), (3, 9), "3.4.39",
            "- - EXITING EXITPIDONE VCPU WQ_WORKER FORKNOEXEC MCE_PROCESS SUPERPRIV DUMPCORE SIGNALED "
            "MEMALLOC NPROC_EXCEEDED USED_MATH - NOFREEZE FROZEN FSTRANS KSWAPD MEMALLOC_NOIO LESS_THROTTLE "
            "KTHREAD RANDOMIZE SWAPWRITE SPREAD_PAGE SPREAD_SLAB THREAD_BOUND MCE_EARLY MEMPOLICY "
            "MUTEX_TESTER FREEZER_SKIP -"),
    _pf_era("3.10-4.9", (3, 10), (4, 9), "3.10.99, 3.19.8, 4.1.2, 4.2.8, 4.4-4.9",
            "- - EXITING EXITPIDONE VCPU WQ_WORKER FORKNOEXEC MCE_PROCESS SUPERPRIV DUMPCORE SIGNALED "
            "MEMALLOC NPROC_EXCEEDED USED_MATH USED_ASYNC NOFREEZE FROZEN FSTRANS KSWAPD MEMALLOC_NOIO "
            "LESS_THROTTLE KTHREAD RANDOMIZE SWAPWRITE SPREAD_PAGE SPREAD_SLAB NO_SETAFFINITY MCE_EARLY "
            "MEMPOLICY MUTEX_TESTER FREEZER_SKIP SUSPEND_TASK"),
    _pf_era("4.10-4.11", (4, 10), (4, 11), "4.10.17, 4.11",
            "- IDLE EXITING EXITPIDONE VCPU WQ_WORKER FORKNOEXEC MCE_PROCESS SUPERPRIV DUMPCORE SIGNALED "
            "MEMALLOC NPROC_EXCEEDED USED_MATH USED_ASYNC NOFREEZE FROZEN FSTRANS KSWAPD MEMALLOC_NOIO "
            "LESS_THROTTLE KTHREAD RANDOMIZE SWAPWRITE - - NO_SETAFFINITY MCE_EARLY - MUTEX_TESTER "
            "FREEZER_SKIP SUSPEND_TASK"),
    # 4.12 replaced PF_FSTRANS by PF_MEMALLOC_NOFS, one bit above a lowered PF_KSWAPD.
    # PF_MEMSTALL from 4.20, PF_UMH from 5.0, PF_MEMALLOC_NOCMA from 5.2 (MUTEX_TESTER gone).
    _pf_era("4.12-5.4", (4, 12), (5, 4), "4.12-4.20, 5.0.1, 5.2.1, 5.3, 5.4",
            "- IDLE EXITING EXITPIDONE VCPU WQ_WORKER FORKNOEXEC MCE_PROCESS SUPERPRIV DUMPCORE SIGNALED "
            "MEMALLOC NPROC_EXCEEDED USED_MATH USED_ASYNC NOFREEZE FROZEN KSWAPD MEMALLOC_NOFS MEMALLOC_NOIO "
            "LESS_THROTTLE KTHREAD RANDOMIZE SWAPWRITE MEMSTALL UMH NO_SETAFFINITY MCE_EARLY MEMALLOC_NOCMA "
            "MUTEX_TESTER FREEZER_SKIP SUSPEND_TASK"),
    # PF_IO_WORKER at 0x20000000; PF_EXITPIDONE gone. 5.8 renamed PF_LESS_THROTTLE.
    _pf_era("5.5-5.7", (5, 5), (5, 7), "5.7.14",
            "- IDLE EXITING - VCPU WQ_WORKER FORKNOEXEC MCE_PROCESS SUPERPRIV DUMPCORE SIGNALED MEMALLOC "
            "NPROC_EXCEEDED USED_MATH USED_ASYNC NOFREEZE FROZEN KSWAPD MEMALLOC_NOFS MEMALLOC_NOIO "
            "LESS_THROTTLE KTHREAD RANDOMIZE SWAPWRITE MEMSTALL UMH NO_SETAFFINITY MCE_EARLY MEMALLOC_NOCMA "
            "IO_WORKER FREEZER_SKIP SUSPEND_TASK"),
    _pf_era("5.8-5.9", (5, 8), (5, 9), "5.8.1, 5.9.1",
            "- IDLE EXITING - VCPU WQ_WORKER FORKNOEXEC MCE_PROCESS SUPERPRIV DUMPCORE SIGNALED MEMALLOC "
            "NPROC_EXCEEDED USED_MATH USED_ASYNC NOFREEZE FROZEN KSWAPD MEMALLOC_NOFS MEMALLOC_NOIO "
            "LOCAL_THROTTLE KTHREAD RANDOMIZE SWAPWRITE MEMSTALL UMH NO_SETAFFINITY MCE_EARLY MEMALLOC_NOCMA "
            "IO_WORKER FREEZER_SKIP SUSPEND_TASK"),
    # 5.10 moved PF_VCPU to bit 0 and PF_IO_WORKER to 0x10; PF_MEMALLOC_NOCMA became _PIN in 5.14.
    _pf_era("5.10-5.13", (5, 10), (5, 13), "5.10.7, 5.11, 5.12.9",
            "VCPU IDLE EXITING - IO_WORKER WQ_WORKER FORKNOEXEC MCE_PROCESS SUPERPRIV DUMPCORE SIGNALED "
            "MEMALLOC NPROC_EXCEEDED USED_MATH USED_ASYNC NOFREEZE FROZEN KSWAPD MEMALLOC_NOFS MEMALLOC_NOIO "
            "LOCAL_THROTTLE KTHREAD RANDOMIZE SWAPWRITE - - NO_SETAFFINITY MCE_EARLY MEMALLOC_NOCMA - "
            "FREEZER_SKIP SUSPEND_TASK"),
    _pf_era("5.14-5.15", (5, 14), (5, 15), "5.14.2, 5.15.55",
            "VCPU IDLE EXITING - IO_WORKER WQ_WORKER FORKNOEXEC MCE_PROCESS SUPERPRIV DUMPCORE SIGNALED "
            "MEMALLOC NPROC_EXCEEDED USED_MATH USED_ASYNC NOFREEZE FROZEN KSWAPD MEMALLOC_NOFS MEMALLOC_NOIO "
            "LOCAL_THROTTLE KTHREAD RANDOMIZE SWAPWRITE - - NO_SETAFFINITY MCE_EARLY MEMALLOC_PIN - "
            "FREEZER_SKIP SUSPEND_TASK"),
    # PF_POSTCOREDUMP from 5.16; PF_USED_ASYNC gone in 5.17, PF_SWAPWRITE in 5.18. 6.1 was not
    # read: the freezer rewrite dropped PF_FROZEN and PF_FREEZER_SKIP by 6.2.
    _pf_era("5.16-6.1", (5, 16), (6, 1), "5.16.10, 5.17-rc5, 5.18.12, 5.19, 6.0-rc1",
            "VCPU IDLE EXITING POSTCOREDUMP IO_WORKER WQ_WORKER FORKNOEXEC MCE_PROCESS SUPERPRIV DUMPCORE "
            "SIGNALED MEMALLOC NPROC_EXCEEDED USED_MATH USED_ASYNC NOFREEZE FROZEN KSWAPD MEMALLOC_NOFS "
            "MEMALLOC_NOIO LOCAL_THROTTLE KTHREAD RANDOMIZE SWAPWRITE - - NO_SETAFFINITY MCE_EARLY "
            "MEMALLOC_PIN - FREEZER_SKIP SUSPEND_TASK"),
    _pf_era("6.2-6.3", (6, 2), (6, 3), "6.2.12, 6.3.8",
            "VCPU IDLE EXITING POSTCOREDUMP IO_WORKER WQ_WORKER FORKNOEXEC MCE_PROCESS SUPERPRIV DUMPCORE "
            "SIGNALED MEMALLOC NPROC_EXCEEDED USED_MATH - NOFREEZE - KSWAPD MEMALLOC_NOFS MEMALLOC_NOIO "
            "LOCAL_THROTTLE KTHREAD RANDOMIZE - - - NO_SETAFFINITY MCE_EARLY MEMALLOC_PIN - - SUSPEND_TASK"),
    # PF_USER_WORKER from 6.4, PF_BLOCK_TS from 6.9 (6.8 lacks it).
    _pf_era("6.4-6.12", (6, 4), (6, 12), "6.4.6, 6.5, 6.6.47, 6.8, 6.12",
            "VCPU IDLE EXITING POSTCOREDUMP IO_WORKER WQ_WORKER FORKNOEXEC MCE_PROCESS SUPERPRIV DUMPCORE "
            "SIGNALED MEMALLOC NPROC_EXCEEDED USED_MATH USER_WORKER NOFREEZE - KSWAPD MEMALLOC_NOFS "
            "MEMALLOC_NOIO LOCAL_THROTTLE KTHREAD RANDOMIZE - - - NO_SETAFFINITY MCE_EARLY MEMALLOC_PIN "
            "BLOCK_TS - SUSPEND_TASK"),
    _pf_era("6.13+", (6, 13), (99, 99), "6.13.7, 6.14, 6.17.0, 6.18.2",
            "VCPU IDLE EXITING POSTCOREDUMP IO_WORKER WQ_WORKER FORKNOEXEC MCE_PROCESS SUPERPRIV DUMPCORE "
            "SIGNALED MEMALLOC NPROC_EXCEEDED USED_MATH USER_WORKER NOFREEZE KCOMPACTD KSWAPD MEMALLOC_NOFS "
            "MEMALLOC_NOIO LOCAL_THROTTLE KTHREAD RANDOMIZE - - - NO_SETAFFINITY MCE_EARLY MEMALLOC_PIN "
            "BLOCK_TS - SUSPEND_TASK"),
)
PF_WQ_WORKER = 0x20  # the same bit from 2.6.36 (workqueue workers began then) to today
