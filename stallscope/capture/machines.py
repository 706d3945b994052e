"""Which rows of a capture are one machine's when the log names no host: the inputs that are
generations of one rotated log. Used by the capture layer (duplicates, boots) and by the rules'
machine views (stallscope.diagnose)."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
    pairs = frame.groupby(["host", "source"], observed=True, dropna=False, sort=False).ngroup().to_numpy()
    groups, first = np.unique(pairs, return_index=True)
    hosts = frame["host"].astype(object).to_numpy()[first]
    sources = frame["source"].astype(object).to_numpy()[first]
    labels: dict[int, str] = {}
    for group, host, source in zip(groups.tolist(), hosts, sources, strict=True):
        if host is not None and not pd.isna(host):
            labels[group] = f"host:{host}"
        else:
            name = str(source)
            labels[group] = "file:" + "\0".join(families.get(name, (name,)))
    table = np.array([labels.get(g, "") for g in range(int(pairs.max()) + 1)], dtype=object)
    return table[pairs]
