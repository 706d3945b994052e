"""Diagnosis rules: one module per rule, found here by being in this package.

A rule module carries everything about its rule:

- ``RULE``: its stable id (``oom-plateau``), which findings, expectations and users refer to;
- ``RANK``: where its findings stand among findings of one severity, the root cause first. A
  rule whose finding explains another's ranks lower (a dependency loop explains a throttled
  reclaimer; a throttled reclaimer explains a frozen oom_count): 10-90 causes inside memory
  management, 100-130 reports of the kernel that are symptoms, 140 on what surrounds them;
- ``SEVERITY``: the severities it gives (documentation);
- ``SUMMARY``: one sentence on when it fires (the README's rule table shows it);
- ``NEXT_STEPS``: what to check next when it is the top finding (or None);
- ``ABOUT_MEMORY``: whether its findings are about memory (the verdict's next steps then go on to
  Mem-Info, the workqueue dump and the tasks' seq/switches; a failing disk or an oops they do not);
- ``check(view) -> list[Finding]``;
- optionally ``COST``: the seconds its ``check`` takes per million task rows and per million
  event rows of one long boot, :data:`DEFAULT_COST` when it is not measured. Fitted to what
  ``python bench/phases.py FILE --rules`` gives on two 1 GB captures of bench/: excerpts (8.4 M
  task rows, no events) and journal-short (0.3 M task rows, 4.7 M event rows); bench/README.md.
  The rules of one long boot are shared among forked processes by it (``stallscope.parallel``):
  the findings do not depend on it, only how evenly the processes are loaded. (One number of
  seconds, measured on the journal, put every costly rule of the excerpts in one process: the
  rules that read task rows cost little there and much on the excerpts);
- optionally ``SHARED_DERIVATIONS``: the names of the costly derivations it reads that other
  rules read too (the view memos of ``common/`` whose names it exports: seconds or hundreds of MB
  on a long boot). Forked, the rules that share one run in one process, which derives it once
  (``stallscope.parallel.rules_in_groups``); in two, each derived it and held it. A test checks
  each rule names those it reads (tests/rules/test_shared_derivations.py);
- optionally ``ALL_BOOTS = True``: ``check`` reads a view of every boot of a machine at once
  (each task keyed by its boot too) and names each finding's boot (``Finding.boot``), so the
  diagnosis calls it once per machine, not once per boot (``stallscope.diagnose.at_once_rules``); on
  a view of one boot it gives that boot's findings. Every rule does today (one without it runs on
  each boot's own view): a serial capture has hundreds of boots, and a rule's fixed cost per view
  was most of the diagnosis. ``HostView`` gives each
  boot's rows and records (``boot_rows``, ``records_by_boot``, ``boots_of``, ``boot_view``), and
  ``common/`` keys what it derives by boot (the latest row of each task, traces, oom_count's
  trend, seq histories, workqueue dumps, HZ).

Adding a rule is adding a module here and its fixtures under tests/data/rules/RULE/: nothing else
lists rules. ``common/`` holds what several rules share; it is not a rule.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from stallscope.rules.base import Rule

_NOT_RULES = frozenset({"base", "common"})
_REQUIRED = ("RULE", "RANK", "SEVERITY", "SUMMARY", "NEXT_STEPS", "ABOUT_MEMORY", "check")


# What a rule costs that does not say (COST): the rules without it took 0.01 s or less on both
# captures.
DEFAULT_COST = (0.001, 0.002)


def rule_cost(rule: Rule, rows: tuple[int, int]) -> float:
    """The seconds the rule's ``check`` is expected to take on a boot of ``rows`` (task rows, event
    rows): its COST."""
    per_task, per_event = getattr(rule, "COST", DEFAULT_COST)
    return (per_task * rows[0] + per_event * rows[1]) / 1e6


def shared_derivations(rule: Rule) -> tuple[str, ...]:
    """The costly derivations the rule shares with other rules (its SHARED_DERIVATIONS)."""
    return tuple(getattr(rule, "SHARED_DERIVATIONS", ()))


def _discover() -> tuple[Rule, ...]:
    found: list[ModuleType] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_RULES or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        missing = [name for name in _REQUIRED if not hasattr(module, name)]
        if missing:
            # Loud at import: a rule without its rank would silently rank last.
            raise ImportError(f"rule module {module.__name__} lacks {', '.join(missing)}")
        found.append(module)
    ids = [m.RULE for m in found]
    if len(set(ids)) != len(ids):
        raise ImportError(f"two rule modules share an id: {sorted(ids)}")
    return tuple(sorted(found, key=lambda m: (m.RANK, m.RULE)))  # type: ignore[misc]


ALL_RULES: tuple[Rule, ...] = _discover()
BY_ID: dict[str, Rule] = {rule.RULE: rule for rule in ALL_RULES}
