"""The engine wrapper handles durable_rules' traps and leaks no case data."""

from __future__ import annotations

import ast
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from careligible.case import Case
from careligible.catalog import Catalog, load_catalog
from careligible.engine import RuleEngine
from careligible.errors import EngineError
from careligible.results import CaseResult
from careligible.rulesets import MAX_RULES_PER_RULESET
from careligible.screening import Screener
from conftest import criterion_yaml

SRC = Path(__file__).resolve().parents[1] / "src" / "careligible"


def test_exactly_one_module_imports_durable_rules() -> None:
    importers = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] in ("durable", "durable_rules_engine") for n in names):
                importers.append(path.name)
    assert set(importers) == {"engine.py"}


def test_a_case_matching_no_rule_is_all_unknown_not_an_error(
    mini_screener: Callable[..., Screener],
) -> None:
    screener = mini_screener(criterion_yaml("c", "{field: labs.egfr, at_least: 30}"))
    result = screener.screen(Case(id="t-1"))  # no disease, no labs: no rule can match
    assert {c.status for c in result.trials[0].criteria} == {"unknown"}


def test_every_criterion_sees_the_case_not_only_the_first_rule(
    mini_screener: Callable[..., Screener],
) -> None:
    criteria = [criterion_yaml(f"c{i}", f"{{field: age, at_least: {i}}}") for i in range(20)]
    result = mini_screener(*criteria).screen(Case(id="t-1", disease="sle", age=10))
    statuses = {c.id: c.status for c in result.trials[0].criteria}
    assert [statuses[f"c{i}"] for i in range(20)] == ["met"] * 11 + ["not_met"] * 9


def test_a_cohort_larger_than_one_ruleset_is_split_and_still_evaluated(
    mini_screener: Callable[..., Screener],
) -> None:
    n = MAX_RULES_PER_RULESET  # twice what fits in one ruleset
    criteria = [criterion_yaml(f"c{i}", f"{{field: age, at_least: {i}}}") for i in range(n)]
    screener = mini_screener(*criteria)
    assert max(screener.engine.ruleset_sizes.values()) <= MAX_RULES_PER_RULESET
    assert len(screener.engine.ruleset_sizes) >= 2
    result = screener.screen(Case(id="t-1", disease="sle", age=50))
    statuses = [c.status for c in result.trials[0].criteria if c.id != "disease"]
    assert statuses == ["met"] * 51 + ["not_met"] * (n - 51)


def test_the_largest_ruleset_of_the_shipped_catalog_runs(screener: Screener) -> None:
    assert max(screener.engine.ruleset_sizes.values()) <= MAX_RULES_PER_RULESET
    screener.screen(Case(id="t-1", disease="sle", age=40))


def test_the_engine_keeps_no_fact_after_each_case(screener: Screener) -> None:
    from careligible.engine import _native

    engine = screener.engine
    screener.screen(Case(id="t-1", disease="mg", age=40))
    assert engine._sessions  # the rulesets the case was asserted into
    for name, sid in engine._sessions.items():
        assert json.loads(_native.get_facts(engine._handles[name], sid)) == []


def test_unmatched_cases_do_not_pile_up_engine_sessions(
    mini_screener: Callable[..., Screener],
) -> None:
    """Thousands of cases no criterion can read once exhausted durable_rules' memory."""
    screener = mini_screener(criterion_yaml("c", "{field: labs.egfr, at_least: 30}"))
    for i in range(3000):
        screener.screen(Case(id=f"t-{i}"))


def test_two_engines_can_coexist_in_one_process(make_rules: Callable[..., Path]) -> None:
    rules = make_rules(criterion_yaml("c", "{field: age, at_least: 18}"))
    first, second = RuleEngine(load_catalog(rules)), RuleEngine(load_catalog(rules))
    assert first.ruleset_sizes == second.ruleset_sizes


def test_engine_errors_carry_no_case_data(
    monkeypatch: pytest.MonkeyPatch, screener: Screener
) -> None:
    from careligible import engine as engine_module
    from careligible.errors import EngineError

    def explode(handle: int, fact: str) -> None:
        raise RuntimeError(f"Could not assert {fact}, error code: 303")

    # A screener of its own: the shared one may have met this pattern of facts before and would
    # answer from its memo without asserting anything.
    fresh = Screener(screener.catalog)
    monkeypatch.setattr(engine_module._native, "assert_fact", explode)
    with pytest.raises(EngineError) as info:
        fresh.screen(Case(id="secret-id-77", disease="mg", weight_kg=123.456))
    assert "secret-id-77" not in str(info.value) and "123.456" not in str(info.value)
    assert "303" in str(info.value)
    assert engine_module  # the module under test


def test_a_cohort_of_another_disease_is_ruled_out_by_its_disease_alone(
    screener: Screener,
) -> None:
    result = screener.screen(Case(id="t-1", disease="mg", age=40))
    sle_trial = next(t for t in result.trials if t.nct_id == "NCT05846347")  # SLE only
    assert sle_trial.verdict == "ineligible"
    assert [(c.id, c.status) for c in sle_trial.criteria] == [("disease", "not_met")]
    assert sle_trial.to_confirm == []
    assert sle_trial.not_evaluated > 10
    assert sle_trial.not_evaluated_note is not None
    mg_trial = next(t for t in result.trials if t.nct_id == "NCT06193889")  # gMG
    assert mg_trial.not_evaluated == 0 and len(mg_trial.criteria) > 1


