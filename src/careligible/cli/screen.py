"""``careligible screen``: every input record in, one result record out, in input order.

Output goes to stdout (or ``--output``, written to a temporary file and renamed into place, so an
interrupted run never leaves a file that looks complete); every error is one line on stderr. The
loop itself is :func:`careligible.batch.run_batch`; this module maps each way a run can end to
its status in :class:`~careligible.cli.common.ExitCode`. SIGTERM and SIGHUP unwind the run like
Ctrl-C does, so the temporary file is removed and no worker is left behind.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..batch import Batch, OutputFailed, Screened, WorkersLost, default_jobs, run_batch
from ..errors import CareligibleError
from ..writers import BINARY_FORMATS, BY_ID, WRITERS, make_writer
from .common import (
    ExitCode,
    Protected,
    broken_pipe,
    destination,
    fail,
    load_rules,
    protected_files,
    refuse_clash,
    where_raised,
)
from .options import (
    audit_log_option,
    file_option,
    format_option,
    integer_option,
    output_option,
    rules_option,
)

if TYPE_CHECKING:
    from ..audit import AuditLog
    from ..catalog import Catalog
    from ..population import PopulationCounts
    from ..registry.sites import Area
    from .population import PopulationRun


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@format_option(sorted(WRITERS), "table", "Output format.")
@output_option(
    "Write results to FILE instead of standard output; with --scheduler, an empty "
    "directory gets one file per piece (part-00000.jsonl, ...).",
    dir_okay=True,
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: when stderr is a terminal).",
)
@audit_log_option("audit_log_path")
@click.option(
    "--include-case",
    is_flag=True,
    help="Store each case in its decision record, so 'audit verify' can re-screen it.",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes for large batches (default: every core). Output keeps input order.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Screen on the Dask cluster at ADDRESS (tcp://host:port), or local:N to start one "
    "of N worker processes. Output keeps input order.",
)
@integer_option(
    "--partition-size",
    minimum=1,
    default=1000,
    help="With --scheduler: records per piece of the input sent to a worker.",
)
@click.option(
    "--population",
    is_flag=True,
    help="Population screening: a case with no disease any trial enrols gets one short result "
    "('no candidate disease recorded') instead of verdicts; counts on stderr at the end.",
)
@file_option(
    "--worklist",
    help="With --population (implied): write per trial its candidates, ranked, with what to "
    "ask, to FILE (.csv or .md).",
)
@click.option("--country", metavar="CC", help="Keep trials with a recruiting site in CC.")
@click.option(
    "--near", metavar="LAT,LON", help="Keep trials with a recruiting site within KM of here."
)
@click.option("--within", type=click.FloatRange(min=0), metavar="KM", help="With --near.")
@rules_option
def screen(
    paths: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    progress: bool | None,
    audit_log_path: Path | None,
    include_case: bool,
    jobs: int | None,
    scheduler: str | None,
    partition_size: int,
    population: bool,
    worklist: Path | None,
    country: str | None,
    near: str | None,
    within: float | None,
    rules_dir: Path | None,
) -> None:
    """Screen the cases in PATHS (YAML, JSON, JSON Lines, CSV or Parquet) against every trial.

    A directory is read as a FHIR bulk export (Patient*.ndjson, ...): one record per patient.
    """
    from ..screening import Screener

    try:
        area = _area(country, near, within)
        _check_scheduler(scheduler, jobs, audit_log_path)
    except ValueError as exc:
        fail(str(exc))
    _refuse_unwritable_format(fmt, output)
    try:
        refuse_clash(audit_log_path, protected_files(paths, rules_dir=rules_dir), "the audit log")
        protected = protected_files(paths, audit_log_path, rules_dir)
        refuse_clash(output, protected, "the output")
        if output is not None and output.is_dir():
            from .dataset import check_dataset

            check_dataset(output, fmt, scheduler)
        catalog = load_rules(rules_dir, consequence="; nothing was screened")
        population = population or worklist is not None
        # Outputs naming criteria by id need none of their detail, unless the main process
        # reads the results (the audit log records every criterion, an area is looked up).
        detail = fmt not in BY_ID or audit_log_path is not None or area is not None
        screener = Screener(catalog, population=population, criteria=detail)
        run = _population_run(catalog, worklist, output, protected) if population else None
        audit_log = _audit_log(audit_log_path)
    except CareligibleError as exc:
        fail(str(exc))
    show_progress = sys.stderr.isatty() if progress is None else progress
    with _signals_end_the_run():
        batch = Batch(
            paths=paths,
            screener=screener,
            fmt=fmt,
            jobs=jobs or default_jobs(),
            audit_log=audit_log,
            include_case=include_case,
            area=area,
            on_event=lambda line: click.echo(f"careligible: {line}", err=True),
            scheduler=scheduler,
            piece_size=partition_size,
            progress=lambda items: _with_progress(
                run.observe(items) if run else items, show_progress, run.counts if run else None
            ),
        )
        errors = _run(batch, output, protected)
    if audit_log_path is not None:
        _print_head(audit_log_path)
    if run is not None:
        run.finish()
    if errors:
        click.echo(f"careligible: {errors} record(s) had errors; see the 'error' field", err=True)
    sys.exit(ExitCode.RECORD_ERRORS if errors else ExitCode.OK)


# A one-case screen is mostly start-up: what only some options need is imported when they are
# given, so the plain run never loads the site registry (pycountry, geographiclib), the audit
# log, the population run or the dataset writer.


def _area(country: str | None, near: str | None, within: float | None) -> Area | None:
    """The area ``--country``/``--near``/``--within`` ask for (ValueError when they do not fit)."""
    if country is None and near is None and within is None:
        return None
    from ..registry.sites import parse_area

    return parse_area(country, near, within)


def _population_run(
    catalog: Catalog, worklist: Path | None, output: Path | None, protected: list[Protected]
) -> PopulationRun:
    from .population import PopulationRun

    return PopulationRun.start(catalog, worklist, output, protected)


def _audit_log(path: Path | None) -> AuditLog | None:
    if path is None:
        return None
    from ..audit import open_audit_log

    return open_audit_log(path)


def _refuse_unwritable_format(fmt: str, output: Path | None) -> None:
    """A binary format needs a file, and Parquet needs pyarrow: say so before screening."""
    if fmt in BINARY_FORMATS and output is None:
        fail(
            f"--format {fmt} writes a binary file: give --output FILE (standard output is "
            "for text formats)"
        )
    if fmt == "parquet":
        try:
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            fail("--format parquet needs pyarrow: pip install 'careligible[population]'")


def _check_scheduler(scheduler: str | None, jobs: int | None, audit_log: Path | None) -> None:
    """Refuse what ``--scheduler`` cannot be combined with (ValueError), before any work."""
    if scheduler is None:
        return
    if jobs is not None:
        raise ValueError("--scheduler and --jobs: give one; the cluster's workers do the work")
    if audit_log is not None:
        raise ValueError("--audit-log needs the cases in this process; use --jobs to keep one")
    if scheduler.startswith("local:"):
        from ..batch.partition import local_workers

        local_workers(scheduler)
    elif "://" not in scheduler:
        raise ValueError(f"--scheduler {scheduler}: expected tcp://HOST:PORT or local:N")


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C, so no temporary file is left behind."""


