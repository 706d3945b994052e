"""The HTML report: one file that opens offline, with charts and collapsible traces.

No script, web font or remote resource: styles are inline, charts are SVG images in data URIs
(an SVG loaded as an image cannot run script), and a Content-Security-Policy forbids anything
else, so a task name that slipped past escaping still could not load or run anything.
"""

from __future__ import annotations

import base64
from html import escape

from stallscope.capture.model import Capture
from stallscope.render import sections
from stallscope.render.charts import Chart, charts
from stallscope.render.mdtext import clean
from stallscope.render.provenance import Provenance, human_size
from stallscope.rules.base import Evidence, Finding

# Past these, a table is cut (and says so): a browser copes, a reader scrolling does not.
MAX_ROWS = 2000
MAX_TRACES_PER_SIGNATURE = 50

_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'")

_STYLE = """
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #ffffff; --muted: #59636e; --line: #d1d9e0;
        --head: #f6f8fa; --crit: #cf222e; --warn: #9a6700; --info: #0969da; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9198a1; --line: #3d444d; --head: #151b23;
          --crit: #ff7b72; --warn: #d29922; --info: #58a6ff; }
  figure img { background: #ffffff; }
}
body { font: 14px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg);
       max-width: 1200px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; overflow-wrap: anywhere; }
h2 { border-bottom: 1px solid var(--line); padding-bottom: .2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; overflow-wrap: anywhere; }
code, pre, td.mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
pre { background: var(--head); border: 1px solid var(--line); padding: .6rem; overflow-x: auto;
      white-space: pre; }
.verdict { font-size: 1.05rem; border-left: 4px solid var(--crit); padding: .4rem .8rem;
           background: var(--head); }
.muted, figcaption, .note { color: var(--muted); }
.note { font-style: italic; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid var(--line); padding: .15rem .5rem; vertical-align: top; }
th { background: var(--head); text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { overflow-wrap: anywhere; max-width: 40rem; }
.severity { font-weight: 700; }
.critical .severity { color: var(--crit); }
.warning .severity { color: var(--warn); }
.info .severity { color: var(--info); }
article.finding { border: 1px solid var(--line); border-radius: 6px; padding: 0 1rem .5rem; margin: 1rem 0; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
details { margin: .4rem 0; }
summary { cursor: pointer; }
"""


def _e(value: object) -> str:
    """Text from anywhere (the log included) as inert HTML text or attribute value."""
    return escape(clean(str(value)), quote=True)


