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
from stallscope.capture.model import Capture
from stallscope.diagnose import diagnose
from stallscope.parallel import default_jobs, load_parallel
from stallscope.progress import reading
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


class ReportFormat(str, Enum):
    md = "md"
    html = "html"


class ExportFormatOption(str, Enum):
    parquet = "parquet"
    csv = "csv"


_REPORT_SUFFIXES = {".md": ReportFormat.md, ".markdown": ReportFormat.md, ".html": ReportFormat.html,
                    ".htm": ReportFormat.html}


def _color(no_color: bool) -> bool:
    return not no_color and "NO_COLOR" not in os.environ


def _load(paths: list[str], keep_unparsed: bool = False, no_color: bool = False, jobs: int = 0) -> Capture:
    """Load on every core (``jobs=0``), with a progress bar on stderr for large inputs on a terminal."""
    with reading(paths, Console(stderr=True, no_color=not _color(no_color), highlight=False)):
        return load_parallel(*paths, jobs=jobs or default_jobs(), keep_unparsed=keep_unparsed)


def _say(message: str) -> None:
    """A one-line note for the user on stderr (stdout may be the report itself)."""
    Console(stderr=True, highlight=False, no_color=True, soft_wrap=True).print(Text(message))


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
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=0, help="Worker processes for large inputs (0: one per core).")
    ] = 0,
) -> None:
    """Parse captures and report what stalled memory allocation, with the log lines as evidence."""
    capture = _load(paths, keep_unparsed=show_unparsed, no_color=no_color, jobs=jobs)
    findings = diagnose(capture)
    if output_format is OutputFormat.json:
        sys.stdout.write(json_report.render(capture, findings) + "\n")
    else:
        color = _color(no_color)
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


@app.command()
def report(
    paths: Annotated[list[str], typer.Argument(help="Log files or directories, or - for standard input.")],
    output: Annotated[
        str, typer.Option("--output", "-o", help="File to write (.md or .html), or - for standard output.")
    ],
    report_format: Annotated[
        ReportFormat | None, typer.Option("--format", "-f", help="md or html; by default from the file's suffix.")
    ] = None,
    max_chars: Annotated[
        int,
        typer.Option("--max-chars", min=0, help="Markdown only: shorten to this many characters (0: no limit)."),
    ] = 65_000,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colours in messages and the progress bar.")] = False,
) -> None:
    """Write a report to attach to a bug ticket: Markdown, or one self-contained HTML file with charts."""
    chosen = report_format or _REPORT_SUFFIXES.get(os.path.splitext(output)[1].lower())
    if chosen is None:
        raise typer.BadParameter("cannot tell the format from the file name; add --format md or --format html",
                                 param_hint="'--output'")
    args = ["report", *paths, "-o", output, *(["--format", chosen.value] if report_format else [])]
    if chosen is ReportFormat.md and max_chars != 65_000:
        args += ["--max-chars", str(max_chars)]
    capture = _load(paths, no_color=no_color)
    findings = diagnose(capture)
    from stallscope.render.provenance import provenance

    origin = provenance(capture, args)
    if chosen is ReportFormat.html:
        from stallscope.render import html

        document = html.render(capture, findings, origin)
    else:
        from stallscope.render import markdown

        document = markdown.render(capture, findings, origin, max_chars=max_chars or None)
    if output == "-":
        sys.stdout.write(document)
        return
    try:
        with open(output, "w", encoding="utf-8") as stream:
            stream.write(document)
    except OSError as error:
        raise InputError(f"{output}: cannot write ({error.strerror or error})") from None
    _say(f"stallscope: wrote {output} ({len(document):,} characters, {len(findings)} finding(s))")


@app.command()
def export(
    paths: Annotated[list[str], typer.Argument(help="Log files or directories, or - for standard input.")],
    to: Annotated[str, typer.Option("--to", help="Directory to write the tables into (created if needed).")],
    export_format: Annotated[
        ExportFormatOption, typer.Option("--format", "-f", help="parquet (typed) or csv.")
    ] = ExportFormatOption.parquet,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colours in messages and the progress bar.")] = False,
) -> None:
    """Write the capture's tables (snapshots, tasks, frames, traces, events) for notebooks and scripts."""
    from stallscope import export as exporter
    from stallscope.render.provenance import provenance

    capture = _load(paths, no_color=no_color)
    args = ["export", *paths, "--to", to, "--format", export_format.value]
    try:
        written = exporter.write(capture, to, export_format.value, provenance(capture, args))
    except OSError as error:
        raise InputError(f"{to}: cannot write ({error.strerror or error})") from None
    for path in written:
        sys.stdout.write(f"{path}\n")


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
    except Exception as error:
        if os.environ.get("STALLSCOPE_DEBUG"):
            raise
        print(f"stallscope: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(EXIT_INTERNAL)
