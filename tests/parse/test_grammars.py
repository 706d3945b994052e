"""The grammars on real lines of every watchdog generation, and on hostile input."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stallscope.capture.builder import split_comm_pid
from stallscope.parse.lines import LineParser

PARSER = LineParser()


def parse(body: str) -> tuple[str, dict[str, str]]:
    result = PARSER.parse(body)
    assert result is not None, body
    return result.kind, result.fields


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "MemAlloc-Info: stalling=8 dying=1 exiting=0 victim=1 oom_count=101421",
            {"stalling": "8", "dying": "1", "exiting": "0", "victim": "1", "oom_count": "101421"},
        ),
        (
            "MemAlloc-Info: stalling=46 dying=2 exiting=0, victim=0 oom_count=182",
            {"stalling": "46", "exiting": "0", "victim": "0", "oom_count": "182"},
        ),
        (
            "MemAlloc-Info: stalling=67 dying=10 exiting=1 victim=0 oom_count=441/447",
            {"oom_count": "441", "oom_count_nofs": "447"},
        ),
        ("MemAlloc-Info: 4 stalling task, 32 dying task, 1 victim task.", {"stalling": "4", "dying": "32", "victim": "1"}),
        (
            "MemAlloc-Info: 336 stalling task, 3 dying task, 0 exiting task, 0 victim task. oom_count=6",
            {"stalling": "336", "exiting": "0", "oom_count": "6"},
        ),
        ("MemAlloc-Info: stalling=2 dying=0 exiting=0 victim=0", {"stalling": "2", "victim": "0"}),
    ],
    ids=["v5", "feb2016-comma", "slash", "oldest", "old-with-oom-count", "systemtap-no-oom-count"],
)
def test_memalloc_info_generations(body: str, expected: dict[str, str]) -> None:
    kind, fields = parse(body)
    assert kind == "memalloc_info"
    assert expected.items() <= fields.items()


@pytest.mark.parametrize(
    ("body", "comm", "pid", "expected"),
    [
        (
            "MemAlloc: kworker/3:1(70) flags=0x4208060 switches=9462 seq=5 gfp=0x2400000(GFP_NOIO) order=0 delay=8207 uninterruptible",
            "kworker/3:1",
            70,
            {"flags": "0x4208060", "seq": "5", "gfp_names": "(GFP_NOIO)", "delay": "8207", "state_word": "uninterruptible"},
        ),
        ("MemAlloc: write(3816) flags=0x400000 switches=7440 uninterruptible dying victim", "write", 3816,
         {"state_word": "uninterruptible dying victim"}),
        ("MemAlloc: sync4(10598) gfp=0x24280ca order=0 delay=17338", "sync4", 10598, {"gfp": "0x24280ca"}),
        ("MemAlloc: DOM Worker(4412) seq=3 gfp=0x24280ca order=0 delay=100", "DOM Worker", 4412, {"seq": "3"}),
        ("MemAlloc: a=b (x)(7) flags=0x0 switches=1", "a=b (x)", 7, {"switches": "1"}),
        ("MemAlloc: tgid=5398(5401) flags=0x400040 switches=3 exiting", "tgid=5398", 5401, {"state_word": "exiting"}),
        ("MemAlloc-victim: a.out(1976) gfp=0x24280ca order=0 delay=100", "a.out", 1976, {"tag_state": "-victim"}),
        ("MemAlloc: kswapd0(24) flags=0x220840 switches=9882 uninterruptible", "kswapd0", 24, {"flags": "0x220840"}),
    ],
    ids=["v6-full", "victim", "first-version", "comm-space", "comm-parens", "comm-equals", "tag-victim", "kswapd"],
)
def test_memalloc_task_lines(body: str, comm: str, pid: int, expected: dict[str, str]) -> None:
    kind, fields = parse(body)
    assert kind == "memalloc_task"
    assert split_comm_pid(fields["comm_pid"]) == (comm, pid)
    assert expected.items() <= fields.items()


def test_in_flight_counter_is_not_a_task() -> None:
    assert parse("MemAlloc: 916 in-flight.")[0] == "memalloc_inflight"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("kswapd0         D10936    67      2 0x00000000", "task_state_old"),
        ("a.out           D ffff880027aafa48     0  2269   1229 0x00000080", "task_state_old"),
        ("kworker/2:1     R  running task        0    61      2 0x00000000", "task_state_old"),
        ("xfs-eofblocks/s R  running task    12032   456      2 0x00000000", "task_state_old"),
        ("task:kswapd0         state:D stack:14112 pid:24    ppid:2      flags:0x00004000", "task_state_new"),
        ("task:kworker/u1536:1 state:D stack:0     pid:10591 tgid:10591 ppid:2      flags:0x00004000", "task_state_new"),
        ("task:kworker/u2:2    state:R  running task     stack:11712 pid:87    ppid:2      flags:0x00004000", "task_state_new"),
        ("Call Trace:", "call_trace"),
        ("Call Trace: looping inside shrink_inactive_list()", "call_trace"),
        (" [<ffffffff81556fbc>] ? schedule+0x2c/0x80", "frame"),
        ("  ? xfs_buf_lock+0x64/0x370 [xfs]", "frame"),
        ("  pageout.isra.54+0x1a4/0x460", "frame"),
        (" <EOI>  [<ffffffff81213f61>] ? fuse_copy_one+0x1/0x60", "frame"),
        (" <TASK>", "trace_marker"),
        (" </TASK>", "trace_marker"),
        ("Workqueue: writeback wb_workfn (flush-8:0)", "workqueue"),
        ("RIP: 0033:0x556f398d623f", "rip"),
        ("RSP: 002b:00007fff1da75710 EFLAGS: 00010206 ORIG_RAX: 000000000000004a", "registers"),
        (" ffff88003689c6c0 ffff8800368a4000 ffff8800368a38b0 ffff88003c251c10", "stack_words"),
    ],
)
def test_task_and_trace_lines(body: str, kind: str) -> None:
    assert parse(body)[0] == kind


def test_frame_fields() -> None:
    _, fields = parse(" [<ffffffffa021c19e>] ? xfs_map_blocks+0x7e/0x150 [xfs]")
    assert fields["function"] == "xfs_map_blocks"
    assert (fields["offset"], fields["size"], fields["module"]) == ("0x7e", "0x150", "[xfs]")
    assert "unreliable" in fields


def test_same_shape_different_numbers_reuse_one_lark_parse() -> None:
    parser = LineParser()
    parser.parse("MemAlloc: nmbd(3759) flags=0x400140 switches=8079 seq=198 gfp=0x24201ca order=0 delay=10620")
    calls = parser.lark_calls
    result = parser.parse("MemAlloc: nmbd(4712) flags=0x400140 switches=15682 seq=199 gfp=0x24201ca order=0 delay=21311")
    assert parser.lark_calls == calls
    assert result is not None and result.fields["switches"] == "15682" and result.fields["delay"] == "21311"
    assert split_comm_pid(result.fields["comm_pid"]) == ("nmbd", 4712)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_is_refused_without_error(body: str) -> None:
    PARSER.parse(body)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_decoded_with_replacement_never_raise(data: bytes) -> None:
    PARSER.parse(data.decode("utf-8", "replace"))


@pytest.mark.parametrize("unit", ["(", "0x", " ", "+0x", "MemAlloc: ", "[<", "a(1) "])
def test_adversarial_long_lines_finish_quickly(unit: str) -> None:
    body = "MemAlloc: " + unit * (100_000 // len(unit))
    started = time.perf_counter()
    assert PARSER.parse(body) is None
    # Generous bound: the point is "not quadratic", not a timing benchmark.
    assert time.perf_counter() - started < 2.0
