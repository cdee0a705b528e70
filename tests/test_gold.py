"""Gold cases: profiles written from the trial dossier, each with the verdict expected per trial.

``gold/cases.yaml`` holds the cases; every expectation names the rule criteria it rests on and
cites the dossier criterion behind them. The test checks the verdict and that the named criteria
are the reason for it (a wrong verdict for a right-looking reason would otherwise pass).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from careligible.case import Case
from careligible.results import CohortResult
from careligible.screening import Screener

GOLD = Path(__file__).parent / "gold" / "cases.yaml"

#: Criterion statuses that rule a case out, by criterion kind.
RULES_OUT = {"inclusion": "not_met", "exclusion": "met"}


def gold_expectations() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """One (label, case, expectation) per expected verdict, in file order."""
    data = yaml.safe_load(GOLD.read_text())
    out = []
    for entry in data["cases"]:
        for expect in entry["expect"]:
            label = f"{entry['case']['id']}:{expect['trial']}"
            out.append((label, entry["case"], expect))
    return out


def _result(screener: Screener, case: Case, expect: dict[str, Any]) -> CohortResult:
    """The trial's result as a screen reports it, or one named cohort's."""
    cohort = expect.get("cohort")
    if cohort is not None:
        return screener.cohort_results(case, expect["trial"])[cohort]
    found = [t for t in screener.screen(case).trials if t.nct_id == expect["trial"]]
    assert len(found) == 1, expect["trial"]
    return found[0]


def _statuses(screener: Screener, case: Case, nct_id: str, criterion: str) -> list[tuple[str, str]]:
    """(kind, status) of one criterion in every cohort of the trial that has it."""
    statuses = [
        (c.kind, str(c.status))
        for result in screener.cohort_results(case, nct_id).values()
        for c in result.criteria
        if c.id == criterion
    ]
    assert statuses, f"{nct_id} has no criterion {criterion!r}"
    return statuses


def test_gold_file_is_well_formed() -> None:
    """Unique pseudonymous ids, at least 25 cases, and a citation on every expectation."""
    ids = [entry["case"]["id"] for entry in yaml.safe_load(GOLD.read_text())["cases"]]
    assert len(set(ids)) == len(ids) >= 25
    assert all(case_id.startswith("gold-") for case_id in ids)
    for label, _case, expect in gold_expectations():
        assert expect["cite"].startswith(expect["trial"]), label
        assert isinstance(expect["criteria"], list), label


@pytest.mark.parametrize(
    ("label", "case_data", "expect"), gold_expectations(), ids=[e[0] for e in gold_expectations()]
)
def test_gold_verdict(
    screener: Screener, label: str, case_data: dict[str, Any], expect: dict[str, Any]
) -> None:
    case = Case.model_validate(case_data)
    result = _result(screener, case, expect)
    detail = [(c.id, c.status) for c in result.criteria if c.status != "met"]
    assert result.verdict == expect["verdict"], (label, expect["cite"], detail)
    for criterion in expect["criteria"]:
        statuses = _statuses(screener, case, expect["trial"], criterion)
        if expect["verdict"] == "ineligible":
            assert any(RULES_OUT[kind] == status for kind, status in statuses), (label, criterion)
        elif expect["verdict"] == "needs_info":
            assert "unknown" in {status for _, status in statuses}, (label, criterion)
        else:
            assert not any(RULES_OUT[kind] == status for kind, status in statuses), (
                label,
                criterion,
            )
