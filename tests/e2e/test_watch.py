"""`stallscope watch`: follow a growing log, parse each line once, report each finding once."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import stallscope
import stallscope.watch as watch_module
from conftest import DATA
from stallscope.watch import FileFollower, Fired, LiveCapture, Watcher, identity

LOG = DATA / "lkml" / "2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"
STALLSCOPE = [sys.executable, "-c", "from stallscope.cli import main; main()"]


def _pieces(data: bytes, count: int) -> list[bytes]:
    """Cut anywhere (inside lines, inside UTF-8 characters): a live log arrives like that."""
    step = len(data) // count + 1
    return [data[i : i + step] for i in range(0, len(data), step)]


def _expected(path: Path) -> set[tuple[object, ...]]:
    return {identity(f)[:1] + identity(f)[2:] for f in stallscope.diagnose(stallscope.load(str(path)))}


class _Feed:
    """A follower over pieces already in memory, then the end of the stream."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.name = "feed"
        self.notes: list[str] = []
        self.pieces = list(pieces)

    def read(self, timeout: float) -> bytes | None:
        # Every other call is a pause, so the watcher judges after each piece.
        if not self.pieces:
            return None
        if self.pieces[0] == b"":
            self.pieces.pop(0)
            return b""
        piece = self.pieces.pop(0)
        self.pieces.insert(0, b"")
        return piece

    def close(self) -> None:
        pass


def test_follower_survives_rotation_and_truncation(tmp_path: Path) -> None:
    path = tmp_path / "kern.log"
    follower = FileFollower(str(path))
    assert follower.poll() == b""  # not there yet: waits for it
    path.write_bytes(b"one\ntw")
    assert follower.poll() == b"one\ntw"
    with path.open("ab") as f:
        f.write(b"o\n")
    assert follower.poll() == b"o\n"
    path.rename(tmp_path / "kern.log.1")
    with (tmp_path / "kern.log.1").open("ab") as f:
        f.write(b"last words")  # the writer still had the old file open
    assert follower.poll() == b"last words"
    path.write_bytes(b"new file\n")
    # The rest of the old file, its unfinished line ended, then the new file from its start.
    assert follower.poll() == b"\n"
    assert follower.poll() == b"new file\n"
    path.write_bytes(b"")
    assert follower.poll() == b""
    path.write_bytes(b"again\n")
    assert follower.poll() == b"again\n"
    assert any("rotated" in n for n in follower.notes)
    assert any("truncated" in n for n in follower.notes)
    follower.close()


def test_live_capture_in_pieces_equals_load(tmp_path: Path) -> None:
    data = LOG.read_bytes().replace(b"a.out", "a\u00e9.out".encode())  # a two-byte character to cut
    path = tmp_path / "log"
    path.write_bytes(data)
    live = LiveCapture(str(path))
    for piece in _pieces(data, 37):
        live.feed(piece)
        live.capture()  # looking in between must not change what is built
    live.finish()
    got, want = live.capture(), stallscope.load(str(path))
    for name in ("snapshots", "tasks", "events", "traces", "frames"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), check_categorical=False, obj=name)
    assert (got.inputs[0].lines, got.inputs[0].parsed) == (want.inputs[0].lines, want.inputs[0].parsed)


def test_open_trace_is_left_out_until_it_ends() -> None:
    lines = LOG.read_bytes().split(b"\n")
    live = LiveCapture("log")
    # Up to the middle of kswapd's first call trace (line 7 opens it).
    live.feed(b"\n".join(lines[:10]) + b"\n")
    assert len(live.capture().traces) == 0
    live.feed(b"\n".join(lines[10:]) + b"\n")
    live.finish()
    assert len(live.capture().traces) == len(stallscope.load(str(LOG)).traces)


def test_each_finding_is_reported_once_as_its_rule_fires() -> None:
    fired: list[Fired] = []
    watcher = Watcher(_Feed(_pieces(LOG.read_bytes(), 6)), LiveCapture(str(LOG)), on_fired=fired.append)
    watcher.run()
    keys = [identity(f.finding) for f in fired if not f.update]
    assert len(keys) == len(set(keys))
    assert _expected(LOG) <= {k[:1] + k[2:] for k in keys}
    # Findings came while the log was growing, not all at its end, and none cites an unread line.
    assert len({f.read_lines for f in fired}) >= 2
    assert min(f.read_lines for f in fired) < watcher.live.lines
    for f in fired:
        assert max(e.line for e in f.finding.evidence) <= f.read_lines
    assert [f.read_lines for f in fired] == sorted(f.read_lines for f in fired)


