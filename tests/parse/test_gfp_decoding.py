"""gfp and task-flag tables against what real kernels printed (tests/data, tests/data/wild).

A log that prints a gfp mask both in hex and with names (``gfp=0x24201ca(GFP_HIGHUSER_MOVABLE|__GFP_COLD)``
on MemAlloc lines, ``gfp_mask=0x..(..)`` in OOM headers, ``mode:0x..(..)`` on warn_alloc lines) is
the kernel's own decoding: the era its kernel version selects must print exactly those names,
in the kernel's order. Logs of the same layout that print the mask in hex only must then decode
to the same names.
"""

from __future__ import annotations

import itertools
import pickle
import re
from functools import cache
from pathlib import Path

import pytest

from stallscope.api import load
from stallscope.capture.decode import decode_flags, decode_gfp, era_span, gfp_era, kernel_version, task_gfp_names
from stallscope.capture.layouts import GFP_ERAS, PF_ERAS, UNCERTAIN_GFP, Era, Version
from stallscope.capture.model import Capture

DATA = Path(__file__).resolve().parents[1] / "data"
PRINTED = re.compile(r"(?:gfp=|gfp_mask=|mode:)0x([0-9a-f]+)\(([A-Za-z0-9_|]*)\)")
HEX_ONLY = re.compile(r"(?:gfp=|gfp_mask=|mode:)0x([0-9a-f]+)(?![0-9a-f(])")

# Kernel versions of logs in which the reader finds none (no banner, or a "Tainted:" line the
# paste wrapped), as their sources state them: tests/data/wild/SOURCES.md and, for lkml/, the
# mails the logs come from. A linux-next tree calls itself after the release it follows
# (next-20160209 is 4.5.0-rc3-next-20160209).
STATED: dict[str, Version] = {
    "2016-02-09_too-many-isolated-no-oom-livelock.log": (4, 5),  # linux-next-20160209
    "2016-04-05_oom-livelock-xfs-nofs-noio.log": (4, 6),  # Linux 4.6-rc2
    "2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log": (4, 10),  # linux-next-20170221
    "2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log": (4, 10),  # linux-next-20170221
    "2017-03-03_wq-mem-reclaim-xfs-rescuer.log": (4, 10),  # linux-next-20170221
    "2016-02-11_kswapd-blocked-xfs-buf-lock-dirty-writeback-too-many-isolated.log": (4, 5),  # next-20160209
    "2016-02-25_oom-livelock-exiting-task-taskstats-exit-oom-scan-abort.log": (4, 5),  # next-20160224
    "2016-12-14_oom-lock-holder-stuck-in-printk-console-unlock-oom-kill-process.log": (4, 9),  # 4.9.0+
    "2019-03-26_real-rpi3-armv7-python3-page-allocation-stalls-10060ms.log": (4, 14),  # 4.14.79-v7+
    "2020-06-16_real-android-arm64-binder-gfp-atomic-failure-highatomic-reserve.log": (4, 19),  # "v4.19 based"
    "2016-01-19_ltp-oom01-hang-no-oom-kill-seq-frozen-after-last-oom.log": (4, 4),  # v4.4-8606
    "2016-01-22_ltp-oom01-mlock-exiting-task-stuck-swapin-in-do-exit-no-oom.log": (4, 4),  # v4.4-8606
    "2015-11-12_real-rsnapshot-xfs-md-server-4-1-2-free-below-min-finite-stalls-vmstat-pending.log": (4, 1),
}


def _logs() -> list[Path]:
    return sorted(DATA.rglob("*.log"))


def _printed(path: Path) -> set[tuple[int, str]]:
    return {(int(mask, 16), names) for mask, names in PRINTED.findall(path.read_text(errors="replace"))}


@cache
def _capture(path: Path) -> Capture:
    return load(str(path))


def _version(path: Path) -> Version | None:
    return kernel_version(_capture(path)) or STATED.get(path.name)


def _eras(version: Version) -> tuple[Era, ...]:
    assert version not in UNCERTAIN_GFP, "a log of a release the sources did not settle: pick another"
    return tuple(era for era in GFP_ERAS if era.covers(version))


