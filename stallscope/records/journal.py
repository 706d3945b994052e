"""journald entries (``journalctl -o json``, ``json-pretty``, ``json-seq``, ``json-sse``, ``verbose``
and ``export``) as kernel records.

journald already took printk's prefix apart: the message, the kernel's own monotonic time
(``_SOURCE_MONOTONIC_TIMESTAMP``; ``__MONOTONIC_TIMESTAMP`` is journald's receive time and is
not used), the wall clock and the host are separate fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from stallscope.records.prefix import Prefix, epoch_usec, usec_seconds


class JournalEntry:
    """A parsed entry: the prefix fields and the message (which may hold several lines)."""

    __slots__ = ("message", "prefix")

    def __init__(self, prefix: Prefix, message: str) -> None:
        self.prefix = prefix
        self.message = message


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # a MESSAGE that was not valid UTF-8 comes as a byte array
        try:
            return bytes(int(b) & 0xFF for b in value).decode("utf-8", "replace")
        except (TypeError, ValueError):
            return None
    return None


# PRIORITY as journald writes it: one digit (other text is read as no level).
_LEVELS = {str(level): level for level in range(10)}
_new_prefix = Prefix._make  # a tuple of every field, without the keyword handling of Prefix(...)


def entry(fields: Mapping[str, object], fmt: str) -> JournalEntry | None:
    """The record of one journal entry, or None when it carries no message."""
    message = _text(fields.get("MESSAGE"))
    if message is None:
        return None
    ident = _text(fields.get("SYSLOG_IDENTIFIER"))
    if ident and ident != "kernel":
        # journald split "ident: " off a line a program wrote to /dev/kmsg; the kernel printed it.
        message = f"{ident}: {message}"
    mono = _text(fields.get("_SOURCE_MONOTONIC_TIMESTAMP"))
    realtime = _text(fields.get("__REALTIME_TIMESTAMP"))
    priority = _text(fields.get("PRIORITY"))
    level = None
    if priority:
        level = _LEVELS.get(priority)
        if level is None and priority.isdigit():
            level = int(priority)
    # fmt, end, host, ts, wall, caller, level, inner, tag
    prefix = _new_prefix((fmt, 0, _text(fields.get("_HOSTNAME")), usec_seconds(mono) if mono else None,
                          epoch_usec(realtime) if realtime else None, None, level, False, None))
    return JournalEntry(prefix, message)


# json.loads without its wrappers (a third of its time on a journal line): the C scanner at the
# first character, then only JSON whitespace allowed after the value, as json.loads requires.
_SCAN = json.JSONDecoder().scan_once
_JSON_SPACE = " \t\n\r"


def json_entry(text: str, fmt: str = "journal-json") -> JournalEntry | None:
    """One entry of ``journalctl -o json`` (one line); None if it is not a JSON object."""
    try:
        fields, end = _SCAN(text, 0)
    except (StopIteration, ValueError, RecursionError):  # RecursionError: thousands of nested brackets
        return None
    if not isinstance(fields, dict) or (end != len(text) and text[end:].strip(_JSON_SPACE)):
        return None
    return entry(fields, fmt)


def is_export_field(text: str) -> bool:
    """A ``KEY=value`` line of the export format (journald field names are upper case)."""
    key, sep, _ = text.partition("=")
    return bool(sep) and bool(key) and key.replace("_", "A").isalnum() and key == key.upper()
