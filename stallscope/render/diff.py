"""``stallscope diff``: a comparison (:mod:`stallscope.diff`) on the terminal, as Markdown, or as JSON.

All three show the same parts in the same order: the verdict sentence, the facts of both sides
next to each other with the change, the findings matched by key, the stack signatures and wait
sites with their task counts, and then each machine of a fleet the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from stallscope.diff import BETTER, BOTH, GONE, NEW, WORSE, Comparison, Facts, Pair, PlaceRow
from stallscope.render.mdtext import clean, code, inline, paragraph, table

# Places listed per table (the most tasks first); the JSON document has them all.
MAX_PLACES = 12
_STATUS_STYLE = {NEW: "yellow", GONE: "green", BOTH: ""}
_VERDICT_STYLE = {BETTER: "green", WORSE: "bold red"}

# The rows of the side-by-side facts: label and how to read the value from one side's facts.
FACT_ROWS: tuple[tuple[str, Callable[[Facts], object]], ...] = (
    ("watchdog reports", lambda f: f.reports),
    ("  with tasks stalling", lambda f: f.stalled_reports),
    ("stall episodes", lambda f: f.episodes),
    ("most tasks stalling at once", lambda f: f.max_stalling),
    ("longest allocation delay", lambda f: _delay(f)),
    ("longest warn_alloc stall", lambda f: None if f.longest_alloc_stall_seconds is None
     else f"{f.longest_alloc_stall_seconds:.1f} s"),
    ("OOM killer invocations", lambda f: f.oom_invocations),
    ("  oom_count growth (watchdog)", lambda f: f.oom_count_growth),
    ("OOM kills", lambda f: f.oom_kills),
    ("hung task reports", lambda f: f.hung_task_reports),
    ("  distinct hung tasks", lambda f: f.hung_tasks),
    ("findings", lambda f: ", ".join(f"{n} {s}" for s, n in f.findings.items()) or "none"),
    ("kernel lines read", lambda f: f.records),
)


def _delay(f: Facts) -> str | None:
    if f.max_delay_jiffies is None:
        return None
    if f.max_delay_seconds is not None:
        return f"{f.max_delay_seconds:.1f} s ({f.max_delay_jiffies} jiffies, HZ={f.hz:g})" if f.hz else \
            f"{f.max_delay_seconds:.1f} s ({f.max_delay_jiffies} jiffies)"
    return f"{f.max_delay_jiffies} jiffies (HZ unknown: give --hz)"


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def _change(before: object, after: object) -> str:
    if isinstance(before, int) and isinstance(after, int) and not isinstance(before, bool):
        return "=" if before == after else f"{after - before:+d}"
    return "" if before == after else "changed"


def fact_rows(pair: Pair) -> list[list[str]]:
    rows = []
    for label, get in FACT_ROWS:
        before = None if pair.before is None else get(pair.before)
        after = None if pair.after is None else get(pair.after)
        rows.append([label, _cell(before), _cell(after), _change(before, after)])
    return rows


def finding_rows(pair: Pair) -> list[list[str]]:
    return [[r.status, r.key.rule, r.key.site or "(the machine)", r.before_severity or "",
             r.after_severity or "", str(r.before), str(r.after), r.title] for r in pair.findings]


def place_rows(rows: list[PlaceRow]) -> list[list[str]]:
    return [[r.status, r.name, str(r.before_tasks), str(r.after_tasks), str(r.before_traces), str(r.after_traces)]
            for r in rows[:MAX_PLACES]]


_FINDING_COLUMNS = ["", "rule", "about", "severity before", "severity after", "before", "after", "title"]
_PLACE_COLUMNS = ["", "{what}", "tasks before", "tasks after", "traces before", "traces after"]


# -- terminal -----------------------------------------------------------------------------------
def render(comparison: Comparison, console: Console) -> None:
    style = _VERDICT_STYLE.get(comparison.verdict, "")
    console.print(Panel(Text(clean(comparison.sentence)), title=f"Verdict: {comparison.verdict}",
                        title_align="left", border_style=style))
    console.print(Text(clean(f"BEFORE: {comparison.names[0]}\nAFTER:  {comparison.names[1]}"), style="dim"))
    _pair(comparison.overall, console, "Overall")
    for pair in comparison.machines:
        console.print(Text(clean(f"Machine {pair.name}: {pair.verdict}. {pair.sentence}"), style="bold"))
        _pair(pair, console, f"Machine {pair.name}")


def _table(title: str, columns: list[str], rows: list[list[str]], statuses: bool = True) -> Table:
    out = Table(title=clean(title), title_justify="left")
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*(Text(clean(cell), style=_STATUS_STYLE.get(cell, "") if statuses and i == 0 else "")
                      for i, cell in enumerate(row)))
    return out


def _pair(pair: Pair, console: Console, title: str) -> None:
    console.print(_table(f"{title}: facts", ["", "BEFORE", "AFTER", "change"], fact_rows(pair), statuses=False))
    if pair.findings:
        console.print(_table(f"{title}: findings", _FINDING_COLUMNS, finding_rows(pair)))
    for what, rows in (("stack signature", pair.signatures), ("wait site", pair.waits)):
        if rows:
            columns = [c.format(what=what) for c in _PLACE_COLUMNS]
            console.print(_table(f"{title}: {what}s" + _more(rows), columns, place_rows(rows)))


def _more(rows: list[PlaceRow]) -> str:
    return f" (the {MAX_PLACES} with the most tasks of {len(rows)}; --format json lists all)" \
        if len(rows) > MAX_PLACES else ""


# -- Markdown -----------------------------------------------------------------------------------
def markdown(comparison: Comparison) -> str:
    out = [
        f"## stallscope diff: {inline(comparison.verdict)}",
        paragraph(comparison.sentence),
        f"BEFORE: {code(comparison.names[0])}  \nAFTER: {code(comparison.names[1])}",
    ]
    out += _markdown_pair(comparison.overall, "Overall")
    for pair in comparison.machines:
        out.append(f"### Machine {inline(pair.name)}: {inline(pair.verdict)}")
        out.append(paragraph(pair.sentence))
        out += _markdown_pair(pair, f"Machine {pair.name}")
    return "\n\n".join(out) + "\n"


def _markdown_pair(pair: Pair, title: str) -> list[str]:
    out = [f"#### {inline(title)}: facts",
           table(["", "BEFORE", "AFTER", "change"], [[inline(c) for c in row] for row in fact_rows(pair)],
                 {"change"})]
    if pair.findings:
        out += [f"#### {inline(title)}: findings",
                table(_FINDING_COLUMNS, [[inline(c) for c in row] for row in finding_rows(pair)],
                      {"before", "after"})]
    for what, rows in (("stack signature", pair.signatures), ("wait site", pair.waits)):
        if rows:
            columns = [c.format(what=what) for c in _PLACE_COLUMNS]
            out += [f"#### {inline(title)}: {what}s{inline(_more(rows))}",
                    table(columns, [[inline(c) for c in row] for row in place_rows(rows)],
                          {"tasks before", "tasks after", "traces before", "traces after"})]
    return out


# -- JSON ---------------------------------------------------------------------------------------
def as_json(comparison: Comparison) -> str:
    # ensure_ascii keeps the document inert in any terminal or pipe, whatever bytes the logs held.
    return json.dumps(comparison.as_dict(), indent=2, ensure_ascii=True, allow_nan=False)

