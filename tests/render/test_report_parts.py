"""The parts of a report of many boots read what the whole capture derived once as each part
would derive it alone."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import stallscope
from conftest import ROOT, rebooted_serial_capture
from stallscope.capture.trajectories import trajectories_of
from stallscope.diagnose import followed_tasks, rows_at, view_positions
from stallscope.render.views import report_views
from stallscope.verdict import verdict


def test_each_part_has_the_trajectories_of_its_own_tasks(tmp_path: Path) -> None:
    # A serial console of a machine rebooted after each incident (real boots of tests/data),
    # read beside a second file (a second machine).
    log = tmp_path / "serial.log"
    log.write_bytes(rebooted_serial_capture())
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


def _reference_sources(capture: stallscope.Capture) -> list[list[str]]:
    """Each part's input files as the report named them from a copy of its rows."""
    out = []
    for _at, machine, _boot, rows in view_positions(capture):
        sources: list[str] = list(machine[1] or ())
        for frame, at in zip((capture.snapshots, capture.tasks, capture.events), rows, strict=True):
            if not len(frame):
                continue
            part = rows_at(frame, at)
            column = (followed_tasks(part) if frame is capture.tasks else part)["source"]
            sources += [str(s) for s in column.dropna().unique() if str(s) not in sources]
        out.append(sources)
    return out


def test_each_part_names_the_files_its_rows_come_from(tmp_path: Path) -> None:
    # A serial console of many boots beside another file (a second machine), and two files
    # without host names (a machine each).
    log = tmp_path / "serial.log"
    log.write_bytes(rebooted_serial_capture())
    data = ROOT / "tests" / "data"
    for paths in ([log, data / "qemu" / "oom-global.log"],
                  [data / "memalloc-qemu" / "oomwrite-1cpu-128M-w3.log", data / "qemu" / "warn-alloc-failure.log"]):
        capture = stallscope.load(*map(str, paths))
        views = report_views(capture, [])
        assert [view.sources for view in views] == _reference_sources(capture)
        assert all(view.sources for view in views)
