"""Every pair of implementations stallscope keeps for speed, both sides timed on the same data.

    python bench/pairs.py [--size 30M] [--repeat 5] [--families serial,fleet,...] [--seed 1] [--json OUT]

The inputs are the capture families of bench/families.py (made by bench/run.py's ``ensure_log``
from the real logs of tests/data). For each family and pair, the two sides run one after the
other, alternating, ``--repeat`` times, in this one process; each side's best time is kept, so
a busy machine slows both alike and the ratio (the gain) is what to read.

A pair is kept when, on at least one family, the fast side is at least 1.5x faster on its step
and the step (done the plain way) is at least 2% of ``analyze`` on that family, or (merge, where
memory is measured too) its peak memory is at least 1.5x lower; otherwise the second
implementation is retired. ``analyze`` here is the in-process work of ``stallscope
analyze --format json -j 1``: load, rules, fleet summary, JSON report, without the imports.
Pairs already retired are listed with the numbers that retired them (see bench/README.md).
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import sys
import time
import tracemalloc
from collections.abc import Callable, Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from families import FAMILIES  # noqa: E402
from run import ensure_log  # noqa: E402 - the logs bench/run.py makes, from bench/families.py

import stallscope  # noqa: E402
from stallscope import bulk, parallel  # noqa: E402
from stallscope.api import load_lines  # noqa: E402
from stallscope.capture import merge as merging  # noqa: E402
from stallscope.capture.merge import Part, merge  # noqa: E402
from stallscope.capture.model import Capture  # noqa: E402
from stallscope.capture.signatures import signatures  # noqa: E402
from stallscope.capture.state_lines import STATE_FIELDS, state_and_pid, state_plan  # noqa: E402
from stallscope.capture.task_values import compile_task_values, task_values  # noqa: E402
from stallscope.capture.trajectories import _grouped, trajectories_of  # noqa: E402
from stallscope.diagnose import diagnose, machine_keys, view_keys  # noqa: E402
from stallscope.fleet import fleet  # noqa: E402
from stallscope.parse import lines as line_parsing  # noqa: E402
from stallscope.parse.kinds import STATE_KINDS  # noqa: E402
from stallscope.parse.lines import LineParser, Template  # noqa: E402
from stallscope.records.stream import records  # noqa: E402
from stallscope.render import json_report, sections, text  # noqa: E402
from stallscope.sources.reader import iter_lines  # noqa: E402

KEEP_GAIN = 1.5
KEEP_SHARE = 0.02


@dataclass(frozen=True)
class Pair:
    name: str
    fast: str  # where the fast implementation lives
    plain: str  # where the other one lives
    step: str  # what is timed


PAIRS = [
    Pair("fast path", "bulk.py BulkReader", "bulk.read_lines (api.load_lines)",
         "whole load of the file (fresh parser: shapes learned as a worker learns them)"),
    Pair("task values", "capture/task_values.py compile_task_values", "task_values(template.fill(runs))",
         "every MemAlloc task line's row values from its digit runs"),
    Pair("state lines", "capture/state_lines.py state_plan (bulk.py: the open task's own state line)",
         "state_and_pid(template.fill(runs)) through CaptureBuilder.add_preamble",
         "every task-state line's state letter and pid from its digit runs"),
    Pair("fillers", "parse/lines.py _compile_filler", "Template._fill_by_loop",
         "fill of every head line the fast path fills (not trace, task or state lines), fresh templates"),
    Pair("trajectories", "capture/trajectories.py trajectories_of (numpy)", "trajectories.py _grouped (groupby)",
         "trajectories of the whole tasks table"),
    Pair("signature groups", "render/sections.py signature_groups (trace_codes)",
         "sections._groups_of(signatures(capture))", "the report's signature groups"),
    Pair("merge", "capture/merge.py _join_column", "merge.py _join_slowly (pd.concat)",
         "merge of the file read as 4 pieces (what the workers return)"),
    Pair("forked rules", "parallel.py diagnose_forked", "diagnose.diagnose",
         "rules on the whole capture, the views shared among two forked processes while this one gathers"),
    Pair("forked report parts", "render/text.py _parts (forked.shared)", "render/text.py _part, each in this process",
         "the terminal report (text.render, 100 columns), its parts shared among two forked processes "
         "while this one writes them in order"),
    Pair("event runs", "capture/builder.py _event_rows (a run of event lines a column at a time)",
         "capture/builder.py _event, each line of the run in turn",
         "the event rows of the runs of event lines the fast path hands over (CaptureBuilder.add_event_run)"),
]

# Pairs whose second implementation was retired: the numbers that retired it (bench/README.md).
RETIRED: dict[str, str] = {
    "fillers": "1.2-5.1x on a step of at most 1.8% of analyze, whole load within noise (30M, 2026-12-03)",
    "event runs": "1.41-1.45x on a step of 9.4-12.7% of analyze, whole load 1.01-1.05x (30M, 2026-12-06); "
                  "as the only way (runs of one for the line reader) serial's load 0.944x, journal-json's 1.066x "
                  "(30M, 2026-12-07)",
}


def best_times(sides: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Each side's best wall time over ``repeat`` rounds, the sides alternating within a round."""
    best = dict.fromkeys(sides, float("inf"))
    for _ in range(repeat):
        for name, run in sides.items():
            gc.collect()
            gc.disable()
            started = time.perf_counter()
            try:
                run()
            finally:
                elapsed = time.perf_counter() - started
                gc.enable()
            best[name] = min(best[name], elapsed)
    return best


