"""Where ``analyze`` spends its time on one file: import, load, rules, report; and the rules with
one view per machine, the work a build without boots did.

    python bench/phases.py FILE [--repeat 2] [--jobs 2]
    PYTHONPATH=/path/to/other/checkout python bench/phases.py FILE   # another build, same phases
    python bench/phases.py FILE --rules   # and each rule's seconds (its COST: stallscope.rules)

Written against the API every build since 8459d58 shares (``parallel.load_parallel``,
``parallel.diagnose_on``, ``diagnose.iter_host_views``), so that two builds' phases are compared
on the same machine in the same minutes (bench/README.md, "Same work, two builds"). Each phase's
best time over ``--repeat`` runs in this process is printed (the imports once, first).

- ``load``: ``load_parallel`` with ``--jobs`` processes, as ``analyze`` reads;
- ``rules``: ``diagnose_on`` with that engine, as ``analyze`` diagnoses (one view per machine and
  boot where the build numbers boots);
- ``rules-per-machine``: every rule over one view per machine, in this process (a build that
  numbers boots is asked for views without them: the same views 8459d58 made);
- ``report``: the JSON report of ``rules``' findings.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import time

started = time.perf_counter()
from stallscope.parallel import LocalEngine, diagnose_on, load_parallel  # noqa: E402
from stallscope.render import json_report  # noqa: E402
from stallscope.rules import ALL_RULES  # noqa: E402

diagnose = importlib.import_module("stallscope.diagnose")  # the module: the package exports a function of that name
imported = time.perf_counter() - started


def per_machine_views(capture: object) -> object:
    if "by_boot" in inspect.signature(diagnose.iter_host_views).parameters:
        return diagnose.iter_host_views(capture, by_boot=False)
    return diagnose.iter_host_views(capture)


def report(capture: object, findings: list) -> int:
    """The JSON document's length, made as each build's ``analyze --format json`` makes it."""
    if "streamed" in inspect.signature(json_report.report).parameters:
        document = json_report.report(capture, findings, None, streamed=True)
        return sum(len(piece) for piece in json_report.pieces(document))
    return len(json.dumps(json_report.report(capture, findings, None), default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rules", action="store_true",
                        help="also each rule's seconds in rules-per-machine (on the 1 GB excerpts and journal-short "
                             "captures, what a rule's COST is fitted to)")
    args = parser.parse_args()
    best: dict[str, float] = {}
    per_rule: dict[str, float] = {}
    counts: dict[str, int] = {}

    def keep(name: str, seconds: float) -> None:
        best[name] = min(best.get(name, seconds), seconds)

    for _ in range(args.repeat):
        with LocalEngine(args.jobs) as engine:
            t = time.perf_counter()
            capture = load_parallel(args.file, jobs=args.jobs, engine=engine)
            keep("load", time.perf_counter() - t)
            t = time.perf_counter()
            findings = diagnose_on(capture, engine)
            keep("rules", time.perf_counter() - t)
        counts["findings"] = len(findings)
        t = time.perf_counter()
        report(capture, findings)
        keep("report", time.perf_counter() - t)
        t = time.perf_counter()
        machine_findings = 0
        spent: dict[str, float] = {}
        for view in per_machine_views(capture):
            for rule in ALL_RULES:
                started_rule = time.perf_counter()
                machine_findings += len(list(rule.check(view)))
                spent[rule.RULE] = spent.get(rule.RULE, 0.0) + time.perf_counter() - started_rule
        keep("rules-per-machine", time.perf_counter() - t)
        for name, seconds in spent.items():
            per_rule[name] = min(per_rule.get(name, seconds), seconds)
        counts["findings-per-machine"] = machine_findings
        del capture, findings
    print(f"import {imported:.2f}  " + "  ".join(f"{name} {seconds:.2f}" for name, seconds in best.items())
          + "  " + "  ".join(f"{name} {count}" for name, count in counts.items()))
    if args.rules:
        # A rule that derives what others read too (the views' OOM reports, gfp names) is
        # charged for it when it runs first.
        for name, seconds in sorted(per_rule.items(), key=lambda item: -item[1]):
            print(f"  {name:28s} {seconds:.2f}")


if __name__ == "__main__":
    main()
