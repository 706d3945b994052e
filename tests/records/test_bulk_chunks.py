"""How the fast path cuts and classifies chunks: reading into one buffer gives the same chunks as
reading copies, line codes stay exact when they run out, and a chunk's new keys are counted
where the line reader counts them (the statistics name kinds and formats in the same order)."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pandas as pd
import pytest

import stallscope
from conftest import DATA
from stallscope import bulk
from stallscope.api import load_lines
from stallscope.sources.reader import iter_lines


def _random_log(seed: int, lines: int, longest: int) -> bytes:
    rng = random.Random(seed)
    out = []
    for _ in range(lines):
        width = rng.choice([0, 1, 5, 40, 120, rng.randrange(longest)])
        out.append(bytes(rng.choice(b"abc 0123\r\t") for _ in range(width)))
    text = b"\n".join(out)
    return text if rng.random() < 0.5 else text + b"\n"


class _NoReadinto:
    """A stream with read() only (the wrapper that stops decompressing at damage, say)."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("size", [7, 64, 4096])
@pytest.mark.parametrize("readable", [io.BytesIO, _NoReadinto])
def test_chunks_hold_every_line_once_and_cut_overlong_ones(seed: int, size: int, readable: type,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # A small line limit, so that overlong lines (kept cut, their rest skipped) come up often.
    monkeypatch.setattr(bulk, "MAX_LINE_BYTES", 256)
    data = _random_log(seed, 300, 700)
    chunks = list(bulk.ByteChunks(readable(data), size))
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    assert b"\n".join(chunks).split(b"\n") == [line[:256] for line in lines]


def test_reading_into_one_buffer_keeps_what_follows_the_first_chunk() -> None:
    # The journal export check looks at the first chunk, then hands the rest to another reader.
    data = b"first line\nsecond line\nthird"
    chunks = bulk.ByteChunks(io.BytesIO(data), 16)
    first = next(iter(chunks))
    assert first == b"first line"
    assert chunks.rest(first + b"\n").read() == data


def test_line_codes_fall_back_to_far_cuts_when_full() -> None:
    codes = bulk._LineCodes()
    classes = list(bulk._CLASSES)
    given = {}
    for cut in range(100):
        for cls in classes:
            for unknown in (0, 1):
                given[(cls, cut, unknown)] = codes.code(cls, cut, unknown)
    for (cls, cut, unknown), code in given.items():
        assert codes.classes[code] == cls
        # Whether a grammar understood the line survives the fallback: it cuts out the newline joins.
        assert codes.unknown[code] == unknown
        # A triple that found no free code gets its class's code for "too far to say".
        assert codes.cuts[code] in (cut, bulk._FAR_CUT)
    # Every code is given out but the last two, which stand for a line whose key is not learned
    # yet and for a line the fast path does not take.
    assert len(set(given.values())) == bulk._UNLEARNED_CODE
    assert bulk._SLOW_CODE not in given.values()
    assert bulk._UNLEARNED_CODE not in given.values()
    assert codes.code(ord("F"), 99, 1) == codes.code(ord("F"), bulk._FAR_CUT, 1)
    # A blank line's code is the first one, and no line with a prefix shares it.
    assert codes.code(bulk._BLANK.cls, bulk._BLANK.cut_id, 0) == bulk._BLANK_CODE == bulk._BLANK.code


@pytest.mark.parametrize("name", ["lkml/2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log", "memalloc-qemu/oomwrite-1cpu-128M-w3.log"])
def test_statistics_name_kinds_and_formats_in_line_order(name: str, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    # Two copies behind different prefixes: later chunks meet new keys of kinds already counted.
    source = DATA / name
    log = tmp_path / "mixed.log"
    with log.open("wb") as out:
        for number, line in enumerate(source.read_bytes().splitlines()):
            out.write(line + b"\n")
            if number % 3 == 0:
                out.write(b"Nov 26 08:05:41 db7 kernel: " + line + b"\n")
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(bulk.ByteChunks.__init__, "__defaults__", (4096,))
    # Read after the original, whose keys the reader then knows but whose lines it has not
    # counted for this input.
    fast = stallscope.load(str(source), str(log)).inputs[1]
    slow = load_lines(str(log), iter_lines(str(log))).inputs[0]
    assert list(fast.kinds.items()) == list(slow.kinds.items())
    assert list(fast.formats.items()) == list(slow.formats.items())


def test_a_new_key_counted_where_the_chunk_shows_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The second file's second chunk opens with a line of a key never seen, then a line of a key
    # the first file taught the reader; both kinds are new to the second file's statistics.
    kill = b"[   78.348829] Out of memory: Kill process 3805 (oom-write) score 808 or sacrifice child\n"
    first = tmp_path / "first.log"
    first.write_bytes(kill)
    second = tmp_path / "second.log"
    filler = b"".join(b"[    1.%06d] random: crng init done\n" % n for n in range(200))
    second.write_bytes(filler + b"[  101.937548] MemAlloc-Info: 4 stalling task, 32 dying task, 1 victim task.\n" + kill)
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(bulk.ByteChunks.__init__, "__defaults__", (4096,))
    fast = stallscope.load(str(first), str(second)).inputs[1]
    slow = load_lines(str(second), iter_lines(str(second))).inputs[0]
    assert list(fast.kinds) == ["memalloc_info", "oom_kill_process"] == list(slow.kinds)


@pytest.mark.parametrize("name", ["memalloc-qemu/oomwrite-1cpu-128M-w3.log", "qemu/formats/formats-journalctl-k-json.log",
                                  "lkml/2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log"])
def test_new_keys_learned_line_by_line_or_at_once_read_the_same(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A chunk mostly of new keys learns each key once and looks the chunk up again; one with a
    # few learns them line by line. Small chunks: some of each, journal entries among them.
    monkeypatch.setattr(bulk, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(bulk.ByteChunks.__init__, "__defaults__", (4096,))
    path = str(DATA / name)
    captures = []
    for few in (0, 10**9):  # never at once; at once whenever a key is new
        monkeypatch.setattr(bulk, "_FEW_UNLEARNED", few)
        captures.append(stallscope.load(path))
    line_by_line, at_once = captures
    assert len(line_by_line.events) > 0
    for table in ("snapshots", "tasks", "events", "frames", "traces"):
        pd.testing.assert_frame_equal(getattr(line_by_line, table), getattr(at_once, table))
    assert line_by_line.inputs[0].kinds == at_once.inputs[0].kinds
    assert line_by_line.inputs[0].formats == at_once.inputs[0].formats
    assert line_by_line.inputs[0].unparsed == at_once.inputs[0].unparsed
