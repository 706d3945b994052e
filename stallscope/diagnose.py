"""Run every rule over every host of a capture."""

from __future__ import annotations

from stallscope.capture.model import Capture
from stallscope.rules import ALL_RULES
from stallscope.rules.base import Finding, HostView


def host_views(capture: Capture) -> list[HostView]:
    hosts: list[str | None] = []
    for frame in (capture.snapshots, capture.tasks, capture.events):
        for host in frame["host"].unique() if len(frame) else []:
            value = None if host is None or (isinstance(host, float)) else str(host)
            if value not in hosts:
                hosts.append(value)
    if not hosts:
        hosts = [None]
    views = []
    for host in hosts:
        views.append(
            HostView(
                host=host,
                capture=capture,
                snapshots=_of_host(capture.snapshots, host),
                tasks=_of_host(capture.tasks, host),
                events=_of_host(capture.events, host),
            )
        )
    return views


def _of_host(frame, host):  # type: ignore[no-untyped-def]
    if host is None:
        return frame[frame["host"].isna()] if len(frame) else frame
    return frame[frame["host"] == host]


def diagnose(capture: Capture) -> list[Finding]:
    """All findings, most severe first, in log order within a severity."""
    findings: list[Finding] = []
    for view in host_views(capture):
        for rule in ALL_RULES:
            for finding in rule.check(view):
                finding.host = view.host
                findings.append(finding)
    findings.sort(key=lambda f: (-f.severity.rank, f.evidence[0].line if f.evidence else 0))
    return findings
