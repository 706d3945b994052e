"""Loading the Lark grammars in ``grammars/``: the single source of truth for line formats."""

from __future__ import annotations

import hashlib
import os
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
    options: dict[str, object] = {}
    folder = cache_dir()
    if folder is not None:
        # Lark keeps the analysed grammar (its LALR tables) there and uses it only while the
        # grammar text, every file it imports, the options and Lark's version are unchanged.
        # Building the tables costs about 0.3 s of every run; loading them, 0.05 s.
        tag = hashlib.sha256(f"{name}:{','.join(starts)}".encode()).hexdigest()[:16]
        options["cache"] = str(folder / f"lark-{name}-{tag}.cache")
    return Lark(
        path.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        start=list(starts),
        import_paths=[grammar_dir()],
        propagate_positions=False,
        maybe_placeholders=False,
        **options,
    )


@cache
def cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/stallscope`` (or ``~/.cache/stallscope``), made private to this user;
    None when there is no such place to write, or ``STALLSCOPE_NO_CACHE`` is set.

    The cache holds pickles, so it must be a folder only this user can write: never a shared
    temporary folder (another user could leave a file there for us to load).
    """
    if os.environ.get("STALLSCOPE_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None  # no home directory known
    folder = Path(base) / "stallscope"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError:
        return None
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o022):
        return None  # someone else's folder, or one others may write to
    return folder if os.access(folder, os.W_OK) else None
