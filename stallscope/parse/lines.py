"""Turn one message body into (kind, fields) with the Lark grammars, parsing each *shape* once.

A shape is the body with every run of decimal digits replaced by a single ``0``. Trace frames
repeat verbatim, but MemAlloc and MemAlloc-Info lines carry counters that change on every line,
so a cache keyed by the exact text would miss on exactly the lines that matter. Keyed by shape,
Lark runs once per distinct layout; every later line of that layout only has its digit runs
slotted back into the field spans Lark found. The grammars stay the only definition of a format.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Container, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from lark import Token, Tree
from lark.exceptions import LarkError

from stallscope.parse import grammars, kinds
from stallscope.parse.kinds import GRAMMAR_ORDER

_DIGIT_RUN = re.compile(r"([0-9]+)")

# Longer bodies are not kernel lines (printk caps a record near 1 KiB): they are counted as
# unparsed without being handed to Lark, which keeps pathological input cheap.
MAX_BODY_CHARS = 2048

# A segment is literal text (str) or the index of a digit run of the line (int).
Segments = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Template:
    """What Lark found in one shape: the line kind and where each field sits."""

    kind: str
    constants: tuple[tuple[str, str], ...]
    variables: tuple[tuple[str, Segments], ...]
    # Digit runs that must be exactly "0": the leading zero of a hexadecimal number ("0x3d").
    # The shape cannot tell "0x3d" from a garbled "10x3d" (both mask to "0x0d"); the line can.
    zero_runs: tuple[int, ...] = ()
    # How ``fill`` makes each variable field: the index of its one digit run, or ``variables``'
    # segments as a format string of the runs ("0x{3}"). str.format joins them in C: 1.6x on the
    # fields of the 30 MB serial and synthetic files' 486,135 lines (bench/README.md).
    formats: tuple[tuple[str, int | str], ...] = ()

    def accepts(self, runs: Sequence[str]) -> bool:
        """Whether a line of this shape with these digit runs is one the grammar accepts: a
        hexadecimal number must start with "0x" (one garbled digit, "10x3d", is not a number)."""
        return all(runs[i] == "0" for i in self.zero_runs)

    def only(self, names: Container[str]) -> Template:
        """This template filling only the fields ``names``: for a reader that uses a few of the
        fields of a kind (a task-state line's state, pid and command name of its seven)."""
        return replace(self, constants=tuple(item for item in self.constants if item[0] in names),
                       variables=tuple(item for item in self.variables if item[0] in names),
                       formats=tuple(item for item in self.formats if item[0] in names))

    def fill(self, runs: Sequence[str]) -> dict[str, str]:
        """The fields of one line of this shape from its digit runs. (A dict display compiled per
        shape was retired: 1.2-5.1x on a step of at most 1.8% of ``analyze``, bench/pairs.py.)"""
        fields = dict(self.constants)
        for name, how in self.formats:
            fields[name] = runs[how] if how.__class__ is int else how.format(*runs)  # type: ignore[union-attr]
        return fields


@dataclass(frozen=True, slots=True)
class ParsedLine:
    kind: str
    fields: dict[str, str]


def _leaf_fields(tree: Tree) -> list[tuple[str, int, int, str]]:
    """(field name, start, end, terminal) of every token: a one-token rule names its token."""
    found: list[tuple[str, int, int, str]] = []
    for child in tree.children:
        if isinstance(child, Token):
            found.append((child.type.lower(), child.start_pos, child.end_pos, child.type))
        elif isinstance(child, Tree):
            tokens = [t for t in child.children if isinstance(t, Token)]
            if len(tokens) == 1 and len(child.children) == 1:
                found.append((str(child.data), tokens[0].start_pos, tokens[0].end_pos, tokens[0].type))
            else:
                found.extend(_leaf_fields(child))
    return found


def _segments(masked: str, start: int, end: int, run_index: list[int]) -> Segments:
    segments: list[str | int] = []
    literal_start = start
    for pos in range(start, end):
        if masked[pos] == "0":
            if pos > literal_start:
                segments.append(masked[literal_start:pos])
            segments.append(run_index[pos])
            literal_start = pos + 1
    if end > literal_start:
        segments.append(masked[literal_start:end])
    return tuple(segments)


def _template(kind: str, tree: Tree, masked: str) -> Template:
    # In a masked body every "0" is a placeholder for one digit run, in order.
    run_index: list[int] = [0] * len(masked)
    count = 0
    for pos, char in enumerate(masked):
        if char == "0":
            run_index[pos] = count
            count += 1
    merged: dict[str, list[Segments]] = {}
    zero_runs: list[int] = []
    for name, start, end, terminal in _leaf_fields(tree):
        merged.setdefault(name, []).append(_segments(masked, start, end, run_index))
        if terminal == "HEX" and masked.startswith("0", start):
            zero_runs.append(run_index[start])
    constants: list[tuple[str, str]] = []
    variables: list[tuple[str, Segments]] = []
    for name, pieces in merged.items():
        # A repeated field (state words, stack words) is kept as its values joined by a blank.
        joined: list[str | int] = []
        for i, piece in enumerate(pieces):
            if i:
                joined.append(" ")
            joined.extend(piece)
        if all(isinstance(p, str) for p in joined):
            constants.append((name, "".join(str(p) for p in joined)))
        else:
            variables.append((name, tuple(joined)))
    formats = tuple((name, _format(segments)) for name, segments in variables)
    return Template(kind, tuple(constants), tuple(variables), tuple(zero_runs), formats)


def _format(segments: Segments) -> int | str:
    """A variable field's segments as ``Template.formats`` holds them."""
    if len(segments) == 1 and isinstance(segments[0], int):
        return segments[0]
    return "".join(f"{{{part}}}" if isinstance(part, int) else part.replace("{", "{{").replace("}", "}}")
                   for part in segments)


# How many learned shapes the shape store keeps (see ``LineParser(stored=True)``): a line of
# about 170 bytes each, the oldest dropped first.
STORED_SHAPES = 10_000


def shape_store() -> Path | None:
    """The file of the shapes learned by earlier runs, in the grammars' cache folder (None: no
    cache folder). Named by the grammars' digest and this module's and the kinds table's own
    text: a template is what these make of a shape, so any change to them names a new file.

    A line per shape: the shape as a JSON string, a tab, its template as JSON (null: no grammar
    accepts it). Read as text and split, each line's template decoded only when a line of that
    shape comes: a run pays about 5 ms for 7,000 stored shapes, not the decoding of every one."""
    folder = grammars.cache_dir()
    if folder is None:
        return None
    digest = hashlib.sha256(grammars.grammars_digest(GRAMMAR_ORDER).encode())
    for source in (__file__, kinds.__file__):
        try:
            digest.update(Path(source).read_bytes())
        except OSError:
            return None
    return folder / f"shapes-{digest.hexdigest()[:20]}.txt"


def _stored(path: Path) -> dict[str, str]:
    """The shape store's lines as (shape as JSON, template as JSON); {} when missing or damaged."""
    try:
        return dict(line.split("\t", 1) for line in path.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError, ValueError):
        return {}


_MISSING: Template | None = Template("", (), ())  # a shape neither known nor stored


def _encoded(template: Template | None) -> list[object] | None:
    if template is None:
        return None
    return [template.kind, template.constants, template.variables, template.zero_runs]


def _decoded(item: object, kinds: Container[str], runs: int) -> Template | None:
    """A template from its stored form, for a shape of ``runs`` digit runs; raises ValueError
    or TypeError on anything else (a kind not among ``kinds``, a run the shape has not)."""
    if item is None:
        return None
    kind, constants, variables, zero_runs = item  # type: ignore[misc]
    if _text(kind) not in kinds:
        raise ValueError(f"not a line kind: {kind!r}")
    constants = tuple((_text(name), _text(value)) for name, value in constants)
    variables = tuple((_text(name), tuple(_run(part, runs) if type(part) is int else _text(part)
                                          for part in segments))
                      for name, segments in variables)
    formats = tuple((name, _format(segments)) for name, segments in variables)
    return Template(kind, constants, variables, tuple(_run(at, runs) for at in zero_runs), formats)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"not a string: {value!r}")
    return value


