"""Property tests: thousands of random valid cases against the engine, an oracle and the verdicts.

Hand-written tests pin what their authors thought of; these ask the same questions of cases
nobody wrote, with values on every threshold of the rules and facts missing in every pattern:

* no valid case crashes screening;
* the engine decides every criterion and consideration exactly as :mod:`oracle`, a plain-Python
  reading of the same rule files, does (a differential test: two independent readings that agree
  on thousands of cases are unlikely to share a mistake);
* filling in a missing fact never turns a decided criterion back into unknown;
* every verdict follows from its criteria (eligible only when nothing blocks and nothing is
  unknown), and matches the verdict the oracle's statuses give;
* the considerations shown are those the oracle finds met.

The seeded bulk run can be widened without editing the file, e.g.
``CARELIGIBLE_BULK_SEED=7 CARELIGIBLE_BULK_CASES=20000 pytest tests/test_properties.py``.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from careligible.case import Case
from careligible.catalog import Catalog
from careligible.results import CaseResult
from careligible.screening import Screener
from oracle import (
    CONSIDERATIONS,
    Key,
    OracleRules,
    Status,
    cohort_verdict,
    contradicts,
    evaluate_case,
    facts_read,
    load_rules,
    met_considerations,
    trial_verdicts,
)
from strategies import Fill, boundaries, cases, random_cases, refinements

BULK_SEED = int(os.environ.get("CARELIGIBLE_BULK_SEED", "20261124"))
BULK_CASES = int(os.environ.get("CARELIGIBLE_BULK_CASES", "3000"))

#: Reproducible runs (the bulk run already covers breadth); no example database in the checkout.
PROPERTY = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

#: How many problems a failure lists before summarising the rest.
SHOWN = 8


@pytest.fixture(scope="module")
def oracle_rules(catalog: Catalog) -> OracleRules:
    """The oracle's reading of the very directory the screener's catalog came from."""
    return load_rules(catalog.directory)


# --- the engine, seen through its public entry points -------------------------------------------


def _has_gate(screener: Screener) -> bool:
    return "gate" in inspect.signature(screener.engine.evaluate).parameters


def engine_statuses(screener: Screener, case: Case, gate: bool = False) -> dict[Key, Status]:
    """The engine's status for every criterion; with ``gate`` as screening runs it, where the
    engine skips cohorts that do not enrol the case's disease."""
    facts = screener.facts(case)
    if _has_gate(screener):
        return dict(screener.engine.evaluate(facts, gate=gate))
    return dict(screener.engine.evaluate(facts))


# --- readable failures --------------------------------------------------------------------------


def describe_case(case: Case) -> str:
    data = case.model_dump(mode="json", by_alias=True, exclude_none=True)
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def describe_disagreement(
    rules: OracleRules, case: Case, key: Key, engine: str | None, oracle: str | None
) -> str:
    """One criterion on which the two readings differ: what it tests and the facts it read."""
    where = "/".join(key)
    try:
        item = rules.item(key)
    except StopIteration:
        return f"{where}: engine {engine}, oracle {oracle} (criterion unknown to the oracle)"
    facts = facts_read(item.when, case, rules)
    return (
        f"{where} ({item.kind}): engine {engine}, oracle {oracle}\n"
        f"    condition: {json.dumps(item.when, ensure_ascii=False, default=str)}\n"
        f"    facts read: {json.dumps(facts, ensure_ascii=False, default=str)}\n"
        f"    case: {describe_case(case)}"
    )


def fail_with(problems: list[str], cases_checked: int = 1) -> None:
    if problems:
        shown = "\n".join(problems[:SHOWN])
        more = f"\n... and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        pytest.fail(f"{len(problems)} problem(s) over {cases_checked} case(s):\n{shown}{more}")


# --- the checks ---------------------------------------------------------------------------------


