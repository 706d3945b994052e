"""The conventions of a Unix command (issue 21, item 6): help with examples and exit codes, -h,
python -m, shell completion, a man page, a hint before reading a terminal, and a quick start.

Each test runs the installed command as a user would: a real process, real logs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.cells import cell_len

from conftest import DATA, ROOT
from stallscope import entry
from stallscope.cli import EXIT_CODES
from terminal_helpers import Run, environment, piped, stallscope, typed_in

XFS = DATA / "lkml" / "2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"
COMMANDS = ("analyze", "report", "export", "watch")
HINT = "stallscope: reading the kernel log from standard input (Ctrl-D ends it)"
# The command line itself, without the quick answers of stallscope.entry.
THROUGH_CLICK = [sys.executable, "-c", "from stallscope.cli import run; run()"]
HEAVY = ("pandas", "numpy", "matplotlib", "lark", "pyarrow")


def _through_click(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([*THROUGH_CLICK, *args], capture_output=True, env=environment(env), timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


# -- help ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_is_clean(command: str) -> None:
    args = [command] if command else []
    done = piped(*args, "--help")
    assert done.code == 0 and done.err == ""
    text = done.out
    # No type placeholders: a flag takes no value, a list of files is not a "<list[str]>".
    assert not re.search(r"<(bool|str|int|float|list|int range|float range)[^>]*>", text), text
    assert "{" not in text.split("\n")[0]
    assert max(cell_len(line) for line in text.split("\n")) <= 80
    assert "-h, --help" in text
    assert piped(*args, "-h").out == text
    assert text.startswith(f"Usage: stallscope {command}".rstrip() + " [OPTIONS]")
    assert "Examples:" in text


def test_help_lists_every_exit_code_and_examples() -> None:
    for args in ([], ["analyze"]):
        text = piped(*args, "--help").out
        codes = text.split("Exit codes:")[1]
        for code, meaning in EXIT_CODES:
            assert re.search(rf"^\s+{code}\s+{re.escape(meaning.split()[0])}", codes, re.M), (code, meaning)
    usage = piped("analyze", "--help").out
    assert usage.startswith("Usage: stallscope analyze [OPTIONS] LOG...\n")
    assert "--show-unparsed    " in usage and "--show-unparsed <" not in usage
    assert "dmesg | stallscope analyze -" in usage
    assert piped("watch", "--help").out.startswith("Usage: stallscope watch [OPTIONS] [LOG]\n")


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_quick_help_is_what_click_prints(command: str) -> None:
    """``--help`` answered from help.txt is the page click itself writes, letter for letter."""
    args = [command, "--help"] if command else ["--help"]
    for columns in ("80", "200"):
        assert piped(*args, env={"COLUMNS": columns}).out == _through_click(*args, env={"COLUMNS": columns})
    # Narrower than click's full width, the page is laid out by click, for that width.
    narrow = piped(*args, env={"COLUMNS": "60"}).out
    assert narrow == _through_click(*args, env={"COLUMNS": "60"})
    assert max(len(line) for line in narrow.split("\n")) <= 60


def test_saved_help_and_man_page_are_current() -> None:
    done = subprocess.run([sys.executable, "-m", "stallscope.manual", "--check"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def test_saved_help_is_ignored_once_the_command_line_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = tmp_path / "help.txt"
    saved.write_text(Path(entry.HELP_FILE).read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(entry, "HELP_FILE", str(saved))
    assert entry.saved_help("analyze") is not None
    # help.txt from another version of cli.py (its checksum differs): not used.
    text = saved.read_text(encoding="utf-8")
    saved.write_text("00000000" + text[8:], encoding="utf-8")
    assert entry.saved_help("analyze") is None and entry.saved_help("") is None


# -- the man page ----------------------------------------------------------------------------------
def test_man_page_renders_every_command_and_option() -> None:
    page = ROOT / "man" / "stallscope.1"
    if shutil.which("man"):
        done = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True, timeout=120,
                              env={**environment(), "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat"}, check=False)
        assert done.returncode == 0, done.stderr
        assert "warning" not in done.stderr.lower()
        shown = re.sub(r".\x08", "", done.stdout)  # overstrike bold
        shown = shown.replace("\u2010", "-").replace("\u2011", "-")
    else:  # no man here: the page's sections and entries, read from the roff source
        shown = page.read_text(encoding="utf-8").replace("\\-", "-").replace("\\fB", "").replace("\\fR", "")
    for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXAMPLES", "EXIT STATUS", "ENVIRONMENT"):
        assert re.search(rf"^{heading}$|^\.SH \"?{heading}", shown, re.M), heading
    for command in COMMANDS:
        assert f"stallscope {command}" in shown
    for option in ("--format", "--fail-on", "--color", "--width", "--show-unparsed", "--max-chars", "--to",
                   "--json", "--exec", "--interval", "--from-end", "--version", "--install-completion"):
        assert option in shown, option
    assert "--no-color" not in shown  # the old spelling works, but is not taught
    for code, _ in EXIT_CODES:
        assert re.search(rf"^\s*(\.TP\n)?\s*{code}\b", shown, re.M), code


def test_groff_reads_the_man_page_without_warnings() -> None:
    groff = shutil.which("groff")
    if groff is None:
        pytest.skip("groff is not installed")
    done = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", str(ROOT / "man" / "stallscope.1")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stderr == ""


# -- python -m, --version --------------------------------------------------------------------------
def test_python_m_stallscope_is_the_command() -> None:
    module = [sys.executable, "-m", "stallscope"]
    version = subprocess.run([*module, "--version"], capture_output=True, text=True, timeout=120, check=True)
    assert version.stdout == piped("--version").out == f"stallscope {entry_version()}\n"
    done = subprocess.run([*module, "analyze", "--format", "json", str(XFS)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0 and '"snapshots": 6' in done.stdout
    # Errors and exit codes are the command's own.
    missing = subprocess.run([*module, "analyze", "/nonexistent.log"], capture_output=True, text=True,
                             timeout=120, check=False)
    assert missing.returncode == 1 and missing.stderr.startswith("stallscope: /nonexistent.log")


def entry_version() -> str:
    from stallscope import __version__

    return __version__


# -- shell completion ------------------------------------------------------------------------------
def _bash_complete(words: str, script: str) -> list[str]:
    bash = shutil.which("bash")
    assert bash is not None
    command = Path(stallscope()[0])
    program = f'''
{script}
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
_stallscope_completion stallscope
printf '%s\\n' "${{COMPREPLY[@]}}"
'''
    env = environment({"PATH": f"{command.parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    done = subprocess.run([bash, "-c", program], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def _from_bash(*args: str, env: dict[str, str] | None = None) -> Run:
    """``stallscope args`` typed in bash: typer finds the shell to complete for among the command's
    parent processes (shellingham), so the test must not depend on what started pytest (a test
    run in the background, its shell gone, found none: "Shell None is not supported")."""
    bash = shutil.which("bash")
    assert bash is not None
    # Not the one command of `bash -c` (bash would exec it, and be no parent).
    done = subprocess.run([bash, "-c", '"$0" "$@"; exit $?', *stallscope(), *args], capture_output=True,
                          env=environment(env), timeout=120, check=False)
    return Run(done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"))


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("stallscope", path=str(Path(sys.executable).parent))
                    is None, reason="needs bash and the installed command")
def test_bash_completion_completes_commands_options_and_values() -> None:
    script = _from_bash("--show-completion", "bash")
    assert script.code == 0 and "_STALLSCOPE_COMPLETE" in script.out
    assert _bash_complete("stallscope an", script.out) == ["analyze"]
    assert set(_bash_complete("stallscope analyze --co", script.out)) == {"--color"}
    assert set(_bash_complete("stallscope analyze --color ''", script.out)) == {"auto", "always", "never"}
    assert set(_bash_complete("stallscope report -f ''", script.out)) == {"md", "html"}


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_install_completion_writes_the_script_for_the_shell(tmp_path: Path) -> None:
    done = _from_bash("--install-completion", "bash", env={"HOME": str(tmp_path), "SHELL": "/bin/bash"})
    assert done.code == 0, done.err
    installed = list(tmp_path.rglob("stallscope*"))
    assert installed and "_STALLSCOPE_COMPLETE" in installed[0].read_text()
    assert str(installed[0].relative_to(tmp_path)) in (tmp_path / ".bashrc").read_text()


# -- reading a terminal ----------------------------------------------------------------------------
def test_analyze_dash_on_a_terminal_says_what_it_waits_for() -> None:
    done = typed_in("analyze", "--format", "json", "-", typed=XFS.read_bytes())
    assert done.code == 0, done.err
    assert done.err.split("\n")[0] == HINT
    assert '"snapshots": 6' in done.out


def test_no_hint_when_standard_input_is_a_pipe() -> None:
    done = piped("analyze", "--format", "json", "-", stdin=XFS.read_bytes())
    assert done.code == 0 and HINT not in done.err


def test_watch_dash_on_a_terminal_hints_then_reads_until_ctrl_d() -> None:
    done = typed_in("watch", "--json", "-", typed=XFS.read_bytes())
    assert done.code == 0, done.err
    assert done.err.split("\n")[0] == HINT
    assert '"rule": "oom-plateau"' in done.out


def test_watch_without_a_log_does_not_read_the_terminal() -> None:
    started = time.monotonic()
    done = typed_in("watch", end=False, timeout=60)
    assert done.code == 2 and done.out == ""
    assert done.err.startswith("stallscope: ") and done.err.count("\n") == 1
    assert "a log file to follow, or - to read standard input" in done.err
    assert time.monotonic() - started < 30  # it did not wait for input


def test_watch_without_a_log_reads_a_pipe() -> None:
    done = piped("watch", "--json", stdin=XFS.read_bytes())
    assert done.code == 0 and '"rule": "oom-plateau"' in done.out and HINT not in done.err


# -- startup ---------------------------------------------------------------------------------------
def _imported(*args: str, command: list[str] | None = None) -> set[str]:
    done = subprocess.run([*(command or [sys.executable, "-m", "stallscope"]), *args], capture_output=True,
                          text=True, env=environment({"PYTHONPROFILEIMPORTTIME": "1"}), timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return {line.split("|")[-1].strip() for line in done.stderr.split("\n") if line.startswith("import time:")}


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["analyze", "--help"], ["-h"]])
def test_version_and_help_import_nothing_heavy(args: list[str]) -> None:
    modules = _imported(*args)
    assert "stallscope.entry" in modules  # the measurement works
    assert not {m.split(".")[0] for m in modules} & {*HEAVY, "typer", "click", "rich"}
    # Through click (a narrow terminal, or help.txt out of date): still none of the heavy ones.
    assert "typer" in (slow := _imported(*args, command=THROUGH_CLICK))
    assert not {m.split(".")[0] for m in slow} & set(HEAVY)


def _fastest(*commands: list[str], runs: int = 9) -> list[float]:
    """The least wall time of each command over ``runs``, the commands taken in turn: a busy
    machine (a test suite beside a benchmark) then slows each alike rather than the ones
    measured last."""
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for command, took in zip(commands, times, strict=True):
            started = time.perf_counter()
            subprocess.run(command, capture_output=True, timeout=120, check=True)
            took.append(time.perf_counter() - started)
    return [min(took) for took in times]  # the least disturbed by the machine's other work


def test_version_and_help_start_within_three_times_python() -> None:
    for args in (["--version"], ["--help"], ["analyze", "--help"]):
        bare, took = _fastest([sys.executable, "-c", "pass"], [*stallscope(), *args])
        assert took <= 3 * bare, f"stallscope {' '.join(args)}: {took * 1000:.0f} ms, python -c pass {bare * 1000:.0f} ms"


def test_importing_the_package_is_light_and_diagnose_stays_the_function() -> None:
    code = f"""
import sys
import stallscope
assert not set(sys.modules) & {set(HEAVY)!r}, sorted(set(sys.modules) & {set(HEAVY)!r})
import stallscope.diagnose  # the submodule of the same name must not replace the function
capture = stallscope.load({str(XFS)!r})
findings = stallscope.diagnose(capture)
from stallscope import Severity, diagnose
assert diagnose is stallscope.diagnose and callable(diagnose)
print(len(capture.snapshots), sorted({{f.severity.value for f in findings}}), Severity.CRITICAL.value)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["6", "['critical',", "'warning']", "critical"]
