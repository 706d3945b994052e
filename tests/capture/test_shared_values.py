"""Event lines that differ still share the values they have in common (one string per value)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from stallscope import api
from stallscope.capture.fields import Fields, compact, is_fields, values_of
from stallscope.capture.model import Capture

DATA = Path(__file__).resolve().parents[1] / "data"
# Two OOM reports, each with a Mem-Info dump: the DMA32 zone's line differs (free pages, page
# counts) while its watermarks are the same.
LOG = DATA / "qemu" / "oom-global.log"


def _dma32_zone_fields(capture: Capture) -> list[Fields]:
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


def test_fields_read_as_the_dict_they_were_made_from() -> None:
    line = {"zone": "DMA32", "free_kb": "1436", "min_kb": "1544"}
    fields = compact(line, {})
    assert fields == line and line == fields and dict(fields) == line
    assert list(fields) == list(line) and len(fields) == 3 and list(fields.items()) == list(line.items())
    assert fields["free_kb"] == "1436" and fields.get("low_kb") is None and fields.get("low_kb", "") == ""
    assert "min_kb" in fields and "low_kb" not in fields
    assert is_fields(fields) and is_fields(line) and not is_fields(None) and not is_fields(float("nan"))
    with pytest.raises(KeyError):
        fields["low_kb"]


def test_lines_with_the_same_names_share_one_index_also_after_pickling() -> None:
    capture = api.load(str(LOG))
    first, second = _dma32_zone_fields(capture)
    assert isinstance(first, Fields) and first._index is second._index
    first, second = pickle.loads(pickle.dumps([first, second]))
    assert first._index is second._index and first["free_kb"] == "1436"


def test_several_fields_read_at_once_are_what_each_get_reads() -> None:
    """values_of, which the rules use on every Mem-Info zone line, reads as ``get`` does, on a
    real line's fields and on the dict a test or an older capture has."""
    capture = api.load(str(LOG))
    names = ("free_kb", "min_kb", "zone", "node", "no_such_field", "value")
    for fields in _dma32_zone_fields(capture):
        assert values_of(fields, names) == tuple(fields.get(name) for name in names)
        assert values_of(dict(fields), names) == values_of(fields, names)
    assert values_of(_dma32_zone_fields(capture)[0], ("zone", "no_such_field")) == ("DMA32", None)
