"""Handing freed memory back between the phases of a run."""

from __future__ import annotations

import ctypes.util
import sys

import pytest

from stallscope import memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_free_memory_is_released_on_glibc() -> None:
    expected = "musl" not in (ctypes.util.find_library("c") or "")
    assert memory.release_free_memory() is expected


def test_does_nothing_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    memory._trim.cache_clear()
    try:
        assert memory.release_free_memory() is False
    finally:
        memory._trim.cache_clear()
