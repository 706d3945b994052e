"""Every form a kernel line reaches a user in, from real lines: what the real tools print (util-linux
dmesg --file, cut, fold, cat -n, nl, iconv, unexpand; journalctl is in test_formats_capture.py),
what vendor and console captures look like, pastes, and records that two writers printed into
each other. Each must give the kernel's records, and so the tables, of the plain capture."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import stallscope
from capture_views import findings_of, view
from conftest import DATA
from stallscope.records.stream import (
    AFTER_MARKER,
    CUT_HEAD,
    CUT_TAIL,
    ORPHAN_JOINED,
    WRAP_JOINED,
    records,
)
from stallscope.sources.reader import iter_lines

FORMATS = DATA / "formats"
PASTES = FORMATS / "pastes"
DMESG = FORMATS / "dmesg"
SYSLOG_CUT = FORMATS / "syslog-cut"
VENDOR = FORMATS / "vendor"
WILD = DATA / "wild"
SYZKALLER = DATA / "syzkaller"
# The log the pastes were rendered from (tests/data/formats/pastes/render.sh).
PASTED = DATA / "lkml" / "2016-04-05_oom-livelock-xfs-nofs-noio.log"


def _records(path: Path) -> list[tuple[float | None, str]]:
    return [(r.ts, r.body) for r in records(str(path), iter_lines(str(path)))]


def _wild(prefix: str) -> Path:
    return next(WILD.glob(f"{prefix}*.log"))


def _line(path: Path, number: int) -> str:
    return path.read_text(encoding="utf-8").splitlines()[number - 1]


# -- pastes ----------------------------------------------------------------------------------

def _pastes() -> list[object]:
    return [pytest.param(p, id=p.stem) for p in sorted(PASTES.glob("*.txt"))]


def test_every_paste_is_rendered() -> None:
    assert {p.values[0].stem for p in _pastes()} >= {  # type: ignore[attr-defined]
        "quoted", "fold-72", "quoted-fold-72", "fold-80", "cat-n", "grep-n", "ordered-list", "gutter",
        "unexpand", "utf-16", "utf-16be", "utf-8-bom", "nbsp"}


@pytest.mark.parametrize("path", _pastes())
def test_paste_gives_the_plain_capture(path: Path) -> None:
    plain = stallscope.load(str(PASTED))
    got = stallscope.load(str(path))
    want, have = view(plain), view(got)
    found, expected = findings_of(got), findings_of(plain)
    if path.stem == "fold-80":
        # Broken inside a word ("seq=" / "90"), the line is joined back with a blank where the
        # grammars accept both: every field is the same, the kept text has one blank more.
        for tables in (want, have):
            tables["tasks"]["text"] = tables["tasks"]["text"].str.replace(" ", "")
        found, expected = (re.sub(r"seq= ", "seq=", str(f)) for f in (found, expected))
    for name, frame in want.items():
        pd.testing.assert_frame_equal(have[name], frame, check_dtype=False, obj=name)
    assert found == expected
    assert len(got.events) == len(plain.events)
    assert got.inputs[0].unparsed == plain.inputs[0].unparsed
    if "fold" in path.stem:
        # What was put back together is counted, and the task rows it touched say so.
        assert got.inputs[0].repaired["wrap-joined"] > 0
        assert got.tasks["corrupted"].str.contains(WRAP_JOINED).any()
    else:
        assert got.inputs[0].repaired == {}


@pytest.mark.skipif(not all(shutil.which(t) for t in ("fold", "nl", "iconv", "unexpand", "python3")),
                    reason="needs coreutils and iconv")
def test_paste_fixtures_are_what_the_tools_render(tmp_path: Path) -> None:
    subprocess.run([str(PASTES / "render.sh"), str(PASTED), str(tmp_path)], check=True, timeout=120)
    for kept in PASTES.glob("*.txt"):
        assert (tmp_path / kept.name).read_bytes() == kept.read_bytes(), kept.name


def test_paste_forms_look_as_described() -> None:
    # The fixtures hold the characters the README names, so the tests above test them.
    assert (PASTES / "nbsp.txt").read_text(encoding="utf-8").startswith("[ \u00a0\u00a098.749616]")
    assert (PASTES / "cat-n.txt").read_text().startswith("     1\t[   98.749616]")
    assert (PASTES / "grep-n.txt").read_text().startswith("1:[   98.749616]")
    assert (PASTES / "ordered-list.txt").read_text().startswith("1. [   98.749616]")
    assert (PASTES / "gutter.txt").read_text().startswith("   1 | [   98.749616]")
    assert (PASTES / "quoted.txt").read_text().startswith("> [   98.749616]")
    assert "\t" in (PASTES / "unexpand.txt").read_text()
    assert (PASTES / "utf-16.txt").read_bytes()[:4] == b"\xff\xfe[\x00"
    assert (PASTES / "utf-16be.txt").read_bytes()[:4] == b"\x00[\x00 "


# -- util-linux dmesg --file -------------------------------------------------------------------

# Renders whose clock is the monotonic one (the others print wall times of this machine's boot).
_DMESG_STABLE = ("d", "t", "time-format-delta", "xd", "xt", "x-time-format-delta")


RAW_DMESG = DATA / "qemu" / "formats" / "formats-busybox-dmesg-r.log"


def _util_linux_dmesg() -> bool:
    """util-linux dmesg that reads a file and knows --time-format delta (2.37 and later)."""
    if shutil.which("dmesg") is None:
        return False
    probe = subprocess.run(["dmesg", "--time-format", "delta", "--file", str(RAW_DMESG)], capture_output=True,
                           check=False, timeout=60)
    return probe.returncode == 0


@pytest.mark.skipif(not _util_linux_dmesg(), reason="needs util-linux dmesg >= 2.37")
def test_dmesg_fixtures_are_what_util_linux_renders(tmp_path: Path) -> None:
    subprocess.run([str(DMESG / "render.sh"), str(RAW_DMESG), str(tmp_path)], check=True, timeout=120)
    for name in _DMESG_STABLE:
        assert (tmp_path / f"dmesg-{name}.txt").read_bytes() == (DMESG / f"dmesg-{name}.txt").read_bytes(), name


@pytest.mark.parametrize(("name", "fmt", "first"), [
    ("d", "dmesg", "[    0.000000 <    0.000000>] Linux version"),
    ("e", "dmesg-relative", "[Dec 3 09:12] Linux version"),
    ("time-format-delta", "dmesg-delta", "[<    0.000000>] Linux version"),
    ("xe", "dmesg-x", "kern  :notice: [Dec 3 09:12] Linux version"),
    ("xT", "dmesg-x", "kern  :notice: [Thu Dec  3 09:12:57 2026] Linux version"),
])
def test_dmesg_clock_options(name: str, fmt: str, first: str) -> None:
    path = DMESG / f"dmesg-{name}.txt"
    assert _line(path, 1).startswith(first)
    got = list(records(str(path), iter_lines(str(path))))
    assert {r.fmt for r in got} == {fmt}
    assert got[0].body.startswith("Linux version 6.1.0-56-amd64")
    # A delta that went back (a record stored out of order) is a delta all the same.
    assert any(re.search(r"[<\[]\s*-0\.725484", line) for line in path.read_text().splitlines()) == (name != "xT")


# -- syslog with its columns cut ---------------------------------------------------------------

@pytest.mark.parametrize("log", ["2015-07-09", "2017-11-05"])
@pytest.mark.parametrize("cut", ["host-kernel", "kernel"])
def test_syslog_with_date_cut_off(log: str, cut: str) -> None:
    original = _wild(log)
    path = SYSLOG_CUT / f"{original.stem}.{cut}.txt"
    assert _records(path) == _records(original)
    got = list(records(str(path), iter_lines(str(path))))
    assert {r.fmt for r in got} == {"syslog-no-date"}
    assert {r.host for r in got} == ({None} if cut == "kernel" else {"db-primary" if log == "2015-07-09" else "dom0"})
    plain, other = stallscope.load(str(original)), stallscope.load(str(path))
    assert len(other.events) == len(plain.events) > 0


def test_syslog_fixtures_are_what_cut_renders(tmp_path: Path) -> None:
    subprocess.run([str(SYSLOG_CUT / "render.sh"), str(tmp_path), str(_wild("2015-07-09")), str(_wild("2017-11-05"))],
                   check=True, timeout=60)
    for kept in SYSLOG_CUT.glob("*.txt"):
        assert (tmp_path / kept.name).read_bytes() == kept.read_bytes(), kept.name


def test_syslog_without_host_is_not_a_host_named_kernel() -> None:
    # journalctl --no-hostname, as pasted: "Nov 22 06:07:54 kernel: XFS (dm-3): ..."
    path = _wild("2020-11-22")
    got = list(records(str(path), iter_lines(str(path))))
    assert got[0].host is None and got[0].body.startswith("XFS (dm-3): Internal error")
    assert got[0].wall == "--11-22T06:07:54"


# -- vendor and console prefixes -------------------------------------------------------------

def test_android_cpu_comm_pid() -> None:
    path = _wild("2020-06-16")
    assert _line(path, 1).startswith("<4>[ 6207.637280]  [3:  Binder:9343_3:22875] Binder:9343_3: page allocation")
    got = list(records(str(path), iter_lines(str(path))))
    assert (got[0].ts, got[0].caller, got[0].level) == (6207.63728, "T22875", 4)
    assert got[0].body.startswith("Binder:9343_3: page allocation failure: order:0")
    capture = stallscope.load(str(path))
    assert capture.inputs[0].unparsed <= 2  # was every line but one
    assert (capture.events["kind"] == "warn_alloc_failure").sum() == 1


def test_mediatek_cpu_pid_comm() -> None:
    got = list(records(str(VENDOR / "mediatek-kmsg.txt"), iter_lines(str(VENDOR / "mediatek-kmsg.txt"))))
    assert [(r.ts, r.caller, r.level) for r in got[:3]] == [(363.812166, "T0", 4), (363.812206, "T0", 4),
                                                             (363.812297, "T102", 1)]
    assert got[1].body == "monitor: received netlink message:timeout"


def test_logcat_b_kernel() -> None:
    path = VENDOR / "logcat-b-kernel.txt"
    got = list(records(str(path), iter_lines(str(path))))
    assert {r.fmt for r in got} == {"logcat"}
    # The tag logd split off is put back in front of the rest of the message.
    assert got[0].body == ("[20210907_21:29:31.734153]@2 [drm: notify_dim_store:2935] Notify dim not commit,"
                           "send DSI_CMD_SET_HBM_ON_5 cmds")
    assert got[1].body == "[drm:dsi_display_set_power] *ERROR* [msm-dsi-error]: SDE_MODE_DPMS_LP1"
    assert (got[1].wall, got[1].level, got[1].ts) == ("--09-07T21:29:45.700", 3, None)


def test_shell_prompt_on_a_serial_console() -> None:
    path = _wild("2019-05-31")
    assert _line(path, 1).startswith("# [  775.947949] nc.traditional: page allocation failure")
    first = next(iter(records(str(path), iter_lines(str(path)))))
    assert (first.ts, first.fmt) == (775.947949, "dmesg")
    assert first.body.startswith("nc.traditional: page allocation failure: order:0")


def test_syslog_with_line_numbers() -> None:
    path = _wild("2016-11-21")
    assert _line(path, 1).startswith("   1621 Nov 17 19:44:36 ubuntu kernel: [ 1508.281374] usb 1-1:")
    got = [r for r in records(str(path), iter_lines(str(path))) if r.body.strip()]
    assert all(r.fmt == "syslog" for r in got)
    assert (got[0].host, got[0].ts) == ("ubuntu", 1508.281374)
    # The program lines keep their tag, as in any syslog file.
    assert got[8].body.startswith("mtp-probe: checking bus 1, device 3")


def test_indented_excerpt() -> None:
    path = _wild("2015-12-13")
    assert _line(path, 1).startswith("  [   99.793156] MemAlloc: write(3787)")
    capture = stallscope.load(str(path))
    assert capture.tasks["comm"].astype(str).tolist() == ["write", "write"]
    assert capture.inputs[0].formats == {"dmesg": 67, None: 1}  # the one line without printk's time


def test_dmesg_reltime_with_one_digit_day() -> None:
    path = _wild("2019-08-08")
    assert _line(path, 1).startswith("[Aug 8 14:13] ------------[ cut here ]")
    first = next(iter(records(str(path), iter_lines(str(path)))))
    assert (first.fmt, first.body) == ("dmesg-relative", "------------[ cut here ]------------")


def test_mail_wrap_joined_only_when_the_grammars_understand_it() -> None:
    path = _wild("2019-03-26")
    assert _line(path, 2) == " mode:0x15080c0(GFP_KERNEL_ACCOUNT|__GFP_ZERO), nodemask=(null)"
    got = list(records(str(path), iter_lines(str(path))))
    assert got[0].body == ("python3: page allocation stalls for 10060ms, order:1, mode:0x15080c0(GFP_KERNEL_ACCOUNT"
                           "|__GFP_ZERO), nodemask=(null)")
    assert got[0].corrupted == WRAP_JOINED
    # An ARM unwinder line broken inside a word is understood joined (the 32-bit ARM frame of the
    # grammars), so it is joined without a blank.
    assert _line(path, 8) == "ow_stack+0x20/0x24)"
    frame = next(r for r in got if r.line == 7)
    assert frame.body == "[<8010ff30>] (unwind_backtrace) from [<8010c174>] (show_stack+0x20/0x24)"
    assert frame.corrupted == WRAP_JOINED and not any(r.line == 8 for r in got)
    # A driver message the grammars do not read stays as printed, its piece a line of its own.
    bmc = _wild("2019-11-15")
    assert _line(bmc, 22).endswith("kernel: aspeed-smc 1e630000.spi: Using 50 MHz SPI") and _line(bmc, 23) == "frequency"
    pieces = {r.line: r for r in records(str(bmc), iter_lines(str(bmc)))}
    assert pieces[22].corrupted is None and pieces[23].body == "frequency"


def test_mail_wrap_before_the_flags_of_a_task_line() -> None:
    path = _wild("2021-10-29")
    assert _line(path, 2) == "flags:0x00004000"
    capture = stallscope.load(str(path), keep_unparsed=True)
    assert capture.inputs[0].repaired["wrap-joined"] >= 5
    assert not any(u.text.startswith("flags:0x") for u in capture.unparsed)


# -- records printed into each other ---------------------------------------------------------

def _syzkaller(name: str, tmp_path: Path) -> Path:
    """The console output of one report, as the corpus report reads it."""
    body = (SYZKALLER / name).read_text(encoding="utf-8").partition("\n\n")[2]
    path = tmp_path / f"syzkaller-{name}.log"
    path.write_text(body, encoding="utf-8")
    return path


def test_record_printed_into_the_end_of_another(tmp_path: Path) -> None:
    path = _syzkaller("223", tmp_path)
    got = {r.line: [] for r in records(str(path), iter_lines(str(path)))}
    for r in records(str(path), iter_lines(str(path))):
        got[r.line].append(r)
    line = next(n for n, rs in got.items() if any(r.body == "Workqueue: events binder_deferred_func" for r in rs))
    head, tail = got[line]
    assert (head.ts, head.corrupted) == (46.782446, CUT_HEAD)
    assert (tail.ts, tail.body, tail.corrupted) == (46.784177, "binder_alloc: 3848: binder_alloc_buf, no vma",
                                                    CUT_TAIL)
    capture = stallscope.load(str(path))
    assert capture.inputs[0].repaired["split-at-timestamp"] >= 1


def test_irq_marker_with_the_next_frame_printed_after_it(tmp_path: Path) -> None:
    path = _syzkaller("261", tmp_path)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "<IRQ> [" in text)
    got = [r for r in records(str(path), iter_lines(str(path))) if r.line == line]
    assert [(r.ts, r.body) for r in got] == [(168.315516, " <IRQ> "),
                                             (168.317567, " [<ffffffff81eb4be9>] dump_stack+0xc1/0x128")]
    capture = stallscope.load(str(path), keep_unparsed=True)
    assert not any("dump_stack+0xc1" in u.text for u in capture.unparsed)


def test_dropped_markers_glued_to_records(tmp_path: Path) -> None:
    path = _syzkaller("123", tmp_path)
    text = path.read_text()
    got = list(records(str(path), iter_lines(str(path))))
    markers = [r for r in got if r.corrupted is not None and r.corrupted.endswith("messages dropped")]
    assert len(markers) == text.count("printk messages dropped")
    # Nothing after a marker is lost: every record printed behind one is a record of its own.
    second = [r for r in got if r.line == 2 and r.ts is not None]
    assert [(r.ts, r.corrupted) for r in second] == [(60.095515, AFTER_MARKER)]
    assert second[0].body.startswith("CPU: 1 PID: 7148 Comm: syz-executor5 Tainted:")
    for stamp in re.findall(r"\[\s*(\d+\.\d{6})\]", text):
        assert any(r.ts == float(stamp) for r in got), stamp
    capture = stallscope.load(str(path))
    assert capture.inputs[0].repaired["dropped-marker-cut-off"] >= 20
    assert (capture.events["kind"] == "dump_cpu").sum() == 1


def test_orphaned_tail_joined_back_to_its_head(tmp_path: Path) -> None:
    # Two real lines (lkml/2017-02-26: a workqueue lockup; qemu/hung-task-fsfreeze: a hung task),
    # printed as a console without line buffering prints them from two CPUs: the hung task's
    # record inside the lockup line, the lockup line's rest after it.
    lockup = "BUG: workqueue lockup - pool cpus=1 node=0 flags=0x0 nice=0 stuck for 38s!"
    hung = "INFO: task touch:120 blocked for more than 5 seconds."
    assert lockup in (DATA / "lkml" / "2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log").read_text()
    assert hung in (DATA / "qemu" / "hung-task-fsfreeze.kmsg.log").read_text()
    head, rest = lockup.split(" cpus=")
    path = tmp_path / "interleaved.log"
    path.write_text(f"[  484.810225] {head}[  484.810301] {hung}\n"
                    f"[  484.810400]  cpus={rest}\n")
    got = list(records(str(path), iter_lines(str(path))))
    assert [(r.ts, r.body) for r in got] == [
        (484.810225, head), (484.810301, hung), (484.8104, f"{head} cpus={rest}")]
    assert got[2].corrupted == f"{ORPHAN_JOINED} (its head is line 1)"
    capture = stallscope.load(str(path))
    assert sorted(capture.events["kind"].astype(str)) == ["hung_task", "wq_lockup"]
    assert capture.inputs[0].repaired == {"split-at-timestamp": 1, "tail-joined": 1}


def test_a_line_understood_whole_is_not_cut(tmp_path: Path) -> None:
    # A timestamp inside a line the grammars understand whole stays part of it.
    path = tmp_path / "whole.log"
    line = "[  168.315516]  <IRQ> [  168.317567]  [<ffffffff81eb4be9>] dump_stack+0xc1/0x128"
    path.write_text(line + "\n")
    got = list(records(str(path), iter_lines(str(path))))
    assert len(got) == 2  # the marker and the frame: neither is understood with the other
    path.write_text("[  100.000000] Call Trace: looping inside shrink_inactive_list() [  100.000001]\n")
    assert [(r.ts, r.body) for r in records(str(path), iter_lines(str(path)))] == [
        (100.0, "Call Trace: looping inside shrink_inactive_list() [  100.000001]")]


def test_a_message_cut_by_a_newline_in_a_printed_name_is_joined_back() -> None:
    # syzkaller's report 1001 (title "INFO: task hung in p9_fd_close"): the executor named itself
    # with bytes that hold a newline, so the hung-task header and the task-state line each came
    # out as two lines of the same time and caller, none of them understood alone.
    capture = stallscope.load(str(DATA / "syzkaller" / "1001"), keep_unparsed=True)
    stats = capture.inputs[0]
    assert stats.repaired == {"newline-joined": 2}
    assert stats.physical_lines == 68 and stats.lines == 66
    hung = capture.events[capture.events["kind"] == "hung_task"]
    assert hung["pid"].tolist() == [18088]
    assert "blocked for more than 143 seconds" in hung["text"].iloc[0]
    findings = stallscope.diagnose(capture)
    hung_task = [f for f in findings if f.rule == "hung-task"]
    assert hung_task and "p9_fd_close" in hung_task[0].title  # syzkaller's guilty frame
    # Its evidence quotes the joined message from the header's line on.
    assert hung_task[0].evidence[0].line == 6


def test_lines_of_one_time_are_joined_only_when_the_join_is_understood() -> None:
    # Two records of one timestamp and caller that are not one message stay two lines: the
    # header of 1001's neighbour reports and every other log in tests/data had no such join.
    for path in sorted((DATA / "syzkaller").iterdir())[:60]:
        if path.name == "1001" or not path.is_file():
            continue
        assert "newline-joined" not in stallscope.load(str(path)).inputs[0].repaired, path.name
