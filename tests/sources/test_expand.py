"""An input named by a ``pathlib.Path`` (a caller of the library) reads as the same input named
by its text (the command line): its rows' source is the name as text."""

from __future__ import annotations

import stallscope
from conftest import DATA
from stallscope.sources.expand import expand

# A real report (linux-mm, 2017-03-03) of two WQ_MEM_RECLAIM rescuers of xfs stalled in the
# allocator: xfs-data/sda1 (pid 451) and xfs-eofblocks/s (pid 456), rescuer_thread in their traces.
RESCUERS = "lkml/2017-03-03_wq-mem-reclaim-xfs-rescuer.log"


def test_a_path_is_read_as_its_name() -> None:
    assert expand([DATA / RESCUERS]).inputs == [str(DATA / RESCUERS)]
    by_path, by_name = stallscope.load(DATA / RESCUERS), stallscope.load(str(DATA / RESCUERS))
    for table in ("snapshots", "tasks", "events", "traces"):
        sources = getattr(by_path, table)["source"].astype(object)
        assert all(type(source) is str for source in sources), table
        assert sources.tolist() == getattr(by_name, table)["source"].astype(object).tolist(), table
    findings = stallscope.diagnose(by_path)
    assert [(f.rule, f.title) for f in findings] == [(f.rule, f.title) for f in stallscope.diagnose(by_name)]
    # A machine's views are found by the sources' names: with a Path's rows they held no row, and
    # no rule found anything.
    titles = [f.title for f in findings if f.rule == "rescuer-stuck"]
    assert len(titles) == 2
    assert any("xfs-data/sda1(451)" in title for title in titles)
    assert any("xfs-eofblocks/s(456)" in title for title in titles)
