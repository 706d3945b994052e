"""Every plain-dmesg log of the corpus, re-prefixed the way each other capture path would have
written it (prefix built from the log's own timestamps), must give the same tables and findings."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

import stallscope
from conftest import DATA

BOOT = datetime(2026, 11, 26, 8, 0, 0, tzinfo=timezone.utc)
_TS = re.compile(r"\[\s*(\d+\.\d+)\] ?")
Render = Callable[[float, str], str]


def _wall(ts: float) -> datetime:
    return BOOT + timedelta(seconds=ts)


def _json(ts: float, body: str) -> str:
    return json.dumps({"MESSAGE": body, "_SOURCE_MONOTONIC_TIMESTAMP": str(round(ts * 1e6)),
                       "_HOSTNAME": "h1", "PRIORITY": "4"})


# name -> (render of one timestamped line, whether the style keeps the monotonic time)
STYLES: dict[str, tuple[Render, bool]] = {
    "dmesg-T": (lambda ts, b: f"[{_wall(ts):%a %b %d %H:%M:%S %Y}] {b}", False),
    "dmesg-x": (lambda ts, b: f"kern  :warn  : [{ts:12.6f}] {b}", True),
    "dmesg-raw": (lambda ts, b: f"<4>[{ts:12.6f}] {b}", True),
    "dmesg-iso": (lambda ts, b: f"{_wall(ts).isoformat(timespec='microseconds').replace('.', ',')} {b}", False),
    "dmesg-relative": (lambda ts, b: f"[  +{ts % 1:.6f}] {b}", False),
    "caller-glued": (lambda ts, b: f"[{ts:12.6f}][   T31] {b}", True),
    "caller-cpu": (lambda ts, b: f"[{ts:12.6f}][    C3] {b}", True),
    "caller-spaced": (lambda ts, b: f"[{ts:12.6f}] [T123] {b}", True),
    "kmsg": (lambda ts, b: f"4,{int(ts * 1000)},{round(ts * 1e6)},-;{b}", True),
    "kmsg-caller": (lambda ts, b: f"4,{int(ts * 1000)},{round(ts * 1e6)},-,caller=T42;{b}", True),
    "netconsole-ext": (lambda ts, b: f"4,{int(ts * 1000)},{round(ts * 1e6)},-,ncfrag=0/{len(b)};{b}", True),
    "syslog": (lambda ts, b: f"{_wall(ts):%b %e %H:%M:%S} h1 kernel: [{ts:12.6f}] {b}", True),
    "syslog-no-ts": (lambda ts, b: f"{_wall(ts):%b %e %H:%M:%S} h1 kernel: {b}", False),
    "syslog-level-tag": (lambda ts, b: f"{_wall(ts):%b %e %H:%M:%S} h1 kernel: <kern.warning> [{ts:12.6f}] {b}", True),
    "rfc3339": (lambda ts, b: f"{_wall(ts).isoformat(timespec='microseconds')} h1 kernel: [{ts:12.6f}] {b}", True),
    "rfc5424": (lambda ts, b: f"<4>1 {_wall(ts).isoformat()} h1 kernel - - - [{ts:12.6f}] {b}", True),
    "journal-short-monotonic": (lambda ts, b: f"[{ts:12.6f}] h1 kernel: {b}", True),
    "journal-short-full": (lambda ts, b: f"{_wall(ts):%a %Y-%m-%d %H:%M:%S} UTC h1 kernel: {b}", False),
    "journal-short-unix": (lambda ts, b: f"{_wall(ts).timestamp():.6f} h1 kernel: {b}", False),
    "journal-json": (_json, True),
}


# printk's timestamp anywhere in a line, and a CONFIG_PRINTK_CALLER id right after it.
_STAMP = re.compile(r"\[\s*\d+\.\d{6}\]")
_CALLER = re.compile(r"\[\s*\d+\.\d+\]\[\s*[TC]\d+\]")
# Styles that have no place for a printk caller id: /dev/kmsg and netconsole carry it in their
# header ("caller=T42"), journald drops it. A log that already carries caller ids is not restyled
# in them (the id would be left in the message text, which no capture does), nor with another
# caller id of the test's own (the caller-* styles: a line has one caller).
_NO_CALLER_STYLES = ("caller-", "kmsg", "netconsole-ext", "journal-")


# Styles whose every line is one whole printk record: a console splice cannot occur in them.
_RECORD_STYLES = ("kmsg", "netconsole-ext")


def _plain_dmesg_logs() -> list[Path]:
    logs = []
    for path in sorted(DATA.rglob("*.log")):
        lines = path.read_text(errors="replace").splitlines()
        if not lines or " kernel: " in lines[0] or sum(1 for x in lines if _TS.match(x)) < 0.8 * len(lines):
            continue
        if any(not _TS.match(x) and _STAMP.search(x) for x in lines):
            # printk's time after something else at the start of a line (a shell prompt on a
            # serial console, "** 3 printk messages dropped **"): restyle() leaves such a line
            # as it is, in its console form among re-prefixed lines, which no capture writes.
            continue
        logs.append(path)
    return logs


LOGS = _plain_dmesg_logs()
_WITH_CALLER = {p for p in LOGS if _CALLER.search(p.read_text(errors="replace"))}
# Logs with a line that holds a second printk time after its own: two records spliced on a console.
_WITH_SPLICE = {p for p in LOGS if any(len(_STAMP.findall(x)) > 1 for x in p.read_text(errors="replace").splitlines())}


def restyle(source: Path, target: Path, render: Render) -> None:
    pad, last = "", 0.0
    with source.open(errors="replace") as old, target.open("w") as new:
        for text in old:
            text = text.rstrip("\n")
            match = _TS.match(text)
            if match:
                last, pad = float(match.group(1)), " " * match.end()
                text = render(last, text[match.end():])
            elif pad and text.startswith(pad):  # a later line of a multi-line record
                text = render(last, text[len(pad):])
            new.write(text + "\n")


def _tables(capture: stallscope.Capture, keep_ts: bool) -> dict[str, pd.DataFrame]:
    dropped = ["source", "host"] + ([] if keep_ts else ["ts"])
    tables = {n: getattr(capture, n).drop(columns=dropped, errors="ignore").reset_index(drop=True)
              for n in ("snapshots", "tasks", "events", "traces", "frames")}
    if not keep_ts:
        # Without printk's time nothing can say a timestamp went backwards: that reason is
        # compared only where the style keeps the time.
        tables["tasks"]["corrupted"] = tables["tasks"]["corrupted"].map(_without_time_reasons).astype("string")
    return tables


def _without_time_reasons(why: object) -> object:
    if not isinstance(why, str):
        return pd.NA
    kept = [part for part in why.split("; ") if "timestamp goes backwards" not in part]
    return "; ".join(kept) if kept else pd.NA


def _findings(capture: stallscope.Capture) -> list[tuple[str, list[str], list[int]]]:
    return [(f.rule, [t.comm for t in f.tasks], [e.line for e in f.evidence])
            for f in stallscope.diagnose(capture)]


def test_corpus_has_plain_dmesg_logs() -> None:
    assert len(LOGS) >= 15


@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize("log", LOGS, ids=[p.stem[:48] for p in LOGS])
def test_restyled_log_gives_the_same_capture(log: Path, style: str, tmp_path: Path) -> None:
    render, keeps_ts = STYLES[style]
    if style == "journal-json" and any(not _TS.match(x) for x in log.read_text(errors="replace").splitlines()):
        pytest.skip("journald has no lines without a kernel record")
    if log in _WITH_CALLER and style.startswith(_NO_CALLER_STYLES):
        pytest.skip("the log carries printk caller ids, which this style has no place for")
    if log in _WITH_SPLICE and style.startswith(_RECORD_STYLES):
        pytest.skip("a record printed into another on a serial console (a second printk time inside a line): "
                    "/dev/kmsg and netconsole carry whole records, which never hold one")
    target = tmp_path / f"{log.stem}.{style}"
    restyle(log, target, render)
    plain = stallscope.load(str(log))
    if not keeps_ts and plain.inputs[0].repaired.get("newline-joined"):
        pytest.skip("a multi-line record joined back: restyled, its later lines are records of their own, "
                    "which without printk's time cannot be told from new messages of the same second")
    other = stallscope.load(str(target))
    for name, frame in _tables(plain, keeps_ts).items():
        pd.testing.assert_frame_equal(_tables(other, keeps_ts)[name], frame, check_dtype=False,
                                      check_categorical=False, obj=name)
    if keeps_ts:
        assert _findings(other) == _findings(plain)
    assert other.inputs[0].unparsed == plain.inputs[0].unparsed
