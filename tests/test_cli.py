"""The command line as a user runs it: typer's CliRunner and a real subprocess."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import DATA
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


def test_show_unparsed_lists_every_unparsed_line(tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    log.write_text(
        "[    1.000000] MemAlloc-Info: stalling=1 dying=0 exiting=0 victim=0 oom_count=3\n"
        "[    1.000001] something the tool does not know about\n"
    )
    result = CliRunner().invoke(app, ["analyze", "--show-unparsed", "--format", "json", str(log)])
    assert result.exit_code == 0
    assert "mixed.log:2: something the tool does not know about" in result.stderr
    assert json.loads(result.stdout)["inputs"][0]["unparsed"] == 1


def test_no_color_when_piped() -> None:
    result = run("analyze", str(LOG))
    assert result.returncode == 0
    assert b"\x1b[" not in result.stdout
