"""Logs where they live: sosreport and supportconfig bundles (directories and archives of every
kind), archive safety, and binary journal files read through the real journalctl.

The bundles are built here, in a temporary directory, the way sos and supportconfig lay them out,
from real logs of tests/data: a syslog split into logrotate generations, a dmesg of another boot
as the bundle's ring buffer, a crash kernel's log as kdump's vmcore-dmesg.txt.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import stallscope
from conftest import DATA
from stallscope.capture.model import Capture
from stallscope.parallel import load_parallel, plan
from stallscope.sources.archive import archive_kind
from stallscope.sources.bundle import ANOTHER_COPY, NOT_A_KERNEL_LOG

SYSLOG = DATA / "lkml" / "2017-03-14_real-laptop-syslog-warn-alloc-stalls-thrashing.log"
CRASH = DATA / "lkml" / "2016-02-25_oom-reaper-unable-mmap-sem-victim-stuck.log"
RING = DATA / "qemu" / "sysrq-m.log"
RSYSLOG = DATA / "wild" / "2017-02-01_real-storage8-syslog-ext4-writeback-direct-reclaim-stuck-xfs-reclaim-inode.log"
EXPORT = DATA / "qemu" / "formats" / "formats-journalctl-k-export.txt"
TOP = "sosreport-x61s-44a5-2017-03-14-abcdef"
CRASH_DIR = "var/crash/127.0.0.1-2016-02-25-10:00:00"
CLI = Path(sys.executable).parent / "stallscope"
REMOTE = Path("/lib/systemd/systemd-journal-remote")
HAS_JOURNAL_TOOLS = REMOTE.exists() and shutil.which("journalctl") is not None
needs_journal_tools = pytest.mark.skipif(not HAS_JOURNAL_TOOLS,
                                         reason="needs journalctl and systemd-journal-remote (Debian package)")


def _split_syslog() -> tuple[bytes, bytes]:
    """The syslog cut in two at the start of a warn_alloc report past its middle (no report split)."""
    lines = SYSLOG.read_bytes().splitlines(keepends=True)
    cut = next(i for i in range(len(lines) // 2, len(lines)) if b"page allocation stalls" in lines[i])
    return b"".join(lines[:cut]), b"".join(lines[cut:])


def _sosreport_files() -> dict[str, bytes]:
    """A sosreport's files (relative to its top folder): logs from tests/data, and a few others."""
    older, newer = _split_syslog()
    return {
        "var/log/messages-20170313.gz": gzip.compress(older),  # logrotate dateext, compressed
        "var/log/messages": newer,
        "var/log/secure": b"",
        "sos_commands/kernel/dmesg": RING.read_bytes(),
        "sos_commands/kernel/lsmod": b"Module                  Size  Used by\n",
        f"{CRASH_DIR}/vmcore-dmesg.txt": CRASH.read_bytes(),
        "etc/hostname": b"x61s-44a5\n",
        "version.txt": b"sosreport: 4.5.6\n",
    }


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _tar_bytes(files: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra or []:
            archive.addfile(info, io.BytesIO(b"" if not info.isreg() else b"x" * info.size))
    return buffer.getvalue()


def _zstd(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    return zstandard.ZstdCompressor().compress(data)  # type: ignore[no-any-return]


PACKERS = {
    "tar": lambda files: _tar_bytes(files),
    "tar.gz": lambda files: gzip.compress(_tar_bytes(files)),
    "tar.xz": lambda files: lzma.compress(_tar_bytes(files)),
    "tar.zst": lambda files: _zstd(_tar_bytes(files)),
}


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _packed(tmp_path: Path, kind: str, files: dict[str, bytes], stem: str = TOP) -> Path:
    path = tmp_path / f"{stem}.{kind}"
    path.write_bytes(_zip_bytes(files) if kind == "zip" else PACKERS[kind](files))
    return path


def _below(capture: Capture, prefix: str) -> list[str]:
    return [i.path.removeprefix(prefix) for i in capture.inputs]


def _sos_in_top() -> dict[str, bytes]:
    return {f"{TOP}/{name}": data for name, data in _sosreport_files().items()}


# -- sosreport --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["directory", "tar", "tar.gz", "tar.xz", "tar.zst", "zip"])
def test_sosreport_reads_its_kernel_log_once_oldest_first(kind: str, tmp_path: Path) -> None:
    if kind == "directory":
        _write_tree(tmp_path, _sos_in_top())
        given = str(tmp_path / TOP)
        prefix = f"{given}/"
    else:
        given = str(_packed(tmp_path, kind, _sos_in_top()))
        prefix = f"{given}:{TOP}/"
    capture = stallscope.load(given)
    # The syslog's generations oldest first, then the crash kernel's ring buffer; nothing else.
    assert _below(capture, prefix) == ["var/log/messages-20170313.gz", "var/log/messages",
                                       f"{CRASH_DIR}/vmcore-dmesg.txt"]
    assert capture.inputs[0].compression == "gzip"
    # The two generations are the whole syslog: the same lines and the same reports as the log itself.
    whole = stallscope.load(str(SYSLOG))
    assert sum(i.physical_lines for i in capture.inputs[:2]) == whole.inputs[0].physical_lines
    syslog_events = capture.events[capture.events["host"] == "x61s-44a5"]
    # Read newest first, the reports would come in another order than the log's own.
    assert syslog_events["ts"].fillna(-1).tolist() == whole.events["ts"].fillna(-1).tolist()
    # The ring buffer is another copy of the kernel messages; the rest is not a kernel log. All listed.
    reasons = {s.path.removeprefix(prefix): s.reason for s in capture.skipped}
    assert reasons["sos_commands/kernel/dmesg"] == f"{ANOTHER_COPY} {prefix}var/log/messages"
    for name in ("var/log/secure", "sos_commands/kernel/lsmod", "etc/hostname", "version.txt"):
        assert reasons[name] == f"{NOT_A_KERNEL_LOG} (sosreport)"
    assert len(reasons) == 5
    # Every finding names the member its evidence came from.
    findings = stallscope.diagnose(capture)
    by_rule = {f.rule: f for f in findings}
    assert {e.source for e in by_rule["warn-alloc-stall"].evidence} <= {
        f"{prefix}var/log/messages-20170313.gz", f"{prefix}var/log/messages"}
    assert {e.source for e in by_rule["oom-livelock"].evidence} == {f"{prefix}{CRASH_DIR}/vmcore-dmesg.txt"}
    crash_alone = stallscope.diagnose(stallscope.load(str(CRASH)))
    assert sorted(f.rule for f in findings if f.host is None) == sorted(f.rule for f in crash_alone)


def test_archive_read_in_this_process_by_the_parallel_reader(tmp_path: Path) -> None:
    archive = _packed(tmp_path, "tar.xz", _sos_in_top())
    pieces = plan((str(archive),), jobs=4)
    assert [(p.path, p.stream) for p in pieces] == [(str(archive), True)]  # never reopened by a worker
    parallel = load_parallel(str(archive), str(SYSLOG), jobs=2)
    serial = stallscope.load(str(archive), str(SYSLOG))
    assert [i.path for i in parallel.inputs] == [i.path for i in serial.inputs]
    assert len(parallel.events) == len(serial.events) and parallel.skipped == serial.skipped


def test_supportconfig_directory_and_txz(tmp_path: Path) -> None:
    lines = RSYSLOG.read_bytes().splitlines(keepends=True)
    log_header = b"#==[ Log File ]=====================================#\n# /var/log/messages\n"
    crash_header = (b"#==[ Configuration File ]===========================#\n"
                    b"# /var/crash/2017-01-28-04:10/vmcore-dmesg.txt\n")
    files = {  # supportconfig -A: rotated syslog copied as messages-DATE.txt, the live one in messages.txt
        "messages-20170127.txt": b"".join(lines[:40]),
        "messages.txt": log_header + b"".join(lines[40:]),
        "boot.txt": b"#==[ Command ]======================================#\n# /bin/dmesg -T\n" + RING.read_bytes(),
        "crash.txt": crash_header + CRASH.read_bytes(),
        "basic-environment.txt": b"#==[ Command ]======================================#\n# /bin/uname -a\n",
        "supportconfig.txt": b"Support Utilities - Supportconfig\n",
    }
    top = "scc_storage8_170128_0412"
    _write_tree(tmp_path / "dir", {f"{top}/{n}": d for n, d in files.items()})
    archive = tmp_path / f"{top}.txz"  # supportconfig's own name for its tar.xz
    archive.write_bytes(PACKERS["tar.xz"]({f"{top}/{n}": d for n, d in files.items()}))
    for given, prefix in ((tmp_path / "dir" / top, f"{tmp_path / 'dir' / top}/"), (archive, f"{archive}:{top}/")):
        capture = stallscope.load(str(given))
        assert _below(capture, prefix) == ["messages-20170127.txt", "messages.txt", "crash.txt"]
        reasons = {s.path.removeprefix(prefix): s.reason for s in capture.skipped}
        assert reasons["boot.txt"].startswith(ANOTHER_COPY)
        assert reasons["basic-environment.txt"] == f"{NOT_A_KERNEL_LOG} (supportconfig)"
        rules = {f.rule for f in stallscope.diagnose(capture)}
        whole = {f.rule for f in stallscope.diagnose(stallscope.load(str(RSYSLOG)))}
        assert whole <= rules and "oom-livelock" in rules  # the syslog's, and the crash kernel's
        assert len(capture.tasks) == len(stallscope.load(str(RSYSLOG)).tasks) + len(stallscope.load(str(CRASH)).tasks)


def test_plain_archive_reads_every_log_in_rotation_order(tmp_path: Path) -> None:
    older, newer = _split_syslog()
    archive = _packed(tmp_path, "tar.gz", {"logs/kern.log": newer, "logs/kern.log.1": older,
                                           "other/oom.log": RING.read_bytes()}, stem="logs")
    capture = stallscope.load(str(archive))
    assert _below(capture, f"{archive}:") == ["logs/kern.log.1", "logs/kern.log", "other/oom.log"]
    assert capture.skipped == []


# -- safety -----------------------------------------------------------------------------------------
def test_unsafe_members_are_listed_and_never_read(tmp_path: Path) -> None:
    log = SYSLOG.read_bytes()
    link = tarfile.TarInfo("logs/messages")
    link.type, link.linkname = tarfile.SYMTYPE, "/var/log/messages"  # would read this machine's log
    hard = tarfile.TarInfo("logs/kern.log")
    hard.type, hard.linkname = tarfile.LNKTYPE, "../../etc/passwd"
    device = tarfile.TarInfo("logs/console")
    device.type = tarfile.CHRTYPE
    data = _tar_bytes({"../escape.log": log, "/abs/kern.log": log, "logs/ok.log": log}, [link, hard, device])
    archive = tmp_path / "hostile.tar"
    archive.write_bytes(data)
    capture = stallscope.load(str(archive))
    assert [i.path for i in capture.inputs] == [f"{archive}:logs/ok.log"]
    reasons = sorted(s.reason for s in capture.skipped)
    assert reasons == ["not a regular file (a link or a device)"] * 3 + [
        "unsafe member name (absolute, or climbing out with ..)"] * 2
    zipped = tmp_path / "hostile.zip"
    zipped.write_bytes(_zip_bytes({"../escape.log": log, "ok.log": log}))
    capture = stallscope.load(str(zipped))
    assert [i.path for i in capture.inputs] == [f"{zipped}:ok.log"]
    assert [s.reason for s in capture.skipped] == ["unsafe member name (absolute, or climbing out with ..)"]
    assert not (tmp_path.parent / "escape.log").exists() and not (tmp_path / "escape.log").exists()


def test_archive_inside_an_archive_is_listed_not_read(tmp_path: Path) -> None:
    inner = gzip.compress(_tar_bytes({"kern.log": SYSLOG.read_bytes()}))
    outer = _packed(tmp_path, "tar", {"inner.tar.gz": inner, "plain.tar": _tar_bytes({"a": b"b"}),
                                      "kern.log": SYSLOG.read_bytes()}, stem="outer")
    capture = stallscope.load(str(outer))
    assert [i.path for i in capture.inputs] == [f"{outer}:kern.log"]
    assert {s.path: s.reason for s in capture.skipped} == {
        f"{outer}:inner.tar.gz": "an archive inside an archive (unpack the outer one to read it)",
        f"{outer}:plain.tar": "an archive inside an archive (unpack the outer one to read it)",
    }


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(CLI), *args], capture_output=True, timeout=120, check=False,
                          env={**os.environ, **(env or {})})


