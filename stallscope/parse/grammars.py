"""Loading the Lark grammars in ``grammars/``: the single source of truth for line formats."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from functools import cache
from pathlib import Path

import lark
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
        # Building the tables costs about 0.3 s of every run; loading them, 0.05 s. The folder
        # the grammars are in is one of those options: two installs (a checkout and a wheel)
        # keep a file each, or each run of one would rebuild the file the other wrote.
        tag = hashlib.sha256(f"{grammar_dir()}:{name}:{','.join(starts)}".encode()).hexdigest()[:16]
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


# Bump when first_token_pattern derives its patterns differently: the stored ones are then stale.
_FIRST_TOKENS_FORMAT = 1


def first_token_pattern(parser: Lark, start: str) -> str:
    """What a line of kind ``start`` can begin with: the terminals its LALR start state accepts.

    Read from the grammar's own parse table, so it is exact: a shape that none of them matches
    at its first character would make Lark fail on its first token.
    """
    table = parser.parser.parser.parser.parse_table
    accepted = set(table.states[table.start_states[start]])
    ignored = set(parser.lexer_conf.ignore)
    patterns = [
        f"(?{''.join(sorted(t.pattern.flags))}:{t.pattern.to_regexp()})" if t.pattern.flags
        else f"(?:{t.pattern.to_regexp()})"
        for t in parser.terminals
        if t.name in accepted or t.name in ignored
    ]
    return "|".join(patterns) if patterns else "(?!)"


def first_tokens(order: tuple[tuple[str, tuple[str, ...]], ...]) -> list[tuple[str, ...]]:
    """:func:`first_token_pattern` of every start of every (grammar, starts) of ``order``, in order.

    Kept in the cache folder, so that a run loads only the grammars its lines need: a small log
    touches 2-5 of the 23 grammars, and loading all of them was 0.08 s of a 0.5 s run. The file
    is named by a digest of every grammar's text, Lark's version and the order, so an edited
    grammar is never matched against the first tokens of its old text.
    """
    folder = cache_dir()
    path = None
    if folder is not None:
        path = folder / f"first-tokens-{grammars_digest(order)}.json"
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if len(stored) == len(order) and all(
                    len(patterns) == len(starts) and all(isinstance(p, str) for p in patterns)
                    for patterns, (_, starts) in zip(stored, order, strict=True)):
                return [tuple(patterns) for patterns in stored]
        except (OSError, ValueError, TypeError):
            pass  # not written yet, or damaged: derived again below
    found = [tuple(first_token_pattern(load(name, starts), start) for start in starts) for name, starts in order]
    if path is not None:
        write_quietly(path, json.dumps(found), "first-tokens-*.json")
    return found


def grammars_digest(order: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """A digest of every grammar's text, Lark's version and the kinds' ``order``: what a file
    derived from the grammars is named by, so that an edited grammar never meets a stale one."""
    digest = hashlib.sha256(f"{_FIRST_TOKENS_FORMAT}:{lark.__version__}:{order!r}".encode())
    for path in sorted(grammar_dir().glob("*.lark")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def write_quietly(path: Path, text: str, stale: str) -> None:
    """``text`` into ``path`` whole or not at all (another process may be reading it); the other
    files of its folder matching ``stale`` (the same file for older grammar texts) are removed.
    A cache that cannot be written is no error."""
    # Its own partial file per process and thread (Dask's threaded workers share a process):
    # two writers of one partial file could rename the other's half-written text into place.
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
        for old in path.parent.glob(stale):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        partial.unlink(missing_ok=True)


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