def _print_head(path: Path) -> None:
    """The anchor of the audit log, for the auditor to keep apart from it (``--expect-head``)."""
    from ..audit import log_head

    try:
        head = log_head(path)
    except CareligibleError as exc:
        click.echo(f"careligible: {exc}", err=True)
        return
    click.echo(f"careligible: audit log {path}: {head}", err=True)


_ENDING = (signal.SIGTERM, signal.SIGHUP)

#: The stop a signal asked for. Raised in the handler, and again between records: a signal that
#: lands while the rule engine is calling back into Python is swallowed by the engine, and the
#: run would otherwise go on to the end.
_asked: list[BaseException] = []


@contextmanager
def _signals_end_the_run() -> Iterator[None]:
    """Turn the first SIGTERM or SIGHUP into :class:`Terminated` and Ctrl-C into
    ``KeyboardInterrupt``; ignore more while cleaning up."""

    def stop(signum: int, frame: object) -> None:
        for name in (*_ENDING, signal.SIGINT):
            signal.signal(name, signal.SIG_IGN)
        signame = signal.Signals(signum).name
        _asked.append(KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signame))
        raise _asked[0]

    previous = {name: signal.signal(name, stop) for name in (*_ENDING, signal.SIGINT)}
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(name, handler)


def _stop_if_asked(results: Iterator[Screened]) -> Iterator[Screened]:
    """Pass records on; after each, end the run if a signal asked for it."""
    for item in results:
        yield item
        if _asked:
            raise _asked[0]


