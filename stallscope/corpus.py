"""How stallscope fares on logs nobody on the project wrote: the real-world corpus report.

``python -m stallscope.corpus tests/data/wild`` reads every log of the folder with its
expectations (``expect.json``, written from the authors' own diagnoses before stallscope ever
ran on the log) and prints, per log, the author's diagnosis in a few words, stallscope's
headline and rules, the lines left unparsed, and a status:

- AGREES: every expectation holds;
- PARTLY: some of what the author concluded is found, not all;
- MISSED: nothing of what the author concluded is found;
- FALSE ALARM: a finding contradicts the author (a forbidden rule, a critical finding on a
  log with nothing critical in it).

``--syzkaller DIR`` adds the peer check on syzkaller's golden report corpus: for its
non-corrupted ``INFO: task hung in X`` reports, how often stallscope's hung-task finding names
``X`` (syzkaller's guilty frame) as the wait site (its ``synchronize_rcu`` stands for any RCU
grace-period wait); for soft lockups and RCU stalls, how often
there is a finding; for every other report, how many get a critical finding (there should be
none); and any crash or timeout.

The module uses only the public API (``load``, ``diagnose``), so the same script measures any
build of stallscope: the first reading was taken on the build that predates the corpus.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import stallscope

AGREES, PARTLY, MISSED, FALSE_ALARM = "AGREES", "PARTLY", "MISSED", "FALSE ALARM"
STATUSES = (AGREES, PARTLY, MISSED, FALSE_ALARM)


@dataclass(frozen=True)
class Check:
    """One expectation of one log: ``kind`` is must, must_not, names, mentions or no_critical."""

    kind: str
    value: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}" if self.value else self.kind

    @property
    def contradicts(self) -> bool:
        """A failure of this check is a false alarm, not a miss."""
        return self.kind in ("must_not", "no_critical")


def checks_of(expected: dict[str, Any]) -> list[Check]:
    """The expectations of one log, in a stable order."""
    out = [Check("must", r) for r in expected.get("must", [])]
    out += [Check("must_not", r) for r in expected.get("must_not", [])]
    out += [Check("names", w) for w in expected.get("names", [])]
    out += [Check("mentions", w) for w in expected.get("mentions", [])]
    if expected.get("no_critical"):
        out.append(Check("no_critical", ""))
    return out


def _finding_text(f: Any, with_evidence: bool) -> str:
    parts = [f.title, f.explanation, *(f"{t.comm}({t.pid})" for t in f.tasks)]
    if with_evidence:
        parts += [e.text for e in f.evidence]
    return "\n".join(parts)


@dataclass
class Outcome:
    """stallscope's reading of one log against its expectations."""

    name: str
    diagnosis: str
    headline: str
    rules: list[str]
    unparsed: int
    lines: int
    failed: list[Check] = field(default_factory=list)
    passed: list[Check] = field(default_factory=list)
    error: str | None = None
    # The unparsed lines by reason (capture.model.UNPARSED_REASONS), and those of the reports
    # stallscope reads that it failed to read: (line number, reason, text).
    reasons: dict[str, int] = field(default_factory=dict)
    missed_lines: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.error is not None or any(c.contradicts for c in self.failed):
            return FALSE_ALARM if self.error is None else MISSED
        if not self.failed:
            return AGREES
        positive = [c for c in self.passed if not c.contradicts]
        return PARTLY if positive else MISSED

    def as_dict(self) -> dict[str, object]:
        return {
            "log": self.name,
            "status": self.status,
            "diagnosis": self.diagnosis,
            "headline": self.headline,
            "rules": self.rules,
            "lines": self.lines,
            "unparsed": self.unparsed,
            "unparsed_reasons": self.reasons,
            "unparsed_in_reports": [{"line": n, "reason": why, "text": text} for n, why, text in self.missed_lines],
            "missing": [c.key for c in self.failed],
            "error": self.error,
        }


def judge(findings: list[Any], check: Check) -> bool:
    """Whether ``findings`` (ranked, most likely root cause first) meet one expectation."""
    rules = {f.rule for f in findings}
    if check.kind == "must":
        return check.value in rules
    if check.kind == "must_not":
        return check.value not in rules
    if check.kind == "no_critical":
        return not any(f.severity.value == "critical" for f in findings)
    if check.kind == "names":
        # The root-cause statement: the top finding's own words, not the log lines it quotes.
        return bool(findings) and check.value in _finding_text(findings[0], with_evidence=False)
    if check.kind == "mentions":
        return any(check.value in _finding_text(f, with_evidence=True) for f in findings)
    raise ValueError(f"unknown expectation kind {check.kind!r}")


