"""bench/families.py moves a later report's counters as a real capture does, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

from bench_helpers import bench_module

from stallscope import api

ROOT = Path(__file__).resolve().parents[2]
LOG = ROOT / "tests" / "data" / "qemu" / "oom-global.log"  # two OOM reports, Mem-Info, task tables
_WATERMARKS = re.compile(r"\b(?:min|low|high|present|managed):\d+kB")
_PIDS = re.compile(r"\bpid:\d+|\(\d+\)|process \d+|^\[\s*\d+\]")


def _families() -> ModuleType:
    return bench_module("families")


def _replayed(tmp_path: Path, step: int) -> Path:
    families = _families()
    out = tmp_path / f"step{step}.log"
    out.write_text("".join(f"[{ts:12.6f}] {families._advance(body, step)}\n"
                           for ts, body in families._timed_lines(LOG)), encoding="utf-8")
    return out


def test_a_later_mem_info_dump_prints_other_counts_and_the_same_watermarks_and_pids(tmp_path: Path) -> None:
    first, second = (_replayed(tmp_path, step).read_text(encoding="utf-8").splitlines() for step in (1, 2))
    assert len(first) == len(second)
    changed = [(a, b) for a, b in zip(first, second, strict=True) if a != b]
    zone_lines = [(a, b) for a, b in zip(first, second, strict=True) if " free:" in a and "min:" in a]
    assert zone_lines and all(a != b for a, b in zone_lines if re.search(r"free:[1-9]\d{2,}", a))
    assert any("active_anon:" in a for a, _ in changed)
    for a, b in zip(first, second, strict=True):
        assert _WATERMARKS.findall(a) == _WATERMARKS.findall(b)
        assert _PIDS.findall(a) == _PIDS.findall(b)


def test_the_moved_lines_read_as_the_real_ones_do(tmp_path: Path) -> None:
    real = api.load(str(LOG))
    moved = api.load(str(_replayed(tmp_path, 3)))
    assert moved.events["kind"].value_counts().to_dict() == real.events["kind"].value_counts().to_dict()
    assert moved.tasks["pid"].tolist() == real.tasks["pid"].tolist()
    assert [(i.parsed, i.unparsed, i.kinds) for i in moved.inputs] == [(i.parsed, i.unparsed, i.kinds)
                                                                       for i in real.inputs]
    counters = moved.events.loc[moved.events["kind"] == "meminfo_counters", "text"].tolist()
    assert counters != real.events.loc[real.events["kind"] == "meminfo_counters", "text"].tolist()
