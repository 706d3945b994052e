"""Turn hex gfp masks and task flags into names, for the kernel that wrote the log.

Older watchdog builds (and ``mode:0xd0``-style warn_alloc lines) print only the hex value, and the
bit positions moved several times between 3.x and 6.x. Each era is the layout of
include/linux/gfp.h (gfp_types.h) or include/linux/sched.h for a range of releases; the era of a
log comes from its kernel version, or else from the masks the same log prints with names.
The tables themselves are in :mod:`stallscope.capture.layouts`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice

import numpy as np
import pandas as pd

from stallscope.capture.columns import code_dtype, count_dtype
from stallscope.capture.layouts import GFP_ERAS, PF_ERAS, UNCERTAIN_GFP, Era, Version
from stallscope.capture.model import Capture, text_blocks

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
    return _first_version(_texts(capture, source))


def _first_version(texts: Iterable[str]) -> Version | None:
    """The version of the first text that names one (as :func:`version_in` reads it): searched
    in blocks of texts joined, each match's own line then read (a log that names no version
    had each of its lines searched three times)."""
    texts = iter(texts)
    while block := "\n".join(islice(texts, 4096)):
        after = 0
        while True:
            starts = [found.start() for pattern in _VERSION_PATTERNS if (found := pattern.search(block, after))]
            if not starts:
                break
            first = min(starts)
            end = block.find("\n", first)
            end = len(block) if end < 0 else end
            version = version_in(block[block.rfind("\n", 0, first) + 1 : end])
            if version is not None:
                return version
            after = end + 1  # a match across a line's end: no version of that line
    return None


def of_source(frame: pd.DataFrame, source: str | None, *columns: str) -> pd.DataFrame:
    """These columns of the rows of ``source`` (of every row when None). Only they are copied: a
    1 GB capture's tables filtered whole by source took hundreds of MB to read a column or two."""
    part = frame[list(columns)]
    return part if source is None else part[(frame["source"] == source).to_numpy(dtype=bool)]


def _texts(capture: Capture, source: str | None) -> Iterator[str]:
    events = capture.events
    if len(events):
        # In log order, a few thousand lines first and more at a time after: the version is
        # mostly in a capture's first report, and every block of packed texts the lines read
        # is unpacked (tens of MB for the first 65,536 lines of a 1 GB journal, bench/README.md).
        texts = events["text"].array
        rows = None if source is None else _positions((events["source"] == source).to_numpy(dtype=bool))
        count = len(events) if rows is None else len(rows)
        start, size = 0, _FIRST_TEXTS
        while start < count:
            part = slice(start, start + size)
            yield from map(str, texts[part] if rows is None else texts.take(rows[part]))
            start, size = start + size, min(2 * size, _MOST_TEXTS)
    # The boot banner is no event of any kind: the reader kept the first such line per input.
    for stats in capture.inputs:
        if stats.kernel_line is not None and (source is None or stats.path == source):
            yield stats.kernel_line


# How many texts _texts reads first, and at most at a time after.
_FIRST_TEXTS = 4096
_MOST_TEXTS = 1 << 16


# --- the parts of an input that different kernels wrote ----------------------------------------
# One host's boot of an input, (host or None, boot): what one kernel wrote. A serial console
# across a kernel update, a syslog server's file of hosts of several releases or a kern.log of
# weeks hold several kernels in one input, and the bit layouts moved between releases.
HostBoot = tuple[str | None, int]


# Rows of a mask turned into positions at once by _positions.
_MASK_ROWS = 1 << 20


