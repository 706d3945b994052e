"""What a copy and paste puts around kernel lines: web-page spaces, mail quotes, line numbers, prompts.

A log pasted into a web page, a mail or a bug comment comes back with non-breaking and other
Unicode spaces, ``> `` quote marks, the line numbers of ``cat -n``, ``grep -n`` or a pastebin
gutter (``12 | ``, ``1. ``), or the shell prompt of a serial console typed before the kernel's
own output (``# [  775.947949] nc.traditional: ...``). None of it is the kernel's: it is taken
off before the capture prefix is looked for.
"""

from __future__ import annotations

import re

# Spaces a web page or word processor puts where the log had blanks (U+00A0 no-break space,
# U+2000..U+200A, U+202F, U+205F, U+3000), and zero-width characters (U+200B, U+2060, U+FEFF: a
# byte-order mark inside a paste) that were never in the log. The kernel prints none of them.
_UNICODE_SPACES = {
    **{code: " " for code in (0x00A0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000)},
    **{code: None for code in (0x200B, 0x2060, 0xFEFF)},
}
_HAS_UNICODE_SPACE = re.compile("[\u00a0\u1680\u2000-\u200b\u202f\u205f\u2060\u3000\ufeff]")


def normalize(text: str) -> str:
    """``text`` with Unicode spaces as blanks and zero-width characters gone."""
    if text.isascii() or _HAS_UNICODE_SPACE.search(text) is None:
        return text
    return text.translate(_UNICODE_SPACES)


def has_unicode_space(text: str) -> bool:
    """Whether :func:`normalize` would change ``text``."""
    return not text.isascii() and _HAS_UNICODE_SPACE.search(text) is not None


# What may stand in front of a capture prefix, tried in this order; each is taken off only when
# a capture prefix follows it (so a message that happens to start with a digit keeps it), except
# that a quote mark is also taken off the later lines of a quoted excerpt.
# - quote: "> ", ">> ", "> > " of a mail reply;
# - line-number: "   1621 " (syslog pasted with line numbers), "     1<TAB>" (cat -n, nl),
#   "1234:" (grep -n), "1. " (an ordered list), "12 | " (a pastebin or code-block gutter);
# - shell-prompt: "# ", "/ # ", "root@board:~# " before the kernel's output on a serial console;
# - indent: a whole excerpt indented by the mail or page it was pasted into.
WRAPPERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("quote", re.compile(r"(?:>[ \t]?)+")),
    ("line-number", re.compile(r"[ \t]*\d{1,7}(?=[ \t.:|)-])[ \t]*(?:[.:|)-][ \t]*)?")),
    ("shell-prompt", re.compile(r"(?:[^\s#$>]+ ?)?[#$] +")),
    ("indent", re.compile(r"[ \t]+")),
)
QUOTE = re.compile(r"(?:>[ \t]?)+")
