"""What the lines read around each piece of a large file protect, and what they cost.

    python bench/lead.py protect [--leads 0,0.01,0.05,0.33]
    python bench/lead.py cost FILE [--leads 0,4M] [--repeat 3] [--jobs 2]

A worker reads its piece with up to ``parallel.LEAD_BYTES`` of the file before and after it, so
that a block crossing a cut is read whole, as one reader of the whole file reads it (see
``parallel._load_window``).

- ``protect``: every real log of tests/data big enough to cut (the logs of
  tests/capture/test_parallel_pieces.py) is read in pieces cut anywhere, not at a watchdog report,
  at the two piece sizes that test uses, with the lead a fraction of the piece. Printed for each
  fraction: how many of the cuts give a JSON report other than the single reader's, and which.
- ``cost``: ``load_parallel`` of FILE with each lead (bytes; K and M suffixes), alternating,
  each the best wall time of ``--repeat``, and the ratio to the first.

Each read has a process pool of its own: a pool's workers are forked once, and keep the lead
(and piece sizes) they were forked with.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "tests" / "data"

import stallscope  # noqa: E402
from stallscope import parallel  # noqa: E402
from stallscope.render import json_report  # noqa: E402


def _report(capture: stallscope.Capture) -> str:
    return json.dumps(json_report.report(capture, stallscope.diagnose(capture), None), sort_keys=True, default=str)


def _logs() -> list[Path]:
    # As test_parallel_pieces chooses them: enough bytes and lines to cut.
    return sorted(p for p in DATA.rglob("*.log") if p.stat().st_size >= 16 << 10 and p.read_bytes().count(b"\n") >= 20)


def _read(path: Path | str, jobs: int) -> stallscope.Capture:
    with parallel.LocalEngine(jobs) as engine:
        return parallel.load_parallel(str(path), engine=engine)


def protect(fractions: list[float]) -> None:
    logs = _logs()
    differ: dict[float, list[str]] = {fraction: [] for fraction in fractions}
    cuts = 0
    for path in logs:
        size = path.stat().st_size
        whole = _report(stallscope.load(str(path)))
        for piece in (size // 6 + 7, size // 3 + 101):  # test_parallel_pieces' sizes
            parallel.MIN_PIECE_BYTES = max(1024, piece // 2)
            parallel.PIECE_BYTES = piece
            parallel.REPORT_SEARCH_BYTES = 4096  # cut near the nominal offsets, anywhere in a block
            cuts += 1
            for fraction in fractions:
                parallel.LEAD_BYTES = int(piece * fraction)
                if _report(_read(path, 2)) != whole:
                    differ[fraction].append(f"{path.relative_to(DATA)} ({piece} B pieces)")
    print(f"{len(logs)} logs of tests/data, {cuts} piece sizes")
    for fraction, logs_differ in differ.items():
        print(f"lead {fraction:g} of a piece: {len(logs_differ)} differ from the single reader")
        for name in logs_differ:
            print(f"    {name}")


def _bytes(text: str) -> int:
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def cost(path: str, leads: list[int], repeat: int, jobs: int) -> None:
    best = {lead: float("inf") for lead in leads}
    for _ in range(repeat):
        for lead in leads:
            parallel.LEAD_BYTES = lead
            started = time.perf_counter()
            _read(path, jobs)
            best[lead] = min(best[lead], time.perf_counter() - started)
    first = best[leads[0]]
    pieces = len(parallel.plan((path,), jobs))
    print(f"{path}: {pieces} pieces, {jobs} processes, best of {repeat}")
    for lead, seconds in best.items():
        print(f"lead {lead:>10,} B: {seconds:6.2f} s  {seconds / first:5.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    guarded = commands.add_parser("protect")
    guarded.add_argument("--leads", default="0,0.01,0.05,0.33", help="fractions of a piece")
    priced = commands.add_parser("cost")
    priced.add_argument("file")
    priced.add_argument("--leads", default=f"0,{parallel.LEAD_BYTES}", help="bytes; K, M suffixes")
    priced.add_argument("--repeat", type=int, default=3)
    priced.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if args.command == "protect":
        protect([float(x) for x in args.leads.split(",")])
    else:
        cost(args.file, [_bytes(x) for x in args.leads.split(",")], args.repeat, args.jobs)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
