"""The JSON report: a stable document for scripts (schema in schema/analyze.schema.json)."""

from __future__ import annotations

import json

from stallscope.capture.model import Capture
from stallscope.render.summary import headline, summary
from stallscope.rules.base import Finding
from stallscope.verdict import verdict

SCHEMA_VERSION = 1


def report(capture: Capture, findings: list[Finding]) -> dict[str, object]:
    return {
        "schema_version": SCHEMA_VERSION,
        "inputs": [i.as_dict() for i in capture.inputs],
        "summary": summary(capture),
        "headline": headline(capture, findings),
        "verdict": verdict(capture, findings),
        "findings": [f.as_dict() for f in findings],
    }


def render(capture: Capture, findings: list[Finding]) -> str:
    # ensure_ascii keeps the document inert in any terminal or pipe, whatever bytes the log held.
    return json.dumps(report(capture, findings), indent=2, ensure_ascii=True, allow_nan=False)
