"""oom-kill: the OOM killer ran and killed tasks; who, how big, and in which memory cgroup.

A kill is the kernel resolving a memory shortage, not a stall by itself: the finding is a
warning that names every victim so the reader can tell a runaway process (the largest victim,
killed again after respawning) from a cgroup limit doing its job. The watchdog rules say whether
the kills helped.
"""

from __future__ import annotations

import pandas as pd

from stallscope.capture.events import field_of
from stallscope.rules.base import Evidence, Finding, HostView, Severity, TaskRef, in_boot
from stallscope.rules.common.oom_reports import manual_invocations, memcg_oom_frame
from stallscope.rules.common.task_facts import (
    OOM_INVOCATIONS,
    OOM_KILLS,
    REPORTERS,
    oom_invocations_by_boot,
    oom_kills_by_boot,
)

RULE = "oom-kill"
# Findings of one severity are ranked by RANK, the root cause first (see stallscope.rules).
RANK = 160
SEVERITY = "warning / info"
SUMMARY = (
    "The OOM killer ran: every victim, its size, oom_score_adj and memory cgroup (the cgroup and constraint "
    "of a memcg OOM), who invoked it, and whether by hand (SysRq-f, order=-1)."
)
NEXT_STEPS: str | None = None
# Whether its findings are about memory: the verdict then goes on to the memory checks.
ABOUT_MEMORY = True
# What it derives that other rules derive too, at a cost on a long boot (seconds, or hundreds of
# MB): forked, rules that share one run in one process, which derives it once (stallscope.rules).
SHARED_DERIVATIONS = (OOM_INVOCATIONS, OOM_KILLS, REPORTERS)
# Seconds its check takes per million task rows and per million event rows of one long boot
# (bench/README.md): how the rules of one are shared among forked processes.
COST = (0.0, 0.225)
_NAMED = 10
# The lines that name the memory cgroup of an OOM kill, by kernel era.
_SUMMARY_KINDS = ("oom_kill_summary", "oom_memcg_task")


def _memcg_of(view: HostView, boot: int) -> dict[int, tuple[str, str | None]]:
    """Victim pid -> (the memory cgroup whose limit was hit, the constraint), from the 4.19+
    oom-kill summary lines of the boot."""
    found: dict[int, tuple[str, str | None]] = {}
    for fields in view.records_by_boot("oom_kill_summary").values(boot, "fields"):
        memcg, pid = field_of(fields, "oom_memcg"), field_of(fields, "pid")
        if memcg and pid and pid.isdigit():
            found[int(pid)] = (memcg, field_of(fields, "constraint"))
    return found


def _limited_cgroups(view: HostView, boot: int) -> list[str]:
    """The memory cgroups a report of the boot says hit their limit, whatever the kernel's era: the
    summary line's oom_memcg (4.19+), "Task in X killed as a result of limit of Y" (<= 4.x).
    Read from the lines' fields, not a record each: an OOM storm prints them by the hundred
    thousand (a record each was 80 MB at once, three times over, for 1 GB of journal)."""
    names = [field_of(fields, "oom_memcg") for fields in view.records_by_boot(*_SUMMARY_KINDS).values(boot, "fields")]
    return list(dict.fromkeys(str(n) for n in names if n))


def _size(kb: int) -> str:
    return f"{kb // 1024} MB" if kb >= 10 * 1024 else f"{kb} kB"


# ``check`` reads every boot of a machine at once and names each finding's boot: the diagnosis
# calls it once per machine, not once per boot (see stallscope.rules; bench/README.md).
ALL_BOOTS = True


# A kill's or an invocation's row, as events.kill_rows_of and invocation_rows_of give it.
Row = dict[str, object]


def check(view: HostView) -> list[Finding]:
    # Each boot's reports as rows: a boot has a few, and a table per boot cost more than its rules.
    kills = oom_kills_by_boot(view)
    invoked = oom_invocations_by_boot(view)
    findings = []
    for boot in sorted({*kills, *invoked}):
        found = _of_boot(view, boot, kills.get(boot, []), invoked.get(boot, []))
        if found is not None:
            findings.append(in_boot(found, boot))
    return findings


