"""Issue 7, pathological inputs and user errors: bounded time and memory, one line on stderr, a documented exit code.

The big inputs (a 100 MB line, 10 million empty lines) are made in a temporary directory and
marked ``slow``; they run by default (a few seconds each) and ``pytest -m "not slow"`` skips
them. The time limits are generous guards against hangs and quadratic behaviour, not benchmarks.
"""

from __future__ import annotations

import gzip
import lzma
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lark import Lark

from conftest import DATA

try:
    from re import _constants as sre_constants  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # Python 3.10
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]
from stallscope.api import load_lines
from stallscope.bulk import MAX_LINE_BYTES
from stallscope.parse.grammars import grammar_dir

LOG = DATA / "lkml" / "2017-02-21_too-many-isolated-kswapd-xfs-buf-lock.log"
MAX_RSS_MB = 1500


def run(*args: str, stdin: object = None, close_stdin: bool = False, timeout: float = 120) -> tuple[
        subprocess.CompletedProcess[bytes], float]:
    """The real command line, with its peak memory (MB) from the kernel's accounting of children."""
    code = ("import resource, sys\nfrom stallscope.cli import main\n"
            "try:\n    main()\nfinally:\n"
            "    sys.stderr.write('\\nrss=%d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        stdin=stdin, capture_output=not close_stdin, timeout=timeout, check=False,
        stdout=subprocess.PIPE if close_stdin else None, stderr=subprocess.PIPE if close_stdin else None,
        preexec_fn=(lambda: os.close(0)) if close_stdin else None,
    )
    found = re.search(rb"\nrss=(\d+)\n", result.stderr)
    rss = int(found.group(1)) / 1024 if found else 0.0
    result.stderr = re.sub(rb"\n?rss=\d+\n", b"", result.stderr)
    return result, rss


def one_line_error(result: subprocess.CompletedProcess[bytes]) -> str:
    message = result.stderr.decode()
    assert "Traceback" not in message
    lines = message.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stallscope: "), message
    return lines[0]


