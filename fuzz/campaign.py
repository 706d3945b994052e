"""A mutation campaign over the real logs: damage them the ways captures get damaged, check that
nothing is lost or misplaced.

    python fuzz/campaign.py --inputs 100000 --workers 2 --seed 1     # the long campaign
    python fuzz/campaign.py --inputs 300 --seed 7                     # .ci/run's short run
    python fuzz/campaign.py --inputs 2000 --mutation inflate          # one mutation only

Each input is an excerpt of a real log of ``tests/data`` (a window of 40-400 lines) with one
mutation applied. Mutations: ``flip`` (a random byte), ``digit`` (a digit garbled inside a
number, ``0x3d`` -> ``10x3d``), ``inflate`` (a number grown to 20-40 digits), ``dup`` /
``delete`` / ``swap`` (whole lines), ``splice`` (the head of one log glued to the tail of
another), ``control`` (control bytes, CR, NUL), ``huge`` (a field repeated into a line of
100 kB), ``blank`` (blank and user-space lines between blocks), ``truncate`` (the excerpt cut
inside a line), ``crlf`` (CRLF line ends), ``nbsp`` (non-breaking spaces for blanks).

Invariants, checked on every input (a violation is written to ``fuzz/out/``):

- ``crash``: nothing but :class:`InputError` may leave ``load``/``diagnose``/the renderers;
- ``hang``: each input is analysed within ``--timeout`` seconds;
- ``count``: ``parsed + unparsed == lines``; ``physical_lines`` is the file's line count; the
  input is never reported damaged (only a decompressor's error is damage);
- ``evidence``: every evidence line quotes the line at its line number verbatim (Unicode spaces
  of a paste read as blanks, as the reader reads them);
- ``lost``: a finding of the unmutated excerpt whose evidence lies more than ``BLOCK`` lines from
  every mutated line is still found (a mutation may change its own block, not the rest).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
OUT = Path(__file__).resolve().parent / "out"
# How far a mutation's effect may reach: a task's block (MemAlloc line, state line, a trace of
# up to ~60 frames) or a report's header and its trace.
BLOCK = 80
MUTATIONS = ("flip", "digit", "inflate", "dup", "delete", "swap", "splice", "control", "huge", "blank",
             "truncate", "crlf", "nbsp")
# Mutations that change no kernel line (only add what a console or a mail adds): every finding stays.
HARMLESS = frozenset({"crlf"})
_NUMBER = re.compile(rb"(?<![0-9A-Za-z])(0x[0-9a-f]+|[0-9]+)")


@dataclass
class Case:
    seed: int
    base: str
    start: int
    mutation: str
    data: bytes
    touched: list[int]  # 1-based line numbers of the mutated input that the mutation touched
    original: bytes


def corpus() -> list[Path]:
    return sorted(p for p in DATA.rglob("*.log") if p.stat().st_size < 4 << 20)


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def make_case(seed: int, logs: list[Path], texts: dict[Path, list[bytes]],
              mutations: Sequence[str] = MUTATIONS) -> Case:
    rng = random.Random(seed)
    path = rng.choice(logs)
    lines = texts[path]
    size = rng.randint(40, 400)
    start = rng.randrange(0, max(1, len(lines) - size))
    window = lines[start : start + size]
    original = b"\n".join(window) + b"\n"
    mutation = rng.choice(mutations)
    out = list(window)
    touched: list[int] = []
    n = len(out)
    at = rng.randrange(n)
    if mutation == "flip":
        line = bytearray(out[at] or b" ")
        line[rng.randrange(len(line))] = rng.randrange(256)
        out[at] = bytes(line)
        touched = [at]
    elif mutation in ("digit", "inflate"):
        candidates = [i for i, line in enumerate(out) if _NUMBER.search(line)]
        if candidates:
            at = rng.choice(candidates)
            numbers = list(_NUMBER.finditer(out[at]))
            match = rng.choice(numbers)
            if mutation == "digit":
                new = bytes([rng.choice(b"123456789")]) + match.group(0)
            else:
                new = bytes(rng.choice(b"123456789") for _ in range(rng.randint(20, 40)))
            out[at] = out[at][: match.start()] + new + out[at][match.end() :]
        touched = [at]
    elif mutation == "dup":
        out.insert(at, out[at])
        touched = [at, at + 1]
    elif mutation == "delete":
        del out[at]
        touched = [max(0, at - 1), min(at, len(out) - 1)]
    elif mutation == "swap":
        other = rng.randrange(n)
        out[at], out[other] = out[other], out[at]
        touched = [at, other]
    elif mutation == "splice":
        other = texts[rng.choice(logs)]
        tail_at = rng.randrange(len(other))
        out = out[:at] + other[tail_at : tail_at + rng.randint(10, 200)]
        touched = list(range(at, len(out)))
    elif mutation == "control":
        line = bytearray(out[at])
        for _ in range(rng.randint(1, 4)):
            line.insert(rng.randrange(len(line) + 1), rng.choice(b"\x00\x01\x07\x08\x0b\x0c\x0d\x1b\x7f"))
        out[at] = bytes(line)
        touched = [at]
    elif mutation == "huge":
        words = out[at].split(b" ")
        pick = rng.randrange(len(words))
        words[pick] = words[pick] * max(1, 100_000 // max(1, len(words[pick])))
        out[at] = b" ".join(words)
        touched = [at]
    elif mutation == "blank":
        filler = rng.choice([b"", b"", b"   ", b"Ubuntu 16.04 LTS host ttyS0", b"host login: ",
                             b"[  OK  ] Started Session 3 of user root.", b"(...snipped...)", b"-- MARK --"])
        out.insert(at, filler)
        touched = [at]
    elif mutation == "truncate":
        cut = rng.randrange(len(out[at]) + 1)
        out = [*out[:at], out[at][:cut]]
        touched = [at]
    elif mutation == "crlf":
        out = [line + b"\r" for line in out]
    elif mutation == "nbsp":
        out[at] = out[at].replace(b" ", "\u00a0".encode(), rng.randint(1, 3))
        touched = [at]
    data = b"\n".join(out) + (b"\n" if mutation != "truncate" else b"")
    return Case(seed, str(path.relative_to(DATA)), start, mutation, data, [t + 1 for t in touched], original)


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Timeout


def analyse(data: bytes, scratch: Path, render: bool = True) -> tuple[object, list[object]]:
    import io

    from rich.console import Console

    import stallscope
    from stallscope.render import json_report, markdown, text
    from stallscope.render.provenance import provenance

    path = scratch / "case.log"
    path.write_bytes(data)
    capture = stallscope.load(str(path), keep_unparsed=True)
    findings = stallscope.diagnose(capture)
    if not render:
        return capture, findings
    # Every renderer a user can ask for, to its end (the HTML report shares the Markdown's sections).
    json_report.render(capture, findings)
    text.render(capture, findings, Console(file=io.StringIO(), width=100), None)
    markdown.render(capture, findings, provenance(capture, ["report"]), max_chars=65_000)
    return capture, findings


def physical_lines(data: bytes) -> int:
    return 0 if not data else data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def check(case: Case, scratch: Path, timeout: int, originals: dict[bytes, list[object]]) -> list[str]:
    """The invariants this case breaks (empty: none)."""
    from stallscope.sources.reader import InputError

    problems: list[str] = []
    signal.alarm(timeout)
    try:
        capture, findings = analyse(case.data, scratch)
        base = originals.get(case.original)
        if base is None:
            # The unmutated excerpt is only compared by its findings: rendering it again would
            # spend a fifth of the campaign on output that is never looked at.
            base = originals[case.original] = analyse(case.original, scratch, render=False)[1]  # type: ignore[assignment]
            if len(originals) > 2000:
                originals.clear()
    except _Timeout:
        return ["hang"]
    except InputError:
        return []
    except Exception as error:  # the invariant: nothing else may leave the API
        return [f"crash: {type(error).__name__}: {error}"[:300]]
    finally:
        signal.alarm(0)
    for stats in capture.inputs:  # type: ignore[attr-defined]
        if stats.parsed + stats.unparsed != stats.lines:
            problems.append(f"count: parsed {stats.parsed} + unparsed {stats.unparsed} != lines {stats.lines}")
        if stats.physical_lines != physical_lines(case.data):
            problems.append(f"count: physical_lines {stats.physical_lines} != {physical_lines(case.data)}")
        if stats.damaged:
            problems.append(f"count: damaged: {stats.damaged}")
    text_lines = case.data.decode("utf-8", "replace").split("\n")
    for finding in findings:
        for evidence in finding.evidence:  # type: ignore[attr-defined]
            at = evidence.line - 1
            if not 0 <= at < len(text_lines) or not (
                    any(_quotes(evidence.text.strip(), seen) for seen in _clean(text_lines[at]))
                    or _quotes_across_cuts(evidence.text, text_lines[at])):
                problems.append(f"evidence: line {evidence.line} of {finding.rule} does not say {evidence.text[:80]!r}")
                break
    mine = {f.rule for f in findings}  # type: ignore[attr-defined]
    for finding in base:
        if finding.rule in mine:  # type: ignore[attr-defined]
            continue
        lines = [e.line for e in finding.evidence]  # type: ignore[attr-defined]
        near = case.mutation not in HARMLESS and any(
            abs(line - t) <= BLOCK for line in lines for t in case.touched)
        if not near and case.mutation not in ("splice", "truncate"):
            problems.append(f"lost: {finding.rule} (evidence lines {lines[:5]}, mutation at {case.touched[:3]})")  # type: ignore[attr-defined]
    return problems


def _quotes(quoted: str, line: str) -> bool:
    """Whether ``quoted`` is in ``line`` verbatim (its message, a record printed into it, all of it),
    or is a record the reader joined (a wrapped or continued line) that starts with the rest of ``line``."""
    if quoted and quoted in line:
        return True
    # The line's end (from a word on: its message after whatever prefix) begins the record; a
    # prefix may end without a blank ("<4>" before a timestamp a mutation made unreadable, a kmsg
    # record's "6,383,3346881,-;").
    starts = [0, *(at + 1 for at, char in enumerate(line) if char in " >];")]
    return any(piece and quoted.startswith(piece) for piece in (line[at:].strip() for at in starts))


def _quotes_across_cuts(quoted: str, line: str) -> bool:
    """Whether ``quoted`` is the text of a line that control bytes cut in several places, each cut
    joined with a blank or without, whichever the grammars understood (a mix that _clean's two
    candidates do not list): compared without blanks, so only text not in the line fails."""
    from stallscope.records import console, paste

    text = paste.normalize(line.rstrip("\r"))
    if console.is_clean(text):
        return False
    bare = re.sub(r"\s+", "", quoted)
    return bool(bare) and bare in re.sub(r"\s+", "", "".join(console.clean(text)))


def _clean(line: str) -> list[str]:
    """A line as stallscope may quote it: console escapes and control bytes gone, blanks as blanks.
    A lone CR cuts the line into pieces, which the reader may join back without a blank (a word
    cut in two, as a wrapped line is joined) or with one: both are the line's own text."""
    from stallscope.records import console, paste

    # Web-page spaces (a no-break space for a blank) are read as the blanks they stand for, and
    # quoted so (records/paste.py): a paste's U+00A0 is not the kernel's text.
    text = paste.normalize(line.rstrip("\r"))
    if console.is_clean(text):
        return [text]
    pieces = console.clean(text)
    return [" ".join(pieces), "".join(pieces)]


