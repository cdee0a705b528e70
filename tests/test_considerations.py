"""The article's considerations fire only when their condition holds; ranking and ask-next."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from careligible.case import Case
from careligible.cli import main
from careligible.results import TrialResult
from careligible.screening import Screener
from careligible.verdicts import ask_next, rank_trials

DOCS = Path(__file__).resolve().parents[1] / "docs"

RTX_FAILED = {"therapies": [{"drug": "rituximab", "outcome": "inadequate_response", "months": 6}]}
RTX_INTOLERANT = {"therapies": [{"drug": "rituximab", "outcome": "intolerance", "months": 1}]}

CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "b_cell_driven_disease": ({"disease": "ssc"}, {"disease": "mg"}),
    "neurological_autoimmunity": ({"disease": "ms"}, {"disease": "sle"}),
    "t_cell_driven_caveat": ({"disease": "t1d"}, {"disease": "sle"}),
    "plasma_cell_source": (
        {"disease": "sle", **RTX_FAILED},
        {"disease": "sle", "labs": {"cd19_b_cells_detectable": True}},
    ),
    "no_trial_in_table": ({"disease": "sjogren"}, {"disease": "iim"}),
    "mab_refractory": ({"disease": "sle", **RTX_FAILED}, {"disease": "sle", **RTX_INTOLERANT}),
    "mab_intolerance_only": (
        {"disease": "sle", **RTX_INTOLERANT},
        {"disease": "sle", **RTX_FAILED},
    ),
    "therapy_history_unknown": ({"disease": "sle"}, {"disease": "sle", "therapies": []}),
    "irreversible_damage": (
        {"organ_damage": {"irreversible": ["pulmonary_fibrosis"]}},
        {"organ_damage": {"irreversible": []}},
    ),
    "active_lupus_nephritis": (
        {"disease": "sle", "lupus_nephritis": {"active": True}},
        {"disease": "sle", "lupus_nephritis": {"active": False}},
    ),
    "lymphodepletion_fitness": (
        {"organ_function": {"dialysis": True}},
        {"organ_function": {"dialysis": False}},
    ),
    "infection_screening": (
        {"infections": {"hbv": "treated"}},
        {"infections": {"hbv": "negative"}},
    ),
    "off_the_shelf_option": ({"disease": "iim"}, {"disease": "ms"}),
    "durability_unknown": ({"disease": "mg"}, {"disease": "ra"}),
}


def fired(screener: Screener, data: dict[str, Any]) -> set[str]:
    result = screener.screen(Case.model_validate({"id": "k-1", **data}))
    return {c.id for c in result.considerations}


def test_every_consideration_has_a_firing_and_a_quiet_case(screener: Screener) -> None:
    assert set(CASES) == {c.id for c in screener.catalog.considerations}


@pytest.mark.parametrize("consideration", sorted(CASES))
def test_consideration_fires_only_when_its_condition_holds(
    screener: Screener, consideration: str
) -> None:
    fires, quiet = CASES[consideration]
    assert consideration in fired(screener, fires)
    assert consideration not in fired(screener, quiet)


def test_considerations_cite_the_article(screener: Screener) -> None:
    for rule in screener.catalog.considerations:
        assert rule.citation.startswith("Rampotas 2025, "), rule.id


def trial(nct: str, verdict: str, missing: list[str]) -> TrialResult:
    return TrialResult(
        nct_id=nct,
        verdict=verdict,
        cohort="c",
        cohort_name="c",  # type: ignore[arg-type]
        missing=missing,
        to_confirm=[],
        criteria=[],
    )


def test_ties_are_broken_by_fit_with_the_considerations() -> None:
    trials = [
        trial("CD19", "needs_info", ["a"]),
        trial("BCMA", "needs_info", ["b"]),
        trial("ELIG", "eligible", []),
    ]
    ranked = rank_trials(trials, fit=lambda nct: 1 if nct == "BCMA" else 0)
    assert [t.nct_id for t in ranked] == ["ELIG", "BCMA", "CD19"]


def test_bcma_constructs_rank_first_when_plasma_cells_are_suspected(screener: Screener) -> None:
    case = Case.model_validate({"id": "k-2", "disease": "sle", **RTX_FAILED})
    ranked = [t for t in screener.screen(case).trials if t.verdict == "needs_info"]
    targets = {t.nct_id: screener.catalog.trial(t.nct_id).meta.targets for t in ranked}  # type: ignore[union-attr]
    for before, after in itertools.pairwise(ranked):
        if (before.verdict, len(before.missing)) == (after.verdict, len(after.missing)):
            assert "BCMA" in targets[before.nct_id] or "BCMA" not in targets[after.nct_id]


def test_ask_next_puts_the_most_decisive_fact_first() -> None:
    trials = [
        trial("A", "needs_info", ["labs.egfr", "age"]),
        trial("B", "needs_info", ["age"]),
        trial("C", "ineligible", ["sex"]),
        trial("D", "needs_info", ["age", "sex"]),
    ]
    assert ask_next(trials) == [("age", ["A", "B", "D"]), ("labs.egfr", ["A"]), ("sex", ["D"])]


def test_a_single_non_disease_blocker_is_named(screener: Screener) -> None:
    case = Case.model_validate({"id": "k-3", "disease": "mg", "age": 80})
    result = {t.nct_id: t for t in screener.screen(case).trials}
    kysa = result["NCT06193889"]
    assert kysa.verdict == "ineligible" and "age_18_75" in kysa.blocked_by


def test_the_catalog_holds_every_table1_trial_and_nct05859997(screener: Screener) -> None:
    table = re.findall(r"NCT\d{8}", (DOCS / "table1.md").read_text())
    assert len(set(table)) == 18
    assert set(table) <= {t.nct_id for t in screener.catalog.trials}


def test_trials_command_lists_the_catalog_with_status() -> None:
    result = CliRunner().invoke(main, ["trials", "--format", "json"])
    rows = json.loads(result.stdout)
    assert len(rows) == 18 and [r["row"] for r in rows[:17]] == list(range(1, 18))
    assert all(r["status"] and r["status_as_of"] for r in rows)


def test_rules_show_prints_text_condition_rationale_and_source() -> None:
    result = CliRunner().invoke(main, ["rules", "show", "NCT06193889/qmg_ge_11"])
    assert "condition: scores.qmg ≥ 11" in result.stdout and "rationale:" in result.stdout
    assert "source: https://clinicaltrials.gov/study/NCT06193889" in result.stdout
    missing = CliRunner().invoke(main, ["rules", "show", "NCT06193889/nope"])
    assert missing.exit_code == 1
