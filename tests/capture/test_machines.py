"""Machines, inputs and boots read from the category codes of a capture, not a value per row:
each equals the plain computation on real logs, one machine or several in one file."""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stallscope
from conftest import DATA
from stallscope.capture import schema
from stallscope.capture.machines import input_positions, machine_codes, machine_labels, source_families
from stallscope.capture.model import Capture

KSWAPD_BUF_LOCK = DATA / "lkml" / "2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"
KSWAPD_IFLOCK = DATA / "lkml" / "2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log"
NOFS_LIVELOCK = DATA / "lkml" / "2016-04-05_oom-livelock-xfs-nofs-noio.log"
VICTIM_BLOCKED = DATA / "wild" / "2015-12-13_oom-victim-blocked-on-i-mutex-held-by-exiting-writer-in-gfp-nofs-xfs-alloc.log"
TABLES = ("snapshots", "tasks", "events")


@pytest.fixture(scope="module")
def two_boots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two dmesg files of one machine concatenated: [1160.1] ... [1289.8], then [98.7] ...."""
    log = tmp_path_factory.mktemp("boots") / "two-boots.log"
    log.write_text(KSWAPD_BUF_LOCK.read_text(encoding="utf-8") + NOFS_LIVELOCK.read_text(encoding="utf-8"),
                   encoding="utf-8")
    return log


def _receiver(out: Path, two_boots: Path) -> Path:
    """A syslog receiver's file: two hosts' kernel lines interleaved, and bare lines of a third
    machine (the file names it)."""
    logs = [("db1", two_boots), ("web1", KSWAPD_IFLOCK), (None, VICTIM_BLOCKED)]
    texts = [path.read_text(encoding="utf-8").splitlines() for _, path in logs]
    with out.open("w", encoding="utf-8") as sink:
        for row in zip_longest(*texts):
            for (host, _), line in zip(logs, row, strict=True):
                if line is not None:
                    sink.write(f"Feb 21 10:00:00 {host} kernel: {line}\n" if host else f"{line}\n")
    return out


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory, two_boots: Path) -> Capture:
    folder = tmp_path_factory.mktemp("receiver")
    log = _receiver(folder / "receiver.log", two_boots)
    (folder / "kern.log").write_text(two_boots.read_text(encoding="utf-8"), encoding="utf-8")
    return stallscope.load(str(log), str(folder / "kern.log"))


def test_machine_codes_number_the_labels(receiver: Capture) -> None:
    families = source_families(receiver)
    frames = [getattr(receiver, name) for name in TABLES]
    names, codes = machine_codes(frames, families)
    labels = [machine_labels(frame, families) for frame in frames]
    expected_names, expected = np.unique(np.concatenate(labels), return_inverse=True)
    assert names == expected_names.tolist() and len(names) == 4
    assert np.concatenate(codes).tolist() == expected.reshape(-1).tolist()
    # The same from plain string columns (no category codes to read).
    plain = [frame.astype({"host": object, "source": object}) for frame in frames]
    assert [c.tolist() for c in machine_codes(plain, families)[1]] == [c.tolist() for c in codes]


def test_input_positions_follow_the_inputs(receiver: Capture) -> None:
    position = {stats.path: at for at, stats in enumerate(receiver.inputs)}
    tasks = receiver.tasks.copy()
    # A row of an input that is not one of the capture's, and a row of none.
    tasks["source"] = tasks["source"].cat.add_categories(["elsewhere.log"])
    tasks.loc[0, "source"] = "elsewhere.log"
    tasks.loc[1, "source"] = np.nan
    expected = tasks["source"].astype(object).map(position).fillna(len(position)).to_numpy(np.int64)
    found = input_positions(tasks, position)
    assert found.tolist() == expected.tolist()
    assert set(found.tolist()) == {0, 1, 2}
    assert input_positions(tasks.astype({"source": object}), position).tolist() == expected.tolist()


def test_boots_of_machines_in_one_file_are_those_of_each_alone(receiver: Capture, two_boots: Path) -> None:
    """One machine per file takes the short way (no machine key); several in one file the long
    one: each host's rows get the boots its log gets read alone."""
    for host, path in (("db1", two_boots), ("web1", KSWAPD_IFLOCK)):
        alone = stallscope.load(str(path))
        for name in ("snapshots", "tasks"):
            frame = getattr(receiver, name)
            rows = frame[frame["host"].astype(object) == host]
            assert len(rows) and rows["boot"].tolist() == getattr(alone, name)["boot"].tolist(), (host, name)
    assert sorted(set(receiver.tasks["boot"].tolist())) == [1, 2]
    kern = receiver.tasks[receiver.tasks["source"].astype(object).str.endswith("kern.log")]
    assert kern["boot"].tolist() == stallscope.load(str(two_boots)).tasks["boot"].tolist()
    assert str(receiver.tasks["boot"].dtype) == schema.TABLES["tasks"].column("boot").dtype


