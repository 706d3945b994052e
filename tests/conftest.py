"""Shared helpers for the test suite: where the real logs are, and loading them once."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

import stallscope
from stallscope.capture.model import Capture
from stallscope.rules.base import Finding

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
SAMPLES = ROOT / "samples"


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


@pytest.fixture
def sample_path() -> Path:
    return SAMPLES / "doc-too-many-isolated-kswapd-xfs-buf-lock.log"
