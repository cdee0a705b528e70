"""The ``import-fhir`` command: FHIR R4 Bundles (JSON) -> case YAML for review.

It lives apart from :mod:`careligible.cli`, which registers it; what commands share (exit codes,
output files that are never partial) comes from :mod:`careligible.cli.common`.

The output is meant to be read by a clinician before it is screened: above each case, comments
give the reference date, every resource or value that could not be mapped, and where each field
came from. Comments are lost if the file is rewritten, so nothing the screening needs is in them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click

from ..errors import CareligibleError, InputError, RulesError
from ..safetext import one_line
from .common import (
    ExitCode,
    destination,
    fail,
    load_rules,
    protected_files,
    refuse_clash,
    refuse_rules,
)
from .options import date_option, output_option, rules_option

if TYPE_CHECKING:
    from ..fhir import FhirMapping, ImportedCase
    from ..vocabulary import Vocabulary


@dataclass(frozen=True)
class _Outcome:
    """One input record: the imported case, or the problems that stopped it."""

    source: str
    imported: ImportedCase | None = None
    problems: tuple[str, ...] = ()


@click.command("import-fhir")
@click.argument("bundles", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@output_option("Write the cases to FILE (YAML) instead of standard output.")
@date_option(
    "--reference-date",
    metavar="YYYY-MM-DD",
    help="Compute ages and therapy months as of this date (default: today); recorded in the output.",
)
@click.option(
    "--all-notes",
    is_flag=True,
    help="List every note, one per line, instead of grouping them by reason (one screen a bundle).",
)
@rules_option
def import_fhir(
    bundles: tuple[Path, ...],
    output: Path | None,
    reference_date: dt.datetime | None,
    all_notes: bool,
    rules_dir: Path | None,
) -> None:
    """Turn FHIR R4 Bundles (JSON, one patient each) into cases, listing what could not be mapped.

    One case per bundle, in input order; a bundle that cannot be read is reported in its place.
    A directory is read as a FHIR bulk export (Patient*.ndjson, ...): one case per patient.
    Notes are grouped by reason, with counts, to fit on one screen a case (--all-notes: all).
    Exits 0 when every bundle was imported, 1 when some could not be, 2 when nothing could run.
    """
    from ..fhir import mapping_of

    day = reference_date.date() if reference_date else dt.date.today()
    try:
        refuse_clash(output, protected_files(bundles), "the output")
    except CareligibleError as exc:
        fail(exc)
    catalog = load_rules(rules_dir, consequence="; nothing was imported")
    vocabulary = catalog.vocabulary
    try:
        mapping = mapping_of(catalog)
    except RulesError as exc:
        refuse_rules(exc, "careligible: the FHIR mapping is invalid; nothing was imported")
    # Streamed: each case is written, then told on stderr, and forgotten, so that a bulk export
    # of any size needs the memory of one patient.
    failed = 0

    def told(outcome: _Outcome) -> None:
        nonlocal failed
        if outcome.imported is None:
            failed += 1
            for message in outcome.problems:
                click.echo(f"careligible: {message}", err=True)
        elif outcome.imported.notes:
            click.echo(
                f"careligible: {outcome.source}: case '{outcome.imported.case_id}': "
                f"{len(outcome.imported.notes)} item(s) not mapped, listed in the output",
                err=True,
            )

    try:
        with destination(output, protected_files(bundles)) as out:
            _write_yaml(out, _imported(bundles, day, mapping, vocabulary), day, all_notes, told)
    except (OSError, CareligibleError) as exc:
        fail(f"cannot write the output: {exc}")
    if failed:
        click.echo(f"careligible: {failed} bundle(s) could not be imported", err=True)
    sys.exit(ExitCode.RECORD_ERRORS if failed else ExitCode.OK)


def _imported(
    paths: tuple[Path, ...], day: dt.date, mapping: FhirMapping, vocabulary: Vocabulary
) -> Iterator[_Outcome]:
    from ..fhir import BundleError, import_bundle
    from ..readers import format_of, read_records

    for path in paths:
        if path.is_dir():
            yield from _exported(path, day, mapping, vocabulary)
            continue
        try:
            if format_of(path) not in ("json", "jsonl"):
                raise InputError(f"{path}: a FHIR Bundle must be a JSON file (.json)")
            records = list(read_records(path))
        except InputError as exc:
            yield _Outcome(str(path), problems=(str(exc),))
            continue
        for record in records:
            if record.error is not None:
                yield _Outcome(record.source, problems=(f"{record.source}: {record.error}",))
                continue
            try:
                imported = import_bundle(
                    record.data,
                    reference_date=day,
                    mapping=mapping,
                    vocabulary=vocabulary,
                    fallback_id=path.stem[:128],
                )
            except BundleError as exc:
                problems = tuple(
                    f"{record.source}: {p.field}: {p.message}"
                    if p.field
                    else f"{record.source}: {p.message}"
                    for p in exc.problems
                )
                yield _Outcome(record.source, problems=problems)
                continue
            except RecursionError:
                yield _Outcome(record.source, problems=(f"{record.source}: nested too deeply",))
                continue
            yield _Outcome(record.source, imported)


def _exported(
    directory: Path, day: dt.date, mapping: FhirMapping, vocabulary: Vocabulary
) -> Iterator[_Outcome]:
    """One outcome per patient of a bulk export, then one per line no patient could take."""
    from ..fhir.bulk import iter_export

    try:
        for item in iter_export(
            directory, reference_date=day, mapping=mapping, vocabulary=vocabulary
        ):
            yield _Outcome(item.source, item.imported, tuple(str(p) for p in item.problems))
    except InputError as exc:
        yield _Outcome(str(directory), problems=(str(exc),))


def _write_yaml(
    out: IO[str],
    outcomes: Iterable[_Outcome],
    day: dt.date,
    all_notes: bool,
    told: Callable[[_Outcome], None] = lambda _: None,
) -> None:
    """One YAML document: a case (one bundle) or a list of cases, each below its comments;
    ``told`` hears of each outcome once it is written."""
    import yaml

    out.write("# Cases imported from FHIR R4 Bundles by careligible import-fhir.\n")
    out.write(
        f"# Reference date: {day.isoformat()} (ages and therapy months are as of this date).\n"
    )
    out.write(
        "# Therapy outcomes are not in FHIR: every therapy's outcome is unknown; fill it in.\n"
    )
    items = iter(outcomes)
    head = list(itertools.islice(items, 2))
    as_list = len(head) > 1
    for outcome in itertools.chain(head, items):
        out.write("\n")
        for line in _comments(outcome, all_notes):
            out.write(f"# {line}\n")
        if outcome.imported is None:
            told(outcome)
            continue
        text = yaml.safe_dump(outcome.imported.data, sort_keys=False, allow_unicode=True)
        if as_list:
            text = "".join(
                ("- " if number == 0 else "  ") + line
                for number, line in enumerate(text.splitlines(keepends=True))
            )
        out.write(text)
        told(outcome)


def _comments(outcome: _Outcome, all_notes: bool) -> Iterator[str]:
    """The source, what was not mapped (grouped by reason unless ``all_notes``), the sources."""
    from ..fhir.notes import full, grouped

    imported = outcome.imported
    if imported is None:
        yield f"{_one_line(outcome.source)}: NOT IMPORTED"
        for problem in outcome.problems:
            yield f"  {_one_line(problem)}"
        return
    if imported.deceased:  # first, so that no one reads on as if the patient could enrol
        yield f"{imported.deceased.upper()}: screening gives this case no trial verdicts"
    yield f"{_one_line(outcome.source)}: case '{_one_line(imported.case_id)}'"
    if imported.notes:
        yield f"not mapped ({len(imported.notes)}):"
        for line in full(imported.notes) if all_notes else grouped(imported.notes):
            yield f"  - {_one_line(line)}"
    if imported.sources:
        yield "sources:"
        for field, source in imported.sources.items():
            yield f"  {_one_line(field)}: {_one_line(source)}"


def _one_line(text: str) -> str:
    """Text from a bundle or its file name must not end the comment it is written into."""
    return one_line(text)
