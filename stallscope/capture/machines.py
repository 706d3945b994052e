"""Which rows of a capture are one machine's when the log names no host: the inputs that are
generations of one rotated log. Used by the capture layer (duplicates, boots) and by the rules'
machine views (stallscope.diagnose)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stallscope.capture.columns import code_dtype
from stallscope.capture.model import Capture
from stallscope.sources.rotation import rotation_family


def source_families(capture: Capture) -> dict[str, tuple[str, ...]]:
    """For each input, the inputs that are generations of the same rotated log (itself included),
    in reading order (oldest first): rows of those that name no host are one machine's.

    Files named the way logrotate names generations (``kern.log.1``, ``kern.log``) belong
    together; files whose names only end in another number (``node-1``, ``node-2``) only when
    their kernel timestamps continue one another (each starts where the one before ended).
    """
    by_family: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for stats in capture.inputs:
        if stats.path != "-":
            folder, base, rotated = rotation_family(stats.path)
            by_family.setdefault((folder, base), []).append((stats.path, rotated))
    spans = _time_spans(capture) if any(len(m) > 1 for m in by_family.values()) else {}
    out: dict[str, tuple[str, ...]] = {}
    for members in by_family.values():
        groups: list[list[str]] = []
        for path, rotated in members:
            if groups and (rotated or _continues(spans.get(groups[-1][-1]), spans.get(path))):
                groups[-1].append(path)
            else:
                groups.append([path])
        for group in groups:
            for path in group:
                out[path] = tuple(dict.fromkeys(group))
    return out


def _time_spans(capture: Capture) -> dict[str, tuple[float, float]]:
    """First and last kernel timestamp of each input's rows that name no host."""
    spans: dict[str, tuple[float, float]] = {}
    for frame in (capture.snapshots, capture.tasks, capture.events):
        if not len(frame):
            continue
        rows = frame[frame["host"].isna()]
        for source, ts in rows.groupby("source", observed=True)["ts"]:
            low, high = ts.min(), ts.max()
            if pd.isna(low):
                continue
            known = spans.get(str(source))
            spans[str(source)] = (float(low), float(high)) if known is None else (
                min(known[0], float(low)), max(known[1], float(high)))
    return spans


def _continues(before: tuple[float, float] | None, after: tuple[float, float] | None) -> bool:
    return before is not None and after is not None and after[0] >= before[1]


def machine_labels(frame: pd.DataFrame, families: dict[str, tuple[str, ...]]) -> np.ndarray:
    """Per row of a snapshots, tasks or events table: the machine it belongs to, as a label
    equal across tables: ``host:NAME`` for a host named in the prefix, else ``file:`` and the
    inputs of its rotated log (see :func:`source_families`)."""
    if not len(frame):
        return np.empty(0, dtype=object)
    pairs, hosts, sources = _host_source_pairs(frame)
    return np.array(_pair_labels(hosts, sources, families), dtype=object)[pairs]


def machine_codes(frames: list[pd.DataFrame],
                  families: dict[str, tuple[str, ...]]) -> tuple[list[str], list[np.ndarray]]:
    """The machines of the rows of ``frames`` (tables as :func:`machine_labels` takes): their
    labels, sorted, and per frame each row's position in them, as the labels would give it,
    without a label per row."""
    pair_labels: list[tuple[np.ndarray, list[str]]] = []
    for frame in frames:
        if not len(frame):
            pair_labels.append((np.empty(0, np.int64), []))
            continue
        pairs, hosts, sources = _host_source_pairs(frame)
        pair_labels.append((pairs, _pair_labels(hosts, sources, families)))
    names = sorted({label for _, labels in pair_labels for label in labels})
    code_of = {name: at for at, name in enumerate(names)}
    width = code_dtype(len(names))
    codes = [np.array([code_of[label] for label in labels], width)[pairs] if len(pairs) else np.empty(0, width)
             for pairs, labels in pair_labels]
    return names, codes


def _pair_labels(hosts: list[object], sources: list[object], families: dict[str, tuple[str, ...]]) -> list[str]:
    labels: list[str] = []
    for host, source in zip(hosts, sources, strict=True):
        if host is not None and not pd.isna(host):
            labels.append(f"host:{host}")
        else:
            name = str(source)
            labels.append("file:" + "\0".join(families.get(name, (name,))))
    return labels


def _host_source_pairs(frame: pd.DataFrame) -> tuple[np.ndarray, list[object], list[object]]:
    """Per row, the number of its (host, source) pair; and each pair's host and source.

    Read from the columns' category codes where they are categories (as the builder makes them):
    grouping by the values would hold a Python object per row for a moment, tens of MB on a
    capture of a million task rows, and leave the heap that much larger."""
    host, source = frame["host"], frame["source"]
    if isinstance(host.dtype, pd.CategoricalDtype) and isinstance(source.dtype, pd.CategoricalDtype):
        # Numbers as narrow as the pairs' count allows: a copy of 64 bits per row, three at once,
        # was the peak of the boots' numbering (1 GB serial: 5 million event rows).
        bound = (len(host.cat.categories) + 1) * (len(source.cat.categories) + 1)
        combined = host.cat.codes.to_numpy().astype(code_dtype(bound))
        combined += 1  # 0: no host
        combined *= len(source.cat.categories) + 1
        combined += source.cat.codes.to_numpy()
        combined += 1
        found, pairs = _dense_unique(combined, bound)
        host_names = [None, *host.cat.categories.tolist()]
        source_names = [None, *source.cat.categories.tolist()]
        return (pairs.reshape(-1), [host_names[code] for code in (found // (len(source_names))).tolist()],
                [source_names[code] for code in (found % len(source_names)).tolist()])
    pairs = frame.groupby(["host", "source"], observed=True, dropna=False, sort=False).ngroup().to_numpy()
    _, first = np.unique(pairs, return_index=True)  # ngroup numbers the groups 0, 1, ... without gaps
    return pairs, host.astype(object).to_numpy()[first].tolist(), source.astype(object).to_numpy()[first].tolist()


def _dense_unique(values: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` of integers in [0, bound), by a table of the
    bound's size rather than a sort: the three tables of a 1 GB fleet capture (4.3 million rows)
    took 0.20-0.61 s sorted, 0.05 s so (bench/README.md). A bound larger than the values' count
    sorts."""
    if bound > max(len(values), 1 << 16):
        return np.unique(values, return_inverse=True)
    present = np.zeros(bound, dtype=bool)
    present[values] = True
    rank = np.cumsum(present, dtype=code_dtype(bound)) - 1  # each value's place among those present
    return np.flatnonzero(present), rank[values]


def input_positions(frame: pd.DataFrame, position: dict[str, int]) -> np.ndarray:
    """Per row, the reading position of its input (``position``: path -> position); a row of
    an input not in ``position``, or of none, comes after every input. From the category codes
    where the column is categorical, for the reason given in :func:`_host_source_pairs`."""
    unknown = len(position)
    source = frame["source"]
    if isinstance(source.dtype, pd.CategoricalDtype):
        table = np.array([position.get(name, unknown) for name in source.cat.categories.tolist()] + [unknown],
                         code_dtype(unknown + 1))
        return table[source.cat.codes.to_numpy()]  # code -1 (no input) reads the last entry
    return source.astype(object).map(lambda name: position.get(name, unknown)).to_numpy(np.int64)
