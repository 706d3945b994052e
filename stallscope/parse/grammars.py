"""Loading the Lark grammars in ``grammars/``: the single source of truth for line formats."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lark import Lark

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def grammar_dir() -> Path:
    """Where the ``.lark`` files are: inside the installed package, or the source checkout."""
    for candidate in (_PACKAGE_DIR / "grammars", _PACKAGE_DIR.parent / "grammars"):
        if (candidate / "base.lark").is_file():
            return candidate
    raise FileNotFoundError("stallscope grammars not found (expected a grammars/ folder)")


@cache
def load(name: str, starts: tuple[str, ...]) -> Lark:
    """One LALR parser per grammar file, with every line kind as its own start symbol.

    Separate start symbols give each kind its own contextual-lexer state, so a broad terminal
    of one kind (a task name) can never shadow the terminals of another.
    """
    path = grammar_dir() / f"{name}.lark"
    return Lark(
        path.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        start=list(starts),
        import_paths=[grammar_dir()],
        propagate_positions=False,
        maybe_placeholders=False,
    )
