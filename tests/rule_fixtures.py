"""Per-rule fixtures: real log lines with a header saying what one rule must find in them.

A fixture is ``tests/data/rules/RULE/NAME.fixture``, in the style of syzkaller's report corpus: header
lines ``KEY: value`` up to the first blank line, then the log lines exactly as in the real log they
were cut from (``FROM`` says which file and lines)::

    RULE: kswapd-lock-wait
    FIRES: yes
    SEVERITY: warning
    TASKS: kswapd0(67)
    EVIDENCE: 5 7
    FROM: tests/data/wild/2016-02-11_kswapd-blocked-xfs-buf-lock-dirty-writeback-too-many-isolated.log 1-42

    [ 1209.790966] MemAlloc: kswapd0(67) ...

``FIRES: yes`` fixtures must give a finding of ``RULE`` with that severity, those tasks and evidence
at those lines (numbered from the first log line); ``FIRES: no`` fixtures must give none. ``FIRES``
is written by a person; ``STALLSCOPE_UPDATE_FIXTURES=1 pytest tests/rules/test_rule_fixtures.py``
rewrites the other keys from what the rule finds (read the diff), never ``FIRES``.

Cut a new fixture from a real log (the window is kept verbatim)::

    python tests/rule_fixtures.py RULE LOG [--lines FIRST-LAST] [--quiet] [--name NAME]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "rules"
KEYS = ("RULE", "FIRES", "SEVERITY", "TASKS", "EVIDENCE", "FROM")


@dataclass
class Fixture:
    path: Path
    header: dict[str, str]
    lines: list[str] = field(default_factory=list)

    @property
    def rule(self) -> str:
        return self.header["RULE"]

    @property
    def fires(self) -> bool:
        return self.header["FIRES"] == "yes"

    def text(self) -> str:
        head = [f"{key}: {self.header[key]}" for key in KEYS if key in self.header]
        return "\n".join([*head, "", *self.lines]) + "\n"


def read(path: Path) -> Fixture:
    header: dict[str, str] = {}
    text = path.read_text(encoding="utf-8")
    head, _, body = text.partition("\n\n")
    for line in head.splitlines():
        key, _, value = line.partition(": ")
        header[key] = value.strip()
    lines = body.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return Fixture(path, header, lines)


def fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*/*.fixture"))


def findings_of(fixture: Fixture) -> list[object]:
    """The findings of the fixture's rule on its log lines."""
    from stallscope.api import load_lines
    from stallscope.diagnose import diagnose

    capture = load_lines(fixture.path.name, fixture.lines)
    return [f for f in diagnose(capture) if f.rule == fixture.rule]  # type: ignore[attr-defined]


def described(findings: list[object]) -> dict[str, str]:
    """SEVERITY, TASKS and EVIDENCE as the header writes them (several findings: ``;`` between)."""
    return {
        "SEVERITY": "; ".join(f.severity.value for f in findings),  # type: ignore[attr-defined]
        "TASKS": "; ".join(" ".join(f"{t.comm}({t.pid})" for t in f.tasks) or "-" for f in findings),  # type: ignore[attr-defined]
        "EVIDENCE": "; ".join(" ".join(str(e.line) for e in f.evidence) for f in findings),  # type: ignore[attr-defined]
    }


def cut(rule: str, log: Path, first: int, last: int, fires: bool, name: str) -> Path:
    lines = log.read_text(encoding="utf-8", errors="surrogateescape").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    last = min(last, len(lines))
    fixture = Fixture(FIXTURES / rule / f"{name}.fixture", {"RULE": rule, "FIRES": "yes" if fires else "no"},
                      lines[first - 1 : last])
    if fires:
        fixture.header.update(described(findings_of(fixture)))
    fixture.header["FROM"] = f"{log.resolve().relative_to(ROOT)} {first}-{last}"
    fixture.path.parent.mkdir(parents=True, exist_ok=True)
    fixture.path.write_text(fixture.text(), encoding="utf-8", errors="surrogateescape")
    return fixture.path


def main() -> None:
    parser = argparse.ArgumentParser(description="Cut a per-rule fixture from a real log.")
    parser.add_argument("rule")
    parser.add_argument("log", type=Path)
    parser.add_argument("--lines", default="1-1000000", help="FIRST-LAST, 1-based and inclusive")
    parser.add_argument("--quiet", action="store_true", help="the rule must NOT fire on these lines")
    parser.add_argument("--name", help="file name without .fixture (default: the log's)")
    args = parser.parse_args()
    first, _, last = args.lines.partition("-")
    name = args.name or ("quiet-" if args.quiet else "") + args.log.stem[:60]
    sys.path.insert(0, str(ROOT))
    path = cut(args.rule, args.log, int(first), int(last), not args.quiet, name)
    print(path.relative_to(ROOT))
    print(read(path).text().partition("\n\n")[0])


if __name__ == "__main__":
    main()
