"""Audit commands: ``explain``, ``audit verify`` and ``rules diff``.

They live apart from :mod:`careligible.cli`, which registers them; what commands share (exit
codes, ``--rules``) comes from :mod:`careligible.cli.common` and :mod:`careligible.cli.options`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, cast

import click

from ..errors import CareligibleError
from ..safetext import printable
from .common import CaseRecords, ExitCode, fail, load_rules
from .options import format_option, repeatable_option, rules_option

if TYPE_CHECKING:
    from ..audit import Verification
    from ..catalog import Catalog
    from ..explain import Format


# --- explain ------------------------------------------------------------------------------------


@click.command()
@click.argument("case_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@repeatable_option(
    "--trial",
    "trials",
    metavar="NCT",
    help="Explain only this trial (repeatable; default: every trial).",
)
@format_option(["text", "json", "markdown"], "text", "Output format.")
@click.option(
    "--compact",
    "compact",
    is_flag=True,
    help="CASE_FILE holds records of 'screen --format compact' (or parquet): spell out the "
    "criteria each names, from the rules they were written with.",
)
@rules_option
def explain(
    case_file: Path, trials: tuple[str, ...], fmt: str, compact: bool, rules_dir: Path | None
) -> None:
    """Explain every verdict for each case in CASE_FILE: criteria, facts, rules and sources."""
    from ..explain import case_explanation, render
    from ..screening import Screener

    catalog = load_rules(rules_dir)
    if compact:
        _explain_compact(case_file, catalog, fmt)
    unknown = [t for t in trials if catalog.trial(t) is None]
    if unknown:
        raise click.BadParameter(f"not in the rules: {', '.join(unknown)}", param_hint="--trial")
    records = CaseRecords([case_file], catalog)
    explanations = []
    try:
        screener = Screener(catalog)
        for case, source in records:
            result = screener.screen(case, source)
            explanations.append(case_explanation(result, catalog, trials))
    except CareligibleError as exc:
        fail(exc)
    text = render(explanations, cast("Format", fmt))
    # JSON escapes what it must; text and Markdown go to a terminal, so nothing in them acts.
    click.echo(text if fmt == "json" else printable(text, keep="\n"))
    sys.exit(ExitCode.RECORD_ERRORS if records.refused else ExitCode.OK)


def _explain_compact(path: Path, catalog: Catalog, fmt: str) -> NoReturn:
    """Expand each compact record of ``path``; a record that cannot be expanded is named on
    stderr (file and line, never its values) and the rest go on."""
    import json

    from ..compact import VersionMismatch, expand, render_expanded

    if fmt == "markdown":
        raise click.BadParameter("compact records expand to text or json", param_hint="--format")
    expanded, errors = [], 0
    for where, record in _compact_records(path):
        try:
            expanded.append(expand(record, catalog))
        except VersionMismatch as exc:
            errors += 1
            click.echo(printable(f"careligible: {where}: {exc}"), err=True)
        except ValueError as exc:  # names the fields that are wrong, never their values
            errors += 1
            click.echo(printable(f"careligible: {where}: not a compact record ({exc})"), err=True)
    if fmt == "json":
        click.echo(json.dumps(expanded, indent=2, ensure_ascii=False))
    else:
        click.echo(printable("\n\n".join(render_expanded(e) for e in expanded), keep="\n"))
    sys.exit(ExitCode.RECORD_ERRORS if errors else ExitCode.OK)


def _compact_records(path: Path) -> Iterator[tuple[str, object]]:
    """(file:line, record) for each record of a compact JSON Lines or Parquet file."""
    import json

    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            fail("reading Parquet needs pyarrow: pip install 'careligible[population]'")
        try:
            rows = pq.read_table(path).to_pylist()
        except (OSError, ValueError) as exc:
            fail(f"{path}: not a readable Parquet file ({type(exc).__name__})")
        for number, row in enumerate(rows, start=1):
            yield f"{path}:row {number}", row
        return
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read ({type(exc).__name__})")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record: object = json.loads(line)
        except json.JSONDecodeError:
            record = None  # not JSON: refused as not a record, like any other bad line
        yield f"{path}:{number}", record


# --- audit verify -------------------------------------------------------------------------------


@click.group()
def audit() -> None:
    """Check decision records written by 'screen --audit-log'."""


@audit.command("verify")
@click.argument("log", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--expect-head",
    metavar="HEX",
    default=None,
    help="The head hash 'screen --audit-log' printed: fail unless LOG ends at that record.",
)
@rules_option
def verify(log: Path, expect_head: str | None, rules_dir: Path | None) -> None:
    """Check LOG's hash chain and re-screen the recorded cases with the rules.

    Without --expect-head, records deleted from the end (or an emptied log) leave a valid
    chain; keep the head that 'screen --audit-log' prints and pass it here.

    Exits 0 when the chain is intact, ends at the expected head and every recorded verdict
    reproduces, 1 otherwise.
    """
    from ..audit import read_log, verify_log
    from ..screening import Screener

    try:
        lines = read_log(log)
        has_cases = any(line.record and "case" in line.record for line in lines)
        screener = Screener(load_rules(rules_dir)) if has_cases else None
        found = verify_log(lines, screener, expect_head)
    except CareligibleError as exc:
        fail(exc)
    for line in _verification_lines(found):
        click.echo(line)
    if not found.ok:
        click.echo(f"careligible: {log}: verification failed", err=True)
    sys.exit(ExitCode.OK if found.ok else ExitCode.RECORD_ERRORS)


@audit.command("repair")
@click.argument("log", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def repair(log: Path) -> None:
    """Cut LOG back to its last whole record after a write was cut short (full disk, crash).

    Only a torn tail is dropped, and what was dropped is reported; records before it are never
    touched. Run 'audit verify' afterwards. Exits 0 (also when nothing needed cutting).
    """
    from ..audit import repair_log

    try:
        done = repair_log(log)
    except CareligibleError as exc:
        fail(exc)
    if done.dropped_bytes:
        click.echo(
            f"dropped the torn tail: {done.dropped_bytes} byte(s) on {done.dropped_lines} line(s) "
            f"after line {done.kept}"
        )
    else:
        click.echo("nothing to repair: the log ends with a whole record")
    click.echo(f"kept {done.kept} record(s), head {done.head or '(none: the log is empty)'}")


def _verification_lines(found: Verification) -> Iterator[str]:
    if found.chain_break:
        yield f"chain broken: {found.chain_break}"
    else:
        yield f"chain intact: {found.records} record(s)"
    if found.head_mismatch:
        yield f"head wrong: {found.head_mismatch}"
    yield from (f"not reproduced: {line}" for line in found.not_reproduced)
    if found.rescreened and not found.not_reproduced:
        yield f"reproduced: every verdict of {found.rescreened} re-screened case(s)"
    yield from (f"note: {note}" for note in found.notes)


# --- rules diff ---------------------------------------------------------------------------------


@click.command("diff")
@click.argument("old_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("new_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("cases", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def rules_diff(old_dir: Path, new_dir: Path, cases: tuple[Path, ...]) -> None:
    """Show what changed from OLD_DIR to NEW_DIR, and which CASES change verdict because of it.

    Exits 0 whether or not anything changed; 1 when a case record has errors.
    """
    from ..rulediff import diff_catalogs, render_diff, render_verdict_change, verdict_changes
    from ..screening import Screener

    old = load_rules(old_dir, f"{old_dir}")
    new = load_rules(new_dir, f"{new_dir}")
    click.echo(render_diff(diff_catalogs(old, new)))
    if not cases:
        sys.exit(ExitCode.OK)
    # One reading of each case serves both catalogs; FHIR is imported with the shipped mapping.
    records = CaseRecords(cases, None)
    changed = screened = 0
    try:
        before, after = Screener(old), Screener(new)
        for case, source in records:
            screened += 1
            for change in verdict_changes(before, after, case, source):
                changed += 1
                click.echo(render_verdict_change(change))
    except CareligibleError as exc:
        fail(exc)
    click.echo(f"{changed} verdict change(s) over {screened} case(s)")
    sys.exit(ExitCode.RECORD_ERRORS if records.refused else ExitCode.OK)
