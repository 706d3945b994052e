"""Numbering rows by task, boot and input without an array of 8 bytes a row: the same numbers
and rows as the plain way, on real logs (a serial console of 24 real boots, two real inputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stallscope
from conftest import DATA, rebooted_serial_capture
from stallscope.capture import boots, decode, trajectories
from stallscope.capture.model import Capture
from stallscope.diagnose import _boot_positions, iter_host_views, rows_at

QEMU = DATA / "memalloc-qemu" / "oomwrite-1cpu-128M-w3.log"
NAMELESS = next((DATA / "lkml").glob("2015-10-10*.log"))


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> Capture:
    log = tmp_path_factory.mktemp("serial") / "console.log"
    log.write_bytes(rebooted_serial_capture())
    capture = stallscope.load(str(log))
    assert capture.tasks["boot"].nunique() >= 10 and len(capture.tasks) > 100
    return capture


def test_appearance_codes_in_parts_are_pd_factorize(serial: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    # Parts of 13 rows: every part meets values the parts before it met, and new ones.
    monkeypatch.setattr(trajectories, "_FACTORIZED_AT_ONCE", 13)
    tasks = serial.tasks
    pids = tasks["pid"].array  # nullable, some rows missing a pid (a dump's task without one)
    comms = tasks["comm"].cat.codes.to_numpy().astype(np.int64)
    boots = tasks["boot"].to_numpy(dtype="int32", na_value=-1)
    for values in (pids, comms, boots, tasks["line"].array, comms * 1000 + boots):
        found = trajectories.appearance_codes(values)
        assert found.dtype == np.int32
        assert found.tolist() == pd.factorize(values)[0].tolist()
    assert trajectories.group_numbers(comms, boots).tolist() == pd.factorize(comms * 100 + boots)[0].tolist()


def test_each_boot_of_an_input_read_from_its_start_is_one_run(serial: Capture) -> None:
    for frame in (serial.snapshots, serial.tasks, serial.events):
        runs = _boot_positions(frame, None)
        assert runs is not None and len(runs) > 1
        boots = frame["boot"].to_numpy(dtype="int64", na_value=-1)
        for boot, rows in runs.items():
            assert isinstance(rows, range)
            assert list(rows) == np.flatnonzero(boots == boot).tolist()
    # Each boot's view holds that boot's rows, as a selection of the table by boot would.
    views = list(iter_host_views(serial))
    assert len(views) == len(_boot_positions(serial.events, None))  # type: ignore[arg-type]
    for view in views:
        expected = serial.tasks[serial.tasks["boot"] == view.boot]
        assert view.tasks.index.tolist() == expected[expected["pid"].notna()].index.tolist()
    assert rows_at(serial.tasks, range(3, 7)).index.tolist() == serial.tasks.index[3:7].tolist()


def test_an_input_of_one_part_is_numbered_without_its_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    capture = stallscope.load(str(QEMU))
    alone = decode._PartRows(capture.tasks, str(QEMU))
    assert alone._rows is None and list(alone.names.values()) == [(None, 1)]
    monkeypatch.setattr(decode, "_only_part", lambda *_: None)  # the way of inputs of several parts
    plain = decode._PartRows(capture.tasks, str(QEMU))
    assert alone.names == plain.names
    # Asked for, its rows and numbers are those of the way of several parts.
    assert alone.rows.tolist() == plain.rows.tolist() and alone.keys.tolist() == plain.keys.tolist()


def test_an_input_of_several_boots_is_numbered_by_rows(tmp_path: Path) -> None:
    console = tmp_path / "console.log"
    console.write_bytes(NAMELESS.read_bytes() + QEMU.read_bytes())
    capture = stallscope.load(str(console))
    parts = decode._PartRows(capture.tasks, str(console))
    assert sorted(parts.names.values()) == [(None, 1), (None, 2)]
    boots = capture.tasks["boot"].to_numpy(dtype="int64", na_value=-1)
    assert parts.rows.tolist() == np.flatnonzero(boots > 0).tolist()


def test_rows_by_input_in_order_of_first_appearance(tmp_path: Path) -> None:
    capture = stallscope.load(str(QEMU), str(NAMELESS))
    source = capture.tasks["source"]
    positions = np.flatnonzero(capture.tasks["gfp"].notna().to_numpy())
    found = [(str(name), at.tolist()) for name, at in decode._by_source(source, positions)]
    rows = source.iloc[positions]
    expected = [(str(name), positions[at].tolist())
                for name, at in rows.groupby(rows, sort=False, observed=True).indices.items()]
    assert len(found) == 2 and found == expected


def test_rows_put_in_line_order_a_range_of_lines_at_a_time(serial: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    # The three tables' lines one after another, as the boots are numbered: runs in order, many
    # lines on several rows (a task's row and its trace's event rows).
    lines = np.concatenate([frame["line"].to_numpy(dtype="int32") for frame in
                            (serial.snapshots, serial.tasks, serial.events)])
    monkeypatch.setattr(boots, "_RANGE_ROWS", 50)
    order = boots.stable_order_by_range(lines)
    assert order.dtype == np.int32 and order.tolist() == np.argsort(lines, kind="stable").tolist()
    # Numbered again that way, every row has the boot it had.
    numbered = [frame["boot"].tolist() for frame in (serial.snapshots, serial.tasks, serial.events)]
    boots.number_boots(serial)
    assert [frame["boot"].tolist() for frame in (serial.snapshots, serial.tasks, serial.events)] == numbered


def test_rows_of_several_inputs_put_in_order_by_one_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two real inputs: np.lexsort's order of (line, input) is the order of the one 64-bit key.
    capture = stallscope.load(str(QEMU), str(NAMELESS))
    frames = (capture.snapshots, capture.tasks, capture.events)
    lines = np.concatenate([frame["line"].to_numpy(dtype="int32") for frame in frames])
    sources = np.concatenate([frame["source"].cat.codes.to_numpy() for frame in frames]).astype(np.int8)
    monkeypatch.setattr(boots, "_RANGE_ROWS", 50)
    key = boots._one_key([lines, sources])
    assert key is not None and len(set(sources.tolist())) == 2
    assert boots.stable_order_by_range(key).tolist() == np.lexsort([lines, sources]).tolist()
    # Keys too wide for one number are sorted as they are, and number the same boots.
    assert boots._one_key([np.array([1 << 40, 0]), np.array([0, 1 << 30])]) is None
    numbered = [frame["boot"].tolist() for frame in frames]
    monkeypatch.setattr(boots, "_one_key", lambda keys: None)
    boots.number_boots(capture)
    assert [frame["boot"].tolist() for frame in frames] == numbered
