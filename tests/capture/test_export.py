"""`stallscope export`: tables written as Parquet or CSV read back with the same rows and dtypes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import stallscope
from conftest import DATA, ROOT
from report_helpers import HOSTILE_NAMES, hostile_log
from stallscope import export
from stallscope.cli import app

LARGEST = DATA / "memalloc-qemu" / "oomwrite-1cpu-128M-w3.log"
KSWAPD = DATA / "lkml" / "2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("log", [LARGEST, KSWAPD], ids=["memalloc-qemu", "kswapd-xfs"])
def test_round_trip_keeps_rows_and_dtypes(tmp_path: Path, fmt: str, log: Path) -> None:
    capture = stallscope.load(str(log))
    written = export.tables(capture)
    export.write(capture, tmp_path, fmt)
    back = export.read(tmp_path)
    assert set(back) == set(written)
    for name, frame in written.items():
        pd.testing.assert_frame_equal(back[name], frame, check_exact=True, obj=name)


def test_exported_rows_are_the_capture_rows(tmp_path: Path) -> None:
    """Not only self-consistent: the files hold what the capture holds, ids included."""
    capture = stallscope.load(str(LARGEST))
    export.write(capture, tmp_path, "csv")
    back = export.read(tmp_path)
    assert set(back) == {"snapshots", "tasks", "events", "frames", "traces"}
    tasks = back["tasks"]
    assert tasks["task"].tolist() == capture.tasks.index.tolist()
    assert tasks["comm"].astype(str).tolist() == capture.tasks["comm"].astype(str).tolist()
    assert tasks["delay"].tolist() == capture.tasks["delay"].tolist()
    assert str(tasks["delay"].dtype) == "Int64" and str(tasks["uninterruptible"].dtype) == "bool"
    assert len(back["frames"]) == len(capture.frames)
    fields = json.loads(back["events"]["fields"].dropna().iloc[0])
    assert isinstance(fields, dict) and fields == capture.events["fields"].dropna().iloc[0]
    # The references between tables still resolve.
    linked = back["traces"]["task"].dropna().astype(int)
    assert set(linked) <= set(tasks["task"])


def test_names_that_look_like_missing_values_survive_csv(tmp_path: Path) -> None:
    capture = stallscope.load(str(hostile_log(tmp_path)))
    written = export.write(capture, tmp_path / "out", "csv")
    # No kernel-report lines in this log: no empty events file.
    assert sorted(p.name for p in written) == ["frames.csv", "manifest.json", "snapshots.csv", "tasks.csv",
                                               "traces.csv"]
    comms = set(export.read_table(tmp_path / "out", "tasks")["comm"].astype(str))
    assert comms == set(HOSTILE_NAMES)  # "NA" included: not read back as missing


def test_manifest_describes_every_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(KSWAPD), "--to", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["format"] == "parquet" and manifest["stallscope"] == stallscope.__version__
    assert manifest["command"].startswith("stallscope export ")
    assert len(manifest["inputs"][0]["sha256"]) == 64
    assert {"snapshots", "tasks", "frames", "traces"} <= set(manifest["tables"])
    for name, entry in manifest["tables"].items():
        path = tmp_path / "out" / entry["file"]
        assert path.exists() and entry["rows"] == len(pd.read_parquet(path)), name
        assert str(path) in result.output


def test_export_schema_document_lists_every_column() -> None:
    """schema/export.md is the published schema: it must name every column that is written."""
    document = (ROOT / "schema" / "export.md").read_text()
    capture = stallscope.load(str(LARGEST))
    for name, frame in export.tables(capture).items():
        section = document.split(f"### `{name}`", 1)
        assert len(section) == 2, name
        body = section[1].split("### ", 1)[0]
        for column in frame.columns:
            assert f"`{column}`" in body, (name, column)
