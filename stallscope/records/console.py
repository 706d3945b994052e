"""Serial-console noise: terminal escapes, control bytes, prompts typed over kernel output."""

from __future__ import annotations

import re

# CSI / OSC / two-character escape sequences a terminal or getty writes.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[()#][0-9A-Za-z]|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DIRTY = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# A getty prompt left on the line when the kernel printed over it.
_PROMPT = re.compile(r"(?:\S+ login: ?|Password: ?)+")

# printk's own report that the console fell behind, sometimes glued to garbage.
DROPPED = re.compile(r"\*\* (\d+) printk messages dropped \*\*")


def is_clean(text: str) -> bool:
    """No escape or control characters (a tab is fine)."""
    return text.isprintable() or not _DIRTY.search(text)


def clean(text: str) -> list[str]:
    """The printable pieces of one console line; a lone CR starts a new piece."""
    text = _CONTROL.sub("", _ANSI.sub("", text.replace("\r\n", "\n")))
    return [piece for piece in re.split(r"[\r\n]", text) if piece]


def strip_prompt(text: str) -> str:
    """The kernel text after a login prompt it was printed over."""
    match = _PROMPT.match(text)
    return text[match.end() :] if match else text
