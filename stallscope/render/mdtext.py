"""Markdown escaping for text taken from a kernel log.

A task may call itself ``<script>``, ``|`` or ``](javascript:x)``; a log may carry terminal
escape sequences or bidirectional-override characters. Everything from the log goes through one
of these functions so that it is shown literally on GitHub/GitLab and in plain-text viewers.
"""

from __future__ import annotations

import re

# C0/C1 controls, line and paragraph separators, and the bidi overrides/isolates that can make
# shown text differ from stored text. Shown as \xNN / \uNNNN so the reader sees they were there.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Always escaped in running text: each starts a code span, emphasis, link, raw HTML, entity,
# table cell, strikethrough, a heading's closing sequence or (GitHub, GitLab) math.
_SPECIAL = re.compile(r"([\\`*\[\]<>&|~#$])")
# An underscore only opens emphasis when it is not inside a word.
_LOOSE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
# What a paragraph may not start with unescaped: headings, quotes, lists, thematic breaks.
_BLOCK_START = re.compile(r"^(\s*(?:\d+(?=[.)]))?)([#>+=.)-])")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str) -> str:
    """The text with tabs as spaces and invisible or reordering characters made visible."""
    return _UNSAFE.sub(_visible, text.replace("\t", "    "))


def one_line(text: str) -> str:
    return clean(text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", " ")) if text else ""


def inline(text: str) -> str:
    """Literal text inside a paragraph, heading or table cell."""
    escaped = _SPECIAL.sub(r"\\\1", one_line(text))
    return _LOOSE_UNDERSCORE.sub(r"\\_", escaped)


def paragraph(text: str) -> str:
    """Literal text that starts a paragraph: also kept from reading as a heading or list."""
    return _BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), inline(text))


def code(text: str) -> str:
    """A code span that holds ``text`` literally, whatever backticks it contains.

    Pipes are escaped as well, which GFM tables require even inside code spans (and which
    GitHub, GitLab and markdown-it render as a bare pipe).
    """
    body = one_line(text).replace("|", "\\|")
    if not body:
        return ""
    run = max((len(r) for r in re.findall(r"`+", body)), default=0)
    fence = "`" * (run + 1)
    if body.startswith("`") or body.endswith("`") or (body.startswith(" ") and body.endswith(" ")):
        body = f" {body} "
    return f"{fence}{body}{fence}"


def fenced(lines: list[str], info: str = "text") -> str:
    """A fenced block longer than any backtick run inside, so no line can close it early."""
    body = [clean(line) for line in lines]
    run = max((len(r) for line in body for r in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, run + 1)
    return "\n".join([f"{fence}{info}", *body, fence])


def table(columns: list[str], rows: list[list[str]], numeric: set[str] | frozenset[str] = frozenset()) -> str:
    """A GFM table padded so it still reads as a table in plain text (cells already escaped)."""
    headers = [inline(c) for c in columns]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    # Very wide columns (long log text) are not padded: padding would only add noise.
    widths = [min(w, 60) for w in widths]

    def line(cells: list[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            right = columns[i] in numeric
            out.append(cell.rjust(widths[i]) if right else cell.ljust(widths[i]))
        return "| " + " | ".join(out) + " |"

    rule = "|" + "|".join(
        ("-" * (w + 1) + ":") if c in numeric else ("-" * (w + 2)) for c, w in zip(columns, widths, strict=True)
    ) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])
