"""Strip the capture prefix that the logging path put in front of each kernel message.

The kernel's own text (the body) is what the grammars parse; the prefix carries where and when:
the monotonic timestamp printed by printk, and in other captures a host and a wall-clock time.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class Record(NamedTuple):
    """One kernel message line, with its capture prefix taken apart."""

    source: str
    line: int
    host: str | None
    ts: float | None
    body: str


# printk's "[%5lu.%06lu] ": the integer part widens past five digits on long uptimes.
_DMESG_TIME = re.compile(r"\[\s*(\d+\.\d+)\] ?")


def split_prefix(text: str) -> tuple[float | None, str]:
    """The kernel timestamp (seconds since boot) and the message body of one line."""
    if text.startswith("["):
        match = _DMESG_TIME.match(text)
        if match:
            return float(match.group(1)), text[match.end() :]
    return None, text
