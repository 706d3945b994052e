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
    prefix = Prefix(
        fmt,
        0,
        host=_text(fields.get("_HOSTNAME")),
        ts=usec_seconds(mono) if mono else None,
        wall=epoch_usec(realtime) if realtime else None,
        level=int(priority) if priority and priority.isdigit() else None,
    )
    return JournalEntry(prefix, message)


def json_entry(text: str, fmt: str = "journal-json") -> JournalEntry | None:
    """One entry of ``journalctl -o json`` (one line); None if it is not a JSON object."""
    try:
        fields = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets (line noise)
        return None
    if not isinstance(fields, dict):
        return None
    return entry(fields, fmt)


def is_export_field(text: str) -> bool:
    """A ``KEY=value`` line of the export format (journald field names are upper case)."""
    key, sep, _ = text.partition("=")
    return bool(sep) and bool(key) and key.replace("_", "A").isalnum() and key == key.upper()