def _table(table: sections.Table, mono: frozenset[str] = frozenset(), limit: int = MAX_ROWS) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in table.columns)
    body = []
    for row in table.rows[:limit]:
        cells = []
        for name, value in zip(table.columns, row, strict=True):
            kind = "num" if name in table.numeric else "mono wrap" if name in mono else "wrap"
            cells.append(f'<td class="{kind}">{_e(value)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    out = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if len(table.rows) > limit:
        out += _cut(f"{len(table.rows) - limit} more rows not shown", "stallscope export")
    return out


def _cut(what: str, where: str) -> str:
    return f'<p class="note">{_e(what)}; <code>{_e(where)}</code> has them all.</p>'


def _evidence(e: Evidence) -> str:
    where = f"{e.source}:{e.line}" + (f" [{e.ts:.6f}]" if e.ts is not None else "")
    return f"{where} {e.text}"


def _pre(lines: list[str]) -> str:
    return "<pre>" + "\n".join(_e(line) for line in lines) + "</pre>"


def _figure(chart: Chart) -> str:
    data = base64.b64encode(chart.svg.encode("utf-8")).decode("ascii")
    return (f'<figure class="chart"><img src="data:image/svg+xml;base64,{data}" alt="{_e(chart.description)}">'
            f"<figcaption>{_e(chart.title)}: {_e(chart.description)}</figcaption></figure>")


class _Page:
    def __init__(self, capture: Capture, findings: list[Finding], origin: Provenance) -> None:
        self.capture = capture
        self.findings = findings
        # The charts read the tables the sections show: each is derived once.
        self.tables = sections.Parts(capture, findings)
        self.origin = origin
        self.parts: list[str] = []
        self.toc: list[tuple[str, str]] = []

    def section(self, anchor: str, title: str, body: str) -> None:
        self.toc.append((anchor, title))
        self.parts.append(f'<section id="{anchor}"><h2>{_e(title)}</h2>{body}</section>')

    def charts_part(self) -> None:
        found = charts(self.capture, self.tables)
        if found:
            self.section("charts", "Over time", "".join(_figure(c) for c in found))

    def boots_part(self) -> None:
        boots = self.tables.boots()
        if boots is not None:
            self.section("boots", f"Boots ({len(boots.rows)})",
                         "<p>Each boot of a machine is diagnosed on its own; its findings are under its name.</p>"
                         + _table(boots, frozenset({"machine"})))

    def findings_part(self) -> None:
        if not self.findings:
            self.section("findings", "Findings", "<p>No rule found a stall pattern in this capture.</p>")
            return
        articles = []
        numbered = []
        for title, found in self.tables.finding_groups():
            numbered += [(title if at == 0 else None, f) for at, f in enumerate(found)]
        for number, (title, f) in enumerate(numbered, 1):
            if title is not None:
                articles.append(f'<h3 class="machine">On <code>{_e(title)}</code></h3>')
            host = f" on <code>{_e(f.host)}</code>" if f.host else ""
            tasks = ""
            if f.tasks:
                names = ", ".join(f"<code>{_e(f'{t.comm}({t.pid})')}</code>" for t in f.tasks)
                tasks = f"<p>Tasks: {names}</p>"
            evidence = ""
            if f.evidence:
                evidence = ("<p>Evidence (input:line [kernel time] text):</p>"
                            + _pre([_evidence(e) for e in f.evidence]))
            articles.append(
                f'<article class="finding {_e(f.severity.value)}"><h3>{number}. '
                f'<span class="severity">{_e(f.severity.value.upper())}</span> <code>{_e(f.rule)}</code>{host}: '
                f"{_e(f.title)}</h3><p>{_e(f.explanation)}</p>{tasks}{evidence}</article>"
            )
        self.section("findings", f"Findings ({len(self.findings)})", "".join(articles))

    def timeline_part(self) -> None:
        timeline = self.tables.timeline()
        if timeline is not None:
            self.section("timeline", "Watchdog reports", _table(timeline, frozenset({"host", "input"})))

    def events_part(self) -> None:
        counts = self.tables.event_counts()
        if not counts:
            return
        body = "<p>Lines understood, by kind: " + ", ".join(f"<code>{_e(k)}</code> {n}" for k, n in counts) + ".</p>"
        notable = self.tables.notable_events()
        if notable is not None:
            table = _table(notable, frozenset({"kind", "task", "text", "host"}))
            body += (f"<details{' open' if len(notable.rows) <= 50 else ''}><summary>{len(notable.rows)} "
                     f"OOM kills, hung tasks and other reports</summary>{table}</details>")
        self.section("events", "Kernel reports around the stall", body)

    def tasks_part(self) -> None:
        tasks = self.tables.stalled_tasks()
        if tasks is not None:
            self.section("tasks", f"Stalled tasks ({len(tasks.rows)}, latest report of each, longest delay first)",
                         _table(tasks, frozenset({"host", "task", "state", "gfp"})))

    def signatures_part(self) -> None:
        groups = self.tables.signature_groups()
        if not groups:
            return
        blocks = ["<p>Traces grouped by where they wait, innermost frame first.</p>"]
        for number, group in enumerate(groups, 1):
            facts = f"{group.traces} trace(s) printed, {len(group.stacks)} distinct"
            if group.guilty:
                facts += f"; guilty frame <code>{_e(group.guilty)}</code>"
            tasks = ", ".join(f"<code>{_e(t)}</code>" for t in group.tasks)
            block = [f"<h3>{number}. <code>{_e(group.signature)}</code></h3><p>{facts}</p>"]
            if tasks:
                block.append(f"<p>Tasks: {tasks}</p>")
            representative, others = group.stacks[0], group.stacks[1:]
            block.append(f"<details open><summary>Representative trace (stack {representative})</summary>"
                         f"{_pre(self.tables.trace_lines(representative))}</details>")
            for stack in others[:MAX_TRACES_PER_SIGNATURE]:
                block.append(f"<details><summary>Trace (stack {stack})</summary>"
                             f"{_pre(self.tables.trace_lines(stack))}</details>")
            if len(others) > MAX_TRACES_PER_SIGNATURE:
                block.append(_cut(f"{len(others) - MAX_TRACES_PER_SIGNATURE} more distinct traces not shown",
                                  "stallscope export"))
            blocks.append("".join(block))
        self.section("signatures", f"Stack signatures ({len(groups)})", "".join(blocks))

    def provenance_part(self) -> None:
        o = self.origin
        rows = "".join(
            f'<tr><td class="mono wrap">{_e(i.name)}</td>'
            f"<td>{_e(human_size(i.size) + (f', {i.compression}' if i.compression else ''))}</td>"
            f'<td class="mono">{_e(i.sha256 or "not hashed (standard input)")}</td>'
            f'<td class="num">{i.lines}</td><td class="num">{i.parsed}</td><td class="num">{i.unparsed}</td></tr>'
            for i in o.inputs
        )
        body = (
            f"<ul><li>stallscope {_e(o.version)}</li><li>command: <code>{_e(o.command)}</code></li>"
            f"<li>lines read: {o.lines}, understood: {o.lines - o.unparsed}, not understood: {o.unparsed}</li></ul>"
            "<table><thead><tr><th>input</th><th>size</th><th>sha256</th><th>lines</th><th>understood</th>"
            f"<th>not understood</th></tr></thead><tbody>{rows}</tbody></table>"
        )
        self.section("provenance", "How this report was made", body)

    def render(self) -> str:
        for part in (self.charts_part, self.boots_part, self.findings_part, self.timeline_part, self.events_part,
                     self.tasks_part, self.signatures_part, self.provenance_part):
            part()
        names = [i.name for i in self.origin.inputs]
        title = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        summary = "".join(f"<li>{_e(label)}: {_e(value)}</li>" for label, value in self.tables.summary_items())
        nav = "".join(f'<a href="#{anchor}">{_e(title)}</a>' for anchor, title in self.toc)
        verdict = _e(self.tables.verdict_text())
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="stallscope {_e(self.origin.version)}">'
            '<link rel="icon" href="data:,">'
            f"<title>stallscope report: {_e(title)}</title><style>{_STYLE}</style></head>\n"
            f"<body><header><h1>stallscope report: {_e(title)}</h1>"
            f'<p class="verdict"><strong>Verdict.</strong> {verdict}</p><ul class="summary">{summary}</ul>'
            f"<nav>{nav}</nav></header>\n<main>" + "\n".join(self.parts) + "</main></body></html>\n"
        )


def render(capture: Capture, findings: list[Finding], origin: Provenance) -> str:
    return _Page(capture, findings, origin).render()
