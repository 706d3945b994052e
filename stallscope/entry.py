"""The installed ``stallscope`` command and ``python -m stallscope``: answer ``--version`` and
``--help`` at once, hand everything else to :func:`stallscope.cli.run`.

Importing the command line (typer, click, rich) takes several times as long as starting Python;
asking for the version or the help should not. ``--version`` needs nothing. ``--help`` of the
program or of a command is printed from ``help.txt``, written by ``python -m stallscope.manual``
from the very commands it describes, when it is certain to be what click would print:

- the file was generated from the command-line modules as they are now (their checksum is in
  it; after an edit it is ignored until regenerated), and
- the help would be laid out at click's full width, 78 columns (a terminal, or ``$COLUMNS``, of
  80 columns or more, or a pipe).

Anything else goes the ordinary way, through click.
"""

from __future__ import annotations

import os
import sys
import zlib

# os.path, not pathlib: importing pathlib costs as much as the rest of this module's work.
PACKAGE = os.path.dirname(os.path.abspath(__file__))
HELP_FILE = os.path.join(PACKAGE, "help.txt")
# The modules the help is made of: the commands, how their pages read, the exit codes, the version.
HELP_SOURCES = ("cli.py", "clihelp.py", "outputs.py", "__init__.py")
# Click's help is as wide as the terminal minus 2, up to 80 - 2.
HELP_COLUMNS = 80
_HELP_FLAGS = ("--help", "-h")
_SEPARATOR = "\f"  # between pages: never in a help text


def checksum() -> str:
    """Of the modules the help is generated from, as they are on disk now."""
    crc = 0
    for name in HELP_SOURCES:
        with open(os.path.join(PACKAGE, name), "rb") as source:
            crc = zlib.crc32(source.read(), crc)
    return f"{crc:08x}"


def help_file_text(pages: dict[str, str]) -> str:
    """``help.txt``: the checksum line, then each page after a form feed and its command's name."""
    return checksum() + "\n" + "".join(f"{_SEPARATOR}{name}\n{page}" for name, page in pages.items())


def saved_help(command: str) -> str | None:
    """The saved ``--help`` of ``command`` ("" for the program), if it is current."""
    try:
        with open(HELP_FILE, encoding="utf-8") as saved:
            text = saved.read()
        current = checksum()
    except OSError:
        return None
    head, *pages = text.split(_SEPARATOR)
    if head.strip() != current:
        return None
    for page in pages:
        name, _, body = page.partition("\n")
        if name == command:
            return body
    return None


def _columns() -> int:
    """The columns click would lay help out for (what shutil.get_terminal_size reports)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or HELP_COLUMNS  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return HELP_COLUMNS


def quick_answer(args: list[str]) -> str | None:
    """What to print for ``args`` without the command line, or None to go through it."""
    if args == ["--version"]:
        from stallscope import __version__

        return f"stallscope {__version__}"
    if len(args) in (1, 2) and args[-1] in _HELP_FLAGS and _columns() >= HELP_COLUMNS:
        command = args[0] if len(args) == 2 else ""
        if not command.startswith("-"):
            return saved_help(command)
    return None


def run() -> None:
    answer = quick_answer(sys.argv[1:])
    if answer is None:
        from stallscope.cli import run as run_cli

        run_cli()
        return
    try:
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        from stallscope.outputs import EXIT_PIPE

        os._exit(EXIT_PIPE)  # the reader went away (| head): quietly, as the full command line would
    except OSError as error:
        from stallscope.cli import EXIT_OUTPUT

        print(f"stallscope: cannot write the output ({error.strerror or error})", file=sys.stderr)
        os._exit(EXIT_OUTPUT)
    os._exit(0)
