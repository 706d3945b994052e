"""Event lines that differ still share the values they have in common (one string per value)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stallscope import api
from stallscope.capture.model import Capture

DATA = Path(__file__).resolve().parents[1] / "data"
# Two OOM reports, each with a Mem-Info dump: the DMA32 zone's line differs (free pages, page
# counts) while its watermarks are the same.
LOG = DATA / "qemu" / "oom-global.log"


def _dma32_zone_fields(capture: Capture) -> list[dict[str, str]]:
    events = capture.events
    zones = events.loc[events["kind"] == "meminfo_zone", "fields"]
    return [fields for fields in zones if fields["zone"] == "DMA32"]


@pytest.mark.parametrize("how", ["bulk", "lines"])
def test_two_dumps_share_the_values_their_zone_lines_have_in_common(how: str) -> None:
    capture = (api.load(str(LOG)) if how == "bulk"
               else api.load_lines(str(LOG), LOG.read_text(encoding="utf-8").splitlines()))
    first, second = _dma32_zone_fields(capture)
    assert first != second  # the lines differ, so they are not one shared dict
    assert first["min_kb"] == second["min_kb"] == "1544"
    assert first["min_kb"] is second["min_kb"]
    assert first["free_kb"] == "1436" and second["free_kb"] == "1504"
