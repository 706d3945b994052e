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

from conftest import DATA
from stallscope import api
from stallscope.diagnose import at_once_rules, iter_host_views
from stallscope.rules import shared_derivations
from stallscope.rules.base import HostView

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
