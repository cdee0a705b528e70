"""Each condition type of the rule format, evaluated by the engine, with unknown handling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from careligible.case import Case
from careligible.screening import Screener
from conftest import criterion_yaml

ScreenerFactory = Callable[..., Screener]


def status(screener: Screener, case: dict[str, Any], criterion: str = "c") -> str:
    result = screener.screen(Case.model_validate({"id": "t-1", "disease": "sle", **case}))
    trial = result.trials[0]
    return next(c.status for c in trial.criteria if c.id == criterion)


@pytest.mark.parametrize(
    ("when", "case", "expected"),
    [
        ("{field: age, between: [18, 70]}", {"age": 18}, "met"),
        ("{field: age, between: [18, 70]}", {"age": 70}, "met"),
        ("{field: age, between: [18, 70]}", {"age": 17}, "not_met"),
        ("{field: age, between: [18, 70]}", {"age": 71}, "not_met"),
        ("{field: age, between: [18, 70]}", {}, "unknown"),
        ("{field: labs.egfr, at_least: 30}", {"labs": {"egfr": 30}}, "met"),
        ("{field: labs.egfr, at_least: 30}", {"labs": {"egfr": 29.9}}, "not_met"),
        ("{field: labs.egfr, at_least: 30}", {"labs": {}}, "unknown"),
        ("{field: labs.egfr, at_most: 30}", {"labs": {"egfr": 30.1}}, "not_met"),
        (
            "{field: labs.creatinine_mg_dl, above: 2.5}",
            {"labs": {"creatinine_mg_dl": 2.5}},
            "not_met",
        ),
        ("{field: labs.creatinine_mg_dl, above: 2.5}", {"labs": {"creatinine_mg_dl": 2.51}}, "met"),
        ("{field: scores.sledai_2k, below: 8}", {"scores": {"sledai_2k": 7}}, "met"),
        ("{field: scores.sledai_2k, below: 8}", {"scores": {"sledai_2k": 8}}, "not_met"),
        ("{field: pregnant, is: true}", {"pregnant": True}, "met"),
        ("{field: pregnant, is: true}", {"pregnant": False}, "not_met"),
        ("{field: pregnant, is: true}", {}, "unknown"),
        ("{field: sex, equals: female}", {"sex": "female"}, "met"),
        ("{field: sex, equals: female}", {"sex": "male"}, "not_met"),
        ("{field: sex, equals: female}", {}, "unknown"),
        (
            "{field: lupus_nephritis.class, in: [III, IV]}",
            {"lupus_nephritis": {"class": "IV"}},
            "met",
        ),
        (
            "{field: lupus_nephritis.class, in: [III, IV]}",
            {"lupus_nephritis": {"class": "V"}},
            "not_met",
        ),
        (
            "{field: lupus_nephritis.class, in: [III, IV]}",
            {"lupus_nephritis": {"active": True}},
            "unknown",
        ),
        ("{field: scores.bilag_a, contains: renal}", {"scores": {"bilag_a": ["renal"]}}, "met"),
        (
            "{field: scores.bilag_a, contains: renal}",
            {"scores": {"bilag_a": ["mucocutaneous"]}},
            "not_met",
        ),
        ("{field: scores.bilag_a, contains: renal}", {"scores": {"bilag_a": []}}, "not_met"),
        ("{field: scores.bilag_a, contains: renal}", {"scores": {}}, "unknown"),
    ],
)
def test_field_tests_are_three_valued(
    mini_screener: ScreenerFactory, when: str, case: dict[str, Any], expected: str
) -> None:
    assert status(mini_screener(criterion_yaml("c", when)), case) == expected


ANY = "{any: [{field: pregnant, is: true}, {field: breastfeeding, is: true}]}"
ALL = "{all: [{field: pregnant, is: true}, {field: breastfeeding, is: true}]}"
NOT = "{not: {field: pregnant, is: true}}"


@pytest.mark.parametrize(
    ("when", "pregnant", "breastfeeding", "expected"),
    [
        (ANY, True, None, "met"),
        (ANY, False, None, "unknown"),
        (ANY, False, False, "not_met"),
        (ALL, False, None, "not_met"),
        (ALL, True, None, "unknown"),
        (ALL, True, True, "met"),
        (NOT, True, None, "not_met"),
        (NOT, False, None, "met"),
        (NOT, None, None, "unknown"),
    ],
)
def test_combinators_follow_kleene_logic(
    mini_screener: ScreenerFactory,
    when: str,
    pregnant: bool | None,
    breastfeeding: bool | None,
    expected: str,
) -> None:
    case = {
        k: v for k, v in (("pregnant", pregnant), ("breastfeeding", breastfeeding)) if v is not None
    }
    assert status(mini_screener(criterion_yaml("c", when)), case) == expected


REFRACTORY = (
    "{therapies: {classes: [antimetabolite, calcineurin_inhibitor], "
    "outcome: [inadequate_response], min_months: 3, "
    "count_as_one: [[methotrexate, azathioprine]]}, at_least: 2}"
)


def tx(*items: tuple[str, str | None, float | None]) -> dict[str, Any]:
    return {
        "therapies": [
            {"drug": d, **({"outcome": o} if o else {}), **({"months": m} if m is not None else {})}
            for d, o, m in items
        ]
    }


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (tx(("MMF", "inadequate_response", 6), ("tacrolimus", "inadequate_response", 3)), "met"),
        (
            tx(("MMF", "inadequate_response", 6), ("tacrolimus", "inadequate_response", 2)),
            "not_met",
        ),
        (tx(("MMF", "inadequate_response", 6), ("tacrolimus", "intolerance", 6)), "not_met"),
        (tx(("MMF", "inadequate_response", 6), ("tacrolimus", None, 6)), "unknown"),
        (
            tx(("MMF", "inadequate_response", 6), ("tacrolimus", "inadequate_response", None)),
            "unknown",
        ),
        (
            tx(("methotrexate", "inadequate_response", 6), ("AZA", "inadequate_response", 6)),
            "not_met",
        ),
        (
            tx(
                ("methotrexate", "inadequate_response", 6),
                ("AZA", "inadequate_response", 6),
                ("voclosporin", "inadequate_response", 4),
            ),
            "met",
        ),
        (
            tx(
                ("MMF", "inadequate_response", 6),
                ("mycophenolate mofetil", "inadequate_response", 9),
            ),
            "not_met",
        ),
        ({"therapies": []}, "not_met"),
        ({}, "unknown"),
    ],
)
def test_therapy_counts_are_three_valued(
    mini_screener: ScreenerFactory, case: dict[str, Any], expected: str
) -> None:
    assert status(mini_screener(criterion_yaml("c", REFRACTORY)), case) == expected


def test_recency_counts_current_and_recent_treatment(mini_screener: ScreenerFactory) -> None:
    screener = mini_screener(
        criterion_yaml(
            "c",
            "{therapies: {classes: [anti_cd20_mab], stopped_within_months: 3}, at_least: 1}",
            "exclusion",
        )
    )
    recent = {"therapies": [{"drug": "rituximab", "stopped_months_ago": 2}]}
    old = {"therapies": [{"drug": "rituximab", "stopped_months_ago": 3}]}
    current = {"therapies": [{"drug": "RTX", "outcome": "ongoing"}]}
    undated = {"therapies": [{"drug": "rituximab", "outcome": "response"}]}
    assert [status(screener, c) for c in (recent, old, current, undated)] == [
        "met",
        "not_met",
        "met",
        "unknown",
    ]


@pytest.mark.parametrize(
    ("drug", "hint"),
    [("zorbamab", ""), ("rituximabb", " (did you mean 'rituximab'?)")],
    ids=["unknown", "misspelt"],
)
def test_an_unknown_drug_is_a_warning_and_counts_in_no_class(
    mini_screener: ScreenerFactory, drug: str, hint: str
) -> None:
    """A misspelt name gets a suggestion, but is never counted as the drug it resembles."""
    screener = mini_screener(
        criterion_yaml("c", "{therapies: {classes: [anti_cd20_mab]}, at_least: 1}")
    )
    result = screener.screen(
        Case.model_validate({"id": "t-1", "disease": "sle", "therapies": [{"drug": drug}]})
    )
    assert result.warnings == [
        f"therapies[0].drug: '{drug}' is not in the drug vocabulary{hint}; "
        "it counts in no drug class"
    ]
    assert result.trials[0].criteria[1].status == "not_met"


def test_a_named_definition_is_inlined(mini_screener: ScreenerFactory) -> None:
    definitions = """
sources:
  art: {section: "Introduction", what: "test", checked: 2026-11-24}
definitions:
  adult:
    text: "adult"
    when: {field: age, at_least: 18}
    source: art
"""
    screener = mini_screener(criterion_yaml("c", "{use: adult}"), definitions=definitions)
    assert status(screener, {"age": 18}) == "met"
    assert status(screener, {"age": 17}) == "not_met"
