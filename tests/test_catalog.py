"""Every encoded trial: sources on every criterion, one eligible case per cohort, and each
computable criterion checked just inside, just outside and with its fact missing.

The boundary cases are derived from the rule files themselves: each fixture case in
``fixtures/eligible/<NCT>--<cohort>.yaml`` is eligible for its cohort, and moving one fact across
a criterion's threshold must flip exactly that criterion.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from careligible.case import Case
from careligible.catalog import Catalog, Criterion, load_catalog
from careligible.conditions import FieldTest
from careligible.facts import CANNOT_APPLY
from careligible.fields import case_fields
from careligible.screening import Screener

FIXTURES = Path(__file__).parent / "fixtures" / "eligible"
NUMERIC = ("at_least", "at_most", "above", "below", "between")


def fixture_cases() -> list[tuple[str, str, Path]]:
    return [(*p.stem.split("--"), p) for p in sorted(FIXTURES.glob("*.yaml"))]  # type: ignore[misc]


def test_every_criterion_names_a_source_with_a_check_date(catalog: Catalog) -> None:
    for trial in catalog.trials:
        for cohort in trial.cohorts:
            for criterion in cohort.criteria:
                assert criterion.source.cite(), (trial.nct_id, criterion.id)
                assert criterion.source.checked.year >= 2025, (trial.nct_id, criterion.id)
                assert criterion.rationale.strip(), (trial.nct_id, criterion.id)


def test_every_cohort_has_an_eligible_fixture_case(catalog: Catalog) -> None:
    have = {(nct, cohort) for nct, cohort, _ in fixture_cases()}
    want = {(t.nct_id, c.id) for t in catalog.trials for c in t.cohorts}
    assert want <= have, sorted(want - have)


@pytest.mark.parametrize(("nct", "cohort", "path"), fixture_cases(), ids=lambda v: str(v)[-40:])
def test_fixture_is_eligible_for_its_cohort_once_the_site_confirms(
    screener: Screener, catalog: Catalog, nct: str, cohort: str, path: Path
) -> None:
    """Every computable criterion allows the fixture in; it is *eligible* only once the site has
    confirmed what defines the population, *possibly eligible* before, and a trial the catalog
    cannot screen stays so whatever is confirmed."""
    data = yaml.safe_load(path.read_text())
    result = screener.cohort_results(Case.model_validate(data), nct)[cohort]
    undecided = [
        (c.id, c.status)
        for c in result.criteria
        if c.status != ("met" if c.kind == "inclusion" else "not_met")
    ]
    assert not undecided
    defining = [item for item in result.to_confirm if item.defines_population]
    complete = catalog.trial(nct).meta.criteria_complete  # type: ignore[union-attr]
    if complete == "none":
        assert result.verdict == "cannot_screen"
        return
    assert result.verdict == ("possibly_eligible" if defining else "eligible")
    answers = [
        {
            "trial": nct,
            "cohort": cohort,
            "criterion": item.id,
            "answer": "met" if item.kind == "inclusion" else "not_met",
            "by": "trial coordinator",
            "on": "2026-11-30",
        }
        for item in defining
    ]
    confirmed = Case.model_validate({**data, "as_of": "2026-12-01", "confirmations": answers})
    after = screener.cohort_results(confirmed, nct)[cohort]
    assert after.verdict == "eligible"
    assert {c.id for c in after.criteria if c.confirmed} == {item.id for item in defining}


def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node = out
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return out


def _probes(test: FieldTest) -> list[tuple[float, bool]]:
    """(value, whether the test holds) just inside and just outside its threshold."""
    spec = case_fields()[test.field]
    step = 1 if spec.integer else 0.5 if test.field == "scores.edss" else 0.1
    v = test.value
    if test.op == "between":
        low, high = v
        return [(low, True), (high, True), (low - step, False), (high + step, False)]
    return {
        "at_least": [(v, True), (v - step, False)],
        "at_most": [(v, True), (v + step, False)],
        "above": [(v + step, True), (v, False)],
        "below": [(v - step, True), (v, False)],
    }[test.op]


def fixture_criteria(keep: Callable[[Criterion], bool]) -> list[tuple[str, str, str, Path]]:
    """(trial, cohort, criterion id, fixture) for every criterion of a fixture's cohort kept."""
    catalog = load_catalog()
    out = []
    for nct, cohort_id, path in fixture_cases():
        trial = catalog.trial(nct)
        cohort = next((c for c in trial.cohorts if c.id == cohort_id), None) if trial else None
        for criterion in cohort.criteria if cohort else ():
            if keep(criterion):
                out.append((nct, cohort_id, criterion.id, path))
    return out


