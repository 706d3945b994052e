"""The manual, generated from the command line itself: the man page and the saved help pages.

``python -m stallscope.manual`` writes both into the source tree (run it after changing a
command, an option or a help text; ``--check`` only says whether they are current, and
``--man`` prints the man page instead, e.g. from an installed copy):

- ``man/stallscope.1``: the man page (``man -l man/stallscope.1``), every command and option
  with its help, the examples, exit codes and environment from :mod:`stallscope.cli`;
- ``stallscope/help.txt``: ``--help`` of the program and of each command as click prints it,
  so that :mod:`stallscope.entry` can answer ``--help`` without importing typer (see there).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from stallscope import __version__, entry

PACKAGE = Path(__file__).resolve().parent
MAN_PAGE = PACKAGE.parent / "man" / "stallscope.1"
# The width click lays help out at on any terminal of 80 columns or more (and when piped).
HELP_WIDTH = entry.HELP_COLUMNS - 2


def _commands() -> tuple[Any, Any, list[tuple[str, Any, Any]]]:
    """The click group behind the typer app, its context, and (name, command, context) of each command."""
    import typer

    from stallscope.cli import app

    group = typer.main.get_command(app)
    root = group.context_class(group, info_name="stallscope", terminal_width=HELP_WIDTH, **group.context_settings)
    commands = []
    for name in group.list_commands(root):
        command = group.get_command(root, name)
        if command is not None and not command.hidden:
            commands.append((name, command, command.context_class(command, info_name=name, parent=root)))
    return group, root, commands


def help_pages() -> dict[str, str]:
    """``--help`` of the program (key ``""``) and of each command, as printed at 80 columns or more."""
    group, root, commands = _commands()
    pages = {"": group.get_help(root)}
    for name, command, context in commands:
        pages[name] = command.get_help(context)
    return pages


def help_file() -> str:
    return entry.help_file_text(help_pages())


# -- the man page -------------------------------------------------------------------------------
def _roff(text: str) -> str:
    """Text safe in a roff line: backslashes, hyphens of options, and a leading . or '."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line[:1] in (".", "'") else line for line in text.split("\n"))


def _paragraphs(text: str) -> list[str]:
    """The help text's paragraphs, each on one line."""
    import inspect

    return [" ".join(block.removeprefix("\b").split()) for block in inspect.cleandoc(text).split("\n\n")]


def _options(command: Any, context: Any) -> list[str]:
    from stallscope.clihelp import argument_name

    lines: list[str] = []
    for param in command.get_params(context):
        record = param.get_help_record(context)
        if record is None:
            continue
        name = argument_name(param) if param.param_type_name == "argument" else record[0]
        lines += [".TP", f"\\fB{_roff(name)}\\fR", _roff(record[1])]
    return lines


def _rows(rows: tuple[tuple[Any, str], ...]) -> list[str]:
    lines: list[str] = []
    for key, what in rows:
        lines += [".TP", f"\\fB{_roff(str(key))}\\fR", _roff(what)]
    return lines


def man_page() -> str:
    """The man page, in roff (man macros), from the commands' help, examples and tables."""
    from stallscope.cli import ENVIRONMENT, EXAMPLES, EXIT_CODES

    group, root, commands = _commands()
    lines = [
        f'.TH STALLSCOPE 1 "" "stallscope {__version__}" "User Commands"',
        ".SH NAME",
        "stallscope \\- " + _roff((group.help or "").strip().rstrip(".")[:1].lower()
                                  + (group.help or "").strip().rstrip(".")[1:]),
        ".SH SYNOPSIS",
    ]
    for name, command, context in commands:
        usage = " ".join(command.collect_usage_pieces(context))
        lines += [f"\\fBstallscope {name}\\fR {_roff(usage)}", ".br"]
    lines += ["\\fBstallscope\\fR \\-\\-version | \\-\\-help | \\-\\-install\\-completion | \\-\\-show\\-completion",
              ".SH DESCRIPTION"]
    for paragraph in _paragraphs(group.help or ""):
        lines += [_roff(paragraph), ".PP"]
    lines += ["Options of the program itself:", *_options(group, root)]
    lines.append(".SH COMMANDS")
    for name, command, context in commands:
        lines += [f'.SS "stallscope {name}"']
        for paragraph in _paragraphs(command.help or ""):
            lines += [_roff(paragraph), ".PP"]
        lines += _options(command, context)
    lines += [".SH EXAMPLES"]
    for example, what in EXAMPLES:
        lines += [".TP", f"\\fB{_roff(example)}\\fR", _roff(what[:1].upper() + what[1:] + ".")]
    lines += [".SH EXIT STATUS", *_rows(EXIT_CODES)]
    lines += [".SH ENVIRONMENT", *_rows(ENVIRONMENT)]
    lines += [".SH SEE ALSO", "\\fBdmesg\\fR(1), \\fBjournalctl\\fR(1)", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stallscope.manual", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether both files are current (exit 1 if not)")
    parser.add_argument("--man", action="store_true", help="print the man page on standard output, write nothing "
                        "(from an installed copy: python -m stallscope.manual --man | man -l -)")
    args = parser.parse_args(argv)
    if args.man:
        sys.stdout.write(man_page())
        return 0
    wanted = {MAN_PAGE: man_page(), Path(entry.HELP_FILE): help_file()}
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path}: out of date; run python -m stallscope.manual", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
