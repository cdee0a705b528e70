"""Honest verdicts: a trial is *eligible* only on what was checked, and prior therapy is counted
as protocols count it (agents, classes, one glucocorticoid, rescue therapy apart, strict bounds,
weeks in weeks), with one-sided decisions, confirmations, facts that cannot apply and ranking by
recruitment status."""

from __future__ import annotations

import csv
import io
import json
import shutil
import textwrap
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from careligible.case import Case
from careligible.catalog import default_rules_dir, load_catalog
from careligible.errors import RulesError
from careligible.explain import show_value
from careligible.fields import case_fields
from careligible.report.content import show_value as report_value
from careligible.screening import Screener
from careligible.verdicts import INCOMPLETE_HISTORY
from careligible.vocabulary import load_vocabulary
from careligible.writers import CsvWriter, JsonLinesWriter
from conftest import TRIAL_HEAD, criterion_yaml

Build = Callable[..., Screener]


def status(screener: Screener, case: dict[str, Any], cid: str = "c") -> str:
    result = screener.cohort_results(Case.model_validate({"id": "p1", **case}), "NCT00000001")
    return next(c.status for c in result["main"].criteria if c.id == cid)


def failed(*drugs: str, **extra: Any) -> list[dict[str, Any]]:
    return [{"drug": d, "outcome": "inadequate_response", **extra} for d in drugs]


# --- counting prior therapy ---------------------------------------------------------------------


def test_all_systemic_glucocorticoids_are_one_therapy(mini_screener: Build) -> None:
    two = "{therapies: {classes: [glucocorticoid], outcome: [inadequate_response]}, at_least: 2}"
    screener = mini_screener(criterion_yaml("c", two))
    case = {"disease": "mg", "therapies": failed("prednisone", "methylprednisolone")}
    assert status(screener, case) == "not_met"


def test_salts_and_forms_of_one_ingredient_are_one_agent(mini_screener: Build) -> None:
    two = "{therapies: {classes: [antimetabolite], outcome: [inadequate_response]}, at_least: 2}"
    screener = mini_screener(criterion_yaml("c", two))
    same = {"disease": "sle", "therapies": failed("MMF", "Myfortic")}
    other = {"disease": "sle", "therapies": failed("MMF", "azathioprine")}
    assert (status(screener, same), status(screener, other)) == ("not_met", "met")


def test_types_of_therapy_count_classes_not_agents(mini_screener: Build) -> None:
    when = (
        "{therapies: {classes: [immunosuppressant], outcome: [inadequate_response], "
        "count: classes}, at_least: 2}"
    )
    screener = mini_screener(criterion_yaml("c", when))
    one_class = {"disease": "sle", "therapies": failed("MMF", "azathioprine")}
    two_classes = {"disease": "sle", "therapies": failed("MMF", "tacrolimus")}
    assert (status(screener, one_class), status(screener, two_classes)) == ("not_met", "met")


def test_an_unconfirmed_history_can_meet_a_count_but_never_rule_it_out(
    mini_screener: Build,
) -> None:
    two = "{therapies: {classes: [antimetabolite], outcome: [inadequate_response]}, at_least: 2}"
    screener = mini_screener(criterion_yaml("c", two))
    one = {"disease": "sle", "therapies": failed("azathioprine")}
    both = {"disease": "sle", "therapies": failed("azathioprine", "methotrexate")}
    assert status(screener, one) == "not_met"  # a listed history is complete by default
    assert status(screener, {**one, "therapies_complete": True}) == "not_met"
    assert status(screener, {**one, "therapies_complete": False}) == "unknown"
    assert status(screener, {**both, "therapies_complete": False}) == "met"
    assert status(screener, {"disease": "sle", "therapies": [], "therapies_complete": False}) == (
        "unknown"
    )


