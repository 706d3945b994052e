"""Capture families for the benchmark, each built from the real logs of tests/data (never from
typed kernel lines), repeated to size with timestamps and counters advancing: the watchdog's
oom_count, delay and switches grow, and each later Mem-Info dump and OOM task table prints other
page counts and rss (a real capture's dumps differ, so their lines cannot all share one parse).

    python bench/families.py FAMILY SIZE OUT [--seed 1]

Families:

- ``serial``: what a serial console records of a machine that keeps stalling and being
  rebooted: a real boot log, the distribution's console banner and login prompt, systemd status
  lines, then real incidents (watchdog reports with traces, OOM storms with task tables and
  Mem-Info, hung tasks) one after another, ``** N printk messages dropped **``, CRLF line ends,
  blank lines; each reboot starts the kernel's clock again.
- ``excerpts``: back-to-back watchdog reports as mailing-list posts show them: MemAlloc-Info and
  MemAlloc lines without traces, ``(...snipped...)`` between them.
- ``fleet``: eight hosts through syslog (RFC 3164, ``kernel: [ts]``) and netconsole receivers
  (RFC 3339), interleaved by wall time.
- ``journal-short``: ``journalctl -k -o short-monotonic`` of several boots.
- ``journal-json``: ``journalctl -k -o json`` of the same.
- ``synthetic``: bench/make_log.py's family (four hosts, evolving tasks, real traces).

The same family, size and seed give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "tests" / "data"
sys.path.insert(0, str(HERE))

from make_log import generate, parse_size  # noqa: E402 - the synthetic family lives there

_DMESG = re.compile(r"^\[\s*(\d+\.\d+)\] ?")
# Counters that move from one report to the next in a real capture.
_COUNTERS = re.compile(r"\b(oom_count|delay|switches)=(\d+)")
# A real capture's Mem-Info dumps differ from one another (free pages, page counters, the free
# lists); only the zones' watermarks and sizes stay. Repeating one dump verbatim would let the
# reader share each line's fields among all its copies, which no real capture allows.
_MEMINFO_LINE = re.compile(r"\dkB\b|^\s*[a-z_]+:\d+\s+[a-z_]+:\d+|\bpagecache pages\b|\bpages in swap cache\b")
# What moves: "name:123", "name:123kB", the "12*" counts of a free list (not the block size after
# the star), "= 15908kB", "N total pagecache pages"; never a pid or a size after "=".
_MEMINFO_VALUE = re.compile(r"(?<![\w*.\[=])(?:([a-z_()]+:)(\d+)|(\d+)(?=kB\b|\*|\s+total pagecache|\s+pages in swap))")
_FIXED_MEMINFO = frozenset({"min:", "low:", "high:", "present:", "managed:", "reserved_highatomic:", "boost:",
                            "spanned:", "protection:", "hugepages_size:"})
# "[  pid]   uid  tgid total_vm      rss ...": a task of an OOM report's table.
_OOM_TASK_ROW = re.compile(r"(\[\s*\d+\]\s+\d+\s+\d+\s+\d+\s+)(\d+)")
FAMILIES = ("serial", "excerpts", "fleet", "journal-short", "journal-json", "synthetic")
BOOT = datetime(2026, 11, 26, 8, 0, 0, tzinfo=timezone.utc)


def _timed_lines(path: Path) -> list[tuple[float, str]]:
    """(seconds since boot, body) of every line of a plain-dmesg log that carries printk's time;
    lines without one keep the time of the line before."""
    out: list[tuple[float, str]] = []
    last = 0.0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _DMESG.match(line)
        if match is not None:
            last = float(match.group(1))
            out.append((last, line[match.end():]))
    return out


def _plain(folder: str, wanted: str = "") -> list[list[tuple[float, str]]]:
    logs = []
    for path in sorted((DATA / folder).glob("*.log")):
        lines = _timed_lines(path)
        if len(lines) > 20 and (not wanted or any(wanted in body for _, body in lines)):
            logs.append(lines)
    return logs


def _incidents() -> list[list[tuple[float, str]]]:
    """Real incidents: watchdog captures with traces, OOM storms, hung tasks, allocation stalls."""
    found = _plain("lkml", "MemAlloc") + _plain("memalloc-qemu") + _plain("wild", "MemAlloc")
    for name in ("oom-global", "oom-stuck-victim", "memcg-oom", "hung-task-fsfreeze", "warn-alloc-failure",
                 "thrash-nooom-sysrq-m"):
        found += [_timed_lines(DATA / "qemu" / f"{name}.log")]
    return [lines for lines in found if lines]


def _advance(body: str, step: int) -> str:
    """A body as a later report would print it: oom_count, delay and switches grown; a Mem-Info
    dump's counters and an OOM task table's rss moved a little (:func:`_moved`)."""
    if "=" in body:
        body = _COUNTERS.sub(
            lambda m: f"{m.group(1)}={int(m.group(2)) + step * (7 if m.group(1) == 'switches' else 997)}", body)
    if _MEMINFO_LINE.search(body) and not body.startswith("Total swap"):
        return _MEMINFO_VALUE.sub(lambda m: _moved(m, step), body)
    row = _OOM_TASK_ROW.match(body)
    if row is not None:
        rss = int(row.group(2))
        return f"{row.group(1)}{rss + _jitter(rss, step, 0):>{len(row.group(2))}}{body[row.end():]}"
    return body


def _jitter(value: int, step: int, place: int) -> int:
    """Up to about 3% either way, the same for the same value, step and place in the line."""
    spread = value // 32
    return (step * 2_654_435_761 + place * 40_503) % (2 * spread + 1) - spread if spread else 0


def _moved(match: re.Match[str], step: int) -> str:
    name, value = match.group(1), match.group(2) or match.group(3)
    if name in _FIXED_MEMINFO:
        return match.group(0)
    number = int(value)
    return f"{name or ''}{number + _jitter(number, step, match.start())}"


def _replay(rng: random.Random, incidents: list[list[tuple[float, str]]], start: float) -> Iterator[tuple[float, str]]:
    """Incidents one after another from ``start`` on, each shifted to follow the one before."""
    clock = start
    step = 0
    while True:
        lines = rng.choice(incidents)
        last = lines[0][0]
        step += 1
        for ts, body in lines:
            # A real log may hold excerpts of several boots, its clock restarting between them; the
            # capture's clock only goes on (a kernel never prints a negative time).
            clock += ts - last if ts >= last else 0.000_1
            last = ts
            yield clock, _advance(body, step)
        clock += rng.uniform(5, 120)


def serial(size: int, out: Path, rng: random.Random) -> None:
    boot = _timed_lines(DATA / "qemu" / "oom-global.log")
    boot = [(ts, body) for ts, body in boot if ts < 3.0] or boot[:200]
    incidents = _incidents()
    banner = ["", "Ubuntu 16.04.2 LTS stress ttyS0", "", "stress login: "]
    units = ["Started Journal Service.", "Started Load Kernel Modules.", "Reached target Local File Systems.",
             "Started Network Manager.", "Started OpenSSH server daemon."]
    written = 0
    with out.open("wb") as sink:
        while written < size:
            lines: list[str] = [f"[{ts:12.6f}] {body}" for ts, body in boot]
            lines += [f"[  OK  ] {unit}" for unit in units] + banner
            for n, (ts, body) in enumerate(_replay(rng, incidents, boot[-1][0] + 30)):
                if n and n % 5000 == 0:
                    lines.append(f"** {rng.randint(2, 400)} printk messages dropped **")
                lines.append(f"[{ts:12.6f}] {body}")
                if n > rng.randint(20_000, 60_000):
                    break
            chunk = ("\r\n".join(lines) + "\r\n").encode()
            sink.write(chunk)
            written += len(chunk)


def excerpts(size: int, out: Path, rng: random.Random) -> None:
    reports: list[list[tuple[float, str]]] = []
    for lines in _plain("lkml", "MemAlloc") + _plain("wild", "MemAlloc") + _plain("memalloc-qemu"):
        current: list[tuple[float, str]] = []
        for ts, body in lines:
            if body.startswith("MemAlloc-Info"):
                if len(current) > 1:
                    reports.append(current)
                current = [(ts, body)]
            elif body.startswith("MemAlloc:") and current:
                current.append((ts, body))
        if len(current) > 1:
            reports.append(current)
    written = 0
    with out.open("w", encoding="utf-8") as sink:
        for n, (ts, body) in enumerate(_replay(rng, reports, 100.0)):
            line = f"[{ts:12.6f}] {body}\n"
            if n % 400 == 399:
                line += "(...snipped...)\n"
            sink.write(line)
            written += len(line)
            if written >= size:
                break


def fleet(size: int, out: Path, rng: random.Random) -> None:
    incidents = _incidents()
    hosts = []
    for i in range(8):
        stream = _replay(random.Random(rng.random()), incidents, rng.uniform(100, 5000))
        hosts.append((f"node{i:02d}", "syslog" if i % 2 else "netconsole", stream, next(stream), rng.uniform(0, 600)))
    written = 0
    with out.open("w", encoding="utf-8") as sink:
        while written < size:
            # The host whose next line is the earliest on the wall clock.
            at = min(range(len(hosts)), key=lambda k: hosts[k][3][0] + hosts[k][4])
            name, style, stream, (ts, body), offset = hosts[at]
            wall = BOOT + timedelta(seconds=ts + offset)
            if style == "syslog":
                line = f"{wall:%b} {wall.day:2d} {wall:%H:%M:%S} {name} kernel: [{ts:12.6f}] {body}\n"
            else:
                line = f"{wall:%Y-%m-%dT%H:%M:%S}.{wall.microsecond:06d}+00:00 {name} [{ts:12.6f}] {body}\n"
            sink.write(line)
            written += len(line)
            hosts[at] = (name, style, stream, next(stream), offset)


def _journal(size: int, out: Path, rng: random.Random, as_json: bool) -> None:
    incidents = _incidents()
    written = 0
    boot_id = f"{rng.getrandbits(128):032x}"
    with out.open("w", encoding="utf-8") as sink:
        for n, (ts, body) in enumerate(_replay(rng, incidents, 50.0)):
            if n % 200_000 == 0:
                boot_id = f"{rng.getrandbits(128):032x}"
            if as_json:
                wall = int((BOOT.timestamp() + ts) * 1e6)
                line = json.dumps({
                    "__CURSOR": f"s=0;i={n:x};b={boot_id}", "__REALTIME_TIMESTAMP": str(wall),
                    "__MONOTONIC_TIMESTAMP": str(int(ts * 1e6) + 17), "_BOOT_ID": boot_id, "_TRANSPORT": "kernel",
                    "PRIORITY": "4", "SYSLOG_FACILITY": "0", "SYSLOG_IDENTIFIER": "kernel", "_HOSTNAME": "stress",
                    "_SOURCE_MONOTONIC_TIMESTAMP": str(int(ts * 1e6)), "MESSAGE": body,
                }) + "\n"
            else:
                line = f"[{ts:12.6f}] stress kernel: {body}\n"
            sink.write(line)
            written += len(line)
            if written >= size:
                break


def build(family: str, size: int, out: Path, seed: int) -> None:
    rng = random.Random(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    if family == "synthetic":
        generate(size, out, seed, 4, 200)
    elif family == "serial":
        serial(size, out, rng)
    elif family == "excerpts":
        excerpts(size, out, rng)
    elif family == "fleet":
        fleet(size, out, rng)
    elif family in ("journal-short", "journal-json"):
        _journal(size, out, rng, family == "journal-json")
    else:
        raise SystemExit(f"unknown family {family!r} (one of {', '.join(FAMILIES)})")


def with_odd_lines(source: Path, out: Path, every: int = 10_000) -> None:
    """The cliff test's input: ``source`` with one line no kernel printed (a blank line, a console
    banner, user-space text) every ``every`` lines."""
    odd = [b"", b"Ubuntu 16.04.2 LTS stress ttyS0", b"stress login: root", b"+ ./run-test.sh 17"]
    with source.open("rb") as old, out.open("wb") as new:
        for n, line in enumerate(old):
            if n and n % every == 0:
                new.write(odd[(n // every) % len(odd)] + b"\n")
            new.write(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("family", choices=FAMILIES)
    parser.add_argument("size", help="target size, e.g. 100M or 1G")
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    build(args.family, parse_size(args.size), args.out, args.seed)


if __name__ == "__main__":
    main()