@contextmanager
def patched(owner: object, name: str, value: object) -> Iterator[None]:
    old = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


def fresh_parser() -> None:
    """The next load learns its shapes (and the fast path its keys) again, as a worker does."""
    line_parsing._shared = None


def load_fast(path: str) -> Capture:
    fresh_parser()
    return stallscope.load(path)


def load_plain(path: str) -> Capture:
    fresh_parser()
    return load_lines(path, iter_lines(path))


def lines_of(path: str, parser: LineParser, kinds: Container[str], fields: Container[str] | None = None
             ) -> list[tuple[Template, list[str]]]:
    """(template, digit runs) of the family's lines of ``kinds``; with ``fields``, each template
    filling only those (one template object per shape, as the bulk reader keeps one per key)."""
    found = []
    projected: dict[int, Template] = {}
    for record in records(path, iter_lines(path), parser):
        template = parser.template(record.body)
        if template is not None and template.kind in kinds:
            if fields is not None:
                only = projected.get(id(template))
                if only is None:
                    only = projected[id(template)] = template.only(fields)
                template = only
            found.append((template, line_parsing._DIGIT_RUN.split(record.body)[1::2]))
    return found


def task_values_compiled(items: list[tuple[Template, list[str]]]) -> None:
    compiled: dict[int, object] = {}
    for template, runs in items:
        values_of = compiled.get(id(template), False)
        if values_of is False:
            values_of = compiled[id(template)] = compile_task_values(template)
        values_of(runs) if values_of is not None else task_values(template.fill(runs))  # type: ignore[operator]


def task_values_plain(items: list[tuple[Template, list[str]]]) -> None:
    for template, runs in items:
        task_values(template.fill(runs))


def states_planned(items: list[tuple[Template, list[str]]]) -> None:
    plans: dict[int, object] = {}
    for template, runs in items:
        plan = plans.get(id(template), False)
        if plan is False:
            plan = plans[id(template)] = state_plan(template, len(runs))
        if plan is None:
            state_and_pid(template.fill(runs))
        else:
            _state, at = plan  # type: ignore[misc]
            _pid = None if at is None else int(runs[at])


def states_filled(items: list[tuple[Template, list[str]]]) -> None:
    for template, runs in items:
        state_and_pid(template.fill(runs))