def read_log(path: Path, expected: dict[str, Any]) -> Outcome:
    try:
        capture = stallscope.load(str(path), keep_unparsed=True)
        findings = list(stallscope.diagnose(capture))
    except Exception as exc:  # the report must go on; the failure is reported as the outcome
        return Outcome(path.name, str(expected.get("diagnosis", "")), "", [], 0, 0,
                       failed=checks_of(expected), error=f"{type(exc).__name__}: {exc}")
    lines = sum(i.lines for i in capture.inputs)
    unparsed = sum(i.unparsed for i in capture.inputs)
    headline = f"{findings[0].severity.value} {findings[0].rule}: {findings[0].title}" if findings else "no finding"
    seen: dict[str, None] = {}
    for f in findings:
        seen.setdefault(f"{f.rule}({f.severity.value[0]})", None)
    outcome = Outcome(path.name, str(expected.get("diagnosis", "")), headline, list(seen), unparsed, lines)
    for stats in capture.inputs:
        for why, n in stats.unparsed_reasons.items():
            outcome.reasons[why] = outcome.reasons.get(why, 0) + n
    outcome.missed_lines = [(u.line, u.reason, u.text.strip()) for u in capture.unparsed if u.reason in MISSED_REASONS]
    for check in checks_of(expected):
        (outcome.passed if judge(findings, check) else outcome.failed).append(check)
    return outcome


