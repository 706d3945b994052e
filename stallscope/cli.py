"""The command line: a thin layer over ``stallscope.load`` and ``stallscope.diagnose``.

Exit codes: 0 analyzed; 1 an input could not be read; 2 usage error; 3 the ``--fail-on``
threshold was met (``check``: the capture is bad; ``diff --fail-if-worse``: AFTER is worse);
4 internal error (set STALLSCOPE_DEBUG=1 for the traceback); 5 an input was damaged (a truncated
or corrupt compressed file or archive): the lines before the damage were analyzed and reported,
then one line on stderr says which input (3 wins when ``--fail-on`` is also met); 6 with
``--fail-on`` (and ``check``): an input holds no kernel line stallscope understands, so no
verdict could be reached on it (one line on stderr says so for every such input, with or
without ``--fail-on``; 3 wins, 6 wins over 5).

``check --bisect`` exits with the codes ``git bisect run`` reads instead: 0 good; 1 bad (a finding
at the ``--fail-on`` severity or worse); 125 cannot tell (the capture cannot be read, holds no
kernel line stallscope understands, or is damaged and the part read shows no such finding), so
the commit is skipped; 128 stallscope itself failed (a usage or internal error), which stops the
bisection rather than mark a commit.
:data:`EXIT_CODES` is the table ``--help`` and the man page show.

Only typer and the light modules are imported here: ``--help`` must not wait for pandas, numpy,
matplotlib or the grammars, so every command imports what it needs when it runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from stallscope import __version__
from stallscope.clihelp import Epilog, HelpfulTyper, HelpGroup
from stallscope.outputs import (
    EXIT_INTERRUPTED,
    EXIT_PIPE,
    EXIT_TERMINATED,
    OutputError,
    ReaderGone,
    console,
    write_stdout,
    write_stdout_pieces,
    write_text,
)
from stallscope.render.mdtext import clean
from stallscope.sources.reader import STDIN_NAME, InputError

if TYPE_CHECKING:
    from rich.console import Console

    from stallscope.capture.model import Capture
    from stallscope.parallel import DaskEngine, Engine, LocalEngine
    from stallscope.rules.base import Finding

EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_FAIL_ON = 3
EXIT_INTERNAL = 4
EXIT_DAMAGED = 5
EXIT_NOT_UNDERSTOOD = 6
# check --bisect: the codes git bisect run reads (good is 0; 2..127 would read as bad too).
EXIT_BISECT_BAD = 1
EXIT_BISECT_SKIP = 125
EXIT_BISECT_STOP = 128
# An output could not be written (a full disk, a closed stream): like an input that cannot be read.
EXIT_OUTPUT = 1

# What each exit status means, as `stallscope --help` and the man page say it.
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "analyzed (findings or not)"),
    (EXIT_INPUT, "an input could not be read, or an output could not be written"),
    (EXIT_USAGE, "usage error"),
    (EXIT_FAIL_ON, "--fail-on: a finding of that severity or worse (check: bad; diff --fail-if-worse: worse)"),
    (EXIT_INTERNAL, "internal error (STALLSCOPE_DEBUG=1 shows the traceback)"),
    (EXIT_DAMAGED, "an input was damaged (a cut or corrupt compressed file or archive): what came before was "
                   "analyzed"),
    (EXIT_NOT_UNDERSTOOD, "--fail-on, check: an input holds no kernel line stallscope understands (not a kernel "
                          "log: no verdict)"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
    (EXIT_PIPE, "the output's reader went away (| head)"),
    (EXIT_TERMINATED, "terminated (SIGTERM)"),
    (EXIT_BISECT_SKIP, "check --bisect: cannot tell (git bisect run skips the commit; 0 good, 1 bad)"),
    (EXIT_BISECT_STOP, "check --bisect: stallscope itself failed (git bisect run stops)"),
)
# The environment variables stallscope reads, for the help and the man page.
ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ("NO_COLOR", "set and not empty: no colours (as --color never), unless --color always"),
    ("COLUMNS", "the width of piped text output (default 132); --width wins"),
    ("DASK_SCHEDULER_ADDRESS", "the scheduler for --engine dask"),
    ("STALLSCOPE_DEBUG", "set: an internal error shows its traceback"),
)
# Shell examples, each with what it does (in the help of the program and of analyze, and the man page).
EXAMPLES: tuple[tuple[str, str], ...] = (
    ("stallscope analyze /var/log/kern.log", "the verdict, tables and findings"),
    ("dmesg | stallscope analyze -", "read standard input"),
    ("stallscope analyze --fail-on critical -f json kern.log", "JSON; exit 3 on a critical finding"),
    ("stallscope analyze --width 100 kern.log > stall.txt", "lay the text out for 100 columns"),
    ("stallscope report kern.log -o stall.html", "a report to attach to a ticket"),
    ("stallscope watch /var/log/kern.log", "follow a growing log"),
)
# Piped text is laid out this wide unless --width or $COLUMNS say otherwise.
PIPE_WIDTH = 132


app = HelpfulTyper(
    no_args_is_help=True,
    help="Diagnose Linux memory-allocation stalls from kernel logs.",
    epilog=Epilog(("Examples", EXAMPLES), ("Exit codes", EXIT_CODES), ("Environment", ENVIRONMENT)),
    cls=HelpGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Plain help, as click formats it: option names and metavars, no boxes, no <bool> for a flag.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


class ColorChoice(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


ColorOption = Annotated[
    ColorChoice,
    typer.Option("--color", metavar="WHEN", case_sensitive=False,
                 help="Colours: auto (on a terminal, unless NO_COLOR is set), always, or never."),
]
# The older spelling of --color never, kept working and out of the help.
NoColorOption = Annotated[bool, typer.Option("--no-color", hidden=True, help="Same as --color never.")]
WidthOption = Annotated[
    int | None,
    typer.Option("--width", min=20, metavar="COLUMNS",
                 help=f"Lay the text out for this many columns (default: the terminal's width; piped: "
                      f"$COLUMNS, else {PIPE_WIDTH})."),
]


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


def _color(color: ColorChoice, no_color: bool) -> ColorChoice:
    """--color, with the older --no-color as another way to say never."""
    if no_color and color is ColorChoice.always:
        raise typer.BadParameter("--no-color and --color always contradict each other", param_hint="'--color'")
    return ColorChoice.never if no_color else color


def _colors(color: ColorChoice) -> dict[str, Any]:
    """Console options for ``color``. auto leaves it to rich: colours on a terminal, none when
    piped or when NO_COLOR is set (bold stays); never is plain text, without any escape sequence."""
    if color is ColorChoice.never:
        return {"color_system": None}
    if color is ColorChoice.always:
        return {"color_system": "standard", "no_color": False}
    return {}


def _width(width: int | None) -> int | None:
    """--width; else on a terminal its width (rich reads $COLUMNS first); else $COLUMNS, else PIPE_WIDTH."""
    if width is not None:
        return width
    if sys.stdout.isatty():
        return None
    columns = os.environ.get("COLUMNS", "").strip()
    return int(columns) if columns.isdigit() and int(columns) > 0 else PIPE_WIDTH


def _stdout(color: ColorChoice, width: int | None) -> Console:
    """The console the text report is printed on."""
    return console(highlight=False, soft_wrap=False, width=_width(width), **_colors(color))


def _stderr(color: ColorChoice) -> Console:
    """Messages and the progress bar: coloured only where stderr is a terminal (never forced)."""
    return console(stderr=True, highlight=False, **({"color_system": None} if color is ColorChoice.never else {}))


def _hint_stdin(paths: list[str]) -> None:
    """Reading a terminal looks like a hang: say what is awaited, and how to end it; and make
    that one Ctrl-D end it (see :class:`_TerminalInput`)."""
    if STDIN_NAME in paths and sys.stdin is not None and sys.stdin.isatty():
        _say("stallscope: reading the kernel log from standard input (Ctrl-D ends it)")
        sys.stdin = io.TextIOWrapper(io.BufferedReader(_TerminalInput(sys.stdin.buffer)))


class _TerminalInput(io.RawIOBase):
    """A terminal as standard input, where the first end of input (Ctrl-D) is the last. A
    terminal reports the end once: a buffered read that meets it returns what it has, and the
    next read would wait for more typing, so the user would have to press Ctrl-D twice."""

    def __init__(self, stream: Any) -> None:
        self._fd = stream.fileno()
        self._ended = False

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._ended:
            return 0
        data = os.read(self._fd, len(buffer))
        buffer[: len(data)] = data
        self._ended = not data
        return len(data)


def _load(paths: list[str], keep_unparsed: bool = False, color: ColorChoice = ColorChoice.auto, jobs: int = 0,
          engine: Engine | None = None) -> Capture:
    """Load on every core (``jobs=0``) or on ``engine``, with a progress bar on stderr for large local inputs."""
    from stallscope.parallel import default_jobs, load_parallel
    from stallscope.progress import reading

    _hint_stdin(paths)
    if engine is not None and engine.remote:
        # The bar watches this machine's file descriptors; a cluster's reads happen elsewhere.
        return load_parallel(*paths, keep_unparsed=keep_unparsed, engine=engine)
    with reading(paths, _stderr(color)):
        return load_parallel(*paths, jobs=jobs or default_jobs(), keep_unparsed=keep_unparsed, engine=engine)


def _diagnose(capture: Capture) -> list[Finding]:
    """The findings, the rules shared among this machine's cores as ``analyze`` shares them (a
    capture of many machines or boots: forked processes, see ``parallel.diagnose_forked``)."""
    from stallscope.parallel import LocalEngine, default_jobs, diagnose_on

    with LocalEngine(default_jobs()) as engine:
        return diagnose_on(capture, engine)


def _engine(name: EngineName, scheduler: str | None, jobs: int) -> LocalEngine | DaskEngine:
    from stallscope.parallel import DaskEngine, EngineError, LocalEngine, default_jobs

    if name is EngineName.local:
        # DASK_SCHEDULER_ADDRESS may be set for other tools; only an explicit --scheduler is a mistake.
        if scheduler and scheduler != os.environ.get("DASK_SCHEDULER_ADDRESS"):
            raise typer.BadParameter("only with --engine dask", param_hint="'--scheduler'")
        return LocalEngine(jobs or default_jobs())
    if not scheduler:
        raise typer.BadParameter("--engine dask needs the scheduler's address (or DASK_SCHEDULER_ADDRESS)",
                                 param_hint="'--scheduler'")
    try:
        return DaskEngine.connect(scheduler)
    except EngineError as error:
        raise InputError(str(error)) from None


def _damaged(capture: Capture) -> bool:
    """Say on stderr which inputs were cut short (after the output, which covers what was read)."""
    hurt = [stats.damaged for stats in capture.inputs if stats.damaged]
    for message in hurt:
        _say(f"stallscope: {message}")
    return bool(hurt)


def _strangers(capture: Capture) -> bool:
    """Say on stderr which inputs are not kernel logs (0 lines understood): no verdict is reached
    on them, which must not pass for "no stall"."""
    from stallscope.capture.understood import not_a_kernel_log, not_understood

    found = not_understood(capture)
    for stats in found:
        _say(f"stallscope: {stats.path}: {not_a_kernel_log(stats)}")
    return bool(found)


def _list_skipped(capture: Capture) -> None:
    errors = console(stderr=True, highlight=False, no_color=True)
    for skipped in capture.skipped:
        errors.print(Text(clean(f"{skipped.path}: not read: {skipped.reason}")), soft_wrap=True)


def _say(message: str) -> None:
    """A one-line note for the user on stderr (stdout may be the report itself)."""
    console(stderr=True, highlight=False, no_color=True, soft_wrap=True).print(Text(message))


class EngineName(str, Enum):
    local = "local"
    dask = "dask"


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


@app.command(short_help="The verdict, tables and findings, with the log lines as evidence.",
             epilog=Epilog(("Examples", EXAMPLES[:4]), ("Exit codes", EXIT_CODES)))
def analyze(
    paths: Annotated[list[str], typer.Argument(metavar="LOG...", help="Log files, or - for standard input.")],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", metavar="[text|json]", help="Output format.")
    ] = OutputFormat.text,
    fail_on: Annotated[
        FailOn | None, typer.Option("--fail-on", metavar="[critical|warning]",
                                    help="Exit with code 3 if a finding of this severity or worse exists; with 6 "
                                         "if an input is not a kernel log (no line understood).")
    ] = None,
    show_unparsed: Annotated[
        bool, typer.Option("--show-unparsed", help="List every line that was not understood (on stderr).")
    ] = False,
    show_skipped: Annotated[
        bool, typer.Option("--show-skipped", help="List every file of a bundle or archive that was not read, and "
                           "why (on stderr).")
    ] = False,
    color: ColorOption = ColorChoice.auto,
    width: WidthOption = None,
    no_color: NoColorOption = False,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=0, metavar="N",
                          help="Worker processes for large inputs, and for the rules and the terminal report of "
                               "many machines or boots (0: one per core).")
    ] = 0,
    engine_name: Annotated[
        EngineName, typer.Option("--engine", metavar="[local|dask]",
                                 help="Where to parse files and run the rules: local processes or a Dask cluster.")
    ] = EngineName.local,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", envvar="DASK_SCHEDULER_ADDRESS", show_envvar=True, metavar="ADDRESS",
                                 help="Dask scheduler address (tcp://host:8786) for --engine dask.")
    ] = None,
    hz: Annotated[
        float | None, typer.Option("--hz", min=1, metavar="HZ", help="Jiffies per second of the kernel "
                                   "(CONFIG_HZ); inferred from the log when not given.")
    ] = None,
) -> None:
    """Parse captures and report what stalled memory allocation, with the log lines as evidence.

    With several machines (hosts named in the log, or one per file) a fleet summary comes first.
    """
    from stallscope.fleet import fleet
    from stallscope.memory import old_objects_left_alone, release_free_memory
    from stallscope.parallel import diagnose_on
    from stallscope.render import json_report, text
    from stallscope.rules.base import Severity

    color = _color(color, no_color)
    with _engine(engine_name, scheduler, jobs) as engine:
        capture = _load(paths, keep_unparsed=show_unparsed, color=color, jobs=jobs, engine=engine)
        release_free_memory()
        findings = diagnose_on(capture, engine)
        # The terminal report's parts are shared among as many processes as the rules were here.
        processes = 1 if engine.remote else engine.workers()
    release_free_memory()
    # As for the rules: the report's many small objects need not make the collector walk the capture.
    with old_objects_left_alone():
        machines = fleet(capture, findings)
        if output_format is OutputFormat.json:
            document = json_report.report(capture, findings, hz, streamed=True)
            if machines is not None:
                # The schema lets `summary` gain keys; a one-machine document stays as it was.
                document["summary"]["fleet"] = machines.as_dict()  # type: ignore[index]
            write_stdout_pieces(json_report.pieces(document), "\n")
        else:
            out = _stdout(color, width)
            if machines is not None:
                from stallscope.render import fleet as fleet_render

                fleet_render.render(machines, out)
            text.render(capture, findings, out, hz, processes)
    if show_unparsed:
        errors = console(stderr=True, highlight=False, no_color=True)
        for line in capture.unparsed:
            errors.print(Text(clean(f"{line.source}:{line.line}: [{line.reason}] {line.text}")), soft_wrap=True)
    if show_skipped:
        _list_skipped(capture)
    damaged = _damaged(capture)
    strangers = _strangers(capture)
    if fail_on is not None:
        threshold = Severity(fail_on.value).rank
        if any(f.severity.rank >= threshold for f in findings):
            raise typer.Exit(EXIT_FAIL_ON)
        if strangers:
            raise typer.Exit(EXIT_NOT_UNDERSTOOD)
    if damaged:
        raise typer.Exit(EXIT_DAMAGED)


@app.command(short_help="A Markdown or HTML report to attach to a bug ticket.",
             epilog=Epilog(("Examples", (("stallscope report kern.log -o stall.html", "HTML with charts"),
                                         ("stallscope report kern.log -o - -f md | xclip", "Markdown for a ticket")))))
def report(
    paths: Annotated[
        list[str], typer.Argument(metavar="LOG...", help="Log files or directories, or - for standard input.")
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", metavar="FILE",
                          help="File to write (.md or .html), or - for standard output.")
    ],
    report_format: Annotated[
        ReportFormat | None, typer.Option("--format", "-f", metavar="[md|html]",
                                          help="md or html; by default from the file's suffix.")
    ] = None,
    max_chars: Annotated[
        int,
        typer.Option("--max-chars", min=0, metavar="N",
                     help="Markdown only: shorten to this many characters (0: no limit)."),
    ] = 65_000,
    color: ColorOption = ColorChoice.auto,
    no_color: NoColorOption = False,
) -> None:
    """Write a report to attach to a bug ticket: Markdown, or one self-contained HTML file with charts."""
    from stallscope.memory import release_free_memory

    color = _color(color, no_color)
    chosen = report_format or _REPORT_SUFFIXES.get(os.path.splitext(output)[1].lower())
    if chosen is None:
        raise typer.BadParameter("cannot tell the format from the file name; add --format md or --format html",
                                 param_hint="'--output'")
    args = ["report", *paths, "-o", output, *(["--format", chosen.value] if report_format else [])]
    if chosen is ReportFormat.md and max_chars != 65_000:
        args += ["--max-chars", str(max_chars)]
    capture = _load(paths, color=color)
    release_free_memory()
    findings = _diagnose(capture)
    release_free_memory()
    from stallscope.render.provenance import provenance

    origin = provenance(capture, args)
    if chosen is ReportFormat.html:
        from stallscope.render import html

        document = html.render(capture, findings, origin)
    else:
        from stallscope.render import markdown

        document = markdown.render(capture, findings, origin, max_chars=max_chars or None)
    if output == "-":
        write_stdout(document)
        _strangers(capture)
        return
    write_text(output, document)
    _say(f"stallscope: wrote {output} ({len(document):,} characters, {len(findings)} finding(s))")
    _strangers(capture)
    if _damaged(capture):
        raise typer.Exit(EXIT_DAMAGED)


@app.command(short_help="The capture's tables as Parquet or CSV files.",
             epilog=Epilog(("Examples", (("stallscope export kern.log --to tables", "Parquet files in tables/"),))))
def export(
    paths: Annotated[
        list[str], typer.Argument(metavar="LOG...", help="Log files or directories, or - for standard input.")
    ],
    to: Annotated[
        str, typer.Option("--to", metavar="DIR", help="Directory to write the tables into (created if needed).")
    ],
    export_format: Annotated[
        ExportFormatOption, typer.Option("--format", "-f", metavar="[parquet|csv]", help="parquet (typed) or csv.")
    ] = ExportFormatOption.parquet,
    color: ColorOption = ColorChoice.auto,
    no_color: NoColorOption = False,
) -> None:
    """Write the capture's tables (snapshots, tasks, frames, traces, events) for notebooks and scripts."""
    from stallscope import export as exporter
    from stallscope.render.provenance import provenance

    capture = _load(paths, color=_color(color, no_color))
    args = ["export", *paths, "--to", to, "--format", export_format.value]
    try:
        written = exporter.write(capture, to, export_format.value, provenance(capture, args))
    except OSError as error:  # the directory itself could not be made
        raise OutputError(f"{to}: cannot write ({error.strerror or error})") from None
    for path in written:
        write_stdout(f"{path}\n")
    if _damaged(capture):
        raise typer.Exit(EXIT_DAMAGED)