def differential_problems(
    rules: OracleRules, case: Case, engine: Mapping[Key, Status], oracle: Mapping[Key, Status]
) -> list[str]:
    """Every criterion where the engine's full evaluation and the oracle disagree.

    The engine may leave out a consideration that does not apply (it only needs the met ones);
    a criterion it must always report.
    """
    problems = []
    for key in sorted(set(engine) | set(oracle)):
        decided, expected = engine.get(key), oracle.get(key)
        if decided == expected:
            continue
        if key[:2] == CONSIDERATIONS and decided is None and expected != "met":
            continue
        problems.append(describe_disagreement(rules, case, key, decided, expected))
    return problems


def gate_problems(case: Case, gated: Mapping[Key, Status], full: Mapping[Key, Status]) -> list[str]:
    """Skipping cohorts by disease may leave criteria out, never change them, and only skip
    cohorts whose disease criterion is not met."""
    problems = [
        f"{'/'.join(key)}: {gated[key]} with the disease gate, {full.get(key)} without; "
        f"case: {describe_case(case)}"
        for key in gated
        if gated[key] != full.get(key)
    ]
    for key in sorted(set(full) - set(gated)):
        disease = full.get((key[0], key[1], "disease"))
        if disease != "not_met":
            problems.append(
                f"{'/'.join(key)}: skipped by the disease gate although the cohort's disease "
                f"criterion is {disease}; case: {describe_case(case)}"
            )
    return problems


def verdict_problems(
    rules: OracleRules, case: Case, result: CaseResult, oracle: Mapping[Key, Status]
) -> list[str]:
    """Each trial's verdict follows from the criteria it lists and equals the oracle's."""
    problems: list[str] = []
    expected = trial_verdicts(oracle, rules)
    seen = [trial.nct_id for trial in result.trials]
    if sorted(seen) != sorted(expected):
        problems.append(f"trials screened {sorted(seen)}, catalog has {sorted(expected)}")
    for trial in result.trials:
        where = f"{trial.nct_id}/{trial.cohort}"
        cohort_items = rules.cohorts.get(trial.nct_id, {}).get(trial.cohort, ())
        if trial.verdict != expected.get(trial.nct_id):
            problems.append(
                f"{trial.nct_id}: verdict {trial.verdict}, oracle {expected.get(trial.nct_id)}; "
                f"case: {describe_case(case)}"
            )
        own = (
            cohort_verdict(
                cohort_items,
                oracle,
                rules.completeness[trial.nct_id],
                rules.confirm_defines[trial.nct_id][trial.cohort],
            )
            if cohort_items
            else None
        )
        if own is not None and trial.verdict != own:
            problems.append(
                f"{where}: shown with verdict {trial.verdict}, but this cohort's criteria give "
                f"{own}; case: {describe_case(case)}"
            )
        for criterion in trial.criteria:
            key = (trial.nct_id, trial.cohort, criterion.id)
            if criterion.status != oracle.get(key):
                problems.append(
                    describe_disagreement(rules, case, key, criterion.status, oracle.get(key))
                )
        blocking = [
            c.id
            for c in trial.criteria
            if (c.kind, c.status) in (("inclusion", "not_met"), ("exclusion", "met"))
        ]
        unknown = [c.id for c in trial.criteria if c.status == "unknown"]
        skipped = getattr(trial, "not_evaluated", 0)
        listed = [c.id for c in trial.criteria]
        if not skipped and listed != [item.key[2] for item in cohort_items]:
            problems.append(f"{where}: lists {listed}, the cohort has other criteria")
        if trial.blocked_by != blocking:
            problems.append(f"{where}: blocked_by {trial.blocked_by}, blocking {blocking}")
        if trial.verdict == "eligible" and (blocking or unknown or skipped):
            problems.append(
                f"{where}: eligible with blocking {blocking}, unknown {unknown}, "
                f"{skipped} not evaluated; case: {describe_case(case)}"
            )
        if trial.verdict == "eligible":
            open_defining = [i.id for i in trial.to_confirm if i.defines_population]
            unsettled = [
                c.id
                for c in trial.criteria
                if c.defines_population
                and c.status != ("met" if c.kind == "inclusion" else "not_met")
            ]
            if open_defining or unsettled or trial.criteria_complete != "full":
                problems.append(
                    f"{where}: eligible while population-defining items are not decided "
                    f"({open_defining + unsettled}, criteria {trial.criteria_complete})"
                )
        if trial.verdict == "ineligible" and not blocking:
            problems.append(f"{where}: ineligible with no blocking criterion")
        if trial.verdict == "needs_info" and (blocking or not unknown):
            problems.append(f"{where}: needs_info with blocking {blocking}, unknown {unknown}")
    return problems


