"""The instructions and cache misses of reading one file, counted by valgrind, for one or more builds.

    python bench/instructions.py FILE [--build PATH ...] [--jobs 2] [--again | --analyze]

Wall-clock time on a shared virtual machine varies by a third from one run to the next (the same
build read the same 100 MB in 2.6 to 4.2 s in one minute here, bench/README.md), which hides a
difference of a few per cent between two builds however often each is timed. valgrind's
cachegrind counts what a run executes, which does not depend on what else the machine does: each
build reads FILE with ``stallscope.api.load`` in one process, and a one-line file the same way;
the difference is the reading (the imports, grammars and start-up cancel out). With ``--again``
each build loads FILE twice in one process and once in another: the difference is a second
load, what a line costs once the process has learned or read its line shapes (8459d58 learns
them with Lark in every process, later builds read them from the shape store, so one load of a
small file hides the cost per line). The builds run at
once (``--jobs``): the counts do not change with the load. About 60 times slower than a plain run:
a 30 MB file takes about 2.5 minutes. Needs valgrind (Debian: ``apt-get install valgrind``).

Instructions stand for the interpreter's work; D1 misses for the memory a run touches beyond the
first-level cache, last-level misses for what goes to memory. A build that executes fewer
instructions but misses the caches more can still be slower: read both. Each build reads with a
cache folder of its own, warmed by one plain run of FILE (see ``warmed``).

With ``--analyze`` each build runs the whole ``stallscope analyze --format json FILE`` instead,
every process it starts counted (valgrind follows the reading workers and the forked rules), with
callgrind: instructions only, no cache misses. The main process and the others are shown apart.

``--build``: a checkout (its ``stallscope`` package is imported from it through PYTHONPATH; byte-
compile it first, ``python -m compileall -q stallscope``, or every module is compiled in each run
when PYTHONDONTWRITEBYTECODE is set). Default: this checkout.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
_LOAD = ("import sys, stallscope.api as api; assert api.__file__.startswith(sys.argv[2]), api.__file__; "
         "[api.load(sys.argv[1]) for _ in range(int(sys.argv[3]))]")
_COUNTS = {
    "instructions": re.compile(r"I\s+refs:\s+([\d,]+)"),
    "D1 misses": re.compile(r"D1\s+misses:\s+([\d,]+)"),
    "LL misses": re.compile(r"LL misses:\s+([\d,]+)"),
}


def counted(build: Path, path: Path, cache: Path, scratch: str, loads: int = 1) -> dict[str, int]:
    """cachegrind's totals of one process of ``build`` that loads ``path`` ``loads`` times, with
    the grammars and line shapes cached in ``cache`` (see :func:`warmed`)."""
    # Run in an empty folder: ``python -c`` puts its working directory first on sys.path, before
    # PYTHONPATH, and a checkout's own folder would import that checkout (the assertion checks).
    done = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=yes", "--cachegrind-out-file=/dev/null",
         sys.executable, "-c", _LOAD, str(path.resolve()), str(build), str(loads)],
        env=_environment(build, cache), cwd=scratch, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{build}: valgrind failed ({done.returncode}): {done.stderr[-500:]}")
    found = {name: pattern.search(done.stderr) for name, pattern in _COUNTS.items()}
    return {name: int(match.group(1).replace(",", "")) for name, match in found.items() if match}


_ANALYZE = "import sys; sys.argv[0] = 'stallscope'; from stallscope.cli import run; run()"


def counted_analyze(build: Path, path: Path, cache: Path, scratch: str) -> dict[str, dict[str, int]]:
    """The instructions of a whole ``analyze --format json`` of ``path`` by ``build``: of its main
    process, of the other processes of the interpreter (reading workers, forked rules), and of
    any other program they ran. callgrind, not cachegrind: a forked process starts with its
    parent's counts, and callgrind sets them to zero where Python's ``os.fork`` enters the child
    (``PyOS_AfterFork_Child``); cachegrind counted the parent's work again in every child (a
    forked rules process of the 1 GB synthetic file 7.2 G instructions, most of them the load's)."""
    out = Path(tempfile.mkdtemp(prefix="analyze-", dir=scratch))
    with open(os.devnull, "wb") as report:
        run = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--trace-children=yes", "--zero-before=PyOS_AfterFork_Child",
             f"--callgrind-out-file={out}/%p", sys.executable, "-P", "-c", _ANALYZE, "analyze", "--format", "json",
             str(path.resolve())],
            env=_environment(build, cache), cwd=scratch, stdout=report, stderr=subprocess.PIPE)
        _, errors = run.communicate()
    if run.returncode not in (0, 5):  # a report written (README, "Exit codes": 5, an input damaged part way)
        sys.exit(f"{build}: valgrind or analyze failed ({run.returncode}): {errors[-500:].decode(errors='replace')}")
    files = {counts.name: counts.read_text() for counts in out.iterdir()}
    main_command = _command(files.get(str(run.pid), ""))
    parts: dict[str, dict[str, int]] = {}
    for name, text in files.items():
        total = re.search(r"^totals: (\d+)", text, re.MULTILINE) or re.search(r"^summary: (\d+)", text, re.MULTILINE)
        if total is None:
            continue
        # A forked process runs the main process's command; another program (ldconfig) its own.
        part = "main" if name == str(run.pid) else "others" if _command(text) == main_command else "programs"
        kept = parts.setdefault(part, {"instructions": 0, "processes": 0})
        kept["instructions"] += int(total.group(1))
        kept["processes"] += 1
    return parts


