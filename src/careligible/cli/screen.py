"""``careligible screen``: every input record in, one result record out, in input order.

Output goes to stdout (or ``--output``, written to a temporary file and renamed into place, so an
interrupted run never leaves a file that looks complete); every error is one line on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

from ..audit import AuditLog, log_head, open_audit_log
from ..batch import parsed_cases
from ..catalog import Catalog
from ..errors import CareligibleError
from ..parallel import Screened, default_jobs, screen_stream
from ..writers import ENCODERS, WRITERS, EncodingWriter, make_writer
from .common import (
    ExitCode,
    destination,
    load_rules,
    protected_files,
    refuse_clash,
    rules_option,
)


@click.command()
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(WRITERS)),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write results to FILE instead of standard output.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: when stderr is a terminal).",
)
@click.option(
    "--audit-log",
    "audit_log_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append one hash-chained decision record per screened case to FILE.",
)
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
    country: str | None,
    near: str | None,
    within: float | None,
    rules_dir: Path | None,
) -> None:
    """Screen the cases in PATHS (YAML, JSON, JSON Lines or CSV) against every trial."""
    from ..registry.sites import narrowed, parse_area
    from ..screening import Screener

    try:
        area = parse_area(country, near, within)
    except ValueError as exc:
        click.echo(f"careligible: {exc}", err=True)
        sys.exit(ExitCode.CANNOT_RUN)
    try:
        refuse_clash(audit_log_path, protected_files(paths, rules_dir=rules_dir), "the audit log")
        protected = protected_files(paths, audit_log_path, rules_dir)
        refuse_clash(output, protected, "the output")
        screener = Screener(load_rules(rules_dir, consequence="; nothing was screened"))
    except CareligibleError as exc:
        click.echo(f"careligible: {exc}", err=True)
        sys.exit(ExitCode.CANNOT_RUN)
    show_progress = sys.stderr.isatty() if progress is None else progress
    errors = 0
    try:
        with destination(output, protected) as out:
            writer = make_writer(fmt, out)
            audit_log = open_audit_log(audit_log_path)
            encode = ENCODERS.get(fmt)
            outcomes = screen_stream(
                parsed_cases(paths),
                lambda: screener,
                rules_dir,
                jobs or default_jobs(),
                encode,
                keep_results=audit_log is not None or area is not None,
            )
            if area is not None:  # trials with a recruiting site in the area, nearest named
                outcomes = narrowed(outcomes, area, screener.catalog, encode)
            for item in _with_progress(outcomes, show_progress):
                errors += item.failed
                if item.text is not None:
                    assert isinstance(writer, EncodingWriter)
                    writer.write_encoded(item.text)
                else:
                    assert item.result is not None
                    writer.write(item.result)
                if audit_log is not None:
                    _record(audit_log, item, screener.catalog, include_case)
            writer.close()
    except CareligibleError as exc:
        click.echo(f"careligible: {exc}", err=True)
        sys.exit(ExitCode.CANNOT_RUN)
    if audit_log_path is not None:
        _print_head(audit_log_path)
    if errors:
        click.echo(f"careligible: {errors} record(s) had errors; see the 'error' field", err=True)
    sys.exit(ExitCode.RECORD_ERRORS if errors else ExitCode.OK)


def _record(audit_log: AuditLog, item: Screened, catalog: Catalog, include_case: bool) -> None:
    """Append a screened (non-error) case to the audit log."""
    if item.parsed.case is not None and item.result is not None and not item.failed:
        audit_log.append(item.result, item.parsed.case, catalog, include_case)


def _print_head(path: Path) -> None:
    """The anchor of the audit log, for the auditor to keep apart from it (``--expect-head``)."""
    try:
        head = log_head(path)
    except CareligibleError as exc:
        click.echo(f"careligible: {exc}", err=True)
        return
    click.echo(f"careligible: audit log {path}: {head}", err=True)


def _with_progress(results: Iterator[object], enabled: bool) -> Iterator:  # type: ignore[type-arg]
    if not enabled:
        yield from results
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn("screened {task.completed} case(s)"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("screening")
        for result in results:
            yield result
            bar.advance(task)


@click.command()
@click.argument("case_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@rules_option
def tui(case_file: Path | None, rules_dir: Path | None) -> None:
    """Open the clinician terminal UI, optionally on CASE_FILE (YAML, or a FHIR Bundle as JSON)."""
    from ..tui.app import run_app

    run_app(case_file, rules_dir)
