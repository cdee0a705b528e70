"""Criterion statuses aggregate into cohort and trial verdicts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from careligible.case import Case
from careligible.results import CohortResult, CriterionResult
from careligible.screening import Screener
from careligible.verdicts import best_cohort, cohort_verdict, missing_facts, rank_trials


def crit(kind: str, status: str, facts: dict[str, object] | None = None) -> CriterionResult:
    return CriterionResult(
        id=f"{kind}-{status}",
        kind=kind,
        status=status,
        text="t",  # type: ignore[arg-type]
        facts=facts or {},
        source="s",
        rationale="r",
    )


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ([crit("inclusion", "met"), crit("exclusion", "not_met")], "eligible"),
        ([crit("inclusion", "met"), crit("exclusion", "met")], "ineligible"),
        ([crit("inclusion", "not_met"), crit("exclusion", "unknown")], "ineligible"),
        ([crit("inclusion", "unknown"), crit("exclusion", "not_met")], "needs_info"),
        ([crit("inclusion", "met"), crit("exclusion", "unknown")], "needs_info"),
        ([], "eligible"),
    ],
)
def test_cohort_verdict(criteria: list[CriterionResult], expected: str) -> None:
    assert cohort_verdict(criteria) == expected


def test_missing_facts_lists_unknown_facts_of_undecided_criteria_once() -> None:
    criteria = [
        crit("inclusion", "unknown", {"age": None, "sex": "female"}),
        crit("exclusion", "unknown", {"age": None, "labs.egfr": None}),
        crit("inclusion", "met", {"pregnant": None}),
    ]
    assert missing_facts(criteria) == ["age", "labs.egfr"]


def trial(nct: str, verdict: str, missing: int) -> CohortResult:
    return CohortResult(
        nct_id=nct,
        verdict=verdict,
        cohort="c",
        cohort_name="c",  # type: ignore[arg-type]
        missing=[f"f{i}" for i in range(missing)],
        to_confirm=[],
        criteria=[],
    )


def test_a_trial_takes_its_best_cohort_and_trials_rank_eligible_first() -> None:
    assert best_cohort(
        [trial("A", "ineligible", 0), trial("A", "needs_info", 3), trial("A", "needs_info", 1)]
    ).missing == ["f0"]
    ranked = rank_trials(
        [
            trial("A", "ineligible", 0),
            trial("B", "needs_info", 4),
            trial("C", "eligible", 0),
            trial("D", "needs_info", 1),
        ]
    )
    assert [t.nct_id for t in ranked] == ["C", "D", "B", "A"]


def test_items_to_confirm_never_block(mini_screener: Callable[..., Screener]) -> None:
    from conftest import criterion_yaml

    screener = mini_screener(
        criterion_yaml("visits", None), criterion_yaml("adult", "{field: age, at_least: 18}")
    )
    result = screener.screen(Case(id="t-1", disease="mg", age=30)).trials[0]
    assert result.verdict == "eligible"
    assert [c.id for c in result.to_confirm] == ["visits"]
    assert [c.id for c in result.criteria] == ["disease", "adult"]


def test_screening_is_deterministic(screener: Screener) -> None:
    case = Case.model_validate({"id": "d-1", "disease": "mg", "age": 44, "subtype": "generalized"})
    first = screener.screen(case).model_dump_json()
    assert all(screener.screen(case).model_dump_json() == first for _ in range(5))