def pieces_of(path: str) -> list[Part]:
    """The file read as the workers of a large file read it, in 4 pieces."""
    size = Path(path).stat().st_size
    with patched(parallel, "MIN_PIECE_BYTES", max(1, size // 5)):
        plan = parallel.plan((path,), jobs=4)
    parts, before = [], 0
    for piece in plan:
        capture, links = parallel._load_piece(piece, False)
        parts.append(Part(capture, before, links))
        before += sum(i.physical_lines for i in capture.inputs)
    return parts


def _join_always_slowly(frames: list[pd.DataFrame], adjust: list[dict[str, object]], name: str) -> pd.DataFrame:
    keep = [i for i, f in enumerate(frames) if len(f)] or [0]
    return merging._join_slowly([frames[i] for i in keep], [adjust[i] for i in keep], name)  # type: ignore[arg-type]


def merge_slowly(parts: list[Part]) -> Capture:
    with patched(merging, "_join", _join_always_slowly):
        return merge(parts)


def peak_bytes(run: Callable[[], object]) -> int:
    """The most memory (as tracemalloc sees Python and numpy allocations) held while ``run`` runs."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def same_capture(one: Capture, other: Capture) -> None:
    for name in ("snapshots", "tasks", "events", "frames", "traces"):
        pd.testing.assert_frame_equal(getattr(one, name), getattr(other, name), check_categorical=False, obj=name)


def terminal_report(capture: Capture, findings: list, processes: int) -> str:
    out = io.StringIO()
    text.render(capture, findings, Console(file=out, width=100, highlight=False, soft_wrap=False), None, processes)
    return out.getvalue()


def _never(template: Template) -> None:
    return None


def _no_plan(template: Template, runs: int) -> None:
    return None


def measure_family(family: str, path: str, repeat: int, chosen: set[str], toggle: bool) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []

    def row(pair: str, fast: float, plain: float, note: str = "") -> None:
        rows.append({"family": family, "pair": pair, "fast_s": fast, "plain_s": plain, "note": note})
        print(f"  {pair:17} fast {fast:8.4f} s  plain {plain:8.4f} s  gain {plain / fast:6.2f}x {note}", flush=True)

    print(f"{family}: {Path(path).stat().st_size / 1e6:.1f} MB", flush=True)
    # Without the fast path pair, load is timed once: only analyze's total needs it.
    loads = best_times({"fast": lambda: load_fast(path), **(
        {"plain": lambda: load_plain(path)} if "fast path" in chosen else {})}, repeat if "fast path" in chosen else 1)
    if "fast path" in chosen:
        row("fast path", loads["fast"], loads["plain"])
    capture = load_fast(path)
    machines = len(machine_keys(capture))
    views = len(view_keys(capture))
    forked = "forked rules" in chosen and "forked rules" not in RETIRED
    rules = best_times({"in-process": lambda: diagnose(capture), **(
        {"forked": lambda: parallel.diagnose_forked(capture)} if forked and views >= 2 else {})},
        repeat if forked else 2)
    if forked:
        if views >= 2:
            assert [f.as_dict() for f in parallel.diagnose_forked(capture)] == [f.as_dict() for f in diagnose(capture)]
            row("forked rules", rules["forked"], rules["in-process"], f"{views} views ({machines} machines)")
        else:
            rows.append({"family": family, "pair": "forked rules", "note": "one view: not forked"})
    findings = diagnose(capture)
    if "forked report parts" in chosen and "forked report parts" not in RETIRED:
        if views >= text.FORK_PARTS:
            one = terminal_report(capture, findings, 1)
            assert terminal_report(capture, findings, 2) == one
            parts = best_times({"in-process": lambda: terminal_report(capture, findings, 1),
                                "forked": lambda: terminal_report(capture, findings, 2)}, max(2, repeat // 2))
            row("forked report parts", parts["forked"], parts["in-process"],
                f"{views} views, {one.count(chr(10))} lines of report")
        else:
            rows.append({"family": family, "pair": "forked report parts", "note": f"{views} views: not forked"})
    report = best_times({"report": lambda: (fleet(capture, findings), json_report.render(capture, findings))},
                        max(2, repeat // 2))
    analyze = loads["fast"] + rules["in-process"] + report["report"]
    rows.append({"family": family, "pair": "analyze", "fast_s": analyze, "machines": machines,
                 "tasks": len(capture.tasks), "traces": len(capture.traces)})
    print(f"  analyze (load + rules + report, in process) {analyze:.3f} s; {len(capture.tasks)} tasks, "
          f"{len(capture.traces)} traces, {machines} machines", flush=True)

    def toggled(pair: str, owner: object, attribute: str, off: object, note: str) -> None:
        """The whole load with ``owner.attribute`` replaced by ``off`` (the fast side switched off),
        against the same load twice: how far those two best times lie apart is this machine's
        noise on a whole load; a smaller difference says nothing."""
        def without() -> None:
            with patched(owner, attribute, off):
                load_fast(path)
        times = best_times({"fast": lambda: load_fast(path), "again": lambda: load_fast(path), "plain": without},
                           repeat)
        row(f"{pair} (load)", min(times["fast"], times["again"]), times["plain"], note)
        rows[-1]["noise_s"] = abs(times["fast"] - times["again"])

    if toggle and "task values" in chosen and "task values" not in RETIRED:
        # What the reader loses without the compiled task values besides the step itself (a
        # Record built, the fields dict, the builder's dispatch on kind).
        toggled("task values", bulk, "compile_task_values", _never, "whole load, compiled off")
    if toggle and "state lines" in chosen and "state lines" not in RETIRED:
        # With no state plan every task-state line fills its fields and goes through
        # add_preamble, as the line reader's do.
        toggled("state lines", bulk, "state_plan", _no_plan, "whole load, plan off")
    if "state lines" in chosen and "state lines" not in RETIRED:
        fresh_parser()
        states = lines_of(path, stallscope.api.line_parser(), STATE_KINDS, STATE_FIELDS)
        if states:
            times = best_times({"fast": lambda: states_planned(states), "plain": lambda: states_filled(states)},
                               repeat)
            row("state lines", times["fast"], times["plain"], f"{len(states)} lines")
    if "task values" in chosen and "task values" not in RETIRED:
        fresh_parser()
        found = lines_of(path, stallscope.api.line_parser(), {"memalloc_task"})
        if found:
            times = best_times({"fast": lambda: task_values_compiled(found),
                                "plain": lambda: task_values_plain(found)}, repeat)
            row("task values", times["fast"], times["plain"], f"{len(found)} lines")
    if "trajectories" in chosen and len(capture.tasks) and "trajectories" not in RETIRED:
        pd.testing.assert_frame_equal(trajectories_of(capture.tasks), _grouped(capture.tasks), check_exact=True)
        times = best_times({"fast": lambda: trajectories_of(capture.tasks), "plain": lambda: _grouped(capture.tasks)},
                           repeat)
        row("trajectories", times["fast"], times["plain"], f"{len(capture.tasks)} task rows")
    if "signature groups" in chosen and len(capture.traces) and "signature groups" not in RETIRED:
        assert sections.signature_groups(capture) == sections._groups_of(signatures(capture))
        times = best_times({"fast": lambda: sections.signature_groups(capture),
                            "plain": lambda: sections._groups_of(signatures(capture))}, repeat)
        row("signature groups", times["fast"], times["plain"], f"{len(capture.traces)} traces")
    if "merge" in chosen and "merge" not in RETIRED:
        parts = pieces_of(path)
        same_capture(merge(parts), merge_slowly(parts))
        times = best_times({"fast": lambda: merge(parts), "plain": lambda: merge_slowly(parts)}, repeat)
        fast_peak, plain_peak = peak_bytes(lambda: merge(parts)), peak_bytes(lambda: merge_slowly(parts))
        row("merge", times["fast"], times["plain"],
            f"{len(parts)} pieces; peak memory {fast_peak / 1e6:.1f} MB / {plain_peak / 1e6:.1f} MB")
        rows[-1]["fast_peak_MB"], rows[-1]["plain_peak_MB"] = fast_peak / 1e6, plain_peak / 1e6
    return rows


def verdicts(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Per pair: the best family's gain and share, and whether it pays."""
    analyze = {r["family"]: float(r["fast_s"]) for r in rows if r["pair"] == "analyze"}  # type: ignore[arg-type]
    out = []
    for pair in PAIRS:
        measured = [r for r in rows if r["pair"] == pair.name and "fast_s" in r]
        for r in measured:
            load = next((x for x in rows if x["pair"] == f"{pair.name} (load)" and x["family"] == r["family"]), None)
            lost = float(load["plain_s"]) - float(load["fast_s"]) if load is not None else 0.0  # type: ignore[arg-type]
            if load is not None and lost > float(load.get("noise_s", 0.0)) and lost > float(r["plain_s"]):  # type: ignore[arg-type]
                # The step done the other way costs what the whole load loses without the fast
                # side (a Record built, the fields dict, the builder's dispatch), when that is
                # more than the machine's noise on a load: the fast step's time plus that loss.
                r["plain_step_s"] = r["plain_s"]
                r["plain_s"] = float(r["fast_s"]) + lost  # type: ignore[arg-type]
            r["gain"] = float(r["plain_s"]) / float(r["fast_s"])  # type: ignore[arg-type]
            r["share"] = float(r["plain_s"]) / analyze[r["family"]]  # type: ignore[arg-type,index]
            r["pays"] = r["gain"] >= KEEP_GAIN and r["share"] >= KEEP_SHARE  # type: ignore[operator]
            if "fast_peak_MB" in r:
                # Memory is the other thing a second implementation may save (merge holds every
                # worker's rows at once): a peak at least KEEP_GAIN times lower pays too.
                r["memory_gain"] = float(r["plain_peak_MB"]) / max(float(r["fast_peak_MB"]), 1e-9)  # type: ignore[arg-type]
                r["pays"] = r["pays"] or r["memory_gain"] >= KEEP_GAIN  # type: ignore[operator]
        if pair.name in RETIRED:
            decision = f"retired: {RETIRED[pair.name]}"
        elif not measured:
            decision = "not measured"
        elif any(r["pays"] for r in measured):
            decision = "keep"
        else:
            decision = "retire"
        out.append({"pair": pair, "rows": measured, "decision": decision})
    return out


def table(results: list[dict[str, object]], families: list[str]) -> str:
    head = ["pair", "fast side", "other side", "what is timed", *families, "decision"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for result in results:
        pair: Pair = result["pair"]  # type: ignore[assignment]
        by_family = {r["family"]: r for r in result["rows"]}  # type: ignore[attr-defined]
        cells = []
        for family in families:
            r = by_family.get(family)
            memory = f"; peak {r['fast_peak_MB']:.1f}/{r['plain_peak_MB']:.1f} MB" if r and "fast_peak_MB" in r else ""
            cells.append("-" if r is None else
                         f"{r['fast_s']:.3f}/{r['plain_s']:.3f} s = {r['gain']:.2f}x, {100 * r['share']:.1f}%{memory}")
        lines.append("| " + " | ".join([pair.name, pair.fast, pair.plain, pair.step, *cells,
                                         str(result["decision"])]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="30M")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--pairs", default=",".join(p.name for p in PAIRS), help="comma-separated pair names")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--toggle", action="store_true",
                        help="also time the whole load with the compiled task values off, and with the state plan off")
    args = parser.parse_args()
    chosen = set(args.pairs.split(","))
    families = args.families.split(",")
    rows: list[dict[str, object]] = []
    for family in families:
        rows += measure_family(family, str(ensure_log(family, args.size, args.seed)), args.repeat, chosen, args.toggle)
    results = verdicts(rows)
    print()
    print(f"Each cell: fast/other side's best of {args.repeat} (seconds) = gain, and the step done the other "
          f"way as a share of analyze on that family. Keep: gain >= {KEEP_GAIN}x and share >= "
          f"{100 * KEEP_SHARE:.0f}% on some family.")
    print(table(results, families))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
