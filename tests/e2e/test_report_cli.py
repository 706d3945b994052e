"""`stallscope report` and `export` from the command line, colour rules, and the progress bar."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from conftest import DATA
from stallscope import progress
from stallscope.cli import app

LOG = DATA / "lkml" / "2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from stallscope.cli import main; main()", *args],
        capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}, cwd=cwd, check=False,
    )


@pytest.mark.parametrize(("name", "start"), [("r.md", "# stallscope report"), ("r.HTML", "<!DOCTYPE html>")])
def test_format_follows_the_suffix(tmp_path: Path, name: str, start: str) -> None:
    result = CliRunner().invoke(app, ["report", str(LOG), "-o", str(tmp_path / name)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / name).read_text(encoding="utf-8").startswith(start)


def test_unknown_suffix_is_a_usage_error_naming_the_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(LOG), "-o", str(tmp_path / "r.txt")])
    assert result.exit_code == 2
    assert "--format" in result.output
    assert not (tmp_path / "r.txt").exists()


def test_explicit_format_to_standard_output_records_the_command() -> None:
    result = CliRunner().invoke(app, ["report", str(LOG), "-o", "-", "--format", "md", "--max-chars", "0"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# stallscope report")
    assert f"`stallscope report {LOG} -o - --format md --max-chars 0`" in result.output


def test_real_process_writes_file_and_one_line_without_colour(tmp_path: Path) -> None:
    result = _run("report", str(LOG), "-o", "out.html", env={"NO_COLOR": "1", "FORCE_COLOR": ""}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("stallscope: wrote out.html (") and result.stderr.count("\n") == 1
    assert "\x1b[" not in result.stderr
    assert (tmp_path / "out.html").stat().st_size > 10_000


def test_unwritable_output_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = _run("report", str(LOG), "-o", str(tmp_path / "missing" / "r.md"))
    assert result.returncode == 1
    assert result.stderr.startswith("stallscope: ") and "cannot write" in result.stderr
    assert "Traceback" not in result.stderr


def test_export_csv_lists_what_it_wrote(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(LOG), "--to", str(tmp_path), "--format", "csv"])
    assert result.exit_code == 0, result.output
    listed = result.output.split()
    assert str(tmp_path / "tasks.csv") in listed and str(tmp_path / "manifest.json") in listed
    assert all(Path(p).exists() for p in listed)


# --- progress -------------------------------------------------------------------------------
needs_proc = pytest.mark.skipif(not Path("/proc/self/fdinfo").is_dir(), reason="no /proc/self/fdinfo (not Linux)")


@needs_proc
def test_read_offset_of_an_open_input_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(b"x" * 10_000)
    wanted = {os.path.realpath(path): "big.log"}
    with open(path, "rb", buffering=0) as stream:
        stream.read(4_096)
        found = progress.open_positions(wanted)
        assert list(found.values()) == [("big.log", 4_096)]
        assert next(iter(found))[0] == os.getpid()
    assert progress.open_positions(wanted) == {}


@needs_proc
def test_worker_processes_are_followed(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(b"x" * 10_000)
    code = f"import sys; f = open({str(path)!r}, 'rb', buffering=0); f.read(1234); print(1, flush=True); sys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "1\n"  # the child has read
        assert child.pid in progress.processes()
        found = progress.open_positions({os.path.realpath(path): "big.log"})
        assert found == {(child.pid, next(iter(found))[1]): ("big.log", 1234)}
    finally:
        child.communicate("")


def test_tracker_sums_pieces_read_by_several_workers() -> None:
    mib = 1 << 20
    tracker = progress._Tracker({"a": 100 * mib, "b": 50})
    # A whole-file read seen early counts from 0; a piece seen at 60 MiB counts from there.
    assert tracker.update({(1, "5"): ("a", 1 * mib), (2, "5"): ("a", 60 * mib)}) == 1 * mib
    assert tracker.update({(1, "5"): ("a", 3 * mib), (2, "5"): ("a", 62 * mib)}) == 5 * mib
    assert tracker.update({}) == 5 * mib  # between pieces: nothing open, nothing lost
    # Worker 1 reuses fd 5 for a piece further on: the first piece stays counted.
    assert tracker.update({(1, "5"): ("a", 40 * mib)}) == 5 * mib
    assert tracker.update({(1, "5"): ("a", 41 * mib), (3, "4"): ("b", 500)}) == 6 * mib + 50  # capped at size


def test_bar_only_on_a_terminal_and_for_large_inputs() -> None:
    def shown(terminal: bool, threshold: int) -> str:
        out = io.StringIO()
        console = Console(file=out, force_terminal=terminal, width=100, no_color=True)
        with progress.reading([str(LOG)], console, threshold=threshold):
            pass
        return out.getvalue()

    assert shown(terminal=False, threshold=0) == ""  # piped: nothing
    assert shown(terminal=True, threshold=1 << 40) == ""  # small input: nothing
    assert "reading 1 input(s)" in shown(terminal=True, threshold=0)
    assert "\x1b[3" not in shown(terminal=True, threshold=0)  # no_color: cursor control only, no colours


def _blocked_signals(thread: threading.Thread) -> int:
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:")), 16)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="per-thread signal masks are read from /proc")
def test_the_bars_threads_never_take_ctrl_c() -> None:
    # A Ctrl-C given to a thread of the bar would reach the main thread anywhere; it must wait
    # for the main thread (and so for the end of a fork, stallscope.signals).
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    before = set(threading.enumerate())  # threads of other tests (Dask's) are not the bar's
    with progress.reading([str(LOG)], console, threshold=0):
        bars = [t for t in threading.enumerate() if t not in before and t.native_id]
        masks = {t.name: _blocked_signals(t) for t in bars}
        main = _blocked_signals(threading.main_thread())
    assert "stallscope-progress" in masks and len(masks) >= 2  # rich's refresh thread too
    wanted = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
    assert all(mask & wanted == wanted for mask in masks.values()), masks
    assert main & wanted == 0
