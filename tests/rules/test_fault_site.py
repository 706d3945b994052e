"""A crash report names the function the CPU was at, as its own register line gives it, and that
function's caller: x86 "RIP: 0010:f+0x../0x..", i386 "IP: [<...>] f+..", powerpc "NIP [...] f+..",
arm64 "pc : f+..", riscv "epc : f+..". x86 and powerpc print the trace from the caller on, so the
trace's first frame is not where the fault happened.

Expectations from each log's author (tests/data/wild/SOURCES.md) or from syzkaller's title
(tests/data/syzkaller/README.md): the crystalhd NULL dereference "in crystalhd_dioq_fetch_wait",
syzkaller's "paging request in partition_sched_domains_locked", the RockPro64 probe's NULL deref
in pinctrl_lookup_state called from rockchip_i2s_probe, "paging request in iptunnel_xmit". A
helper whose job is to BUG() (skb_panic) is not the place: syzkaller's "kernel BUG in
pfkey_send_acquire" is named through the trace as before.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import stallscope
from conftest import DATA
from stallscope.api import load_lines

WILD = DATA / "wild"
SYZKALLER = DATA / "syzkaller"


def _other_report(path: Path, tmp_path: Path) -> stallscope.Finding:
    if path.parent == SYZKALLER:
        log = tmp_path / f"syzkaller-{path.name}.log"
        log.write_text(path.read_text(encoding="utf-8").partition("\n\n")[2], encoding="utf-8")
        path = log
    return next(f for f in stallscope.diagnose(stallscope.load(str(path))) if f.rule == "other-report")


@pytest.mark.parametrize(("log", "named", "line"), [
    (WILD / "2012-12-29_real-i386-crystalhd-null-deref-oops-scheduling-while-atomic.log",
     "in crystalhd_dioq_fetch_wait", "IP: [<fa46e8cc>] crystalhd_dioq_fetch_wait+0x19c/0x330 [crystalhd]"),
    (WILD / "2026-08-17_syzkaller-ppc64le-paging-request-partition-sched-domains.log",
     "in partition_sched_domains_locked (called from partition_and_rebuild_sched_domains)",
     "NIP [c00000000022d79c] partition_sched_domains_locked+0x1ac/0x5f0 kernel/sched/topology.c:2216"),
    (WILD / "2022-07-11_real-arm64-rockpro64-rockchip-i2s-probe-null-deref-oops.log",
     "in pinctrl_lookup_state (called from rockchip_i2s_probe)", "pc : pinctrl_lookup_state+0x20/0xc0"),
    (WILD / "2026-08-17_syzkaller-riscv-oops-user-memory-access-schedule-tail.log",
     "in schedule_tail", "epc : schedule_tail+0x72/0xb2"),
    (SYZKALLER / "382", "in iptunnel_xmit (called from udp_tunnel_xmit_skb)", "RIP: 0010:iptunnel_xmit+0x6e5/0x970"),
])
def test_the_fault_site_is_named_with_its_register_line(log: Path, named: str, line: str, tmp_path: Path) -> None:
    finding = _other_report(log, tmp_path)
    assert named in finding.title
    assert line in [e.text for e in finding.evidence]


def test_a_helper_that_raises_the_bug_is_not_the_place(tmp_path: Path) -> None:
    finding = _other_report(SYZKALLER / "448", tmp_path)
    assert "in skb_put (called from pfkey_send_acquire)" in finding.title
    assert "skb_panic" not in finding.title


@pytest.mark.parametrize(("line", "function"), [
    ("RIP: 0010:iptunnel_xmit+0x6e5/0x970", "iptunnel_xmit"),
    ("RIP: 0010:[<ffffffff8111a0f5>]  [<ffffffff8111a0f5>] kfree+0x45/0x1a0", "kfree"),
    ("RIP: 0010:div_u64 include/linux/math64.h:128 [inline]", "div_u64"),
    ("RIP: 0033:0x458da9", None),  # user space: no function
    ("RIP: 0010:[<0000000000000000>]  [<          (null)>]           (null)", None),
    ("PC is at _snd_timer_stop.constprop.9+0x184/0x2b0", "_snd_timer_stop.constprop.9"),
    ("LR is at snd_timer_stop+0x10/0x20", None),  # the caller, not the fault site
    ("NIP [c00000000022d79c] partition_sched_domains_locked+0x1ac/0x5f0 kernel/sched/topology.c:2216",
     "partition_sched_domains_locked"),
    ("LR [c00000000022d784] partition_sched_domains_locked+0x194/0x5f0 kernel/sched/topology.c:2216", None),
    ("pc : pinctrl_lookup_state+0x20/0xc0", "pinctrl_lookup_state"),
    ("lr : rockchip_i2s_probe+0x1a8/0x54c", None),
])
def test_which_register_lines_name_the_fault_site(line: str, function: str | None) -> None:
    # The line read inside an oops: the report's row keeps the function (the first such line).
    capture = load_lines("oops.log", ["Oops: 0000 [#1] SMP", line])
    fields = capture.events["fields"].iloc[0]
    assert fields.get("fault_function") == function
    if function is not None:
        assert fields["fault_text"] == line.strip()
        assert fields["fault_line"] == "2"
