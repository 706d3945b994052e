"""Run every rule over every machine of a capture."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from stallscope.capture.model import Capture
from stallscope.capture.trajectories import combine, text_codes
from stallscope.rules import ALL_RULES
from stallscope.rules.base import Finding, HostView
from stallscope.verdict import rank

# A machine: its host name when the capture prefix names one; otherwise each input file on its
# own, since unrelated files (one per machine is the common case) must not form one timeline.
Machine = tuple[str | None, str | None]


def machine_keys(capture: Capture) -> list[Machine]:
    """The machines of a capture, in order of first appearance (snapshots, tasks, events)."""
    seen: dict[Machine, None] = {}
    for frame in (capture.snapshots, capture.tasks, capture.events):
        if not len(frame):
            continue
        # The distinct (host, source) pairs, on the columns' codes: a long table has few of them.
        hosts, host_names = text_codes(frame["host"])
        sources, source_names = text_codes(frame["source"])
        width = len(source_names) + 1
        for pair in pd.unique(combine(hosts + 1, sources + 1, width)).tolist():
            host, source = divmod(pair, width)
            if host == 0:
                seen[(None, source_names[source - 1] if source else "nan")] = None
            else:
                seen[(host_names[host - 1], None)] = None
    return list(seen) or [(None, None)]


def _rows(frame: pd.DataFrame, machine: Machine) -> pd.DataFrame:
    host, source = machine
    if not len(frame):
        return frame
    if host is not None:
        return frame[frame["host"] == host]
    mask = frame["host"].isna()
    if source is not None:
        mask &= frame["source"] == source
    return frame[mask]


def iter_host_views(capture: Capture) -> Iterator[HostView]:
    """One view per machine, each made when asked for: a machine's rows are copied out of the
    tables, so holding one view at a time keeps a fleet capture's memory near its own size."""
    # One memo for all views: what the rules derive from the whole capture is derived once.
    shared: dict[str, object] = {}
    for machine in machine_keys(capture):
        yield HostView(
            host=machine[0],
            capture=capture,
            snapshots=_rows(capture.snapshots, machine),
            tasks=_rows(capture.tasks, machine),
            events=_rows(capture.events, machine),
            capture_memo=shared,
        )


def host_views(capture: Capture) -> list[HostView]:
    return list(iter_host_views(capture))


def diagnose(capture: Capture) -> list[Finding]:
    """All findings, most severe first, then closest to a root cause, then in log order."""
    findings: list[Finding] = []
    for view in iter_host_views(capture):
        for rule in ALL_RULES:
            for finding in rule.check(view):
                finding.host = view.host
                findings.append(finding)
        # Let go of this machine's rows (and what the rules derived from them) before the
        # next machine's are copied: the loop variable would hold them until then.
        del view
    # Most severe first, and within a severity the finding closest to a root cause.
    return rank(findings)
