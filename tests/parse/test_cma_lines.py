"""The contiguous memory allocator's failure line in every form mm/cma.c printed it, on real lines.

- "cma: cma_alloc: alloc failed, ..." (<= 5.12): tests/data/wild/2021-09-24_real-rpi-arm64-cma-alloc-failed-page-alloc-warning.log
- "cma: cma_alloc: linux,cma: alloc failed, ..." (5.13+, the area named) and the map of free
  ranges after it: Dong Aisheng's report to linux-mm and stable, 2021-12-15 ("We met
  dma_alloc_coherent() fail sometimes when doing 8 VPU decoder test in parallel on a MX6Q SDB
  board"), and a syslog paste of a Raspberry Pi USB hub issue (ret -4).
- "cma: __cma_alloc: linux,cma: ..." (6.x) with "=> N free of N total pages": a meson-vdec report.
"""

from __future__ import annotations

import pytest

from conftest import DATA
from stallscope.api import load_lines

RPI = DATA / "wild" / "2021-09-24_real-rpi-arm64-cma-alloc-failed-page-alloc-warning.log"

CASES = [
    ("[  175.968984] cma: cma_alloc: alloc failed, req-size: 19200 pages, ret: -12",
     {"pages": "19200", "ret": "-12"}),
    ("cma: cma_alloc: linux,cma: alloc failed, req-size: 148 pages, ret: -16",
     {"cma_area": "linux,cma", "pages": "148", "ret": "-16"}),
    ("Mar 16 22:33:33 localhost kernel: [ 1157.281879] cma: cma_alloc: linux,cma: alloc failed, req-size: 1 pages, "
     "ret: -4", {"cma_area": "linux,cma", "pages": "1", "ret": "-4"}),
    ("cma: __cma_alloc: linux,cma: alloc failed, req-size: 2032 pages, ret: -16",
     {"cma_area": "linux,cma", "pages": "2032"}),
]


def test_the_first_form_is_the_wild_logs_own_line() -> None:
    assert CASES[0][0] in RPI.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize(("line", "fields"), CASES)
def test_cma_failure_line(line: str, fields: dict[str, str]) -> None:
    capture = load_lines("cma.log", [line])
    assert capture.events["kind"].tolist() == ["cma_alloc_failure"]
    got = capture.events["fields"].iloc[0]
    assert {key: got.get(key) for key in fields} == fields


@pytest.mark.parametrize("line", [
    "cma: number of available pages:",
    "cma: number of available pages: => 1096 free of 65536 total pages",
    "3@125+20@172+12@236+4@380+32@736+17@2287+23@2473+20@36076+99@40477+108@40852+44@41108+",
])
def test_the_map_after_it_is_read_or_left_as_is(line: str) -> None:
    capture = load_lines("cma.log", ["cma: cma_alloc: linux,cma: alloc failed, req-size: 148 pages, ret: -16", line])
    stats = capture.inputs[0]
    # The header line of the map is read; a map line of its own (no "cma:" prefix) stays unread.
    assert stats.parsed == (1 if line[0].isdigit() else 2)
