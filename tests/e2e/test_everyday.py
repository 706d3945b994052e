"""The inputs people really have, run through the command line as a user runs it: a capture of a
machine that was rebooted, the same file given twice, a /var/log copy holding kern.log and
syslog and rotated generations that overlap, a directory with files that are no logs, and files
that are no kernel log at all. Each must give the findings of the single clean input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA

# A full boot of a QEMU guest, from the "Linux version" banner to "reboot: Power down".
BOOT = DATA / "qemu" / "oom-stuck-victim.log"
OTHER_BOOT = DATA / "qemu" / "memcg-oom.log"
# A real laptop's kern.log (syslog prefix with a host name): page allocation stalls.
SYSLOG = DATA / "lkml" / "2017-03-14_real-laptop-syslog-warn-alloc-stalls-thrashing.log"
# The watchdog's MemAlloc output of a QEMU guest, without a boot banner.
WATCHDOG = DATA / "memalloc-qemu" / "oomwrite-1cpu-128M-w3.log"
# A mail quoting pieces of one boot's log out of order ([1095] ... [1116] then [1039]).
QUOTED = DATA / "lkml" / "2017-03-03_wq-mem-reclaim-xfs-rescuer.log"
NOT_A_LOG = DATA / "syzkaller" / "README.md"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    env.pop("STALLSCOPE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "stallscope", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300, check=False)


def analyzed(*args: str | Path) -> dict[str, object]:
    done = run("analyze", "-f", "json", "-j", "1", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def gist(findings: list[dict[str, object]], offset: int = 0) -> list[tuple[object, ...]]:
    """What a finding says, with its evidence lines moved back by ``offset`` (the lines of the
    capture before this boot), in a stable order."""
    return sorted((f["rule"], f["severity"], f["title"], tuple(e["line"] - offset for e in f["evidence"]))  # type: ignore[index,operator,union-attr]
                  for f in findings)


def said(findings: list[dict[str, object]]) -> list[tuple[object, ...]]:
    """What a finding says, with its evidence as kernel time and text (whichever file it is in)."""
    return sorted((f["rule"], f["severity"], f["title"], tuple((e["ts"], e["text"]) for e in f["evidence"]))  # type: ignore[index,union-attr]
                  for f in findings)


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


# -- machines and boots -------------------------------------------------------------------------------
@pytest.mark.parametrize("second", [BOOT, OTHER_BOOT], ids=["same-boot-again", "another-boot"])
def test_a_capture_of_two_boots_gives_each_boot_its_own_findings(second: Path, tmp_path: Path) -> None:
    capture = tmp_path / "ttyS0.log"  # a serial console that saw the machine boot twice
    capture.write_bytes(BOOT.read_bytes() + second.read_bytes())
    first_lines = len(lines_of(BOOT))
    got = analyzed(capture)
    findings = got["findings"]
    assert {f["boot"] for f in findings} == {1, 2}  # type: ignore[union-attr,index]
    assert gist([f for f in findings if f["boot"] == 1]) == gist(analyzed(BOOT)["findings"])  # type: ignore[arg-type,index,union-attr]
    assert gist([f for f in findings if f["boot"] == 2], first_lines) == gist(analyzed(second)["findings"])  # type: ignore[arg-type,index,union-attr]
    assert [(v["boot"], v["boots"]) for v in got["summary"]["views"]] == [(1, 2), (2, 2)]  # type: ignore[index]
    text = run("analyze", capture).stdout
    assert f"{capture} · boot 1 of 2" in text and f"{capture} · boot 2 of 2" in text
    # One machine: no fleet table, but each boot's part and the inputs read once at the end.
    assert "Fleet:" not in text and text.count(f"{capture}: ") == 1


def test_timestamps_that_restart_start_a_boot_without_a_banner(tmp_path: Path) -> None:
    capture = tmp_path / "netconsole.log"  # no banner: netconsole starts after the boot messages
    capture.write_bytes(WATCHDOG.read_bytes() * 2)
    got = analyzed(capture)
    assert [v["boot"] for v in got["summary"]["views"]] == [1, 2]  # type: ignore[index]
    once = gist(analyzed(WATCHDOG)["findings"])  # type: ignore[arg-type]
    assert once  # the watchdog log has findings to compare
    for boot, offset in ((1, 0), (2, len(lines_of(WATCHDOG)))):
        assert gist([f for f in got["findings"] if f["boot"] == boot], offset) == once  # type: ignore[union-attr,index]


def test_a_banner_stamped_an_hour_into_a_boot_starts_no_boot(tmp_path: Path) -> None:
    """start_kernel prints the banner before any clock runs: a booting kernel stamps it
    [0.000000]. The same boot's log printed again with its times an hour on (a log replayed or
    pasted into a running machine's console) is that boot's, not a reboot."""
    later = re.compile(rb"^\[\s*(\d+\.\d+)\]")
    replayed = b"".join(later.sub(lambda m: b"[%12.6f]" % (float(m.group(1)) + 3600), line)
                        for line in lines_of(BOOT))
    assert replayed.startswith(b"[ 3600.000000] Linux version ")
    capture = tmp_path / "ttyS0.log"
    capture.write_bytes(BOOT.read_bytes() + replayed)
    got = analyzed(capture)
    assert [v["boot"] for v in got["summary"]["views"]] == [1]  # type: ignore[index]
    # The same lines stamped from [0.000000] again are a reboot (the test above).
    again = tmp_path / "rebooted.log"
    again.write_bytes(BOOT.read_bytes() * 2)
    assert [v["boot"] for v in analyzed(again)["summary"]["views"]] == [1, 2]  # type: ignore[index]


def test_a_quote_out_of_order_is_one_boot() -> None:
    got = analyzed(QUOTED)
    assert [v["boot"] for v in got["summary"]["views"]] == [1]  # type: ignore[index]


def test_the_watchdog_table_restarts_its_deltas_at_each_boot(tmp_path: Path) -> None:
    capture = tmp_path / "console.log"
    capture.write_bytes(WATCHDOG.read_bytes() * 2)
    done = run("report", capture, "-o", "-", "-f", "md")
    assert done.returncode == 0, done.stderr
    timeline = done.stdout.split("## Watchdog reports")[1].split("\n## ")[0]
    rows = [row for row in timeline.splitlines() if row.startswith("|") and "---" not in row][1:]
    assert [row.split("|")[1].strip() for row in rows] == ["1", "1", "2", "2"]  # the boot column
    # The first report of boot 2 has no change to show: it follows nothing of its own boot.
    assert [row.split("|")[5].strip() for row in rows][2] == ""


# -- duplicates ------------------------------------------------------------------------------------
def test_the_same_file_twice_is_read_once() -> None:
    got = analyzed(BOOT, BOOT)
    assert gist(got["findings"]) == gist(analyzed(BOOT)["findings"])  # type: ignore[arg-type]
    assert [i["path"] for i in got["inputs"]] == [str(BOOT)]  # type: ignore[index]
    assert [s["reason"] for s in got["summary"]["skipped"]] == [  # type: ignore[index]
        f"another copy of the kernel messages read from {BOOT} (the same file)"]


def test_var_log_with_kern_log_syslog_and_overlapping_rotations(tmp_path: Path) -> None:
    """kern.log and syslog hold the same kernel lines of one host; kern.log.1 and kern.log
    overlap (a copy taken while logrotate ran); a plain copy sits beside them."""
    lines = lines_of(SYSLOG)
    third = len(lines) // 3
    (tmp_path / "kern.log.1").write_bytes(b"".join(lines[: 2 * third]))
    (tmp_path / "kern.log").write_bytes(b"".join(lines[third:]))
    (tmp_path / "syslog").write_bytes(b"".join(lines[10:]))
    (tmp_path / "kern.log.orig").write_bytes(SYSLOG.read_bytes())
    got = analyzed(tmp_path)
    assert said(got["findings"]) == said(analyzed(SYSLOG)["findings"]) != []  # type: ignore[arg-type]
    inputs = {Path(str(i["path"])).name: i for i in got["inputs"]}  # type: ignore[index,union-attr]
    assert inputs["kern.log.1"]["duplicates"] == 0
    assert inputs["kern.log"]["duplicates"] > 0 and inputs["kern.log"]["duplicate_of"]
    # syslog (read after kern.log.orig, which holds every line) is all repeats.
    assert inputs["syslog"]["duplicates"] > 0 and inputs["syslog"]["duplicate_of"]
    text = run("analyze", tmp_path).stdout
    assert "record(s) dropped as read before from" in text


def test_overlapping_rotated_dmesg_files_without_host_names(tmp_path: Path) -> None:
    lines = lines_of(BOOT)
    # The two overlap on lines 401-450, inside the OOM reports (lines 375-510).
    (tmp_path / "dmesg.1").write_bytes(b"".join(lines[:450]))
    (tmp_path / "dmesg").write_bytes(b"".join(lines[400:]))
    got = analyzed(tmp_path)
    assert len(got["summary"]["views"]) == 1  # type: ignore[arg-type,index]
    # The same findings, evidence citing the file each line was kept from. (Their evidence may
    # differ: hung-task cites the OOM kills before the hung task in the hung task's own file.)
    assert sorted((f["rule"], f["severity"], f["title"]) for f in got["findings"]) == sorted(  # type: ignore[index,union-attr]
        (f["rule"], f["severity"], f["title"]) for f in analyzed(BOOT)["findings"])  # type: ignore[index,union-attr]
    assert {Path(str(i["path"])).name: i["duplicates"] for i in got["inputs"]}["dmesg"] > 0  # type: ignore[index,union-attr]


def test_jobs_do_not_change_what_is_dropped(tmp_path: Path) -> None:
    (tmp_path / "kern.log").write_bytes(SYSLOG.read_bytes())
    (tmp_path / "syslog").write_bytes(b"".join(lines_of(SYSLOG)[5:]))
    one = run("analyze", "-f", "json", "-j", "1", tmp_path)
    two = run("analyze", "-f", "json", "-j", "2", tmp_path)
    assert one.returncode == two.returncode == 0 and one.stdout == two.stdout


# -- directories -------------------------------------------------------------------------------------
def test_a_directory_reads_kernel_logs_by_content(tmp_path: Path) -> None:
    (tmp_path / "messages").write_bytes(BOOT.read_bytes())  # a kernel log, whatever its name
    journal = DATA / "formats" / "journal" / "journalctl-k-json.txt"
    (tmp_path / "kernel.json").write_bytes(journal.read_bytes())  # journalctl -o json: a kernel log
    # utmp records: fixed-size binary structs with NUL padding.
    (tmp_path / "wtmp").write_bytes((b"\x07\x00\x00\x00\x2a\x05\x00\x00pts/0" + b"\x00" * 379) * 4)
    (tmp_path / "package.json").write_text('{"name": "x", "version": "1.0"}\n')
    (tmp_path / "README").write_bytes(NOT_A_LOG.read_bytes())
    got = analyzed(tmp_path)
    assert sorted(Path(str(i["path"])).name for i in got["inputs"]) == ["kernel.json", "messages"]  # type: ignore[index,union-attr]
    reasons = {Path(str(s["path"])).name: s["reason"] for s in got["summary"]["skipped"]}  # type: ignore[index,union-attr]
    assert reasons == {"wtmp": "binary (not text)", "README": "no kernel line",
                       "package.json": "JSON that is not a journal export (journalctl -o json)"}
    listed = run("analyze", "--show-skipped", tmp_path).stderr
    assert f"{tmp_path / 'wtmp'}: not read: binary (not text)" in listed


def test_a_directory_without_kernel_logs_says_so(tmp_path: Path) -> None:
    (tmp_path / "README").write_bytes(NOT_A_LOG.read_bytes())
    done = run("analyze", tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"stallscope: {tmp_path}: directory holds no kernel log (1 file(s) skipped; "
                                   "list them with --show-skipped)")


# -- not understood ----------------------------------------------------------------------------------
def test_a_file_that_is_no_kernel_log_gets_no_verdict(tmp_path: Path) -> None:
    lines = len(lines_of(NOT_A_LOG))
    done = run("analyze", NOT_A_LOG)
    assert done.returncode == 0
    said = f"this does not look like a kernel log: 0 of {lines} lines understood"
    assert said.capitalize() in done.stdout and "No memory-allocation stall" not in done.stdout
    assert done.stderr.strip() == f"stallscope: {NOT_A_LOG}: {said}"
    assert run("analyze", "--fail-on", "critical", NOT_A_LOG).returncode == 6
    assert run("check", NOT_A_LOG).returncode == 6
    assert run("analyze", "--fail-on", "critical", BOOT).returncode == 0
    assert analyzed(NOT_A_LOG)["summary"]["not_understood"] == [str(NOT_A_LOG)]  # type: ignore[index]


def test_a_log_pasted_from_a_web_page_is_understood() -> None:
    pasted = DATA / "formats" / "pastes" / "nbsp.txt"  # non-breaking spaces
    done = run("analyze", "--fail-on", "critical", pasted)
    assert done.returncode in (0, 3) and "does not look like a kernel log" not in done.stdout + done.stderr


# -- stalled tasks -------------------------------------------------------------------------------------
def test_a_sysrq_t_dump_of_sleeping_tasks_is_no_stall() -> None:
    dump = DATA / "qemu" / "sysrq-t.log"
    import stallscope

    capture = stallscope.load(str(dump))
    blocked = capture.tasks[capture.tasks["state"] == "D"][["comm", "pid"]].drop_duplicates()
    assert len(capture.tasks[["comm", "pid"]].drop_duplicates()) > len(blocked)  # most tasks sleep
    got = analyzed(dump, BOOT)
    machines = {Path(m["machine"]).name: m for m in got["summary"]["fleet"]["per_machine"]}  # type: ignore[index]
    assert machines["sysrq-t.log"]["tasks"] == len(blocked)
    assert "stalled task line" not in run("analyze", dump).stdout