pytestmark_cli = pytest.mark.skipif(not CLI.exists(), reason="the stallscope console script is not installed")


@pytestmark_cli
def test_truncated_archive_keeps_the_members_before_and_exits_5(tmp_path: Path) -> None:
    data = PACKERS["tar.gz"](_sos_in_top())
    whole = tmp_path / "whole.tar.gz"
    whole.write_bytes(data)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) * 3 // 4])
    result = _cli("analyze", "--format", "json", str(cut))
    assert result.returncode == 5, result.stderr
    report = json.loads(result.stdout)
    damaged = [i for i in report["inputs"] if i["damaged"]]
    assert damaged and "ends early or is corrupt" in damaged[-1]["damaged"]
    assert result.stderr.decode().count("\n") >= 1 and b"Traceback" not in result.stderr
    assert report["summary"]["lines"] > 0  # the members before the damage were read


@pytestmark_cli
def test_cli_analyzes_a_sosreport_in_one_command(tmp_path: Path) -> None:
    archive = _packed(tmp_path, "tar.xz", _sos_in_top())
    result = _cli("analyze", "--format", "json", str(archive))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [s["path"] for s in report["summary"]["skipped"]][:1] and all(
        s["path"].startswith(f"{archive}:{TOP}/") for s in report["summary"]["skipped"])
    assert all(e["source"].startswith(f"{archive}:{TOP}/") for f in report["findings"] for e in f["evidence"])
    text = _cli("analyze", "--show-skipped", "--no-color", str(archive))
    assert text.returncode == 0
    assert f"{archive}:{TOP}/etc/hostname: not read: {NOT_A_KERNEL_LOG} (sosreport)" in text.stderr.decode()
    # The report wraps long lines at 132 columns: compare without the white space.
    said = f"not read: {archive}:{TOP}/sos_commands/kernel/dmesg: {ANOTHER_COPY}"
    assert "".join(said.split()) in "".join(text.stdout.decode().split())


