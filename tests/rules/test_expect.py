"""Every shared corpus log against what its author concluded (tests/data/expect.json).

expect.json is derived from the ground truth written beside each log (the mailing-list author's
diagnosis, the QEMU scenario READMEs): counts of watchdog lines understood, rules that must and
must not fire, and words the findings must name.
"""

from __future__ import annotations

import pytest

from conftest import DATA, expectations, loaded
from stallscope.rules import ALL_RULES

IMPLEMENTED = {rule.RULE for rule in ALL_RULES}


def _cases(key: str) -> list[object]:
    params = []
    for name, expected in expectations().items():
        if key in expected:
            params.append(pytest.param(name, expected[key], id=name))
    return params


def _require(name: str) -> None:
    if not (DATA / name).exists():
        pytest.skip(f"{name} is not in tests/data")


def _text(findings: tuple[object, ...]) -> str:
    parts = []
    for f in findings:
        parts += [f.title, f.explanation]  # type: ignore[attr-defined]
        parts += [e.text for e in f.evidence]  # type: ignore[attr-defined]
        parts += [f"{t.comm} {t.pid}" for t in f.tasks]  # type: ignore[attr-defined]
    return "\n".join(parts)


@pytest.mark.parametrize(("name", "count"), _cases("snapshots"))
def test_memalloc_info_lines_understood(name: str, count: int) -> None:
    _require(name)
    capture, _ = loaded(name)
    assert len(capture.snapshots) == count


@pytest.mark.parametrize(("name", "count"), _cases("tasks"))
def test_memalloc_task_lines_understood(name: str, count: int) -> None:
    _require(name)
    capture, _ = loaded(name)
    # The tasks of kernel dumps (SysRq-t, hung-task reports) are rows too; these are the MemAlloc lines.
    assert int((capture.tasks["dump"] == "memalloc").sum()) == count


@pytest.mark.parametrize(("name", "rules"), _cases("must"))
def test_required_findings(name: str, rules: list[str]) -> None:
    _require(name)
    unknown = sorted(set(rules) - IMPLEMENTED)
    assert not unknown, f"expect.json names rules that do not exist: {unknown}"
    _, findings = loaded(name)
    assert set(rules) <= {f.rule for f in findings}


@pytest.mark.parametrize(("name", "rules"), _cases("must_not"))
def test_forbidden_findings(name: str, rules: list[str]) -> None:
    _require(name)
    unknown = sorted(set(rules) - IMPLEMENTED)
    assert not unknown, f"expect.json names rules that do not exist: {unknown}"
    _, findings = loaded(name)
    assert not set(rules) & {f.rule for f in findings}


@pytest.mark.parametrize(("name", "words"), _cases("mentions"))
def test_findings_name_the_culprits(name: str, words: list[str]) -> None:
    _require(name)
    _, findings = loaded(name)
    text = _text(findings)
    missing = [w for w in words if w not in text]
    if missing and not findings:
        pytest.skip("no finding yet for this log (its rules are not implemented)")
    assert not missing, f"findings do not mention {missing}"


@pytest.mark.parametrize(("name", "flag"), _cases("no_critical"))
def test_quiet_logs_get_no_critical_finding(name: str, flag: bool) -> None:
    _require(name)
    _, findings = loaded(name)
    assert flag and not [f for f in findings if f.severity.value == "critical"]
