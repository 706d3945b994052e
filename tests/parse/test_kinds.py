"""The table of line kinds (stallscope/parse/kinds.py) matches the grammars it names."""

from __future__ import annotations

import re
from pathlib import Path

from stallscope.parse import kinds

GRAMMARS = Path(__file__).resolve().parents[2] / "grammars"
_RULE = re.compile(r"^\??([a-z_][a-z0-9_]*)\s*(?:\.\d+)?\s*:", re.M)


def test_every_kind_is_a_rule_of_its_grammar() -> None:
    missing = []
    for kind in kinds.KINDS:
        text = (GRAMMARS / f"{kind.grammar}.lark").read_text()
        if kind.start not in _RULE.findall(text):
            missing.append(f"{kind.start} in grammars/{kind.grammar}.lark")
    assert missing == []


def test_kinds_are_named_once_and_every_role_is_known() -> None:
    starts = [kind.start for kind in kinds.KINDS]
    assert len(starts) == len(set(starts))
    roles = {value for name, value in vars(kinds).items() if name.isupper() and isinstance(value, str)}
    assert {kind.role for kind in kinds.KINDS} <= roles


def test_the_sets_follow_from_the_roles() -> None:
    assert kinds.EVENT_KINDS_WITH_TRACE < kinds.EVENT_KINDS
    assert kinds.REGISTER_KINDS < kinds.TRACE_BODY_KINDS
    assert not kinds.EVENT_KINDS & kinds.TRACE_BODY_KINDS
    assert "frame" in kinds.TRACE_BODY_KINDS and "call_trace" not in kinds.TRACE_BODY_KINDS
    assert {"task_state_new", "task_state_old"} == kinds.STATE_KINDS
    # The parser offers each grammar its consecutive kinds together, in the table's order.
    assert [start for _, starts in kinds.GRAMMAR_ORDER for start in starts] == [k.start for k in kinds.KINDS]