def _of_boot(view: HostView, boot: int, kills: list[Row], invoked: list[Row]) -> Finding | None:
    if not kills:
        # An OOM that ended without a victim is oom-panic's (no killable process, panic_on_oom).
        if not invoked or view.records_by_boot("oom_no_killable", "kernel_panic").count(boot):
            return None
        return _invoked_only(view, boot, invoked)
    memcgs = _memcg_of(view, boot)
    victims: list[str] = []
    for row in kills[:_NAMED]:
        pid = row["pid"]
        size = f", anon-rss {_size(row['anon_rss_kb'])}" if row["anon_rss_kb"] is not None else ""  # type: ignore[arg-type]
        adj = f", oom_score_adj {row['oom_score_adj']}" if row["oom_score_adj"] is not None else ""
        where = f" in memcg {memcgs[pid][0]}" if pid is not None and pid in memcgs else ""
        at = f" at {float(row['ts']):.2f}s" if pd.notna(row["ts"]) else ""  # type: ignore[arg-type]
        victims.append(f"{_name(row['comm'], pid)}{at}{size}{adj}{where}")
    more = f" and {len(kills) - _NAMED} more" if len(kills) > _NAMED else ""
    manual = manual_invocations(invoked)
    cgroups = _limited_cgroups(view, boot)
    if all(row["memcg"] for row in kills) or (cgroups and all(c != "/" for c in cgroups)):
        constraints = sorted({c for _, c in memcgs.values() if c})
        scope = ("a memory cgroup limit" + (f" ({', '.join(cgroups)})" if cgroups else "")
                 + (f", constraint {', '.join(constraints)}" if constraints else "")
                 + ": the cgroup reached its own limit, not the machine its memory")
    else:
        scope = "the whole machine running out of memory"
    evidence: list[Evidence] = [view.event_evidence(int(row["event"])) for row in invoked[:2]]  # type: ignore[call-overload]
    evidence += [view.event_evidence(int(row["event"])) for row in kills[:_NAMED]]  # type: ignore[call-overload]
    summary = view.records_by_boot(*_SUMMARY_KINDS).values(boot, None)
    evidence += [view.event_evidence(int(i)) for i in summary[:2]]  # type: ignore[call-overload]
    shown = {row["event"] for row in invoked[:2]}
    evidence += [view.event_evidence(int(row["event"])) for row in manual[:1] if row["event"] not in shown]  # type: ignore[call-overload]
    cause = _cause(invoked, manual, scope)
    by_hand = len(manual) == len(invoked) and len(invoked) > 0
    title = (f"The OOM killer {'was triggered by hand (SysRq-f) and ' if by_hand else ''}killed {len(kills)} task(s)"
             + (f" in memory cgroup {', '.join(cgroups[:2])}" if cgroups and scope.startswith("a memory") else "")
             + ": " + _victim_names(kills))
    return Finding(
        rule=RULE,
        # A kill asked for by hand is no shortage: information, not a warning.
        severity=Severity.INFO if by_hand else Severity.WARNING,
        title=title,
        explanation=(
            f"{cause} It killed: {'; '.join(victims)}{more}. "
            "Check whether the victim is the task that was growing (a leak or runaway) and whether "
            "memory came back afterwards: a victim that cannot exit (see victim-stuck and hung-task "
            "findings) keeps the shortage going."
        ),
        evidence=evidence,
        tasks=list(dict.fromkeys(TaskRef(str(r["comm"]), r["pid"]) for r in kills if r["pid"] is not None)),  # type: ignore[arg-type]
    )


def _name(comm: object, pid: object) -> str:
    """comm(pid) of a kill, whatever its table's column types ("?" where the line did not say): the
    table of every boot of a machine has a pid column of floats where one boot lacks a pid."""
    return f"{_text(comm) or '?'}({int(pid) if pd.notna(pid) else '?'})"  # type: ignore[call-overload]


