"""HZ inference, task trajectories, stack signatures and gfp/flags decoding, on real logs and by hand."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import DATA
from stallscope.api import load
from stallscope.capture import decode
from stallscope.capture.decode import (
    decode_flags,
    decode_gfp,
    era_span,
    gfp_era,
    kernel_version,
    pf_era,
    printed_gfp_pairs,
    task_flag_names,
    task_gfp_names,
)
from stallscope.capture.hz import delay_seconds, hz_by_host, infer_hz
from stallscope.capture.model import Capture
from stallscope.capture.signatures import signature_groups, signatures, task_signatures
from stallscope.capture.stacks import guilty_frame, reliable_functions, stuck_in
from stallscope.capture.trajectories import trajectories
from stallscope.diagnose import diagnose

CORPUS = DATA  # the shared corpus logs, copied into tests/data with their names
LKML = CORPUS / "lkml"
QEMU = CORPUS / "memalloc-qemu" / "oomwrite-1cpu-128M-w3.log"


@cache
def corpus(name: str) -> Capture:
    path = QEMU if name == "qemu" else next(LKML.glob(f"{name}*.log"))
    return load(str(path))


def hand(tmp_path: Path, text: str) -> Capture:
    path = tmp_path / "hand.log"
    path.write_text(text)
    return load(str(path))


# A request seen twice 10 s apart whose delay grew by 2500 jiffies: HZ=250.
HZ250 = """\
[  100.000000] MemAlloc-Info: stalling=1 dying=0 exiting=0 victim=0 oom_count=1
[  100.000100] MemAlloc: a.out(10) flags=0x400000 switches=5 seq=7 gfp=0x14200ca(GFP_HIGHUSER_MOVABLE) order=0 delay=1000
[  110.000000] MemAlloc-Info: stalling=1 dying=0 exiting=0 victim=0 oom_count=1
[  110.000100] MemAlloc: a.out(10) flags=0x400000 switches=5 seq=7 gfp=0x14200ca(GFP_HIGHUSER_MOVABLE) order=0 delay=3500
"""


# --- HZ ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["2015-10-10", "2015-12-05"])
def test_hz_of_vmware_logs_is_1000(name: str) -> None:
    estimate = hz_by_host(corpus(name))[None]
    assert estimate.hz == 1000 and estimate.how == "snapped" and estimate.pairs >= 10
    assert estimate.raw is not None and abs(estimate.raw - 1000) < 5


def test_hz_unknown_with_one_report() -> None:
    estimate = hz_by_host(corpus("qemu"))[None]
    assert not estimate.known and estimate.how == "unknown"
    assert delay_seconds(corpus("qemu")).isna().all()


def test_hz_override_gives_seconds() -> None:
    capture = corpus("qemu")
    seconds = delay_seconds(capture, hz=1000)
    row = capture.tasks.index[capture.tasks["comm"] == "kworker/u2:2"][0]
    assert seconds[row] == pytest.approx(5.741)
    assert infer_hz(capture.tasks, hz=300).how == "override"


def test_hz_250_by_hand(tmp_path: Path) -> None:
    capture = hand(tmp_path, HZ250)
    estimate = hz_by_host(capture)[None]
    assert estimate.hz == 250 and estimate.pairs == 1
    assert delay_seconds(capture).tolist() == [4.0, 14.0]


def test_hz_uncommon_value_is_raw(tmp_path: Path) -> None:
    capture = hand(tmp_path, HZ250.replace("delay=3500", "delay=6120"))  # 512 jiffies/s
    estimate = hz_by_host(capture)[None]
    assert estimate.how == "raw" and estimate.hz == pytest.approx(512)
    assert "not a common value" in estimate.note


# --- trajectories ------------------------------------------------------------------------------
def _kind(capture: Capture, comm: str) -> str:
    traj = trajectories(capture)
    return str(traj.loc[traj["comm"] == comm, "kind"].iloc[0])


def test_trajectory_victim_not_exiting_and_livelock() -> None:
    capture = corpus("2015-12-05")
    traj = trajectories(capture)
    victim = traj[traj["pid"] == 3807].iloc[0]
    assert victim["kind"] == "victim-not-exiting" and victim["observations"] == 4
    journal = traj[traj["pid"] == 481].iloc[0]
    assert journal["kind"] == "livelocked" and journal["seq_first"] == journal["seq_last"] == 17


def test_trajectory_kswapd_blocked() -> None:
    traj = trajectories(corpus("2017-02-26"))
    kswapd = traj[traj["comm"] == "kswapd0"].iloc[0]
    assert kswapd["kind"] == "blocked" and kswapd["switches_delta"] == 0


def test_trajectory_single_report() -> None:
    assert set(trajectories(corpus("qemu"))["kind"]) == {"single-observation"}


@pytest.mark.parametrize(
    ("second", "kind"),
    [
        ("switches=9 seq=8", "progressing"),
        ("switches=9 seq=7", "livelocked"),
        ("switches=5 seq=7", "blocked"),
    ],
)
def test_trajectory_classes_by_hand(tmp_path: Path, second: str, kind: str) -> None:
    text = HZ250.replace("switches=5 seq=7 gfp=0x14200ca(GFP_HIGHUSER_MOVABLE) order=0 delay=3500",
                         f"{second} gfp=0x14200ca(GFP_HIGHUSER_MOVABLE) order=0 delay=3500")
    assert _kind(hand(tmp_path, text), "a.out") == kind


# --- signatures --------------------------------------------------------------------------------
def test_signature_groups_too_many_isolated() -> None:
    groups = signature_groups(signatures(corpus("2017-02-21")))
    top = groups.iloc[0]
    assert top["summary"] == "3 tasks stuck in shrink_inactive_list <- congestion_wait"
    assert top["guilty"] == {"filemap_fault": 2, "__do_page_cache_readahead": 1}


def test_guilty_is_lock_for_kswapd_and_caller_for_allocators() -> None:
    sigs = task_signatures(corpus("2017-03-03"))
    by_comm = sigs.set_index("comm")
    assert by_comm.at["xfs-data/sda1", "guilty"] == "xfs_log_commit_cil"
    assert by_comm.at["kworker/2:0", "guilty"] == "bio_copy_kern"
    kswapd = task_signatures(corpus("2017-02-26")).iloc[0]
    assert (kswapd["wait"], kswapd["site"], kswapd["guilty"]) == (
        "__xfs_iflock", "xfs_reclaim_inode", "__xfs_iflock")


def test_signature_6x_reclaim_throttle() -> None:
    sigs = task_signatures(corpus("qemu")).set_index("pid")
    assert sigs.at[478, "signature"] == "shrink_node <- reclaim_throttle"
    assert sigs.at[87, "guilty"] == "ext4_mb_load_buddy_gfp"


ORPHAN = """\
[  100.000000] MemAlloc-Info: stalling=1 dying=0 exiting=0 victim=0 oom_count=1
[  100.000100] MemAlloc: kswapd0(49) flags=0xa40840 switches=466 uninterruptible
[  100.000200] kswapd0 @@ a state line this parser does not know
[  100.000300] Call Trace:
[  100.000400]  schedule+0x2c/0x80
[  100.000500]  rwsem_down_read_failed+0xf8/0x150
[  100.000600]  down_read+0x17/0x20
[  100.000700]  xfs_map_blocks+0x7e/0x150 [xfs]
[  100.000800]  xfs_do_writepage+0x16a/0x510 [xfs]
[  100.000900]  kswapd+0x406/0x7d0
"""


def test_orphan_trace_is_given_to_its_task(tmp_path: Path) -> None:
    # A line the parser does not understand cuts the trace from its task; the trace still
    # follows the task's MemAlloc line, with no other MemAlloc line in between.
    capture = hand(tmp_path, ORPHAN)
    assert capture.tasks["stack"].isna().all()
    sigs = task_signatures(capture).set_index("comm")
    assert sigs.at["kswapd0", "site"] == "xfs_map_blocks" and sigs.at["kswapd0", "line"] == 4
    other = "[  100.000250] MemAlloc: x(5) flags=0x0 switches=1\n[  100.000260] x @@ garbage\n"
    text = ORPHAN.replace("[  100.000300] Call Trace:", other + "[  100.000300] Call Trace:")
    assert list(task_signatures(hand(tmp_path, text))["comm"]) == ["x"]  # the nearer task line wins


def test_clone_suffixes_and_unreliable_frames() -> None:
    frames = [("__schedule", True), ("schedule", True), ("? lock_timer_base", False),
              ("io_schedule_timeout", True), ("congestion_wait.constprop.3", True),
              ("shrink_inactive_list.isra.51", True), ("shrink_node", True),
              ("try_to_free_pages", True), ("__alloc_pages_slowpath.cold", True),
              ("alloc_pages_current", True), ("bio_copy_kern.part.2", True), ("kthread", True)]
    functions = reliable_functions(frames)
    assert stuck_in(functions) == ("congestion_wait", "shrink_inactive_list")
    assert guilty_frame(functions) == "bio_copy_kern"


# --- decoding ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mask", "version", "names"),
    [
        (0x24280CA, (4, 5), "GFP_HIGHUSER_MOVABLE|__GFP_ZERO"),
        (0x14280CA, (4, 11), "GFP_HIGHUSER_MOVABLE|__GFP_ZERO"),
        (0x6280CA, (4, 19), "GFP_HIGHUSER_MOVABLE|__GFP_ZERO"),
        (0x140DCA, (6, 1), "GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO"),
        (0x40C40, (6, 1), "GFP_NOFS|__GFP_COMP"),
        (0xD0, (3, 10), "GFP_KERNEL"),
        (0x2400000, (4, 6), "GFP_NOIO"),
        (0x27000C0, (4, 5), "GFP_KERNEL_ACCOUNT|__GFP_NOTRACK"),
    ],
)
def test_decode_gfp_known_version(mask: int, version: tuple[int, int], names: str) -> None:
    found = decode_gfp(mask, version)
    assert found.text == names and not found.ambiguous


def test_decode_gfp_without_version_is_ambiguous() -> None:
    found = decode_gfp(0x24280CA)
    assert found.ambiguous and found.text == "GFP_HIGHUSER_MOVABLE|__GFP_ZERO"
    assert "4.4-4.9" in found.how and "other readings" in found.how


@pytest.mark.parametrize("name", ["2016-02-09", "2016-02-25", "2016-04-05", "2017-02-21", "2017-03-03", "qemu"])
def test_every_printed_pair_decodes_back(name: str) -> None:
    capture = corpus(name)
    choice = gfp_era(capture)
    pairs = printed_gfp_pairs(capture)
    assert pairs
    for mask, names in pairs:
        readings = {era.decode(mask) for era in choice.eras}
        assert readings == {names}, (hex(mask), names, readings)


def test_era_from_version_and_from_names() -> None:
    assert kernel_version(corpus("2016-02-25")) == (4, 5)
    assert kernel_version(corpus("qemu")) == (6, 1)
    assert [e.name for e in gfp_era(corpus("qemu")).eras] == ["5.18-6.2"]
    from_names = gfp_era(corpus("2016-04-05"))
    assert era_span(from_names.eras) == "4.4-4.9" and "names" in from_names.reason


def test_names_of_two_eras_in_one_file_are_said_to_fit_no_one_layout(tmp_path: Path) -> None:
    # Two real logs whose names decode under different layouts (4.4-4.9, 4.10-4.14), pasted into
    # one file as a thread quoting both would: every layout stays, and the reason says why (not
    # that the log names nothing, as it did).
    older, newer = corpus("2016-04-05"), corpus("2017-03-03")
    assert not set(gfp_era(older).eras) & set(gfp_era(newer).eras)
    both = tmp_path / "both.log"
    both.write_bytes(next(LKML.glob("2016-04-05*.log")).read_bytes() + next(LKML.glob("2017-03-03*.log")).read_bytes())
    choice = gfp_era(load(str(both)))
    pairs = len(printed_gfp_pairs(older) | printed_gfp_pairs(newer))
    assert choice.eras == decode.GFP_ERAS
    assert choice.reason.startswith(f"no one gfp layout decodes all {pairs} gfp value(s) the log prints with names")


# A kernel update between two boots of one console log: a 3.4 machine's hex-only warn_alloc
# report, then a boot of 6.1, whose banner starts it and whose watchdog lines print names.
FEDORA_3_4 = DATA / "wild" / "2012-09-28_real-48gb-multicast-kswapd1-order2-atomic-mlx4-failure.log"


def test_each_boot_of_an_input_is_read_with_its_own_kernels_layout(tmp_path: Path) -> None:
    updated = tmp_path / "console.log"
    updated.write_bytes(FEDORA_3_4.read_bytes() + QEMU.read_bytes())
    capture = load(str(updated))
    assert sorted(set(capture.events["boot"].tolist())) == [1, 2]
    eras = decode.InputEras(capture, str(updated))
    assert eras.parts == [(None, 1), (None, 2)]
    first, second = eras.gfp((None, 1)), eras.gfp((None, 2))
    assert [e.name for e in first.eras] == ["2.6-3.18"] and first.reason == "kernel 3.4 printed in the log"
    assert [e.name for e in second.eras] == ["5.18-6.2"]
    # The author's "order-2 atomic": mode:0x4020 is GFP_ATOMIC|__GFP_COMP on 3.4. Read with the
    # 6.1 names of the next boot (as the whole input was), it was __GFP_HIGH|__GFP_RETRY_MAYFAIL.
    titles = [f.title for f in diagnose(capture) if f.rule == "allocation-failure" and "kswapd1" in f.title]
    alone = [f.title for f in diagnose(load(str(FEDORA_3_4))) if f.rule == "allocation-failure"]
    assert titles == alone == ["Allocation failure: kswapd1 order-2 GFP_ATOMIC|__GFP_COMP in mlx4_en_alloc_frag"]
    # An input of one boot is read whole, as before (and does not keep its rows by part).
    whole = decode.InputEras(corpus("qemu"), str(QEMU))
    (part, rows), = whole.task_parts(np.arange(3))
    assert whole.parts == [(None, 1)] and part is None and rows.tolist() == [0, 1, 2]
    assert len(whole._tasks.rows) == 0 and len(eras._tasks.rows) == len(capture.tasks)


def test_positions_of_a_mask_found_a_part_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # The rows of the real log's tasks with a gfp mask, the mask read a few rows at a time.
    mask = corpus("qemu").tasks["gfp"].notna().to_numpy()
    assert 0 < mask.sum() < len(mask) > 7
    monkeypatch.setattr(decode, "_MASK_ROWS", 7)
    found = decode._positions(mask)
    assert found.dtype == np.int32 and found.tolist() == np.flatnonzero(mask).tolist()


def test_a_boot_that_prints_nothing_of_its_kernel_is_read_as_its_input_and_says_so(tmp_path: Path) -> None:
    # A 2015 watchdog log that prints neither a version nor names (hex-only gfp=), then a 6.1
    # boot: the first boot's masks take the input's layout, and the reason says where it is from.
    nameless = next(LKML.glob("2015-10-10*.log"))
    console = tmp_path / "console.log"
    console.write_bytes(nameless.read_bytes() + QEMU.read_bytes())
    capture = load(str(console))
    eras = decode.InputEras(capture, str(console))
    assert eras.parts == [(None, 1), (None, 2)]
    assert eras.printed((None, 1)) == decode.Printed(None, frozenset(), frozenset())
    whole, first = gfp_era(capture, str(console)), eras.gfp((None, 1))
    assert first.eras == whole.eras and first.reason == f"{whole.reason}, in another boot or host of the input"
    names = task_gfp_names(capture)
    boot_one = (capture.tasks["boot"] == 1).to_numpy() & capture.tasks["gfp_names"].isna().to_numpy()
    assert boot_one.any() and set(names["how"][boot_one]) == {first.reason}
    # Alone, the same log's masks are read under every layout, as before.
    assert gfp_era(load(str(nameless))).reason == "no kernel version and no gfp names in the log"


def test_printed_gfp_pairs_of_each_source_read_a_block_of_rows_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two real logs that print their masks with names, read as one capture of two sources.
    named = next(LKML.glob("2016-04-05*.log"))
    capture = load(str(named), str(QEMU))
    tasks = capture.tasks
    by_rows = {
        source: {(int(m), str(n)) for s, m, n in zip(tasks["source"], tasks["gfp"], tasks["gfp_names"], strict=True)
                 if s == source and not pd.isna(m) and not pd.isna(n)}
        for source in (str(named), str(QEMU))
    }
    assert all(by_rows.values())
    whole = {source: set(printed_gfp_pairs(capture, source)) for source in (*by_rows, None)}
    monkeypatch.setattr(decode, "_PAIR_ROWS", 7)  # blocks of 7 rows: many blocks, pairs across them
    assert {source: set(printed_gfp_pairs(capture, source)) for source in whole} == whole
    for source, pairs in by_rows.items():
        # Each source's own pairs (its OOM headers may add more), and none of the other's alone.
        assert pairs <= whole[source] <= whole[None]
    assert whole[str(named)] | whole[str(QEMU)] == whole[None]


def test_hex_only_log_decodes_with_ambiguity_said() -> None:
    names = task_gfp_names(corpus("2015-10-10"))
    assert set(names["ambiguous"]) == {True}
    assert names["gfp_names"].iloc[0] == "GFP_HIGHUSER_MOVABLE|__GFP_ZERO"


@pytest.mark.parametrize(
    ("flags", "version", "expected", "absent"),
    [
        (0xA40840, (4, 9), {"PF_KSWAPD", "PF_MEMALLOC", "PF_KTHREAD", "PF_SWAPWRITE"}, "PF_FSTRANS"),
        (0xA60840, (4, 9), {"PF_KSWAPD", "PF_FSTRANS"}, "PF_MEMALLOC_NOFS"),
        (0x220840, (6, 1), {"PF_KSWAPD", "PF_MEMALLOC", "PF_KTHREAD"}, "PF_MEMALLOC_NOFS"),
        (0x4208060, (4, 9), {"PF_WQ_WORKER", "PF_KTHREAD", "PF_NO_SETAFFINITY"}, "PF_MEMALLOC"),
        (0x4248860, (6, 1), {"PF_WQ_WORKER", "PF_MEMALLOC_NOFS", "PF_MEMALLOC"}, "PF_KSWAPD"),
    ],
)
def test_decode_flags(flags: int, version: tuple[int, int], expected: set[str], absent: str) -> None:
    names = set(decode_flags(flags, version).text.split("|"))
    assert expected <= names and absent not in names


def test_pf_era_from_kswapd_flags_or_gfp_layout() -> None:
    choice = pf_era(corpus("2017-02-26"))  # no version, no gfp names; kswapd0 flags=0xa40840
    assert era_span(choice.eras) == "2.6-4.11" and "kswapd" in choice.reason
    assert all(dict(era.names)["PF_KSWAPD"] == 0x40000 for era in choice.eras)
    capture = corpus("2016-04-05")  # no version; its gfp names say 4.4-4.9
    assert "gfp layout" in pf_era(capture).reason
    names = task_flag_names(capture)
    kswapd = names.loc[capture.tasks["comm"] == "kswapd0", "flag_names"]
    assert len(kswapd) and all("PF_KSWAPD" in str(text).split("|") for text in kswapd)


@pytest.mark.parametrize("by_mask", [0, 8])
def test_task_rows_by_input_are_those_a_groupby_finds(by_mask: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two real logs read as one capture of two inputs, their rows shuffled: each input's rows, in
    # the order given, inputs in order of first appearance, whether found by one pass per input
    # or by one sort.
    named = next(LKML.glob("2016-04-05*.log"))
    source = load(str(QEMU), str(named)).tasks["source"]
    assert isinstance(source.dtype, pd.CategoricalDtype) and source.nunique() == 2
    positions = np.random.default_rng(7).permutation(len(source))
    rows = source.iloc[positions]
    expected = [(name, positions[at].tolist())
                for name, at in rows.groupby(rows, sort=False, observed=True).indices.items()]
    monkeypatch.setattr(decode, "_INPUTS_BY_MASK", by_mask)
    assert [(name, at.tolist()) for name, at in decode._by_source(source, positions)] == expected
    assert [(name, at.tolist()) for name, at in decode._by_source(source.astype(object), positions)] == expected


@pytest.mark.parametrize(("source", "expected"), [(None, (6, 1)), ("qemu", (6, 1)), ("named", None)])
def test_the_texts_searched_for_a_version_are_every_line_in_log_order(
        source: str | None, expected: tuple[int, int] | None, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two real logs as one capture: the lines of one input (or of both), read a few at a time
    # (1, 2, 2, ...), are its event lines in log order, then the banner the reader kept. The
    # 2016 excerpt prints no kernel version; the 6.1 guest's first report does.
    named = next(LKML.glob("2016-04-05*.log"))
    capture = load(str(QEMU), str(named))
    which = {None: None, "qemu": str(QEMU), "named": str(named)}[source]
    assert decode.kernel_version(capture, which) == expected
    events = capture.events if which is None else capture.events[capture.events["source"] == which]
    banners = [s.kernel_line for s in capture.inputs if s.kernel_line is not None and which in (None, s.path)]
    monkeypatch.setattr(decode, "_FIRST_TEXTS", 1)
    monkeypatch.setattr(decode, "_MOST_TEXTS", 2)
    assert len(events) > 4 and list(decode._texts(capture, which)) == [*map(str, events["text"]), *banners]
    assert decode.kernel_version(capture, which) == expected
