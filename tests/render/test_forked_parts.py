"""The terminal report's parts (one per boot) rendered by forked processes: the text one process
writes, byte for byte, whatever happens to a child or to the reader."""

from __future__ import annotations

import io
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
from rich.console import Console

import stallscope
from conftest import rebooted_serial_capture
from stallscope import forked
from stallscope.capture.model import Capture
from stallscope.outputs import PipeConsole, ReaderGone
from stallscope.render import text
from stallscope.render.views import report_views
from stallscope.rules.base import Finding

pytestmark = pytest.mark.skipif(not forked.available(), reason="forked processes need fork (Linux)")


@pytest.fixture(scope="module")
def many_boots(tmp_path_factory: pytest.TempPathFactory) -> tuple[Capture, list[Finding]]:
    """A serial capture of a machine rebooted after each incident (real boots of tests/data)."""
    log = tmp_path_factory.mktemp("serial") / "serial.log"
    log.write_bytes(rebooted_serial_capture())
    capture = stallscope.load(str(log))
    return capture, stallscope.diagnose(capture)


def _report(capture: Capture, findings: list[Finding], processes: int, colour: bool) -> str:
    out = io.StringIO()
    options = {"force_terminal": True, "color_system": "truecolor", "width": 80} if colour else {"width": 120}
    text.render(capture, findings, Console(file=out, highlight=False, soft_wrap=False, **options), None, processes)
    return out.getvalue()


@pytest.mark.parametrize("colour", [False, True], ids=["plain", "truecolor-80"])
def test_parts_rendered_by_forked_processes_are_the_text_of_one_process(
        many_boots: tuple[Capture, list[Finding]], colour: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    capture, findings = many_boots
    views = report_views(capture, findings)
    assert len(views) >= text.FORK_PARTS  # so that the parts are forked
    shared = forked.shared
    calls: list[int] = []

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return shared(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(forked, "shared", counted)
    one = _report(capture, findings, 1, colour)
    assert not calls
    for processes in (2, 3):
        assert _report(capture, findings, processes, colour) == one
    assert len(calls) == 2
    # Every boot's part is there once, in order.
    titles = [view.title for view in views]
    places = [one.find(title) for title in titles]
    assert -1 not in places and places == sorted(places)
    assert ("\x1b[" in one) == colour


def test_parts_of_a_child_that_dies_are_rendered_by_its_parent(many_boots: tuple[Capture, list[Finding]],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    capture, findings = many_boots
    one = _report(capture, findings, 1, False)

    def dies_after_one_part(work: forked.Work[str], share: Sequence[int], sender: Connection,
                            parent_ends: Sequence[Connection]) -> None:
        sender.send(next(iter(work(share[:1]))))
        os._exit(1)

    monkeypatch.setattr(forked, "_send", dies_after_one_part)
    assert _report(capture, findings, 2, False) == one


class _ClosingReader(io.StringIO):
    """Standard output whose reader goes away (``| head``) after a few writes."""

    def __init__(self, writes: int) -> None:
        super().__init__()
        self.writes = writes

    def write(self, s: str) -> int:
        self.writes -= 1
        if self.writes < 0:
            raise BrokenPipeError
        return super().write(s)


def test_a_reader_that_goes_away_stops_the_forked_processes(many_boots: tuple[Capture, list[Finding]],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    capture, findings = many_boots
    parts = len(report_views(capture, findings))
    rendered = text._rendered

    def slow(*args: object) -> Iterator[tuple[int, str]]:
        # Each child would take 5 s a part after its first: minutes, were it left to finish.
        for item in rendered(*args):  # type: ignore[arg-type]
            yield item
            time.sleep(5)

    monkeypatch.setattr(text, "_rendered", slow)
    console = PipeConsole(file=_ClosingReader(4), width=100)
    started = time.monotonic()
    with pytest.raises(ReaderGone):
        text.render(capture, findings, console, None, 2)
    assert multiprocessing.active_children() == []
    assert time.monotonic() - started < 5 * parts / 2 / 2  # stopped, not waited for


def test_the_command_writes_the_same_report_with_one_process_or_two(tmp_path: Path) -> None:
    log = tmp_path / "serial.log"
    log.write_bytes(rebooted_serial_capture())
    runs = [subprocess.run([sys.executable, "-m", "stallscope", "analyze", "-j", jobs, "--width", "100", str(log)],
                           capture_output=True, cwd=tmp_path) for jobs in ("1", "2")]
    assert runs[0].returncode == runs[1].returncode
    assert runs[0].stdout.count(b"\n") > 1000
    assert runs[0].stdout == runs[1].stdout
