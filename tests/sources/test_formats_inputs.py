"""Every way a kernel log reaches a user, built from real corpus logs: receiver logs of several
hosts, noisy serial consoles, files mixing prefix styles, printk caller ids, rotated and
compressed files and pipes through the real CLI. Each must give the tables of the clean log."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from itertools import zip_longest
from pathlib import Path

import pandas as pd
import pytest

import stallscope
from capture_views import assert_same_view, findings_of, view
from conftest import DATA
from stallscope.api import load_lines
from stallscope.capture import schema
from stallscope.capture.model import Capture
from stallscope.records.stream import records
from stallscope.sources.reader import iter_lines

# Plain dmesg logs whose every line (but two "(...snipped...)") carries printk's timestamp.
OOMWRITE = DATA / "memalloc-qemu" / "oomwrite-1cpu-128M-w3.log"  # one report, 14 tasks with traces
LIVELOCK = DATA / "lkml" / "2016-04-05_oom-livelock-xfs-nofs-noio.log"  # oom-livelock, kswapd lock wait
PLATEAU = DATA / "lkml" / "2016-02-09_too-many-isolated-no-oom-livelock.log"  # 8 reports, 260 tasks
BOOT = datetime(2026, 11, 26, 8, 0, 0, tzinfo=timezone.utc)
_TS = re.compile(r"\[\s*(\d+\.\d+)\] ?")
CLI = Path(sys.executable).parent / "stallscope"


def _lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines()


def _stamped(path: Path) -> list[tuple[float | None, str]]:
    """(printk time, text after printk's prefix) of each line; lines without one keep their time None."""
    out: list[tuple[float | None, str]] = []
    for text in _lines(path):
        match = _TS.match(text)
        out.append((float(match.group(1)), text[match.end():]) if match else (None, text))
    return out


def _wall(ts: float | None) -> datetime:
    return BOOT + timedelta(seconds=ts or 0.0)


def _syslog(host: str, ts: float | None, body: str) -> str:
    stamp = "" if ts is None else f"[{ts:12.6f}] "
    return f"{_wall(ts):%b %e %H:%M:%S} {host} kernel: {stamp}{body}"


def _rfc3339(host: str, ts: float | None, body: str) -> str:
    stamp = "" if ts is None else f"[{ts:12.6f}] "
    return f"{_wall(ts).isoformat(timespec='microseconds')} {host} kernel: {stamp}{body}"


def _rfc5424(host: str, ts: float | None, body: str) -> str:
    stamp = "" if ts is None else f"[{ts:12.6f}] "
    return f'<4>1 {_wall(ts).isoformat()} {host} kernel - - [meta sequenceId="1"] {stamp}{body}'


def _dmesg(_host: str, ts: float | None, body: str) -> str:
    return body if ts is None else f"[{ts:12.6f}] {body}"


Loader = Callable[[Path], Capture]
LOADERS: dict[str, Loader] = {
    "bulk": lambda p: stallscope.load(str(p)),
    "line-reader": lambda p: load_lines(str(p), iter_lines(str(p))),
}


# -- several hosts in one receiver log ---------------------------------------------------------

@pytest.mark.parametrize("reader", list(LOADERS))
def test_two_host_syslog_interleaved_line_by_line(reader: str, tmp_path: Path) -> None:
    hosts = {"hostA": OOMWRITE, "hostB": LIVELOCK, "hostC": OOMWRITE}
    rendered: list[list[str | None]] = [[_syslog(host, ts, body) for ts, body in _stamped(log)]
                                        for host, log in hosts.items()]
    # hostA one line behind hostC: each task line of one falls between a task line of the other
    # and its task-state line.
    rendered[0].insert(0, None)
    path = tmp_path / "fleet.log"
    path.write_text("".join(f"{line}\n" for pair in zip_longest(*rendered) for line in pair if line is not None))
    both = LOADERS[reader](path)
    assert set(both.tasks["host"].dropna()) == set(hosts)
    assert both.tasks["host"].notna().all() and both.snapshots["host"].notna().all()
    for host, log in hosts.items():
        plain = stallscope.load(str(log))
        assert_same_view(view(both, host), view(plain))
        assert findings_of(both, host) == findings_of(plain)
        assert len(both.events[both.events["host"] == host]) == len(plain.events)


# -- a serial console ------------------------------------------------------------------------

def _task_trace_lines(capture: Capture) -> dict[int, int]:
    """Task row -> line number of the first line of its trace."""
    traces = capture.traces.dropna(subset=["task"])
    return {int(t): int(line) for t, line in zip(traces["task"], traces["line"], strict=True)}


def test_serial_capture_with_console_noise(tmp_path: Path) -> None:
    clean = _lines(OOMWRITE)
    plain = stallscope.load(str(OOMWRITE))
    first_trace = _task_trace_lines(plain)
    hit = {1: "12", 5: "3"}  # task row -> messages dropped right after its "Call Trace:"
    after = {first_trace[task]: count for task, count in hit.items()}
    noisy = ["Debian GNU/Linux 12 guest ttyS0", "", "guest login: "]
    for number, text in enumerate(clean, 1):
        if number % 7 == 0:
            text += "\r"  # CRLF
        if number % 11 == 0:
            text = f"\x1b[?25h{text}\x1b[0m"
        if number % 13 == 0:
            text = "\x00\x00" + text
        if number % 17 == 0:
            text = "\r" + text  # a lone CR: the terminal went back to the start of the line
        if number == 20:
            text = "guest login: " + text  # the kernel printed over the getty prompt
        noisy.append(text)
        if number in after:
            noisy.append(f"** {after[number]} printk messages dropped **")
    path = tmp_path / "serial.txt"
    path.write_bytes("\n".join(noisy).encode() + b"\n")
    got = stallscope.load(str(path))
    assert_same_view(view(got), view(plain))
    pd.testing.assert_frame_equal(got.frames, plain.frames, check_categorical=False)
    corrupted = got.tasks["corrupted"]
    assert corrupted.dropna().to_dict() == {t: f"{n} messages dropped inside its block" for t, n in hit.items()}
    assert got.inputs[0].physical_lines == len(noisy)
    assert got.inputs[0].parsed + got.inputs[0].unparsed == got.inputs[0].lines


# -- one file, several prefix styles ---------------------------------------------------------

def test_formats_mixed_line_by_line_give_the_same_records(tmp_path: Path) -> None:
    styles = [(_dmesg, "dmesg"), (_syslog, "syslog"), (_rfc3339, "syslog-rfc3339")]
    stamped = _stamped(LIVELOCK)
    path = tmp_path / "mixed.txt"
    path.write_text("".join(f"{styles[i % 3][0]('h1', ts, body)}\n" for i, (ts, body) in enumerate(stamped)))
    got = list(records(str(path), iter_lines(str(path))))
    expected = list(records(str(LIVELOCK), iter_lines(str(LIVELOCK))))
    assert [(r.ts, r.body) for r in got] == [(r.ts, r.body) for r in expected]
    # A line without printk's time keeps no style of its own: "(...snipped...)" as dmesg is unprefixed.
    assert [r.fmt for r in got] == [styles[i % 3][1] if stamped[i][0] is not None or i % 3 else None
                                    for i in range(len(stamped))]
    assert {r.host for r in got if r.fmt in ("syslog", "syslog-rfc3339")} == {"h1"}


@pytest.mark.parametrize("reader", list(LOADERS))
def test_host_prefixed_formats_mixed_line_by_line(reader: str, tmp_path: Path) -> None:
    # A host-less dmesg line is a stream of its own (it cannot be told which host printed it), so
    # the tables are compared on styles that all name the host.
    styles = (_syslog, _rfc3339, _rfc5424)
    path = tmp_path / "mixed.txt"
    path.write_text("".join(f"{styles[i % 3]('h1', ts, body)}\n" for i, (ts, body) in enumerate(_stamped(LIVELOCK))))
    got = LOADERS[reader](path)
    plain = stallscope.load(str(LIVELOCK))
    assert_same_view(view(got, "h1"), view(plain))
    assert findings_of(got, "h1") == findings_of(plain)
    assert set(got.inputs[0].formats) == {"syslog", "syslog-rfc3339", "syslog-rfc5424"}


# -- printk caller ids -------------------------------------------------------------------------

_OTHERS = (
    "[{ts:12.6f}][    C1] perf: interrupt took too long (2506 > 2500), lowering kernel.perf_event_max_sample_rate to 79750",
    "[{ts:12.6f}][ T4242] systemd-journald[4242]: Under memory pressure, flushing caches.",
    "[{ts:12.6f}][    C0] e1000: eth0 NIC Link is Up 1000 Mbps Full Duplex, Flow Control: RX",
)


def _with_callers(path: Path, caller: str | None) -> list[str]:
    """The log as printed by task ``caller``, another CPU's or task's line after every third one."""
    out: list[str] = []
    last = 0.0
    for number, (ts, body) in enumerate(_stamped(path), 1):
        last = ts if ts is not None else last
        if ts is None:
            out.append(body)
        else:
            out.append(f"[{ts:12.6f}][{caller:>6}] {body}" if caller else f"[{ts:12.6f}] {body}")
        if number % 3 == 0:
            other = _OTHERS[number % len(_OTHERS)].format(ts=last)
            out.append(other if caller else re.sub(r"\]\[\s*[TC]\d+\]", "]", other))
    return out


@pytest.mark.parametrize("log", [OOMWRITE, LIVELOCK], ids=["oomwrite", "livelock"])
def test_caller_ids_separate_interleaved_printk(log: Path, tmp_path: Path) -> None:
    plain = stallscope.load(str(log))
    path = tmp_path / "callers.txt"
    path.write_text("\n".join(_with_callers(log, "T38")) + "\n")
    got = stallscope.load(str(path))
    assert_same_view(view(got), view(plain))
    pd.testing.assert_frame_equal(got.frames, plain.frames, check_categorical=False)
    assert findings_of(got) == findings_of(plain)
    # The same interleaving without caller ids does cut the blocks: the comparison above can fail.
    path.write_text("\n".join(_with_callers(log, None)) + "\n")
    blind = stallscope.load(str(path))
    assert view(blind)["tasks"]["stack"].tolist() != view(plain)["tasks"]["stack"].tolist()


# -- corrupted blocks ------------------------------------------------------------------------

def _restamp(text: str, ts: float) -> str:
    return _TS.sub(f"[{ts:12.6f}] ", text, count=1)


def test_corrupted_blocks_are_flagged_and_kept(tmp_path: Path) -> None:
    plain = stallscope.load(str(OOMWRITE))
    lines = _lines(OOMWRITE)
    tasks = plain.tasks
    trace_line = _task_trace_lines(plain)
    first = int(plain.snapshots["line"].iloc[0])
    # 1-based line numbers of what each case touches; times are put below the line before.
    memalloc_line = int(tasks.at[0, "line"])
    state_line = int(tasks.at[1, "state_line"])
    trace_start = trace_line[2]
    for number in (memalloc_line, state_line, trace_start):
        lines[number - 1] = _restamp(lines[number - 1], 100.0)
    lines.insert(trace_line[3], "** 7 printk messages dropped **")  # after task 3's "Call Trace:"
    path = tmp_path / "corrupted.txt"
    path.write_text("\n".join(lines[first - 1:]) + "\n")
    got = stallscope.load(str(path), keep_unparsed=True)
    assert got.tasks["corrupted"].dropna().to_dict() == {
        0: "MemAlloc line: timestamp goes backwards",
        1: "task-state line: timestamp goes backwards",
        2: "first trace line: timestamp goes backwards",
        3: "7 messages dropped inside its block",
    }
    assert str(got.tasks["corrupted"].dtype) == schema.TABLES["tasks"].column("corrupted").dtype  # category
    # Nothing is dropped: every task keeps its state and trace.
    assert view(got)["tasks"]["stack"].tolist() == view(plain)["tasks"]["stack"].tolist()
    assert got.tasks["state"].astype(str).tolist() == plain.tasks["state"].astype(str).tolist()
    assert [u.text for u in got.unparsed if "dropped" in u.text] == ["** 7 printk messages dropped **"]
    slow = load_lines(str(path), iter_lines(str(path)), keep_unparsed=True)
    pd.testing.assert_frame_equal(got.tasks, slow.tasks, check_categorical=False)


# -- record-layer details ----------------------------------------------------------------------

def _records(*lines: str) -> list[tuple[object, ...]]:
    return [(r.line, r.host, r.ts, r.body, r.fmt, r.corrupted) for r in records("t", list(lines))]


def test_rsyslog_escaped_newlines_become_lines() -> None:
    line = ("Nov 26 08:00:01 h1 kernel: [  100.500000] Call Trace:#012 [<ffffffff8110b4a5>] schedule+0x35/0x80"
            "#012 [<ffffffff8110b4a6>] io_schedule+0x16/0x40#011tab")
    assert _records(line) == [
        (1, "h1", 100.5, "Call Trace:", "syslog", None),
        (1, "h1", 100.5, " [<ffffffff8110b4a5>] schedule+0x35/0x80", "syslog", None),
        (1, "h1", 100.5, " [<ffffffff8110b4a6>] io_schedule+0x16/0x40\ttab", "syslog", None),
    ]


def test_rfc5424_structured_data_is_skipped() -> None:
    sd = r'[meta sequenceId="7"][origin ip="10.0.0.1" note="a \] b"]'
    got = _records(f"<4>1 2026-11-26T08:00:02.5Z db1 kernel - - {sd} [  101.250000] MemAlloc: kswapd0(67)",
                   "<4>1 2026-11-26T08:00:02.6Z - kernel - - - [  101.260000] no host")
    assert got == [(1, "db1", 101.25, "MemAlloc: kswapd0(67)", "syslog-rfc5424", None),
                   (2, None, 101.26, "no host", "syslog-rfc5424", None)]


def test_backwards_timestamp_is_marked_per_host() -> None:
    got = _records("[  200.000000] a", "[  199.000000] b", "[  199.500000] c",
                   "Nov 26 08:00:01 h1 kernel: [  150.000000] d",  # another host: its own clock
                   "Nov 26 08:00:01 h1 kernel: [  149.000000] e")
    assert [(body, corrupted) for _, _, _, body, _, corrupted in got] == [
        ("a", None), ("b", "timestamp goes backwards"), ("c", None), ("d", None), ("e", "timestamp goes backwards")]


# -- the real CLI: directories, rotation, compression, pipes, errors ---------------------------

pytestmark_cli = pytest.mark.skipif(not CLI.exists(), reason="the stallscope console script is not installed")


def _analyze(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(CLI), "analyze", "--format", "json", *args], input=stdin, capture_output=True,
                          timeout=300, check=False)