def load_expectations(folder: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((folder / "expect.json").read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def read_corpus(folder: Path) -> list[Outcome]:
    expectations = load_expectations(folder)
    return [read_log(folder / name, expected) for name, expected in sorted(expectations.items())]


# --- syzkaller's golden reports ------------------------------------------------------------

LOCKUP_TITLE = re.compile(r"soft lockup|hard lockup|rcu.*(stall|detected)|lockup on CPU", re.IGNORECASE)
HUNG_TITLE = re.compile(r"^INFO: task hung in (\S+)")


@dataclass
class PeerReport:
    name: str
    title: str
    corrupted: bool
    body: str

    @property
    def category(self) -> str:
        if HUNG_TITLE.match(self.title):
            return "hung"
        if LOCKUP_TITLE.search(self.title):
            return "lockup"
        return "other"


def peer_reports(folder: Path) -> Iterator[PeerReport]:
    for path in sorted(folder.iterdir(), key=lambda p: (len(p.name), p.name)):
        if not path.name.isdigit():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        header, _, body = text.partition("\n\n")
        fields = dict(line.split(": ", 1) for line in header.splitlines() if ": " in line)
        yield PeerReport(path.name, fields.get("TITLE", ""), fields.get("CORRUPTED", "") == "Y",
                         body)


class _Timeout(Exception):
    pass


def _on_alarm(signum: int, frame: object) -> None:
    raise _Timeout


@dataclass
class PeerCheck:
    hung_named: list[str] = field(default_factory=list)
    hung_missed: list[tuple[str, str, str]] = field(default_factory=list)  # report, frame, what was named
    lockup_found: list[str] = field(default_factory=list)
    lockup_missed: list[str] = field(default_factory=list)
    other_critical: list[tuple[str, str]] = field(default_factory=list)  # report, rule
    other_total: int = 0
    crashes: list[tuple[str, str]] = field(default_factory=list)
    timeouts: list[str] = field(default_factory=list)
    unparsed: int = 0
    lines: int = 0
    reports: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    # The lines of reports stallscope reads that it failed to read: (report, line, reason, text).
    missed_lines: list[tuple[str, int, str, str]] = field(default_factory=list)
    # Each report's lines not understood, by why (the reports with none left out).
    unparsed_by_report: dict[str, dict[str, int]] = field(default_factory=dict)

    def summary(self) -> str:
        hung = len(self.hung_named) + len(self.hung_missed)
        lock = len(self.lockup_found) + len(self.lockup_missed)
        return (f"syzkaller peer check ({self.reports} reports): hung-task wait site = guilty frame in "
                f"{len(self.hung_named)}/{hung} ({_pct(len(self.hung_named), hung)}); soft lockups and RCU "
                f"stalls with a finding {len(self.lockup_found)}/{lock}; other reports with a critical "
                f"finding {len(self.other_critical)}/{self.other_total}; crashes {len(self.crashes)}, "
                f"timeouts {len(self.timeouts)}; unparsed lines {self.unparsed}/{self.lines} "
                f"({_pct(self.unparsed, self.lines)}: "
                f"{', '.join(f'{name} {n}' for name, n in self.reasons.most_common()) or 'none'})")

    def as_dict(self) -> dict[str, object]:
        return {
            "hung_named": self.hung_named,
            "hung_missed": [{"report": r, "frame": f, "named": n} for r, f, n in self.hung_missed],
            "lockup_found": self.lockup_found,
            "lockup_missed": self.lockup_missed,
            "other_critical": [{"report": r, "rule": rule} for r, rule in self.other_critical],
            "other_total": self.other_total,
            "crashes": [{"report": r, "error": e} for r, e in self.crashes],
            "timeouts": self.timeouts,
            "unparsed": self.unparsed,
            "unparsed_reasons": dict(self.reasons),
            "lines": self.lines,
            "unparsed_in_reports": [{"report": r, "line": n, "reason": why, "text": text}
                                    for r, n, why, text in self.missed_lines],
            "unparsed_by_report": self.unparsed_by_report,
            "summary": self.summary(),
        }


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


# syzkaller names most hangs by a frame of the hung task's trace, but files every hang in an RCU
# grace-period wait under one name, synchronize_rcu, whatever the flavour or wrapper the trace
# shows (synchronize_srcu, synchronize_sched, synchronize_rcu_expedited, synchronize_net): for
# that name, a title naming any of the kernel's synchronize_* RCU waits names the same thing.
RCU_BUCKET = "synchronize_rcu"
RCU_WAITS = r"synchronize_(?:rcu|rcu_bh|rcu_expedited|rcu_tasks\w*|sched|sched_expedited|srcu|srcu_expedited|net)"


def wait_site_named(findings: list[Any], frame: str) -> tuple[bool, str]:
    """Whether a hung-task finding's title names ``frame`` as where the task waits."""
    hung = [f for f in findings if f.rule == "hung-task"]
    name = RCU_WAITS if frame == RCU_BUCKET else re.escape(frame)
    word = re.compile(rf"(?<![\w.]){name}(?![\w])")
    for f in hung:
        if word.search(f.title):
            return True, f.title
    return False, hung[0].title if hung else "(no hung-task finding)"


def check_peer(folder: Path, timeout: int = 60) -> PeerCheck:
    result = PeerCheck()
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    with tempfile.TemporaryDirectory(prefix="stallscope-peer-") as folder_name:
        return _check_peer(folder, Path(folder_name), timeout, result, previous)


def _check_peer(folder: Path, scratch: Path, timeout: int, result: PeerCheck, previous: Any) -> PeerCheck:
    try:
        for report in peer_reports(folder):
            result.reports += 1
            signal.alarm(timeout)
            try:
                # Through a file, as a user would give it: the same reading path as any log.
                path = scratch / f"syzkaller-{report.name}.log"
                path.write_text(report.body, encoding="utf-8")
                capture = stallscope.load(str(path), keep_unparsed=True)
                findings = list(stallscope.diagnose(capture))
            except _Timeout:
                result.timeouts.append(report.name)
                continue
            except Exception as exc:  # counted and listed: the check must see all 747
                result.crashes.append((report.name, f"{type(exc).__name__}: {exc}"))
                continue
            finally:
                signal.alarm(0)
            result.lines += sum(i.lines for i in capture.inputs)
            result.unparsed += sum(i.unparsed for i in capture.inputs)
            for stats in capture.inputs:
                result.reasons.update(stats.unparsed_reasons)
                if stats.unparsed_reasons:
                    result.unparsed_by_report[report.name] = dict(stats.unparsed_reasons)
            result.missed_lines += [(report.name, u.line, u.reason, u.text.strip()) for u in capture.unparsed
                                    if u.reason in MISSED_REASONS]
            category = report.category
            if category == "hung":
                if report.corrupted:
                    continue
                frame = HUNG_TITLE.match(report.title).group(1)  # type: ignore[union-attr]
                named, said = wait_site_named(findings, frame)
                if named:
                    result.hung_named.append(report.name)
                else:
                    result.hung_missed.append((report.name, frame, said))
            elif category == "lockup":
                (result.lockup_found if findings else result.lockup_missed).append(report.name)
            else:
                result.other_total += 1
                critical = [f.rule for f in findings if f.severity.value == "critical"]
                if critical:
                    result.other_critical.append((report.name, critical[0]))
    finally:
        signal.signal(signal.SIGALRM, previous)
    return result


# --- output ---------------------------------------------------------------------------------

# Unparsed lines that belong to the reports stallscope reads (the others are recognised as not its
# business: see UNPARSED_REASONS).
MISSED_REASONS = ("in-report", "trace-line")


def corpus_summary(outcomes: list[Outcome]) -> str:
    counts = Counter(o.status for o in outcomes)
    total = len(outcomes)
    lines = sum(o.lines for o in outcomes)
    unparsed = sum(o.unparsed for o in outcomes)
    parts = ", ".join(f"{counts[s]} {s.lower()}" for s in STATUSES)
    reasons: Counter[str] = Counter()
    for o in outcomes:
        reasons.update(o.reasons)
    why = ", ".join(f"{name} {n}" for name, n in reasons.most_common())
    return (f"real-world corpus ({total} logs): {parts}; agreement {_pct(counts[AGREES], total)}; "
            f"unparsed lines {unparsed}/{lines} ({_pct(unparsed, lines)}: {why or 'none'})")


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_text(outcomes: list[Outcome]) -> str:
    out = []
    for o in outcomes:
        out.append(f"{o.status:<11} {o.name}")
        out.append(f"    author:     {_clip(o.diagnosis, 110)}")
        out.append(f"    stallscope: {_clip(o.headline, 110)}")
        why = ", ".join(f"{name} {n}" for name, n in sorted(o.reasons.items()))
        out.append(f"    rules:      {', '.join(o.rules) or '-'}; unparsed {o.unparsed}/{o.lines}"
                   + (f" ({why})" if why else ""))
        for number, reason, text in o.missed_lines:
            out.append(f"    unread {number:>5} [{reason}] {_clip(text, 90)}")
        if o.failed:
            out.append(f"    not met:    {', '.join(c.key for c in o.failed)}")
        if o.error:
            out.append(f"    error:      {o.error}")
    out.append(corpus_summary(outcomes))
    return "\n".join(out)


def render_markdown(outcomes: list[Outcome]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    out = ["| log | status | author's diagnosis | stallscope's headline | unparsed | not met |",
           "|---|---|---|---|---|---|"]
    for o in outcomes:
        out.append(f"| {cell(o.name)} | {o.status} | {cell(_clip(o.diagnosis, 80))} | "
                   f"{cell(_clip(o.headline, 80))} | {o.unparsed}/{o.lines} | "
                   f"{cell(', '.join(c.key for c in o.failed))} |")
    out.append("")
    out.append(corpus_summary(outcomes))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stallscope.corpus", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a corpus folder with expect.json (tests/data/wild)")
    parser.add_argument("--syzkaller", type=Path, help="syzkaller's report corpus folder, for the peer check")
    parser.add_argument("--format", choices=("text", "md", "json"), default="text")
    parser.add_argument("--update-gaps", action="store_true",
                        help="rewrite FOLDER/gaps.json: the expectations not met by this build")
    args = parser.parse_args(argv)
    started = time.monotonic()
    outcomes = read_corpus(args.folder)
    peer = check_peer(args.syzkaller) if args.syzkaller else None
    if args.format == "json":
        doc: dict[str, object] = {"logs": [o.as_dict() for o in outcomes], "summary": corpus_summary(outcomes)}
        if peer is not None:
            doc["syzkaller"] = peer.as_dict()
        print(json.dumps(doc, indent=1))
    else:
        print(render_markdown(outcomes) if args.format == "md" else render_text(outcomes))
        if peer is not None:
            for name, number, reason, text in peer.missed_lines:
                print(f"syzkaller {name:>5}:{number:<5} unread [{reason}] {_clip(text, 90)}")
            print(peer.summary())
        print(f"({time.monotonic() - started:.1f} s)", file=sys.stderr)
    if args.update_gaps:
        write_gaps(args.folder, outcomes)
    return 0


def write_gaps(folder: Path, outcomes: list[Outcome]) -> None:
    """The expectations this build does not meet: the test suite marks each a strict xfail."""
    gaps = {o.name: [c.key for c in o.failed] for o in outcomes if o.failed}
    doc = {"_about": "Expectations of expect.json this build does not meet yet (python -m stallscope.corpus "
                     "FOLDER --update-gaps); each is a strict xfail in tests/rules/test_wild_corpus.py.", **gaps}
    (folder / "gaps.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