def _spelt_as_printed(names: str, era: Era) -> str:
    """Tables of early 2016 linux-next (before 4.6's mmflags.h) wrote ``GFP_ZERO`` for ``__GFP_ZERO``."""
    known = dict(era.names)
    return "|".join(f"__{n}" if n not in known and f"__{n}" in known else n for n in names.split("|") if n)


PAIR_LOGS = [path for path in _logs() if _printed(path)]


def test_the_corpus_prints_names_in_every_layout_family() -> None:
    # The check below is only as good as its coverage: 4.4-4.9, 4.10-4.12, 4.18-5.0, 5.2+ and 6.x
    # kernels each print names somewhere in tests/data.
    covered = {era.name for path in PAIR_LOGS if (v := _version(path)) for era in _eras(v)}
    assert {"4.5", "4.6-4.7", "4.8-4.9", "4.10-4.12", "4.14", "4.15-4.17", "4.18-5.0", "5.2-5.13",
            "5.18-6.2", "6.8-6.14"} <= covered
    assert len(PAIR_LOGS) >= 40


@pytest.mark.parametrize("path", PAIR_LOGS, ids=[p.name for p in PAIR_LOGS])
def test_printed_names_are_what_the_era_decodes(path: Path) -> None:
    printed = _printed(path)
    capture = _capture(path)
    version = _version(path)
    if version is None:
        # Neither printed nor stated: the names must select eras, and those eras print them all.
        choice = gfp_era(capture)
        assert "names" in choice.reason, choice.reason
        eras = choice.eras
    else:
        eras = _eras(version)
        assert len(eras) == 1
        # Inference from the log agrees: its version and its names point at the same table.
        assert gfp_era(capture, version=version).eras == eras
    for era in eras:
        for mask, names in sorted(printed):
            assert era.decode(mask) == _spelt_as_printed(names, era), (era.name, hex(mask))


def _printed_for(mask: int, log: str) -> str:
    path = next(DATA.rglob(log))
    return dict(_printed(path))[mask]


@pytest.mark.parametrize(
    ("mask", "printed_by"),
    [
        (0x2400000, "2016-04-05_oom-livelock-xfs-nofs-noio.log"),  # 4.6-rc2: GFP_NOIO
        (0x24201ca, "2016-02-09_too-many-isolated-no-oom-livelock.log"),  # 4.5-next
        (0x2080020, "2019-05-31_real-arm32-rza1-64mb-netcat-gfp-atomic-failure-writeback.log"),  # 4.9.123
        (0x24280ca, "2016-11-02_real-btrfs-rsync-32gb-oom-pagecache-all-unreclaimable.log"),  # 4.9
    ],
)
def test_hex_only_masks_of_4_4_to_4_9_decode_as_their_kernels_print_them(mask: int, printed_by: str) -> None:
    names = _printed_for(mask, printed_by)
    for version in ((4, 4), (4, 5), (4, 6), (4, 7), (4, 8), (4, 9)):
        found = decode_gfp(mask, version)
        assert found.text == names and not found.ambiguous
    # From 4.10 the same request is another value (__GFP_OTHER_NODE's bit was dropped): the 4.4
    # value does not decode cleanly there, which is how a log's era shows in its masks.
    assert "0x" in decode_gfp(mask, (4, 10)).text


HEX_LOGS = [path for path in _logs() if HEX_ONLY.search(path.read_text(errors="replace")) and _version(path)]


@pytest.mark.parametrize("path", HEX_LOGS, ids=[p.name for p in HEX_LOGS])
def test_every_hex_only_mask_of_a_known_kernel_decodes_fully(path: Path) -> None:
    # A mask left partly in hex would mean a bit the table does not know for that release.
    version = _version(path)
    assert version is not None
    for mask in {int(m, 16) for m in HEX_ONLY.findall(path.read_text(errors="replace"))}:
        found = decode_gfp(mask, version)
        assert "0x" not in found.text and not found.ambiguous, (hex(mask), found.text)