def _summary(report: dict[str, object]) -> tuple[object, ...]:
    summary = report["summary"]
    assert isinstance(summary, dict)
    findings = [(f["rule"], f["severity"], f["tasks"]) for f in report["findings"]]  # type: ignore[attr-defined]
    return summary["snapshots"], summary["tasks"], summary["events"], findings


@pytest.fixture(scope="module")
def plateau_report() -> dict[str, object]:
    result = _analyze(str(PLATEAU))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytestmark_cli
def test_cli_directory_reads_rotated_logs_oldest_first(tmp_path: Path, plateau_report: dict[str, object]) -> None:
    lines = PLATEAU.read_bytes().splitlines(keepends=True)
    reports = [i for i, line in enumerate(lines) if b"MemAlloc-Info:" in line]
    cut1, cut2 = reports[3], reports[6]  # cut between watchdog reports, so no block is split
    logs = tmp_path / "var" / "log"
    logs.mkdir(parents=True)
    (logs / "kern.log.2.gz").write_bytes(gzip.compress(b"".join(lines[:cut1])))
    (logs / "kern.log.1").write_bytes(b"".join(lines[cut1:cut2]))
    (logs / "kern.log").write_bytes(b"".join(lines[cut2:]))
    result = _analyze(str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    inputs = report["inputs"]
    assert [Path(i["path"]).name for i in inputs] == ["kern.log.2.gz", "kern.log.1", "kern.log"]
    assert [i["compression"] for i in inputs] == ["gzip", None, None]
    assert sum(i["physical_lines"] for i in inputs) == len(lines)
    assert _summary(report)[:3] == _summary(plateau_report)[:3]
    assert report["summary"]["first_ts"] == plateau_report["summary"]["first_ts"]  # type: ignore[index]
    # Read newest first (or by name), the watchdog reports would not be in time order.
    assert stallscope.load(str(tmp_path)).snapshots["ts"].is_monotonic_increasing


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gz": gzip.compress,
    "xz": lzma.compress,
    "bz2": bz2.compress,
}
try:
    import zstandard

    COMPRESSORS["zst"] = lambda data: zstandard.ZstdCompressor().compress(data)
