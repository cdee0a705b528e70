"""The article's considerations fire only when their condition holds; ranking and ask-next."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from careligible.case import Case
from careligible.cli import main
from careligible.results import CohortResult
from careligible.screening import Screener
from careligible.verdicts import ask_next, rank_trials

DOCS = Path(__file__).resolve().parents[1] / "docs"

RTX_FAILED = {"therapies": [{"drug": "rituximab", "outcome": "inadequate_response", "months": 6}]}
RTX_INTOLERANT = {"therapies": [{"drug": "rituximab", "outcome": "intolerance", "months": 1}]}

CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "b_cell_driven_disease": ({"disease": "ssc"}, {"disease": "mg"}),
    "neurological_autoimmunity": ({"disease": "ms"}, {"disease": "sle"}),
    "t_cell_driven_caveat": ({"disease": "t1d"}, {"disease": "ms"}),
    "plasma_cell_source": ({"disease": "mg"}, {"age": 40, **RTX_FAILED}),
    "no_trial_in_table": ({"disease": "sjogren"}, {"disease": "ra"}),
    "ra_most_severe_only": ({"disease": "ra"}, {"disease": "sle"}),
    "mab_refractory": ({"disease": "sle", **RTX_FAILED}, {"disease": "sle", **RTX_INTOLERANT}),
    "mab_intolerance_only": (
        {"disease": "sle", **RTX_INTOLERANT},
        {"disease": "sle", **RTX_FAILED},
    ),
    "therapy_history_unknown": ({"disease": "sle"}, {"disease": "sle", "therapies": []}),
    "irreversible_damage": (
        {"organ_damage": {"sdi": 2}},
        {"organ_damage": {"irreversible": [], "sdi": 0, "ild": False, "pah": False}},
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


def trial(nct: str, verdict: str, missing: list[str]) -> CohortResult:
    return CohortResult(
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


def test_the_plasma_cell_caveat_reorders_no_trials(screener: Screener) -> None:
    """The caveat is about where a disease's autoantibodies come from, not a reading of the
    patient's antibody failure, so it prefers no construct."""
    (rule,) = [c for c in screener.catalog.considerations if c.id == "plasma_cell_source"]
    assert rule.prefer is None


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
    assert all(r["status"] for r in rows)
    # A status no source dates has no date: never the day an undated copy was read.
    undated = {r["nct_id"] for r in rows if not r.get("status_as_of")}
    assert {"NCT06138132", "NCT05859997", "NCT06153095"} <= undated


def test_rules_show_prints_text_condition_rationale_and_source() -> None:
    result = CliRunner().invoke(main, ["rules", "show", "NCT06193889/qmg_ge_11"])
    assert "condition: scores.qmg ≥ 11" in result.stdout and "rationale:" in result.stdout
    # The source cited is the copy whose text was read, which names the registry record it copies.
    assert "source: https://github.com/qisichen74-wq/neuroimmune-cart-hub/" in result.stdout
    assert "https://clinicaltrials.gov/study/NCT06193889" in result.stdout
    missing = CliRunner().invoke(main, ["rules", "show", "NCT06193889/nope"])
    assert missing.exit_code == 1
