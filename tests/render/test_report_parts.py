"""The parts of a report of many boots read what the whole capture derived once as each part
would derive it alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

import stallscope
from conftest import ROOT
from stallscope.capture.trajectories import trajectories_of
from stallscope.render.views import report_views
from stallscope.verdict import verdict


def test_each_part_has_the_trajectories_of_its_own_tasks(tmp_path: Path) -> None:
    # bench's serial family (a machine rebooted after each incident), made of the real logs of
    # tests/data, read beside a second file (a second machine).
    log = tmp_path / "serial.log"
    subprocess.run([sys.executable, str(ROOT / "bench" / "families.py"), "serial", "2M", str(log), "--seed", "3"],
                   check=True, capture_output=True)
    other = ROOT / "tests" / "data" / "memalloc-qemu" / "oomwrite-1cpu-128M-w3.log"
    capture = stallscope.load(str(log), str(other))
    findings = stallscope.diagnose(capture)
    views = report_views(capture, findings)
    assert len({v.host or v.sources[0] for v in views}) == 2 and len(views) > 8
    compared = 0
    for view in views:
        part = view.capture
        shared = view.trajectories(part)
        if not len(part.tasks):
            assert shared is None
            continue
        pd.testing.assert_frame_equal(shared, trajectories_of(part.tasks))
        assert verdict(part, view.findings, None, shared) == verdict(part, view.findings)
        compared += 1
    assert compared > 8
