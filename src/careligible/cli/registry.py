"""``careligible registry`` (pull, load, check) and ``careligible rules draft``.

Snapshots live in the rules directory's ``registry/`` folder (``--rules DIR``, like every
command), one JSON file per trial; see ``docs/rule-format.md``.
"""

from __future__ import annotations

import datetime
import os
import re
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import RulesError
from ..registry.record import RecordError
from ..registry.snapshot import (
    FOLDER,
    Snapshot,
    SnapshotError,
    is_snapshot,
    make_snapshot,
    read_json,
    read_snapshot,
    store,
)
from .common import ExitCode, destination, fail, load_rules, refuse_rules, rules_directory
from .options import date_option, output_option, rules_option

_NCT = re.compile(r"^NCT\d{8}$")


@click.group()
def registry() -> None:
    """Keep the catalog true to ClinicalTrials.gov: snapshots and drift checks."""


@registry.command("pull")
@click.argument("nct_ids", nargs=-1)
@click.option(
    "--api",
    default=lambda: os.environ.get("CARELIGIBLE_REGISTRY_API", "https://clinicaltrials.gov/api/v2"),
    show_default="ClinicalTrials.gov API v2, or $CARELIGIBLE_REGISTRY_API",
    help="Registry API root.",
)
@rules_option
def registry_pull(nct_ids: tuple[str, ...], api: str, rules_dir: Path | None) -> None:
    """Fetch the registry records of NCT_IDS (default: every catalogued trial) as snapshots."""
    from ..registry.client import RegistryClient, RegistryError

    wanted = [n.upper() for n in nct_ids]
    bad = [n for n in wanted if not _NCT.match(n)]
    if bad:
        fail(f"not an NCT id (NCT and 8 digits): {', '.join(bad)}")
    if not wanted:
        catalog = load_rules(rules_dir, consequence="; name the NCT ids to pull")
        wanted = [t.nct_id for t in (*catalog.trials, *catalog.drafts)]
    folder = _folder(rules_dir)
    stored = 0
    with RegistryClient(api) as client:
        for nct_id in wanted:
            try:
                record = client.study(nct_id)
                now = datetime.datetime.now(datetime.UTC)
                snapshot = make_snapshot(record, f"{client.api}/studies/{nct_id}", now)
            except (RegistryError, RecordError) as exc:
                click.echo(f"careligible: {nct_id}: {exc}", err=True)
                continue
            stored += _store(folder, snapshot)
    sys.exit(_outcome(stored, len(wanted)))


@registry.command("load")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@date_option("--seen", help="The date the record was downloaded (default: its lastUpdatePostDate).")
@rules_option
def registry_load(
    files: tuple[Path, ...], seen: datetime.datetime | None, rules_dir: Path | None
) -> None:
    """Store saved registry records (the registry's JSON download) as snapshots, offline."""
    folder = _folder(rules_dir)
    stored = total = 0
    for path in files:
        try:
            records = _records(path)
        except SnapshotError as exc:
            click.echo(f"careligible: {exc}", err=True)
            total += 1
            continue
        for index, record in enumerate(records):
            total += 1
            where = f"{path}" + (f": studies[{index}]" if len(records) > 1 else "")
            try:
                snapshot = _offline_snapshot(record, path, seen.date() if seen else None)
            except RecordError as exc:
                click.echo(f"careligible: {where}: {exc}", err=True)
                continue
            stored += _store(folder, snapshot)
    sys.exit(_outcome(stored, total))


