"""One paragraph a maintainer would write: the likely root cause, the evidence, what to check next.

Findings are ranked by severity, then by how close their rule is to a root cause (a dependency
loop explains a throttled reclaimer; the reverse is not true). Every sentence names the log lines
it rests on.
"""

from __future__ import annotations

import os

import pandas as pd

from stallscope.capture.hz import HostPairs, pairs_by_host
from stallscope.capture.model import Capture
from stallscope.capture.trajectories import trajectories_of
from stallscope.rules import BY_ID
from stallscope.rules.base import Finding

GENERIC_NEXT = "Mem-Info (SysRq-m), the workqueue dump, held locks, and each task's seq/switches across reports"


def verdict(capture: Capture, findings: list[Finding], pairs: dict[str | None, HostPairs] | None = None,
            trajectories: pd.DataFrame | None = None) -> str:
    """A paragraph per host naming the most likely root cause and its chain of evidence.

    ``pairs``: :func:`stallscope.capture.hz.pairs_by_host` of the capture's tasks, and
    ``trajectories``: :func:`~stallscope.capture.trajectories.trajectories_of` of them, when the
    caller has them already.
    """
    if not findings:
        return _nothing(capture)
    hosts: list[str | None] = []
    for f in findings:
        if f.host not in hosts:
            hosts.append(f.host)
    paragraphs = []
    tasks = _TaskFacts(capture.tasks, pairs, trajectories)
    for host in hosts:
        mine = [f for f in findings if f.host == host]
        text = _paragraph(capture, tasks, host, rank(mine))
        paragraphs.append(f"On host {host}: {text}" if host is not None and len(hosts) > 1 else text)
    return "\n\n".join(paragraphs)


def rank(findings: list[Finding]) -> list[Finding]:
    """Most severe first; within a severity the rule closer to a root cause (its RANK), then in
    log order."""
    def key(f: Finding) -> tuple[int, int, int]:
        first = f.evidence[0].line if f.evidence else 0
        return (-f.severity.rank, BY_ID[f.rule].RANK, first)

    return sorted(findings, key=key)


def _cite(capture: Capture, finding: Finding, limit: int = 3) -> str:
    many = len({i.path for i in capture.inputs}) > 1
    seen: list[str] = []
    for e in finding.evidence:
        ref = f"{os.path.basename(e.source)}:{e.line}" if many else str(e.line)
        if ref not in seen:
            seen.append(ref)
    if not seen:
        return ""
    shown = seen[:limit]
    word = "line" if len(shown) == 1 else "lines"
    return f" ({word} {', '.join(shown)})"


def _first_line(finding: Finding) -> str:
    return f"line {finding.evidence[0].line}" if finding.evidence else "the findings above"


def _paragraph(capture: Capture, tasks: _TaskFacts, host: str | None, ranked: list[Finding]) -> str:
    top = ranked[0]
    sentences = [f"Most likely root cause: {_sentence(top.title)}{_cite(capture, top)}."]
    rest = ranked[1:5]
    if rest:
        chain = "; ".join(f"{_sentence(f.title)}{_cite(capture, f, 2)}" for f in rest)
        sentences.append(f"Supporting evidence: {chain}.")
    sentences += _trajectory_sentences(tasks, host)
    rule = BY_ID[top.rule]
    steps = [s for s in (rule.NEXT_STEPS, GENERIC_NEXT if rule.ABOUT_MEMORY else None) if s]
    if steps:
        sentences.append(f"Next, given {_first_line(top)}, check {'; then '.join(steps)}.")
    return " ".join(sentences)


def _sentence(title: str) -> str:
    return title[:1].lower() + title[1:] if title[:2] != title[:2].upper() else title


class _TaskFacts:
    """Trajectories and delay-growth pairs of every host, derived on first use for all of them.

    Each host's paragraph reads its own; selecting a host's rows out of a long table and
    deriving them host by host costs several times one pass over the whole table.
    """

    def __init__(self, tasks: pd.DataFrame, pairs: dict[str | None, HostPairs] | None,
                 trajectories: pd.DataFrame | None = None) -> None:
        self.tasks = tasks
        self._trajectories = None if trajectories is None else trajectories[trajectories["observations"] > 1]
        self._pairs = pairs

    def repeated(self, host: str | None) -> pd.DataFrame:
        """The trajectories of ``host`` (None: rows without one) seen in more than one report."""
        if self._trajectories is None:
            # A trajectory is keyed by host: the table's rows of a host are that host's own.
            traj = trajectories_of(self.tasks)
            self._trajectories = traj[traj["observations"] > 1]
        traj = self._trajectories
        return traj[(traj["host"].isna() if host is None else traj["host"] == host).to_numpy(dtype=bool)]

    def pairs(self) -> dict[str | None, HostPairs]:
        if self._pairs is None:
            self._pairs = pairs_by_host(self.tasks)
        return self._pairs


def _trajectory_sentences(tasks: _TaskFacts, host: str | None) -> list[str]:
    if not len(tasks.tasks):
        return []
    repeated = tasks.repeated(host)
    out = []
    if len(repeated):
        counts = repeated["kind"].value_counts()
        parts = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        first, last = int(repeated["first_line"].min()), int(repeated["last_line"].max())
        out.append(f"Of the {len(repeated)} tasks listed in more than one report (lines {first}-{last}), "
                   f"by seq and switches: {parts}.")
    pairs = tasks.pairs().get(host)
    # What hz_by_host(capture) says of this host: the same pairs, read the same way.
    found = None if pairs is None else pairs.estimate()
    if pairs is not None and found is not None and found.known:
        where = f" (first pair at line {pairs.first_line})" if pairs.first_line is not None else ""
        out.append(f"delay= is in jiffies; {found.note}{where}.")
    return out


def _nothing(capture: Capture) -> str:
    snaps, tasks = len(capture.snapshots), len(capture.tasks)
    if snaps == 0 and tasks == 0:
        return ("No finding: the log has no watchdog report (no MemAlloc-Info or MemAlloc line) "
                "and no other kernel report a rule recognized.")
    first = int(capture.snapshots["line"].min()) if snaps else int(capture.tasks["line"].min())
    return (f"No finding: {snaps} watchdog report line(s) and {tasks} task line(s) from line {first} "
            "on show no stall pattern a rule recognizes.")
