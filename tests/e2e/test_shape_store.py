"""The line shapes one run learns are stored for the next: the same report either way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import DATA

# Two files: with two jobs, each is read by a worker process, which stores what it learned.
LOGS = [DATA / "memalloc-qemu" / "oomwrite-1cpu-128M-w3.log", DATA / "qemu" / "sysrq-t.log"]


def _analyze(cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stallscope", "analyze", "--format", "json", "-j", "2", *map(str, LOGS)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "XDG_CACHE_HOME": str(cache), "STALLSCOPE_NO_CACHE": ""},
    )


def test_a_run_reads_what_the_runs_before_it_learned_and_reports_the_same(tmp_path: Path) -> None:
    first = _analyze(tmp_path)
    assert first.returncode in (0, 3), first.stderr
    stores = list((tmp_path / "stallscope").glob("shapes-*.txt"))
    assert len(stores) == 1
    stored = stores[0].read_text(encoding="utf-8").splitlines()
    assert len(stored) > 100, "the two logs' shapes were not stored"
    assert all("\t" in line for line in stored)
    second = _analyze(tmp_path)
    assert (second.returncode, second.stdout) == (first.returncode, first.stdout)
    # Damaged between runs (a disk full, an edit): the report is still the same.
    stores[0].write_text("\n".join(line.split("\t")[0] + "\t[" for line in stored), encoding="utf-8")
    third = _analyze(tmp_path)
    assert (third.returncode, third.stdout) == (first.returncode, first.stdout)
