"""From the lines of one input to kernel records.

Besides taking each line's prefix apart (:mod:`stallscope.records.prefix`), this is where the
state that spans lines lives: the format seen last (tried first on the next line), multi-line
records (util-linux and journalctl indent their continuation lines, ``/dev/kmsg`` and journald
escape or embed the newline), pieces of one message that the transport split (netconsole
datagrams logged by rsyslog, ``ncfrag=`` fragments, lines hard-wrapped by a mailer) and journald
export entries. One record is held back so that a following piece can still be glued to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from stallscope.records import console, journal
from stallscope.records.prefix import Prefix, Record, Style, detect, inner, outer

# Dictionary lines after a /dev/kmsg record: " SUBSYSTEM=acpi", " DEVICE=+acpi:PNP0A03:00".
_KMSG_DICT = re.compile(r" [A-Z0-9_]+=")
_KMSG_ESCAPE = re.compile(r"(?:\\x[0-9a-fA-F]{2})+")
_RSYSLOG_ESCAPE = re.compile(r"#([0-3][0-7]{2})")
_NCFRAG = re.compile(r"ncfrag=(\d+)/")
# Lines a mail or a grep put between log lines; never glued to the line before.
_MARKERS = ("(...", "--", "> ")
# Mailers and bugzilla wrap near this column: an unprefixed line whose first word would not
# have fit after the previous line is the rest of that line.
_WRAP_WIDTH = 72
# Formats whose writer aligns a multi-line record's later lines under the message text.
_ALIGNED = frozenset({
    "dmesg", "dmesg-raw", "dmesg-T", "dmesg-x", "dmesg-iso", "dmesg-relative", "syslog",
    "syslog-rfc3339", "journal-short-full", "journal-short-monotonic", "journal-short-unix",
})
_EXPORT_START = ("__CURSOR=", "__REALTIME_TIMESTAMP=")


def _unescape_kmsg(text: str) -> str:
    # /dev/kmsg writes every byte below 0x20, above 0x7e and the backslash as \xNN.
    return _KMSG_ESCAPE.sub(
        lambda m: bytes.fromhex(m.group(0).replace("\\x", "")).decode("utf-8", "replace"), text
    )


def _unescape_rsyslog(text: str) -> str:
    return _RSYSLOG_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), text)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.style: Style | None = None
        self.pending: Record | None = None
        self.pad = ""
        self.prev_len = 0
        self.prefixed = False
        self.hosts: set[str] = set()
        self.last_ts: dict[str | None, float] = {}
        self.export: dict[str, str] | None = None
        self.export_line = 0
        self.journal_host = ""

    # -- emitting ---------------------------------------------------------------------------
    def push(self, record: Record) -> Iterator[Record]:
        if record.ts is not None:
            last = self.last_ts.get(record.host)
            if last is not None and record.ts < last:
                record = record._replace(corrupted="timestamp goes backwards")
            self.last_ts[record.host] = record.ts
        if self.pending is not None:
            yield self.pending
        self.pending = record

    def glue(self, piece: str) -> None:
        assert self.pending is not None
        self.pending = self.pending._replace(body=self.pending.body + piece)

    def emit_lines(self, number: int, pre: Prefix, message: str) -> Iterator[Record]:
        """A record whose message holds newlines: one record per printed line, as on a console."""
        first = True
        for text in message.split("\n"):
            if not first and not text:
                continue
            yield from self.push(
                Record(self.source, number, pre.host, pre.ts, text, pre.wall, pre.caller, pre.level,
                       None, pre.fmt)
            )
            first = False

    # -- one physical line ------------------------------------------------------------------
    def feed(self, number: int, text: str) -> Iterator[Record]:
        if self.export is not None or text.startswith(_EXPORT_START):
            yield from self.export_field(number, text)
            return
        if text[:1] == "{":
            entry = journal.json_entry(text)
            if entry is not None:
                yield from self.emit_lines(number, entry.prefix, entry.message)
                return
        if console.is_clean(text):
            yield from self.line(number, text)
            self.prev_len = len(text)
        else:
            for piece in console.clean(text):
                yield from self.line(number, piece)
                self.prev_len = len(piece)

    def line(self, number: int, text: str) -> Iterator[Record]:
        if not text:
            self.pad = ""
            yield from self.push(Record(self.source, number, None, None, ""))
            return
        first = text[0]
        if first == " ":
            if self.style is not None and self.style.name == "kmsg" and _KMSG_DICT.match(text):
                return
            if self.pad and self.pending is not None and text.startswith(self.pad):
                yield from self.push(self.pending._replace(line=number, body=text[len(self.pad) :],
                                                           corrupted=None))
                return
        pre = self.prefix(text)
        if pre is None:
            yield from self.unprefixed(number, text)
            return
        self.prefixed = True
        body = text[pre.end :]
        fmt = pre.fmt
        if fmt in ("kmsg", "netconsole-ext"):
            yield from self.kmsg(number, pre, text, body)
            return
        self.pad = " " * pre.end if fmt in _ALIGNED else ""
        if fmt == "syslog-rfc3339-program":
            if self.pending is not None and self.pending.fmt == "netconsole-rsyslog":
                # Inside a netconsole log, "host word: ..." is a datagram that starts that way.
                pre = pre._replace(fmt="netconsole-rsyslog")
            else:
                pre = pre._replace(fmt="syslog-rfc3339")
            fmt = pre.fmt
        if fmt == "netconsole-rsyslog":
            yield from self.datagram(number, pre, text, body)
            return
        if "#0" in body and fmt.startswith("syslog"):
            yield from self.emit_lines(number, pre, _unescape_rsyslog(body))
            return
        yield from self.push(Record(self.source, number, pre.host, pre.ts, body, pre.wall, pre.caller,
                                    pre.level, None, fmt))

    def prefix(self, text: str) -> Prefix | None:
        """Outer and inner prefix of a line, trying the style of the previous line first."""
        pre = outer(text, self.style) if self.style is not None else None
        if pre is None:
            if text[0] == "[":
                found = inner(text, 0)
                if found is not None:
                    ts, caller, end = found
                    # A journalctl short-monotonic line also starts with "[ts] ".
                    if not text.startswith(" kernel: ", text.find(" ", end)):
                        if self.journal_host and text.startswith(self.journal_host, end):
                            # short-monotonic shows a program's /dev/kmsg line with its own tag
                            host = self.journal_host.rstrip()
                            return Prefix(self.style.name, end + len(host) + 1, host=host, ts=ts)  # type: ignore[union-attr]
                        return Prefix("dmesg", end, ts=ts, caller=caller, inner=True)
            hit = detect(text)
            if hit is None:
                return None
            self.style, pre = hit
            self.journal_host = f"{pre.host} " if pre.fmt == "journal-short-monotonic" else ""
        if pre.ts is None and pre.fmt not in ("kmsg", "netconsole-ext"):
            found = inner(text, pre.end)
            if found is not None:
                ts, caller, end = found
                return pre._replace(ts=ts, caller=caller, end=end, inner=True)
        return pre

    def unprefixed(self, number: int, text: str) -> Iterator[Record]:
        if (
            self.prefixed
            and self.pending is not None
            and not text[0].isspace()  # first: a line of blanks only has no first word
            and self.prev_len + 1 + len(text.split(None, 1)[0]) > _WRAP_WIDTH
            and not text.startswith(_MARKERS)
        ):
            # A mailer or bugzilla broke the line and swallowed the blank at the break.
            self.glue(" " + text)
            return
        stripped = console.strip_prompt(text)
        if stripped is not text and stripped:
            yield from self.line(number, stripped)
            return
        dropped = console.DROPPED.search(text)
        if dropped is not None:
            if dropped.start():
                yield from self.push(Record(self.source, number, None, None, text[: dropped.start()]))
            yield from self.push(Record(self.source, number, None, None, dropped.group(0),
                                        corrupted=f"{dropped.group(1)} messages dropped"))
            return
        yield from self.push(Record(self.source, number, None, None, text))

    def kmsg(self, number: int, pre: Prefix, text: str, body: str) -> Iterator[Record]:
        self.pad = ""
        if "\\x" in body:
            body = _unescape_kmsg(body)
        if pre.fmt == "netconsole-ext":
            frag = _NCFRAG.search(text, 0, pre.end)
            if frag is not None and frag.group(1) != "0" and self.pending is not None:
                self.glue(body)
                return
        yield from self.emit_lines(number, pre, body)

    def datagram(self, number: int, pre: Prefix, text: str, body: str) -> Iterator[Record]:
        """One rsyslog record of a netconsole datagram: a new message only if printk's [ts] leads it."""
        host = pre.host
        if pre.inner or not body.strip():
            if host:
                self.hosts.add(host)
        elif host not in self.hosts and self.hosts:
            # The datagram lost its host field: the word taken for a host is message text.
            body = text[text.index(" ") + 1 :]
            host = self.pending.host if self.pending is not None else None
        if not pre.inner and self.pending is not None and self.pending.host == host:
            self.glue(body)
            return
        yield from self.push(Record(self.source, number, host, pre.ts, body, pre.wall, pre.caller,
                                    pre.level, None, pre.fmt))

    def export_field(self, number: int, text: str) -> Iterator[Record]:
        if self.export is None:
            self.export = {}
            self.export_line = number
        if not text:
            fields, self.export = self.export, None
            found = journal.entry(fields, "journal-export")
            if found is not None:
                yield from self.emit_lines(self.export_line, found.prefix, found.message)
            return
        if "\n" in text:  # a binary field, handed over as NAME, newline, value
            name, _, value = text.partition("\n")
            self.export[name] = value
        elif journal.is_export_field(text):
            name, _, value = text.partition("=")
            self.export[name] = value

    def flush(self) -> Iterator[Record]:
        if self.export:
            yield from self.export_field(self.export_line, "")
        if self.pending is not None:
            yield self.pending
            self.pending = None


def records(source: str, lines: Iterable[str]) -> Iterator[Record]:
    """Number the physical lines of ``source`` from 1 and take their prefixes apart."""
    reader = _Reader(source)
    number = 0
    for text in lines:
        number += 1
        yield from reader.feed(number, text)
        if "\n" in text:  # a journal export binary field spans several physical lines
            number += text.count("\n")
    yield from reader.flush()
