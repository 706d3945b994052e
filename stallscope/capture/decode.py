"""Turn hex gfp masks and task flags into names, for the kernel that wrote the log.

Older watchdog builds (and ``mode:0xd0``-style warn_alloc lines) print only the hex value, and the
bit positions moved several times between 3.x and 6.x. Each era is the layout of
include/linux/gfp.h (gfp_types.h) or include/linux/sched.h for a range of releases; the era of a
log comes from its kernel version, or else from the masks the same log prints with names.
The tables themselves are in :mod:`stallscope.capture.layouts`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

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


def kernel_version(capture: Capture, source: str | None = None, part: Part | None = None) -> Version | None:
    """The first kernel version the log prints (boot banner, ``CPU: ...``, ``Not tainted ...``);
    with ``part``, that host's boot of ``source`` prints in its reports."""
    for text in _texts(capture, source, part):
        found = version_in(text)
        if found:
            return found
    return None


def of_source(frame: pd.DataFrame, source: str | None, *columns: str, part: Part | None = None) -> pd.DataFrame:
    """These columns of the rows of ``source`` (of every row when None), with ``part`` of that
    host's boot only. Only they are copied: a 1 GB capture's tables filtered whole by source took
    hundreds of MB to read a column or two."""
    chosen = frame[list(columns)]
    if source is None:
        return chosen
    keep = (frame["source"] == source).to_numpy(dtype=bool)
    if part is not None:
        host, boot = part
        hosts = frame["host"]
        same_host = hosts.isna().to_numpy() if host is None else (hosts == host).to_numpy(dtype=bool, na_value=False)
        keep = keep & same_host & (frame["boot"] == boot).to_numpy(dtype=bool, na_value=False)
    return chosen[keep]


# One host's boot of an input, (host or None, boot): what one kernel wrote. A serial console
# across a kernel update, a syslog server's file of hosts of several releases or a kern.log of
# weeks hold several kernels in one input, and the bit layouts moved between releases.
Part = tuple[str | None, int]


def input_parts(capture: Capture, source: str) -> list[Part]:
    """The hosts' boots ``source`` holds rows of (of its task and event rows: what names a
    kernel or a mask), in order."""
    found: set[Part] = set()
    for frame in (capture.tasks, capture.events):
        if len(frame) and "boot" in frame.columns:
            rows = of_source(frame, source, "host", "boot").drop_duplicates()
            found.update((None if pd.isna(host) else str(host), int(boot))
                         for host, boot in zip(rows["host"], rows["boot"], strict=True) if not pd.isna(boot))
    return sorted(found, key=lambda part: (part[0] or "", part[1]))


def era_parts(capture: Capture, rows: pd.DataFrame) -> Iterator[tuple[str, Part | None, np.ndarray]]:
    """The positions among ``rows`` (of a table: "source", "host" and "boot" columns) that one
    era decodes, with their input and part: an input's rows at once, or each of its hosts'
    boots apart when it holds several."""
    for source, at in rows.groupby("source", sort=False, observed=True).indices.items():
        if len(input_parts(capture, str(source))) < 2:
            yield str(source), None, at
            continue
        part_rows = rows.iloc[at]
        hosts = part_rows["host"].astype(object).where(part_rows["host"].notna(), None).tolist()
        for (host, boot), same in pd.Series(range(len(at))).groupby(
                [hosts, part_rows["boot"].tolist()], sort=False, dropna=False).indices.items():
            if pd.isna(boot):
                yield str(source), None, at[same]
            else:
                yield str(source), (None if host is None or pd.isna(host) else str(host), int(boot)), at[same]


def _texts(capture: Capture, source: str | None, part: Part | None = None) -> Iterator[str]:
    events = capture.events
    if len(events):
        yield from (str(t) for t in of_source(events, source, "text", part=part)["text"])
    if part is not None:
        return  # the banner kept is the input's, of no known boot
    # The boot banner is no event of any kind: the reader kept the first such line per input.
    for stats in capture.inputs:
        if stats.kernel_line is not None and (source is None or stats.path == source):
            yield stats.kernel_line


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


