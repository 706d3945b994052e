"""The real-world corpus (tests/data/wild): every expectation its authors' diagnoses imply.

Each expectation of ``expect.json`` is one test. Those this build does not meet yet are listed in
``gaps.json`` (``python -m stallscope.corpus tests/data/wild --update-gaps``) and run as strict
xfails naming what is missing: a fix flips one to a pass, which fails here until ``gaps.json``
loses that entry, and a regression on any real log fails as an ordinary test.
"""

from __future__ import annotations

import json
from functools import cache

import pytest

from conftest import DATA
from stallscope.corpus import Check, checks_of, judge, load_expectations, read_log

WILD = DATA / "wild"


@cache
def _gaps() -> dict[str, list[str]]:
    path = WILD / "gaps.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _cases() -> list[object]:
    params = []
    for name, expected in sorted(load_expectations(WILD).items()):
        for check in checks_of(expected):
            marks = []
            if check.key in _gaps().get(name, []):
                marks.append(pytest.mark.xfail(strict=True, reason=f"not met yet: {check.key}"))
            params.append(pytest.param(name, check, marks=marks, id=f"{name}:{check.key}"))
    return params


@cache
def _findings(name: str) -> list[object]:
    import stallscope

    return list(stallscope.diagnose(stallscope.load(str(WILD / name))))


@pytest.mark.parametrize(("name", "check"), _cases())
def test_expectation(name: str, check: Check) -> None:
    assert judge(_findings(name), check), f"{name}: {check.key}"


def test_every_log_has_expectations_and_a_source() -> None:
    expected = load_expectations(WILD)
    logs = {p.name for p in WILD.glob("*.log")}
    assert logs == set(expected)
    sources = (WILD / "SOURCES.md").read_text(encoding="utf-8")
    assert all(f"### {name}" in sources for name in logs)


def test_gaps_name_only_real_expectations() -> None:
    """gaps.json may not hide anything: each entry is an expectation of expect.json."""
    expected = load_expectations(WILD)
    for name, keys in _gaps().items():
        known = {c.key for c in checks_of(expected[name])}
        assert set(keys) <= known, name


def test_corpus_report_reads_every_log() -> None:
    outcome = read_log(WILD / sorted(load_expectations(WILD))[0], {})
    assert outcome.error is None and outcome.lines > 0
