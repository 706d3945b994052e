"""The allocator setting that keeps freed column arrays from staying resident."""

from __future__ import annotations

import sys

import pytest

from stallscope.memory import keep_large_blocks_unmapped


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_mmap_threshold_is_fixed_on_glibc() -> None:
    import ctypes.util

    libc = ctypes.util.find_library("c") or ""
    if "musl" in libc:
        assert keep_large_blocks_unmapped() is False
    else:
        assert keep_large_blocks_unmapped() is True


def test_never_raises_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert keep_large_blocks_unmapped() is False
