"""Where reading a large file holds its memory: resident and peak memory of the main process
after each step of ``load_parallel`` (the workers' parts received, each table joined, the
pieces' links resolved, traces put in reading order, records read twice dropped and boots
numbered).

    python bench/load_memory.py FILE [--jobs N]

Read from ``/proc/self/status`` (Linux): VmRSS is what the process holds after the step, VmHWM
the most it held so far, so a step whose VmHWM rises above the VmRSS before and after it held
that much for a moment. The steps are wrapped, not changed: the capture is the one ``analyze``
reads (bench/README.md, "Holding less while reading").
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import Any

from stallscope import parallel
from stallscope.capture import merge


def _status() -> str:
    fields = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) // 1024
    return f"rss {fields['VmRSS']:6d} MB   peak so far {fields['VmHWM']:6d} MB"


def _reporting(label: str, step: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(step)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = step(*args, **kwargs)
        name = args[2] if label == "join" and len(args) > 2 else ""
        print(f"{label + ' ' + str(name):28s} {_status()}", flush=True)
        return result
    return wrapped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()
    engine_map = parallel.LocalEngine.map

    def mapped(self: parallel.LocalEngine, fn: Callable[[Any], Any], items: Any) -> list[Any]:
        results = engine_map(self, fn, items)
        print(f"{f'parts received ({len(items)})':28s} {_status()}", flush=True)
        return results

    parallel.LocalEngine.map = mapped  # type: ignore[method-assign]
    merge._join = _reporting("join", merge._join)  # type: ignore[assignment]
    merge._resolve = _reporting("links resolved", merge._resolve)  # type: ignore[assignment]
    merge.in_reading_order = _reporting("traces in order", merge.in_reading_order)  # type: ignore[assignment]
    merge.settle = _reporting("duplicates, boots", merge.settle)  # type: ignore[assignment]
    print(f"{'start':28s} {_status()}", flush=True)
    capture = parallel.load_parallel(args.file, jobs=args.jobs)
    print(f"{'read (capture held)':28s} {_status()}", flush=True)
    rows = sum(len(getattr(capture, name)) for name in ("snapshots", "tasks", "events", "traces", "frames"))
    print(f"{rows} rows")


if __name__ == "__main__":
    main()