def gfp_era(capture: Capture, source: str | None = None, version: Version | None = None,
            part: Part | None = None) -> EraChoice:
    """The gfp layout of a log: from its kernel version, checked against the names it prints.
    With ``part``, of that host's boot of ``source`` (:func:`input_parts`); a boot that prints
    neither a version nor names is read as the input is, and the reason says so."""
    pairs = list(printed_gfp_pairs(capture, source, part))
    version = version or kernel_version(capture, source, part)
    if part is not None and not pairs and version is None:
        return _elsewhere(gfp_era(capture, source), GFP_ERAS)
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
    """The input's era for a boot of it that names none: said to be read elsewhere."""
    if whole.eras == every:
        return whole
    return EraChoice(whole.eras, f"{whole.reason}, in another boot or host of the input")


def printed_gfp_pairs(capture: Capture, source: str | None = None, part: Part | None = None
                      ) -> Iterable[tuple[int, str]]:
    """Every gfp mask the log prints both in hex and with names, as (mask, names) (with ``part``:
    in that host's boot of ``source``)."""
    pairs: set[tuple[int, str]] = set()
    tasks = capture.tasks
    # Each distinct pair once, a block of rows at a time: a watchdog log prints a few masks on
    # millions of lines, and a table of all of them at once took hundreds of MB at 1 GB.
    for start in range(0, len(tasks), _PAIR_ROWS):
        rows = of_source(tasks.iloc[start : start + _PAIR_ROWS], source, "gfp", "gfp_names",
                         part=part).dropna().drop_duplicates()
        pairs.update((int(m), str(n)) for m, n in zip(rows["gfp"], rows["gfp_names"], strict=True))
    # A log without watchdog lines still names its era in OOM headers and warn_alloc lines.
    events = capture.events
    if len(events):
        texts = of_source(events, source, "text", part=part)["text"].tolist()
        # OOM headers (gfp_mask=) and warn_alloc lines (mode:) print the same pair. Searched in
        # blocks of lines joined (no match can cross a newline): a search per line was 0.3 s of
        # the 100 MB fleet file's rules.
        for _, block in text_blocks(texts):
            for pattern in _PRINTED_MASKS:
                for found in pattern.finditer(block):
                    pairs.add((int(found.group(1), 16), found.group(2)))
    return pairs


# One pattern per prefix: a pattern that begins with a literal is searched for that literal
# first (3.7x faster than one pattern of two prefixes on the 30 MB fleet file's lines).
_PRINTED_MASKS = tuple(re.compile(prefix + r"0x([0-9a-f]+)\(([A-Za-z0-9_|]+)\)") for prefix in ("gfp_mask=", "mode:"))


