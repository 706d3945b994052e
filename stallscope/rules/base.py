"""What a rule returns, and the context every rule reads from."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import pandas as pd

from stallscope.capture.model import Capture


class Severity(str, Enum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"critical": 3, "warning": 2, "info": 1}[self.value]


@dataclass(frozen=True, slots=True)
class Evidence:
    """One log line that supports a finding."""

    source: str
    line: int
    ts: float | None
    text: str

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "line": self.line, "ts": self.ts, "text": self.text}


@dataclass(frozen=True, slots=True)
class TaskRef:
    comm: str
    pid: int

    def as_dict(self) -> dict[str, object]:
        return {"comm": self.comm, "pid": self.pid}


@dataclass(slots=True)
class Finding:
    rule: str
    severity: Severity
    title: str
    explanation: str
    evidence: list[Evidence] = field(default_factory=list)
    tasks: list[TaskRef] = field(default_factory=list)
    host: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "host": self.host,
            "title": self.title,
            "explanation": self.explanation,
            "evidence": [e.as_dict() for e in self.evidence],
            "tasks": [t.as_dict() for t in self.tasks],
        }


@dataclass(frozen=True, slots=True)
class HostView:
    """The part of a capture that belongs to one host (None: a capture without host names)."""

    host: str | None
    capture: Capture
    snapshots: pd.DataFrame
    tasks: pd.DataFrame
    events: pd.DataFrame

    def snapshot_evidence(self, index: int) -> Evidence:
        row = self.snapshots.loc[index]
        return Evidence(str(row["source"]), int(row["line"]), _ts(row["ts"]), str(row["text"]))

    def task_evidence(self, index: int) -> Evidence:
        row = self.tasks.loc[index]
        return Evidence(str(row["source"]), int(row["line"]), _ts(row["ts"]), str(row["text"]))

    def event_evidence(self, index: int) -> Evidence:
        row = self.events.loc[index]
        return Evidence(str(row["source"]), int(row["line"]), _ts(row["ts"]), str(row["text"]))

    def trace_evidence(self, task_index: int, summary: str) -> Evidence | None:
        """The first line of the call trace printed for a task row, described by ``summary``."""
        traces = self.capture.traces
        rows = traces[traces["task"] == task_index]
        if rows.empty:
            return None
        row = rows.iloc[0]
        return Evidence(str(row["source"]), int(row["line"]), _ts(row["ts"]), summary)

    def functions(self, stack: object) -> list[str]:
        if stack is None or pd.isna(stack):  # type: ignore[arg-type]
            return []
        return self.capture.stack_functions(int(stack))  # type: ignore[arg-type]


def _ts(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]


class Rule(Protocol):
    """A diagnosis: a module with ``RULE`` (its stable id) and ``check``."""

    RULE: str

    def check(self, view: HostView) -> list[Finding]: ...