# -- big inputs ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_100_mb_line_without_newline_is_one_cut_line(tmp_path: Path) -> None:
    big = tmp_path / "one-line.log"
    with open(big, "wb") as out:
        for _ in range(100):
            out.write(b"(0x+0x " * ((1 << 20) // 7) + b"A" * ((1 << 20) % 7))
    assert big.stat().st_size == 100 << 20
    started = time.monotonic()
    result, rss = run("analyze", "--format", "json", "--show-unparsed", "-j", "1", str(big))
    assert result.returncode == 0, result.stderr[-500:]
    assert time.monotonic() - started < 60
    import json

    stats = json.loads(result.stdout)["inputs"][0]
    assert (stats["lines"], stats["unparsed"], stats["physical_lines"]) == (1, 1, 1)
    # Cut to MAX_LINE_BYTES: the unparsed listing (stderr) holds the head only.
    assert MAX_LINE_BYTES <= len(result.stderr) < 2 * MAX_LINE_BYTES
    assert rss < MAX_RSS_MB


@pytest.mark.slow
def test_ten_million_empty_lines(tmp_path: Path) -> None:
    empty = tmp_path / "empty-lines.log"
    empty.write_bytes(b"\n" * 10_000_000)
    started = time.monotonic()
    result, rss = run("analyze", "--format", "json", "-j", "1", str(empty))
    assert result.returncode == 0, result.stderr[-500:]
    assert time.monotonic() - started < 120
    assert b'"physical_lines": 10000000' in result.stdout
    assert rss < MAX_RSS_MB


def test_nul_bytes_everywhere(tmp_path: Path) -> None:
    """A serial console padded with NULs: the kernel lines between them are still found."""
    noisy = tmp_path / "nul.log"
    noisy.write_bytes(b"\x00" * 100_000 + b"\n" + LOG.read_bytes().replace(b"\n", b"\x00\x00\n") + b"\x00" * 5000)
    result, _ = run("analyze", "--format", "json", str(noisy))
    assert result.returncode == 0, result.stderr
    assert b'"snapshots": 6' in result.stdout


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    result, _ = run("analyze", str(empty))
    assert result.returncode == 0 and b"0 lines" in result.stdout and b"Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["gzip", "xz"])
def test_truncated_compressed_input_is_analyzed_up_to_the_damage(tmp_path: Path, kind: str) -> None:
    packed = gzip.compress(LOG.read_bytes()) if kind == "gzip" else lzma.compress(LOG.read_bytes())
    broken = tmp_path / f"dmesg.{kind}"
    broken.write_bytes(packed[: len(packed) * 2 // 3])
    result, _ = run("analyze", "--format", "json", str(broken))
    assert result.returncode == 5
    assert "data ends early or is corrupt" in one_line_error(result)
    import json

    document = json.loads(result.stdout)
    stats = document["inputs"][0]
    assert stats["damaged"] and 0 < stats["lines"] < len(LOG.read_bytes().splitlines())
    assert document["summary"]["snapshots"] > 0  # what came before the damage was analyzed


def test_damage_is_named_in_the_text_report(tmp_path: Path) -> None:
    broken = tmp_path / "dmesg.gz"
    broken.write_bytes(gzip.compress(LOG.read_bytes())[:-20])
    result, _ = run("analyze", str(broken))
    assert result.returncode == 5 and b"damaged:" in result.stdout


def test_directory_with_an_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root reads any file whatever its mode, so the refusal is made by the open call itself."""
    from typer.testing import CliRunner

    import stallscope.sources.reader as reader
    from stallscope.cli import app

    (tmp_path / "a.log").write_bytes(LOG.read_bytes())
    # Not the same bytes as a.log (a copy would be read once, so never opened).
    (tmp_path / "b.log").write_bytes(LOG.read_bytes() + b"\n")
    real_open = open

    def refusing(path: object, *args: object, **kwargs: object) -> object:
        if str(path).endswith("b.log"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(reader, "open", refusing, raising=False)
    result = CliRunner().invoke(app, ["analyze", "-j", "1", str(tmp_path)])
    assert result.exit_code == 1
    assert str(result.exception).endswith("b.log: permission denied")


def test_closed_stdin() -> None:
    result, _ = run("analyze", "-", close_stdin=True)
    assert result.returncode == 1
    assert one_line_error(result) == "stallscope: -: standard input is closed"


# -- errors a user can cause ---------------------------------------------------------------------
@pytest.mark.parametrize(("args", "code", "says"), [
    (["analyze", "/nonexistent/dmesg.log"], 1, "no such file"),
    (["analyze", "--bogus", str(LOG)], 2, "no such option: --bogus"),
    (["analyze", "--format", "xml", str(LOG)], 2, "invalid value for '--format'"),
    (["analyze"], 2, "missing argument"),
    (["report", str(LOG), "-o", "x.txt"], 2, "cannot tell the format"),
    (["nosuch"], 2, "no such command"),
])
def test_user_errors_are_one_line(args: list[str], code: int, says: str) -> None:
    result, _ = run(*args)
    assert result.returncode == code
    line = one_line_error(result)
    assert says in line
    if code == 2:
        assert line.endswith("--help)")


@pytest.mark.parametrize(("magic", "said"), [(b"\x04\x22\x4d\x18", "lz4 compression is not supported"),
                                             (b"7z\xbc\xaf\x27\x1c", "7z compression is not supported"),
                                             # zip archives are read (tests/sources/test_bundles.py); not this one
                                             (b"PK\x03\x04", "not a zip archive that can be read")])
def test_unsupported_compression(tmp_path: Path, magic: bytes, said: str) -> None:
    packed = tmp_path / "dmesg.bin"
    packed.write_bytes(magic + os.urandom(2000))
    result, _ = run("analyze", str(packed))
    assert result.returncode == 1
    assert said in one_line_error(result)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied(tmp_path: Path) -> None:
    locked = tmp_path / "locked.log"
    locked.write_bytes(b"x\n")
    locked.chmod(0)
    result, _ = run("analyze", str(locked))
    assert result.returncode == 1 and "permission denied" in one_line_error(result)


# -- grammar and regex safety --------------------------------------------------------------------
def _unbounded(op: object, av: object) -> bool:
    return op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT) and \
        av[1] == sre_constants.MAXREPEAT  # type: ignore[index]


def _nested_unbounded(items: object, inside: bool = False) -> bool:
    for op, av in items:  # type: ignore[attr-defined]
        if _unbounded(op, av):
            if inside:
                return True
            if _nested_unbounded(av[2], True):  # type: ignore[index]
                return True
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT):
            if _nested_unbounded(av[2], inside):  # type: ignore[index]
                return True
        elif op is sre_constants.SUBPATTERN:
            if _nested_unbounded(av[3], inside):  # type: ignore[index]
                return True
        elif op is sre_constants.BRANCH and any(
                _nested_unbounded(branch, inside) for branch in av[1]):  # type: ignore[index]
            return True
    return False


def test_nested_unbounded_detector_can_fail() -> None:
    assert _nested_unbounded(sre_parse.parse(r"(a+)+"))
    assert _nested_unbounded(sre_parse.parse(r"(?:x|(?:\s*y)*)"))
    assert not _nested_unbounded(sre_parse.parse(r"(ab){1,3}c+"))


@pytest.mark.parametrize("grammar", sorted(p.name for p in grammar_dir().glob("*.lark") if p.name != "base.lark"))
def test_no_terminal_has_nested_unbounded_quantifiers(grammar: str) -> None:
    """Every terminal a grammar uses (its own and those imported from base.lark)."""
    text = (grammar_dir() / grammar).read_text(encoding="utf-8")
    rules = sorted(set(re.findall(r"^[?!]?([a-z_][a-z0-9_]*)\s*:", text, re.MULTILINE)))
    parser = Lark(text, parser="lalr", lexer="contextual", start=rules, import_paths=[grammar_dir()])
    assert parser.terminals
    bad = [t.name for t in parser.terminals if _nested_unbounded(sre_parse.parse(t.pattern.to_regexp()))]
    assert bad == []


@pytest.mark.parametrize("unit", ["(", "0x", " ", "+0x", "[<", "[  1.0] ", "MemAlloc: a(", "\\x1b", "#033"])
def test_adversarial_100kb_lines_through_the_whole_reader(unit: str) -> None:
    """test_grammars checks the line parser alone; here prefixes, escapes and records take part too."""
    body = unit * (100_000 // len(unit))
    lines = [body, "[  100.000000] " + body, "6,1,100,-;" + body, "Jan  1 00:00:00 host kernel: " + body]
    started = time.monotonic()
    capture = load_lines("adversarial.log", lines)
    assert time.monotonic() - started < 10
    stats = capture.inputs[0]
    assert stats.parsed + stats.unparsed == stats.lines >= len(lines)
