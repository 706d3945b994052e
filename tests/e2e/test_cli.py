"""The command line as a user runs it: typer's CliRunner and a real subprocess."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import stallscope
from conftest import DATA
from stallscope.capture.model import UNPARSED_REASONS
from stallscope.cli import app

LOG = DATA / "lkml" / "2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"


def _stallscope() -> list[str]:
    exe = shutil.which("stallscope", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-c", "from stallscope.cli import main; main()"]


def run(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*_stallscope(), *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_text_report_starts_with_the_verdict() -> None:
    result = CliRunner().invoke(app, ["analyze", str(LOG)])
    assert result.exit_code == 0, result.output
    head = result.output[:400]
    assert "Verdict" in head and "OOM killer" in head
    assert "kswapd0(67)" in result.output and "xfs_buf_lock" in result.output


def test_json_report_keys_and_counts() -> None:
    result = CliRunner().invoke(app, ["analyze", "--format", "json", str(LOG)])
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert {"inputs", "summary", "findings"} <= report.keys()
    assert report["summary"]["snapshots"] == 6 and report["summary"]["tasks"] == 5
    assert report["summary"]["max_stalling"] == 40
    assert report["inputs"][0]["lines"] == report["inputs"][0]["parsed"] + report["inputs"][0]["unparsed"]
    rules = {f["rule"] for f in report["findings"]}
    assert {"oom-plateau", "kswapd-lock-wait"} <= rules
    for finding in report["findings"]:
        assert finding["evidence"], finding["rule"]
        assert all({"line", "ts", "text"} <= e.keys() for e in finding["evidence"])


def test_fail_on_threshold_exit_code() -> None:
    assert CliRunner().invoke(app, ["analyze", "--fail-on", "critical", str(LOG)]).exit_code == 3
    quiet = DATA / "qemu" / "sysrq-m.log"
    assert CliRunner().invoke(app, ["analyze", "--fail-on", "critical", str(quiet)]).exit_code == 0


def test_subprocess_reads_stdin() -> None:
    result = run("analyze", "--format", "json", "-", stdin=LOG.read_bytes())
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["snapshots"] == 6
    assert report["inputs"][0]["path"] == "-"


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [("gz", gzip.compress), ("xz", lzma.compress), ("bz2", bz2.compress)],
    ids=["gzip", "xz", "bz2"],
)
def test_subprocess_reads_compressed_files(tmp_path: Path, suffix: str, compress: object) -> None:
    # A misleading name on purpose: compression is recognised from the bytes, not the suffix.
    packed = tmp_path / f"console.{suffix}.txt"
    packed.write_bytes(compress(LOG.read_bytes()))  # type: ignore[operator]
    result = run("analyze", "--format", "json", str(packed))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["tasks"] == 5


def test_compressed_stdin() -> None:
    result = run("analyze", "--format", "json", "-", stdin=gzip.compress(LOG.read_bytes()))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["snapshots"] == 6


def test_missing_file_is_one_line_exit_1() -> None:
    result = run("analyze", "/nonexistent/dmesg.log")
    assert result.returncode == 1
    message = result.stderr.decode().strip()
    assert message.startswith("stallscope: /nonexistent/dmesg.log: no such file") and "\n" not in message
    assert b"Traceback" not in result.stderr


def test_directory_argument_is_an_input_error(tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    result = run("analyze", str(empty))
    assert result.returncode == 1 and b"Traceback" not in result.stderr


def test_truncated_gzip_is_analyzed_up_to_the_damage(tmp_path: Path) -> None:
    broken = tmp_path / "dmesg.gz"
    broken.write_bytes(gzip.compress(LOG.read_bytes())[:500])
    result = run("analyze", str(broken))
    assert result.returncode == 5  # input damaged, partial analysis shown
    assert b"Traceback" not in result.stderr and b"dmesg.gz" in result.stderr


def test_usage_error_exit_2() -> None:
    result = run("analyze", "--format", "xml", str(LOG))
    assert result.returncode == 2 and b"Traceback" not in result.stderr


def test_invalid_utf8_does_not_crash(tmp_path: Path) -> None:
    noisy = tmp_path / "noisy.log"
    noisy.write_bytes(b"\xff\xfe garbage \x80\n" + LOG.read_bytes() + b"\n\xc3\x28 more\n")
    result = run("analyze", "--format", "json", str(noisy))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["snapshots"] == 6


def test_show_unparsed_lists_every_unparsed_line_with_its_reason() -> None:
    """A real BMC log read through journalctl: driver messages, lines without a prefix (the
    journal's own), and two lines inside a report; each listed once, with why it was not read."""
    log = DATA / "wild" / "2019-11-15_real-arm32-aspeed-bmc-ftgmac100-netdev-watchdog-journalctl.log"
    result = CliRunner().invoke(app, ["analyze", "--show-unparsed", "--format", "json", str(log)])
    assert result.exit_code == 0
    summary = json.loads(result.stdout)["inputs"][0]
    listed = [line for line in result.stderr.splitlines() if line.startswith(f"{log}:")]
    assert len(listed) == summary["unparsed"] == sum(summary["unparsed_reasons"].values()) > 0
    reasons = re.findall(r":\d+: \[([a-z-]+)\] ", "\n".join(listed))
    assert len(reasons) == len(listed) and set(reasons) <= set(UNPARSED_REASONS)
    assert {reason: reasons.count(reason) for reason in set(reasons)} == summary["unparsed_reasons"]
    # A line inside a report that stallscope did not read is listed as such, not as noise (a
    # bare "kernel:" the journal printed inside the WARNING's dump); the NETDEV WATCHDOG line the
    # journal wrapped is read since device failures are (grammars/device.lark), so not listed.
    assert any(line.endswith("[in-report] kernel:") for line in listed)
    assert not any("NETDEV WATCHDOG" in line for line in listed)


def test_a_damaged_frame_is_a_trace_line_not_understood() -> None:
    """A frame whose hex was cut (a real mutation reproducer): the trace goes on, and the line is
    listed as a damaged line of it."""
    capture = stallscope.load(str(DATA / "repro" / "truncation-frame-hex.log"), keep_unparsed=True)
    assert [(u.line, u.reason) for u in capture.unparsed] == [(5, "trace-line")]
    assert capture.inputs[0].unparsed_reasons == {"trace-line": 1}


def test_no_color_when_piped() -> None:
    result = run("analyze", str(LOG))
    assert result.returncode == 0
    assert b"\x1b[" not in result.stdout