@registry.command("check")
@rules_option
def registry_check(rules_dir: Path | None) -> None:
    """Compare every trial file with its snapshot: status, phase, ages, sex, conditions, text.

    Exits 1 when any trial differs from its registry record. Never changes a rule file.
    """
    from ..registry.diseases import load_condition_map
    from ..registry.drift import check_catalog, render

    catalog = load_rules(rules_dir)
    try:
        conditions = load_condition_map(catalog.directory)
    except RulesError as exc:
        refuse_rules(exc, f"careligible: {len(exc.problems)} problem(s)")
    trials = [*catalog.trials, *catalog.drafts]
    drifts = check_catalog(trials, conditions)
    for drift in drifts:
        click.echo(render(drift))
    checked = {d.nct_id for d in drifts}
    missing = [t.nct_id for t in trials if t.nct_id not in checked]
    if missing:
        click.echo(
            f"{len(missing)} trial(s) have no registry snapshot: {', '.join(missing)} "
            "(careligible registry pull, or registry load FILE.json)"
        )
    drifted = [d.nct_id for d in drifts if d.drifted]
    click.echo(f"{len(drifted)} of {len(drifts)} trial(s) with a snapshot differ from it")
    sys.exit(ExitCode.RECORD_ERRORS if drifted else ExitCode.OK)


@click.command("draft")
@click.argument("snapshot_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@output_option("Write the draft to FILE (never over an existing file) instead of standard output.")
@rules_option
def rules_draft(snapshot_file: Path, output: Path | None, rules_dir: Path | None) -> None:
    """Draft a rule file (marked draft: true) from a snapshot or a saved registry record."""
    from ..registry.diseases import load_condition_map
    from ..registry.draft import draft_rule

    if output is not None and output.exists():
        fail(f"{output} exists; a draft never replaces a file")
    try:
        data = read_json(snapshot_file)
        if is_snapshot(data):
            snapshot = read_snapshot(snapshot_file, data)
        else:
            records = _records(snapshot_file, data)
            if len(records) != 1:
                raise RecordError(f"holds {len(records)} records; draft one at a time")
            snapshot = _offline_snapshot(records[0], snapshot_file, None)
        conditions = load_condition_map(rules_directory(rules_dir))
    except (SnapshotError, RecordError) as exc:
        fail(f"{snapshot_file}: {exc}")
    except RulesError as exc:
        refuse_rules(exc, f"careligible: {len(exc.problems)} problem(s)")
    with destination(output) as out:
        out.write(draft_rule(snapshot, conditions))
    if output is not None:
        click.echo(f"{snapshot.nct_id}: draft written to {output}", err=True)


def _folder(rules_dir: Path | None) -> Path:
    return rules_directory(rules_dir) / FOLDER


def _records(path: Path, data: Any = None) -> list[dict[str, Any]]:
    """The study records of a saved download: one study, or a search page's ``studies``."""
    data = read_json(path) if data is None else data
    if isinstance(data, dict) and isinstance(data.get("studies"), list):
        return [s for s in data["studies"] if isinstance(s, dict)]
    if isinstance(data, dict):
        return [data]
    raise SnapshotError(path, "", "not a registry study record (a JSON object)")


def _offline_snapshot(record: dict[str, Any], path: Path, seen: datetime.date | None) -> Snapshot:
    """A snapshot of a saved record: seen on ``seen``, else on its last update."""
    from ..registry.record import parse_record

    now = datetime.datetime.now(datetime.UTC)
    posted = parse_record(record).last_update_posted
    return make_snapshot(record, f"file {path.name}", now, seen or posted or now.date())


def _store(folder: Path, snapshot: Snapshot) -> int:
    """Store one snapshot and say so; 1 when stored, 0 when it could not be."""
    try:
        path, state = store(folder, snapshot)
    except (OSError, SnapshotError) as exc:
        click.echo(f"careligible: {snapshot.nct_id}: not stored: {exc}", err=True)
        return 0
    posted = snapshot.last_update_posted or "not given"
    click.echo(
        f"{snapshot.nct_id}: {path} (lastUpdatePostDate {posted}, "
        f"sha256 {snapshot.sha256[:12]}, {state})"
    )
    return 1


def _outcome(stored: int, total: int) -> ExitCode:
    if stored == total:
        return ExitCode.OK
    return ExitCode.RECORD_ERRORS if stored else ExitCode.CANNOT_RUN