def _run(batch: Batch, output: Path | None, protected: list[Protected]) -> int:
    """Run the batch into ``output``; every way it can end but success exits with its status."""
    unchanged = "" if output is None else f"; {output} was left as it was"
    where = str(output or "standard output")
    finished = False
    try:
        version, population = batch.screener.catalog.version, batch.screener.population
        if output is not None and output.is_dir():
            from .dataset import PartsWriter, dataset_destination

            with dataset_destination(output) as folder:
                parts = PartsWriter(folder, batch.fmt, version, population)
                errors = run_batch(batch, parts, where)
                finished = True
        else:
            with destination(output, protected) as out:
                errors = run_batch(batch, make_writer(batch.fmt, out, version, population), where)
                finished = True
    except BrokenPipeError:
        broken_pipe()
    except OutputFailed as exc:
        fail(f"{exc}{unchanged}", ExitCode.OUTPUT_FAILED)
    except WorkersLost as exc:
        fail(f"workers lost: {exc}{unchanged}", ExitCode.WORKERS_LOST)
    except CareligibleError as exc:
        fail(str(exc))
    except OSError as exc:
        if not finished:  # not from writing: a fault of ours
            fail(f"internal error: {where_raised(exc)}; please report it", ExitCode.INTERNAL_ERROR)
        # Once the batch has finished, only the hand-over of the complete file is left.
        fail(f"{where}: cannot write ({exc.strerror or exc}){unchanged}", ExitCode.OUTPUT_FAILED)
    except KeyboardInterrupt:
        fail(f"interrupted{unchanged}", ExitCode.INTERRUPTED)
    except Terminated as exc:
        fail(f"stopped by {exc}{unchanged}", ExitCode.TERMINATED)
    except Exception as exc:  # a bug: one line that says where, not a traceback
        fail(f"internal error: {where_raised(exc)}; please report it", ExitCode.INTERNAL_ERROR)
    return errors


def _with_progress(
    results: Iterator[Screened], enabled: bool, counts: PopulationCounts | None = None
) -> Iterator[Screened]:
    """A bar on stderr (never stdout, where records go) counting the records as they are
    written; a population run's bar also counts the pre-filtered cases and the candidates."""
    results = _stop_if_asked(results)
    if not enabled:
        yield from results
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    text = "screened {task.completed} case(s)"
    if counts is not None:
        text += (
            ", {task.fields[prefiltered]} pre-filtered, "
            "{task.fields[candidates]} a candidate for some trial"
        )
    columns = (SpinnerColumn(), TextColumn(text), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("screening", prefiltered=0, candidates=0)
        for result in results:
            yield result
            if counts is None:
                bar.advance(task)
                continue
            prefiltered, candidates = counts.prefiltered.total(), counts.with_candidate_trial
            bar.update(task, advance=1, prefiltered=prefiltered, candidates=candidates)


@click.command()
@click.argument("case_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@rules_option
def tui(case_file: Path | None, rules_dir: Path | None) -> None:
    """Open the clinician terminal UI, optionally on CASE_FILE (YAML, or a FHIR Bundle as JSON)."""
    from ..tui.app import run_app

    run_app(case_file, rules_dir)
