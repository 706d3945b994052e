"""device-error: a device, disk, filesystem, network link or the CPU itself reported a failure.

A machine that "hung" is often waiting for hardware: a disk or NVMe controller that stopped
answering (its I/O times out, the block layer fails requests), a USB host controller that died, a
GPU being reset, a network interface whose transmit queue timed out, an NFS server that went away,
a machine check. The tasks that wait for it sleep in D state and hung-task reports follow; to a
reader that looks like a stall, but not one of the page allocator. This rule names each device
that reported failures, with its first line verbatim, so that the reader looks there first.
"""

from __future__ import annotations

import re

from stallscope.rules.base import Evidence, Finding, HostView, Severity, in_boot
from stallscope.rules.common.reports import DEVICE_KINDS, device_label, memory_boots

RULE = "device-error"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
# After other-report: a crash report is the more specific statement (and it names the device
# line printed just before it, see other-report).
RANK = 155
SEVERITY = "info"
SUMMARY = (
    "A device, disk, filesystem, network interface, NFS server or the CPU (machine check) reported "
    "failures: names each with its first line."
)
NEXT_STEPS: str | None = (
    "the device's lines before its first failure (resets, link changes, a resume from suspend), its "
    "firmware and driver version, and its own error log (smartctl -x, nvme error-log, mcelog)"
)
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = False

_MAX_DEVICES = 4
# Per device, the kinds of message quoted (each the first of its shape, digits aside): a
# controller's first timeout, its failed command, its error register, then its last line.
_SHAPES_QUOTED = 3
_DIGITS = re.compile(r"\d+")


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


def check(view: HostView) -> list[Finding]:
    failures = view.records_by_boot(*DEVICE_KINDS)
    if not failures:
        return []
    memory = memory_boots(view)
    return [in_boot(finding, boot) for boot, rows in failures.items()
            for finding in _of_boot(view, rows, boot in memory)]


def _of_boot(view: HostView, failures: list[tuple[object, dict[str, object]]], memory: bool) -> list[Finding]:
    """The finding of one boot's device failures (records, in log order)."""
    # Per device, in the order of first appearance: its event rows.
    devices: dict[str, list[int]] = {}
    for index, row in failures:
        devices.setdefault(device_label(row), []).append(int(index))  # type: ignore[call-overload]
    named = list(devices.items())[:_MAX_DEVICES]
    first = view.event_evidence(named[0][1][0])
    counted = [f"{label} ({len(rows)} line{'s' if len(rows) > 1 else ''})" for label, rows in named]
    more = f" and {len(devices) - _MAX_DEVICES} more" if len(devices) > _MAX_DEVICES else ""
    lead = "Also in this log, device failures" if memory else "Not a memory-allocation stall: device failures"
    evidence: list[Evidence] = []
    sentences = []
    for label, rows in named:
        quoted = _each_shape(view, rows)
        head = view.event_evidence(quoted[0])
        evidence += [view.event_evidence(index) for index in quoted]
        span = _span(view, rows)
        sentences.append(f"{label}: {len(rows)} line(s){span}, the first \"{head.text}\"")
    return [
        Finding(
            rule=RULE,
            severity=Severity.INFO,
            title=f"{lead} from {_join(counted)}{more}: \"{first.text}\"",
            explanation=(
                "; ".join(sentences) + ". "
                + ("A device that stops answering leaves the tasks that wait for it in D state (hung-task reports "
                   "in I/O or writeback waits) and the work queued on it stuck: check whether the stalled tasks "
                   "wait for this device before blaming memory."
                   if memory else
                   "Nothing in this log is a memory-allocation stall: the hardware or its driver failed, and what "
                   "waited for it (I/O, the display, the network) waited too. These lines and the driver's "
                   "documented bugs are where to look.")
            ),
            evidence=evidence,
        )
    ]


def _each_shape(view: HostView, rows: list[int]) -> list[int]:
    """The first row of each message shape (up to _SHAPES_QUOTED), then the last row."""
    seen: set[str] = set()
    out: list[int] = []
    for index in rows:
        shape = _DIGITS.sub("0", str(view.cell("events", index, "text")))
        if shape not in seen:
            seen.add(shape)
            out.append(index)
            if len(out) == _SHAPES_QUOTED:
                break
    return out if rows[-1] in out else [*out, rows[-1]]


def _span(view: HostView, rows: list[int]) -> str:
    start, end = view.cell("events", rows[0], "ts"), view.cell("events", rows[-1], "ts")
    if len(rows) < 2 or start != start or end != end:  # NaN: no kernel timestamp
        return ""
    return f" from {float(start):.2f}s to {float(end):.2f}s"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