except ImportError:  # the zstd case then checks the one-line error instead
    pass


@pytestmark_cli
@pytest.mark.parametrize("suffix", ["gz", "xz", "bz2", "zst"])
def test_cli_compressed_input_and_stream(suffix: str, tmp_path: Path, plateau_report: dict[str, object]) -> None:
    if suffix not in COMPRESSORS:
        pytest.skip("zstandard is not installed")
    data = COMPRESSORS[suffix](PLATEAU.read_bytes())
    path = tmp_path / f"dmesg.{suffix}"
    path.write_bytes(data)
    for args, stdin in (((str(path),), None), (("-",), data)):
        result = _analyze(*args, stdin=stdin)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert _summary(report) == _summary(plateau_report)
        assert report["inputs"][0]["lines"] == plateau_report["inputs"][0]["lines"]  # type: ignore[index]


@pytestmark_cli
def test_cli_plain_stream(plateau_report: dict[str, object]) -> None:
    result = _analyze("-", stdin=PLATEAU.read_bytes())
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["inputs"][0]["path"] == "-"
    assert _summary(report) == _summary(plateau_report)


@pytestmark_cli
@pytest.mark.parametrize("case", ["empty-directory", "missing-path"])
def test_cli_unreadable_input_is_one_line_and_exit_1(case: str, tmp_path: Path) -> None:
    target = tmp_path / "empty"
    if case == "empty-directory":
        (target / "sub").mkdir(parents=True)
        (target / ".hidden").write_text("[    1.000000] not a log to read\n")
    result = _analyze(str(PLATEAU), str(target))
    assert result.returncode == 1
    assert result.stdout == b""
    error = result.stderr.decode()
    assert error.count("\n") == 1 and "Traceback" not in error
    assert str(target) in error
    assert ("holds no log file" if case == "empty-directory" else "no such file") in error