def _command(counts: str) -> str | None:
    found = re.search(r"^cmd: (.*)$", counts, re.MULTILINE)
    return found.group(1) if found else None


def analyze_main(builds: list[Path], path: Path, jobs: int) -> None:
    """``--analyze``: each build's whole run, counted, against the first build's."""
    with tempfile.TemporaryDirectory() as scratch:
        caches = {build: warmed(build, path, scratch) for build in builds}
        with ThreadPoolExecutor(jobs) as pool:
            counts = dict(zip(builds, pool.map(lambda build: counted_analyze(build, path, caches[build], scratch),
                                               builds), strict=True))
    first: int | None = None
    for build in builds:
        parts = counts[build]
        whole = sum(part["instructions"] for part in parts.values())
        against = "" if first is None else f" ({whole / first:.3f}x the first build)"
        print(f"{build}: instructions {whole / 1e6:,.0f} M{against}; " + ", ".join(
            f"{name} {part['instructions'] / 1e6:,.0f} M ({part['processes']} "
            f"process{'es' if part['processes'] > 1 else ''})" for name, part in sorted(parts.items())))
        first = first or whole


def warmed(build: Path, path: Path, scratch: str) -> Path:
    """A cache folder of ``build``'s own in which one plain run has read ``path``: its grammars
    compiled and the file's line shapes stored, as after any earlier run. The user's cache is not
    used: other runs (the tests, other files) replace its stored shapes, 10,000 at most, and a
    file whose shapes were dropped costs a sixth more to read (the 100 MB synthetic file)."""
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=scratch))
    subprocess.run([sys.executable, "-c", _LOAD, str(path.resolve()), str(build), "1"],
                   env=_environment(build, cache), cwd=scratch, check=True)
    return cache


def _environment(build: Path, cache: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(build), "XDG_CACHE_HOME": str(cache)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--build", type=Path, action="append", help="a checkout (repeatable); default: this one")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--again", action="store_true",
                        help="count a second load of FILE in the same process (two loads less one): the "
                             "cost per line once what a process pays once (its line shapes, keys, caches) is paid")
    parser.add_argument("--analyze", action="store_true",
                        help="count each build's whole `analyze --format json` of FILE, every process")
    args = parser.parse_args()
    builds = [b.resolve() for b in args.build or [HERE.parent]]
    if args.analyze:
        analyze_main(builds, args.file, args.jobs)
        return
    with tempfile.TemporaryDirectory() as scratch:
        one_line = Path(scratch) / "one-line.log"
        with args.file.open("rb") as source:
            one_line.write_bytes(source.readline())
        caches = {build: warmed(build, args.file, scratch) for build in builds}
        # (build, file, loads): FILE less the one-line file, or with --again two loads less one.
        runs = [(build, path, loads) for build in builds
                for path, loads in ((args.file, 2), (args.file, 1)) if args.again or loads == 1]
        if not args.again:
            runs += [(build, one_line, 1) for build in builds]
        with ThreadPoolExecutor(args.jobs) as pool:
            totals = dict(zip(runs, pool.map(lambda run: counted(run[0], run[1], caches[run[0]], scratch, run[2]),
                                             runs), strict=True))
    megabytes = args.file.stat().st_size / 1e6
    first: dict[str, int] | None = None
    for build in builds:
        more, less = ((build, args.file, 2), (build, args.file, 1)) if args.again else (
            (build, args.file, 1), (build, one_line, 1))
        reading = {name: totals[more][name] - totals[less][name] for name in _COUNTS}
        against = "" if first is None else "  (" + ", ".join(
            f"{name} {reading[name] / first[name]:.3f}x" for name in _COUNTS if first[name]) + " the first build)"
        print(f"{build}: " + ", ".join(f"{name} {value / 1e3:,.0f} k ({value / megabytes / 1e3:,.1f} k/MB)"
                                       for name, value in reading.items()) + against)
        first = first or reading


if __name__ == "__main__":
    main()