def _positions(mask: np.ndarray) -> np.ndarray:
    """``np.flatnonzero(mask)``, 32 bits wide where that fits, found a part of the mask at a time
    (np.flatnonzero makes 64-bit positions: of a mask of millions of rows, 8 bytes a row)."""
    dtype = count_dtype(len(mask))
    parts = [(np.flatnonzero(mask[start : start + _MASK_ROWS]) + start).astype(dtype, copy=False)
             for start in range(0, len(mask), _MASK_ROWS)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


# Rows read at once by _only_part.
_PART_ROWS = 1 << 20


def _only_part(hosts: np.ndarray, boots: pd.api.extensions.ExtensionArray,
               chosen: np.ndarray) -> tuple[int, int] | None:
    """(host code, boot) when every chosen row has that host code (-1: none) and boot, else
    None (also when none is chosen); read a block of rows at a time, without a copy of every row."""
    found: tuple[int, int] | None = None
    for start in range(0, len(chosen), _PART_ROWS):
        part = slice(start, start + _PART_ROWS)
        mine = chosen[part]
        if not mine.any():
            continue
        codes = hosts[part]
        numbers = boots[part].to_numpy(dtype=np.int32, na_value=-1)
        low = (int(np.min(codes, where=mine, initial=np.iinfo(codes.dtype).max)),
               int(np.min(numbers, where=mine, initial=np.iinfo(np.int32).max)))
        high = (int(np.max(codes, where=mine, initial=np.iinfo(codes.dtype).min)),
                int(np.max(numbers, where=mine, initial=np.iinfo(np.int32).min)))
        if low != high or (found is not None and found != low):
            return None
        found = low
    return found


class _PartRows:
    """The rows of one input in one table with a number per row for its host's boot (host code
    and boot): the parts and their rows found from the numbers, not by a scan of the table per
    part (a serial capture holds hundreds of boots). Where every row is of one part (an input of
    one machine's boot), the numbers per row are made only if asked for (``rows``, ``keys``)."""

    def __init__(self, frame: pd.DataFrame, source: str, kinds: tuple[str, ...] = ()) -> None:
        self._frame, self._source, self._kinds = frame, source, kinds
        self._rows: np.ndarray | None = np.zeros(0, dtype=np.int64)  # positions of the input's rows with a boot
        self._keys: np.ndarray | None = np.zeros(0, dtype=np.int64)  # their part numbers
        self.names: dict[int, HostBoot] = {}  # part number -> part
        self._frame_length = len(frame)
        if not len(frame) or "boot" not in frame.columns:
            return
        hosts = frame["host"].astype("category")
        # Arrays of a number per row, each as narrow as it can be and each let go when used: a
        # 1 GB capture has millions of task rows, and a rules process held 450 MB here at its
        # peak with every one of them int64 (bench/README.md, twenty-seventh round).
        chosen = self._chosen()
        only = _only_part(hosts.cat.codes.to_numpy(), frame["boot"].array, chosen)
        if only is not None:
            # One part: its number is found without a number per row (four arrays of them were
            # the peak of the rules process reading the 1 GB excerpts capture's gfp names,
            # bench/README.md, thirty-fifth round).
            code, boot = only
            self.names[(code + 1) * (boot + 1) + boot] = (None if code < 0 else str(hosts.cat.categories[code])), boot
            self._rows = self._keys = None  # made if asked for
            return
        rows = _positions(chosen)
        del chosen
        if not len(rows):
            return
        codes = hosts.cat.codes.to_numpy()[rows]  # -1: no host
        boots = frame["boot"].array[rows].to_numpy(dtype=np.int32)  # (schema.ID: 32 bits)
        span = int(boots.max()) + 1
        width = np.int32 if (len(hosts.cat.categories) + 1) * span < 1 << 31 else np.int64
        keys = codes.astype(width)
        keys += 1
        keys *= span
        keys += boots
        self._rows, self._keys = rows, keys
        # The first row of each part: parts come in runs (a boot's rows follow each other, a
        # host's are interleaved with others'), so it is the first of the runs of its key.
        runs = np.r_[0, np.flatnonzero(keys[1:] != keys[:-1]) + 1]
        firsts = runs[np.unique(keys[runs], return_index=True)[1]]
        names = hosts.cat.categories
        for at in firsts.tolist():
            code = int(codes[at])
            self.names[int(keys[at])] = (None if code < 0 else str(names[code])), int(boots[at])

    def _chosen(self) -> np.ndarray:
        """Per row of the table, whether it is one of the input's rows with a boot (of the kinds)."""
        frame = self._frame
        chosen = (frame["source"] == self._source).to_numpy(dtype=bool) & frame["boot"].notna().to_numpy(dtype=bool)
        if self._kinds:
            chosen &= frame["kind"].isin(self._kinds).to_numpy(dtype=bool)
        return chosen  # type: ignore[no-any-return]

    @property
    def rows(self) -> np.ndarray:
        """Positions of the input's rows with a boot."""
        if self._rows is None:
            self._rows = _positions(self._chosen())
            self._keys = np.full(len(self._rows), next(iter(self.names)), dtype=np.int64)
        return self._rows

    @property
    def keys(self) -> np.ndarray:
        """The part number of each of ``rows``."""
        self.rows  # noqa: B018 (made with them)
        assert self._keys is not None
        return self._keys

    def let_go(self) -> None:
        """Drop the rows and their part numbers: an input of one part never reads them again."""
        self._rows = self._keys = np.zeros(0, dtype=np.int64)

    def by_part(self, positions: np.ndarray) -> Iterator[tuple[HostBoot | None, np.ndarray]]:
        """The rows at ``positions`` of the table by part (None: rows of no numbered boot)."""
        keys = np.full(self._frame_length, -1, dtype=np.int64)
        keys[self.rows] = self.keys
        keys = keys[positions]
        order = np.argsort(keys, kind="stable")
        for at in np.split(order, np.flatnonzero(np.diff(keys[order])) + 1):
            if len(at):
                yield self.names.get(int(keys[at[0]])), positions[at]


# The events whose lines name the kernel ("CPU: 1 PID: 80 Comm: kswapd1 Not tainted 4.9.0 #1",
# the hung-task report's taint line, 3.x's "Pid: 80, comm: ...") or print a gfp mask with names
# (OOM headers, warn_alloc lines): in every real log of tests/data, no other kind's line does. A
# boot's layouts are read from these alone, a few lines a report; the whole input's from every
# line, as always.
_PRINTING_KINDS = ("dump_cpu", "dump_taint", "dump_pid", "oom_invoke", "warn_alloc_stall", "warn_alloc_failure",
                   "vmalloc_failure")


@dataclass(frozen=True, slots=True)
class Printed:
    """What one part of an input prints of its kernel."""

    version: Version | None  # the first its reports print ("CPU: ... Not tainted 4.9.0 #1")
    pairs: frozenset[tuple[int, str]]  # gfp masks printed in hex and with names
    kswapd_flags: frozenset[int]  # flags= of its kswapd lines


class InputEras:
    """The gfp and task-flag layouts of one input: the whole input's, or each host's boot's where
    it holds several (``parts``), each found when first asked for from that boot's
    rows. A boot that prints nothing of its kernel is read as its input is, and the reason says
    so. The banner the reader kept (``InputStats.kernel_line``) is of no known boot: it counts
    for the whole input only."""

    def __init__(self, capture: Capture, source: str) -> None:
        self._capture, self._source = capture, source
        self._tasks = _PartRows(capture.tasks, source)
        self._events = _PartRows(capture.events, source, _PRINTING_KINDS)
        self.parts = sorted({*self._tasks.names.values(), *self._events.names.values()},
                            key=lambda part: (part[0] or "", part[1]))
        if len(self.parts) < 2:
            # Its layouts are the whole input's (see part()): the rows by part are not read. Kept
            # with the layouts, they held 8 bytes a task row of the 1 GB excerpts capture.
            self._tasks.let_go()
            self._events.let_go()
        self._printed: dict[HostBoot, Printed] | None = None
        self._found: dict[tuple[str, HostBoot | None], EraChoice] = {}

    def part(self, part: HostBoot | None) -> HostBoot | None:
        """The part whose layouts rows of ``part`` take: None (the whole input) unless it holds several."""
        return part if len(self.parts) > 1 and part in self.parts else None

    def printed(self, part: HostBoot) -> Printed:
        """What the rows of ``part`` print of its kernel."""
        if self._printed is None:
            self._printed = self._read()
        return self._printed.get(part, Printed(None, frozenset(), frozenset()))

    def _read(self) -> dict[HostBoot, Printed]:
        """What every part prints, in a few passes over the input's rows (not a pass per part)."""
        pairs: dict[HostBoot, set[tuple[int, str]]] = {}
        flags: dict[HostBoot, set[int]] = {}
        tasks, rows = self._capture.tasks, self._tasks
        # A block of rows at a time (as printed_gfp_pairs): a table of every row's key, mask and
        # names at once was hundreds of MB for a 1 GB capture.
        for start in range(0, len(rows.rows), _PAIR_ROWS):
            at = rows.rows[start : start + _PAIR_ROWS]
            named = pd.DataFrame({"key": rows.keys[start : start + _PAIR_ROWS], "gfp": tasks["gfp"].take(at).array,
                                  "names": tasks["gfp_names"].take(at).array}).dropna().drop_duplicates()
            for key, mask, names in zip(named["key"].tolist(), named["gfp"].tolist(), named["names"].tolist(),
                                        strict=True):
                pairs.setdefault(rows.names[key], set()).add((int(mask), str(names)))
        if len(rows.rows):
            kswapd = _kswapd_rows(pd.DataFrame({"key": rows.keys, "comm": tasks["comm"].take(rows.rows).array,
                                                "flags": tasks["flags"].take(rows.rows).array}))
            found = kswapd[["key", "flags"]].drop_duplicates()
            for key, flag in zip(found["key"].tolist(), found["flags"].tolist(), strict=True):
                flags.setdefault(rows.names[key], set()).add(int(flag))
        versions: dict[HostBoot, Version] = {}
        events = self._events
        # The masks each line names, searched once per line text: an OOM storm prints the same
        # header line (task, mask, order) tens of thousands of times.
        named_in: dict[str, tuple[tuple[int, str], ...]] = {}
        # The lines that print a kernel or a named mask, a few per report: one by one, in log order.
        texts = self._capture.events["text"].array
        for key, text in ((key, text) for start in range(0, len(events.rows), _TEXT_ROWS)
                          for key, text in zip(events.keys[start : start + _TEXT_ROWS].tolist(),
                                               texts.take(events.rows[start : start + _TEXT_ROWS]).tolist(),
                                               strict=True)):
            part, line = events.names[key], str(text)
            if part not in versions:
                version = version_in(line)
                if version is not None:
                    versions[part] = version
            if "gfp_mask=" in line or "mode:" in line:  # (two searches in C before two patterns)
                found = named_in.get(line)
                if found is None:
                    found = named_in[line] = tuple(_pairs_in(line))
                pairs.setdefault(part, set()).update(found)
        return {part: Printed(versions.get(part), frozenset(pairs.get(part, ())), frozenset(flags.get(part, ())))
                for part in self.parts}

    def gfp(self, part: HostBoot | None = None) -> EraChoice:
        """The gfp layout of the rows of ``part`` (a host's boot) of this input."""
        return self._once("gfp", part, self._gfp)

    def _gfp(self, part: HostBoot | None) -> EraChoice:
        if part is None:
            return gfp_era(self._capture, self._source)
        printed = self.printed(part)
        if not printed.pairs and printed.version is None:
            return _elsewhere(self.gfp(), GFP_ERAS)
        return _gfp_choice(sorted(printed.pairs), printed.version)

    def pf(self, part: HostBoot | None = None) -> EraChoice:
        """The task-flags layout of the rows of ``part`` (a host's boot) of this input."""
        return self._once("pf", part, self._pf)

    def _once(self, table: str, part: HostBoot | None, find: Callable[[HostBoot | None], EraChoice]) -> EraChoice:
        key = (table, self.part(part))
        if key not in self._found:
            self._found[key] = find(key[1])
        return self._found[key]

    def _pf(self, part: HostBoot | None) -> EraChoice:
        if part is None:
            return pf_era(self._capture, self._source)
        printed = self.printed(part)
        choice, told = _pf_choice(printed.version, lambda: self.gfp(part), lambda: set(printed.kswapd_flags))
        return choice if told else _elsewhere(self.pf(), PF_ERAS)

    def task_parts(self, positions: np.ndarray) -> Iterator[tuple[HostBoot | None, np.ndarray]]:
        """The task rows at ``positions`` (of this input) by the part whose layouts they take
        (all at once for an input of one part)."""
        if len(self.parts) < 2:
            yield None, positions
            return
        yield from self._tasks.by_part(positions)


def era_parts(capture: Capture, positions: np.ndarray) -> Iterator[tuple[InputEras, HostBoot | None, np.ndarray]]:
    """The task rows at ``positions`` (sorted) that one layout decodes, with their input's
    layouts and their part: an input's rows at once, or each of its hosts' boots apart when it
    holds several."""
    source = capture.tasks["source"]
    for name, at in _by_source(source, positions):
        eras = InputEras(capture, str(name))
        for part, rows in eras.task_parts(at):
            yield eras, part, rows


def _by_source(source: pd.Series, positions: np.ndarray) -> Iterator[tuple[object, np.ndarray]]:
    """The ``positions`` of each input (``source``: the column), inputs in order of first
    appearance, rows without one left out: as ``groupby(observed=True)`` finds them, from the
    column's codes (a groupby of millions of rows made several arrays of 8 bytes a row, at the
    peak of a rules process on the 1 GB excerpts capture: bench/README.md)."""
    if not isinstance(source.dtype, pd.CategoricalDtype):
        rows = source.iloc[positions]
        for name, at in rows.groupby(rows, sort=False, observed=True).indices.items():
            yield name, positions[at]
        return
    codes = source.cat.codes.to_numpy()[positions]
    # Each input's first row is the first of a run of its rows: the runs' first codes are
    # sorted, not every row's (np.unique's sort of every row held 8 bytes a row).
    runs = np.r_[0, np.flatnonzero(codes[1:] != codes[:-1]) + 1] if len(codes) else np.zeros(0, dtype=np.int64)
    present, first = np.unique(codes[runs], return_index=True)
    first = runs[first]
    inputs = [(int(code), at) for code, at in sorted(zip(present.tolist(), first.tolist(), strict=True),
                                                       key=lambda pair: pair[1]) if code >= 0]
    names = source.cat.categories
    if len(inputs) == 1 and len(present) == 1:
        yield names[inputs[0][0]], positions  # one input: every row, no selection
        return
    if len(inputs) <= _INPUTS_BY_MASK:
        for code, _ in inputs:
            yield names[code], positions[codes == code]
        return
    # Many inputs (an archive of rotated files): one sort, not a pass over the rows per input.
    order = np.argsort(codes, kind="stable")
    cuts = np.searchsorted(codes[order], present)
    bounds = dict(zip(present.tolist(), zip(cuts.tolist(), [*cuts[1:].tolist(), len(order)], strict=True),
                      strict=True))
    for code, _ in inputs:
        start, stop = bounds[code]
        yield names[code], positions[order[start:stop]]


# Up to this many inputs, each input's rows are found by a pass over the rows' codes.
_INPUTS_BY_MASK = 8


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
    """The gfp layout of a log: from its kernel version, checked against the names it prints
    (of one host's boot of an input that holds several: :class:`InputEras`)."""
    return _gfp_choice(sorted(printed_gfp_pairs(capture, source)), version or kernel_version(capture, source))


def _gfp_choice(pairs: list[tuple[int, str]], version: Version | None) -> EraChoice:
    agree = tuple(e for e in GFP_ERAS if all(_canon(e.decode(m)) == _canon(n) for m, n in pairs))
    if version is not None:
        by_version = _by_version(GFP_ERAS, version, UNCERTAIN_GFP)
        both = tuple(e for e in by_version if not pairs or e in agree)
        if both:
            return EraChoice(both, f"kernel {version[0]}.{version[1]} printed in the log")
    if pairs and agree:
        return EraChoice(agree, f"{len(pairs)} gfp value(s) the log prints with names")
    # Every layout, said as it is: names no one layout decodes (logs of kernels of different
    # eras glued into one file), a release no layout covers, or nothing to tell by.
    if pairs:
        return EraChoice(GFP_ERAS, f"no one gfp layout decodes all {len(pairs)} gfp value(s) the log prints with "
                                   "names (kernels of different eras?)")
    if version is not None:
        return EraChoice(GFP_ERAS, f"no gfp layout known for kernel {version[0]}.{version[1]}")
    return EraChoice(GFP_ERAS, "no kernel version and no gfp names in the log")


_PAIR_ROWS = 1 << 20


def _elsewhere(whole: EraChoice, every: tuple[Era, ...]) -> EraChoice:
    """The input's layout for a boot of it that prints nothing of its kernel: said to be read elsewhere."""
    if whole.eras == every:
        return whole
    return EraChoice(whole.eras, f"{whole.reason}, in another boot or host of the input")


def printed_gfp_pairs(capture: Capture, source: str | None = None) -> set[tuple[int, str]]:
    """Every gfp mask the log prints both in hex and with names, as (mask, names)."""
    pairs: set[tuple[int, str]] = set()
    tasks = capture.tasks
    # Each distinct pair once, a block of rows at a time: a watchdog log prints a few masks on
    # millions of lines, and a table of all of them at once took hundreds of MB at 1 GB.
    for start in range(0, len(tasks), _PAIR_ROWS):
        rows = of_source(tasks.iloc[start : start + _PAIR_ROWS], source, "gfp", "gfp_names").dropna().drop_duplicates()
        pairs.update((int(m), str(n)) for m, n in zip(rows["gfp"], rows["gfp_names"], strict=True))
    # A log without watchdog lines still names its era in OOM headers and warn_alloc lines: only
    # lines of the kinds that print a named mask are searched (not the millions of Mem-Info and
    # trace lines of a long capture).
    events = capture.events
    if len(events):
        printing = events["kind"].isin(_PRINTING_KINDS).to_numpy(dtype=bool)
        if source is not None:
            printing = printing & (events["source"] == source).to_numpy(dtype=bool)
        # Only those lines' texts, not a copy of every column of their rows; a block at a time.
        at, texts = _positions(printing), events["text"].array
        for start in range(0, len(at), _TEXT_ROWS):
            pairs |= _printed_in_texts(texts.take(at[start : start + _TEXT_ROWS]).tolist())
    return pairs


# Event lines whose texts are made Python strings at once: every OOM header and warn_alloc line
# of the 1 GB serial family at once took 30 MB, at the peak of each rules process
# (bench/README.md, thirty-fourth round).
_TEXT_ROWS = 1 << 16


def _printed_in_texts(texts: list[object]) -> set[tuple[int, str]]:
    # OOM headers (gfp_mask=) and warn_alloc lines (mode:) print the same pair. Searched in
    # blocks of lines joined (no match can cross a newline): a search per line was 0.3 s of
    # the 100 MB fleet file's rules.
    pairs: set[tuple[int, str]] = set()
    for _, block in text_blocks(texts):
        pairs.update(_pairs_in(block))
    return pairs


def _pairs_in(text: str) -> Iterator[tuple[int, str]]:
    """(mask, names) of each gfp mask ``text`` prints in hex and with names."""
    for pattern in _PRINTED_MASKS:
        for found in pattern.finditer(text):
            yield int(found.group(1), 16), found.group(2)


# One pattern per prefix: a pattern that begins with a literal is searched for that literal
# first (3.7x faster than one pattern of two prefixes on the 30 MB fleet file's lines).
_PRINTED_MASKS = tuple(re.compile(prefix + r"0x([0-9a-f]+)\(([A-Za-z0-9_|]+)\)") for prefix in ("gfp_mask=", "mode:"))


def pf_era(capture: Capture, source: str | None = None, version: Version | None = None) -> EraChoice:
    """The task-flags layout: from the kernel version, else from where kswapd's PF_KSWAPD sits
    (of one host's boot of an input that holds several: :class:`InputEras`)."""
    tasks = capture.tasks

    def kswapd_flags() -> set[int] | None:
        if not len(tasks):
            return None
        return {int(f) for f in _kswapd_rows(of_source(tasks, source, "comm", "flags"))["flags"]}

    choice, _ = _pf_choice(version or kernel_version(capture, source), lambda: gfp_era(capture, source), kswapd_flags)
    return choice


def _kswapd_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of kswapd's task lines with flags (the names that are kswapd's found among the
    distinct names, not each row's turned to str)."""
    names = [name for name in rows["comm"].dropna().unique() if str(name).startswith("kswapd")]
    return rows[rows["comm"].isin(names).to_numpy(dtype=bool) & rows["flags"].notna().to_numpy(dtype=bool)]


def _narrowed(gfp: EraChoice) -> tuple[Era, ...]:
    """The flags layouts of the release range the gfp layout leaves."""
    if gfp.ambiguous and len(gfp.eras) == len(GFP_ERAS):
        return PF_ERAS
    first = min(e.first for e in gfp.eras)
    last = max(e.last for e in gfp.eras)
    return tuple(e for e in PF_ERAS if e.first <= last and first <= e.last)


def _pf_choice(version: Version | None, gfp: Callable[[], EraChoice], flags: Callable[[], set[int] | None]
               ) -> tuple[EraChoice, bool]:
    """The flags layout from a kernel version, else the gfp layout's release range, else kswapd's
    flags (None: no task lines), and whether one of them told."""
    if version is not None:
        return EraChoice(_by_version(PF_ERAS, version, {}), f"kernel {version[0]}.{version[1]}"), True
    gfp_choice = gfp()
    # The gfp layout narrows the release range, and so the flags layouts that can apply.
    eras = _narrowed(gfp_choice)
    if len(eras) == 1:
        return EraChoice(eras, f"release range of the gfp layout ({gfp_choice.reason})"), True
    found = flags()
    if found is None:
        return EraChoice(eras, "no kernel version; no kswapd line"), False
    # kswapd always carries PF_KSWAPD, which 4.12 moved from 0x40000 to 0x20000: a kswapd line
    # with only one of the two bits says which side of 4.12 the kernel was.
    for bit, other in ((0x40000, 0x20000), (0x20000, 0x40000)):
        if found and all(f & bit and not f & other for f in found):
            fits = tuple(e for e in PF_ERAS if dict(e.names).get("PF_KSWAPD") == bit)
            told = EraChoice(tuple(e for e in eras if e in fits) or fits, f"PF_KSWAPD at {bit:#x} in kswapd's flags")
            return told, True
    return EraChoice(eras, "no kernel version; kswapd's flags do not tell"), False


# --- decoding --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Decoded:
    text: str  # "A|B", or "A|B (4.4-4.9) or C (4.10-4.12)" when the eras disagree
    ambiguous: bool
    how: str  # "printed", or the reason the era was chosen


# A capture of hundreds of boots decodes the same few masks under the same few choices in each.
@lru_cache(maxsize=4096)
def decode_with(choice: EraChoice, mask: int) -> Decoded:
    readings: dict[str, list[Era]] = {}
    same_names: dict[frozenset[str], str] = {}
    for era in choice.eras:
        text = era.decode(mask)
        # Eras that name the same flags in another order (6.17 reordered the printer) agree.
        text = same_names.setdefault(frozenset(text.split("|")), text)
        readings.setdefault(text, []).append(era)
    if len(readings) > 1:
        # An era whose names cover every set bit is a better reading than one that leaves hex.
        clean = {t: e for t, e in readings.items() if "0x" not in t}
        if len(clean) == 1:
            readings = clean
    if len(readings) == 1:
        (text, eras), = readings.items()
        how = choice.reason if not choice.ambiguous else f"every era agrees ({era_span(eras)})"
        return Decoded(text, False, how)
    # The kernel's names compose compactly in the right era; in a wrong one the same bits fall
    # apart into many single flags. The most compact reading is offered, marked as a guess.
    ranked = sorted(readings.items(), key=lambda item: item[0].count("|"))
    (best, eras), (second, _) = ranked[0], ranked[1]
    others = "; ".join(f"{t} ({era_span(e)})" for t, e in ranked[1:])
    if best.count("|") < second.count("|"):
        return Decoded(best, True, f"ambiguous ({choice.reason}): most compact reading, era "
                                   f"{era_span(eras)}; other readings: {others}")
    text = " or ".join(f"{t} ({era_span(e)})" for t, e in ranked)
    return Decoded(text, True, f"ambiguous: {choice.reason}")


# Each era's table and place in it, by identity: comparing eras field by field (their bit
# tables) was most of the time of naming a mask.
_PLACES = {id(era): (table, at) for table in (GFP_ERAS, PF_ERAS) for at, era in enumerate(table)}


def _place(era: Era) -> tuple[tuple[Era, ...], int]:
    found = _PLACES.get(id(era))
    if found is None:  # a copy of a table's era (unpickled): found by its fields
        table = GFP_ERAS if era in GFP_ERAS else PF_ERAS
        found = table, table.index(era)
    return found


def era_span(eras: Iterable[Era]) -> str:
    """Era names for people: neighbouring eras of one table run together ("4.4-4.9")."""
    spans: list[list[Era]] = []
    for era in sorted(eras, key=lambda e: e.first):
        table, at = _place(era)
        if spans and _place(spans[-1][-1]) == (table, at - 1):
            spans[-1].append(era)
        else:
            spans.append([era])
    return ", ".join(_span_name(run) for run in spans)


def _span_name(run: list[Era]) -> str:
    if len(run) == 1:
        return run[0].name
    first, last = run[0].name.split("-")[0], run[-1].name.split("-")[-1]
    return f"{first}+" if last.endswith("+") else f"{first}-{last}"


def decode_gfp(mask: int, version: Version | None = None) -> Decoded:
    """One gfp mask, for a known kernel version or (without one) under every era."""
    eras = _by_version(GFP_ERAS, version, UNCERTAIN_GFP) if version else GFP_ERAS
    reason = f"kernel {version[0]}.{version[1]}" if version else "no kernel version given"
    return decode_with(EraChoice(eras, reason), mask)


def report_gfp(choice: EraChoice, mask: object) -> Decoded | None:
    """A mask a report printed in hex only ("mode:0x2080020", "gfp_mask=0x24201ca": OOM headers
    and warn_alloc lines before 4.6), named for the era ``choice`` of its log; None if not hex."""
    text = str(mask).strip() if mask is not None else ""
    if not re.fullmatch(r"0x[0-9a-fA-F]+", text):
        return None
    return decode_with(choice, int(text, 16))


def decode_flags(flags: int, version: Version | None = None) -> Decoded:
    eras = _by_version(PF_ERAS, version, {}) if version else PF_ERAS
    reason = f"kernel {version[0]}.{version[1]}" if version else "no kernel version given"
    return decode_with(EraChoice(eras, reason), flags)


def task_gfp_names(capture: Capture) -> pd.DataFrame:
    """Per task row: gfp names as printed, or decoded for the log's era, and how they were got."""
    tasks = capture.tasks
    if not len(tasks):
        return pd.DataFrame(index=tasks.index, columns=["gfp_names", "ambiguous", "how"], dtype=object)
    # Whole columns at once: a long capture prints hundreds of thousands of masks with names.
    printed = tasks["gfp_names"].notna().to_numpy()
    names = np.full(len(tasks), np.nan, dtype=object)
    names[printed] = _texts_of(tasks["gfp_names"], printed)
    ambiguous = np.full(len(tasks), np.nan, dtype=object)
    ambiguous[printed] = False
    how = np.full(len(tasks), np.nan, dtype=object)
    how[printed] = "printed"
    out = pd.DataFrame({"gfp_names": names, "ambiguous": ambiguous, "how": how}, index=tasks.index,
                       dtype=object)
    hex_only = _positions(~printed & tasks["gfp"].notna().to_numpy())
    for eras, part, at in era_parts(capture, hex_only):
        _fill(out, tasks["gfp"].iloc[at], eras.gfp(part), "gfp_names")  # one decoding per distinct mask
    return out


def task_gfp_texts(capture: Capture) -> pd.Categorical:
    """:func:`task_gfp_names`' names alone, by task row position ("" where none).

    For the rules, which read the names only: one column of codes as narrow as the names'
    count, not three columns, nor a text object per row (an object array of the 1 GB excerpts
    capture's 8.4 M task rows was 67 MB, and the largest thing a rules process derived before
    the trajectories: bench/README.md, thirty-second round).
    """
    tasks = capture.tasks
    code_of: dict[str, int] = {"": 0}  # each name's code, in the order first met
    codes = np.zeros(len(tasks), dtype=np.int32)
    if len(tasks):
        column = tasks["gfp_names"]
        printed = column.notna().to_numpy()
        if printed.any():
            if isinstance(column.dtype, pd.CategoricalDtype):  # once per category
                categories, printed_codes = column.cat.categories.astype(str), column.array.codes[printed]
            else:
                printed_codes, categories = pd.factorize(column[printed].astype(str).to_numpy(dtype=object))
            lookup = np.array([code_of.setdefault(name, len(code_of)) for name in categories], dtype=np.int32)
            codes[printed] = lookup[printed_codes]
        hex_only = _positions(~printed & tasks["gfp"].notna().to_numpy())
        if len(hex_only):
            masks = tasks["gfp"].array
            for eras, part, at in era_parts(capture, hex_only):
                choice = eras.gfp(part)
                # A few hundred thousand rows at a time: grouping millions of masks at once (the
                # 1 GB excerpts family: 8.4 M, none with names) held several arrays of a number
                # per row at the peak of a rules process (bench/README.md, twenty-seventh round).
                for start in range(0, len(at), _DECODE_ROWS):
                    rows = at[start : start + _DECODE_ROWS]
                    distinct, which = np.unique(masks[rows].to_numpy(dtype="int64"), return_inverse=True)
                    decoded = [code_of.setdefault(decode_with(choice, mask).text, len(code_of))
                               for mask in distinct.tolist()]  # once per distinct mask
                    codes[rows] = np.array(decoded, dtype=np.int32)[which]
    return pd.Categorical.from_codes(codes.astype(code_dtype(len(code_of)), copy=False),
                                     categories=pd.Index(list(code_of), dtype=object))


_DECODE_ROWS = 1 << 18


def _texts_of(column: pd.Series, rows: np.ndarray) -> np.ndarray:
    """``column.astype(str)`` at the selected rows, as an object array of str."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        # Once per category: converting every row of a long column is slow.
        texts = np.asarray(column.cat.categories.astype(str), dtype=object)
        return texts[column.cat.codes.to_numpy()[rows]]  # type: ignore[no-any-return]
    return column[rows].astype(str).to_numpy(dtype=object)


def task_flag_names(capture: Capture) -> pd.DataFrame:
    """Per task row: the PF_* names of ``flags=`` for the log's era."""
    tasks = capture.tasks
    out = pd.DataFrame(index=tasks.index, columns=["flag_names", "ambiguous", "how"], dtype=object)
    if not len(tasks):
        return out
    for eras, part, at in era_parts(capture, np.flatnonzero(tasks["flags"].notna().to_numpy())):
        _fill(out, tasks["flags"].iloc[at], eras.pf(part), "flag_names")
    return out


def _fill(out: pd.DataFrame, values: pd.Series, choice: EraChoice, column: str) -> None:
    for value, rows in values.groupby(values, sort=False):
        found = decode_with(choice, int(value))
        out.loc[rows.index, column] = found.text
        out.loc[rows.index, "ambiguous"] = found.ambiguous
        out.loc[rows.index, "how"] = found.how
