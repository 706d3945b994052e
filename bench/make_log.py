"""Generate a large, realistic watchdog capture from the real logs in tests/data.

    python bench/make_log.py 100M bench/out/100M.log [--seed 1] [--hosts 4]

The output interleaves several hosts (syslog and RFC 3339 receiver prefixes, and plain dmesg
for the first host), each with hundreds of tasks whose seq/delay/switches evolve across
watchdog reports, call traces taken from real MemAlloc blocks, and unrelated kernel messages
from the QEMU captures in between. The same seed and size give the same bytes.
"""

from __future__ import annotations

import argparse
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
_DMESG = re.compile(r"^\[\s*\d+\.\d+\] ?")
_MEMALLOC = re.compile(r"MemAlloc: (.+)\((\d+)\) ")


def _bodies(path: Path) -> list[str]:
    return [_DMESG.sub("", line.rstrip("\r\n"), count=1) for line in path.open(encoding="utf-8", errors="replace")]


def harvest_traces() -> list[tuple[str, list[str]]]:
    """(gfp text, the lines after a MemAlloc line up to the next one) from real MemAlloc blocks."""
    blocks: list[tuple[str, list[str]]] = []
    for path in sorted((DATA / "lkml").glob("*.log")) + sorted((DATA / "memalloc-qemu").glob("*.log")):
        lines = _bodies(path)
        for i, body in enumerate(lines):
            if not body.startswith("MemAlloc: ") or "in-flight" in body:
                continue
            block: list[str] = []
            for follow in lines[i + 1 : i + 80]:
                if follow.startswith(("MemAlloc", "(...snipped", "--")) or not follow.strip():
                    break
                block.append(follow)
            gfp = body.split(" gfp=", 1)[1].split(" order=")[0] if " gfp=" in body else ""
            if block:
                blocks.append((gfp, block))
    return blocks


def harvest_noise() -> list[str]:
    noise: list[str] = []
    for path in sorted((DATA / "qemu").glob("*.log")):
        noise += [b for b in _bodies(path) if b.strip() and "MemAlloc" not in b]
    return noise


@dataclass
class Task:
    comm: str
    pid: int
    seq: int
    switches: int
    delay: int
    block: list[str]
    gfp: str
    stuck: bool


_NEW_STATE = re.compile(r"task:(\S+)")
_NEW_PID = re.compile(r"\bpid:\d+ *")
# Old layout: "comm  D [stack pointer] free-stack pid ppid 0xflags": pid is the number before ppid.
_OLD_PID = re.compile(r"(\s+)(\d+)(\s+\d+\s+0x[0-9a-f]+\s*)$")


def _as_task(block: list[str], pid: int) -> tuple[str | None, list[str]]:
    """The block's task name, and the block with its task-state line naming ``pid``.

    The watchdog prints a task's state line right after its MemAlloc line, for the same pid; a
    block reused for another task must say so, or no reader would tie the two together.
    """
    out = list(block)
    for i, line in enumerate(out):
        new = _NEW_STATE.search(line)
        if new is not None and _NEW_PID.search(line):
            out[i] = _NEW_PID.sub(lambda m: f"pid:{pid:<5} ", line, count=1)
            return new.group(1), out
        old = _OLD_PID.search(line)
        if old is not None and i == 0:
            width = len(old.group(1)) + len(old.group(2))
            out[i] = line[: old.start()] + f"{pid:>{width}}" + old.group(3)
            return line[:15].strip() or None, out
    return None, out


def make_tasks(rng: random.Random, blocks: list[tuple[str, list[str]]], count: int) -> list[Task]:
    comms = ["systemd-journal", "kworker/u8:3", "oom-write", "a.out", "rsync", "java", "postgres", "nginx",
             "DOM Worker"]
    tasks = []
    for i in range(count):
        gfp, block = rng.choice(blocks)
        comm, block = _as_task(block, 1000 + i)
        tasks.append(
            Task(
                comm=comm or rng.choice(comms),
                pid=1000 + i,
                seq=rng.randint(1, 50000),
                switches=rng.randint(10, 90000),
                delay=rng.randint(1000, 20000),
                block=block,
                gfp=gfp or "0x14201ca(GFP_HIGHUSER_MOVABLE|__GFP_COLD)",
                stuck=rng.random() < 0.3,
            )
        )
    return tasks


