"""Shared by the report tests: a hostile log, and a capture rendered as from the repository root."""

from __future__ import annotations

import os
from pathlib import Path

import stallscope
from conftest import ROOT
from stallscope.capture.model import Capture
from stallscope.render.provenance import Provenance, provenance
from stallscope.rules.base import Finding

# Task names a kernel accepts (comm is any 15 bytes, and the watchdog prints it as is) that
# would be markup if a report did not escape them.
HOSTILE_NAMES = (
    "<script>alert(1)</script>",
    "a|b`c``](javascript:x)",
    "<img src=x onerror=alert(1)>",
    "$x$ **b** _i_",
    "NA",
)


def hostile_log(directory: Path) -> Path:
    lines = ["[  100.000000] MemAlloc-Info: stalling=5 dying=0 exiting=0 victim=0 oom_count=5"]
    for pid, name in enumerate(HOSTILE_NAMES, 12):
        lines.append(
            f"[  100.{pid:06d}] MemAlloc: {name}({pid}) flags=0x0 switches=1 seq=1 gfp=0x0 order=0 delay=5 "
            "uninterruptible"
        )
    lines.append("[  130.000000] MemAlloc-Info: stalling=5 dying=0 exiting=0 victim=0 oom_count=5")
    lines.append(
        f"[  130.100000] MemAlloc: {HOSTILE_NAMES[0]}(12) flags=0x0 switches=1 seq=1 gfp=0x0 order=0 delay=3005 "
        "uninterruptible"
    )
    path = directory / "hostile.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def from_root(relative: str, args: list[str]) -> tuple[Capture, list[Finding], Provenance]:
    """Load a repository file by its relative path, so input names in a report do not depend on the checkout."""
    here = Path.cwd()
    os.chdir(ROOT)
    try:
        capture = stallscope.load(relative)
        return capture, stallscope.diagnose(capture), provenance(capture, args)
    finally:
        os.chdir(here)