def test_real_4_4_hex_only_lines_get_the_names_their_layout_prints() -> None:
    # wild/2023-06-21 (4.4.0-1128-aws) prints "gfp_mask=0x24201ca, order=0" in its OOM header;
    # wild/2016-01-19 (v4.4-8606) MemAlloc lines print gfp=0x2400000 and gfp=0x24201ca.
    assert decode_gfp(0x24201CA, _version(next(DATA.rglob("2023-06-21_*.log")))).text == _printed_for(
        0x24201CA, "2016-02-09_too-many-isolated-no-oom-livelock.log")
    log = next(DATA.rglob("2016-01-19_*.log"))
    names = task_gfp_names(_capture(log))  # no version in the log: the compact reading, said so
    decoded = dict(zip(_capture(log).tasks["gfp"].astype(int), names["gfp_names"], strict=True))
    assert decoded[0x2400000] == _printed_for(0x2400000, "2016-04-05_oom-livelock-xfs-nofs-noio.log")
    assert decoded[0x24201CA] == _printed_for(0x24201CA, "2016-02-09_too-many-isolated-no-oom-livelock.log")
    assert set(names["ambiguous"]) == {True} and "4.4-4.9" in names["how"].iloc[0]


# --- the tables themselves ---------------------------------------------------------------------
# The last minor release of each major one: the release after it is (major + 1, 0).
_LAST_MINOR = {2: 6, 3: 19, 4: 20, 5: 19}


def _next(version: Version) -> Version:
    return (version[0] + 1, 0) if _LAST_MINOR.get(version[0]) == version[1] else (version[0], version[1] + 1)


@pytest.mark.parametrize(("eras", "uncertain"), [(GFP_ERAS, UNCERTAIN_GFP), (PF_ERAS, {})], ids=["gfp", "pf"])
def test_eras_cover_every_release_once(eras: tuple[Era, ...], uncertain: dict[Version, tuple[str, ...]]) -> None:
    # Releases no era covers are exactly those the sources did not settle.
    assert eras[0].first == (2, 6) and eras[-1].last == (99, 99)
    for before, after in itertools.pairwise(eras):
        assert before.source and before.first <= before.last
        release = _next(before.last)
        while release != after.first:
            assert release in uncertain, (before.name, after.name, release)
            release = _next(release)


def test_uncertain_releases_sit_between_their_two_eras() -> None:
    by_name = {era.name: era for era in GFP_ERAS}
    for version, (older, newer) in UNCERTAIN_GFP.items():
        assert by_name[older].last <= version <= by_name[newer].first, version


@pytest.mark.parametrize("era", GFP_ERAS, ids=[e.name for e in GFP_ERAS])
def test_every_gfp_name_is_made_of_bits_the_era_defines(era: Era) -> None:
    names = [name for name, _ in era.names]
    assert len(names) == len(set(names))
    for name, bits in era.names:
        assert bits and bits & ~era.layout == 0, name
    # The everyday masks read back as themselves.
    values = dict(era.names)
    for name in ("GFP_KERNEL", "GFP_NOFS", "GFP_NOIO", "GFP_ATOMIC", "GFP_HIGHUSER_MOVABLE"):
        assert era.decode(values[name]) == name


def test_kswapd_flags_of_real_logs_decode_with_their_era() -> None:
    # The watchdog prints task->flags; kswapd always carries PF_KSWAPD and PF_KTHREAD, whose
    # bits moved in 4.12: a log's era must name both and leave nothing in hex.
    checked = 0
    for path in _logs():
        version = _version(path)
        tasks = _capture(path).tasks
        if version is None or not len(tasks):
            continue
        kswapd = tasks[tasks["comm"].astype(str).str.startswith("kswapd") & tasks["flags"].notna()]
        for flags in {int(f) for f in kswapd["flags"]}:
            names = decode_flags(flags, version)
            assert {"PF_KSWAPD", "PF_KTHREAD"} <= set(names.text.split("|")), (path.name, hex(flags))
            assert "0x" not in names.text and not names.ambiguous
            checked += 1
    assert checked >= 4


def test_era_span_joins_neighbours() -> None:
    four = [era for era in GFP_ERAS if era.first >= (4, 4) and era.last <= (4, 9)]
    assert era_span(four) == "4.4-4.9"
    assert era_span([GFP_ERAS[0], GFP_ERAS[-1]]) == f"{GFP_ERAS[0].name}, {GFP_ERAS[-1].name}"
    # Copies of the tables' eras (a choice sent to another process) are placed by their fields.
    assert era_span(pickle.loads(pickle.dumps(four))) == "4.4-4.9"
