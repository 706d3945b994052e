"""The text report on a terminal of any width, piped, and in colour or not (issue 21, item 5).

Every test runs the installed command on real logs: in an 80-column pseudo-terminal for the
layout, through a pipe for COLUMNS and --width.
"""

from __future__ import annotations

import json
import re

import pytest
from rich.cells import cell_len

from conftest import DATA
from terminal_helpers import flat, in_terminal, piped, split_tokens, widest

XFS = DATA / "lkml" / "2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"
# 216 watchdog reports: more than an 80-column line has room for, one mark each.
MANY_REPORTS = (DATA / "wild"
                / "2015-11-12_real-rsnapshot-xfs-md-server-4-1-2-free-below-min-finite-stalls-vmstat-pending.log")
NARROW_CASES = {
    "xfs-buf-lock": [XFS],
    "gfp-nofs-noio": [DATA / "lkml" / "2016-04-05_oom-livelock-xfs-nofs-noio.log"],
    "hung-task": [DATA / "qemu" / "oom-stuck-victim.log"],
    "warn-alloc": [DATA / "lkml" / "2017-07-14_oom-lock-holder-sched-idle-warn-alloc-ratelimit-inflight.log"],
    "many-reports": [MANY_REPORTS],
    "fleet": [XFS, MANY_REPORTS, DATA / "memalloc-qemu" / "oomwrite-1cpu-128M-w3.log",
              DATA / "lkml" / "2017-03-14_real-laptop-syslog-warn-alloc-stalls-thrashing.log"],
}
_TASK = re.compile(r"MemAlloc: (.+?)\((\d+)\)")
# The watchdog's gfp= and flags=, and the allocator's gfp_mask= and mode: (warn_alloc, the OOM killer).
_HEX = re.compile(r"\b(?:gfp|flags|gfp_mask|mode)[=:](0x[0-9a-f]+)(?:\(([^)]*)\))?")


def _tokens(logs: list[object], report: dict[str, object] | None = None) -> set[str]:
    """What must never be cut: the task names and GFP masks (with their flag names) the logs
    hold, read from the logs themselves, and the names of the tasks the findings are about."""
    tokens: set[str] = set()
    for log in logs:
        for line in open(log, encoding="utf-8", errors="replace"):  # noqa: SIM115
            tokens.update(m.group(1) for m in _TASK.finditer(line))
            for mask, names in _HEX.findall(line):
                tokens.add(mask)
                tokens.update(names.split("|"))
    for finding in (report or {}).get("findings", []):  # type: ignore[attr-defined]
        tokens.update(task["comm"] for task in finding["tasks"])
    # Two-letter names ("cp", "sh") are too short to tell a cut from a coincidence.
    return {token for token in tokens if len(token) > 2}


def _json(logs: list[object]) -> dict[str, object]:
    done = piped("analyze", "--format", "json", *map(str, logs))
    assert done.code == 0, done.err
    return json.loads(done.out)  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", sorted(NARROW_CASES))
def test_report_reads_at_80_columns(case: str) -> None:
    logs = NARROW_CASES[case]
    shown = in_terminal("analyze", *map(str, logs), columns=80)
    assert shown.code == 0, shown.err
    lines = shown.lines
    assert "Verdict" in shown.text and len(lines) > 20
    assert widest(lines) <= 80, [line for line in lines if cell_len(line) > 80][:3]
    # Names and hex values are whole: never the end of one line and the start of the next.
    report = _json(logs)
    tokens = _tokens(logs, report)
    assert len(tokens) >= 3, "the logs name tasks and GFP masks"
    assert split_tokens(lines, tokens) == []
    # Every finding's title is there in full (wrapped inside its panel, not cut at the border).
    screen = flat(lines)
    for finding in report["findings"]:  # type: ignore[attr-defined]
        assert re.sub(r"\s", "", finding["title"]) in screen, finding["title"]


def test_narrow_tables_leave_columns_out_and_say_so() -> None:
    narrow = in_terminal("analyze", str(XFS), columns=80).text
    wide = in_terminal("analyze", str(XFS), columns=200).text
    assert "Not shown at this width: switches, seq, flags, line" in narrow
    assert "switches" not in narrow.split("Stalled tasks")[1].split("Not shown")[0]
    assert "Not shown at this width" not in wide
    header = next(line for line in wide.split("\n") if "comm(pid)" in line)
    assert all(column in header for column in ("line", "seq", "gfp", "switches", "flags"))
    # The GFP mask wraps after a flag at 80 columns, and stays on one line when there is room.
    assert "0x142134a(GFP_NOFS|__GFP_HIGHMEM|__GFP_COLD|__GFP_NOWARN|__GFP_NORETRY|__GFP_HARDWALL|__GFP_MOVABLE)" in wide
    assert re.search(r"__GFP_NORETRY\|\s*│\s*│[^\n]*\n[^\n]*__GFP_HARDWALL\|", narrow)


