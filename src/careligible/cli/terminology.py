"""``careligible rules expand``: refresh the FHIR mapping's curated descendant lists from a
site's terminology server, into a new file for review.

The mapping read is ``vocabulary/fhir.yaml`` of ``--rules`` (default: the shipped catalog); the
refreshed file goes to ``--output`` or standard output, never over the mapping or anywhere inside
a rules directory, so nothing changes until a reviewer puts the new file in place.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from ..errors import CareligibleError, RulesError
from ..safetext import one_line
from .common import (
    ExitCode,
    destination,
    fail,
    protected_files,
    refuse_clash,
    refuse_rules,
    rules_directory,
)
from .options import output_option, rules_option, timeout_option

#: Codes named per line of the report; the refreshed file holds them all.
SHOWN_CODES = 10


@click.command("expand")
@click.option(
    "--server",
    required=True,
    metavar="URL",
    help="FHIR terminology server base URL (ValueSet/$expand), e.g. https://tx.example.org/fhir.",
)
@rules_option
@output_option("Write the refreshed mapping to FILE (default: standard output); never the input.")
@timeout_option(minimum=1, default=60.0, help="Give up on a request to the server after this long.")
def rules_expand(server: str, rules_dir: Path | None, output: Path | None, timeout: float) -> None:
    """Refresh the FHIR mapping's descendant lists (descendants_of) from a terminology server.

    Each concept is expanded with ValueSet/$expand (implicit value set isa/CODE); the refreshed
    mapping is written for review, and the codes added and removed per entry are listed on
    stderr. A concept the server cannot expand keeps its list. Exits 0 when every concept was
    expanded, 1 when some were not, 2 when nothing could be (no file is then written).
    """
    from ..fhir.mapping import parse_mapping
    from ..fhir.terminology import ServerExpander, refresh_mapping
    from ..readers.text import read_rule_text

    path = rules_directory(rules_dir) / "vocabulary" / "fhir.yaml"
    protected = protected_files([path], rules_dir=rules_dir)
    try:
        refuse_clash(output, protected, "the output")
        text = read_rule_text(path)
        mapping = parse_mapping(text, str(path))  # this very text, not a cached load
    except OSError as exc:
        fail(one_line(f"{path}: cannot read: {exc.strerror or exc}"))
    except RulesError as exc:
        refuse_rules(exc, "careligible: the FHIR mapping is invalid; nothing was expanded")
    except CareligibleError as exc:
        fail(one_line(str(exc)))
    if not any(rule.descendants_of for rule in mapping.raw.conditions):
        fail(one_line(f"{path}: no entry names descendants_of; there is nothing to expand"))
    try:
        expander = ServerExpander(server, timeout)
    except CareligibleError as exc:
        fail(one_line(str(exc)))
    refresh = refresh_mapping(text, mapping, expander, server, dt.date.today())
    for change in refresh.changes:
        concepts = ", ".join(change.concepts)
        head = f"{change.entry}: {change.system} {concepts}"
        if change.error is not None:
            click.echo(f"{head}: not expanded, list kept: {one_line(change.error)}", err=True)
            continue
        moved = f", {len(change.moved)} left to a more specific entry" if change.moved else ""
        click.echo(
            f"{head}: {len(change.added)} added{_codes(change.added)}, "
            f"{len(change.removed)} removed{_codes(change.removed)}{moved}",
            err=True,
        )
    if len(refresh.failed) == len(refresh.changes):
        fail("no concept could be expanded; nothing was written")
    try:
        parse_mapping(refresh.text, "the refreshed mapping")
    except RulesError as exc:
        refuse_rules(exc, "careligible: the refreshed mapping is invalid; nothing was written")
    try:
        with destination(output, protected) as out:
            out.write(refresh.text)
    except (OSError, CareligibleError) as exc:
        fail(one_line(f"cannot write the output: {exc}"))
    where = f" to {output}" if output else ""
    click.echo(
        f"careligible: refreshed mapping written{where} for review; "
        f"{len(refresh.failed)} concept list(s) not expanded",
        err=True,
    )
    sys.exit(ExitCode.RECORD_ERRORS if refresh.failed else ExitCode.OK)


def _codes(codes: Sequence[str]) -> str:
    if not codes:
        return ""
    shown = ", ".join(codes[:SHOWN_CODES])
    more = f", and {len(codes) - SHOWN_CODES} more" if len(codes) > SHOWN_CODES else ""
    return f" ({shown}{more})"
