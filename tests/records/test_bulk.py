"""The chunked fast path must build exactly what the line-by-line reader builds."""

from __future__ import annotations

import importlib.util
import itertools
import random
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

import stallscope
from conftest import DATA, ROOT
from stallscope import bulk
from stallscope.api import load_lines
from stallscope.capture.model import Capture
from stallscope.sources.reader import iter_lines

LOGS = sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*.log")) + sorted(
    str(p.relative_to(DATA)) for p in DATA.rglob("*.txt")
)


def assert_same(fast: Capture, slow: Capture) -> None:
    for name in ("snapshots", "tasks", "events", "frames", "traces"):
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(slow, name), check_categorical=False, obj=name)
    assert [(i.path, i.lines, i.parsed, i.unparsed, i.kinds, i.formats, i.physical_lines) for i in fast.inputs] == [
        (i.path, i.lines, i.parsed, i.unparsed, i.kinds, i.formats, i.physical_lines) for i in slow.inputs
    ]
    assert all(i.parsed + i.unparsed == i.lines for i in fast.inputs)
    assert fast.unparsed == slow.unparsed


@pytest.mark.parametrize("name", LOGS)
def test_fast_path_matches_line_reader(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(DATA / name)
    # Small chunks, so that chunk boundaries fall inside traces and reports.
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(bulk.ByteChunks.__init__, "__defaults__", (4096,))
    fast = stallscope.load(path, keep_unparsed=True)
    slow = load_lines(path, iter_lines(path), keep_unparsed=True)
    assert_same(fast, slow)


def _make_log_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_log", ROOT / "bench" / "make_log.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_log"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_fast_path_on_generated_multi_host_log(tmp_path: Path) -> None:
    log = tmp_path / "fleet.log"
    _make_log_module().generate(2 << 20, log, seed=7, hosts=3, tasks=40)
    fast = stallscope.load(str(log), keep_unparsed=True)
    slow = load_lines(str(log), iter_lines(str(log)), keep_unparsed=True)
    assert_same(fast, slow)
    assert fast.tasks["host"].nunique() == 2  # the dmesg host has no name in its prefix
    assert len(fast.snapshots) > 10


_STAMP = re.compile(r"\[\s*(\d+\.\d+)\]")


def _backwards(source: Path, target: Path, seed: int, hosts: tuple[str | None, ...]) -> None:
    """``source`` with many printk times put below the line before (a CPU's clock behind the
    others), on every kind of line; the whole log once per host, one after the other (the fast
    path groups a chunk's lines by host, so hosts interleaved line by line give rows in another
    order)."""
    rng = random.Random(seed)
    out: list[str] = []
    for host in hosts:
        for text in source.read_text(errors="replace").splitlines():
            match = _STAMP.match(text)
            if match is not None and float(match.group(1)) > 5 and rng.random() < 0.3:
                text = f"[{float(match.group(1)) - rng.choice((0.5, 2.0)):12.6f}]{text[match.end():]}"
            out.append(text if host is None else f"Nov 26 08:00:00 {host} kernel: {text}")
    target.write_text("\n".join(out) + "\n")


@pytest.mark.parametrize("hosts", [(None,), ("db1", "db2")], ids=["dmesg", "syslog-two-hosts"])
def test_fast_path_flags_backwards_timestamps_like_line_reader(
    hosts: tuple[str | None, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "backwards.log"
    _backwards(DATA / "memalloc-qemu" / "oomwrite-1cpu-128M-w3.log", log, 3, hosts)
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(bulk.ByteChunks.__init__, "__defaults__", (4096,))
    fast_chunks = 0
    real_fast = bulk.BulkReader._fast

    def counting(self: bulk.BulkReader, *args: object) -> None:
        nonlocal fast_chunks
        fast_chunks += 1
        real_fast(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(bulk.BulkReader, "_fast", counting)
    fast = stallscope.load(str(log), keep_unparsed=True)
    slow = load_lines(str(log), iter_lines(str(log)), keep_unparsed=True)
    assert fast_chunks > 10
    assert_same(fast, slow)
    assert fast.tasks["corrupted"].notna().sum() >= 2


def _in_lockstep(source: Path, target: Path, hosts: tuple[str | None, ...] = ("db1", "db2"), shift: float = 0) -> None:
    """Hosts printing the same log at the same time, their lines alternating one by one, so that
    every trace of one host has the other hosts' lines between its own lines (None: plain dmesg)."""
    out: list[str] = []
    for text in source.read_text(errors="replace").splitlines():
        match = _STAMP.match(text)
        if match is not None and shift:
            text = f"[{float(match.group(1)) + shift:12.6f}]{text[match.end():]}"
        out += [text if host is None else f"Nov 26 08:00:00 {host} kernel: {text}" for host in hosts]
    target.write_text("\n".join(out) + "\n")


@pytest.mark.parametrize("chunk", [4096, 8 << 20])
def test_fast_path_with_hosts_alternating_line_by_line(chunk: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "lockstep.log"
    _in_lockstep(DATA / "memalloc-qemu" / "oomwrite-1cpu-128M-w3.log", log)
    monkeypatch.setattr(bulk, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(bulk.ByteChunks.__init__, "__defaults__", (chunk,))
    fast = stallscope.load(str(log), keep_unparsed=True)
    slow = load_lines(str(log), iter_lines(str(log)), keep_unparsed=True)
    assert_same(fast, slow)
    assert fast.tasks["host"].value_counts().to_dict() == {"db1": len(fast.tasks) // 2, "db2": len(fast.tasks) // 2}
    assert fast.tasks["stack"].notna().all()


def test_fast_path_when_printk_time_grows_a_digit_inside_traces(tmp_path: Path) -> None:
    """Past 99999 s printk's "[%5lu.%06lu]" widens: the prefix width changes inside a trace."""
    source = DATA / "memalloc-qemu" / "oomwrite-1cpu-128M-w3.log"
    lines = source.read_text(errors="replace").splitlines()
    # Two frames of one trace printed at different times, half-way through the log's reports.
    frames = [(i, float(m.group(1))) for i, m in enumerate(map(_STAMP.match, lines)) if m and "+0x" in lines[i]]
    pairs = [(a, b) for (i, a), (j, b) in itertools.pairwise(frames) if j == i + 1 and b > a]
    before, after = pairs[len(pairs) // 2]
    middle = (before + after) / 2
    log = tmp_path / "widening.log"
    _in_lockstep(source, log, hosts=(None,), shift=100_000.0 - middle)
    fast = stallscope.load(str(log), keep_unparsed=True)
    slow = load_lines(str(log), iter_lines(str(log)), keep_unparsed=True)
    assert_same(fast, slow)
    assert (fast.traces["ts"] < 100_000).any() and (fast.traces["ts"] >= 100_000).any()


def test_keys_of_lines_that_never_repeat_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's cache of keys stays within its budget (it grew with the input, 450 MB in
    each worker reading a 1 GB journal), and forgetting keys changes nothing read."""
    path = str(DATA / "memalloc-qemu" / "oomwrite-1cpu-128M-w3.log")
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(bulk.ByteChunks.__init__, "__defaults__", (4096,))
    monkeypatch.setattr(bulk, "_CACHES", type(bulk._CACHES)())  # this test's own caches
    remembered = stallscope.load(path, keep_unparsed=True)
    keys = next(iter(bulk._CACHES.values())).keys
    assert sum(map(len, keys)) > 100_000  # more than the budget below
    budget = 20_000
    monkeypatch.setattr(bulk, "_MAX_KEY_BYTES", budget)
    monkeypatch.setattr(bulk, "_CACHES", type(bulk._CACHES)())
    forgetting = stallscope.load(path, keep_unparsed=True)
    keys = next(iter(bulk._CACHES.values())).keys
    # At most the budget and one chunk's new keys (each counted with its overhead).
    assert sum(len(key) + bulk._KEY_OVERHEAD for key in keys) <= budget + 4096 + 64 * bulk._KEY_OVERHEAD
    assert_same(forgetting, remembered)


@pytest.mark.parametrize("name", ["journalctl-k-json.txt", "journalctl-k-json-seq.txt", "journalctl-k-json-sse.txt"])
def test_journal_json_entries_leave_no_keys(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """journalctl -o json prints each entry with its own cursor, so no key repeats: entries are
    not learned as keys at all (they are the line reader's), and what is read is the same."""
    path = str(DATA / "formats" / "journal" / name)
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(bulk.ByteChunks.__init__, "__defaults__", (4096,))
    monkeypatch.setattr(bulk, "_CACHES", type(bulk._CACHES)())
    fast = stallscope.load(path, keep_unparsed=True)
    assert fast.inputs[0].lines > 500 and len(fast.events) > 50  # entries read, not skipped
    keys = next(iter(bulk._CACHES.values())).keys
    assert sum(map(len, keys)) < 1_000
    assert_same(fast, load_lines(path, iter_lines(path), keep_unparsed=True))


def test_boot_messages_of_one_time_stay_on_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A boot's first messages all carry [    0.000000]: pairs of lines of one time that no grammar
    understands, which the record reader would join only if the join were understood. None of
    these joins is, so the fast path keeps them (it handed every such pair to the reader, 11,800
    lines of the 100 MB fleet file) and builds what the reader builds."""
    path = str(DATA / "qemu" / "warn-alloc-failure.log")
    zero_time = [n for n, line in enumerate(Path(path).read_text().splitlines(), 1) if line.startswith("[    0.000000]")]
    assert len(zero_time) > 100
    slow: list[int] = []
    read_slowly = bulk.BulkReader._slow

    def counted(self: bulk.BulkReader, lines: list[bytes]) -> None:
        slow.extend(range(self.lines_done + 1, self.lines_done + 1 + len(lines)))
        read_slowly(self, lines)

    monkeypatch.setattr(bulk.BulkReader, "_slow", counted)
    monkeypatch.setattr(bulk, "_CACHES", type(bulk._CACHES)())
    fast = stallscope.load(path, keep_unparsed=True)
    # The chunk's last line is always the reader's, and a line before one it must read.
    assert len(set(zero_time) & set(slow)) <= 2
    assert_same(fast, load_lines(path, iter_lines(path), keep_unparsed=True))


@pytest.mark.parametrize(("code", "least", "pattern"), [(255, 1, rb"\xff+"), (1, 2, rb"\x01{2,}")])
def test_runs_of_a_code_are_those_a_regular_expression_finds(code: int, least: int, pattern: bytes) -> None:
    """The chunk's runs of lines not modelled (and of lines not understood, two or more) are found
    with bytes.find, not a regular expression that tries every byte: the same runs."""
    rng = random.Random(7)
    for _ in range(2000):
        codes = bytes(rng.choice((0, 1, 1, 7, 255, 255)) for _ in range(rng.randint(0, 40)))
        assert list(bulk._runs(codes, code, least)) == [m.span() for m in re.finditer(pattern, codes)], codes
