"""One incident captured every way (corpus qemu/formats, plus real journalctl renderings):
each capture must give the kernel records, and so the DataFrames, of the plain dmesg capture."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import stallscope
from conftest import DATA
from stallscope.records.stream import records
from stallscope.sources.reader import iter_lines

FORMATS = DATA / "qemu" / "formats"
JOURNAL = DATA / "formats" / "journal"
# The same incident's raw buffer (formats-busybox-dmesg-r.log) rendered by util-linux dmesg
# --file with each of its timestamp options (tests/data/formats/dmesg/render.sh).
DMESG = DATA / "formats" / "dmesg"
REFERENCE = FORMATS / "formats-dmesg.log"
JOURNAL_MODES = ("short", "short-full", "short-iso", "short-iso-precise", "short-precise",
                 "short-monotonic", "short-unix", "cat", "json", "export", "short-delta", "with-unit",
                 "verbose", "json-pretty", "json-seq", "json-sse", "short-no-hostname",
                 "short-monotonic-no-hostname")
# The console prints only messages above the console loglevel: a subset of dmesg.
CONSOLE = {"formats-serial.log", "formats-netconsole.log", "formats-netconsole-ext.log"}


def _kernel_text(body: str) -> str:
    # journalctl's text modes print a tab as blanks; the grammars do not care which. The scenario
    # script's own /dev/kmsg lines carry a program tag that some modes print and others drop.
    return body.replace("\t", " " * 8).removeprefix("stallscope-guest: ")


def kernel_records(path: Path) -> list[tuple[float | None, str]]:
    return [(r.ts, _kernel_text(r.body)) for r in records(str(path), iter_lines(str(path)))]


def reference(with_ts: bool) -> list[tuple[float | None, str]]:
    return [(ts if with_ts else None, body) for ts, body in kernel_records(REFERENCE)]


def captures() -> list[object]:
    paths = [p for p in sorted(FORMATS.iterdir()) if p.suffix in (".log", ".txt") and p != REFERENCE]
    paths += [JOURNAL / f"journalctl-k-{mode}.txt" for mode in JOURNAL_MODES]
    paths += sorted(DMESG.glob("dmesg-*.txt"))
    return [pytest.param(p, id=f"{p.parent.name}/{p.stem}") for p in paths]


def _tables(capture: stallscope.Capture) -> dict[str, pd.DataFrame]:
    dropped = ["source", "line", "state_line", "frame_line", "ts", "host"]  # where the lines sit differs by format
    return {
        name: getattr(capture, name).drop(columns=dropped, errors="ignore").reset_index(drop=True)
        for name in ("snapshots", "tasks", "events", "traces", "frames")
    }


@pytest.mark.parametrize("path", captures())
def test_capture_gives_the_dmesg_records(path: Path) -> None:
    got = kernel_records(path)
    with_ts = any(ts is not None for ts, _ in got)
    expected = reference(with_ts)
    if path.name in CONSOLE:
        missing = [r for r in got if r not in expected]
        assert missing[:1] == [] or all("Unexpected TXQ" in b or "S5" in b or "Power down" in b
                                         for _, b in missing)
        assert len(got) >= len(expected) - 14
    else:
        assert got == expected


@pytest.mark.parametrize("path", [p for p in captures() if p.values[0].name not in CONSOLE])  # type: ignore[attr-defined]
def test_capture_gives_the_dmesg_dataframes(path: Path) -> None:
    got = _tables(stallscope.load(str(path)))
    expected = _tables(stallscope.load(str(REFERENCE)))
    assert len(expected["traces"]) > 0  # the OOM reports' call traces
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, check_dtype=False, check_categorical=False, obj=name)


def test_journal_fields_are_kept() -> None:
    recs = list(records("j", iter_lines(str(JOURNAL / "journalctl-k-json.txt"))))
    first = recs[0]
    assert (first.host, first.ts, first.level, first.fmt) == ("guest", 0.0, 5, "journal-json")
    assert first.wall == "2026-11-26T08:33:40.219650+00:00"
    monotonic = list(records("m", iter_lines(str(JOURNAL / "journalctl-k-short-monotonic.txt"))))
    assert [r.ts for r in monotonic] == [r.ts for r in recs]
    short = list(records("s", iter_lines(str(JOURNAL / "journalctl-k-short.txt"))))
    assert all(r.ts is None for r in short)  # the wall clock is not a monotonic time
    assert short[0].wall == "--11-26T08:33:40" and short[0].host == "guest"


def test_journal_json_message_as_byte_array(tmp_path: Path) -> None:
    line = {"MESSAGE": list(b"Call Trace:\n <TASK>"), "_SOURCE_MONOTONIC_TIMESTAMP": "12591030",
            "_HOSTNAME": "db1", "PRIORITY": "4"}
    path = tmp_path / "bytes.json"
    path.write_text(json.dumps(line) + "\n")
    assert [(r.host, r.ts, r.body) for r in records(str(path), iter_lines(str(path)))] == [
        ("db1", 12.59103, "Call Trace:"), ("db1", 12.59103, " <TASK>")]


def test_journal_export_lines_point_into_the_file() -> None:
    path = JOURNAL / "journalctl-k-export.txt"
    text = path.read_bytes().split(b"\n")
    for record in records(str(path), iter_lines(str(path))):
        if record.body.startswith("Mem-Info:"):
            # the entry starts at its __CURSOR line
            assert text[record.line - 1].startswith(b"__CURSOR=")
            break
    else:
        pytest.fail("no Mem-Info entry")


_RENDER = shutil.which("journalctl") and os.path.exists("/lib/systemd/systemd-journal-remote")


@pytest.mark.skipif(not _RENDER, reason="needs journalctl and systemd-journal-remote")
def test_journal_fixtures_are_what_journalctl_renders(tmp_path: Path) -> None:
    subprocess.run([str(JOURNAL / "render.sh"), str(FORMATS / "formats-journalctl-k-export.txt"),
                    str(tmp_path)], check=True, timeout=120)
    for mode in JOURNAL_MODES:
        fresh = (tmp_path / f"journalctl-k-{mode}.txt").read_bytes()
        kept = (JOURNAL / f"journalctl-k-{mode}.txt").read_bytes()
        if mode.startswith("json"):  # key order and the cursor (it names the journal file) vary per render
            assert _entries(fresh, mode) == _entries(kept, mode), mode
        elif mode == "export":
            assert _without_cursor(fresh) == _without_cursor(kept), mode
        elif mode == "verbose":
            assert _VERBOSE_CURSOR.sub(b"", fresh) == _VERBOSE_CURSOR.sub(b"", kept), mode
        else:
            assert fresh == kept, mode


# The journal file's id in the cursor of each verbose entry's head line.
_VERBOSE_CURSOR = re.compile(rb"\[s=[0-9a-f]+;")


def _entries(data: bytes, mode: str) -> list[dict[str, object]]:
    if mode == "json-pretty":
        texts = [b"{" + chunk for chunk in data.split(b"\n{")]
        texts[0] = texts[0][1:]
    else:  # json, json-seq (a record separator first), json-sse ("data: " first, a blank after)
        texts = [line.lstrip(b"\x1e").removeprefix(b"data: ") for line in data.splitlines() if line]
    entries = [json.loads(text) for text in texts]
    for entry in entries:
        entry.pop("__CURSOR", None)
    return entries


def _without_cursor(data: bytes) -> list[bytes]:
    return [line for line in data.split(b"\n") if not line.startswith(b"__CURSOR=")]


def test_journalctl_json_piped_into_analyze() -> None:
    data = (JOURNAL / "journalctl-k-json.txt").read_bytes()
    result = subprocess.run(
        [sys.executable, "-c", "from stallscope.cli import main; main()", "analyze", "--format", "json", "-"],
        input=data, capture_output=True, timeout=120, check=False,
    )
    assert result.returncode in (0, 1, 2, 3), result.stderr
    report = json.loads(result.stdout)
    text = json.dumps(report)
    assert "journal-json" in text