@pytestmark_cli
def test_archive_without_a_kernel_log_is_one_line_and_exit_1(tmp_path: Path) -> None:
    archive = _packed(tmp_path, "tar.gz", {f"{TOP}/sos_commands/kernel/lsmod": b"Module Size Used by\n",
                                           f"{TOP}/etc/hostname": b"x\n"})
    result = _cli("analyze", str(archive))
    assert result.returncode == 1
    assert result.stderr.decode() == (f"stallscope: {archive}: the sosreport holds no kernel log "
                                      "(2 member(s) skipped)\n")


def test_archive_kind_is_judged_by_bytes(tmp_path: Path) -> None:
    named_log = tmp_path / "looks.tar.gz"
    named_log.write_bytes(gzip.compress(SYSLOG.read_bytes()))  # a log, whatever its name says
    assert archive_kind(str(named_log)) is None
    unnamed = tmp_path / "bundle"
    unnamed.write_bytes(lzma.compress(_tar_bytes({"kern.log": b""})))
    assert archive_kind(str(unnamed)) == "tar"
    assert archive_kind(str(SYSLOG)) is None


@pytestmark_cli
def test_fifo_is_read_once_not_peeked_for_an_archive(tmp_path: Path) -> None:
    import threading

    fifo = tmp_path / "console"
    os.mkfifo(fifo)
    data = CRASH.read_bytes()

    def feed() -> None:
        with contextlib.suppress(OSError), open(fifo, "wb") as writer:
            writer.write(data)

    # A daemon: if the reader never comes back for the rest, the test fails on its timeout, not hangs.
    threading.Thread(target=feed, daemon=True).start()
    result = _cli("analyze", "--format", "json", str(fifo))
    assert result.returncode == 0, result.stderr
    # Peeking at its first bytes (is it an archive? a journal?) would have taken them from the reader.
    report = json.loads(result.stdout)
    assert report["inputs"][0]["physical_lines"] == len(data.splitlines())
    assert report["summary"]["snapshots"] == len(stallscope.load(str(CRASH)).snapshots)