class Host:
    def __init__(self, rng: random.Random, name: str, style: str, blocks: list[tuple[str, list[str]]], tasks: int):
        self.rng = rng
        self.name = name
        self.style = style
        self.tasks = make_tasks(rng, blocks, tasks)
        self.uptime = rng.uniform(100, 5000)
        self.wall = datetime(2026, 11, 26, 8, 0, 0) + timedelta(seconds=rng.uniform(0, 600))
        self.oom_count = rng.randint(0, 1000)
        self.plateau = rng.random() < 0.5

    def prefix(self, ts: float) -> str:
        stamp = f"[{ts:12.6f}] "
        wall = self.wall + timedelta(seconds=ts - self.uptime)
        if self.style == "dmesg":
            return stamp
        if self.style == "syslog":
            return f"{wall:%b} {wall.day:2d} {wall:%H:%M:%S} {self.name} kernel: {stamp}"
        return f"{wall:%Y-%m-%dT%H:%M:%S}.{wall.microsecond:06d}+03:00 {self.name} {stamp}"

    def report(self, noise: list[str]) -> list[str]:
        rng = self.rng
        self.uptime += rng.uniform(10, 60)
        if not self.plateau:
            self.oom_count += rng.randint(1, 5000)
        stalling = [t for t in self.tasks if rng.random() < 0.6]
        info = (
            f"MemAlloc-Info: stalling={len(stalling)} dying=1 exiting=0 victim=1 oom_count={self.oom_count}"
        )
        ts = self.uptime
        out = [self.prefix(ts) + info]
        for task in stalling:
            task.delay += rng.randint(5000, 40000)
            task.switches += 0 if task.stuck else rng.randint(1, 500)
            if not task.stuck and rng.random() < 0.5:
                task.seq += 1
            ts += 0.0004
            out.append(
                self.prefix(ts)
                + f"MemAlloc: {task.comm}({task.pid}) flags=0x400840 switches={task.switches} seq={task.seq} "
                f"gfp={task.gfp} order=0 delay={task.delay} uninterruptible"
            )
            for body in task.block:
                ts += 0.00003
                out.append(self.prefix(ts) + body)
            if rng.random() < 0.05:
                out.append(self.prefix(ts) + rng.choice(noise))
        out.append(self.prefix(ts + 0.001) + info)
        for _ in range(rng.randint(5, 40)):
            ts += rng.uniform(0.001, 0.5)
            out.append(self.prefix(ts) + rng.choice(noise))
        return out


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper()
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def generate(size: int, out: Path, seed: int, hosts: int, tasks: int) -> None:
    rng = random.Random(seed)
    blocks = harvest_traces()
    noise = harvest_noise()
    styles = ["dmesg", "syslog", "rfc3339"]
    # Only the first host may use bare dmesg prefixes: without a host name in the prefix the
    # lines of several such hosts could not be told apart.
    machines = [
        Host(rng, f"host{i:02d}", styles[0] if i == 0 else styles[1 + i % 2], blocks, tasks) for i in range(hosts)
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with out.open("w", encoding="utf-8", newline="\n") as sink:
        while written < size:
            host = rng.choice(machines)
            chunk = "\n".join(host.report(noise)) + "\n"
            sink.write(chunk)
            written += len(chunk.encode("utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("size", help="target size, e.g. 100M or 1G")
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=200, help="tasks per host")
    args = parser.parse_args()
    generate(parse_size(args.size), args.out, args.seed, args.hosts, args.tasks)


if __name__ == "__main__":
    main()
