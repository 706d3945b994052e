"""The chunked fast path must build exactly what the line-by-line reader builds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest

import stallscope
from conftest import DATA, ROOT
from stallscope import bulk
from stallscope.api import load_lines
from stallscope.capture.model import Capture
from stallscope.sources.reader import iter_lines

LOGS = sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*.log")) + sorted(
    str(p.relative_to(DATA)) for p in DATA.rglob("*.txt")
)


def assert_same(fast: Capture, slow: Capture) -> None:
    for name in ("snapshots", "tasks", "events", "frames", "traces"):
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(slow, name), check_categorical=False, obj=name)
    assert [(i.path, i.lines, i.parsed, i.unparsed, i.kinds, i.formats, i.physical_lines) for i in fast.inputs] == [
        (i.path, i.lines, i.parsed, i.unparsed, i.kinds, i.formats, i.physical_lines) for i in slow.inputs
    ]
    assert all(i.parsed + i.unparsed == i.lines for i in fast.inputs)
    assert fast.unparsed == slow.unparsed


@pytest.mark.parametrize("name", LOGS)
def test_fast_path_matches_line_reader(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(DATA / name)
    # Small chunks, so that chunk boundaries fall inside traces and reports.
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(bulk.ByteChunks.__init__, "__defaults__", (4096,))
    fast = stallscope.load(path, keep_unparsed=True)
    slow = load_lines(path, iter_lines(path), keep_unparsed=True)
    assert_same(fast, slow)


def _make_log_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_log", ROOT / "bench" / "make_log.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_log"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_fast_path_on_generated_multi_host_log(tmp_path: Path) -> None:
    log = tmp_path / "fleet.log"
    _make_log_module().generate(2 << 20, log, seed=7, hosts=3, tasks=40)
    fast = stallscope.load(str(log), keep_unparsed=True)
    slow = load_lines(str(log), iter_lines(str(log)), keep_unparsed=True)
    assert_same(fast, slow)
    assert fast.tasks["host"].nunique() == 2  # the dmesg host has no name in its prefix
    assert len(fast.snapshots) > 10