def _run(value: object, runs: int) -> int:
    if type(value) is not int or not 0 <= value < runs:
        raise ValueError(f"not a digit run of the shape: {value!r}")
    return value


class LineParser:
    """Parses message bodies; one instance per process keeps the shape cache warm.

    With ``stored``, the shapes learned by earlier runs are read from the shape store (see
    :func:`shape_store`) and :meth:`remember` adds this run's: Lark learning a capture's 1,400-2,300
    shapes was 0.23-0.38 s of every worker's read of a 30 MB file (bench/README.md), and most
    of a small log's shapes (a machine's Mem-Info, its tasks' state lines, its watchdog lines)
    are the shapes of the logs that machine printed before.
    """

    def __init__(self, max_shapes: int = 200_000, stored: bool = False) -> None:
        # Every kind as (grammar, the grammar's starts, the kind's start), in the table's order, and
        # the pattern of what a line of that kind can begin with. A grammar is loaded, and a
        # pattern compiled, the first time a shape could be of its kind: a small log needs 2-5
        # grammars of 23, and loading them all was a sixth of its run.
        firsts = grammars.first_tokens(GRAMMAR_ORDER)
        self._kinds: list[tuple[str, tuple[str, ...], str]] = [
            (name, starts, start) for name, starts in GRAMMAR_ORDER for start in starts]
        self._first_patterns = [pattern for patterns in firsts for pattern in patterns]
        self._firsts: list[re.Pattern[str] | None] = [None] * len(self._kinds)
        self._shapes: dict[str, Template | None] = {}
        self._max_shapes = max_shapes
        self.lark_calls = 0
        self._kind_names = frozenset(start for _name, _starts, start in self._kinds)
        self._store = shape_store() if stored else None
        # The store's lines, read once (a shape's template is decoded when a line of it comes),
        # and the shapes learned since the store was read or last written.
        self._stored = _stored(self._store) if self._store is not None else {}
        self._learned: dict[str, Template | None] = {}

    def remember(self) -> None:
        """Add the shapes learned since the last call to the shape store (nothing without one).
        Two processes writing at once keep the last one's: the other's shapes are learned again
        next time."""
        if self._store is None or not self._learned:
            return
        # A copy, in one C call: Dask's threaded workers share this parser, and another thread
        # may learn a shape while these are written (iterating the dict itself then raised
        # "dictionary changed size during iteration"); what it adds is kept for the next call.
        learned = self._learned.copy()
        for shape in learned:
            self._learned.pop(shape, None)  # (another thread's remember() may have taken it)
        stored = _stored(self._store)
        for shape, template in learned.items():
            stored[json.dumps(shape)] = json.dumps(_encoded(template), separators=(",", ":"))
        lines = [f"{shape}\t{template}\n" for shape, template in stored.items()][-STORED_SHAPES:]
        grammars.write_quietly(self._store, "".join(lines), "shapes-*.txt")

    def shape_count(self) -> int:
        return len(self._shapes)

    def template(self, body: str) -> Template | None:
        """The template of ``body``'s shape (learned with Lark on first sight), or None."""
        if len(body) > MAX_BODY_CHARS:
            return None
        parts = _DIGIT_RUN.split(body)
        template = self._shape(body, parts)
        if template is None or (template.zero_runs and not template.accepts(parts[1::2])):
            return None
        return template

    def shape(self, body: str) -> Template | None:
        """The template of ``body``'s shape, whatever its digits (:meth:`template` also checks
        that they are ones the grammar accepts)."""
        if len(body) > MAX_BODY_CHARS:
            return None
        return self._shape(body, _DIGIT_RUN.split(body))

    def _shape(self, body: str, parts: list[str]) -> Template | None:
        masked = "0".join(parts[0::2]) if len(parts) > 1 else body
        try:
            return self._shapes[masked]
        except KeyError:
            pass
        template = _MISSING
        if self._stored:
            item = self._stored.get(json.dumps(masked))
            if item is not None:
                # A damaged line is learned again below (and stored right).
                with contextlib.suppress(ValueError, TypeError):
                    template = _decoded(json.loads(item), self._kind_names, masked.count("0"))
        if template is _MISSING:
            template = self._learn(masked.strip())
            if self._store is not None and len(self._learned) < STORED_SHAPES:
                self._learned[masked] = template
        if len(self._shapes) >= self._max_shapes:
            self._shapes.clear()
        self._shapes[masked] = template
        return template

    def parse(self, body: str) -> ParsedLine | None:
        """The kind and raw field text of ``body``, or None when no grammar accepts it."""
        if len(body) > MAX_BODY_CHARS:
            return None
        parts = _DIGIT_RUN.split(body)
        template = self._shape(body, parts)
        if template is None:
            return None
        runs = parts[1::2]
        if template.zero_runs and not template.accepts(runs):
            return None
        return ParsedLine(template.kind, template.fill(runs))

    def _learn(self, masked: str) -> Template | None:
        if not masked:
            return None
        for at, (name, starts, start) in enumerate(self._kinds):
            if self._first(at).match(masked) is None:
                continue  # Lark would fail on the first token: most shapes are not most kinds
            self.lark_calls += 1
            try:
                tree = grammars.load(name, starts).parse(masked, start=start)
            except LarkError:
                continue
            return _template(start, tree, masked)
        return None

    def _first(self, at: int) -> re.Pattern[str]:
        first = self._firsts[at]
        if first is None:
            first = self._firsts[at] = re.compile(self._first_patterns[at])
        return first


_shared: LineParser | None = None


def shared_parser() -> LineParser:
    """The process-wide parser, so that the shape cache is shared by every reader; it starts
    with the shapes earlier runs learned (see ``LineParser(stored=True)``)."""
    global _shared
    if _shared is None:
        _shared = LineParser(stored=True)
    return _shared
