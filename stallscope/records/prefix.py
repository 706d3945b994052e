"""Strip the capture prefix that the logging path put in front of each kernel message.

The kernel's own text (the body) is what the grammars parse; the prefix carries where and when:
the monotonic timestamp printed by printk, and in other captures a host, a wall-clock time, a
printk caller id and a log level.

A prefix has two layers. The *outer* layer is added by whatever carried the message (syslog,
journalctl, ``dmesg -x``, ``/dev/kmsg``); the *inner* layer is printk's own ``[ts]`` and
optional ``[caller]``, which may or may not follow the outer one. Every outer style is one row of
:data:`STYLES`; the row order and first-character index keep detection to one or two regex
tries per line in the common case.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NamedTuple


class Record(NamedTuple):
    """One kernel message line, with its capture prefix taken apart."""

    source: str
    line: int
    host: str | None
    ts: float | None
    body: str
    wall: str | None = None
    caller: str | None = None
    level: int | None = None
    corrupted: str | None = None
    fmt: str | None = None


class Prefix(NamedTuple):
    """What one line's prefix said; ``end`` is where the body starts."""

    fmt: str
    end: int
    host: str | None = None
    ts: float | None = None
    wall: str | None = None
    caller: str | None = None
    level: int | None = None
    inner: bool = False  # printk's own [ts] was present
    # ``logcat -b kernel``: logd cut the message at its first ": " into a tag and the rest; the
    # kernel's text is the tag, ": " and the text from ``end``.
    tag: str | None = None


MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
                                      "Oct", "Nov", "Dec"), 1)}
# dmesg -T prints strftime's "%a %b %e %H:%M:%S %Y" in the user's LC_TIME: "[Do Nov 17 11:59:20
# 2022]" under de_DE. The month abbreviations of glibc's common locales (de, fr, es, it, pt, nl,
# sv, pl, cs), lower-cased, each read as its month; the weekday is not needed.
CTIME_MONTHS: dict[str, int] = {
    **{m.lower(): i for m, i in MONTHS.items()},
    **{m: i for i, names in enumerate((
        ("jan", "janv.", "ene", "gen", "sty", "led"),
        ("feb", "févr.", "fev", "lut", "úno"),
        ("mär", "mar", "mars", "mrt", "bře"),
        ("apr", "avr.", "abr", "kwi", "dub"),
        ("mai", "may", "mag", "mei", "maj", "kvě"),
        ("jun", "juin", "giu", "cze", "čen"),
        ("jul", "juil.", "lug", "lip", "čec"),
        ("aug", "août", "ago", "sie", "srp"),
        ("sep", "sept.", "set", "wrz", "zář"),
        ("okt", "oct.", "oct", "ott", "out", "paź", "říj"),
        ("nov", "nov.", "lis"),
        ("dez", "déc.", "dic", "dec", "gru", "pro"),
    ), 1) for m in names},
}
LEVEL_NAMES = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "error": 3, "warn": 4, "warning": 4,
               "notice": 5, "info": 6, "debug": 7}

# printk's "[%5lu.%06lu]", optionally `dmesg -d`'s " <delta>" (negative where records came out of
# order), then CONFIG_PRINTK_CALLER's
# "[%6s]" glued on, or a "[T123]" after a blank; then the one blank printk puts before the text
# (a tab where a paste turned it into one).
_INNER = re.compile(
    r"\[\s*(\d+\.\d+)(?: <\s*-?\d+\.\d+>)?\]"
    r"(?:\[\s*([TC]\d+(?:@C\d+)?)\]| \[\s*([TC]\d+(?:@C\d+)?)\])?[ \t]?"
)
# The caller id alone: printk's "[ T123] " when printk.time is off, and util-linux dmesg's
# "[  T123] " after a clock of its own (-T, -e, --time-format iso).
_CALLER = re.compile(r"\[\s*([TC]\d+(?:@C\d+)?)\][ \t]?")

# What vendor kernels print after printk's [ts] in place of CONFIG_PRINTK_CALLER: which task
# printed the line. The pid becomes the caller id ("T<pid>"), so interleaved tasks stay apart.
# Android (Samsung, Qualcomm): "<4>[ 6207.637280]  [3:  Binder:9343_3:22875] msg"
# MediaTek: "<4>[  363.812166] (0)[0:swapper/0]msg"
VENDOR_CALLERS: tuple[tuple[str, str], ...] = (
    ("android", r" ?\[ *\d{1,4}: *[^\]]*?: *(?P<android>\d+)\] ?"),
    ("mediatek", r"\(\d{1,4}\)\[(?P<mediatek>\d+):[^\]]*\]"),
)
_VENDOR = re.compile("|".join(pattern for _name, pattern in VENDOR_CALLERS))
# What a vendor caller can start with after printk's prefix: most lines (frames " [<...", text)
# are told apart by two characters, without a regular expression.
_VENDOR_START = frozenset({" [", "[0", "[1", "[2", "[3", "[4", "[5", "[6", "[7", "[8", "[9", "[ ",
                           *(f"({d}" for d in "0123456789")})