def boundary_cases() -> list[tuple[str, str, str, Path]]:
    return fixture_criteria(
        lambda c: isinstance(c.condition, FieldTest) and c.condition.op in NUMERIC
    )


@pytest.mark.parametrize(
    ("nct", "cohort", "criterion_id", "path"), boundary_cases(), ids=lambda v: str(v)[-40:]
)
def test_numeric_criterion_inside_outside_and_missing(
    screener: Screener, nct: str, cohort: str, criterion_id: str, path: Path
) -> None:
    base = yaml.safe_load(path.read_text())
    trial = screener.catalog.trial(nct)
    assert trial is not None
    criterion = trial.criterion(cohort, criterion_id)
    assert criterion is not None and isinstance(criterion.condition, FieldTest)
    test = criterion.condition
    probes = [(round(v, 6), holds) for v, holds in _probes(test)] + [(None, None)]
    for value, holds in probes:
        try:
            case = Case.model_validate(_set(base, test.field, value))
        except ValidationError:
            continue  # a probe outside the case model's own range cannot be entered
        result = screener.cohort_results(case, nct)[cohort]
        status = next(c.status for c in result.criteria if c.id == criterion_id)
        expected = "unknown" if holds is None else "met" if holds else "not_met"
        assert status == expected, (test.field, value)
        others = [c for c in result.criteria if c.id != criterion_id]
        assert all(
            c.status != "unknown" or c.facts.get(test.field, 0) is None or test.field in c.facts
            for c in others
        )


def _choice_probes(test: FieldTest) -> list[tuple[Any, bool]]:
    """(value, holds) pairs for a non-numeric field test: one inside, one outside if any."""
    spec = case_fields()[test.field]
    if test.op == "is":
        return [(test.value, True), (not test.value, False)]
    if test.op == "contains":
        return [([test.value], True), ([], False)]
    inside = list(test.value) if test.op == "in" else [test.value]
    outside = [c for c in spec.choices if c not in map(str, inside)]
    return [(inside[0], True)] + ([(outside[0], False)] if outside else [])


def simple_cases() -> list[tuple[str, str, str, Path]]:
    return fixture_criteria(
        lambda c: (
            isinstance(c.condition, FieldTest)
            and c.condition.op not in NUMERIC
            and c.id != "disease"
        )
    )


def _status(screener: Screener, data: dict[str, Any], nct: str, cohort: str, cid: str) -> str:
    result = screener.cohort_results(Case.model_validate(data), nct)[cohort]
    return next(c.status for c in result.criteria if c.id == cid)


@pytest.mark.parametrize(
    ("nct", "cohort", "criterion_id", "path"), simple_cases(), ids=lambda v: str(v)[-40:]
)
def test_choice_criterion_inside_outside_and_missing(
    screener: Screener, nct: str, cohort: str, criterion_id: str, path: Path
) -> None:
    base = yaml.safe_load(path.read_text())
    trial = screener.catalog.trial(nct)
    criterion = trial.criterion(cohort, criterion_id) if trial else None
    assert criterion is not None and isinstance(criterion.condition, FieldTest)
    test = criterion.condition
    for value, holds in [*_choice_probes(test), (None, None)]:
        data = _set(base, test.field, value)
        if test.field == "subtype" and value is not None:
            data["subtype"] = value
        try:
            status = _status(screener, data, nct, cohort, criterion_id)
        except ValidationError:
            continue  # e.g. a subtype that does not fit the fixture's disease
        expected = "unknown" if holds is None else "met" if holds else "not_met"
        assert status == expected, (test.field, value)


def compound_cases() -> list[tuple[str, str, str, Path]]:
    return fixture_criteria(
        lambda c: c.condition is not None and not isinstance(c.condition, FieldTest)
    )


@pytest.mark.parametrize(
    ("nct", "cohort", "criterion_id", "path"), compound_cases(), ids=lambda v: str(v)[-40:]
)
def test_compound_criterion_is_unknown_when_its_facts_are_missing(
    screener: Screener, nct: str, cohort: str, criterion_id: str, path: Path
) -> None:
    """The fixture decides it; with every fact it reads removed it must become unknown."""
    base = yaml.safe_load(path.read_text())
    trial = screener.catalog.trial(nct)
    criterion = trial.criterion(cohort, criterion_id) if trial else None
    assert criterion is not None
    decided = _status(screener, base, nct, cohort, criterion_id)
    assert decided != "unknown"
    data = base
    for field in criterion.fields():
        data = _set(data, field, None)
        for deciding, _, follows in CANNOT_APPLY:  # the fact that would decide it, too
            if field in follows:
                data = _set(data, deciding, None)
    assert _status(screener, data, nct, cohort, criterion_id) == "unknown"
