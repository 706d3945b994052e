"""The debugging checkers' reports (KASAN, KMSAN, KCSAN, KFENCE, UBSAN) and lockdep's, on
syzkaller's reports of them in tests/data/syzkaller.

The expectations are syzkaller's, written in each file's header before stallscope read it: its
TYPE says which checker reported, its TITLE the bug ("KASAN: use-after-free Read in X"). stallscope
must read the kernel's header line as a report of that checker, quote it verbatim in an
other-report finding (never a memory finding), and read the account that follows (the access,
the object's history, the lock chain) instead of leaving it unread.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import stallscope
from conftest import DATA
from stallscope.api import load_lines

SYZKALLER = DATA / "syzkaller"
_CHECKER = re.compile(r"(KASAN|KMSAN|KCSAN|KFENCE|UBSAN|LOCKDEP)")
# Lines of a checker's or lockdep's account: none may stay unread.
_ACCOUNT = re.compile(r"(Read|Write) of size|(Allocated|Freed) by task|The buggy address|Memory state around|"
                      r"Uninit was|is trying to acquire lock|already holding lock|existing dependency chain|"
                      r"\*\*\* DEADLOCK \*\*\*|stack backtrace:|Possible unsafe locking scenario|Chain exists of")


def _report(name: str) -> tuple[dict[str, str], str]:
    text = (SYZKALLER / name).read_text(encoding="utf-8", errors="replace")
    header, _, body = text.partition("\n\n")
    return dict(line.split(": ", 1) for line in header.splitlines() if ": " in line), body


def _checker_reports() -> list[str]:
    names = []
    for path in sorted(SYZKALLER.iterdir(), key=lambda p: (len(p.name), p.name)):
        if not path.name.isdigit():
            continue
        fields, _ = _report(path.name)
        if _CHECKER.match(fields.get("TYPE", "")) and fields.get("CORRUPTED") != "Y":
            names.append(path.name)
    return names


def test_the_folder_holds_reports_of_every_checker() -> None:
    types = {_report(name)[0]["TYPE"].split("-")[0] for name in _checker_reports()}
    assert types >= {"KASAN", "KMSAN", "KCSAN", "KFENCE", "UBSAN", "LOCKDEP"}


@pytest.mark.parametrize("name", _checker_reports())
def test_the_report_is_read_and_named_in_the_kernels_words(name: str, tmp_path: Path) -> None:
    fields, body = _report(name)
    log = tmp_path / f"syzkaller-{name}.log"
    log.write_text(body, encoding="utf-8")
    capture = stallscope.load(str(log), keep_unparsed=True)
    # syzkaller files lockdep's atomic-context BUGs ("BUG: using __this_cpu_add() in preemptible
    # code") under LOCKDEP too; stallscope reads those as atomic_bug.
    kinds = {"lockdep_report", "atomic_bug"} if fields["TYPE"].startswith("LOCKDEP") else {"sanitizer_report"}
    headers = capture.events[capture.events["kind"].isin(kinds)]
    assert len(headers), f"no {kinds} read in {name} ({fields['TITLE']})"
    first = int(headers["line"].iloc[0])
    findings = list(stallscope.diagnose(capture))
    other = [f for f in findings if f.rule == "other-report"]
    # (The log may hold memory findings of its own: 199's fault injection fails an allocation.)
    assert other, [f.title for f in findings]
    cited = {e.line: e.text for e in other[0].evidence}
    assert first in cited
    lines = body.splitlines()
    assert cited[first].strip() in lines[first - 1]
    if kinds == {"sanitizer_report"}:
        # syzkaller's "KASAN: use-after-free Read in X": the bug's name is in the kernel's header.
        bug = fields["TITLE"].split(": ", 1)[1].split(" in ")[0].removesuffix(" Read").removesuffix(" Write")
        words = bug.lower().replace("-", " ").split()[-1]
        assert words in cited[first].lower().replace("-", " ")
    unread = [u.text for u in capture.unparsed if _ACCOUNT.search(u.text)]
    assert not unread


# Real lines of those reports (bracketed 4.x lockdep headers from reports syzkaller marks
# corrupted: the lines themselves are whole): (report, line, kind, fields it must give)
LINES = [
    ("5", "BUG: KASAN: double-free or invalid-free in selinux_tun_dev_free_security+0x15/0x20",
     "sanitizer_report", {"what": "BUG: KASAN:", "bug": "double-free or invalid-free",
                          "detail": "in selinux_tun_dev_free_security+0x15/0x20"}),
    ("40", "UBSAN: Undefined behaviour in drivers/usb/core/devio.c:1517:25", "sanitizer_report",
     {"what": "UBSAN:", "bug": "Undefined behaviour"}),
    ("750", "BUG: KCSAN: assert: race in dequeue_entities+0x6df/0x760", "sanitizer_report", {"bug": "assert: race"}),
    ("185", "WARNING: possible circular locking dependency detected", "lockdep_report", {}),
    ("33", "[ INFO: inconsistent lock state ]", "lockdep_report", {}),
    ("34", "[ INFO: suspicious RCU usage. ]", "lockdep_report", {}),
    ("102", "[ BUG: bad unlock balance detected! ]", "lockdep_report", {}),
    ("68", "BUG: spinlock recursion on CPU#0, syz-executor7/5032", "lockdep_report", {}),
    ("185", " (sk_lock-AF_INET){+.+.}, at: [<0000000046bbd7df>] do_ip_setsockopt.isra.12+0x1d9/0x3210",
     "lockdep_lock", {"lock": "(sk_lock-AF_INET)", "function": "do_ip_setsockopt.isra.12"}),
]


@pytest.mark.parametrize(("name", "line", "kind", "fields"), LINES)
def test_a_real_line_gives_its_kind_and_fields(name: str, line: str, kind: str, fields: dict[str, str]) -> None:
    _, body = _report(name)
    assert any(line in text for text in body.splitlines()), "the line is not in the report"
    capture = load_lines(name, [line])
    events = capture.events
    assert list(events["kind"]) == [kind]
    got = events["fields"].iloc[0]
    assert {key: got.get(key) for key in fields} == fields


PERF_FUZZER = DATA / "wild" / "2024-01-05_real-perf-fuzzer-haswell-lockdep-circular-sighand-siglock-rq-lock.log"


def test_a_mailed_lockdep_report_is_read_whole() -> None:
    # Vince Weaver's report as Namhyung Kim quoted it (tests/data/wild/SOURCES.md): lockdep's
    # release line of a tainted kernel, its messages continued on lines without a timestamp.
    capture = stallscope.load(str(PERF_FUZZER), keep_unparsed=True)
    assert capture.unparsed == []
    taint = capture.events[capture.events["kind"] == "dump_taint"]["fields"].tolist()
    assert {"release": "6.7.0-rc5+", "build": "#1", "tainted": "G        W"} in taint
    other = next(f for f in stallscope.diagnose(capture) if f.rule == "other-report")
    # Namhyung names force_sig_fault(): the caller the chain of the lock taken shows.
    assert "force_sig_info_to_task (called from force_sig_fault)" in other.title
