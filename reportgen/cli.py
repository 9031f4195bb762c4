"""The ``reportgen`` command line: parse options, call :mod:`reportgen.api`, report.

The group is here; the commands are in :mod:`reportgen.cli_reports` (validate, patient,
cohort) and :mod:`reportgen.cli_tools` (rules, send, template), their shared options in
:mod:`reportgen.cli_options`. Libraries are imported inside the commands: ``--help`` and
``reportgen rules`` load no pandas, matplotlib or WeasyPrint."""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback
from pathlib import Path

import click

from reportgen import __version__
from reportgen.cli_options import Options
from reportgen.cli_reports import cohort, patient, validate
from reportgen.cli_tools import rules, send, template
from reportgen.errors import Interrupted, bug_summary

logger = logging.getLogger("reportgen")

_AFTER_INTERRUPT = {
    "patient": "; the workers were stopped, temporary files removed, and complete reports "
    "are listed in OUTDIR/manifest.json (--resume finishes the run)",
    "cohort": "; the cohort files in OUTDIR are all as they were before, or all new",
}


class _Group(click.Group):
    """Turns the end of a run into its exit status: 130/143 after SIGINT/SIGTERM, and for an
    unexpected exception one line (the traceback with -v) instead of a stack dump."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:  # Interrupted (SIGTERM) is one too
            signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
            logger.error(
                "reportgen: interrupted by %s%s",
                signal.Signals(signum).name,
                _AFTER_INTERRUPT.get(ctx.invoked_subcommand or "", ""),
            )
            ctx.exit(128 + signum)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except BrokenPipeError:  # the reader of stdout left (`reportgen validate f | head`)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error
            ctx.exit(128 + signal.SIGPIPE)
        except Exception as exc:  # noqa: BLE001 - the one place a bug becomes a message
            _report_bug(ctx, exc)
            ctx.exit(1)


def _report_bug(ctx: click.Context, exc: Exception) -> None:
    """No message text (it may quote patient data) unless -v, which adds the traceback."""
    options = ctx.find_object(Options)
    logger.error(
        "reportgen: %s; run again with -v for the traceback and report it", bug_summary(exc)
    )
    if options is not None and options.verbose:
        logger.error("".join(traceback.format_exception(exc)).rstrip())


def _setup_logging(quiet: bool, verbose: bool, log_file: Path | None) -> None:
    """stderr: messages as they are (errors only with -q); --log-file: with time stamps."""
    _close_logging()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO)
    console.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(console)
    if log_file is not None:
        try:
            handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(
                f"cannot open {log_file} ({exc.strerror})", param_hint="--log-file"
            ) from None
        handler.setLevel(logging.DEBUG if verbose else logging.INFO)
        handler.setFormatter(
            _FileFormatter("%(asctime)s %(levelname)s pid=%(process)d %(message)s")
        )
        logger.addHandler(handler)


def _close_logging() -> None:
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


class _FileFormatter(logging.Formatter):
    """The log file gets problems without the cell values they quote (patient data)."""

    def format(self, record: logging.LogRecord) -> str:
        redacted = getattr(record, "redacted", None)
        if redacted is not None:
            record = logging.makeLogRecord({**record.__dict__, "msg": redacted, "args": ()})
        return super().format(record)


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reportgen")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr (no progress).")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="More detail; an internal error shows its traceback (for bug reports).",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also append messages, time-stamped, to this file (no patient values).",
)
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(0),
    default=0,
    show_default=True,
    metavar="SECONDS",
    help="Wait this long for another run writing to the same OUTDIR, then refuse.",
)
@click.pass_context
def cli(
    ctx: click.Context, quiet: bool, verbose: bool, log_file: Path | None, wait_s: float
) -> None:
    """Postpartum bone-health reports: MgSO4 tocolysis exposure, DXA (YAM %), fractures,
    JOS 2012 classification (PLO), risk rules with their evidence.

    Exit status: 0 success, 1 data problems (invalid rows, some reports not made, a write
    error), 2 usage errors, 130 after Ctrl-C (SIGINT), 143 after SIGTERM.
    """
    if quiet and verbose:
        raise click.UsageError("-q and -v cannot be used together")
    ctx.obj = Options(quiet=quiet, verbose=verbose, wait_s=wait_s)
    _setup_logging(quiet, verbose, log_file)
    ctx.call_on_close(_close_logging)
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))


for _command in (validate, patient, cohort, rules, send, template):
    cli.add_command(_command)