def split_prefix(text: str) -> tuple[float | None, str]:
    """The kernel timestamp (seconds since boot) and the message body of one dmesg line."""
    if text.startswith("["):
        match = _INNER.match(text)
        if match:
            return float(match.group(1)), text[match.end() :]
    return None, text


def inner(text: str, start: int) -> tuple[float, str | None, int] | None:
    """printk's ``[ts][caller] `` at ``start``: (ts, caller, end of prefix)."""
    match = _INNER.match(text, start)
    if match is None:
        return None
    caller = match.group(2) or match.group(3)
    end = match.end()
    if caller is None and text[end : end + 2] in _VENDOR_START:
        vendor = _VENDOR.match(text, end)
        if vendor is not None:
            return float(match.group(1)), f"T{vendor['android'] or vendor['mediatek']}", vendor.end()
    return float(match.group(1)), caller, end


def caller_only(text: str, start: int) -> tuple[str, int] | None:
    """A caller id without printk's [ts] at ``start``: (caller, end of prefix)."""
    match = _CALLER.match(text, start)
    return None if match is None else (match.group(1), match.end())


def _level(text: str | None) -> int | None:
    if text is None:
        return None
    if text.isdigit():
        return int(text) & 7
    return LEVEL_NAMES.get(text.rsplit(".", 1)[-1])


