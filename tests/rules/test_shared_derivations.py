"""Each rule names the costly derivations it shares with other rules (``SHARED_DERIVATIONS``).

Forked, the rules of one long boot are shared among processes in groups
(``stallscope.parallel.rules_in_groups``), and rules that share a derivation go in one group, which
derives it once. A rule that reads such a derivation without naming it still gives the same
findings, but may land in another process that derives it again: 0.75 s of a 1 GB journal's OOM
invocations in each process, or the 1 GB excerpts capture's 250 MB seq history held twice
(bench/README.md, twenty-eighth round). So the declarations are checked against what each rule
reads on real logs that reach every one of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import pytest

import stallscope
from conftest import DATA
from stallscope import api
from stallscope.diagnose import at_once_rules, at_once_windows, done_with, iter_host_views, windows_found
from stallscope.rules import shared_derivations
from stallscope.rules.base import HostView
from stallscope.rules.common.seq_history import SEQ_HISTORY

# Real logs in which every rule reads every shared derivation it can read: a watchdog capture of
# OOM storms with seq and oom kills, a compulsory panic on OOM, a warn_alloc stall, a hung
# writeback wait, a stuck rescuer (a set cover over tests/data of the memos each rule read).
LOGS = [
    "memalloc-qemu/oomwrite-1cpu-128M-w3.log",
    "oom/2017-02-09_real-3.10-kvm-memcg-oom-compulsory-panic-on-oom-24g-free.log",
    "wild/2017-09-11_real-i386-khugepaged-order10-allocation-stall-warning.log",
    "wild/2025-08-20_real-memcg-css-free-hung-wb-wait-foreign-writeback.log",
    "lkml/2017-03-03_wq-mem-reclaim-xfs-rescuer.log",
]


def _names_read(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """The memo names (view and capture) each rule reads on LOGS, by rule id."""
    reads: dict[str, set[str]] = defaultdict(set)
    reading = [""]

    def recording(method: Callable[..., object]) -> Callable[..., object]:
        def read(view: HostView, name: str, compute: Callable[..., object]) -> object:
            reads[reading[0]].add(name)
            return method(view, name, compute)

        return read

    monkeypatch.setattr(HostView, "of_view", recording(HostView.of_view))
    monkeypatch.setattr(HostView, "of_capture", recording(HostView.of_capture))
    for log in LOGS:
        capture = api.load(DATA / log)
        for rule in at_once_rules():
            reading[0] = rule.RULE
            for view in iter_host_views(capture):
                rule.check(view)
    return reads


def test_each_rule_names_the_shared_derivations_it_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = at_once_rules()
    named = {name for rule in rules for name in shared_derivations(rule)}
    # Each name is a derivation at least two rules share.
    for name in named:
        assert sum(name in shared_derivations(rule) for rule in rules) >= 2, name
    reads = _names_read(monkeypatch)
    wrong = {rule.RULE: (sorted(reads[rule.RULE] & named), sorted(shared_derivations(rule)))
             for rule in rules if reads[rule.RULE] & named != set(shared_derivations(rule))}
    assert not wrong, ("rule: (shared derivations read, named)", dict(reads))
    assert reads["oom-kill"] >= {"oom invocations", "oom kills", "reporters"}


def test_a_shared_derivation_is_let_go_after_the_last_rule_that_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rules after it would otherwise run on top of it (one forked group of a 1 GB journal:
    959 -> 916 MB without them)."""
    rules = at_once_rules()
    done = done_with(rules)
    # Each shared derivation is let go once, after the last rule that reads it.
    assert sorted(name for names in done for name in names) == sorted(
        {name for rule in rules for name in shared_derivations(rule)})
    for index, names in enumerate(done):
        for name in names:
            assert name in shared_derivations(rules[index])
            assert not any(name in shared_derivations(rule) for rule in rules[index + 1:])
    # On a real capture: what each rule finds in its view's memo when it starts.
    held: list[tuple[str, set[str]]] = []
    for rule in rules:
        def check(view: HostView, rule_check: Callable[[HostView], list[object]] = rule.check,
                  name: str = rule.RULE) -> list[object]:
            held.append((name, set(view.memo)))
            return rule_check(view)

        monkeypatch.setattr(rule, "check", check)
    capture = stallscope.load(DATA / LOGS[0])
    found = list(windows_found(capture, at_once_windows(capture), rules=rules))
    assert found and any(findings for _, findings in found)
    order = [rule.RULE for rule in rules]
    assert [name for name, _ in held] == order  # one window: each rule once
    starts = dict(held)
    for index, names in enumerate(done):
        for later in order[index + 1:]:
            assert not set(names) & starts[later], (order[index], later)
    # What was let go was there before: the seq history, read by seq-livelock, until slow-progress.
    between = order[order.index("seq-livelock") + 1 : order.index("slow-progress") + 1]
    assert all(SEQ_HISTORY in starts[name] for name in between)
