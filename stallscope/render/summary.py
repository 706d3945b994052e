"""The two-sentence headline and the summary numbers every renderer shows."""

from __future__ import annotations

import math

from stallscope.capture.model import Capture
from stallscope.capture.stalled import stalled_tasks
from stallscope.capture.understood import understood_records
from stallscope.rules.base import Finding, Severity


def summary(capture: Capture) -> dict[str, object]:
    snaps = capture.snapshots
    timestamps = [
        float(t)
        for frame in (snaps, capture.tasks, capture.events)
        for t in (frame["ts"].min(), frame["ts"].max())
        if len(frame) and not math.isnan(float(t))
    ]
    return {
        "snapshots": len(snaps),
        "tasks": len(capture.tasks),
        "events": len(capture.events),
        "distinct_stacks": int(capture.frames["stack"].nunique()) if len(capture.frames) else 0,
        "first_ts": min(timestamps) if timestamps else None,
        "last_ts": max(timestamps) if timestamps else None,
        "max_stalling": int(snaps["stalling"].max()) if snaps["stalling"].notna().any() else None,
        "hosts": sorted({str(h) for h in capture.tasks["host"].dropna().unique()}
                        | {str(h) for h in snaps["host"].dropna().unique()}),
        "lines": capture.lines,
        "unparsed": sum(i.unparsed for i in capture.inputs),
    }


def headline(capture: Capture, findings: list[Finding]) -> str:
    """What happened, in two sentences: the worst finding, then what else supports it."""
    facts = summary(capture)
    if not findings:
        if capture.inputs and not understood_records(capture):
            # Not a verdict: nothing was read that could have shown a stall.
            lines = sum(stats.physical_lines for stats in capture.inputs)
            return f"This does not look like a kernel log: 0 of {lines} lines understood."
        stalled = len(stalled_tasks(capture.tasks))
        if facts["snapshots"] or stalled:
            return (
                f"The watchdog reported {stalled} stalled task line(s) in {facts['snapshots']} "
                "report(s), but no rule found a stall pattern. Check the task table for long delays."
            )
        return (
            "No memory-allocation stall was found in this capture. "
            "It holds no MemAlloc watchdog output and no kernel report that a rule flags."
        )
    worst = findings[0]
    others = [f for f in findings[1:] if f.severity in (Severity.CRITICAL, Severity.WARNING)]
    first = f"{worst.severity.value.capitalize()}: {worst.title}."
    if others:
        rules = ", ".join(dict.fromkeys(f.rule for f in others))
        second = f"Also found: {rules} ({len(others)} more finding(s) below, each with the log lines behind it)."
    else:
        second = "The evidence below cites the log lines behind it."
    return f"{first} {second}"
