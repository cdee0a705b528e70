"""``careligible report``: one referral report per case, for a coordinator working in batch.

Cases are read exactly as ``screen`` reads them (every format, located errors), and a bad record
never stops the others: it is one line on stderr and the run ends with exit 1. Reports go to
``--output-dir`` under names made from the case ids (:mod:`careligible.report.names`); an
existing file is replaced only with ``--force``, and never when it is an input or a rule file.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import click

from ..errors import CareligibleError
from ..outputs import Protected, protected_files, refuse_clash, write_atomic
from ..readers import format_of
from ..safetext import printable
from .common import CaseRecords, ExitCode, fail, load_rules
from .options import date_option, format_option, repeatable_option, rules_option


@click.command("report")
@click.argument(
    "cases", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@format_option(["md", "html", "pdf"], "md", "Report format (pdf needs the 'pdf' extra).")
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory for the reports (created if missing).",
)
@click.option("--all-trials", is_flag=True, help="Include trials of other diseases.")
@repeatable_option(
    "--compare",
    metavar="NCT",
    help="Set two or three trials side by side (repeat the option).",
)
@click.option("--force", is_flag=True, help="Replace reports that already exist.")
@date_option("--date", "on", help="The report's date (default: today).")
@rules_option
def report(
    cases: tuple[Path, ...],
    fmt: str,
    output_dir: Path,
    all_trials: bool,
    compare: tuple[str, ...],
    force: bool,
    on: datetime | None,
    rules_dir: Path | None,
) -> None:
    """Write a referral report for each case in CASES (YAML, JSON, JSON Lines or CSV)."""
    from .. import report as referral
    from ..screening import Screener

    catalog = load_rules(rules_dir, consequence="; no report was written")
    unknown = [t for t in compare if catalog.trial(t) is None]
    if unknown:
        raise click.BadParameter(f"not in the rules: {', '.join(unknown)}", param_hint="--compare")
    if compare and not 2 <= len({t.upper() for t in compare}) <= 3:
        raise click.BadParameter("name two or three trials", param_hint="--compare")
    if fmt == "pdf":
        _need_pdf()
    protected = protected_files(cases, rules_dir=rules_dir)
    try:
        for path in cases:
            format_of(path)  # an unknown file type stops the run before any report
        output_dir.mkdir(parents=True, exist_ok=True)
    except CareligibleError as exc:
        fail(printable(str(exc)))
    except OSError as exc:
        fail(printable(f"{output_dir}: cannot create ({exc.strerror})"))
    screener = Screener(catalog)
    names = referral.ReportNames()
    day = on.date() if on else date.today()
    records = CaseRecords(cases, catalog)
    unwritten = 0
    try:
        for case, source in records:
            target = output_dir / names.claim(case.id, fmt)
            if not _may_write(target, source, protected, force):
                unwritten += 1
                continue
            result = screener.screen(case, source)
            built = referral.build(
                case, result, catalog, on=day, all_trials=all_trials, compare=compare
            )
            _write(target, referral.render(built, fmt))
            click.echo(printable(str(target)))
    except CareligibleError as exc:
        fail(printable(str(exc)))
    errors = records.refused + unwritten
    if errors:
        click.echo(f"careligible: {errors} case(s) got no report; see above", err=True)
    sys.exit(ExitCode.RECORD_ERRORS if errors else ExitCode.OK)


def _need_pdf() -> None:
    try:
        import fpdf  # noqa: F401
    except ImportError:
        fail("PDF reports need fpdf2: pip install 'careligible[pdf]'")


def _may_write(target: Path, source: str, protected: list[Protected], force: bool) -> bool:
    """False (with the reason on stderr) when ``target`` must not be written for this case."""
    try:
        refuse_clash(target, protected, "the report")
    except CareligibleError as exc:
        click.echo(printable(f"careligible: {source}: {exc}"), err=True)
        return False
    if target.exists() and not force:
        click.echo(
            printable(f"careligible: {source}: {target} exists; --force replaces it"), err=True
        )
        return False
    return True


def _write(target: Path, data: bytes) -> None:
    try:
        write_atomic(target, data)
    except OSError as exc:
        written = "the reports listed before were written"
        fail(
            printable(f"{target}: cannot write ({exc.strerror or exc}); {written}"),
            ExitCode.OUTPUT_FAILED,
        )
