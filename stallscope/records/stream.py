"""From the lines of one input to kernel records.

Besides taking each line's prefix apart (:mod:`stallscope.records.prefix`), this is where the
state that spans lines lives: the format seen last (tried first on the next line), multi-line
records (util-linux and journalctl indent their continuation lines, ``/dev/kmsg`` and journald
escape or embed the newline), pieces of one message that the transport split (netconsole
datagrams logged by rsyslog, ``ncfrag=`` fragments, lines hard-wrapped by a mailer), records
printed into the middle of another line, and journald entries that span several lines (export,
verbose, json-pretty). One record is held back so that a following piece can still be glued to it.

Whether two pieces are one line is decided by the grammars: a wrapped line is joined back, and
a line another record was printed into is split, only when the result is a line they understand
(:meth:`stallscope.parse.lines.LineParser.template`). What was repaired is counted per input
(``InputStats.repaired``) and said in the ``corrupted`` field of the records it touched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator

from stallscope.parse.lines import LineParser, shared_parser
from stallscope.records import console, journal, paste
from stallscope.records.prefix import DMESG_CLOCKS, Prefix, Record, Style, caller_only, detect, inner, outer

# Dictionary lines after a /dev/kmsg record: " SUBSYSTEM=acpi", " DEVICE=+acpi:PNP0A03:00".
_KMSG_DICT = re.compile(r" [A-Z0-9_]+=")
_KMSG_ESCAPE = re.compile(r"(?:\\x[0-9a-fA-F]{2})+")
RSYSLOG_ESCAPE = re.compile(r"#([0-3][0-7]{2})")
_NCFRAG = re.compile(r"ncfrag=(\d+)/")
# Lines a mail or a grep put between log lines; never glued to the line before.
_MARKERS = ("(...", "--", "> ")
# Formats whose writer aligns a multi-line record's later lines under the message text.
_ALIGNED = frozenset({
    "dmesg", "dmesg-raw", "dmesg-T", "dmesg-x", "dmesg-iso", "dmesg-relative", "dmesg-delta", "syslog",
    "syslog-no-date", "syslog-rfc3339", "journal-short-full", "journal-short-monotonic", "journal-short-delta",
    "journal-short-unix",
})
_EXPORT_START = ("__CURSOR=", "__REALTIME_TIMESTAMP=")
# What the first line of a journal entry (export, verbose, json and its variants) can start with;
# the blank is json-sse's end of an event.
_JOURNAL_FIRST = frozenset({"", "_", "{", "\x1e", "d", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ"})
# journalctl -o verbose: an entry starts with its time and cursor, its fields follow indented by
# four blanks, and a field's later lines are aligned under its value.
_VERBOSE_HEAD = re.compile(r"[A-Z][a-z]{2} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[s=[0-9a-f]+;i=[0-9a-f]+;")
_VERBOSE_FIELD = re.compile(r"    ([A-Z0-9_]+)=")
# journalctl -o json-pretty: one entry is at most a few dozen lines.
_JSON_PRETTY_LINES = 400
# A record printed into the middle of a line (no line buffering on the console, two CPUs
# printing at once): printk's own "[%5lu.%06lu]" (with its caller id) inside the text. And
# printk's report that the console lost messages, glued to whatever was printed around it.
_SPLICE = re.compile(r"\[\s*(\d+\.\d{6})\](?:\[\s*([TC]\d+(?:@C\d+)?)\])? ?|" + console.DROPPED.pattern)
_STAMP_INSIDE = re.compile(r"\[\s*\d+\.\d{6}\]")
# A head whose rest is missing waits this many physical lines for it.
_ORPHAN_WINDOW = 32
# Lines longer than this are not joined to anything (printk caps a record near 1 KiB).
_MAX_JOINED = 2048
# Mailers and bug trackers wrap near this column.
_WRAP_WIDTH = 72
# A line broken more than this many times is not put back together.
_MAX_HELD = 3

# What the record layer repaired, said in the ``corrupted`` field of the records it touched (and
# so of the task rows they belong to). Each repair is counted in InputStats.repaired under the
# name in brackets.
CUT_HEAD = "another record was printed into this line"  # [split-at-timestamp]
CUT_TAIL = "printed into the middle of another line"
AFTER_MARKER = "printed on one line with a dropped-messages marker"  # [dropped-marker-cut-off]
WRAP_JOINED = "a wrapped line joined back"  # [wrap-joined]
ORPHAN_JOINED = "its rest, printed later, joined back"  # [tail-joined]
# A name printed with a newline in it (a task's comm is whatever the program set: syzkaller's
# executors set bytes of every kind) breaks one message into two records of the same time and
# caller: "INFO: task \xef\xbf" / "\xbd:18088 blocked for more than 143 seconds."
NEWLINE_JOINED = "one message printed over two lines (a newline inside a printed name) joined back"  # [newline-joined]
_DROPPED = " messages dropped"
REPAIR_REASONS = (CUT_HEAD, CUT_TAIL, AFTER_MARKER, WRAP_JOINED, ORPHAN_JOINED, NEWLINE_JOINED)


def _unescape_kmsg(text: str) -> str:
    # /dev/kmsg writes every byte below 0x20, above 0x7e and the backslash as \xNN.
    return _KMSG_ESCAPE.sub(
        lambda m: bytes.fromhex(m.group(0).replace("\\x", "")).decode("utf-8", "replace"), text
    )


def _unescape_rsyslog(text: str) -> str:
    return RSYSLOG_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), text)


def _also(record: Record, why: str) -> Record:
    """``record`` with ``why`` added to what its ``corrupted`` says."""
    known = record.corrupted
    return record._replace(corrupted=why if known is None else f"{known}; {why}")


# A line that opens as messages do ("usb 1-5: ...", "ACPI: ...", "nvme nvme0: ..."): a message of
# its own, never the rest of the one before it, however the two would read together.
OWN_MESSAGE = r"(?:[\w.-]+ )?[\w.:-]+: "
_OWN_MESSAGE = re.compile(OWN_MESSAGE)


_DIGITS = re.compile(r"\d+")
_BLANKS = re.compile(r"\s+")


def _shape(text: str) -> str:
    return _BLANKS.sub(" ", _DIGITS.sub("9", text))


def _damaged_prefix(text: str, prefix_shape: str) -> bool:
    """Whether ``text`` begins as the log's own prefixes do (numbers aside) but breaks off: a record
    whose prefix a control byte or a cut spoiled ("12,384,4446304," then a CR in a kmsg log), not
    the rest of a line a mailer wrapped. Short prefixes ("<4>") are too common in text to tell."""
    if len(prefix_shape) < 5:
        return False
    shape = _shape(text[: len(prefix_shape) + 40])
    common = next((at for at, (mine, theirs) in enumerate(zip(shape, prefix_shape, strict=False)) if mine != theirs),
                  min(len(shape), len(prefix_shape)))
    return common >= 5 and prefix_shape[:common].count("9") >= 2


def _joins(head: str, pieces: list[str]) -> Iterator[str]:
    """The ways a line broken into ``head`` and ``pieces`` may have read: broken at a blank (which
    the break swallowed or kept), or inside a word or a frame ("isolat" / "ed(anon)"); at a blank
    first, at every break."""
    joined = [head]
    for piece in pieces:
        grown = []
        for text in joined:
            grown.append(f"{text.rstrip()} {piece.lstrip()}")
            if not text[-1:].isspace() and not piece[:1].isspace():
                grown.append(text + piece)
        joined = grown
    yield from joined


def may_join(parser: LineParser, head: str, piece: str) -> bool:
    """Whether some way of joining ``head`` and ``piece`` (as :meth:`RecordReader.same_message`
    tries them) has the shape of a line a grammar knows, its digits aside. False means the reader
    never joins two such lines; it depends only on where their digits are, which lets the fast
    path (:mod:`stallscope.bulk`) ask once per pair of line keys."""
    return any(parser.shape(joined) is not None for joined in _joins(head, [piece]))


def rewrites(text: str, body: str) -> bool:
    """Whether the line reader does more to a prefixed line ``text`` than take its prefix off and
    hand ``body`` on (Unicode spaces made blanks, a record printed into it cut out): the fast path
    (:mod:`stallscope.bulk`) leaves such a line to it."""
    return paste.has_unicode_space(text) or splices_in(body)


def splices_in(body: str) -> bool:
    """Whether the record layer may cut ``body`` (a printk timestamp inside it, a dropped marker)."""
    return (_STAMP_INSIDE.search(body, 1) is not None) or ("**" in body and console.DROPPED.search(body) is not None)


class RecordReader:
    def __init__(self, source: str, parser: LineParser | None = None, repairs: dict[str, int] | None = None) -> None:
        self.source = source
        self.parser = parser
        self.repairs: dict[str, int] = {} if repairs is None else repairs
        self.style: Style | None = None
        self.pending: Record | None = None
        self.pad = ""
        self.hosts: set[str] = set()
        # The host of the last netconsole datagram (see datagram).
        self.datagram_host: str | None = None
        self.last_ts: dict[str | None, float] = {}
        self.export: dict[str, str] | None = None
        self.export_line = 0
        self.journal_host = ""
        self.verbose: dict[str, str] | None = None
        self.verbose_key = ""
        self.verbose_line = 0
        self.pretty: list[str] | None = None
        self.pretty_line = 0
        self.sse = False
        self.quoted = False
        # Physical length of the last line (what a mailer saw) and the pieces of a broken line
        # that wait for the rest of it.
        self.prev_len = 0
        self.held: list[tuple[int, str]] = []
        self.prefixed = False  # a line with a capture prefix was read
        self.prefix_shape = ""  # the last capture prefix, digit runs and blank runs as one
        # The head of a line another record was printed into, waiting for its rest.
        self.open_head: Record | None = None
        self.open_until = 0

    # -- the grammars' word ------------------------------------------------------------------
    def kind(self, body: str) -> str | None:
        """The line kind the grammars give ``body``, or None."""
        if self.parser is None:
            self.parser = shared_parser()
        template = self.parser.template(body)
        return None if template is None else template.kind

    def repaired(self, what: str) -> None:
        self.repairs[what] = self.repairs.get(what, 0) + 1

    # -- emitting ---------------------------------------------------------------------------
    def push(self, record: Record) -> Iterator[Record]:
        if self.held:
            yield from self.release()
        if self.open_head is not None and record.body:
            record = self.rejoin(record)
        if record.ts is not None:
            last = self.last_ts.get(record.host)
            if last is not None and record.ts < last:
                record = _also(record, "timestamp goes backwards")
            self.last_ts[record.host] = record.ts
        if self.pending is not None:
            if record.ts is not None and self.same_message(self.pending, record):
                return
            yield self.pending
        self.pending = record

    def same_message(self, pending: Record, record: Record) -> bool:
        """Whether ``record`` is the rest of ``pending``'s message, cut by a newline printed inside
        it: the same time, caller and machine, neither understood alone and the two understood as
        one line. Then ``pending`` becomes that line (True)."""
        if (pending.ts != record.ts or pending.caller != record.caller or pending.host != record.host
                or pending.corrupted is not None or record.corrupted is not None
                or not pending.body.strip() or not record.body.strip()
                or len(pending.body) + len(record.body) > _MAX_JOINED
                or _OWN_MESSAGE.match(record.body.lstrip()) is not None
                or self.kind(pending.body) is not None or self.kind(record.body) is not None):
            return False
        for joined in _joins(pending.body, [record.body]):
            if self.kind(joined) is not None:
                self.pending = pending._replace(body=joined, corrupted=NEWLINE_JOINED)
                self.repaired("newline-joined")
                return True
        return False

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
        if text[:1] not in _JOURNAL_FIRST and self.export is None and self.verbose is None and self.pretty is None:
            # Not a journal entry's line (most lines): straight to the console cleaner and prefixes.
            if console.is_clean(text):
                yield from self.line(number, text)
                self.prev_len = len(text)
                return
            yield from self.console_line(number, text)
            return
        if self.export is not None or text.startswith(_EXPORT_START):
            yield from self.export_field(number, text)
            return
        if self.verbose is not None or (text[:1].isupper() and _VERBOSE_HEAD.match(text)):
            yield from self.verbose_field(number, text)
            return
        if self.pretty is not None or text == "{":
            yield from self.pretty_line_of(number, text)
            return
        if text[:1] in ("{", "\x1e", "d"):
            found = self.json_line(text)
            if found is not None:
                yield from self.emit_lines(number, found.prefix, found.message)
                return
        elif not text and self.sse:
            return  # the blank line that ends an event of journalctl -o json-sse
        yield from self.console_line(number, text)

    def console_line(self, number: int, text: str) -> Iterator[Record]:
        if console.is_clean(text):
            yield from self.line(number, text)
            self.prev_len = len(text)
        else:
            for piece in console.clean(text):
                yield from self.line(number, piece)
                self.prev_len = len(piece)

    def json_line(self, text: str) -> journal.JournalEntry | None:
        """One entry of ``journalctl -o json``, ``json-seq`` (a record separator before it) or
        ``json-sse`` ("data: " before it)."""
        if text[:1] == "{":
            return journal.json_entry(text)
        if text[:2] == "\x1e{":
            return journal.json_entry(text[1:], "journal-json-seq")
        if text.startswith("data: {"):
            found = journal.json_entry(text[6:], "journal-json-sse")
            self.sse = self.sse or found is not None
            return found
        return None

    def line(self, number: int, text: str, unwrapped: bool = False) -> Iterator[Record]:
        if not text:
            self.pad = ""
            self.quoted = False
            # A blank line is taken for part of the output of the machine whose line came before
            # it (it ends that machine's block), as in a log of one machine without prefixes.
            host = self.pending.host if self.pending is not None else None
            yield from self.push(Record(self.source, number, host, None, ""))
            return
        if not text.isascii():
            text = paste.normalize(text)
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
            rest = None if unwrapped else self.unwrap(text)
            if rest is not None:
                yield from self.line(number, rest, True)
                return
            yield from self.unprefixed(number, text)
            return
        if not unwrapped:
            self.quoted = False
        if self.held:
            yield from self.release()
        self.prefixed = True
        self.prefix_shape = _shape(text[: pre.end])
        body = text[pre.end :]
        if pre.tag is not None:
            body = f"{pre.tag}: {body}" if pre.tag else body
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
        record = Record(self.source, number, pre.host, pre.ts, body, pre.wall, pre.caller, pre.level, None, fmt)
        if splices_in(body):
            yield from self.splice(record)
            return
        yield from self.push(record)

    def prefix(self, text: str) -> Prefix | None:
        """Outer and inner prefix of a line, trying the style of the previous line first."""
        pre = outer(text, self.style) if self.style is not None else None
        if pre is None:
            if text[0] == "[":
                found = inner(text, 0)
                if found is not None:
                    ts, caller, end = found
                    # A journalctl short-monotonic line also starts with "[ts] ".
                    if not text.startswith("kernel: ", end) and not text.startswith(
                            " kernel: ", text.find(" ", end)):
                        if self.journal_host and text.startswith(self.journal_host, end):
                            # short-monotonic shows a program's /dev/kmsg line with its own tag
                            host = self.journal_host.rstrip()
                            return Prefix(self.style.name, end + len(host) + 1, host=host, ts=ts)  # type: ignore[union-attr]
                        return Prefix("dmesg", end, ts=ts, caller=caller, inner=True)
                alone = caller_only(text, 0)
                if alone is not None:  # printk.time=0 with CONFIG_PRINTK_CALLER
                    return Prefix("dmesg", alone[1], caller=alone[0])
            hit = detect(text)
            if hit is None:
                return None
            self.style, pre = hit
            self.journal_host = (f"{pre.host} " if pre.host and pre.fmt in (
                "journal-short-monotonic", "journal-short-delta") else "")
        if pre.ts is None and pre.fmt not in ("kmsg", "netconsole-ext", "logcat"):
            found = inner(text, pre.end)
            if found is not None:
                ts, caller, end = found
                return pre._replace(ts=ts, caller=caller, end=end, inner=True)
            if pre.fmt == "dmesg-x":
                # dmesg -x with -T, -e or --time-format delta: the clock follows the level.
                for clock in DMESG_CLOCKS:
                    match = clock.pattern.match(text, pre.end)
                    if match is not None:
                        pre = pre._replace(end=match.end(), wall=clock.convert(match).wall)
                        break
            if pre.caller is None and text.startswith("[", pre.end):
                alone = caller_only(text, pre.end)
                if alone is not None:
                    return pre._replace(caller=alone[0], end=alone[1])
        return pre

    def unwrap(self, text: str) -> str | None:
        """``text`` without what a paste put in front of its capture prefix (:data:`paste.WRAPPERS`),
        or None when nothing is to be taken off."""
        rest = text
        quote = None
        for _ in range(3):
            for name, pattern in paste.WRAPPERS:
                match = pattern.match(rest)
                if match is not None and match.end():
                    if name == "quote" and quote is None and rest is text:
                        quote = text[match.end() :]
                    rest = rest[match.end() :]
                    break
            else:
                break
            if rest and self.prefix(rest) is not None:
                self.quoted = quote is not None
                return rest
        if quote is not None and self.quoted:
            return quote  # a later line of a quoted excerpt (a continuation line, a blank)
        self.quoted = False
        return None

    def unprefixed(self, number: int, text: str) -> Iterator[Record]:
        if splices_in(text):
            yield from self.splice(Record(self.source, number, None, None, text))
            return
        if self.wrapped(number, text):
            return
        stripped = console.strip_prompt(text)
        if stripped is not text and stripped:
            yield from self.line(number, stripped)
            return
        yield from self.push(Record(self.source, number, None, None, text))

    def wrapped(self, number: int, text: str) -> bool:
        """Glue ``text`` to the held record if it is the rest of that line, broken off by a mailer
        or a web page (perhaps more than once: up to :data:`_MAX_HELD` pieces wait for the rest).

        The grammars must understand the joined line. A piece they understand alone is a line of
        its own (a comm may hold blanks: "<any words> invoked oom-killer: ..." would swallow the
        line before it), unless it came without a prefix in a prefixed log, after a prefixed line
        that it would not have fitted on, and the joined line is of that line's kind if it has one
        (a Mem-Info zone line wrapped into what reads as counters, a task-state line whose flags
        read as a bare address, a frame broken after its "?").
        A line they understand already is only taken for a broken one if the piece would not have
        fitted on it (:data:`_WRAP_WIDTH`): some kinds end in free text ("Call Trace:" and what
        follows it).
        """
        pending = self.pending
        if (
            pending is None
            or not pending.body.strip()
            or not text.strip()
            or text.startswith(_MARKERS)
            or len(pending.body) + sum(len(t) for _, t in self.held) + len(text) > _MAX_JOINED
            or (pending.corrupted is not None and pending.corrupted.endswith(_DROPPED))
            or _damaged_prefix(text, self.prefix_shape)
        ):
            return False
        head_kind = self.kind(pending.body)
        tail_kind = self.kind(text)
        fits = self.prev_len + 1 + len(text.split(None, 1)[0]) <= _WRAP_WIDTH
        if tail_kind is not None and (fits or not self.prefixed or pending.fmt is None):
            return False
        if head_kind is not None and fits and not self.held:
            return False
        for joined in _joins(pending.body, [t for _, t in self.held] + [text]):
            kind = self.kind(joined)
            if kind is not None and (tail_kind is None or head_kind in (None, kind)):
                return self.join_wrapped(pending, joined)
        if tail_kind is None and len(self.held) < _MAX_HELD:
            self.held.append((number, text))
            return True
        return False

    def join_wrapped(self, pending: Record, joined: str) -> bool:
        self.held = []
        self.pending = _also(pending._replace(body=joined), WRAP_JOINED)
        self.repaired("wrap-joined")
        return True

    def release(self) -> Iterator[Record]:
        """The pieces held for a join that did not come: each is a line of its own."""
        held, self.held = self.held, []
        for number, text in held:
            yield from self.push(Record(self.source, number, None, None, text))

    # -- records printed into each other ------------------------------------------------------
    def splice(self, record: Record) -> Iterator[Record]:
        """Cut ``record`` where printk's timestamp or a dropped-messages marker sits inside it.

        A marker is never part of a message: it is always cut off (and tells the builder that
        lines are missing). At a timestamp the line is cut only if the whole is not understood and
        a piece is; a head that is not understood then waits for its rest (:meth:`rejoin`).
        """
        body = record.body
        cuts = [m for m in _SPLICE.finditer(body) if m.start() or m.group(1) is None]
        marked = any(m.group(1) is None for m in cuts)
        if not marked and self.kind(body) is not None:
            yield from self.push(record)
            return
        head = body[: cuts[0].start()]
        pieces: list[Record] = []
        if head.strip():
            pieces.append(_also(record._replace(body=head.rstrip() if marked else head), CUT_HEAD))
        interrupted = False  # a record was printed into text, not only after a marker
        for i, cut in enumerate(cuts):
            text = body[cut.end() : cuts[i + 1].start() if i + 1 < len(cuts) else len(body)]
            if cut.group(1) is None:
                count = cut.group(_SPLICE.groups)  # DROPPED's own group: how many
                pieces.append(Record(self.source, record.line, record.host, None, cut.group(0),
                                     corrupted=f"{count} messages dropped"))
                if text.strip():
                    pieces.append(Record(self.source, record.line, record.host, None, text.strip(), None,
                                         record.caller, None, AFTER_MARKER, record.fmt))
                continue
            after_marker = i > 0 and cuts[i - 1].group(1) is None and not body[cuts[i - 1].end() : cut.start()].strip()
            interrupted = interrupted or not after_marker
            pieces.append(Record(self.source, record.line, record.host, float(cut.group(1)), text, None,
                                 cut.group(2) or record.caller, None, AFTER_MARKER if after_marker else CUT_TAIL,
                                 record.fmt or "dmesg"))
        understood = [self.kind(p.body) if not p.corrupted.endswith(_DROPPED) else None for p in pieces]  # type: ignore[union-attr]
        if not marked and not any(understood):
            yield from self.push(record)  # nothing gained: the line stays as printed
            return
        if head.strip() and interrupted and understood[0] is None:
            self.open_head, self.open_until = pieces[0], record.line + _ORPHAN_WINDOW
        self.repaired("split-at-timestamp" if interrupted else "dropped-marker-cut-off")
        for piece in pieces:
            if piece.corrupted == CUT_HEAD and not interrupted:
                piece = piece._replace(corrupted=AFTER_MARKER)
            yield from self.push(piece)

    def rejoin(self, record: Record) -> Record:
        """``record`` joined to the open head if it is that line's rest (and understood only so)."""
        head = self.open_head
        assert head is not None
        if record.line > self.open_until:
            self.open_head = None
            return record
        if record is head or record.host != head.host or record.corrupted is not None:
            return record  # the head itself, another machine's line, a piece of a repair
        if self.kind(record.body) is not None:
            return record
        for joined in _joins(head.body, [record.body]):
            if self.kind(joined) is not None:
                self.open_head = None
                self.repaired("tail-joined")
                return record._replace(body=joined, ts=record.ts if record.ts is not None else head.ts,
                                       corrupted=f"{ORPHAN_JOINED} (its head is line {head.line})")
        return record

    # -- transports -------------------------------------------------------------------------
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
            # The datagram lost its host field: the word taken for a host is message text, and
            # the host is the last datagram's (a blank line between them names none).
            body = text[text.index(" ") + 1 :]
            host = self.datagram_host
        self.datagram_host = host
        # A datagram without printk's [ts] goes on with the message before it, not with a blank
        # line between them: that one is a record of its own, and this part starts one too.
        if (not pre.inner and self.pending is not None and self.pending.host == host
                and self.pending.fmt is not None):
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

    def verbose_field(self, number: int, text: str) -> Iterator[Record]:
        """One line of ``journalctl -o verbose``: an entry's head line, a field or a field's later line."""
        if self.verbose is not None:
            field = _VERBOSE_FIELD.match(text)
            if field is not None:
                self.verbose_key = field.group(1)
                self.verbose[self.verbose_key] = text[field.end() :]
                if self.verbose_key == "MESSAGE":
                    self.verbose_line = number
                return
            indent = 5 + len(self.verbose_key)
            if self.verbose_key and text.startswith(" " * indent):
                self.verbose[self.verbose_key] += "\n" + text[indent:]
                return
            yield from self.verbose_entry()
        if _VERBOSE_HEAD.match(text):
            self.verbose, self.verbose_key, self.verbose_line = {}, "", number
        else:
            yield from self.feed(number, text)

    def verbose_entry(self) -> Iterator[Record]:
        fields, self.verbose = self.verbose, None
        found = journal.entry(fields or {}, "journal-verbose")
        if found is not None:
            yield from self.emit_lines(self.verbose_line, found.prefix, found.message)

    def pretty_line_of(self, number: int, text: str) -> Iterator[Record]:
        """One line of ``journalctl -o json-pretty``: an entry is the lines from "{" to "}"."""
        if self.pretty is None:
            self.pretty, self.pretty_line = [], number
        self.pretty.append(text)
        if text != "}" and len(self.pretty) < _JSON_PRETTY_LINES:
            return
        lines, self.pretty = self.pretty, None
        try:
            fields = json.loads("\n".join(lines))
        except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
            fields = None
        found = journal.entry(fields, "journal-json-pretty") if isinstance(fields, dict) else None
        if found is not None:
            yield from self.emit_lines(self.pretty_line, found.prefix, found.message)
            return
        # Not an entry after all: every line is read as any other line.
        for offset, piece in enumerate(lines):
            yield from self.line(self.pretty_line + offset, piece) if piece != "{" else self.push(
                Record(self.source, self.pretty_line + offset, None, None, piece))

    def holds_lines_from(self, line: int) -> bool:
        """Whether a record begun on or before ``line`` is still held back, its rest possibly to
        come: the record held until the next line shows it complete, the pieces of a broken
        line, a head another record was printed into, a journal entry of several lines."""
        def begun(number: int | None) -> bool:
            return number is None or number <= line

        return ((self.pending is not None and begun(self.pending.line))
                or (bool(self.held) and begun(self.held[0][0]))
                or (self.open_head is not None and begun(self.open_head.line))
                or (self.export is not None and begun(self.export_line))
                or (self.verbose is not None and begun(self.verbose_line))
                or (self.pretty is not None and begun(self.pretty_line)))

    def flush(self) -> Iterator[Record]:
        if self.held:
            yield from self.release()
        if self.export:
            yield from self.export_field(self.export_line, "")
        if self.verbose is not None:
            yield from self.verbose_entry()
        if self.pretty:
            lines, self.pretty = self.pretty, None
            for offset, piece in enumerate(lines):
                yield from self.push(Record(self.source, self.pretty_line + offset, None, None, piece))
        if self.pending is not None:
            yield self.pending
            self.pending = None


def records(
    source: str, lines: Iterable[str], parser: LineParser | None = None, repairs: dict[str, int] | None = None
) -> Iterator[Record]:
    """Number the physical lines of ``source`` from 1 and take their prefixes apart.

    ``parser`` decides what is one line (the process-wide one when omitted); ``repairs`` counts
    what was repaired, by kind (the names in brackets beside :data:`CUT_HEAD` and the others).
    """
    reader = RecordReader(source, parser, repairs)
    number = 0
    for text in lines:
        number += 1
        yield from reader.feed(number, text)
        if "\n" in text:  # a journal export binary field spans several physical lines
            number += text.count("\n")
    yield from reader.flush()
