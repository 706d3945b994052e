"""Every rule on its own fixtures: real log lines on which it must fire (with what) and must not.

See tests/rule_fixtures.py for the format and for cutting a new fixture.
"""

from __future__ import annotations

import os

import pytest
from rule_fixtures import described, findings_of, fixtures, read

from stallscope.rules import ALL_RULES

UPDATE = os.environ.get("STALLSCOPE_UPDATE_FIXTURES") == "1"
# Rules with no real log in the repository that shows them yet: they have only fixtures where they
# must stay quiet. A rule leaves this set when a real log that fires it is found.
NO_FIRING_LOG_YET: frozenset[str] = frozenset()


@pytest.mark.parametrize("path", fixtures(), ids=lambda p: f"{p.parent.name}/{p.stem[:50]}")
def test_rule_on_its_fixture(path: object) -> None:
    fixture = read(path)  # type: ignore[arg-type]
    found = findings_of(fixture)
    if not fixture.fires:
        assert found == [], f"{fixture.rule} fired on a fixture where it must not"
        return
    assert found, f"{fixture.rule} did not fire"
    got = described(found)
    if UPDATE:
        fixture.header.update(got)
        fixture.path.write_text(fixture.text(), encoding="utf-8", errors="surrogateescape")
        return
    assert got == {key: fixture.header[key] for key in got}


def test_every_rule_has_fixtures_both_ways() -> None:
    by_rule: dict[str, set[bool]] = {}
    for path in fixtures():
        fixture = read(path)
        by_rule.setdefault(fixture.rule, set()).add(fixture.fires)
    for rule in ALL_RULES:
        wanted = {False} if rule.RULE in NO_FIRING_LOG_YET else {True, False}
        assert wanted <= by_rule.get(rule.RULE, set()), f"{rule.RULE} lacks a fixture (fires: {wanted})"
    assert set(by_rule) <= {rule.RULE for rule in ALL_RULES}, "a fixture names a rule that does not exist"
