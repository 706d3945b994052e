"""The values of one ``MemAlloc:`` task line for the tasks table, from its fields or its numbers.

:func:`task_values` reads a parsed line's fields. The bulk reader has more: the line's template
(what Lark found in its shape) and its digit runs. :func:`compile_task_values` turns a template
into a function of the digit runs alone, with everything the shape fixes (the state words, the
GFP names, usually the command name) worked out once, so that the hundreds of thousands of task
lines of a large capture skip the fields dict. Both give the same tuple for the same line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stallscope.parse.lines import Segments, Template

# (comm, pid, flags, switches, seq, gfp, gfp names, order, delay,
#  uninterruptible, exiting, dying, victim): the columns of a task row a MemAlloc line fills.
TaskValues = tuple[str, int, int | None, int | None, int | None, int | None, str | None, int | None, int | None,
                   bool, bool, bool, bool]
TaskValuesOf = Callable[[Sequence[str]], TaskValues]

STATE_WORDS = ("uninterruptible", "exiting", "dying", "victim")
_HEX_FIELDS = ("flags", "gfp")
_INT_FIELDS = ("switches", "seq", "order", "delay")
# What a hexadecimal field's text holds besides its digit runs ("0x", the letter digits).
_HEX_TEXT = "xXabcdefABCDEF"


# A field the grammar saw twice (two console lines spliced into one) holds both values joined
# by a blank; the later one is what the line ends with.
def to_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return int(text.rpartition(" ")[2])


def to_hex(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return int(text.rpartition(" ")[2], 16)


def split_comm_pid(text: str) -> tuple[str, int]:
    """``comm(pid)`` as printed: the pid is the last parenthesised number."""
    text = text.strip()
    open_at = text.rindex("(")
    return text[:open_at], int(text[open_at + 1 : -1])


def _state_flags(state_words: str | None, tag: str | None) -> tuple[bool, bool, bool, bool]:
    words: list[str] = state_words.split() if state_words else []
    if tag:
        words.append(tag.lstrip("-"))
    return ("uninterruptible" in words, "exiting" in words, "dying" in words, "victim" in words)


def task_values(fields: dict[str, str]) -> TaskValues:
    comm, pid = split_comm_pid(fields["comm_pid"])
    get = fields.get
    names = get("gfp_names")
    return (comm, pid, to_hex(get("flags")), to_int(get("switches")), to_int(get("seq")), to_hex(get("gfp")),
            names[1:-1] if names else None, to_int(get("order")), to_int(get("delay")),
            *_state_flags(get("state_word"), get("tag_state")))


# Kept beside task_values: 1.43-1.76x on the conversion of the 250,000 task lines of the excerpts
# family (16-26% of its analyze), whose whole load takes 8.2 s with it and 11.2 s without
# (bench/pairs.py --toggle, bench/README.md).
def compile_task_values(template: Template) -> TaskValuesOf | None:
    """:func:`task_values` of ``template.fill(numbers)`` as one compiled function of ``numbers``,
    or None when the shape holds something this does not fold (then use task_values)."""
    constants = dict(template.constants)
    variables = dict(template.variables)
    if "state_word" in variables or "tag_state" in variables or "gfp_names" in variables:
        return None  # never seen: these are words, not numbers
    if "comm_pid" not in constants and "comm_pid" not in variables:
        return None
    scope: dict[str, object] = {"split_comm_pid": split_comm_pid, "to_int": to_int, "to_hex": to_hex, "int": int}
    lines = ["def values(r):"]
    if "comm_pid" in variables:
        lines.append(f"    comm, pid = split_comm_pid({_text(variables['comm_pid'])})")
        comm_pid = "comm, pid"
    else:
        scope["COMM_PID"] = split_comm_pid(constants["comm_pid"])
        comm_pid = "*COMM_PID"
    numbers = []
    for name in ("flags", "switches", "seq", "gfp", "names", "order", "delay"):
        if name == "names":
            names = constants.get("gfp_names")
            scope["NAMES"] = names[1:-1] if names else None
            numbers.append("NAMES")
            continue
        convert = to_hex if name in _HEX_FIELDS else to_int
        if name in variables:
            numbers.append(_number(variables[name], hexadecimal=name in _HEX_FIELDS))
        else:
            scope[name.upper()] = convert(constants.get(name))
            numbers.append(name.upper())
    scope["FLAGS_OF_STATE"] = _state_flags(constants.get("state_word"), constants.get("tag_state"))
    lines.append(f"    return ({comm_pid}, {', '.join(numbers)}, *FLAGS_OF_STATE)")
    # Only reprs of strings and integer indexes reach the source text, never log text as code.
    exec("\n".join(lines), scope)
    return scope["values"]  # type: ignore[return-value]


def _text(segments: Segments) -> str:
    return " + ".join(f"r[{part}]" if isinstance(part, int) else repr(part) for part in segments)


def _number(segments: Segments, hexadecimal: bool) -> str:
    """The conversion of one numeric field: ``int`` inline when the field's text can hold no
    blank (a repeated field), else the helper the fields path uses; both give the same value."""
    literals = "".join(part for part in segments if isinstance(part, str))
    if not literals.strip(_HEX_TEXT if hexadecimal else ""):
        return f"int({_text(segments)}, 16)" if hexadecimal else f"int({_text(segments)})"
    return f"{'to_hex' if hexadecimal else 'to_int'}({_text(segments)})"
