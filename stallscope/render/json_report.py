"""The JSON report: a stable document for scripts (schema in schema/analyze.schema.json)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from stallscope.capture.hz import hz_by_host, pairs_by_host
from stallscope.capture.model import Capture
from stallscope.capture.understood import not_understood
from stallscope.render.summary import headline, summary
from stallscope.render.views import report_views
from stallscope.rules.base import Finding
from stallscope.verdict import verdict

SCHEMA_VERSION = 1


def report(capture: Capture, findings: list[Finding], hz: float | None = None, *,
           streamed: bool = False) -> dict[str, object]:
    """The document. ``streamed``: for :func:`pieces` only, its findings left as they are and
    each made a dict as it is encoded (a capture's thousands of findings as dicts at once were
    tens of MB at the run's peak, bench/README.md)."""
    facts = summary(capture)
    # Read once for the hz estimates and the verdict's sentence on them.
    pairs = pairs_by_host(capture.tasks)
    # Jiffies per second per host: inferred from delay growth against timestamps, or --hz.
    facts["hz"] = [
        {"host": host, "hz": e.hz, "how": e.how, "pairs": e.pairs, "note": e.note}
        for host, e in hz_by_host(capture, hz, pairs).items()
    ]
    # Files of bundles and archives not read (not kernel logs, other copies of the one read).
    facts["skipped"] = [s.as_dict() for s in capture.skipped]
    # The parts of the report: each machine, and each boot of it, with its own findings.
    facts["views"] = [
        {"machine": view.name, "host": view.host, "boot": view.boot, "boots": view.boots, "sources": view.sources,
         "findings": len(view.findings)}
        for view in report_views(capture, findings)
    ]
    # Inputs that hold no kernel line stallscope understands: no verdict is reached on them.
    facts["not_understood"] = [stats.path for stats in not_understood(capture)]
    return {
        "schema_version": SCHEMA_VERSION,
        "inputs": [i.as_dict() for i in capture.inputs],
        "summary": facts,
        "headline": headline(capture, findings),
        "verdict": verdict(capture, findings, pairs),
        "findings": list(findings) if streamed else [f.as_dict() for f in findings],
    }


def _as_dict(item: object) -> dict[str, object]:
    if isinstance(item, Finding):
        return item.as_dict()
    raise TypeError(f"Object of type {type(item).__name__} is not JSON serializable")  # as json's own


# ensure_ascii keeps the document inert in any terminal or pipe, whatever bytes the log held.
# A finding it meets (a streamed document's) is encoded as its dict would be, in its place.
_ENCODER = json.JSONEncoder(indent=2, ensure_ascii=True, allow_nan=False, default=_as_dict)
# Pieces of about this many characters go to the stream: the encoder yields a piece per key,
# bracket and value, and a write apiece would cost more than the encoding.
_WRITE_CHARS = 1 << 16


def render(capture: Capture, findings: list[Finding], hz: float | None = None) -> str:
    return _ENCODER.encode(report(capture, findings, hz))


def pieces(document: object) -> Iterator[str]:
    """``json.dumps(document, indent=2, ensure_ascii=True, allow_nan=False)`` in pieces of about
    64 KiB: written as they come, a report of thousands of findings is never held whole as text
    (encoded at once, the encoder's millions of small strings and their join were the largest
    memory of a 1 GB journal capture's run; bench/README.md)."""
    held: list[str] = []
    size = 0
    for chunk in _ENCODER.iterencode(document):
        held.append(chunk)
        size += len(chunk)
        if size >= _WRITE_CHARS:
            yield "".join(held)
            held.clear()
            size = 0
    if held:
        yield "".join(held)

