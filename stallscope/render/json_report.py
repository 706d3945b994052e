"""The JSON report: a stable document for scripts (schema in schema/analyze.schema.json)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import repeat
from json.encoder import encode_basestring_ascii as _string

from stallscope.capture.fields import is_fields
from stallscope.capture.hz import hz_by_host, pairs_by_host
from stallscope.capture.model import Capture
from stallscope.capture.understood import not_understood
from stallscope.render.summary import headline, summary
from stallscope.render.views import report_views
from stallscope.rules.base import Finding
from stallscope.verdict import verdict

SCHEMA_VERSION = 1


def report(capture: Capture, findings: list[Finding], hz: float | None = None, *,
           streamed: bool = False) -> dict[str, object]:
    """The document. ``streamed``: for :func:`pieces` only, its findings left as they are and
    each made a dict as it is encoded (a capture's thousands of findings as dicts at once were
    tens of MB at the run's peak, bench/README.md)."""
    facts = summary(capture)
    # Read once for the hz estimates and the verdict's sentence on them.
    pairs = pairs_by_host(capture.tasks)
    # Jiffies per second per host: inferred from delay growth against timestamps, or --hz.
    facts["hz"] = [
        {"host": host, "hz": e.hz, "how": e.how, "pairs": e.pairs, "note": e.note}
        for host, e in hz_by_host(capture, hz, pairs).items()
    ]
    # Files of bundles and archives not read (not kernel logs, other copies of the one read).
    facts["skipped"] = [s.as_dict() for s in capture.skipped]
    # The parts of the report: each machine, and each boot of it, with its own findings.
    facts["views"] = [
        {"machine": view.name, "host": view.host, "boot": view.boot, "boots": view.boots, "sources": view.sources,
         "findings": len(view.findings)}
        for view in report_views(capture, findings)
    ]
    # Inputs that hold no kernel line stallscope understands: no verdict is reached on them.
    facts["not_understood"] = [stats.path for stats in not_understood(capture)]
    return {
        "schema_version": SCHEMA_VERSION,
        "inputs": [i.as_dict() for i in capture.inputs],
        "summary": facts,
        "headline": headline(capture, findings),
        "verdict": verdict(capture, findings, pairs),
        "findings": list(findings) if streamed else [f.as_dict() for f in findings],
    }


def _as_dict(item: object) -> dict[str, object]:
    """What the encoder writes for a value that is not JSON's own: a finding's dict."""
    if isinstance(item, Finding):
        return item.as_dict()
    raise TypeError(f"Object of type {type(item).__name__} is not JSON serializable")  # as json's own


# ensure_ascii keeps the document inert in any terminal or pipe, whatever bytes the log held.
_INDENT = "  "
# Pieces of about this many characters go to the stream: written as they come, a report of
# thousands of findings is never held whole as text.
_WRITE_CHARS = 1 << 16


def render(capture: Capture, findings: list[Finding], hz: float | None = None) -> str:
    return "".join(pieces(report(capture, findings, hz)))


def pieces(document: dict[str, object]) -> Iterator[str]:
    """``json.dumps(document, indent=2, ensure_ascii=True, allow_nan=False)`` in pieces of about
    64 KiB, a finding it meets (a streamed document's) encoded as its dict would be, in its place.

    Written here rather than by ``json.JSONEncoder``: with an indent, the standard library encodes
    in Python through a generator per list and dict, resumed for every key, bracket and value;
    this encoder appends to a list and leaves strings to the same C function: 0.22 -> 0.11 s for
    the 100 MB fleet file's report of 3,169 findings, 9.9 MB (bench/README.md). Each value of the document and each
    item of its lists (a finding) is encoded whole, then handed on.
    """
    held: list[str] = []
    size = 0
    for chunk in _document_chunks(document):
        held.append(chunk)
        size += len(chunk)
        if size >= _WRITE_CHARS:
            yield "".join(held)
            held.clear()
            size = 0
    if held:
        yield "".join(held)


def _document_chunks(document: dict[str, object]) -> Iterator[str]:
    inner = "\n" + _INDENT
    yield "{"
    for number, (key, value) in enumerate(document.items()):
        yield ("," if number else "") + inner + _key(key) + ": "
        if isinstance(value, list | tuple) and value:
            item_indent = inner + _INDENT
            for at, item in enumerate(value):
                out = ["," + item_indent if at else "[" + item_indent]
                _encode(item, item_indent, out)
                yield "".join(out)
            yield inner + "]"
        else:
            out = []
            _encode(value, inner, out)
            yield "".join(out)
    yield "\n}" if document else "}"


def _encode(value: object, indent: str, out: list[str]) -> None:
    """``value`` as json.dumps(indent=2, ensure_ascii=True, allow_nan=False) writes it at
    ``indent`` (a newline and the spaces of its level), appended to ``out``."""
    if isinstance(value, str):
        out.append(_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, list | tuple):
        _members(zip(repeat(_NO_KEY), value), "[]", indent, out)
    elif is_fields(value):  # a dict, or an event line's fields
        _members(value.items(), "{}", indent, out)
    else:
        _encode(_as_dict(value), indent, out)


# The key of a list's items (a dict's key may be None: "null").
_NO_KEY = object()


def _members(items: Iterable[tuple[object, object]], brackets: str, indent: str, out: list[str]) -> None:
    """The (key, value) members of a list (keys _NO_KEY) or a dict, one per line a level in."""
    inner = indent + _INDENT
    opening = brackets[0] + inner
    separator = "," + inner
    empty = True
    for key, item in items:
        out.append(opening if empty else separator)
        empty = False
        if key is not _NO_KEY:
            out.append(_key(key) + ": ")
        if isinstance(item, str):  # most members: evidence lines, names
            out.append(_string(item))
        else:
            _encode(item, inner, out)
    out.append(brackets if empty else indent + brackets[1])


def _key(key: object) -> str:
    """A dict key as the standard encoder writes it: a string, or a number or constant made one."""
    if isinstance(key, str):
        return _string(key)
    if isinstance(key, float):
        return _string(_float(key))
    if key is True or key is False or key is None:
        return _string({True: "true", False: "false", None: "null"}[key])
    if isinstance(key, int):
        return _string(int.__repr__(key))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _float(value: float) -> str:
    if value != value or value in (_INFINITY, -_INFINITY):
        raise ValueError("Out of range float values are not JSON compliant: " + repr(value))
    return float.__repr__(value)


_INFINITY = float("inf")
