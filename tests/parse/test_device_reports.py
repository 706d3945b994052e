"""Device, disk, filesystem, network and machine-check failures, on real lines.

Each case is a line of a real log of the real-world corpus (tests/data/wild), read like any input
(prefix, record, grammar): the event kind it becomes and some of its fields. The routine messages
of the same drivers (a device found, attached, reset at boot) must stay what they were: not
failures.
"""

from __future__ import annotations

from functools import cache

import pytest

from conftest import DATA
from stallscope.api import load
from stallscope.capture.model import Capture

NVME = "wild/2019-08-22_real-nvme-timeout-controller-unresponsive-io-errors.log"
USB_STORAGE = "wild/2016-11-21_real-usb-storage-reset-loop-io-errors-syslog-line-numbers.log"
R8169 = "wild/2019-08-08_real-r8169-netdev-watchdog-tx-timeout-nfs.log"
FTGMAC = "wild/2019-11-15_real-arm32-aspeed-bmc-ftgmac100-netdev-watchdog-journalctl.log"
XFS = "wild/2020-11-22_real-xfs-rmap-internal-error-shutdown-5.9.9-pacman.log"
MCE = "wild/2026-02-18_real-mce-processor-context-corrupt-i915-vrr-netconsole.log"
I915 = "wild/2020-01-18_real-i915-gpu-hang-rcs0-reset-timeout.log"
AMDGPU = "wild/2022-03-26_real-amdgpu-ring-gfx-timeout-gpu-reset-macbookpro.log"
XHCI = "wild/2025-08-18_real-xhci-dies-after-suspend-resume-usb-disconnect.log"

CASES = [
    # dev_printk: driver, device (a PCI, SCSI, USB or NVMe name), the message with a failure word
    (NVME, "nvme nvme0: I/O 128 QID 2 timeout, aborting", "device_error",
     {"driver": "nvme", "device": "nvme0", "message": "I/O 128 QID 2 timeout, aborting"}),
    (NVME, "nvme nvme0: Device not ready; aborting reset", "device_error", {"device": "nvme0"}),
    (XHCI, "xHCI host controller not responding, assume dead", "device_error",
     {"driver": "xhci_hcd", "device": "0000:00:14.0"}),
    (XHCI, "usb 1-5: PM: failed to resume async: error -5", "device_error", {"driver": "usb", "device": "1-5"}),
    (I915, "GPU HANG: ecode 9:1:0x00000000, hang on rcs0", "device_error",
     {"driver": "i915", "device": "0000:00:02.0", "message": "GPU HANG: ecode 9:1:0x00000000, hang on rcs0"}),
    (USB_STORAGE, "sd 33:0:0:0: Device offlined - not ready after error recovery", "device_error",
     {"driver": "sd", "device": "33:0:0:0"}),
    # The block layer and buffer heads of 3.x and 4.x
    (NVME, "print_req_error: I/O error, dev nvme0n1, sector 1088653384", "block_error",
     {"block_function": "print_req_error:", "block_error": "I/O error", "disk": "nvme0n1"}),
    (USB_STORAGE, "end_request: I/O error, dev sdc, sector 15564800", "block_error", {"disk": "sdc"}),
    (USB_STORAGE, "Buffer I/O error on device sdc, logical block 15564800", "block_error", {"disk": "sdc"}),
    # A filesystem that stopped trusting its disk (its report goes on with a call trace)
    (XFS, "XFS (dm-3): Internal error", "fs_error", {"fs_name": "XFS", "disk": "dm-3"}),
    (XFS, "XFS (dm-3): Corruption detected. Unmount and run xfs_repair", "fs_error", {"disk": "dm-3"}),
    # The network watchdog, on x86 (its line before the WARNING) and on 32-bit ARM (after it,
    # broken over two lines by the journal's width: joined back)
    (R8169, "NETDEV WATCHDOG: eth0 (r8169): transmit queue 0 timed out", "netdev_watchdog",
     {"netdev": "eth0", "driver": "r8169", "message": "transmit queue 0 timed out"}),
    (FTGMAC, "NETDEV WATCHDOG: eth0 (ftgmac100):", "netdev_watchdog", {"netdev": "eth0", "driver": "ftgmac100"}),
    # Machine checks and the GPU's own error lines
    (MCE, "mce: [Hardware Error]: Machine check: Processor context corrupt", "machine_check",
     {"rest": "Machine check: Processor context corrupt"}),
    (I915, "[drm:gen8_reset_engines [i915]] *ERROR* rcs0 reset request timed out", "drm_error",
     {"function": "gen8_reset_engines", "module": "[i915]"}),
    (AMDGPU, "*ERROR* ring gfx timeout, signaled seq=1712, emitted seq=1713", "drm_error",
     {"function": "amdgpu_job_timedout", "module": "[amdgpu]"}),
]

# Messages of the same drivers that report no failure.
ROUTINE = [
    (USB_STORAGE, "usb 1-1: new high-speed USB device number 3 using ehci-pci"),
    (USB_STORAGE, "usb 1-1: reset high-speed USB device number 3 using ehci-pci"),
    (USB_STORAGE, "sd 34:0:0:0: [sdc] Attached SCSI removable disk"),
    (XHCI, "usb 1-5: USB disconnect, device number 3"),
    (XHCI, "pci 0000:00:14.0: [8086:4ded] type 00 class 0x0c0330"),
]


@cache
def _capture(relative: str) -> Capture:
    return load(str(DATA / relative), keep_unparsed=True)


def _event(relative: str, contains: str) -> dict[str, object] | None:
    events = _capture(relative).events
    hits = events[events["text"].astype(str).str.contains(contains, regex=False)]
    return None if hits.empty else hits.iloc[0].to_dict()


@pytest.mark.parametrize(("log", "contains", "kind", "fields"), CASES)
def test_device_failures_of_real_logs(log: str, contains: str, kind: str, fields: dict[str, str]) -> None:
    row = _event(log, contains)
    assert row is not None, f"{contains!r} is no event of {log}"
    assert row["kind"] == kind
    assert {name: row["fields"].get(name) for name in fields} == fields  # type: ignore[union-attr]


@pytest.mark.parametrize(("log", "contains"), ROUTINE)
def test_routine_driver_messages_are_no_failures(log: str, contains: str) -> None:
    assert contains in (DATA / log).read_text(encoding="utf-8")
    row = _event(log, contains)
    assert row is None or not str(row["kind"]).endswith(("_error", "_watchdog", "machine_check"))
