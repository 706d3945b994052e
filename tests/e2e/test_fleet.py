"""Fleet analysis: several machines' logs read together, summarised machine by machine."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
from test_bulk import _make_log_module
from typer.testing import CliRunner

import stallscope
from conftest import DATA, rebooted_serial_capture
from stallscope import forked, parallel
from stallscope.cli import app
from stallscope.diagnose import at_once_rules, view_keys
from stallscope.fleet import fleet
from stallscope.parallel import (
    FORK_RULES_VIEWS,
    LocalEngine,
    diagnose_forked,
    diagnose_on,
    load_parallel,
    split_machines,
)
from stallscope.rules import rule_cost, shared_derivations
from stallscope.rules.base import Finding
from stallscope.rules.common.seq_history import SEQ_HISTORY

KSWAPD_BUF_LOCK = DATA / "lkml" / "2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"
KSWAPD_IFLOCK = DATA / "lkml" / "2017-02-26_nofs-no-oom-kswapd-xfs-iflock.log"
NOFS_LIVELOCK = DATA / "lkml" / "2016-04-05_oom-livelock-xfs-nofs-noio.log"
BOOT = DATA / "qemu" / "formats" / "formats-dmesg.log"


def _as_host(source: Path, host: str, out: Path, limit: int | None = None) -> None:
    """A corpus log as that host's syslog would store it (the host name in every prefix)."""
    with source.open(encoding="utf-8") as lines, out.open("w", encoding="utf-8") as sink:
        for number, line in enumerate(lines):
            if limit is not None and number >= limit:
                break
            sink.write(f"Feb 21 10:00:{number % 60:02d} {host} kernel: {line}")


def make_fleet(directory: Path) -> Path:
    """Two web servers hit by the same bug, a database with another one, a batch box, a quiet box."""
    directory.mkdir(parents=True, exist_ok=True)
    _as_host(KSWAPD_BUF_LOCK, "web1", directory / "web1.log")
    _as_host(KSWAPD_BUF_LOCK, "web2", directory / "web2.log")
    _as_host(KSWAPD_IFLOCK, "db1", directory / "db1.log")
    shutil.copy(NOFS_LIVELOCK, directory / "batch7.log")  # plain dmesg: the file is the machine
    _as_host(BOOT, "quiet1", directory / "quiet1.log", limit=30)
    return directory


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fleet(tmp_path_factory.mktemp("fleet") / "logs")


