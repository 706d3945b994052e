"""``stallscope diff`` and ``stallscope check`` on real captures, and ``git bisect run`` for real.

The pairs are captures of one workload: Tetsuo Handa's oom-write reproducer on a 4.4-rc kernel
(2015, the OOM reaper not yet merged) and on a patched 6.1 kernel (the memalloc-qemu capture);
two runs of his too_many_isolated() reproducer; the qemu corpus's OOM scenario with and without a
frozen filesystem under the victim.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import stallscope
from conftest import DATA, loaded
from stallscope.capture.model import Capture
from stallscope.diff import BETTER, BOTH, CANNOT_TELL, GONE, NEW, SAME, WORSE, Comparison, compare, stall_episodes
from stallscope.rules.base import Finding

OOM_WRITE_2015 = "lkml/2015-12-05_oom-reaper-trap-oom-write-early-format.log"
OOM_WRITE_6_1 = "memalloc-qemu/oomwrite-1cpu-128M-w3.log"
ISOLATED_A = "lkml/2016-02-09_too-many-isolated-no-oom-livelock.log"
ISOLATED_B = "lkml/2016-02-11_too-many-isolated-dma-zone-comma-format.log"
OOM_GLOBAL = "qemu/oom-global.log"
OOM_STUCK = "qemu/oom-stuck-victim.log"
NOT_A_LOG = "qemu/oom-global.expected.json"  # a golden file: JSON about a log, no kernel line in it
QUIET = "qemu/thrash-nooom-sysrq-m.log"  # a negative case: memory pressure, no stall report
BAD = "lkml/2016-02-25_oom-reaper-unable-mmap-sem-victim-stuck.log"
CLI = Path(sys.executable).parent / "stallscope"
pytestmark_cli = pytest.mark.skipif(not CLI.exists(), reason="the stallscope console script is not installed")


def _side(relative: str) -> tuple[Capture, list[Finding]]:
    capture, findings = loaded(relative)
    return capture, list(findings)


def _compare(before: str, after: str, hz: float | None = None) -> Comparison:
    (a, fa), (b, fb) = _side(before), _side(after)
    return compare(a, fa, b, fb, hz, names=(before, after))


def _rows(comparison: Comparison) -> dict[tuple[str, str | None], tuple[str, str | None, str | None, int, int]]:
    return {(r.key.rule, r.key.site): (r.status, r.before_severity, r.after_severity, r.before, r.after)
            for r in comparison.overall.findings}


def test_oom_write_before_and_after_the_oom_reaper() -> None:
    comparison = _compare(OOM_WRITE_2015, OOM_WRITE_6_1, hz=1000)
    assert comparison.verdict == BETTER
    assert comparison.sentence.startswith(f"{OOM_WRITE_6_1} is better than {OOM_WRITE_2015}: the worst finding "
                                          "fell from critical to warning (gone: seq-livelock, victim-stuck)")
    assert "the longest allocation delay fell from 71.7 s to 5.8 s" in comparison.sentence
    assert "but warning findings rose from 1 to 4" in comparison.sentence
    before, after = comparison.overall.before, comparison.overall.after
    assert before is not None and after is not None
    # The facts, read off the logs: delay= 71717 and 5768 jiffies at HZ=1000.
    assert (before.max_delay_jiffies, after.max_delay_jiffies) == (71717, 5768)
    assert (before.max_delay_seconds, after.max_delay_seconds) == (71.717, 5.768)
    assert (before.reports, after.reports) == (2, 1)
    assert (before.max_stalling, after.max_stalling) == (9, 12)
    assert (before.oom_kills, after.oom_kills) == (2, 176)
    assert (before.oom_invocations, after.oom_invocations) == (2, 161)
    rows = _rows(comparison)
    # Findings matched by rule and site, never by their titles (which name tasks and counts).
    assert rows[("seq-livelock", None)] == (GONE, "critical", None, 1, 0)
    assert rows[("victim-stuck", None)] == (GONE, "critical", None, 1, 0)  # no trace printed in 2015
    assert rows[("victim-stuck", "ext4_da_get_block_prep <- down_read")] == (NEW, None, "warning", 0, 1)
    assert rows[("reclaim-throttle", "shrink_node <- reclaim_throttle")] == (NEW, None, "warning", 0, 1)
    assert rows[("oom-kill", None)] == (BOTH, "warning", "warning", 1, 1)
    signatures = {r.name: (r.status, r.before_tasks, r.after_tasks) for r in comparison.overall.signatures}
    assert signatures["shrink_node <- reclaim_throttle"] == (NEW, 0, 6)
    waits = {r.name: (r.status, r.after_tasks) for r in comparison.overall.waits}
    assert waits["reclaim_throttle"] == (NEW, 6) and waits["down_read"] == (NEW, 1)


def test_hz_unknown_on_one_side_is_not_compared_in_seconds() -> None:
    comparison = _compare(OOM_WRITE_2015, OOM_WRITE_6_1)
    after = comparison.overall.after
    assert after is not None and after.hz is None and after.max_delay_seconds is None  # one report: no pairs
    assert "allocation delay" not in comparison.sentence


def test_same_finding_with_other_counts_is_matched() -> None:
    comparison = _compare(ISOLATED_A, ISOLATED_B)
    rows = _rows(comparison)
    # "185 tasks stalling, oom_count frozen at 1593" and "53 tasks stalling, ... at 182": one finding.
    assert rows == {("oom-plateau", None): (BOTH, "critical", "critical", 1, 1),
                    ("victim-stuck", None): (BOTH, "warning", "warning", 1, 1)}
    assert comparison.verdict == BETTER
    # The comma format prints no task lines: no delay to compare, and the sentence does not pretend.
    assert comparison.sentence == (f"{ISOLATED_B} is better than {ISOLATED_A}: the most tasks stalling at once fell "
                                   "from 343 to 53; still found in both: oom-plateau (critical), victim-stuck "
                                   "(warning).")


def test_frozen_filesystem_under_the_victim_is_worse() -> None:
    comparison = _compare(OOM_GLOBAL, OOM_STUCK)
    assert comparison.verdict == WORSE
    rows = _rows(comparison)
    assert rows[("hung-task", "path_openat <- mnt_want_write")] == (NEW, None, "warning", 0, 1)
    assert rows[("oom-kill", None)][0] == BOTH
    assert comparison.sentence == (f"{OOM_STUCK} is worse than {OOM_GLOBAL}: warning findings rose from 1 to 2 "
                                   "(new: hung-task @ path_openat <- mnt_want_write); hung tasks rose from "
                                   "0 to 1.")
    after = comparison.overall.after
    assert after is not None and (after.hung_task_reports, after.hung_tasks) == (1, 1)


def test_a_capture_against_itself_is_the_same() -> None:
    comparison = _compare(OOM_WRITE_6_1, OOM_WRITE_6_1)
    assert comparison.verdict == SAME
    assert all(r.status == BOTH for r in comparison.overall.findings + comparison.overall.signatures)


def test_nothing_understood_cannot_tell() -> None:
    text = stallscope.load(str(DATA / NOT_A_LOG))
    capture, findings = _side(BAD)
    comparison = compare(capture, findings, text, [], names=("bad.log", "oom-global.expected.json"))
    assert comparison.verdict == CANNOT_TELL
    assert comparison.sentence.startswith("Cannot tell: oom-global.expected.json holds no kernel line stallscope understood")


def test_stall_episodes_split_at_a_reboot(tmp_path: Path) -> None:
    log = (DATA / OOM_GLOBAL).read_bytes()
    assert stall_episodes(stallscope.load(str(DATA / OOM_GLOBAL))) == 1
    # The same boot captured twice in one file: the kernel time goes back, so two episodes.
    twice = tmp_path / "two-boots.log"
    twice.write_bytes(log + log)
    assert stall_episodes(stallscope.load(str(twice))) == 2


def test_machines_paired_by_host_and_by_file(tmp_path: Path) -> None:
    laptop = DATA / "lkml" / "2017-03-14_real-laptop-syslog-warn-alloc-stalls-thrashing.log"
    for side, crash in (("before", BAD), ("after", OOM_WRITE_6_1)):
        (tmp_path / side / "var" / "log").mkdir(parents=True)
        shutil.copy(laptop, tmp_path / side / "var" / "log" / "messages")
        shutil.copy(DATA / crash, tmp_path / side / "crash.log")
    before, after = stallscope.load(str(tmp_path / "before")), stallscope.load(str(tmp_path / "after"))
    comparison = compare(before, stallscope.diagnose(before), after, stallscope.diagnose(after))
    machines = {m.name: m for m in comparison.machines}
    assert set(machines) == {"x61s-44a5", "crash.log"}  # the syslog's host, and the file without one
    assert machines["x61s-44a5"].verdict == SAME
    assert machines["crash.log"].verdict == BETTER


# -- the command line ------------------------------------------------------------------------------
def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(CLI), *args], capture_output=True, timeout=300, check=False, cwd=cwd)


@pytestmark_cli
def test_cli_diff_formats_and_exit_codes() -> None:
    before, after = str(DATA / OOM_GLOBAL), str(DATA / OOM_STUCK)
    result = _cli("diff", before, after, "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["verdict"] == WORSE and document["before"] == before
    assert document["overall"]["after"]["hung_tasks"] == 1
    assert {(r["rule"], r["status"]) for r in document["overall"]["findings"]} == {("hung-task", NEW),
                                                                                  ("oom-kill", BOTH)}
    markdown = _cli("diff", before, after, "--format", "md")
    assert markdown.returncode == 0
    assert markdown.stdout.decode().startswith("## stallscope diff: worse\n\n")
    assert "| new  | hung-task | path_openat \\<- mnt_want_write |" in markdown.stdout.decode()
    text = _cli("diff", before, after, "--no-color")
    assert text.returncode == 0 and "Verdict: worse" in text.stdout.decode()
    assert _cli("diff", before, after, "--fail-if-worse").returncode == 3
    assert _cli("diff", after, before, "--fail-if-worse").returncode == 0
    missing = _cli("diff", before, "no-such.log")
    assert missing.returncode == 1 and missing.stderr.decode() == "stallscope: no-such.log: no such file or directory\n"


@pytestmark_cli
def test_cli_check_codes() -> None:
    assert _cli("check", str(DATA / QUIET)).returncode == 0
    bad = _cli("check", str(DATA / BAD))
    assert bad.returncode == 3
    assert bad.stdout.decode().splitlines()[-1] == "stallscope check: bad (exit 3): 3 finding(s) at critical or worse"
    assert _cli("check", str(DATA / BAD), "--bisect").returncode == 1
    assert _cli("check", str(DATA / OOM_GLOBAL), "--bisect").returncode == 0  # warnings only
    assert _cli("check", str(DATA / OOM_GLOBAL), "--bisect", "--fail-on", "warning").returncode == 1
    prose = _cli("check", str(DATA / NOT_A_LOG), "--bisect")
    assert prose.returncode == 125 and b"cannot tell" in prose.stdout
    assert _cli("check", "no-such.log", "--bisect").returncode == 125
    # A mistyped command must stop git bisect run, not mark the commit bad.
    assert _cli("check", str(DATA / BAD), "--bisect", "--fail-on", "sometimes").returncode == 128


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, timeout=120, check=True,
                            env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
                                 "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"})
    return result.stdout.decode()


@pytestmark_cli
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_bisect_run_finds_the_first_bad_capture(tmp_path: Path) -> None:
    """A kernel tree's history stood in for by commits holding each boot's capture: quiet boots,
    one boot whose console caught nothing understandable (skipped), then the stall."""
    repo = tmp_path / "linux"
    repo.mkdir()
    _git(repo, "init", "-q")
    # Boot 4 is the first git tests (the middle): it is skipped, and the others still pin boot 6.
    captures = [QUIET, QUIET, OOM_GLOBAL, None, QUIET, BAD, OOM_WRITE_2015]
    for number, relative in enumerate(captures, 1):
        target = repo / "capture.log"
        if relative is None:
            shutil.copy(DATA / NOT_A_LOG, target)  # the console caught nothing: not kernel output
        else:
            shutil.copy(DATA / relative, target)
        (repo / "VERSION").write_text(f"{number}\n")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", f"boot {number}")
    _git(repo, "bisect", "start", "HEAD", "HEAD~6")
    env = {**os.environ, "PATH": f"{CLI.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    # The README's recipe, word for word.
    run = subprocess.run(["git", "bisect", "run", "stallscope", "check", "capture.log", "--fail-on", "critical",
                          "--bisect"], cwd=repo, capture_output=True, timeout=300, check=False, env=env)
    said = run.stdout.decode()
    assert run.returncode == 0, said + run.stderr.decode()
    first_bad = _git(repo, "rev-parse", "refs/bisect/bad").strip()
    assert _git(repo, "show", f"{first_bad}:VERSION").strip() == "6"
    assert "is the first bad commit" in said
    assert "stallscope check: cannot tell (exit 125)" in said  # boot 4 was skipped, not judged
    _git(repo, "bisect", "reset")