@app.command(short_help="Follow a growing log; report each finding as its rule fires.", epilog=Epilog(("Examples", (
    ("stallscope watch /var/log/kern.log", "follow a file, like tail -F"),
    ("dmesg -w | stallscope watch -", "follow a stream"),
    ("stallscope watch --json kern.log | jq .rule", "one JSON line per finding"),
))))
def watch(
    path: Annotated[
        str | None, typer.Argument(metavar="[LOG]", help="Log file to follow (like tail -F), or - for standard "
                                   "input (the default when it is not a terminal).", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per new finding on stdout.")] = False,
    exec_command: Annotated[
        str | None,
        typer.Option("--exec", metavar="COMMAND",
                     help="Shell command to run per new finding, with the finding as JSON on its stdin."),
    ] = None,
    interval: Annotated[
        float, typer.Option("--interval", min=0.0, metavar="SECONDS", help="While lines keep coming, run the rules "
                            "at most this often; a pause in the log runs them at once.")
    ] = 2.0,
    from_end: Annotated[
        bool, typer.Option("--from-end", help="Skip what the file holds already; watch only new lines.")
    ] = False,
    color: ColorOption = ColorChoice.auto,
    width: WidthOption = None,
    no_color: NoColorOption = False,
) -> None:
    """Follow a growing log (or a stream) and report each finding once, the moment its rule fires."""
    import signal

    from rich.live import Live

    from stallscope.watch import FileFollower, Follower, LiveCapture, Output, StreamFollower, Watcher

    if path is None:
        # `stallscope watch` alone on a terminal would wait for typing: say what it needs instead.
        if sys.stdin is None or sys.stdin.isatty():
            raise typer.BadParameter("give a log file to follow, or - to read standard input", param_hint="'LOG'")
        path = STDIN_NAME
    color = _color(color, no_color)
    out = _stdout(color, width)
    errors = console(stderr=True, no_color=True, highlight=False)
    follower: Follower
    _hint_stdin([path])
    if path == STDIN_NAME:
        follower = StreamFollower(sys.stdin.buffer)
    else:
        if os.path.isdir(path):
            raise typer.BadParameter("watch follows one file (or -), not a directory", param_hint="'LOG'")
        from stallscope.sources.archive import archive_kind
        from stallscope.sources.journal import is_journal_file

        if archive_kind(path) is not None or is_journal_file(path):
            # Neither grows by lines: a journal is followed through journalctl, an archive is analyzed.
            raise typer.BadParameter("watch follows a text log: follow a journal with 'journalctl -k -f | "
                                     "stallscope watch -', read an archive with 'stallscope analyze'",
                                     param_hint="'PATH'")
        follower = FileFollower(path, from_end=from_end)
    # The live view needs a terminal and would garble JSON lines.
    live = Live(console=out, refresh_per_second=4, transient=False) if out.is_terminal and not as_json \
        else None
    output = Output(out, as_json, exec_command, live, errors)
    watcher = Watcher(follower, LiveCapture(path), interval=interval, on_fired=output.fired,
                      on_note=output.note)
    watcher.on_view = output.view(watcher)

    def _stop(signum: int, frame: object) -> None:
        # First Ctrl-C: finish cleanly (last lines read, rules run once more); a second one aborts.
        watcher.stop = True
        signal.signal(signum, signal.SIG_DFL)

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        if live is not None:
            with live:
                watcher.run()
        else:
            watcher.run()
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if not as_json:
        errors.print(Text(f"stallscope watch: {watcher.live.lines} lines read, {len(watcher.seen)} finding(s)"))


class DiffFormat(str, Enum):
    text = "text"
    json = "json"
    md = "md"


@app.command("diff")
def diff_command(
    before: Annotated[str, typer.Argument(help="The capture before the change: a log file, a directory, or an "
                                          "archive (a sosreport, a supportconfig).")],
    after: Annotated[str, typer.Argument(help="The capture after the change, of the same kinds.")],
    output_format: Annotated[DiffFormat, typer.Option("--format", "-f", help="Output format.")] = DiffFormat.text,
    hz: Annotated[
        float | None, typer.Option("--hz", min=1, help="Jiffies per second of both kernels (CONFIG_HZ); inferred "
                                   "from each log when not given.")
    ] = None,
    fail_if_worse: Annotated[
        bool, typer.Option("--fail-if-worse", help="Exit with code 3 when AFTER is worse than BEFORE.")
    ] = False,
    color: ColorOption = ColorChoice.auto,
    width: WidthOption = None,
    no_color: NoColorOption = False,
) -> None:
    """Did the fix help? Compare two captures of the same workload, overall and per machine.

    Side by side: watchdog reports and stall episodes, stalled tasks, delays, OOM invocations and
    kills, hung tasks, findings (new, gone, in both), stack signatures and wait sites with their
    task counts, and one sentence saying whether AFTER is better, worse or the same, and why.
    """
    from stallscope.diff import WORSE, compare
    from stallscope.memory import release_free_memory
    from stallscope.render import diff as diff_render

    color = _color(color, no_color)
    sides = []
    for path in (before, after):
        capture = _load([path], color=color)
        release_free_memory()
        sides.append((capture, _diagnose(capture)))
    comparison = compare(sides[0][0], sides[0][1], sides[1][0], sides[1][1], hz, names=(before, after))
    if output_format is DiffFormat.json:
        write_stdout(diff_render.as_json(comparison) + "\n")
    elif output_format is DiffFormat.md:
        write_stdout(diff_render.markdown(comparison))
    else:
        diff_render.render(comparison, _stdout(color, width))
    damaged = _damaged(sides[0][0]) | _damaged(sides[1][0])
    if fail_if_worse and comparison.verdict == WORSE:
        raise typer.Exit(EXIT_FAIL_ON)
    if damaged:
        raise typer.Exit(EXIT_DAMAGED)


@app.command()
def check(
    paths: Annotated[list[str], typer.Argument(help="The capture to judge: log files, directories or archives.")],
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="The severity that makes the capture bad.")
    ] = FailOn.critical,
    bisect: Annotated[
        bool, typer.Option("--bisect", help="Exit as git bisect run expects: 0 good, 1 bad, 125 cannot tell, "
                           "128 stop (stallscope itself failed).")
    ] = False,
) -> None:
    """Judge one capture: bad when a finding of the --fail-on severity (or worse) is found.

    One line per such finding and a last line with the judgement. Exit codes: 0 good, 3 bad, 1
    unreadable, 5 damaged, 6 not a kernel log; with --bisect those of git bisect run (see the
    README's recipe).
    """
    from stallscope.capture.understood import understood_records
    from stallscope.parallel import default_jobs, load_parallel
    from stallscope.render.mdtext import clean
    from stallscope.rules.base import Severity

    try:
        capture = load_parallel(*paths, jobs=default_jobs())
        findings = _diagnose(capture)
    except InputError as error:
        if not bisect:
            raise
        _say(f"stallscope: {error}")
        _say(f"stallscope check: cannot tell (exit {EXIT_BISECT_SKIP}): the capture cannot be read")
        raise typer.Exit(EXIT_BISECT_SKIP) from None
    except Exception as error:
        if not bisect or os.environ.get("STALLSCOPE_DEBUG"):
            raise
        # A failure of stallscope says nothing of the commit: stop the bisection rather than mark it.
        _say(f"stallscope: internal error: {type(error).__name__}: {error}")
        raise typer.Exit(EXIT_BISECT_STOP) from None
    threshold = Severity(fail_on.value).rank
    met = [f for f in findings if f.severity.rank >= threshold]
    for finding in met:
        place = f" ({finding.evidence[0].source}:{finding.evidence[0].line})" if finding.evidence else ""
        host = f" @ {finding.host}" if finding.host else ""
        typer.echo(clean(f"{finding.severity.value} {finding.rule}{host}: {finding.title}{place}"))
    damaged = [stats.damaged for stats in capture.inputs if stats.damaged]
    for message in damaged:
        _say(f"stallscope: {message}")
    understood = understood_records(capture)
    if met:
        code = EXIT_BISECT_BAD if bisect else EXIT_FAIL_ON
        typer.echo(f"stallscope check: bad (exit {code}): {len(met)} finding(s) at {fail_on.value} or worse")
    elif not understood or damaged:
        why = "no line of the capture is kernel output stallscope understands" if not understood else \
            "the capture is damaged and the part read shows no such finding"
        code = EXIT_BISECT_SKIP if bisect else (EXIT_NOT_UNDERSTOOD if not understood else EXIT_DAMAGED)
        typer.echo(f"stallscope check: cannot tell (exit {code}): {why} ({capture.lines} line(s) read)")
    else:
        code = 0
        typer.echo(f"stallscope check: good (exit 0): no finding at {fail_on.value} or worse in "
                   f"{understood} kernel line(s)")
    if code:
        raise typer.Exit(code)


