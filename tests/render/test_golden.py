"""Golden files: each real log under tests/data (and each sample) with its expected result beside it.

Adding a case is adding two files: ``NAME.log`` and ``NAME.expected.json``. After a deliberate
change, rewrite the expectations with ``STALLSCOPE_UPDATE_GOLDEN=1 pytest tests/render/test_golden.py``
and read the diff before committing it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import stallscope
from conftest import DATA, SAMPLES

UPDATE = bool(os.environ.get("STALLSCOPE_UPDATE_GOLDEN"))

# A line that the watchdog or the stack unwinder printed: never acceptable as "not understood".
_WATCHDOG_OR_TRACE = re.compile(r"MemAlloc|Call [Tt]race|\+0x[0-9a-f]+/0x[0-9a-f]+|<(/?TASK|IRQ|EOI)>")


def _cases() -> list[object]:
    logs = [(p, DATA / p.relative_to(DATA).with_suffix(".expected.json")) for p in sorted(DATA.rglob("*.log"))]
    logs += [(p, DATA / "samples" / p.with_suffix(".expected.json").name) for p in sorted(SAMPLES.glob("*.log"))]
    return [pytest.param(log, golden, id=str(golden.relative_to(DATA)).removesuffix(".expected.json")) for log, golden in logs]


def observed(log: Path) -> dict[str, object]:
    capture = stallscope.load(str(log), keep_unparsed=True)
    findings = stallscope.diagnose(capture)
    return {
        "snapshots": len(capture.snapshots),
        "tasks": len(capture.tasks),
        "events": len(capture.events),
        "unparsed_watchdog_or_trace_lines": sum(1 for u in capture.unparsed if _WATCHDOG_OR_TRACE.search(u.text)),
        "findings": [
            {
                "rule": f.rule,
                "severity": f.severity.value,
                "host": f.host,
                "tasks": [f"{t.comm}({t.pid})" for t in f.tasks],
                "evidence_lines": [e.line for e in f.evidence],
            }
            for f in findings
        ],
    }


@pytest.mark.parametrize(("log", "golden"), _cases())
def test_golden(log: Path, golden: Path) -> None:
    result = observed(log)
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(result, indent=1) + "\n")
    assert golden.exists(), f"no golden file {golden}; create it with STALLSCOPE_UPDATE_GOLDEN=1"
    assert result == json.loads(golden.read_text())
