"""Hangs that are hardware: a failing device is named, where it failed and how it explains a hang.

Real logs of tests/data/wild whose authors or maintainers blamed a disk, a SATA link, an NVMe
device, a network interface or an NFS connection (SOURCES.md quotes them).
"""

from __future__ import annotations

from pathlib import Path

import stallscope
from conftest import DATA
from stallscope.verdict import GENERIC_NEXT, verdict

SATA_HUNG = "wild/2022-11-17_sata-link-reset-btrfs-transaction-hung.log"
NFS_HUNG = "wild/2018-03-30_nfs-server-not-responding-rpi3bplus-hung-objcopy.log"
NVME = "wild/2019-08-22_real-nvme-timeout-controller-unresponsive-io-errors.log"
R8169 = "wild/2019-08-08_real-r8169-netdev-watchdog-tx-timeout-nfs.log"
FTGMAC = "wild/2019-11-15_real-arm32-aspeed-bmc-ftgmac100-netdev-watchdog-journalctl.log"


def _findings(path: Path) -> list[stallscope.Finding]:
    return stallscope.diagnose(stallscope.load(str(path)))


def test_a_hung_task_names_the_failing_link_printed_before_it() -> None:
    # Qu Wenruo: the link errors came "almostly exact 120s before the blocked message".
    (hung,) = [f for f in _findings(DATA / SATA_HUNG) if f.rule == "hung-task"]
    assert "Before this report ata3.00 reported failures" in hung.explanation
    assert any(e.text == "ata3.00: failed command: READ FPDMA QUEUED" for e in hung.evidence)


def test_a_failure_long_before_the_hang_is_not_its_reason(tmp_path: Path) -> None:
    # An NVMe controller that failed at 170-324 s, then an NFS server that stopped answering at
    # 3223 s and a task hung at 3438 s (blocked since 3318 s): only the NFS server is named.
    both = tmp_path / "console.log"
    both.write_text((DATA / NVME).read_text() + (DATA / NFS_HUNG).read_text())
    (hung,) = [f for f in _findings(both) if f.rule == "hung-task"]
    assert "nfs server ease" in hung.explanation and "nvme" not in hung.explanation
    (devices,) = [f for f in _findings(both) if f.rule == "device-error"]
    assert "nvme nvme0" in devices.title and "nfs server ease" in devices.title


def test_a_log_of_device_failures_is_no_memory_stall() -> None:
    capture = stallscope.load(str(DATA / NVME))
    findings = stallscope.diagnose(capture)
    assert [f.rule for f in findings] == ["device-error"]
    top = findings[0]
    assert top.severity.value == "info" and top.title.startswith("Not a memory-allocation stall:")
    assert "nvme nvme0 (13 lines) and disk nvme0n1 (10 lines)" in top.title
    # The next steps are the device's, not Mem-Info's.
    text = verdict(capture, findings)
    assert "smartctl" in text and GENERIC_NEXT not in text


def test_a_warning_is_named_with_the_device_line_beside_it() -> None:
    # x86 prints a WARNING's message before its "WARNING: CPU:" line, 32-bit ARM after it.
    for log, driver in ((R8169, "r8169"), (FTGMAC, "ftgmac100")):
        (report,) = [f for f in _findings(DATA / log) if f.rule == "other-report"]
        assert f'with "NETDEV WATCHDOG: eth0 ({driver}): transmit queue 0 timed out"' in report.title, log