def test_an_unconfirmed_history_is_asked_about_and_shown(mini_screener: Build) -> None:
    never = "{therapies: {classes: [anti_cd20_mab]}, at_least: 1}"
    screener = mini_screener(criterion_yaml("c", never, kind="exclusion"))
    case = Case.model_validate(
        {
            "id": "p1",
            "disease": "sle",
            "therapies": failed("azathioprine"),
            "therapies_complete": False,
        }
    )
    result = screener.cohort_results(case, "NCT00000001")["main"]
    assert result.verdict == "needs_info"  # an anti-CD20 not listed is not known, not "not tried"
    assert INCOMPLETE_HISTORY in result.missing
    criterion = next(c for c in result.criteria if c.id == "c")
    read = next(iter(criterion.facts.values()))
    assert "history not confirmed complete" in show_value(read)
    assert "history not confirmed complete" in report_value(read)  # and so in the referral
    assert "therapies_complete" not in case_fields()  # not a fact a rule may test


def test_rescue_and_complement_therapy_are_no_immunosuppressant() -> None:
    vocabulary, problems = load_vocabulary(default_rules_dir() / "vocabulary" / "drugs.yaml")
    assert not problems
    for name in ("IVIG", "plasma exchange", "prednisone", "efgartigimod", "eculizumab"):
        drug = vocabulary.lookup(name)
        assert drug is not None and "immunosuppressant" not in drug.names, name
    assert "immunomodulator" in vocabulary.lookup("efgartigimod").names  # type: ignore[union-attr]
    assert "b_cell_targeting" not in vocabulary.lookup("bortezomib").names  # type: ignore[union-attr]


def test_a_biosimilar_suffix_names_its_reference_drug() -> None:
    vocabulary, _ = load_vocabulary(default_rules_dir() / "vocabulary" / "drugs.yaml")
    assert vocabulary.lookup("rituximab-abbs").key == "rituximab"  # type: ignore[union-attr]
    assert vocabulary.lookup("Infliximab-dyyb").key == "infliximab"  # type: ignore[union-attr]
    assert vocabulary.lookup("notadrug-abbs") is None


@pytest.mark.parametrize(
    ("bound", "months", "expected"),
    [
        ("more_than_months: 6", 6, "not_met"),
        ("more_than_months: 6", 6.1, "met"),
        ("min_months: 6", 6, "met"),
        ("min_weeks: 12", 2.7, "not_met"),  # 12 weeks are 2.76 months
        ("min_weeks: 12", 2.8, "met"),
    ],
)
def test_durations_are_strict_where_protocols_say_more_than(
    mini_screener: Build, bound: str, months: float, expected: str
) -> None:
    when = f"{{therapies: {{classes: [antimetabolite], {bound}}}, at_least: 1}}"
    screener = mini_screener(criterion_yaml("c", when))
    case = {"disease": "sle", "therapies": failed("azathioprine", months=months)}
    assert status(screener, case) == expected


@pytest.mark.parametrize(("stopped", "expected"), [(2.7, "met"), (2.8, "not_met")])
def test_a_washout_in_weeks_stays_in_weeks(
    mini_screener: Build, stopped: float, expected: str
) -> None:
    when = "{therapies: {classes: [anti_cd20_mab], stopped_within_weeks: 12}, at_least: 1}"
    screener = mini_screener(criterion_yaml("c", when, kind="exclusion"))
    case = {"disease": "mg", "therapies": [{"drug": "rituximab", "stopped_months_ago": stopped}]}
    assert status(screener, case) == expected


