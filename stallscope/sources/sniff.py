"""Whether a file found in a directory is a kernel log, by its content (names say little: a
``/var/log`` copy holds ``wtmp``, ``lastlog``, ``README`` and ``*.json`` files beside the logs,
and a kernel log may be called anything)."""

from __future__ import annotations

from stallscope.sources.export import EXPORT_MAGIC
from stallscope.sources.reader import InputError, iter_lines, open_binary, utf8_stream

# How much of a file is looked at: the start of a log says what it is. A file longer than this
# whose start holds no kernel line is read all the same (its kernel lines may come later).
SNIFF_BYTES = 256 << 10
BINARY = "binary (not text)"
JSON_NOT_JOURNAL = "JSON that is not a journal export (journalctl -o json)"
NO_KERNEL_LINE = "no kernel line"
# Control bytes no text log holds (tab, line ends, form feed, escape and json-seq's RS are text).
_CONTROL = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B, 0x1E}
# Keys every journal JSON record has: one of them tells journalctl's JSON from other JSON.
_JOURNAL_KEYS = (b'"MESSAGE"', b'"__CURSOR"', b'"_TRANSPORT"', b'"__REALTIME_TIMESTAMP"')


def why_not_a_kernel_log(path: str) -> str | None:
    """Why the file at ``path`` is not read as a kernel log (see the reasons above), or None to
    read it. A file that cannot be opened or decompressed is read, so that the reader says why."""
    try:
        _, stream = open_binary(path)
    except InputError:
        return None
    try:
        text = utf8_stream(stream)
        head = text.read(SNIFF_BYTES)
        whole = not text.read(1)
    except (OSError, EOFError, ValueError):
        return None
    finally:
        stream.close()
    if not head:
        return None  # an empty file says nothing: read (and counted) as the empty input it is
    if head.startswith(EXPORT_MAGIC):
        return None  # journalctl -o export: binary fields are part of the format
    sample = head[:4096]
    if b"\x00" in head or sum(byte in _CONTROL for byte in sample) * 20 > len(sample):
        return BINARY
    if _json(head) and not any(key in head for key in _JOURNAL_KEYS):
        return JSON_NOT_JOURNAL
    if whole and not _understood(path):
        return NO_KERNEL_LINE
    return None


def _json(head: bytes) -> bool:
    """Whether the text starts like JSON (an object, an array of objects or strings, json-seq,
    server-sent events): ``[   12.345678]`` starts a dmesg line, not an array."""
    start = head.lstrip(b" \t\r\n\x1e")
    if start.startswith((b"{", b"data: {")):
        return True
    return start.startswith(b"[") and start[1:].lstrip(b" \t\r\n")[:1] in (b"{", b"[", b'"', b"]")


def _understood(path: str) -> bool:
    """Whether any line of the (small, whole-read) file is kernel output stallscope understands."""
    from stallscope.api import load_lines
    from stallscope.capture.understood import understood_records

    try:
        return understood_records(load_lines(path, iter_lines(path))) > 0
    except InputError:
        return True  # the reader will say what is wrong with it
