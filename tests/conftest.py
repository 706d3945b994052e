"""Shared helpers for the test suite: where the real logs are, and loading them once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
from functools import cache
from pathlib import Path

import pytest

# The grammar cache (parse/grammars.py keeps Lark's tables under $XDG_CACHE_HOME/stallscope) lives
# in a folder of this test session, removed at its end: a run never loads tables another checkout
# or an older Lark left in the user's cache, never leaves its own there, and the commands the
# tests start as subprocesses inherit the same folder. Set before stallscope is imported.
SESSION_CACHE = Path(tempfile.mkdtemp(prefix="stallscope-test-cache-"))
os.environ["XDG_CACHE_HOME"] = str(SESSION_CACHE)
os.environ.pop("STALLSCOPE_NO_CACHE", None)

# Ctrl-C as a terminal gives it, however the session was started: a shell starts a background job
# (`pytest &`, `nohup ... &`) with SIGINT ignored, Python then never raises KeyboardInterrupt and
# every process the tests start inherits the ignored signal, so the tests of what a Ctrl-C does
# failed in such a session only. Python's own handler here; a command started from here gets the
# default disposition and installs its handler again.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import stallscope  # noqa: E402  (after the cache folder is set)
from stallscope.capture.model import Capture  # noqa: E402
from stallscope.rules.base import Finding  # noqa: E402

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
SAMPLES = ROOT / "samples"
# Tests are in one folder per layer (records, parse, capture, rules, render, sources, e2e); a few
# import a builder of test data from another layer's module (test_fleet.make_fleet, ...), so every
# layer folder is importable, as this one is.
LAYERS = sorted(p for p in Path(__file__).parent.iterdir() if p.is_dir() and p.name not in ("data", "__pycache__"))
sys.path[:0] = [str(p) for p in LAYERS if str(p) not in sys.path]


@cache
def expectations() -> dict[str, dict[str, object]]:
    return json.loads((DATA / "expect.json").read_text())  # type: ignore[no-any-return]


@cache
def loaded(relative: str) -> tuple[Capture, tuple[Finding, ...]]:
    """Load and diagnose one log under tests/data (cached: many tests read the same log)."""
    capture = stallscope.load(str(DATA / relative), keep_unparsed=True)
    return capture, tuple(stallscope.diagnose(capture))


def corpus_logs(folder: str) -> list[str]:
    return sorted(str(p.relative_to(DATA)) for p in (DATA / folder).glob("*.log"))


def rebooted_serial_capture(rounds: int = 2) -> bytes:
    """A serial console of a machine rebooted after each incident, of real logs only: the full
    boots of tests/data (QEMU guests, each from its [0.000000] banner to its power-down) one
    after another, ``rounds`` times (24 boots, 10 with task rows, at 2)."""
    boots = [data for data in (path.read_bytes() for path in
                               sorted(DATA.glob("qemu/*.log")) + sorted(DATA.glob("memalloc-qemu/*.log")))
             if data.startswith(b"[    0.000000] Linux version ")]
    return b"".join(boots) * rounds


def read_in_quarters(path: Path, monkeypatch: pytest.MonkeyPatch) -> Capture:
    """``path`` read as a large file is, by two workers, in pieces of about a quarter of it cut
    near their nominal offsets (not at the next watchdog report): each piece has task lines."""
    from stallscope import parallel

    monkeypatch.setattr(parallel, "MIN_PIECE_BYTES", 4096)
    monkeypatch.setattr(parallel, "PIECE_BYTES", path.stat().st_size // 4)
    monkeypatch.setattr(parallel, "REPORT_SEARCH_BYTES", 4096)
    assert len(parallel.plan((str(path),), 2)) >= 3, "the log must really be cut"
    return parallel.load_parallel(str(path), engine=parallel.LocalEngine(2))


@pytest.fixture
def sample_path() -> Path:
    return SAMPLES / "doc-too-many-isolated-kswapd-xfs-buf-lock.log"


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(SESSION_CACHE, ignore_errors=True)