def test_a_finding_whose_severity_rises_is_reported_again(monkeypatch: pytest.MonkeyPatch) -> None:
    fired: list[Fired] = []
    watcher = Watcher(_Feed([]), LiveCapture("x"), on_fired=fired.append)
    finding = next(f for f in stallscope.diagnose(stallscope.load(str(LOG))) if f.severity.value == "warning")
    raised = stallscope.Finding(finding.rule, stallscope.Severity.CRITICAL, "worse now", finding.explanation,
                                finding.evidence, finding.tasks, finding.host)
    # What the rules say at each look: the same finding, then worse, then back to a warning.
    said = iter([[finding], [finding], [raised], [finding]])
    monkeypatch.setattr(watch_module, "diagnose", lambda capture: next(said))
    for _ in range(4):
        watcher.evaluate()
    assert [(f.update, f.finding.severity.value) for f in fired] == [(False, "warning"), (True, "critical")]


def _read_json_lines(process: subprocess.Popen[bytes], until: float) -> list[dict[str, object]]:
    assert process.stdout is not None
    out = b""
    while time.monotonic() < until:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


def test_watch_follows_a_growing_rotated_file(tmp_path: Path) -> None:
    path = tmp_path / "kern.log"
    pieces = _pieces(LOG.read_bytes(), 7)
    path.write_bytes(pieces[0])
    process = subprocess.Popen([*STALLSCOPE, "watch", "--json", "--interval", "0.3", str(path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stderr is not None
        # Start writing once the watcher holds the file, so that it sees the rotation happen.
        ready, _, _ = select.select([process.stderr], [], [], 30)
        assert ready and b"following" in process.stderr.readline()
        for number, piece in enumerate(pieces[1:], start=1):
            if number == 4:
                path.rename(tmp_path / "kern.log.1")  # rotated in the middle of a report
            with path.open("ab") as sink:
                sink.write(piece)
            time.sleep(0.3)
        # Let it catch up, then Ctrl-C: it reads what is left, judges once more and exits cleanly.
        time.sleep(1.5)
        process.send_signal(signal.SIGINT)
        found = _read_json_lines(process, time.monotonic() + 30)
        assert process.wait(timeout=30) == 0
        errors = process.stderr.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "rotated" in errors and "Traceback" not in errors
    keys = [(f["rule"], min(e["line"] for e in f["evidence"])) for f in found if f["event"] == "new"]  # type: ignore[union-attr]
    assert len(keys) == len(set(keys)), keys
    # Line numbers run on across the rotation: they are the lines of the original log.
    assert {(k[0], k[2]) for k in _expected(LOG)} <= set(keys)
    assert all(f["evidence"][0]["source"] == str(path) for f in found)  # type: ignore[index]
    reads = [f["read_lines"] for f in found]
    assert reads == sorted(reads)  # type: ignore[type-var]
    assert all(max(e["line"] for e in f["evidence"]) <= f["read_lines"] for f in found)  # type: ignore[union-attr]


def test_watch_stdin_ends_with_the_stream_and_runs_exec(tmp_path: Path) -> None:
    sink = tmp_path / "findings.jsonl"
    done = subprocess.run(
        [*STALLSCOPE, "watch", "-", "--json", "--exec", f"cat >> {sink}"],
        input=LOG.read_bytes(), capture_output=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    printed = [json.loads(line) for line in done.stdout.decode().splitlines()]
    executed = [json.loads(line) for line in sink.read_text().splitlines()]
    assert executed == printed
    assert {(f["rule"], min(e["line"] for e in f["evidence"])) for f in printed} == {
        (k[0], k[2]) for k in _expected(LOG)}
    assert all(f["evidence"][0]["source"] == "-" for f in printed)


def test_watch_text_output_prints_panels_when_not_a_terminal() -> None:
    done = subprocess.run([*STALLSCOPE, "watch", "-", "--no-color"], input=LOG.read_bytes(),
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == 0
    out = done.stdout.decode()
    assert "CRITICAL oom-plateau" in out and "Evidence:" in out
    assert f"lines read, {len(_expected(LOG))} finding(s)" in done.stderr.decode()