def test_long_title_moves_into_the_panel_whole() -> None:
    narrow = in_terminal("analyze", str(XFS), columns=80).text
    # The border keeps severity and rule; the title is the panel's first line(s).
    assert re.search(r"╭─ WARNING fs-reclaim-dependency ─+╮\n│ Reclaim waits on the filesystem while 1 GFP_NOFS/GFP_NOIO", narrow)
    wide = in_terminal("analyze", str(XFS), columns=200).text
    assert "╭─ WARNING fs-reclaim-dependency: Reclaim waits on the filesystem while 1 GFP_NOFS/GFP_NOIO" in wide


def _border(text: str) -> str:
    return next(line for line in text.split("\n") if line.startswith("╭─ Verdict"))


def test_piped_text_honours_COLUMNS() -> None:
    done = piped("analyze", str(XFS), env={"COLUMNS": "80"})
    assert done.code == 0, done.err
    assert cell_len(_border(done.text)) == 80 and widest(done.lines) <= 80
    assert split_tokens(done.lines, _tokens([XFS])) == []


def test_width_option_wins_over_COLUMNS() -> None:
    done = piped("analyze", "--width", "100", str(XFS), env={"COLUMNS": "80"})
    assert cell_len(_border(done.text)) == 100 and widest(done.lines) <= 100
    on_terminal = in_terminal("analyze", "--width", "100", str(XFS), columns=80)
    assert cell_len(_border(on_terminal.text)) == 100


def test_piped_text_without_COLUMNS_is_132_wide() -> None:
    done = piped("analyze", str(XFS))
    assert cell_len(_border(done.text)) == 132


def test_width_below_the_minimum_is_a_usage_error() -> None:
    done = piped("analyze", "--width", "5", str(XFS))
    assert done.code == 2 and done.err.count("\n") == 1 and "--width" in done.err


def _sparkline(text: str) -> str:
    return next(line for line in text.split("\n") if line.startswith("stalling over time:"))


def test_sparkline_scales_to_the_width() -> None:
    narrow = _sparkline(in_terminal("analyze", str(MANY_REPORTS), columns=80).text)
    assert cell_len(narrow) <= 80
    marks = re.search(r": ([▁▂▃▄▅▆▇█]+) ", narrow)
    assert marks is not None
    assert f"216 reports in {len(marks.group(1))} steps" in narrow and 10 < len(marks.group(1)) < 60
    # The peak survives the squeeze: the worst report is a full block, as in the wide line.
    assert "█" in marks.group(1) and "(max 15" in narrow
    wide = _sparkline(piped("analyze", "--width", "300", str(MANY_REPORTS)).text)
    assert len(re.search(r": ([▁▂▃▄▅▆▇█]+) ", wide).group(1)) == 216  # type: ignore[union-attr]
    assert "steps" not in wide


def test_watch_fits_the_width() -> None:
    done = piped("watch", "--width", "80", "-", stdin=XFS.read_bytes())
    assert done.code == 0, done.err
    assert "oom-plateau" in done.text and widest(done.lines) <= 80
    assert split_tokens(done.lines, _tokens([XFS])) == []


# -- colour --------------------------------------------------------------------------------------
_COLOUR = re.compile(r"\x1b\[[0-9;]*3[1-7](?:;[0-9;]*)?m")


def test_color_auto_colours_a_terminal_only() -> None:
    assert _COLOUR.search(in_terminal("analyze", str(XFS)).out)
    assert "\x1b" not in piped("analyze", str(XFS)).out


def test_color_always_colours_a_pipe() -> None:
    done = piped("analyze", "--color", "always", str(XFS))
    assert done.code == 0 and _COLOUR.search(done.out)
    # An explicit --color always wins over NO_COLOR, as a command-line flag does over the environment.
    assert _COLOUR.search(piped("analyze", "--color", "always", str(XFS), env={"NO_COLOR": "1"}).out)


@pytest.mark.parametrize("how", [["--color", "never"], ["--no-color"], ["--color", "NEVER"]])
def test_color_never_is_plain_text_on_a_terminal(how: list[str]) -> None:
    shown = in_terminal("analyze", *how, str(XFS))
    assert shown.code == 0 and "Verdict" in shown.out
    assert "\x1b" not in shown.out


def test_NO_COLOR_removes_colours_on_a_terminal() -> None:
    shown = in_terminal("analyze", str(XFS), env={"NO_COLOR": "1"})
    assert "Verdict" in shown.out and not _COLOUR.search(shown.out)
    # NO_COLOR set but empty means nothing, as the convention says.
    assert _COLOUR.search(in_terminal("analyze", str(XFS), env={"NO_COLOR": ""}).out)


def test_no_color_contradicting_color_always_is_a_usage_error() -> None:
    done = piped("analyze", "--no-color", "--color", "always", str(XFS))
    assert done.code == 2 and done.out == ""
    assert done.err.startswith("stallscope: ") and done.err.count("\n") == 1 and "--color" in done.err
