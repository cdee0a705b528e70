"""Where a criterion is defined: ``rules show`` and ``explain`` name the line that holds it.

A criterion id may be used in several cohorts of one trial, each with its own condition, so a
criterion is known by its cohort and id together; the line reported must be the one that
defines *that* criterion, or a reviewer reads the wrong rule.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from careligible.catalog import DISEASE, Catalog
from careligible.explain import criterion_explanation
from careligible.listing import show_rule
from careligible.results import CriterionResult


def shipped_criteria(catalog: Catalog) -> list[tuple[str, str, str]]:
    """(nct id, cohort id, criterion id) of every criterion written in a shipped rule file."""
    return [
        (trial.nct_id, cohort.id, criterion.id)
        for trial in catalog.trials
        for cohort in trial.cohorts
        for criterion in cohort.criteria
        if criterion.id != DISEASE
    ]


def written_lines(path: Path) -> dict[tuple[str, str], int]:
    """(cohort id, criterion id) -> the line its item starts on, read straight from the YAML
    nodes: a general criterion is listed under every cohort, at its own line."""
    root = yaml.compose(path.read_text(encoding="utf-8"))
    top = {key.value: value for key, value in root.value}

    def items(node: yaml.Node | None) -> dict[str, int]:
        out = {}
        for item in node.value if node is not None else []:
            fields = {key.value: value for key, value in item.value}
            out[fields["id"].value] = item.start_mark.line + 1
        return out

    general = items(top.get("criteria"))
    lines = {}
    for cohort in top["cohorts"].value:
        fields = {key.value: value for key, value in cohort.value}
        for cid, line in {**general, **items(fields.get("criteria"))}.items():
            lines[(fields["id"].value, cid)] = line
    return lines


def holds(path: Path, line: int, cohort: str, criterion_id: str) -> bool:
    """True when ``line`` starts the item of ``criterion_id`` in ``cohort`` (or in the trial's
    general criteria), and that line names the id."""
    text = path.read_text(encoding="utf-8").splitlines()[line - 1]
    named = re.search(rf"\bid: {re.escape(criterion_id)}\s*$", text) is not None
    return named and written_lines(path)[(cohort, criterion_id)] == line


def test_every_place_rules_show_reports_holds_the_criterion(catalog: Catalog) -> None:
    wrong = []
    for nct, cohort, cid in shipped_criteria(catalog):
        shown = show_rule(catalog, f"{nct}/{cohort}/{cid}") or ""
        found = re.search(r"^defined at: (.+):(\d+)$", shown, re.M)
        if found is None or not holds(Path(found[1]), int(found[2]), cohort, cid):
            wrong.append(f"{nct}/{cohort}/{cid}: {found[0] if found else 'no place'}")
    assert not wrong, wrong


def test_every_place_explain_reports_holds_the_criterion(catalog: Catalog) -> None:
    wrong = []
    for nct, cohort, cid in shipped_criteria(catalog):
        trial = catalog.trial(nct)
        result = CriterionResult(
            id=cid, kind="inclusion", status="unknown", text="", facts={}, source="", rationale=""
        )
        place = criterion_explanation(catalog, trial, cohort, result)["where"]
        file, _, line = place.rpartition(":")
        if not line.isdigit() or not holds(catalog.directory / file, int(line), cohort, cid):
            wrong.append(f"{nct}/{cohort}/{cid}: {place}")
    assert not wrong, wrong


@pytest.mark.parametrize("rule", ["NCT06193889/qmg_ge_11", "NCT06193889/gmg/qmg_ge_11"])
def test_a_criterion_is_shown_by_its_id_or_by_cohort_and_id(catalog: Catalog, rule: str) -> None:
    shown = show_rule(catalog, rule) or ""
    assert shown.startswith("NCT06193889/gmg/qmg_ge_11 (inclusion)")
