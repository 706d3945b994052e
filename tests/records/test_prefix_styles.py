"""Every capture prefix style (stallscope/records/prefix.py STYLES) on a real line of tests/data.

Adding a style is adding its row to STYLES and a row here naming a real capture that shows it.
"""

from __future__ import annotations

import pytest

from conftest import DATA
from stallscope.records.prefix import STYLES, detect

# style -> (file under tests/data, 1-based line) of a real line in that style.
REAL_LINES: dict[str, tuple[str, int]] = {
    "kmsg": ("qemu/formats/formats-dev-kmsg.log", 1),
    "journal-short-monotonic": ("formats/journal/journalctl-k-short-monotonic-no-hostname.txt", 1),
    "journal-short-delta": ("formats/journal/journalctl-k-short-delta.txt", 1),
    "dmesg-T": ("qemu/formats/formats-dmesg-T.log", 1),
    "dmesg-relative": ("formats/dmesg/dmesg-e.txt", 1),
    "dmesg-delta": ("formats/dmesg/dmesg-time-format-delta.txt", 1),
    "dmesg-raw": ("formats/vendor/mediatek-kmsg.txt", 1),
    "syslog": ("formats/journal/journalctl-k-short-no-hostname.txt", 1),
    "journal-short-full": ("formats/journal/journalctl-k-short-full.txt", 1),
    "logcat": ("formats/vendor/logcat-b-kernel.txt", 1),
    "dmesg-iso": ("qemu/formats/formats-dmesg-iso.log", 1),
    "syslog-rfc3339": ("wild/2017-02-01_real-storage8-syslog-ext4-writeback-direct-reclaim-stuck-xfs-reclaim-inode.log", 1),
    "journal-short-unix": ("formats/journal/journalctl-k-short-unix.txt", 1),
    "dmesg-x": ("formats/dmesg/dmesg-x-time-format-delta.txt", 1),
    "syslog-no-date": ("formats/syslog-cut/2015-07-09_real-ubuntu-docker-memory-limit-java-oom-machine-freeze.host-kernel.txt",
                       1),
}
# Styles read from renderings the tests write themselves (tests/sources/test_formats_inputs.py), for want
# of a real capture in tests/data so far.
NO_REAL_CAPTURE_YET = frozenset({"syslog-rfc5424"})


@pytest.mark.parametrize("style", sorted(REAL_LINES))
def test_real_line_reads_in_its_style(style: str) -> None:
    name, number = REAL_LINES[style]
    line = (DATA / name).read_text(encoding="utf-8").splitlines()[number - 1]
    found = detect(line)
    assert found is not None and found[0].name == style, line


def test_every_style_has_a_real_line() -> None:
    assert {style.name for style in STYLES} == set(REAL_LINES) | NO_REAL_CAPTURE_YET


def test_dmesg_t_in_the_users_locale() -> None:
    """dmesg -T prints its clock with strftime in the user's LC_TIME: a German user's capture
    ("[Do Nov 17 11:59:20 2022]") is read like an English one, with the same wall clock."""
    name = "wild/2022-11-17_sata-link-reset-btrfs-transaction-hung.log"
    line = (DATA / name).read_text(encoding="utf-8").splitlines()[0]
    found = detect(line)
    assert found is not None and found[0].name == "dmesg-T", line
    assert found[1].wall == "2022-11-17T11:59:20"
    assert line[found[1].end :] == "ata3: EH complete"