def test_an_umbrella_group_mixing_glucocorticoids_is_refused(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    drugs = rules / "vocabulary" / "drugs.yaml"
    text = drugs.read_text().replace(
        "    groups: [glucocorticoid]\n", "    groups: [glucocorticoid, immunosuppressant]\n", 1
    )
    drugs.write_text(text)
    with pytest.raises(RulesError) as raised:
        load_catalog(rules)
    assert any("group 'immunosuppressant' mixes" in str(p) for p in raised.value.problems)


@pytest.mark.parametrize(
    "when",
    [
        "{field: lupus_nephritis.class, in: [IV, IV]}",
        "{therapies: {classes: [antimetabolite, antimetabolite]}, at_least: 1}",
        "{any: [{field: age, at_least: 18}, {field: age, at_least: 18}]}",
        "{therapies: {classes: [antimetabolite], min_months: 3, more_than_months: 3}, at_least: 1}",
        "{not: {decide: {met_if: {field: age, at_least: 18}, not_met_if: {field: age, below: 18}}}}",
    ],
)
def test_rules_that_would_count_twice_or_mix_bounds_are_refused(
    make_rules: Callable[..., Path], when: str
) -> None:
    with pytest.raises(RulesError):
        load_catalog(make_rules(criterion_yaml("c", when)))


# --- one-sided decisions and facts that cannot apply --------------------------------------------

SELENA = (
    "{decide: {met_if: {field: scores.selena_sledai, at_least: 8}, "
    "not_met_if: {any: [{field: scores.selena_sledai, below: 8}, "
    "{field: scores.sledai_2k, below: 8}]}}}"
)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ({"sledai_2k": 6}, "not_met"),  # SELENA-SLEDAI <= SLEDAI-2K at one visit
        ({"sledai_2k": 10}, "unknown"),  # says nothing about SELENA-SLEDAI >= 8
        ({"selena_sledai": 9}, "met"),
        ({"selena_sledai": 9, "sledai_2k": 6}, "met"),  # the measured instrument wins
        ({}, "unknown"),
    ],
)
def test_a_one_sided_bound_decides_only_the_side_its_source_supports(
    mini_screener: Build, scores: dict[str, int], expected: str
) -> None:
    screener = mini_screener(criterion_yaml("c", SELENA))
    assert status(screener, {"disease": "sle", "scores": scores}) == expected


def test_needs_information_always_says_what_is_needed(mini_screener: Build) -> None:
    """CNS disease recorded, but not when: every fact the criterion reads is known and still
    decides nothing, so the criterion itself becomes the question, never an empty list."""
    cns = "{decide: {not_met_if: {field: history.cns_disease, is: false}}}"
    screener = mini_screener(criterion_yaml("cns", cns, kind="exclusion"))
    known = {"id": "p", "disease": "sle", "history": {"cns_disease": True}}
    (result,) = screener.screen(Case.model_validate(known)).trials
    assert result.verdict == "needs_info"
    assert result.missing == ["cns: the recorded facts do not decide it; for the site to judge"]
    (blank,) = screener.screen(Case.model_validate({"id": "q", "disease": "sle"})).trials
    assert blank.missing == ["history.cns_disease"]


def test_what_cannot_apply_is_decided_never_asked(mini_screener: Build) -> None:
    screener = mini_screener(
        criterion_yaml("c", "{field: pregnant, is: true}", kind="exclusion"),
        criterion_yaml("n", "{field: lupus_nephritis.class, in: [III, IV]}"),
    )
    man = {"disease": "sle", "sex": "male", "lupus_nephritis": {"present": False}}
    assert (status(screener, man), status(screener, man, "n")) == ("not_met", "not_met")
    unknown = {"disease": "sle", "sex": "female"}
    assert (status(screener, unknown), status(screener, unknown, "n")) == ("unknown", "unknown")


def test_absent_nephritis_with_a_class_is_refused() -> None:
    with pytest.raises(ValueError, match="present is false"):
        Case.model_validate({"id": "p", "lupus_nephritis": {"present": False, "class": "IV"}})


# --- verdicts that say how much was checked -----------------------------------------------------


def trial_file(nct: str, complete: str, status: str, seen: str | None, *criteria: str) -> str:
    head = TRIAL_HEAD.replace("NCT00000001", nct).replace("criteria_complete: full", "")
    head = head.replace("status: recruiting", f"status: {status}")
    head = head.replace("status_as_of: 2026-11-01", f"status_as_of: {seen}" if seen else "")
    head = head.replace("cohorts:", f"criteria_complete: {complete}\ncohorts:", 1)
    body = "\n".join(textwrap.indent(c, " " * 6) for c in criteria) or "      []"
    return head + body + "\n"


