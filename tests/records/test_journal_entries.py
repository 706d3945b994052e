"""journalctl -o json entries read without json.loads' wrappers and with each second's wall time
kept: the same entries, prefixes and wall times as the plain reading gives."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from stallscope.records.journal import entry, json_entry
from stallscope.records.prefix import Prefix, epoch_usec

DATA = Path(__file__).resolve().parents[1] / "data"
# A journal captured from a QEMU guest (journalctl -k -o json): 557 entries.
JOURNAL = DATA / "qemu" / "formats" / "formats-journalctl-k-json.log"


def plain_wall(usec: str) -> str | None:
    """The wall time as the reader made it before: a float of seconds through datetime."""
    try:
        return datetime.fromtimestamp(int(usec) / 1e6, timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def plain_entry(text: str) -> Prefix | None:
    try:
        fields = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(fields, dict) or not isinstance(fields.get("MESSAGE"), str):
        return None
    priority = fields.get("PRIORITY")
    return Prefix(
        "journal-json", 0, host=fields.get("_HOSTNAME"),
        ts=int(fields["_SOURCE_MONOTONIC_TIMESTAMP"]) / 1e6 if "_SOURCE_MONOTONIC_TIMESTAMP" in fields else None,
        wall=plain_wall(fields["__REALTIME_TIMESTAMP"]) if "__REALTIME_TIMESTAMP" in fields else None,
        level=int(priority) if isinstance(priority, str) and priority.isdigit() else None,
    )


def test_real_journal_entries_have_the_prefixes_a_plain_reading_gives() -> None:
    lines = JOURNAL.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 557
    read = [json_entry(line) for line in lines]
    assert all(found is not None for found in read)
    assert [found.prefix for found in read] == [plain_entry(line) for line in lines]  # type: ignore[union-attr]
    walls = {found.prefix.wall for found in read}  # type: ignore[union-attr]
    assert len(walls) > 100  # distinct microseconds, not one second's text repeated


@pytest.mark.parametrize("usec", [
    "0", "1", "999999", "1000000", "1795682020219650", "1795682020000000", "1795682020000001",
    "4503599627370496",  # 2^52 microseconds (2112): a float of seconds still holds it exactly
    "99999999999999999999999",  # a garbled field (tests/data/repro/overflow-journal-json-realtime.log)
])
def test_wall_time_is_the_plain_one(usec: str) -> None:
    assert epoch_usec(usec) == plain_wall(usec)


@pytest.mark.parametrize("usec, wall", [
    # Beyond 2^53 a float of seconds loses the last microsecond; the integers keep it.
    ("9007199254740993", "2255-06-05T23:47:34.740993+00:00"),
    ("253402300799999999", "9999-12-31T23:59:59.999999+00:00"),  # a float rounds it into the year 10000
    ("253402300800000000", None),  # the year 10000: no calendar time
])
def test_wall_time_is_exact_where_a_float_is_not(usec: str, wall: str | None) -> None:
    assert epoch_usec(usec) == wall


def test_wall_time_of_many_microseconds_is_the_plain_one() -> None:
    start = 1_700_000_000_000_000
    values = [str(start + step * 7_919) for step in range(20_000)]
    assert [epoch_usec(value) for value in values] == [plain_wall(value) for value in values]


def test_wall_time_of_no_number_is_none() -> None:
    assert epoch_usec("12a") is None
    assert epoch_usec("") is None


@pytest.mark.parametrize("text, accepted", [
    ('{"MESSAGE":"x"}', True),
    ('{"MESSAGE":"x"} \t\r', True),  # JSON whitespace after the object: json.loads takes it
    ('{"MESSAGE":"x"}\x0c', False),  # not JSON whitespace
    ('{"MESSAGE":"x"} y', False),
    ('{"MESSAGE":"x"}{"MESSAGE":"y"}', False),
    ('{"MESSAGE":"x"', False),
    ('["MESSAGE"]', False),
    ('{"MESSAGE":1}', False),  # no message text
    ("{" * 100_000, False),  # nested beyond the recursion limit (line noise)
])
def test_what_json_entry_takes_is_what_json_loads_takes(text: str, accepted: bool) -> None:
    assert (json_entry(text) is not None) is accepted
    assert (plain_entry(text) is not None) is accepted


def test_entry_level_and_identifier() -> None:
    found = entry({"MESSAGE": "hello", "PRIORITY": "12", "SYSLOG_IDENTIFIER": "myprog"}, "journal-json")
    assert found is not None
    assert found.message == "myprog: hello"
    assert found.prefix == Prefix("journal-json", 0, level=12)
    assert entry({"MESSAGE": "x", "PRIORITY": "warning"}, "journal-json").prefix.level is None  # type: ignore[union-attr]
