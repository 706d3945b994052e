"""Task lines: the function compiled from a template equals the fields path."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import DATA
from stallscope.api import line_parser
from stallscope.capture.task_values import compile_task_values, task_values
from stallscope.records.stream import records

_DIGIT_RUN = re.compile(r"([0-9]+)")


def _both(body: str) -> tuple[object, object] | None:
    """(compiled values, fields values) of a task line's body, or None if it is not one or does not fold."""
    template = line_parser().template(body)
    if template is None or template.kind != "memalloc_task":
        return None
    numbers = _DIGIT_RUN.split(body)[1::2]
    compiled = compile_task_values(template)
    if compiled is None:
        return None
    return compiled(numbers), task_values(template.fill(numbers))


def _corpus_bodies(kinds: tuple[str, ...]) -> list[str]:
    """The message bodies of every corpus line of those kinds."""
    bodies: list[str] = []
    parser = line_parser()
    for path in sorted(DATA.rglob("*.log")):
        with path.open(encoding="utf-8", errors="replace") as handle:
            for record in records(str(path), (line.rstrip("\n") for line in handle)):
                template = parser.template(record.body)
                if template is not None and template.kind in kinds:
                    bodies.append(record.body)
    return bodies


def test_every_corpus_task_line_gives_the_same_values() -> None:
    bodies = _corpus_bodies(("memalloc_task",))
    compared = 0
    for body in bodies:
        both = _both(body)
        if both is not None:
            assert both[0] == both[1], body
            compared += 1
    # The corpus holds hundreds of task lines; nearly all of them fold.
    assert compared > 300 and compared >= 0.9 * len(bodies)


@pytest.mark.parametrize(
    "body",
    [
        "MemAlloc: kworker/3:1(70) flags=0x4208060 switches=9462 seq=5 gfp=0x2400000(GFP_NOIO) order=0 delay=8207 "
        "uninterruptible",
        "MemAlloc: write(3816) flags=0x400000 switches=7440 uninterruptible dying victim",
        "MemAlloc: a.out(12)(4242) flags=0x400a4c switches=1 seq=90 gfp=0x24280ca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO) "
        "order=0 delay=17338",
        # Two console lines spliced into one: the later value of a repeated field counts.
        "MemAlloc: kswapd0(52) flags=0xa40840 switches=3 seq=1 gfp=0x1 order=0 delay=1 order=0 delay=17338",
    ],
)
def test_tricky_task_lines(body: str) -> None:
    both = _both(body)
    assert both is not None
    assert both[0] == both[1]


_COMM = st.text(alphabet="abcxyz019/:.-_() ", min_size=1, max_size=12)


@given(
    comm=_COMM,
    pid=st.integers(0, 10**7),
    flags=st.integers(0, 2**32),
    numbers=st.lists(st.integers(0, 10**9), min_size=4, max_size=4),
    gfp=st.integers(0, 2**32),
    words=st.lists(st.sampled_from(["uninterruptible", "exiting", "dying", "victim"]), max_size=3),
)
def test_generated_task_lines(comm: str, pid: int, flags: int, numbers: list[int], gfp: int, words: list[str]) -> None:
    switches, seq, order, delay = numbers
    body = (f"MemAlloc: {comm}({pid}) flags={flags:#x} switches={switches} seq={seq} gfp={gfp:#x} order={order} "
            f"delay={delay} {' '.join(words)}").rstrip()
    both = _both(body)
    if both is not None:
        assert both[0] == both[1], body