@pytest.fixture
def catalog_of(tmp_path: Path) -> Callable[..., Screener]:
    def build(*trials: str) -> Screener:
        root = tmp_path / "rules"
        (root / "trials").mkdir(parents=True)
        shutil.copytree(default_rules_dir() / "vocabulary", root / "vocabulary")
        for text in trials:
            nct = text.split("nct_id: ", 1)[1].split("\n", 1)[0]
            (root / "trials" / f"{nct}.yaml").write_text(text)
        return Screener(load_catalog(root))

    return build


AGE = criterion_yaml("age", "{field: age, at_least: 18}")
DEFINING = criterion_yaml("refractory", None) + "\n  defines_population: true"
TODAY = date.today().isoformat()


def verdicts(screener: Screener, **case: Any) -> dict[str, str]:
    result = screener.screen(Case.model_validate({"id": "p1", "disease": "sle", **case}))
    return {t.nct_id: t.verdict for t in result.trials}


def test_a_trial_without_criteria_text_cannot_be_screened(
    catalog_of: Callable[..., Screener],
) -> None:
    screener = catalog_of(trial_file("NCT00000002", "none", "recruiting", TODAY, AGE))
    assert verdicts(screener, age=40) == {"NCT00000002": "cannot_screen"}
    assert verdicts(screener, age=12) == {"NCT00000002": "ineligible"}  # ruled out still says so


def test_partial_criteria_or_a_defining_item_to_confirm_is_only_possibly_eligible(
    catalog_of: Callable[..., Screener],
) -> None:
    screener = catalog_of(
        trial_file("NCT00000002", "partial", "recruiting", TODAY, AGE),
        trial_file("NCT00000003", "full", "recruiting", TODAY, AGE, DEFINING),
        trial_file("NCT00000004", "full", "recruiting", TODAY, AGE),
    )
    assert verdicts(screener, age=40) == {
        "NCT00000004": "eligible",
        "NCT00000002": "possibly_eligible",
        "NCT00000003": "possibly_eligible",
    }


def confirmation(nct: str, criterion: str, answer: str = "met") -> dict[str, str]:
    return {
        "trial": nct,
        "criterion": criterion,
        "answer": answer,
        "by": "investigator",
        "on": TODAY,
    }


def test_a_site_confirmation_settles_an_item_and_is_shown(
    catalog_of: Callable[..., Screener],
) -> None:
    screener = catalog_of(trial_file("NCT00000003", "full", "recruiting", TODAY, AGE, DEFINING))
    met = [confirmation("NCT00000003", "refractory")]
    assert verdicts(screener, age=40, confirmations=met) == {"NCT00000003": "eligible"}
    no = [confirmation("NCT00000003", "refractory", "not_met")]
    assert verdicts(screener, age=40, confirmations=no) == {"NCT00000003": "ineligible"}
    result = screener.screen(
        Case.model_validate({"id": "p", "disease": "sle", "age": 40, "confirmations": met})
    )
    [trial] = result.trials
    confirmed = next(c for c in trial.criteria if c.id == "refractory")
    assert confirmed.confirmed is not None and confirmed.confirmed.by == "investigator"
    assert trial.checked == trial.total == 3  # disease, age and the confirmed item


def test_a_confirmation_naming_no_item_is_a_warning(catalog_of: Callable[..., Screener]) -> None:
    screener = catalog_of(trial_file("NCT00000003", "full", "recruiting", TODAY, AGE, DEFINING))
    case = Case.model_validate(
        {"id": "p", "disease": "sle", "confirmations": [confirmation("NCT00000003", "age")]}
    )
    result = screener.screen(case)
    assert any("no item to confirm 'age'" in w for w in result.warnings)
    assert result.trials[0].verdict == "needs_info"


def test_a_confirmation_after_the_case_date_is_refused() -> None:
    later = (date.today() + timedelta(days=2)).isoformat()
    with pytest.raises(ValueError, match="after the case's date"):
        Case.model_validate(
            {"id": "p", "confirmations": [{**confirmation("NCT00000003", "x"), "on": later}]}
        )