def _epoch(seconds: float) -> str | None:
    """An ISO wall time, or None for a time no calendar holds (a garbled journal field)."""
    try:
        return datetime.fromtimestamp(seconds, timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


# The ISO text of each whole second seen last (journald stamps every entry in microseconds, and
# datetime.fromtimestamp with isoformat took a sixth of a journal-json line's reading).
_SECOND_TEXTS: dict[int, str | None] = {}


def epoch_usec(usec: str) -> str | None:
    """An ISO wall time from journald's microseconds since the epoch (exact: the whole seconds
    and the microseconds are taken apart as integers)."""
    if not usec.isdigit():
        return None
    whole, micro = divmod(int(usec), 1_000_000)
    text = _SECOND_TEXTS.get(whole, "")
    if text == "":
        if len(_SECOND_TEXTS) >= 4096:
            _SECOND_TEXTS.clear()
        text = _SECOND_TEXTS[whole] = _epoch(whole)
    if text is None or not micro:
        return text
    # isoformat writes the microseconds only when there are some: "...:05.000123+00:00".
    return f"{text[:-6]}.{micro:06d}{text[-6:]}"


def usec_seconds(usec: str) -> float | None:
    """Seconds from a count of microseconds (kmsg, journald), or None for digits no float holds."""
    if not usec.isdigit():
        return None
    try:
        return int(usec) / 1e6
    except OverflowError:
        return None


# Each converter turns a match into a Prefix; ``inner`` is then looked for at ``end``.
Convert = Callable[[re.Match[str]], Prefix]


def _raw(m: re.Match[str]) -> Prefix:
    return Prefix("dmesg-raw", m.end(), level=_level(m["pri"]))


def _kmsg(m: re.Match[str]) -> Prefix:
    caller = None
    extra = m["extra"]
    if extra and "caller=" in extra:
        caller = extra.split("caller=", 1)[1].split(",", 1)[0]
    fmt = "netconsole-ext" if extra and "ncfrag=" in extra else "kmsg"
    return Prefix(fmt, m.end(), ts=usec_seconds(m["usec"]), caller=caller, level=_level(m["pri"]))


def _dmesg_x(m: re.Match[str]) -> Prefix:
    return Prefix("dmesg-x", m.end(), level=_level(m["lvl"]))


def _dmesg_t(m: re.Match[str]) -> Prefix:
    month = CTIME_MONTHS[m["mon"].lower()]
    return Prefix("dmesg-T", m.end(), wall=f"{m['year']}-{month:02d}-{int(m['day']):02d}T{m['clock']}")


def _dmesg_iso(m: re.Match[str]) -> Prefix:
    return Prefix("dmesg-iso", m.end(), wall=m["iso"].replace(",", ".", 1))


def _relative(m: re.Match[str]) -> Prefix:
    # A delta to the previous line is not a timestamp, and "[Dec 3 09:12]" has no year and no
    # seconds: nothing to keep.
    return Prefix("dmesg-relative", m.end())


def _delta(m: re.Match[str]) -> Prefix:
    return Prefix("dmesg-delta", m.end())


def _syslog(m: re.Match[str]) -> Prefix:
    wall = f"--{MONTHS[m['mon']]:02d}-{int(m['day']):02d}T{m['clock']}"  # the year is not printed
    # sysklogd writes its own "last message repeated N times" with no host: "Nov 17 19:46:12  udevd..."
    return Prefix("syslog", m.end(), host=m["host"] or None, wall=wall, level=_level(m["t0"] or m["t1"] or m["t2"]))


def _syslog_no_date(m: re.Match[str]) -> Prefix:
    return Prefix("syslog-no-date", m.end(), host=m["host"], level=_level(m["t1"]))


# logcat's priority letters back to the kernel's levels (logd maps emerg..crit to F, notice and
# info to I).
_LOGCAT_LEVELS = {"F": 2, "A": 2, "E": 3, "W": 4, "I": 6, "D": 7, "V": 7}


def _logcat(m: re.Match[str]) -> Prefix:
    wall = f"--{m['date']}T{m['clock']}"  # logcat prints no year
    return Prefix("logcat", m.end(), wall=wall, level=_LOGCAT_LEVELS.get(m["lvl"]), tag=m["tag"].rstrip())


def _rfc3339(m: re.Match[str]) -> Prefix:
    prog = m["prog"]
    if prog is None:
        return Prefix("netconsole-rsyslog", m.end(), host=m["host"], wall=m["iso"])
    if not prog.startswith("kernel"):
        # A program's own line (or a /dev/kmsg write): its tag is part of the text.
        return Prefix("syslog-rfc3339-program", m.start("prog"), host=m["host"], wall=m["iso"])
    return Prefix("syslog-rfc3339", m.end(), host=m["host"], wall=m["iso"], level=_level(m["t1"]))


def _rfc5424(m: re.Match[str]) -> Prefix:
    host = None if m["host"] == "-" else m["host"]
    return Prefix("syslog-rfc5424", m.end(), host=host, wall=m["iso"], level=_level(m["pri"]))


def _short_full(m: re.Match[str]) -> Prefix:
    zone = "Z" if m["tz"] in ("UTC", "GMT") else f" {m['tz']}"
    return Prefix("journal-short-full", m.end(), host=m["host"], wall=f"{m['date']}T{m['clock']}{zone}")


def _short_monotonic(m: re.Match[str]) -> Prefix:
    return Prefix("journal-short-monotonic", m.end(), host=m["host"], ts=float(m["ts"]))


def _short_delta(m: re.Match[str]) -> Prefix:
    return Prefix("journal-short-delta", m.end(), host=m["host"], ts=float(m["ts"]))


def _short_unix(m: re.Match[str]) -> Prefix:
    return Prefix("journal-short-unix", m.end(), host=m["host"], wall=_epoch(float(m["epoch"])))


@dataclass(frozen=True, slots=True)
class Style:
    name: str
    first: str  # the characters a line of this style can start with
    pattern: re.Pattern[str]
    convert: Convert


_DIGITS = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_LEVEL_TAG = r"<(?:[a-z]+\.)?[a-z]+>"
# A month as syslog and ctime print it: only real names, so that "Nor 26" is not a date.
_MONTH = f"(?:{'|'.join(MONTH_NAMES)})"
# dmesg -T's month in any locale CTIME_MONTHS knows, longest first ("mars" before "mar").
_CTIME_MONTH = "(?i:" + "|".join(re.escape(m) for m in sorted(CTIME_MONTHS, key=len, reverse=True)) + ")"
_ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)"

_KERNEL_TAG = r"kernel(?:\[\d+\])?: "
# A host name as syslog prints it; "kernel:" itself is not one ("Nov 22 06:07:54 kernel: msg" is
# journalctl --no-hostname).
_HOST = r"(?!kernel(?:\[\d+\])?: )(?P<host>\S+)"

