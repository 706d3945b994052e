"""How ``--help`` reads: plain click pages (option names and metavars, no boxes), arguments
shown by name, and an epilog of examples, exit codes and environment laid out for the page's
width. :class:`HelpfulTyper` gives every command of an app these pages, commands added later
included; ``python -m stallscope.manual`` writes the man page from the same pieces.
"""

from __future__ import annotations

from typing import Any

import typer

# Click lays help out for 78 columns at most (80 - 2), and the epilog is indented by 2.
_HELP_WIDTH = 76


def _shell_lines(command: str, width: int) -> list[str]:
    """A shell command in lines of ``width`` at most, continued with a backslash (still a valid
    command to copy), each line indented by 2 and the continuations by 6."""
    lines: list[str] = []
    current = ""
    for word in command.split(" "):
        indent = "  " if not lines else "      "
        if current and len(indent + current + " " + word + " \\") > width:
            lines.append(indent + current + " \\")
            current = word
        else:
            current = f"{current} {word}" if current else word
    lines.append(("  " if not lines else "      ") + current)
    return lines


def _block(title: str, rows: tuple[tuple[Any, str], ...], width: int = _HELP_WIDTH) -> str:
    """An epilog block (examples, exit codes) that click must print as it is: a key column and
    each description wrapped beside it, or, when the keys are long, each under its key."""
    import textwrap

    first = max(len(str(key)) for key, _ in rows)
    lines = [title + ":"]
    for key, what in rows:
        if first <= 24 and width - first - 4 >= 20:
            lines += textwrap.wrap(f"  {key!s:<{first}}  {what}", width, subsequent_indent=" " * (first + 4))
        else:
            lines += [*_shell_lines(str(key), width),
                      *textwrap.wrap(what, width, initial_indent=" " * 6, subsequent_indent=" " * 6)]
    return "\b\n" + "\n".join(lines)


Rows = tuple[tuple[Any, str], ...]


class Epilog(str):
    """The end of a help page: titled blocks of rows (examples, exit codes), laid out for the
    page's width when shown; as a plain string, laid out for 80 columns."""

    blocks: tuple[tuple[str, Rows], ...]

    def __new__(cls, *blocks: tuple[str, Rows]) -> Epilog:
        epilog = super().__new__(cls, "\n\n".join(_block(title, rows) for title, rows in blocks))
        epilog.blocks = blocks
        return epilog

    def layout(self, width: int) -> str:
        return "\n\n".join(_block(title, rows, width) for title, rows in self.blocks)


def argument_name(param: Any) -> str:
    """An argument as the usage line and the help show it: its metavar, else its name."""
    if param.metavar:
        return str(param.metavar)
    name = str(param.name).upper() + ("..." if param.nargs != 1 else "")
    return name if param.required else f"[{name}]"


class _FittedEpilog:
    """An :class:`Epilog` laid out for the help's width (click's minimum is 50 columns)."""

    epilog: str | None

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        if not isinstance(self.epilog, Epilog):
            super().format_epilog(ctx, formatter)  # type: ignore[misc]
            return
        formatter.write_paragraph()
        with formatter.indentation():
            formatter.write_text(self.epilog.layout(formatter.width - formatter.current_indent))


class HelpCommand(_FittedEpilog, typer.core.TyperCommand):
    """Help as click writes it, with arguments shown by name alone: typer adds their Python type
    (``LOG... <list[str]>``) as if it were a value to type."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            arguments = param.param_type_name == "argument"
            pieces.extend([argument_name(param)] if arguments else param.get_usage_pieces(ctx))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        records: dict[str, list[tuple[str, str]]] = {"argument": [], "option": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None or param.param_type_name not in records:
                continue
            name = argument_name(param) if param.param_type_name == "argument" else record[0]
            records[param.param_type_name].append((name, record[1]))
        for title, kind in (("Arguments", "argument"), ("Options", "option")):
            if records[kind]:
                with formatter.section(title):
                    formatter.write_dl(records[kind])


class HelpGroup(_FittedEpilog, typer.core.TyperGroup):
    """The program's own help page."""


class HelpfulTyper(typer.Typer):
    """Every command gets :class:`HelpCommand` (commands added later included)."""

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", HelpCommand)
        return super().command(*args, **kwargs)
