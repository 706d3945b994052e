"""Issue 7, property tests: whatever the input, reading and diagnosing never raise, always end, and count every line.

Inputs: arbitrary bytes (through the byte reader, as a file or stdin would be read), arbitrary
sequences of lines (through ``load_lines``), and real corpus lines mutated the ways captures get
damaged (truncated, spliced, duplicated, reordered, bytes flipped). For each: ``parsed +
unparsed == lines`` per input, every physical line counted, the rules and the text and JSON
renderers run to the end.

``STALLSCOPE_FUZZ_EXAMPLES=N`` raises every test here to N examples (the suite's defaults keep it
to well under a minute); ``pytest tests/e2e/test_hostile_properties.py --hypothesis-show-statistics``
shows how many were tried.
"""

from __future__ import annotations

import io
import json
import os
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

import stallscope
from conftest import DATA
from stallscope.api import load_lines, load_stream
from stallscope.capture.model import Capture
from stallscope.render import json_report, text

_SCALE = int(os.environ.get("STALLSCOPE_FUZZ_EXAMPLES", "0"))


def _settings(examples: int) -> settings:
    return settings(max_examples=_SCALE or examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@cache
def corpus_lines() -> tuple[bytes, ...]:
    """Lines of real captures: every watchdog generation and capture format in tests/data."""
    lines: list[bytes] = []
    for path in sorted(DATA.rglob("*.log"))[:40]:
        lines += path.read_bytes().splitlines()[:400]
    return tuple(lines)


def read_bytes(data: bytes) -> Capture:
    return load_stream("fuzz.log", io.BytesIO(data), keep_unparsed=True)


def physical_lines(data: bytes) -> int:
    return 0 if not data else data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def check(capture: Capture) -> None:
    for stats in capture.inputs:
        assert stats.parsed + stats.unparsed == stats.lines, stats
        assert stats.damaged is None
    assert len(capture.unparsed) == sum(s.unparsed for s in capture.inputs)
    findings = stallscope.diagnose(capture)
    json.loads(json_report.render(capture, findings))
    text.render(capture, findings, Console(file=io.StringIO(), width=132))


@_settings(100)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(data: bytes) -> None:
    capture = read_bytes(data)
    check(capture)
    assert capture.inputs[0].physical_lines == physical_lines(data)


@_settings(100)
@given(st.lists(st.text(max_size=200), max_size=60))
def test_arbitrary_line_sequences(lines: list[str]) -> None:
    check(load_lines("fuzz.log", lines, keep_unparsed=True))


@_settings(60)
@given(st.lists(st.sampled_from(corpus_lines()), max_size=60))
def test_real_lines_in_any_order(lines: list[bytes]) -> None:
    data = b"\n".join(lines)
    capture = read_bytes(data)
    check(capture)
    assert capture.inputs[0].physical_lines == physical_lines(data)


_MUTATION = st.tuples(
    st.sampled_from(["truncate", "splice", "duplicate", "reorder", "flip", "drop-newline", "insert-bytes"]),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=10_000),
    st.binary(min_size=1, max_size=8),
)


def mutate(lines: list[bytes], mutations: list[tuple[str, int, int, bytes]]) -> bytes:
    lines = list(lines)
    for kind, a, b, junk in mutations:
        if not lines:
            break
        i, j = a % len(lines), b % len(lines)
        line = lines[i]
        if kind == "truncate":
            lines[i] = line[: b % (len(line) + 1)]
        elif kind == "splice":
            # The head of one line glued to the tail of another (a console interleaving two CPUs).
            lines[i] = line[: b % (len(line) + 1)] + lines[j][a % (len(lines[j]) + 1) :]
        elif kind == "duplicate":
            lines[i:i] = lines[i : i + 1 + b % 8]
        elif kind == "reorder":
            lo, hi = min(i, j), max(i, j)
            lines[lo : hi + 1] = reversed(lines[lo : hi + 1])
        elif kind == "flip" and line:
            at = b % len(line)
            lines[i] = line[:at] + bytes([line[at] ^ junk[0]]) + line[at + 1 :]
        elif kind == "drop-newline" and i + 1 < len(lines):
            lines[i : i + 2] = [line + lines[i + 1]]
        elif kind == "insert-bytes":
            at = b % (len(line) + 1)
            lines[i] = line[:at] + junk + line[at:]
    return b"\n".join(lines) + b"\n"


@_settings(100)
@given(st.integers(min_value=0), st.integers(min_value=1, max_value=80), st.lists(_MUTATION, max_size=12))
def test_mutated_corpus_windows(start: int, length: int, mutations: list[tuple[str, int, int, bytes]]) -> None:
    pool = corpus_lines()
    start %= len(pool)
    data = mutate(list(pool[start : start + length]), mutations)
    capture = read_bytes(data)
    check(capture)
    assert capture.inputs[0].physical_lines == physical_lines(data)
    # The line reader (used for pieces and by callers holding text) agrees on the count.
    again = load_lines("fuzz.log", data.decode("utf-8", "replace").split("\n")[:-1])
    stats = again.inputs[0]
    assert stats.parsed + stats.unparsed == stats.lines


# Inputs hypothesis found that crashed a rule or the record reader, kept so they always run.
FOUND = {
    # A lockdep held-lock line without its "locks held by" header: no holder pid.
    "held-lock-without-holder": b"[   60.758417]  #0:  (&mm->mmap_sem){++++++}, at: [<ffffffff8117e6aa>] SyS_mremap+0xaa/0x500\n",
    # A MemAlloc line cut before its delay=: the rule compared <NA> with itself.
    "nofs-task-without-delay": b"[  293.927236] MemAlloc: a.out(4252) seq=109 gfp=0x342004a(GFP_NOFS|__GFP_HIGHMEM|__GFP_HARDWALL|__GFP_MOVABLE|__GFP_WRITE)\n",
    # A line of blanks only after a prefixed one: the mail-wrap check took its first word.
    "blank-only-line": b"[  293.927236] MemAlloc-Info: stalling=1 dying=0 exiting=0 victim=0 oom_count=3\n"
                       b"[  293.927237] x\n" + b" " * 3 + b"\n",
}


def test_inputs_hypothesis_found() -> None:
    for name, data in FOUND.items():
        capture = read_bytes(data)
        check(capture)
        assert capture.inputs[0].physical_lines == physical_lines(data), name


def test_spliced_memalloc_line_with_fields_twice() -> None:
    """Found by test_mutated_corpus_windows: two console lines spliced into one repeat a field."""
    data = (
        b"[  101.937548] MemAlloc-Info: 4 stalling task, 32 dying task, 1 victim task.\n"
        b"[  101.939460] MemAlloc: sync4(10598) gfp=0x24280ca order=0 delay=1 order=0 delay=17338\n"
    )
    capture = read_bytes(data)
    check(capture)
    assert capture.tasks[["comm", "pid", "order", "delay"]].to_dict("records") == [
        {"comm": "sync4", "pid": 10598, "order": 0, "delay": 17338}
    ]