def test_a_case_with_no_disease_is_evaluated_in_every_cohort(screener: Screener) -> None:
    result = screener.screen(Case(id="t-1", age=40))
    assert all(t.not_evaluated == 0 for t in result.trials)
    assert all(
        c.status == "unknown" for t in result.trials for c in t.criteria if c.id == "disease"
    )


def _example_cases() -> list[Case]:
    from careligible.batch import parsed_cases

    repo = SRC.parents[1]
    files = [*sorted((repo / "cases").glob("*.yaml")), repo / "cases" / "batch.jsonl"]
    return [p.case for p in parsed_cases(files) if p.case is not None]


@pytest.fixture(scope="module")
def full_screener(catalog: Catalog) -> Screener:
    return Screener(catalog, disease_gate=False)


@pytest.mark.parametrize("disease", ["sle", "iim", "ssc", "mg", "ms", "ra", None])
def test_the_disease_gate_changes_no_verdict(
    screener: Screener, full_screener: Screener, disease: str | None
) -> None:
    """Every example case, relabelled with each disease, gets the same verdict per trial with the
    gate as when every cohort is evaluated in full."""
    for case in _example_cases():
        data = case.model_dump(exclude_none=True)
        data["disease"] = disease
        data.pop("subtype", None)
        relabelled = Case.model_validate(data)
        gated = {t.nct_id: t.verdict for t in screener.screen(relabelled).trials}
        every = {t.nct_id: t.verdict for t in full_screener.screen(relabelled).trials}
        assert gated == every, case.id


def test_the_gate_only_leaves_out_criteria_it_would_not_need(screener: Screener) -> None:
    """Each status the gated engine reports equals the full evaluation's."""
    for case in _example_cases():
        facts = screener.facts(case)
        gated = screener.engine.evaluate(facts)
        every = screener.engine.evaluate(facts, gate=False)
        assert set(gated) <= set(every)
        assert all(every[key] == status for key, status in gated.items())


def test_criteria_with_the_same_condition_fire_one_rule_pair(
    mini_screener: Callable[..., Screener],
) -> None:
    same = "{field: age, at_least: 18}"
    screener = mini_screener(
        criterion_yaml("adult", same),
        criterion_yaml("adult_again", same),
        criterion_yaml("older", "{field: age, at_least: 65}"),
    )
    cohort_rules = {n: s for n, s in screener.engine.ruleset_sizes.items() if n != "first"}
    assert sum(cohort_rules.values()) == 4  # two conditions, a met and a not-met rule each
    statuses = {c.id: c.status for c in screener.screen(Case(id="t", age=30)).trials[0].criteria}
    assert statuses == {
        "disease": "unknown",
        "adult": "met",
        "adult_again": "met",
        "older": "not_met",
    }


def test_an_engine_starts_no_background_threads(make_rules: Callable[..., Path]) -> None:
    """durable_rules' own host runs pending actions from two threads of its own, racing the
    screening thread for a case's rule firings; the engine's host must start none."""
    rules = make_rules(criterion_yaml("c", "{field: age, at_least: 18}"))
    before = set(threading.enumerate())
    engine = RuleEngine(load_catalog(rules))
    time.sleep(0.3)  # durable_rules' threads would have started after 0.1 s
    assert set(threading.enumerate()) - before == set()
    assert engine.ruleset_sizes


def test_a_fact_seen_before_is_answered_without_the_engine(
    monkeypatch: pytest.MonkeyPatch, make_rules: Callable[..., Path]
) -> None:
    from careligible import engine as engine_module

    screener = Screener(load_catalog(make_rules(criterion_yaml("c", "{field: age, at_least: 18}"))))
    first = screener.screen(Case(id="t-1", disease="sle", age=40))

    def refuse(handle: int, fact: str) -> None:
        raise AssertionError("the engine was asked again")

    monkeypatch.setattr(engine_module._native, "assert_fact", refuse)
    again = screener.screen(Case(id="t-2", disease="sle", age=41, sex="female"))  # 41 as 40

    def statuses(result: CaseResult) -> list[tuple[str, str]]:
        return [(c.id, c.status) for t in result.trials for c in t.criteria]

    assert statuses(again) == statuses(first) and ("c", "met") in statuses(first)
    assert again.trials[0].criteria[-1].facts == {"age": 41}  # the facts are the case's own
    with pytest.raises(EngineError, match="AssertionError"):  # a new fact: asked
        screener.screen(Case(id="t-3", disease="sle", age=17))


def test_the_memo_of_engine_results_stays_within_its_bound(
    make_rules: Callable[..., Path],
) -> None:
    rules = make_rules(criterion_yaml("c", "{field: age, at_least: 18}"))
    bounded, fresh = Screener(load_catalog(rules)), Screener(load_catalog(rules))
    bounded.engine._memo_limit = 3
    for age in [*range(10, 30), *range(10, 30)]:
        case = Case(id="t-1", disease="sle", age=age)
        assert bounded.screen(case).trials == fresh.screen(case).trials
        assert all(len(memo) <= 3 for memo in bounded.engine._memo.values())
