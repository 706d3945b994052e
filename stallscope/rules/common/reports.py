"""What the rules about reports other than the watchdog's share."""

from __future__ import annotations

import re

import numpy as np

from stallscope.capture.events import field
from stallscope.rules.base import HostView

# Event kinds that say a log is about memory: a report of something else found beside them is
# "also in this log", not "instead of a stall".
MEMORY_KINDS = ("oom_invoke", "oom_killed_process", "oom_no_killable", "warn_alloc_stall", "warn_alloc_failure",
                "vmalloc_failure", "slub_alloc_failure", "hung_task")



def memory_boots(view: HostView) -> set[int]:
    """The boots of the view (0 where none is numbered) with a memory report: a watchdog line or
    an event of MEMORY_KINDS. A report of another kind in such a boot is "also in this log"."""

    def compute(v: HostView) -> set[int]:
        boots = np.concatenate([v.boot_column("snapshots"), v.boot_column("events")[v.rows.positions(*MEMORY_KINDS)]])
        return set(np.unique(boots).tolist())

    return view.of_view("memory boots", compute)


# The event kinds of grammars/device.lark: a device, disk, filesystem, network interface, NFS
# server or the CPU reported a failure.
DEVICE_KINDS = ("device_error", "ata_error", "block_error", "fs_error", "netdev_watchdog", "machine_check",
                "drm_error", "nfs_error")
# SCSI names the disk after the device: "sd 1:0:0:0: [sdb] tag#22 FAILED Result: ..."
_DISK_AFTER_DEVICE = re.compile(r"\[[a-z]+\d*\]")


def device_label(row: dict[str, object]) -> str:
    """What failed, named as the kernel names it: "nvme nvme0", "disk sda", "XFS (dm-3)",
    "r8169 eth0", "machine check (mce)", "i915 (drm)", "nfs server nas"."""
    kind = row["kind"]
    if kind == "device_error":
        netdev = field(row, "netdev")
        disk = _DISK_AFTER_DEVICE.match(field(row, "message") or "")
        return (f"{field(row, 'driver')} {field(row, 'device')}" + (f" {netdev}" if netdev else "")
                + (f" {disk.group(0)}" if disk else ""))
    if kind == "ata_error":
        return str(field(row, "ata"))
    if kind == "block_error":
        return f"disk {field(row, 'disk')}"
    if kind == "fs_error":
        return f"{field(row, 'fs_name')} ({field(row, 'disk')})"
    if kind == "netdev_watchdog":
        return f"{field(row, 'driver')} {field(row, 'netdev')}"
    if kind == "machine_check":
        return "machine check (mce)"
    if kind == "drm_error":
        module = (field(row, "module") or "").strip("[]")
        return f"{module} (drm)" if module else "drm"
    return f"nfs server {field(row, 'server')}"