# -- binary journals ------------------------------------------------------------------------------
def _journal_file(path: Path) -> Path:
    """A real journal file, written by systemd-journal-remote from the corpus's journal export."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(REMOTE), "-o", str(path), str(EXPORT)], check=True, capture_output=True, timeout=120)
    return path


def _event_keys(capture: Capture) -> list[tuple[str, float]]:
    return [(str(k), round(float(t), 6)) for k, t in zip(capture.events["kind"], capture.events["ts"], strict=True)]


@needs_journal_tools
def test_journal_file_and_directory_read_through_journalctl(tmp_path: Path) -> None:
    journal = _journal_file(tmp_path / "journal" / "0123456789abcdef0123456789abcdef" / "system.journal")
    exported = stallscope.load(str(EXPORT))
    for given in (journal, journal.parent, tmp_path / "journal"):
        capture = stallscope.load(str(given))
        assert [i.path for i in capture.inputs] == [str(journal if given == journal else journal.parent)]
        assert _event_keys(capture) == _event_keys(exported)  # the same kernel entries, in order
        findings = stallscope.diagnose(capture)
        assert [(f.rule, [(t.comm, t.pid) for t in f.tasks]) for f in findings] == [
            (f.rule, [(t.comm, t.pid) for t in f.tasks]) for f in stallscope.diagnose(exported)]
        assert {e.source for f in findings for e in f.evidence} == {capture.inputs[0].path}
    # Never split into byte ranges for workers: journalctl reads it whole, here.
    assert [p.stream for p in plan((str(journal),), jobs=4)] == [True]


@needs_journal_tools
def test_sosreport_with_journal_files_only(tmp_path: Path) -> None:
    files = {f"{TOP}/sos_commands/kernel/dmesg": RING.read_bytes(), f"{TOP}/etc/hostname": b"guest\n"}
    _write_tree(tmp_path, files)
    journal = _journal_file(tmp_path / TOP / "var/log/journal/0123456789abcdef0123456789abcdef/system.journal")
    # In a directory the journal is the bundle's best copy of the kernel log.
    capture = stallscope.load(str(tmp_path / TOP))
    assert [i.path for i in capture.inputs] == [str(journal.parent)]
    assert {f.rule for f in stallscope.diagnose(capture)} == {"hung-task", "oom-kill"}
    # In an archive journalctl cannot read it: listed, and the ring buffer is read instead.
    archive = tmp_path / "sos.tar"
    archive.write_bytes(_tar_bytes({**files, f"{TOP}/var/log/journal/x/system.journal": journal.read_bytes()}))
    capture = stallscope.load(str(archive))
    assert [i.path for i in capture.inputs] == [f"{archive}:{TOP}/sos_commands/kernel/dmesg"]
    assert any(s.path.endswith("system.journal") and "binary journal inside an archive" in s.reason
               for s in capture.skipped)


@pytestmark_cli
@needs_journal_tools
def test_journal_without_journalctl_is_one_line_naming_the_package(tmp_path: Path) -> None:
    journal = _journal_file(tmp_path / "system.journal")
    bare = tmp_path / "bin"
    bare.mkdir()
    result = _cli("analyze", str(journal), env={"PATH": str(bare)})
    assert result.returncode == 1
    assert result.stderr.decode() == (f"stallscope: {journal}: reading a binary journal file needs journalctl "
                                      "(install the systemd package), or export it elsewhere with: journalctl "
                                      "--file FILE -o export\n")
    piped = subprocess.run([str(CLI), "analyze", "-"], input=journal.read_bytes(), capture_output=True,
                           timeout=120, check=False)
    assert piped.returncode == 1 and b"needs it as a file" in piped.stderr


@pytestmark_cli
@needs_journal_tools
def test_watch_refuses_a_journal_and_an_archive(tmp_path: Path) -> None:
    journal = _journal_file(tmp_path / "system.journal")
    archive = _packed(tmp_path, "tar.gz", _sos_in_top())
    for path in (journal, archive):
        result = _cli("watch", str(path))
        assert result.returncode == 2
        assert b"watch follows a text log" in result.stderr and result.stderr.count(b"\n") == 1