def test_boots_found_a_few_rows_at_a_time_are_those_found_at_once(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path, two_boots: Path) -> None:
    """Rows whose times go back are looked for a part of the rows at a time: parts of 5 rows
    (boots and machines cut inside a part, and parts inside a boot) number the same boots."""
    from stallscope.capture import boots

    log = _receiver(tmp_path / "receiver.log", two_boots)
    whole = stallscope.load(str(log))
    monkeypatch.setattr(boots, "_PART_ROWS", 5)
    parts = stallscope.load(str(log))
    for name in TABLES:
        assert getattr(parts, name)["boot"].tolist() == getattr(whole, name)["boot"].tolist(), name
    assert sorted(set(whole.tasks["boot"].tolist())) == [1, 2] and len(whole.events) > 5


def test_each_rows_last_time_so_far_is_its_machines_own(receiver: Capture) -> None:
    """The boots' forward fill of timestamps (numpy, per machine) gives what pandas' grouped
    fill gives: on the receiver's rows (four machines, each machine's rows together, as the
    boots order them), and with every third time and each machine's first taken away."""
    from stallscope.capture.boots import _carried, _last_timed, _next_time, _Ordered

    frames = [getattr(receiver, name) for name in TABLES]
    machine = np.concatenate(machine_codes(frames, source_families(receiver))[1])
    columns = [frame["ts"].to_numpy(np.float64, na_value=np.nan) for frame in frames]
    order = np.argsort(machine, kind="stable")
    machine, ts = machine[order], np.concatenate(columns)[order]
    gaps = ts.copy()
    gaps[::3] = np.nan
    gaps[np.flatnonzero(np.diff(machine)) + 1] = np.nan  # every machine's first row untimed
    # The times as the boots read them: each table's own column, through the order.
    for times, ordered in ((ts, _Ordered(columns, order)), (gaps, _Ordered([gaps], np.arange(len(gaps))))):
        np.testing.assert_array_equal(ordered.take(np.arange(len(times))), times)
        np.testing.assert_array_equal(ordered.timed(), ~np.isnan(times))
        first_row = np.flatnonzero(np.concatenate(([True], machine[1:] != machine[:-1])))
        expected = pd.Series(times).groupby(machine).ffill().to_numpy()
        where = _last_timed(ordered.timed(), first_row)
        np.testing.assert_array_equal(_carried(ordered, where), expected)
        np.testing.assert_array_equal(_carried(ordered, where[5:40]), expected[5:40])  # a part of the rows
        coming = pd.Series(times).groupby(machine).bfill().to_numpy()
        ends = {int(m): int(np.flatnonzero(machine == m)[-1]) + 1 for m in np.unique(machine)}
        for at in range(0, len(times), 7):
            found = _next_time(ordered, ~np.isnan(times), at, ends[int(machine[at])])
            assert found == coming[at] or (np.isnan(found) and np.isnan(coming[at])), at
    assert len(np.unique(machine)) == 4 and np.isnan(gaps[0])


def test_boot_marks_of_many_inputs_and_machines_with_narrow_codes() -> None:
    """Machine codes and input positions are as narrow as their counts (int8 for 20 of each):
    a mark that names no host goes to the machines with rows in its input, whatever the product
    of the two counts (20 x 20 pairs do not fit in int8)."""
    from stallscope.capture.boots import _marks
    from stallscope.capture.columns import code_dtype
    from stallscope.capture.model import BootMark

    inputs = [f"console-{at}.log" for at in range(20)]
    position = {name: at for at, name in enumerate(inputs)}
    names = [f"file:{name}" for name in inputs]
    # Machine m's rows are in input m, three rows each.
    machine = np.repeat(np.arange(20), 3).astype(code_dtype(len(names)))
    source = np.repeat(np.arange(20), 3).astype(code_dtype(len(position) + 1))
    empty = pd.DataFrame()
    capture = Capture(empty, empty, empty, empty, empty, [], [],
                      boot_marks=[BootMark("console-19.log", 7, None), BootMark("console-3.log", 2, None)])
    found = _marks(capture, position, names, machine, source)
    assert machine.dtype == np.int8 and source.dtype == np.int8
    assert [a.tolist() for a in found] == [[19, 3], [19, 3], [7, 2]]
