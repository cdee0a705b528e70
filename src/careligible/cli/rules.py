"""``careligible rules`` and ``careligible trials``: inspect and check the rule catalog."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import click

from ..audit import stale_status_warnings
from ..catalog import Catalog, load_catalog
from ..errors import CareligibleError, RulesError
from .audit import rules_diff
from .common import ExitCode, load_rules, refuse_rules
from .options import format_option, integer_option, rules_option


@click.group()
def rules() -> None:
    """Inspect and check the rule catalog."""


@click.command()
@format_option(["table", "json"], "table")
@rules_option
def trials(fmt: str, rules_dir: Path | None) -> None:
    """List the trial catalog: Table 1 of the source article, with current status."""
    from ..listing import trial_rows

    rows = trial_rows(load_rules(rules_dir))
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
    """Print one rule: a trial (NCT…), a criterion (NCT…/COHORT/ID, or NCT…/ID for every cohort's
    criterion of that id) or a consideration (ID)."""
    from ..listing import show_rule

    text = show_rule(load_rules(rules_dir), rule_id)
    if text is None:
        click.echo(
            f"careligible: no rule '{rule_id}'; try a trial id such as NCT06193889, "
            "NCT06193889/gmg/qmg_ge_11, NCT06193889/qmg_ge_11 or a consideration id",
            err=True,
        )
        sys.exit(ExitCode.RECORD_ERRORS)
    click.echo(text)


@rules.command("check")
@integer_option(
    "--max-status-age",
    minimum=0,
    default=365,
    metavar="DAYS",
    help="Warn when a trial's status_as_of is older than DAYS.",
)
@rules_option
def rules_check(max_status_age: int, rules_dir: Path | None) -> None:
    """Load every rule file and report each problem as file:line: field: problem."""
    try:
        catalog = load_catalog(rules_dir, cached=False)  # a check reads every file
    except RulesError as exc:
        refuse_rules(exc, f"{len(exc.problems)} problem(s) found", ExitCode.RECORD_ERRORS)
    try:
        from ..engine import RuleEngine

        RuleEngine(catalog)
    except CareligibleError as exc:
        click.echo(str(exc), err=True)
        click.echo("1 problem(s) found", err=True)
        sys.exit(ExitCode.RECORD_ERRORS)
    if catalog.fhir_mapping is not None:  # the mapping the catalog read, as every import uses it
        from ..fhir.mapping import mapping_of

        try:
            mapping_of(catalog)
        except RulesError as exc:
            refuse_rules(exc, f"{len(exc.problems)} problem(s) found", ExitCode.RECORD_ERRORS)
    for warning in stale_status_warnings(catalog, max_status_age, datetime.date.today()):
        click.echo(f"warning: {warning}", err=True)
    for warning in _drift_warnings(catalog):
        click.echo(f"warning: {warning}", err=True)
    criteria = sum(len(c.criteria) for t in catalog.trials for c in t.cohorts)
    checked = ", FHIR mapping" if catalog.fhir_mapping is not None else ""
    drafts = f", {len(catalog.drafts)} draft(s) left out of screening" if catalog.drafts else ""
    click.echo(
        f"ok: {len(catalog.trials)} trials, {criteria} criteria{checked}{drafts}, "
        f"ruleset version {catalog.version}"
    )


def _drift_warnings(catalog: Catalog) -> list[str]:
    """One line per trial whose registry snapshot says something its rule file does not."""
    from ..registry.diseases import load_condition_map
    from ..registry.drift import check_catalog

    try:
        conditions = load_condition_map(catalog.directory)
    except RulesError as exc:
        refuse_rules(exc, f"{len(exc.problems)} problem(s) found", ExitCode.RECORD_ERRORS)
    return [
        f"{d.file}: {d.nct_id} differs from its registry snapshot "
        f"({', '.join(d.topics())}); "
        "see 'careligible registry check'"
        for d in check_catalog([*catalog.trials, *catalog.drafts], conditions)
        if d.drifted
    ]


rules.add_command(rules_diff)