def _text(value: object) -> str:
    """A text cell, "" where missing (None or NaN, as the column's type has it)."""
    return value if isinstance(value, str) else ""


def _victim_names(kills: list[Row]) -> str:
    """The victims of a title, each once ("a.out(9575) 4 times": SysRq-f can kill one exiting task
    again)."""
    counts: dict[str, int] = {}
    for row in kills:
        name = _name(row["comm"], row["pid"])
        counts[name] = counts.get(name, 0) + 1
    named = [name + (f" {n} times" if n > 1 else "") for name, n in list(counts.items())[:4]]
    return ", ".join(named) + ("…" if len(counts) > 4 else "")


def _cause(invoked: list[Row], manual: list[Row], scope: str) -> str:
    """Who invoked the OOM killer, and why, in a sentence that holds with what the log shows."""
    if not invoked:
        if scope.startswith("a memory cgroup"):
            return f"No \"invoked oom-killer\" line of these kills was captured; the kill lines name {scope}."
        return ("No \"invoked oom-killer\" line of these kills was captured: who invoked the OOM killer, and "
                "why, is not in the log.")
    callers = ", ".join(dict.fromkeys(str(row["comm"]) for row in invoked if row["comm"] is not None))
    text = f"The OOM killer was invoked {len(invoked)} time(s)" + (f" by {callers}" if callers else "")
    if len(manual) == len(invoked):
        return text + (" with order=-1: by hand, through SysRq-f (echo f > /proc/sysrq-trigger), not by an "
                       "allocation that failed.")
    if len(manual):
        text += (f"; {len(manual)} of them with order=-1, by hand through SysRq-f rather than by a shortage, "
                 "the others")
    return text + (f" because of {scope}." if scope else ".")


def _invoked_only(view: HostView, boot: int, invoked: list[Row]) -> Finding:
    """The OOM killer ran but the log holds no line naming a victim (a cut report)."""
    manual = manual_invocations(invoked)
    by_hand = len(manual) == len(invoked)
    callers = list(dict.fromkeys(str(row["comm"]) for row in invoked if row["comm"] is not None))
    first = invoked[0]
    order = f"order-{first['order']} " if first["order"] is not None and first["order"] >= 0 else ""  # type: ignore[operator]
    request = f"{order}{_text(first['gfp_names']) or _text(first['gfp_mask'])}".strip()
    cgroups = _limited_cgroups(view, boot)
    where = f" in memory cgroup {', '.join(cgroups[:2])}" if cgroups else ""
    evidence = [view.event_evidence(int(row["event"])) for row in invoked[:3]]  # type: ignore[call-overload]
    memcg = memcg_oom_frame(view, invoked)
    if memcg is not None:
        frame, lines = memcg
        evidence += lines
        scope = f"a memory cgroup's limit ({frame} in the invoking task's trace), not the machine's memory"
        where = where or " in a memory cgroup"
    else:
        scope = ""  # a cut report: whether a cgroup's limit or the machine's memory is not shown
    return Finding(
        rule=RULE,
        severity=Severity.INFO if by_hand else Severity.WARNING,
        title=(f"The OOM killer was {'triggered by hand (SysRq-f) by' if by_hand else 'invoked by'} "
               f"{', '.join(callers[:3]) or 'a task'}{where}" + (f" ({request})" if request and not by_hand else "")
               + "; no victim is named in the log"),
        explanation=(
            _cause(invoked, manual, scope)
            + " The log holds no \"Killed process\" line after it (the report is cut), so which task was "
            "killed, if any, is not known: the part of the report after the task table would say."
        ),
        evidence=evidence,
        tasks=list(dict.fromkeys(TaskRef(str(r["comm"]), r["pid"]) for r in invoked  # type: ignore[arg-type]
                                 if r["pid"] is not None and r["comm"] is not None)),
    )