def _analyze(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["analyze", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_summary_names_the_stalled_hosts_and_their_worst_finding(fleet_dir: Path) -> None:
    document = _analyze(str(fleet_dir), "-j", "2")
    summary = document["summary"]["fleet"]  # type: ignore[index]
    batch = str(fleet_dir / "batch7.log")
    quiet = str(fleet_dir / "quiet1.log")
    assert summary["machines"] == 5
    assert sorted(summary["stalled"]) == sorted(["web1", "web2", "db1", batch])
    rows = {row["machine"]: row for row in summary["per_machine"]}
    assert set(rows) == {"web1", "web2", "db1", batch, quiet}
    assert rows[quiet]["stalled"] is False and rows[quiet]["worst"] is None
    assert rows["web1"]["worst"]["rule"] == "oom-plateau"
    assert rows["db1"]["worst"]["severity"] == "critical"
    # 2016-04-05: the three-way NOFS/NOIO dependency ranks above the livelock it explains.
    assert rows[batch]["worst"]["rule"] == "fs-reclaim-dependency"
    assert rows[batch]["host"] is None and rows["web1"]["host"] == "web1"
    # First and last stall lines of each machine, cited in its own file.
    assert rows["web1"]["first"]["source"] == str(fleet_dir / "web1.log")
    assert rows["web1"]["first"]["line"] < rows["web1"]["last"]["line"]
    assert rows["web1"]["last"]["ts"] == pytest.approx(1278.241813)
    # Stalled machines come first, the quiet one last.
    assert summary["per_machine"][-1]["machine"] == quiet
    # Findings are per machine: the same bug on web1 and web2 is two findings.
    hosts = [f["host"] for f in document["findings"] if f["rule"] == "oom-plateau"]  # type: ignore[index]
    assert sorted(hosts) == ["web1", "web2"]


def test_shared_signature_groups_the_machines_with_the_same_stack(fleet_dir: Path) -> None:
    summary = _analyze(str(fleet_dir))["summary"]["fleet"]  # type: ignore[index]
    shared = {s["signature"]: s for s in summary["shared_signatures"]}
    assert "_xfs_buf_find <- xfs_buf_lock" in shared
    assert shared["_xfs_buf_find <- xfs_buf_lock"]["machines"] == ["web1", "web2"]
    assert shared["_xfs_buf_find <- xfs_buf_lock"]["guilty"] == "xfs_buf_lock"
    assert any(t.startswith("kswapd0(67)@web") for t in shared["_xfs_buf_find <- xfs_buf_lock"]["tasks"])
    # db1's inode-flush wait is its own: not listed as shared.
    assert "xfs_reclaim_inode <- __xfs_iflock" not in shared
    assert all(len(s["machines"]) >= 2 for s in summary["shared_signatures"])


def test_text_report_starts_with_the_fleet_summary(fleet_dir: Path) -> None:
    result = CliRunner().invoke(app, ["analyze", str(fleet_dir)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("Fleet: 4 of 5 machine(s) stalled") < out.index("Verdict")
    assert "Stack signatures seen on several machines" in out
    assert "_xfs_buf_find <- xfs_buf_lock" in out.split("Verdict")[0]


def test_one_machine_has_no_fleet_summary() -> None:
    document = _analyze(str(KSWAPD_BUF_LOCK))
    assert "fleet" not in document["summary"]  # type: ignore[operator]
    result = CliRunner().invoke(app, ["analyze", str(KSWAPD_BUF_LOCK)])
    assert "Fleet:" not in result.output


def test_one_input_without_watchdog_output_is_no_fleet() -> None:
    # A capture without rows once counted as a placeholder machine beside its own input.
    # A line that is no kernel output is said to be no kernel log, not judged to hold no stall.
    for text, said in (("x\n", "This does not look like a kernel log: 0 of 1 lines understood"),
                       ("[    1.000000] Linux version 6.1.0\n", "No memory-allocation stall was found")):
        result = CliRunner().invoke(app, ["analyze", "-"], input=text)
        assert result.exit_code == 0, result.output
        assert "Fleet:" not in result.output
        assert said in result.output


def test_receiver_log_with_many_hosts(tmp_path: Path) -> None:
    log = tmp_path / "receiver.log"
    _make_log_module().generate(300 << 10, log, seed=5, hosts=3, tasks=12)
    capture = stallscope.load(str(log))
    found = fleet(capture, stallscope.diagnose(capture))
    assert found is not None
    # host00 writes bare dmesg lines (the file names it); the others name themselves.
    assert {m.name for m in found.machines} == {str(log), "host01", "host02"}
    assert all(m.sources == [str(log)] for m in found.machines)


@pytest.mark.parametrize("kind", ["directory", "receiver"])
def test_rules_per_machine_equal_rules_on_the_whole(kind: str, fleet_dir: Path, tmp_path: Path) -> None:
    """The per-machine split (what a cluster runs) finds exactly what diagnose finds on the whole."""
    if kind == "directory":
        capture = load_parallel(str(fleet_dir), jobs=2)
    else:
        log = tmp_path / "receiver.log"
        _make_log_module().generate(300 << 10, log, seed=9, hosts=3, tasks=12)
        capture = stallscope.load(str(log))
    assert len(split_machines(capture)) >= 3

    def key(findings: list[stallscope.Finding]) -> list[tuple[object, ...]]:
        return [(f.rule, f.host, f.severity, f.title, f.explanation, [e.as_dict() for e in f.evidence],
                 f.tasks) for f in findings]

    whole = key(stallscope.diagnose(capture))
    assert whole
    assert key(diagnose_on(capture)) == whole
    with LocalEngine(2) as engine:
        assert key(diagnose_on(capture, engine)) == whole


def test_boots_shared_with_a_forked_process_give_the_findings_of_one_process(tmp_path: Path) -> None:
    """A serial capture of a machine rebooted after each incident: its views (one per boot)
    shared among forked processes give the same findings in the same order, and the command the
    same JSON."""
    log = tmp_path / "serial.log"
    log.write_bytes(rebooted_serial_capture())
    capture = stallscope.load(str(log))
    assert len(view_keys(capture)) >= FORK_RULES_VIEWS  # so that diagnose_forked does fork
    whole = [f.as_dict() for f in stallscope.diagnose(capture)]
    assert len({f["boot"] for f in whole}) >= FORK_RULES_VIEWS // 2
    gathered = diagnose_forked(capture)
    assert [f.as_dict() for f in gathered] == whole
    # Received from other processes, equal parts are held once: each task and line cited again
    # and again (the boots repeat them) is one object.
    for parts in ([t for f in gathered for t in f.tasks], [e for f in gathered for e in f.evidence]):
        assert len({id(part) for part in parts}) == len(set(parts)) < len(parts)
    assert [f.as_dict() for f in diagnose_forked(capture, 3)] == whole
    runs = [CliRunner().invoke(app, ["analyze", "--format", "json", "-j", jobs, str(log)]) for jobs in ("1", "2")]
    assert runs[0].exit_code == runs[1].exit_code
    assert runs[0].output == runs[1].output


def _rows(capture: stallscope.Capture) -> int:
    return len(capture.snapshots) + len(capture.tasks) + len(capture.events)


def _shares_counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many positions (views, windows, tasks) each call of forked.shared is given, from now on."""
    counts: list[int] = []
    share = forked.shared

    def counted(work: object, positions: list[int], *args: object, **kwargs: object) -> object:
        counts.append(len(positions))
        return share(work, positions, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(forked, "shared", counted)
    return counts


@pytest.mark.parametrize("log", ["lkml/2016-04-05_oom-livelock-xfs-nofs-noio.log", "memalloc-qemu/oomwrite-1cpu-128M-w3.log",
                                 "lkml/2017-03-03_wq-mem-reclaim-xfs-rescuer.log"])
def test_the_rules_of_one_long_boot_shared_among_forked_processes_give_the_findings_of_one_process(
        log: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One boot of many rows (here: the threshold lowered to a real boot's rows) has its rules,
    not its views, shared among forked processes: the same findings in the same order."""
    capture = stallscope.load(str(DATA / log))
    assert len(view_keys(capture)) == 1
    monkeypatch.setattr(parallel, "SPLIT_RULES_ROWS", _rows(capture))
    tasks = _shares_counted(monkeypatch)
    whole = [f.as_dict() for f in stallscope.diagnose(capture)]
    assert len({f["rule"] for f in whole}) >= 2  # rules of both groups
    assert [f.as_dict() for f in diagnose_forked(capture)] == whole
    assert [f.as_dict() for f in diagnose_forked(capture, 3)] == whole
    assert tasks == [2, 3]  # one task per group of rules
    monkeypatch.setattr(parallel, "SPLIT_RULES_ROWS", _rows(capture) + 1)
    assert [f.as_dict() for f in diagnose_forked(capture)] == whole
    assert tasks == [2, 3]  # fewer rows: run here


def test_few_machines_of_many_rows_are_shared_among_forked_processes_by_view(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three machines (fewer views than FORK_RULES_VIEWS) of many rows (here: the threshold
    lowered to theirs) have their views shared among forked processes, not read here: the same
    findings in the same order."""
    capture = stallscope.load(*(str(DATA / log) for log in ("lkml/2016-04-05_oom-livelock-xfs-nofs-noio.log",
                                                             "memalloc-qemu/oomwrite-1cpu-128M-w3.log",
                                                             "lkml/2017-03-03_wq-mem-reclaim-xfs-rescuer.log")))
    assert 2 <= len(view_keys(capture)) < FORK_RULES_VIEWS
    rows = _rows(capture)
    shares = _shares_counted(monkeypatch)
    whole = [f.as_dict() for f in stallscope.diagnose(capture)]
    assert len({f["host"] or f["evidence"][0]["source"] for f in whole}) == 3  # findings on every machine
    monkeypatch.setattr(parallel, "SPLIT_RULES_ROWS", rows + 1)
    assert [f.as_dict() for f in diagnose_forked(capture)] == whole and shares == []  # run here
    monkeypatch.setattr(parallel, "SPLIT_RULES_ROWS", rows)
    assert [f.as_dict() for f in diagnose_forked(capture)] == whole
    assert shares == [len(view_keys(capture))]  # a window per machine, every rule in each


def test_report_check_and_diff_share_the_rules_as_analyze_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``report``, ``check`` and ``diff`` of a capture of many boots run the rules in forked
    processes on a machine of two cores (as ``analyze`` does), and write what one process writes."""
    log = tmp_path / "serial.log"
    log.write_bytes(rebooted_serial_capture())
    forks: list[int] = []
    forked_rules = parallel.diagnose_forked

    def counted(*args: object, **kwargs: object) -> object:
        forks.append(1)
        return forked_rules(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(parallel, "diagnose_forked", counted)
    commands = {
        "report": ["report", str(log), "-o", str(tmp_path / "out.md")],
        "check": ["check", "--fail-on", "warning", str(log)],
        "diff": ["diff", "--format", "json", str(log), str(log)],
    }
    outputs: dict[int, dict[str, tuple[int, str]]] = {}
    for cores in (1, 2):
        monkeypatch.setattr(parallel, "default_jobs", lambda cores=cores: cores)
        outputs[cores] = {}
        for name, args in commands.items():
            result = CliRunner().invoke(app, args)
            written = (tmp_path / "out.md").read_text() if name == "report" else result.output
            outputs[cores][name] = (result.exit_code, written)
        assert len(forks) == (0 if cores == 1 else 4)  # diff diagnoses both sides
    assert outputs[1] == outputs[2]
    assert outputs[1]["check"][0] == 3 and "stallscope check: bad" in outputs[1]["check"][1]
    assert "## Boots" in outputs[1]["report"][1]


def test_views_of_a_forked_process_that_dies_are_diagnosed_by_its_parent(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A forked process that dies after sending its first view's findings: the parent diagnoses
    the views it did not receive, and the findings are those of one process."""
    log = tmp_path / "serial.log"
    log.write_bytes(rebooted_serial_capture())
    capture = stallscope.load(str(log))
    whole = [f.as_dict() for f in stallscope.diagnose(capture)]

    def dies_after_one_view(work: forked.Work[list[Finding]], share: Sequence[int], sender: Connection,
                            parent_ends: Sequence[Connection]) -> None:
        sender.send(next(iter(work(share[:1]))))
        os._exit(1)

    monkeypatch.setattr(forked, "_send", dies_after_one_view)
    assert [f.as_dict() for f in diagnose_forked(capture)] == whole


def test_windows_of_unequal_sizes_are_shared_by_their_sizes() -> None:
    """The windows of boots of a fleet's machines (their sizes as at_once_windows cut bench's fleet
    family at 100 MB): interleaved, one process had 2.5 times the other's boots."""
    sizes = [37, 64, 12, 51, 40, 64, 8, 64, 4, 58, 55]
    positions = [-1 - place for place in range(len(sizes))]
    shares = forked.balanced(positions, sizes, 2)
    assert sorted(p for share in shares for p in share) == sorted(positions)
    assert all(share == sorted(share, key=positions.index) for share in shares)  # each in the given order
    loads = [sum(sizes[-1 - p] for p in share) for share in shares]
    assert max(loads) - min(loads) <= max(sizes)
    interleaved = [sum(sizes[::2]), sum(sizes[1::2])]
    assert max(loads) < max(interleaved)
    assert forked.balanced([5, 6, 7], [1, 1, 1], 3) == [[5], [6], [7]]
    assert forked.balanced([], [], 2) == [[], []]


def test_the_rules_of_one_long_boot_are_split_into_groups_of_about_equal_cost() -> None:
    """Each group's cost is within one set of rules' cost of every other's (a rule, or the rules
    that share derivations, together), every rule in one group, in the order that holds shared
    derivations briefly (taken alternately, the costliest rules of a 1 GB journal fell into one
    group), on a boot of task rows and one of event lines alike."""
    rules = at_once_rules()
    # The two 1 GB captures COST is fitted to: excerpts (task rows only), journal-short.
    for rows in ((8_352_044, 0), (318_136, 4_700_918), (1_000, 1_000)):
        largest = max(sum(rule_cost(rules[at], rows) for at in members) for members in parallel._sharing(rules))
        for count in (2, 3):
            groups = parallel.rules_in_groups(rules, count, rows)
            assert sorted(rule.RULE for group in groups for rule in group) == sorted(rule.RULE for rule in rules)
            assert all(group == parallel.holding_briefly(sorted(group, key=rules.index)) for group in groups)
            loads = [sum(rule_cost(rule, rows) for rule in group) for group in groups]
            assert max(loads) - min(loads) <= largest
    # The rules that read task rows are the costly ones of the excerpts: not all in one group
    # (one number of seconds fitted to the journal put them there, 6.4 s against 0.3 s).
    task_rules = {"seq-livelock", "victim-stuck", "oom-livelock", "fs-reclaim-dependency"}
    groups = parallel.rules_in_groups(rules, 2, (8_352_044, 0))
    assert all(task_rules - {rule.RULE for rule in group} for group in groups)


class _Made:
    """A made-up rule: its id, COST (per million task rows, per million event rows) and
    SHARED_DERIVATIONS."""

    def __init__(self, rule: str, cost: float, *derivations: str) -> None:
        self.RULE, self.COST, self.SHARED_DERIVATIONS = rule, (cost, 0.0), derivations


def test_the_rules_that_share_a_derivation_run_in_one_group() -> None:
    """seq-livelock and slow-progress read one seq history (250 MB of the 1 GB excerpts capture),
    oom-kill and oom-panic the OOM invocations (0.75 s of a 1 GB journal): in two groups, both
    forked processes derived them."""
    rules = at_once_rules()
    for count in (2, 3, 4):
        groups = parallel.rules_in_groups(rules, count, (318_136, 4_700_918))
        for name in {name for rule in rules for name in shared_derivations(rule)}:
            sharing = sorted(rule.RULE for rule in rules if name in shared_derivations(rule))
            holding = [group for group in groups if any(rule.RULE in sharing for rule in group)]
            assert len(holding) == 1, (name, [[rule.RULE for rule in group] for group in holding])
    assert {"seq-livelock", "slow-progress"} <= {rule.RULE for rule in rules if SEQ_HISTORY in shared_derivations(rule)}
    # Made-up rules: a shares x with d, d shares y with g: the three go together (the costliest
    # set), the others fill the other group.
    made = [_Made("a", 3.0, "x"), _Made("b", 1.0), _Made("c", 1.0), _Made("d", 0.5, "x", "y"), _Made("e", 1.0),
            _Made("f", 1.0), _Made("g", 0.5, "y")]
    groups = parallel.rules_in_groups(made, 2, (1_000_000, 0))  # type: ignore[arg-type]
    assert [[rule.RULE for rule in group] for group in groups] == [["a", "d", "g"], ["b", "c", "e", "f"]]


def _held(rules: Sequence[object]) -> int:
    """For each shared derivation, the rules that run while it is held (from its first reader to
    its last, both counted), summed."""
    spans = 0
    for name in {name for rule in rules for name in shared_derivations(rule)}:  # type: ignore[arg-type]
        readers = [at for at, rule in enumerate(rules) if name in shared_derivations(rule)]  # type: ignore[arg-type]
        spans += readers[-1] - readers[0] + 1
    return spans


def test_a_group_of_rules_runs_in_an_order_that_holds_each_shared_derivation_briefly() -> None:
    """A derivation is let go after the last rule that reads it: the rules that read one run one
    after another where they can (in rule order a 1 GB journal's group held its OOM kills, 50 MB,
    through four other rules). Every rule runs once; made-up rules: a and d share x, c and e y."""
    made = [_Made("a", 1.0, "x"), _Made("b", 1.0), _Made("c", 1.0, "y"), _Made("d", 1.0, "x"), _Made("e", 1.0, "y")]
    ordered = parallel.holding_briefly(made)  # type: ignore[arg-type]
    assert [rule.RULE for rule in ordered] == ["a", "d", "b", "c", "e"]
    assert (_held(made), _held(ordered)) == (7, 4)
    rules = at_once_rules()
    for rows in ((8_352_044, 0), (318_136, 4_700_918)):
        for count in (1, 2, 3):
            for group in parallel.rules_in_groups(rules, count, rows):
                in_rule_order = sorted(group, key=rules.index)
                assert sorted(rule.RULE for rule in group) == sorted(rule.RULE for rule in in_rule_order)
                assert _held(group) <= _held(in_rule_order)
    # The journal's group that held the OOM kills: hung-task and oom-kill now run in a row.
    journal = parallel.rules_in_groups(rules, 2, (318_136, 4_700_918))
    group = next(group for group in journal if "hung-task" in {rule.RULE for rule in group})
    names = [rule.RULE for rule in group]
    assert names.index("oom-kill") == names.index("hung-task") + 1
    assert _held(group) < _held(sorted(group, key=rules.index))
