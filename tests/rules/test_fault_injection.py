"""other-report tells when the kernel's fault injection forced a failure on the report's own task
just before it (syzkaller fails allocations on purpose to reach error paths: a report right after
is often a bug of that error path), and only then. Real reports from tests/data/syzkaller:

- `244` (4.17): "FAULT_INJECTION: forcing a failure." / "name failslab, ..." then "WARNING:
  suspicious RCU usage", whose CPU line (PID 14047, syz-executor7) follows both: the note is given.
- `336` (4.14): the injection's CPU line names PID 26531, the WARNING's own line PID 1798: another
  task, no note; and the task named is the WARNING's (kworker/1:2), not the first CPU line after it.
- `200` (4.15): injected on PID 16176, the general protection fault is PID 16173's: no note.
"""

from __future__ import annotations

from pathlib import Path

import stallscope
from conftest import DATA

SYZKALLER = DATA / "syzkaller"


def _findings(name: str, tmp_path: Path) -> list[dict[str, object]]:
    log = tmp_path / f"syzkaller-{name}.log"
    log.write_text((SYZKALLER / name).read_text(encoding="utf-8").partition("\n\n")[2], encoding="utf-8")
    return [f.as_dict() for f in stallscope.diagnose(stallscope.load(str(log))) if f.rule == "other-report"]


def test_a_failure_injected_on_the_reports_task_is_named_with_its_lines(tmp_path: Path) -> None:
    first = _findings("244", tmp_path)[0]
    assert first["title"].endswith("WARNING: suspicious RCU usage")  # type: ignore[union-attr]
    assert "fault injection forced a memory allocation (failslab) to fail" in str(first["explanation"])
    quoted = [e["text"] for e in first["evidence"]]  # type: ignore[union-attr, index]
    assert quoted[:2] == ["FAULT_INJECTION: forcing a failure.",
                          "name failslab, interval 1, probability 0, space 0, times 0"]
    assert first["tasks"] == [{"comm": "syz-executor7", "pid": 14047}]


def test_a_failure_injected_on_another_task_is_not_said_to_cause_the_report(tmp_path: Path) -> None:
    for name in ("336", "200"):
        for finding in _findings(name, tmp_path):
            assert "fault injection" not in str(finding["explanation"]), name
            assert not any("FAULT_INJECTION" in e["text"] for e in finding["evidence"])  # type: ignore[union-attr, index]


def test_a_warning_names_the_task_its_own_line_gives(tmp_path: Path) -> None:
    warning = _findings("336", tmp_path)[0]
    assert "PID: 1798" in str(warning["title"])
    assert warning["tasks"] == [{"comm": "kworker/1:2", "pid": 1798}]