def worker(args: tuple[int, int, int, int, tuple[str, ...], tuple[str, ...]]
           ) -> tuple[Counter[str], list[dict[str, object]], int]:
    first, count, step, timeout, ignore, mutations = args
    logs = corpus()
    texts = {p: _lines(p.read_bytes()) for p in logs}
    tally: Counter[str] = Counter()
    bad: list[dict[str, object]] = []
    originals: dict[bytes, list[object]] = {}
    signal.signal(signal.SIGALRM, _alarm)
    with tempfile.TemporaryDirectory(prefix="stallscope-fuzz-") as folder:
        scratch = Path(folder)
        done = 0
        for seed in range(first, first + count * step, step):
            case = make_case(seed, logs, texts, mutations)
            tally[case.mutation] += 1
            problems = [p for p in check(case, scratch, timeout, originals) if p.split(":")[0] not in ignore]
            done += 1
            if problems:
                bad.append({"seed": seed, "base": case.base, "start": case.start, "mutation": case.mutation,
                            "problems": problems})
                OUT.mkdir(exist_ok=True)
                (OUT / f"case-{seed}.log").write_bytes(case.data)
    return tally, bad, done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="first seed; input i uses seed + i")
    parser.add_argument("--timeout", type=int, default=60, help="seconds allowed per input")
    parser.add_argument("--report", type=Path, help="write the tally and violations as JSON here")
    parser.add_argument("--ignore", action="append", default=[], choices=("evidence", "lost"),
                        help="do not check this invariant (repeatable)")
    parser.add_argument("--mutation", action="append", default=[], choices=MUTATIONS,
                        help="only this mutation (repeatable; all by default): one of the 13 gets a 13th of a "
                             "run, and a number grown beyond int64 (inflate) found fatal lines no run of all had")
    args = parser.parse_args(argv)
    started = time.monotonic()
    mutations = tuple(args.mutation) or MUTATIONS
    jobs = [(args.seed + w, (args.inputs - w + args.workers - 1) // args.workers, args.workers, args.timeout,
             tuple(args.ignore), mutations) for w in range(args.workers)]
    if args.workers > 1:
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            results = pool.map(worker, jobs)
    else:
        results = [worker(jobs[0])]
    tally: Counter[str] = Counter()
    bad: list[dict[str, object]] = []
    done = 0
    for t, b, d in results:
        tally.update(t)
        bad += b
        done += d
    kinds = Counter(p.split(":")[0] for case in bad for p in case["problems"])  # type: ignore[union-attr]
    summary = {"inputs": done, "seconds": round(time.monotonic() - started, 1),
               "mutations": dict(sorted(tally.items())), "violations": len(bad), "by_invariant": dict(kinds),
               "cases": bad[:200]}
    if args.report:
        args.report.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"fuzz campaign: {done} inputs ({', '.join(f'{k} {v}' for k, v in sorted(tally.items()))}) in "
          f"{summary['seconds']} s: {len(bad)} violating ({', '.join(f'{k} {v}' for k, v in kinds.items()) or 'none'})")
    for case in bad[:20]:
        print(f"  seed {case['seed']} {case['mutation']} {case['base']}@{case['start']}: {case['problems'][0]}")  # type: ignore[index]
    return 1 if bad else 0


if __name__ == "__main__":
    os.environ.setdefault("STALLSCOPE_NO_CACHE", "")
    sys.exit(main())
