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
- optionally ``COST``: the seconds its ``check`` took on one boot of millions of lines (the 1 GB
  journal-short capture of bench/, in one process; bench/README.md), :data:`DEFAULT_COST` when
  it is not measured. The rules of one long boot are shared among forked processes by it
  (``stallscope.parallel``): the findings do not depend on it, only how evenly the processes
  are loaded;
- optionally ``SHARED_DERIVATION``: the name of a large derivation (a view memo) it reads that
  another rule reads too: forked, the rules naming one derivation run in one process, which
  derives it once (``stallscope.parallel.rules_in_groups``; in two processes, each derived it
  and held it);
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


# What a rule costs that does not say (COST): the rules without it took 0.1 s or less each.
DEFAULT_COST = 0.05


def rule_cost(rule: Rule) -> float:
    return float(getattr(rule, "COST", DEFAULT_COST))


def shared_derivation(rule: Rule) -> str | None:
    """The large derivation the rule shares with other rules (its SHARED_DERIVATION), if any."""
    return getattr(rule, "SHARED_DERIVATION", None)


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
