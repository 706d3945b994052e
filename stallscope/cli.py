"""The command line: a thin layer over ``stallscope.load`` and ``stallscope.diagnose``.

Exit codes: 0 analyzed; 1 an input could not be read; 2 usage error; 3 the ``--fail-on``
threshold was met; 4 internal error (set STALLSCOPE_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from stallscope import __version__
from stallscope.api import load
from stallscope.diagnose import diagnose
from stallscope.render import json_report, text
from stallscope.rules.base import Severity
from stallscope.sources.reader import InputError

EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_FAIL_ON = 3
EXIT_INTERNAL = 4

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Diagnose Linux memory-allocation stalls from kernel logs.",
    pretty_exceptions_enable=False,
)


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


class FailOn(str, Enum):
    critical = "critical"
    warning = "warning"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stallscope {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """stallscope: what stalled memory allocation, and why, from a kernel log."""


@app.command()
def analyze(
    paths: Annotated[list[str], typer.Argument(help="Log files, or - for standard input.")],
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.text,
    fail_on: Annotated[
        FailOn | None, typer.Option("--fail-on", help="Exit with code 3 if a finding of this severity or worse exists.")
    ] = None,
    show_unparsed: Annotated[
        bool, typer.Option("--show-unparsed", help="List every line that was not understood (on stderr).")
    ] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="Plain output without colours.")] = False,
) -> None:
    """Parse captures and report what stalled memory allocation, with the log lines as evidence."""
    capture = load(*paths, keep_unparsed=show_unparsed)
    findings = diagnose(capture)
    if output_format is OutputFormat.json:
        sys.stdout.write(json_report.render(capture, findings) + "\n")
    else:
        color = not no_color and "NO_COLOR" not in os.environ
        # A pipe gets a fixed, wide layout so tables are not squeezed to 80 columns.
        width = None if sys.stdout.isatty() else 132
        console = Console(no_color=not color, highlight=False, soft_wrap=False, width=width)
        text.render(capture, findings, console)
    if show_unparsed:
        errors = Console(stderr=True, highlight=False, no_color=True)
        for line in capture.unparsed:
            errors.print(Text(f"{line.source}:{line.line}: {line.text}"), soft_wrap=True)
    if fail_on is not None:
        threshold = Severity(fail_on.value).rank
        if any(f.severity.rank >= threshold for f in findings):
            raise typer.Exit(EXIT_FAIL_ON)


def main() -> None:
    """Console-script entry point: one-line errors, never a traceback (unless STALLSCOPE_DEBUG)."""
    try:
        # Standalone mode lets click report usage errors itself (one line, exit code 2).
        app()
    except InputError as error:
        print(f"stallscope: {error}", file=sys.stderr)
        sys.exit(EXIT_INPUT)
    except KeyboardInterrupt:
        print("stallscope: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (| head): nothing left to say, and nothing to complain about.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except Exception as error:  # noqa: BLE001 - the user gets one line; the developer a traceback
        if os.environ.get("STALLSCOPE_DEBUG"):
            raise
        print(f"stallscope: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(EXIT_INTERNAL)
