"""How many jiffies per second the logging kernel counted, so ``delay=`` can be read in seconds.

``delay`` is jiffies since the task entered the allocator's slow path. The same request (same
pid, same ``seq``) seen in two reports has aged by the time between the two lines, so the ratio
of delay growth to timestamp growth is HZ. Pairs closer than a second apart are dominated by
printing jitter and are not used.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from stallscope.capture.model import Capture

COMMON_HZ = (100, 250, 300, 1000)
SNAP_TOLERANCE = 0.05  # relative distance within which an estimate is taken as a common value
MIN_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class HzEstimate:
    hz: float | None  # what to divide delay by; None when unknown
    raw: float | None  # the median ratio before snapping
    pairs: int  # observation pairs the estimate rests on
    how: str  # "override", "snapped", "raw" or "unknown"
    note: str

    @property
    def known(self) -> bool:
        return self.hz is not None


def growth_pairs(tasks: pd.DataFrame) -> pd.DataFrame:
    """Consecutive observations of one request: columns pid, seq, d_delay, d_ts, ratio, line."""
    cols = ["host", "source", "pid", "comm", "seq", "delay", "ts", "line"]
    rows = tasks.loc[tasks["delay"].notna() & tasks["ts"].notna(), cols].copy()
    if rows.empty:
        return pd.DataFrame(columns=["pid", "seq", "d_delay", "d_ts", "ratio", "line"])
    # Without seq= (first watchdog version) a request is followed while its delay keeps growing.
    rows["seq"] = rows["seq"].astype("Int64").fillna(-1)
    rows["host"] = rows["host"].astype(object).fillna("")
    keys = ["host", "pid", "comm", "seq"]
    rows = rows.sort_values([*keys, "ts"], kind="stable")
    grouped = rows.groupby(keys, sort=False, observed=True)
    rows["d_delay"] = grouped["delay"].diff()
    rows["d_ts"] = grouped["ts"].diff()
    pairs = rows[(rows["d_ts"] >= MIN_SECONDS) & (rows["d_delay"] > 0)].copy()
    pairs["ratio"] = pairs["d_delay"].astype(float) / pairs["d_ts"].astype(float)
    return pairs[["pid", "seq", "d_delay", "d_ts", "ratio", "line"]]


def infer_hz(tasks: pd.DataFrame, hz: float | None = None) -> HzEstimate:
    """HZ of the kernel that printed ``tasks`` (one host), or ``hz`` when the caller knows it."""
    if hz is not None:
        return HzEstimate(float(hz), None, 0, "override", f"HZ={hz:g} given by the user")
    pairs = growth_pairs(tasks)
    if pairs.empty:
        return HzEstimate(None, None, 0, "unknown",
                          "HZ unknown: no request was seen in two reports a second or more apart")
    raw = float(pairs["ratio"].median())
    for common in COMMON_HZ:
        if abs(raw - common) <= SNAP_TOLERANCE * common:
            return HzEstimate(float(common), raw, len(pairs), "snapped",
                              f"HZ={common} (median {raw:.0f} jiffies/s over {len(pairs)} pairs)")
    return HzEstimate(raw, raw, len(pairs), "raw",
                      f"HZ about {raw:.0f}: median over {len(pairs)} pairs, not a common value; "
                      "timestamps may be from a receiver, not the kernel")


def hz_by_host(capture: Capture, hz: float | None = None) -> dict[str | None, HzEstimate]:
    tasks = capture.tasks
    if not len(tasks):
        return {None: infer_hz(tasks, hz)}
    out: dict[str | None, HzEstimate] = {}
    for host in tasks["host"].astype(object).unique():
        key = None if pd.isna(host) else str(host)
        rows = tasks[tasks["host"].isna()] if key is None else tasks[tasks["host"] == key]
        out[key] = infer_hz(rows, hz)
    return out


def delay_seconds(capture: Capture, hz: float | None = None) -> pd.Series:
    """``delay`` of every task row in seconds (NaN where HZ or the delay is unknown)."""
    tasks = capture.tasks
    seconds = pd.Series(float("nan"), index=tasks.index, dtype=float)
    for host, estimate in hz_by_host(capture, hz).items():
        if not estimate.known:
            continue
        mask = tasks["host"].isna() if host is None else tasks["host"] == host
        seconds[mask] = tasks.loc[mask, "delay"].astype(float) / float(estimate.hz)  # type: ignore[arg-type]
    return seconds
