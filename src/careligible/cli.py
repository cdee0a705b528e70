"""The ``careligible`` command line: screen case files, check the rule catalog.

Output goes to stdout (or ``--output``, written to a temporary file and renamed into place, so an
interrupted run never leaves a file that looks complete); every error is one line on stderr.
"""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from .audit import AuditLog, open_audit_log, stale_status_warnings
from .batch import parsed_cases
from .catalog import Catalog, default_rules_dir, load_catalog
from .cli_common import ExitCode, destination, refuse_rules, rules_option
from .errors import CareligibleError, RulesError
from .parallel import Screened, default_jobs, screen_stream
from .writers import ENCODERS, WRITERS, EncodingWriter, make_writer


def _catalog(rules_dir: Path | None) -> Catalog:
    try:
        return load_catalog(rules_dir)
    except RulesError as exc:
        refuse_rules(
            exc,
            f"careligible: the rule catalog has {len(exc.problems)} problem(s); "
            "nothing was screened",
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="careligible")
def main() -> None:
    """Which CAR-T trials could this patient with an autoimmune disease enter, and why.

    Decision support only: the screening team and investigator decide.
    """


@main.command()
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
@rules_option
def screen(
    paths: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    progress: bool | None,
    audit_log_path: Path | None,
    include_case: bool,
    jobs: int | None,
    rules_dir: Path | None,
) -> None:
    """Screen the cases in PATHS (YAML, JSON, JSON Lines or CSV) against every trial."""
    from .screening import Screener

    try:
        screener = Screener(_catalog(rules_dir))
    except CareligibleError as exc:
        click.echo(f"careligible: {exc}", err=True)
        sys.exit(ExitCode.CANNOT_RUN)
    show_progress = sys.stderr.isatty() if progress is None else progress
    errors = 0
    try:
        with destination(output) as out:
            writer = make_writer(fmt, out)
            audit_log = open_audit_log(audit_log_path)
            encode = ENCODERS.get(fmt)
            outcomes = screen_stream(
                parsed_cases(paths),
                lambda: screener,
                rules_dir,
                jobs or default_jobs(),
                encode,
                keep_results=audit_log is not None,
            )
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
    if errors:
        click.echo(f"careligible: {errors} record(s) had errors; see the 'error' field", err=True)
    sys.exit(ExitCode.RECORD_ERRORS if errors else ExitCode.OK)


def _record(audit_log: AuditLog, item: Screened, catalog: Catalog, include_case: bool) -> None:
    """Append a screened (non-error) case to the audit log."""
    if item.parsed.case is not None and item.result is not None and not item.failed:
        audit_log.append(item.result, item.parsed.case, catalog, include_case)


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


@main.command()
@click.argument("case_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@rules_option
def tui(case_file: Path | None, rules_dir: Path | None) -> None:
    """Open the clinician terminal UI, optionally on CASE_FILE (YAML, or a FHIR Bundle as JSON)."""
    from .tui.app import run_app

    run_app(case_file, rules_dir)


@main.group()
def rules() -> None:
    """Inspect and check the rule catalog."""


@main.command()
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@rules_option
def trials(fmt: str, rules_dir: Path | None) -> None:
    """List the trial catalog: Table 1 of the source article, with current status."""
    from .listing import trial_rows

    rows = trial_rows(_catalog(rules_dir))
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title="CAR-T trials in autoimmune disease (Rampotas 2025, Table 1, and NCT05859997)"
    )
    for column in ("#", "target", "condition", "NCT", "phase", "sponsor", "status", "as of"):
        table.add_column(column, overflow="fold")
    for row in rows:
        phase = (
            row["phase"]
            if row["phase"] == row["table1_phase"] or not row["table1_phase"]
            else (f"{row['phase']} (Table 1: {row['table1_phase']})")
        )
        table.add_row(
            str(row["row"] or "-"),
            row["target"],
            row["condition"],
            row["nct_id"],
            phase,
            row["sponsor"],
            row["status"].replace("_", " "),
            row["status_as_of"],
        )
    Console(width=max(Console().width, 120)).print(table)


@rules.command("show")
@click.argument("rule_id")
@rules_option
def rules_show(rule_id: str, rules_dir: Path | None) -> None:
    """Print one rule: a trial (NCT…), a criterion (NCT…/ID) or a consideration (ID)."""
    from .listing import show_rule

    text = show_rule(_catalog(rules_dir), rule_id)
    if text is None:
        click.echo(
            f"careligible: no rule '{rule_id}'; try a trial id such as NCT06193889, "
            "NCT06193889/qmg_ge_11, or a consideration id",
            err=True,
        )
        sys.exit(ExitCode.RECORD_ERRORS)
    click.echo(text)


@rules.command("check")
@click.option(
    "--max-status-age",
    type=click.IntRange(min=0),
    default=365,
    show_default=True,
    metavar="DAYS",
    help="Warn when a trial's status_as_of is older than DAYS.",
)
@rules_option
def rules_check(max_status_age: int, rules_dir: Path | None) -> None:
    """Load every rule file and report each problem as file:line: field: problem."""
    try:
        catalog = load_catalog(rules_dir)
    except RulesError as exc:
        refuse_rules(exc, f"{len(exc.problems)} problem(s) found", ExitCode.RECORD_ERRORS)
    try:
        from .engine import RuleEngine

        RuleEngine(catalog)
    except CareligibleError as exc:
        click.echo(str(exc), err=True)
        click.echo("1 problem(s) found", err=True)
        sys.exit(ExitCode.RECORD_ERRORS)
    mapping = (rules_dir or default_rules_dir()) / "vocabulary" / "fhir.yaml"
    if mapping.exists():
        from .fhir.mapping import load_mapping

        try:
            load_mapping(mapping, catalog.vocabulary)
        except RulesError as exc:
            refuse_rules(exc, f"{len(exc.problems)} problem(s) found", ExitCode.RECORD_ERRORS)
    for warning in stale_status_warnings(catalog, max_status_age, datetime.date.today()):
        click.echo(f"warning: {warning}", err=True)
    criteria = sum(len(c.criteria) for t in catalog.trials for c in t.cohorts)
    checked = ", FHIR mapping" if mapping.exists() else ""
    click.echo(
        f"ok: {len(catalog.trials)} trials, {criteria} criteria{checked}, "
        f"ruleset version {catalog.version}"
    )


from .cli_audit import audit, explain, rules_diff  # noqa: E402  (after main and rules exist)
from .cli_fhir import import_fhir  # noqa: E402

main.add_command(explain)
main.add_command(audit)
main.add_command(import_fhir)
rules.add_command(rules_diff)