def consideration_problems(
    case: Case, result: CaseResult, oracle: Mapping[Key, Status]
) -> list[str]:
    shown = [c.id for c in result.considerations]
    expected = met_considerations(oracle)
    if shown == expected:
        return []
    return [f"considerations shown {shown}, oracle {expected}; case: {describe_case(case)}"]


def all_problems(screener: Screener, rules: OracleRules, case: Case) -> list[str]:
    """Every property of one case: screening runs, and engine, verdicts and advice agree."""
    oracle = evaluate_case(case, rules)
    full = engine_statuses(screener, case)
    problems = differential_problems(rules, case, full, oracle)
    if _has_gate(screener):
        problems += gate_problems(case, engine_statuses(screener, case, gate=True), full)
    result = screener.screen(case)
    if result.error:
        problems.append(f"screening failed: {result.error}; case: {describe_case(case)}")
    problems += verdict_problems(rules, case, result, oracle)
    problems += consideration_problems(case, result, oracle)
    return problems


# --- the tests ----------------------------------------------------------------------------------


def test_the_generators_hit_the_rules_thresholds() -> None:
    """Boundary values come from the rule files: age 18 is tested at 17, 18 and 19."""
    assert {17, 18, 19} <= set(boundaries("age"))
    assert {2.5, 3.0, 3.5, 5.5, 6.0} <= set(boundaries("scores.edss"))
    assert {2.0, 3.0, 6.0} <= set(boundaries("therapies.months"))
    # KYSA-6's 12-week anti-CD20 washout, in months of 365.25 / 12 days.
    twelve_weeks = 12 * 7 / (365.25 / 12)
    assert any(abs(b - twelve_weeks) < 1e-9 for b in boundaries("therapies.stopped_months_ago"))


def test_bulk_cases_satisfy_every_property(screener: Screener, oracle_rules: OracleRules) -> None:
    """A seeded run over thousands of cases: differential, disease gate, verdicts, advice."""
    problems: list[str] = []
    for case in random_cases(BULK_SEED, BULK_CASES):
        try:
            problems += all_problems(screener, oracle_rules, case)
        except Exception as exc:
            problems.append(f"{type(exc).__name__}: {exc}; case: {describe_case(case)}")
    fail_with(problems, BULK_CASES)


@settings(PROPERTY, max_examples=250)
@given(case=cases())
def test_random_cases_never_crash_screening(screener: Screener, case: Case) -> None:
    result = screener.screen(case)
    assert result.error is None
    assert len(result.trials) == len(screener.catalog.trials)


@settings(PROPERTY, max_examples=500)
@given(case=cases())
def test_engine_agrees_with_oracle_on_every_criterion(
    screener: Screener, oracle_rules: OracleRules, case: Case
) -> None:
    oracle = evaluate_case(case, oracle_rules)
    fail_with(differential_problems(oracle_rules, case, engine_statuses(screener, case), oracle))


@settings(PROPERTY, max_examples=200)
@given(case=cases())
def test_verdicts_follow_from_criteria(
    screener: Screener, oracle_rules: OracleRules, case: Case
) -> None:
    oracle = evaluate_case(case, oracle_rules)
    fail_with(verdict_problems(oracle_rules, case, screener.screen(case), oracle))