def test_ranking_puts_recruiting_first_and_non_candidates_last(
    catalog_of: Callable[..., Screener],
) -> None:
    old = (date.today() - timedelta(days=500)).isoformat()
    screener = catalog_of(
        trial_file("NCT00000002", "full", "completed", TODAY, AGE),
        trial_file("NCT00000003", "none", "recruiting", TODAY, AGE),
        trial_file("NCT00000004", "full", "recruiting", old, AGE),  # stale: ranks as unknown
        trial_file("NCT00000005", "partial", "recruiting", TODAY, AGE),
    )
    result = screener.screen(Case.model_validate({"id": "p", "disease": "sle", "age": 40}))
    order = [(t.nct_id, t.verdict, t.status_current) for t in result.trials]
    assert order == [
        ("NCT00000005", "possibly_eligible", True),
        ("NCT00000004", "eligible", False),
        ("NCT00000002", "eligible", True),
        ("NCT00000003", "cannot_screen", True),
    ]


def test_status_and_its_date_reach_every_machine_format(
    catalog_of: Callable[..., Screener],
) -> None:
    screener = catalog_of(trial_file("NCT00000002", "full", "recruiting", None, AGE))
    result = screener.screen(Case.model_validate({"id": "p", "disease": "sle", "age": 40}))
    [trial] = json.loads(JsonLinesWriter.encode(result))["trials"]
    assert (trial["status"], trial["status_as_of"], trial["status_current"]) == (
        "recruiting",
        None,
        False,
    )
    assert {"status", "possibly_eligible", "cannot_screen"} <= set(CsvWriter.COLUMNS)
    [record] = list(
        csv.DictReader(io.StringIO(",".join(CsvWriter.COLUMNS) + "\n" + CsvWriter.encode(result)))
    )
    assert record["status"] == "NCT00000002 recruiting (undated, not current)"
    assert record["eligible"] == "NCT00000002"


def test_the_audit_record_names_what_the_site_confirmed(
    catalog_of: Callable[..., Screener],
) -> None:
    from careligible.audit import build_record

    screener = catalog_of(trial_file("NCT00000003", "full", "recruiting", TODAY, AGE, DEFINING))
    case = Case.model_validate(
        {
            "id": "p",
            "disease": "sle",
            "age": 40,
            "confirmations": [confirmation("NCT00000003", "refractory")],
        }
    )
    record = build_record(screener.screen(case), case, screener.catalog, include_case=False)
    assert record["confirmations"] == [
        {
            "nct_id": "NCT00000003",
            "cohort": "main",
            "criterion": "refractory",
            "answer": "met",
            "by": "investigator",
            "on": TODAY,
        }
    ]


@pytest.mark.parametrize(
    ("when", "age", "expected"),
    [
        ("{decide: {met_if: {field: age, at_least: 18}}}", 40, "met"),
        ("{decide: {met_if: {field: age, at_least: 18}}}", 12, "unknown"),
        ("{decide: {not_met_if: {field: age, below: 18}}}", 12, "not_met"),
        ("{decide: {not_met_if: {field: age, below: 18}}}", 40, "unknown"),
    ],
)
def test_a_decision_may_be_sourced_on_one_side_only(
    mini_screener: Build, when: str, age: int, expected: str
) -> None:
    assert status(mini_screener(criterion_yaml("c", when)), {"disease": "sle", "age": age}) == (
        expected
    )


def test_a_ruled_out_trial_asks_for_nothing(mini_screener: Build) -> None:
    screener = mini_screener(
        criterion_yaml("age", "{field: age, at_least: 18}"),
        criterion_yaml("egfr", "{field: labs.egfr, at_least: 30}"),
    )
    result = screener.screen(Case.model_validate({"id": "p", "disease": "sle", "age": 12}))
    assert (result.trials[0].verdict, result.trials[0].missing) == ("ineligible", [])
