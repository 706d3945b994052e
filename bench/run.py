"""Benchmark ``stallscope analyze`` against grep and wc on the same generated files, in one run.

    python bench/run.py [--sizes 100M,1G] [--seed 1] [--repeat 1]

Figures are reported as MB/s and as ratios to ``grep -c MemAlloc`` measured in the same run on
the same file, so they compare across machines; peak RSS is the child's maximum resident set.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def stallscope_command() -> list[str]:
    exe = shutil.which("stallscope", path=str(Path(sys.executable).parent)) or shutil.which("stallscope")
    return [exe] if exe else [sys.executable, "-m", "stallscope.cli"]


def timed(command: list[str], repeat: int) -> tuple[float, int, bytes, float]:
    """Best wall time over ``repeat`` runs, the peak RSS (KiB) of any one process of the child, its
    stdout, and the CPU seconds (user + system, workers included) of the best run."""
    best = float("inf")
    output = b""
    cpu = 0.0
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, check=False)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if elapsed < best:
            cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
        if done.returncode not in (0, 3) and command[0] not in ("grep",):
            sys.exit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
        best = min(best, elapsed)
        output = done.stdout
        peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return best, peak, output, cpu


def ensure_log(size: str, seed: int) -> Path:
    path = OUT / f"{size}-seed{seed}.log"
    if not path.exists():
        subprocess.run([sys.executable, str(HERE / "make_log.py"), size, str(path), "--seed", str(seed)], check=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100M,1G")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    rows = []
    for size in args.sizes.split(","):
        log = ensure_log(size, args.seed)
        megabytes = log.stat().st_size / 1e6
        grep_s, _, grep_out, _ = timed(["grep", "-c", "MemAlloc", str(log)], args.repeat)
        wc_s, _, _, _ = timed(["wc", "-l", str(log)], args.repeat)
        # RUSAGE_CHILDREN keeps the maximum over all children so far: measure stallscope last.
        command = [*stallscope_command(), "analyze", "--format", "json", str(log)]
        ours_s, peak_kib, ours_out, ours_cpu = timed(command, args.repeat)
        report = json.loads(ours_out)
        rows.append(
            {
                "file": log.name,
                "MB": round(megabytes, 1),
                "grep_s": round(grep_s, 3),
                "wc_s": round(wc_s, 3),
                "stallscope_s": round(ours_s, 2),
                "stallscope_MB_per_s": round(megabytes / ours_s, 1),
                "x_grep": round(ours_s / grep_s, 1),
                "x_wc": round(ours_s / wc_s, 1),
                "peak_rss_MB": round(peak_kib / 1024, 1),
                # CPU seconds over wall seconds: about the number of cores kept busy.
                "cores_busy": round(ours_cpu / ours_s, 2),
                "grep_count": int(grep_out.strip() or 0),
                "tasks": report["summary"]["tasks"],
                "snapshots": report["summary"]["snapshots"],
                "unparsed": report["summary"]["unparsed"],
            }
        )
    columns = list(rows[0])
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[c]) for c in columns))


if __name__ == "__main__":
    main()