# Typer vendors click in recent releases and re-exports it in older ones: its own BadParameter
# leads to the classes it raises either way.
_USAGE_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_CLICK_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _one_line(error: Exception) -> str:
    message = " ".join(error.format_message().split())  # type: ignore[attr-defined]
    # Click capitalises its messages; after "stallscope: " they read as one sentence.
    return message[0].lower() + message[1:] if message[:2].istitle() and message[1:2].islower() else message


def _see_help(ctx: typer.Context | None) -> str:
    return f" (see {ctx.command_path} --help)" if ctx is not None else " (see stallscope --help)"


class Terminated(Exception):
    """SIGTERM: stop like Ctrl-C does, with the shell's code for it."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated


def main() -> None:
    """Console-script entry point: one-line errors, never a traceback (unless STALLSCOPE_DEBUG)."""
    import signal

    # SIGTERM unwinds like Ctrl-C: worker pools are shut down on the way out (`watch` handles
    # both signals itself, to finish its last round).
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        # Not standalone: click's own report of a usage error is a multi-line panel.
        code = app(prog_name="stallscope", standalone_mode=False)
        if code == EXIT_INTERRUPTED:  # typer turns Ctrl-C into this exit code by itself
            raise KeyboardInterrupt
        sys.exit(code if isinstance(code, int) else 0)
    except _USAGE_ERROR as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            error.show()  # the help text itself
        else:
            print(f"stallscope: {_one_line(error)}{_see_help(error.ctx)}", file=sys.stderr)
        # Under git bisect run, 2 would mark every commit bad: a mistyped command stops it instead.
        sys.exit(EXIT_BISECT_STOP if "--bisect" in sys.argv[1:] else EXIT_USAGE)
    except _CLICK_ERROR as error:
        print(f"stallscope: {_one_line(error)}", file=sys.stderr)
        sys.exit(error.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _quietly(f"stallscope: interrupted (exit {EXIT_INTERRUPTED})")
        sys.exit(EXIT_INTERRUPTED)
    except Terminated:
        _quietly(f"stallscope: terminated (exit {EXIT_TERMINATED})")
        sys.exit(EXIT_TERMINATED)
    except InputError as error:
        print(f"stallscope: {error}", file=sys.stderr)
        sys.exit(EXIT_INPUT)
    except OutputError as error:
        print(f"stallscope: {error}", file=sys.stderr)
        sys.exit(EXIT_OUTPUT)
    except (BrokenPipeError, ReaderGone):
        # The reader went away (| head): nothing left to say; the shell's code for it.
        _silence_stdout()
        sys.exit(EXIT_PIPE)
    except OSError as error:
        if _is_stdout_error(error):
            _quietly(f"stallscope: cannot write the output ({error.strerror or error})")
            sys.exit(EXIT_OUTPUT)
        _internal(error)
    except Exception as error:
        _internal(error)


def _internal(error: Exception) -> None:
    if os.environ.get("STALLSCOPE_DEBUG"):
        raise error
    print(f"stallscope: internal error: {type(error).__name__}: {error}", file=sys.stderr)
    sys.exit(EXIT_INTERNAL)


def _is_stdout_error(error: OSError) -> bool:
    """Whether writing standard output failed (a full disk behind it, a closed descriptor)."""
    import errno

    return error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EBADF, errno.EFBIG)


def _silence_stdout() -> None:
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _quietly(message: str) -> None:
    """One line on stderr, if stderr can still take it."""
    with contextlib.suppress(OSError, ValueError):
        print(message, file=sys.stderr, flush=True)


def run() -> None:
    """The installed ``stallscope`` command: :func:`main`, then leave without tearing the
    interpreter down. Unloading pandas, pyarrow, Lark and the rest takes about a quarter of a
    second on every run, after everything has been written; nothing is left to clean up (files
    are closed, worker processes joined), so only the standard streams are flushed."""
    try:
        main()
        code = 0
    except SystemExit as done:
        code = _exit_code(done.code)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = EXIT_PIPE if code == 0 else code
    except OSError as error:
        _quietly(f"stallscope: cannot write the output ({error.strerror or error})")
        code = EXIT_OUTPUT if code == 0 else code
    except ValueError:  # stdout closed
        pass
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit("message") prints it and exits with 1
    return 1