# Most specific first within a first character: a dmesg body may itself start with anything.
STYLES: tuple[Style, ...] = (
    Style("kmsg", _DIGITS, re.compile(
        r"(?P<pri>\d+),(?P<seq>\d+),(?P<usec>\d+)(?:,(?P<flag>[-+c]))?(?P<extra>,[^;]*)?;"), _kmsg),
    Style("journal-short-monotonic", "[", re.compile(
        rf"\[\s*(?P<ts>\d+\.\d+)\] (?:{_HOST} )?{_KERNEL_TAG}"), _short_monotonic),
    # journalctl -o short-delta: "[    5.071225 <    0.000011 >] host kernel: ", the first entry
    # without a delta. A program's /dev/kmsg line keeps its own tag in the text.
    Style("journal-short-delta", "[", re.compile(
        r"\[\s*(?P<ts>\d+\.\d+)(?: <\s*-?\d+\.\d+ >|\s+)\] (?P<host>\S+) (?:kernel: )?"), _short_delta),
    Style("dmesg-T", "[", re.compile(
        rf"\[(?P<ctime>[^\W\d_]{{2,4}}\.? +(?P<mon>{_CTIME_MONTH}) +(?P<day>\d\d?) (?P<clock>\d\d:\d\d:\d\d) "
        rf"(?P<year>\d{{4}}))\] ?"), _dmesg_t),
    # dmesg -e / --time-format reltime: "[Dec 3 09:12]" or "[Dec13 09:12]" when the minute changes,
    # else "[  +0.000707]" (or "[  -0.725484]" after a record printed out of order).
    Style("dmesg-relative", "[", re.compile(
        rf"\[(?:\s*[+-]\d+\.\d+|{_MONTH}[ \d]\d \d\d:\d\d)\] ?"), _relative),
    # dmesg --time-format delta: "[<    0.000707>] ".
    Style("dmesg-delta", "[", re.compile(r"\[<\s*-?\d+\.\d+>\] ?"), _delta),
    Style("syslog-rfc5424", "<", re.compile(
        r"<(?P<pri>\d{1,3})>1 (?P<iso>\S+) (?P<host>\S+) \S+ \S+ \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?"),
        _rfc5424),
    Style("dmesg-raw", "<", re.compile(r"<(?P<pri>\d{1,3})>(?=\[)"), _raw),
    Style("syslog", _UPPER + "<", re.compile(
        rf"(?:<(?P<t0>[a-z]+\.[a-z]+)> ?)?(?P<mon>{_MONTH}) (?P<day>[ \d]\d) (?P<clock>\d\d:\d\d:\d\d(?:\.\d+)?) "
        rf"(?:{_KERNEL_TAG}(?:(?P<t1>{_LEVEL_TAG}) ?)?|{_HOST}? (?:{_KERNEL_TAG}(?:(?P<t2>{_LEVEL_TAG}) ?)?)?)"),
        _syslog),
    Style("journal-short-full", _UPPER, re.compile(
        r"[A-Z][a-z]{2} (?P<date>\d{4}-\d\d-\d\d) (?P<clock>\d\d:\d\d:\d\d(?:\.\d+)?) (?P<tz>\S+) "
        r"(?P<host>\S+) (?:kernel: )?"), _short_full),
    # logcat -b kernel (threadtime, the default): "09-07 21:29:45.700     0     0 E tag     : rest".
    Style("logcat", _DIGITS, re.compile(
        r"(?P<date>\d\d-\d\d) (?P<clock>\d\d:\d\d:\d\d\.\d+) +\d+ +\d+ (?P<lvl>[VDIWEFA]) (?P<tag>.*?) ?: "),
        _logcat),
    Style("dmesg-iso", _DIGITS, re.compile(
        r"(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d+[+-]\d\d:\d\d) "), _dmesg_iso),
    # rsyslog's RFC3339 files and journalctl's short-iso: "kernel:" when a program tag is
    # logged; a netconsole receiver logs the datagram right after the host, with no tag.
    Style("syslog-rfc3339", _DIGITS, re.compile(
        rf"(?P<iso>{_ISO}) (?P<host>\S*)(?: (?P<prog>[\w./-]+(?:\[\d+\])?):(?= |$))?(?: (?P<t1>{_LEVEL_TAG}))? ?"),
        _rfc3339),
    Style("journal-short-unix", _DIGITS, re.compile(
        r"(?P<epoch>\d{9,}\.\d+) (?P<host>\S+) (?:kernel: )?"), _short_unix),
    Style("dmesg-x", _LOWER, re.compile(r"[a-z]+\s*:(?P<lvl>[a-z]+)\s*: "), _dmesg_x),
    # A syslog file with its date cut off (grep and cut output, pastes): "kernel: [ts] msg",
    # "host kernel: msg".
    Style("syslog-no-date", _DIGITS + _UPPER + _LOWER, re.compile(
        rf"(?:(?P<host>[A-Za-z0-9][\w.-]*) )?{_KERNEL_TAG}(?:(?P<t1>{_LEVEL_TAG}) ?)?"), _syslog_no_date),
)

# The clocks dmesg can print after -x's facility and level ("kern  :warn  : [Dec 3 09:12] msg").
DMESG_CLOCKS: tuple[Style, ...] = tuple(s for s in STYLES if s.name in ("dmesg-T", "dmesg-relative", "dmesg-delta"))

BY_FIRST: dict[str, tuple[Style, ...]] = {
    char: tuple(s for s in STYLES if char in s.first) for char in {c for s in STYLES for c in s.first}
}


def outer(text: str, style: Style) -> Prefix | None:
    """The outer prefix of ``text`` in one style, or None."""
    match = style.pattern.match(text)
    return None if match is None else style.convert(match)


def detect(text: str) -> tuple[Style, Prefix] | None:
    """The first style whose outer prefix fits ``text``."""
    for style in BY_FIRST.get(text[:1], ()):
        match = style.pattern.match(text)
        if match is not None:
            return style, style.convert(match)
    return None