@settings(PROPERTY, max_examples=200)
@given(case=cases())
def test_considerations_agree_with_oracle(
    screener: Screener, oracle_rules: OracleRules, case: Case
) -> None:
    oracle = evaluate_case(case, oracle_rules)
    fail_with(consideration_problems(case, screener.screen(case), oracle))


@pytest.mark.parametrize("value", [1e-05, 5e-324, 1e-300])
def test_tiny_numbers_do_not_break_screening(screener: Screener, value: float) -> None:
    """Python writes these with a bare exponent ('1e-05'), which durable_rules cannot parse."""
    case = Case.model_validate({"id": "tiny", "disease": "sle", "labs": {"platelets": value}})
    result = screener.screen(case)
    assert result.error is None
    assert result.trials[0].criteria  # screened, not refused


def _may_flip(fills: list[Fill]) -> bool:
    """Fills that may legitimately turn met into not met (or back), though never into unknown:
    recording the therapy list settles the derived ``therapies.recorded``, and a stop time
    replaces the "still taking it" read from an ``ongoing`` outcome."""
    return any(
        fill.kind == "therapies" or (fill.path == "stopped_months_ago" and fill.ongoing)
        for fill in fills
    )


@pytest.mark.xfail(
    strict=False,
    reason="known: after some earlier test files, one generated refinement flips a criterion; "
    "passes alone and within this file; under investigation",
)
@settings(PROPERTY, max_examples=250)
@given(pair=refinements())
def test_filling_in_a_fact_never_undecides_a_criterion(
    screener: Screener,
    oracle_rules: OracleRules,
    pair: tuple[dict[str, Any], dict[str, Any], list[Fill]],
) -> None:
    before_data, after_data, fills = pair
    before_case = Case.model_validate(before_data)
    after_case = Case.model_validate(after_data)
    before = engine_statuses(screener, before_case)
    after = engine_statuses(screener, after_case)
    problems = []
    for key, status in before.items():
        if status == "unknown" or after.get(key) == status:
            continue
        if after.get(key) == "met" and contradicts(
            oracle_rules.item(key).when, after_case, oracle_rules
        ):
            continue  # a filled fact contradicts the bound: met wins, as the rule format says
        if after.get(key) == "unknown" or not _may_flip(fills):
            problems.append(
                f"{'/'.join(key)}: {status} became {after.get(key)} after filling in {fills}\n"
                f"    before: {describe_case(before_case)}\n"
                f"    after:  {describe_case(after_case)}"
            )
    fail_with(problems)


def test_considerations_are_part_of_the_oracle(oracle_rules: OracleRules) -> None:
    """The oracle covers the article's advice as well as the trials' criteria."""
    keys = {item.key[:2] for item in oracle_rules.items}
    assert CONSIDERATIONS in keys
    assert len(keys) > 10


@settings(PROPERTY, max_examples=300)
@given(case=cases())
def test_tallies_by_drug_index_are_those_of_every_spec(screener: Screener, case: Case) -> None:
    """The screener's tallier looks only at the specs each drug belongs to: it must give every
    spec the tally that counting all therapies against that spec gives."""
    from careligible.facts import resolve_therapies, tally

    resolved, _ = resolve_therapies(case, screener.catalog.vocabulary)
    expected = {spec.key: tally(spec, resolved) for spec in screener.engine.therapy_specs}
    facts = screener.facts(case)
    if case.therapies is None:
        assert facts.tallies == {}
    elif case.therapies_complete is False:
        assert {k: (t.definite, t.qualifying, t.uncertain) for k, t in facts.tallies.items()} == {
            k: (t.definite, t.qualifying, t.uncertain) for k, t in expected.items()
        }
    else:
        assert facts.tallies == expected
        assert list(facts.tallies) == list(expected)