def pf_era(capture: Capture, source: str | None = None, version: Version | None = None,
           part: Part | None = None) -> EraChoice:
    """The task-flags layout: from the kernel version, else from where kswapd's PF_KSWAPD sits
    (with ``part``: of that host's boot of ``source``, else as the input is read, said so)."""
    version = version or kernel_version(capture, source, part)
    if version is not None:
        return EraChoice(_by_version(PF_ERAS, version, {}), f"kernel {version[0]}.{version[1]}")
    gfp = gfp_era(capture, source, part=part)
    eras = PF_ERAS
    if not gfp.ambiguous or len(gfp.eras) < len(GFP_ERAS):
        # The gfp layout narrows the release range, and so the flags layouts that can apply.
        first = min(e.first for e in gfp.eras)
        last = max(e.last for e in gfp.eras)
        eras = tuple(e for e in PF_ERAS if e.first <= last and first <= e.last)
        if len(eras) == 1:
            return EraChoice(eras, f"release range of the gfp layout ({gfp.reason})")
    tasks = capture.tasks
    if not len(tasks):
        return EraChoice(eras, "no kernel version; no kswapd line")
    rows = of_source(tasks, source, "comm", "flags", part=part)
    # The names that are kswapd's, found among the distinct names (not each row's turned to str).
    names = [name for name in rows["comm"].dropna().unique() if str(name).startswith("kswapd")]
    kswapd = rows[rows["comm"].isin(names).to_numpy(dtype=bool) & rows["flags"].notna().to_numpy(dtype=bool)]
    flags = {int(f) for f in kswapd["flags"]}
    # kswapd always carries PF_KSWAPD, which 4.12 moved from 0x40000 to 0x20000: a kswapd line
    # with only one of the two bits says which side of 4.12 the kernel was.
    for bit, other in ((0x40000, 0x20000), (0x20000, 0x40000)):
        if flags and all(f & bit and not f & other for f in flags):
            fits = tuple(e for e in PF_ERAS if dict(e.names).get("PF_KSWAPD") == bit)
            return EraChoice(tuple(e for e in eras if e in fits) or fits, f"PF_KSWAPD at {bit:#x} in kswapd's flags")
    if part is not None:
        return _elsewhere(pf_era(capture, source), PF_ERAS)
    return EraChoice(eras, "no kernel version; kswapd's flags do not tell")


# --- decoding --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Decoded:
    text: str  # "A|B", or "A|B (4.4-4.9) or C (4.10-4.12)" when the eras disagree
    ambiguous: bool
    how: str  # "printed", or the reason the era was chosen


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


def era_span(eras: Iterable[Era]) -> str:
    """Era names for people: neighbouring eras of one table run together ("4.4-4.9")."""
    spans: list[list[Era]] = []
    for era in sorted(eras, key=lambda e: e.first):
        table = GFP_ERAS if era in GFP_ERAS else PF_ERAS
        last = spans[-1][-1] if spans else None
        if last is not None and last in table and table.index(era) == table.index(last) + 1:
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
    hex_only = tasks[~printed & tasks["gfp"].notna()]
    for source, part, at in era_parts(capture, hex_only):
        choice = gfp_era(capture, source, part=part)
        _fill(out, hex_only["gfp"].iloc[at], choice, "gfp_names")  # one decoding per distinct mask
    return out


def task_gfp_texts(capture: Capture) -> np.ndarray:
    """:func:`task_gfp_names`' names alone, by task row position ("" where none).

    For the rules, which read the names only: one object array, not three columns.
    """
    tasks = capture.tasks
    names = np.full(len(tasks), "", dtype=object)
    if not len(tasks):
        return names
    printed = tasks["gfp_names"].notna().to_numpy()
    names[printed] = _texts_of(tasks["gfp_names"], printed)
    hex_only = np.flatnonzero(~printed & tasks["gfp"].notna().to_numpy())
    if len(hex_only):
        rows = tasks[["source", "host", "boot", "gfp"]].iloc[hex_only]
        for source, part, at in era_parts(capture, rows):
            choice = gfp_era(capture, source, part=part)
            masks = rows["gfp"].iloc[at]
            for value, same in masks.groupby(masks, sort=False).indices.items():  # one decoding per distinct mask
                names[hex_only[at[same]]] = decode_with(choice, int(value)).text
    return names


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
    with_flags = tasks[tasks["flags"].notna()]
    for source, part, at in era_parts(capture, with_flags):
        _fill(out, with_flags["flags"].iloc[at], pf_era(capture, source, part=part), "flag_names")
    return out


def _fill(out: pd.DataFrame, values: pd.Series, choice: EraChoice, column: str) -> None:
    for value, rows in values.groupby(values, sort=False):
        found = decode_with(choice, int(value))
        out.loc[rows.index, column] = found.text
        out.loc[rows.index, "ambiguous"] = found.ambiguous
        out.loc[rows.index, "how"] = found.how
