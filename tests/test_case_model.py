"""The case model implements the case-file contract: names, ranges, enums, unknown keys."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from careligible.case import Case
from careligible.errors import describe_validation_error
from careligible.fields import case_fields, put_path

CONTRACT_EXAMPLE: dict[str, Any] = {
    "id": "demo-sle-01",
    "age": 29,
    "sex": "female",
    "weight_kg": 61.5,
    "pregnant": False,
    "breastfeeding": False,
    "disease": "sle",
    "classification_criteria_met": True,
    "disease_duration_years": 6,
    "lupus_nephritis": {"class": "IV", "biopsy_months_ago": 4, "active": True},
    "drug_induced": False,
    "overlap": ["ra", "ssc"],
    "autoantibodies": {"anti_dsdna": "positive", "anti_sm": "negative", "ana": "positive"},
    "complement": {"c3_low": True, "c4_low": True},
    "scores": {
        "sledai_2k": 14,
        "bilag_a": ["renal"],
        "bilag_b": ["haematological"],
        "physician_global": 2.5,
        "eular_acr_2019_score": 22,
        "ecog": 1,
    },
    "labs": {
        "egfr": 58,
        "upcr_g_g": 2.1,
        "creatinine_mg_dl": 1.3,
        "alt_x_uln": 0.8,
        "ast_x_uln": 0.9,
        "bilirubin_x_uln": 0.5,
        "bilirubin_mg_dl": 0.6,
        "wbc": 5.1,
        "neutrophils": 3.2,
        "lymphocytes": 1.1,
        "platelets": 210,
        "hemoglobin_g_dl": 11.2,
        "igg_g_l": 9.5,
        "cd19_b_cells_detectable": True,
    },
    "organ_function": {
        "dialysis": False,
        "lvef_pct": 60,
        "fvc_pct": 90,
        "dlco_pct": 80,
        "spo2_pct": 98,
        "nyha_class": 1,
    },
    "organ_damage": {
        "sdi": 1,
        "esrd": False,
        "ild": False,
        "pah": False,
        "irreversible": ["renal_scarring"],
    },
    "therapies": [
        {"drug": "hydroxychloroquine", "outcome": "ongoing"},
        {"drug": "prednisone", "outcome": "inadequate_response", "months": 24},
        {
            "drug": "MMF",
            "outcome": "inadequate_response",
            "months": 12,
            "stopped_months_ago": 2,
            "dose": "2 g/day",
        },
    ],
    "history": {
        "prior_car_t": False,
        "prior_hsct": False,
        "solid_organ_transplant": False,
        "catastrophic_aps": False,
        "cns_disease": False,
        "malignancy": "none",
        "live_vaccine_weeks_ago": 30,
        "major_surgery_weeks_ago": 52,
        "thymectomy": False,
        "anticoagulation_required": False,
        "other_neuromuscular": ["cidp"],
        "splenectomy": False,
        "primary_immunodeficiency": False,
    },
    "infections": {
        "hbv": "negative",
        "hcv": "negative",
        "hiv": "negative",
        "tb": "latent",
        "active_serious": False,
    },
}


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        Case.model_validate(data)
    return [str(p) for p in describe_validation_error(info.value, Case)]


def test_every_contract_field_of_a_full_case_is_accepted() -> None:
    case = Case.model_validate(CONTRACT_EXAMPLE)
    assert case.lupus_nephritis is not None and case.lupus_nephritis.class_ == "IV"
    assert case.therapies is not None and case.therapies[2].dose == "2 g/day"
    assert case.model_dump(by_alias=True, exclude_none=True)["lupus_nephritis"]["class"] == "IV"


def test_only_the_id_is_required_and_absent_facts_stay_unknown() -> None:
    case = Case.model_validate({"id": "demo-02"})
    assert case.age is None and case.labs is None and case.therapies is None
    assert problems({"age": 40}) == ["id: is required"]


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"age": 121}, "age: must be at most 120 (got 121)"),
        ({"age": -1}, "age: must be at least 0 (got -1)"),
        ({"age": "forty"}, "age: must be a whole number (got 'forty')"),
        ({"weight_kg": 1}, "weight_kg: must be at least 2 (got 1)"),
        ({"sex": "f"}, "sex: must be one of 'female' or 'male' (got 'f')"),
        ({"disease": "lupus"}, "disease: must be one of"),
        ({"pregnant": "maybe"}, "pregnant: must be true or false (got 'maybe')"),
        ({"scores": {"edss": 4.3}}, "scores.edss: must be in steps of 0.5 (got 4.3)"),
        ({"scores": {"edss": 10.5}}, "scores.edss: must be at most 10"),
        ({"scores": {"mrss": 52}}, "scores.mrss: must be at most 51"),
        ({"scores": {"physician_global": 4}}, "scores.physician_global: must be at most 3"),
        ({"scores": {"mgfa_class": "VI"}}, "scores.mgfa_class: must be one of"),
        ({"scores": {"bilag_a": ["kidney"]}}, "scores.bilag_a[0]: must be one of"),
        ({"scores": {"ecog": 6}}, "scores.ecog: must be at most 5"),
        ({"organ_function": {"nyha_class": 0}}, "organ_function.nyha_class: must be at least 1"),
        ({"lupus_nephritis": {"class": "VII"}}, "lupus_nephritis.class: must be one of"),
        ({"autoantibodies": {"anti_dsdna": "weak"}}, "autoantibodies.anti_dsdna: must be one of"),
        ({"infections": {"hbv": "yes"}}, "infections.hbv: must be one of"),
        ({"history": {"malignancy": "old"}}, "history.malignancy: must be one of"),
        (
            {"therapies": [{"drug": "rituximab", "outcome": "failed"}]},
            "therapies[0].outcome: must be one of",
        ),
        ({"therapies": [{"outcome": "response"}]}, "therapies[0].drug: is required"),
        ({"overlap": ["lupus"]}, "overlap[0]: must be one of"),
    ],
)
def test_out_of_range_and_unknown_values_get_clinician_readable_messages(
    patch: dict[str, Any], expected: str
) -> None:
    found = problems({"id": "x", **patch})
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"agee": 30}, "agee: unknown field; did you mean 'age'?"),
        ({"labs": {"egrf": 30}}, "labs.egrf: unknown field; did you mean 'egfr'?"),
        (
            {"history": {"prior_cart": True}},
            "history.prior_cart: unknown field; did you mean 'prior_car_t'?",
        ),
        (
            {"therapies": [{"drug": "rtx", "month": 3}]},
            "therapies[0].month: unknown field; did you mean 'months'?",
        ),
        ({"favourite_colour": "blue"}, "favourite_colour: unknown field"),
    ],
)
def test_unknown_keys_are_rejected_with_a_hint(patch: dict[str, Any], expected: str) -> None:
    assert expected in problems({"id": "x", **patch})


def test_subtype_must_belong_to_the_disease_and_is_normalised() -> None:
    assert Case(id="x", disease="iim", subtype="Anti-Synthetase").subtype == "anti_synthetase"
    assert Case(id="x", disease="sle", subtype="anything goes").subtype == "anything_goes"
    found = problems({"id": "x", "disease": "ms", "subtype": "generalized"})
    assert found[0].startswith("subtype: 'generalized' is not a subtype of this disease")


def test_the_rule_symbol_table_covers_every_contract_leaf() -> None:
    fields = case_fields()
    for path in (
        "age",
        "labs.egfr",
        "scores.bilag_a",
        "lupus_nephritis.class",
        "history.other_neuromuscular",
        "infections.tb",
        "organ_damage.irreversible",
    ):
        assert path in fields
    assert fields["scores.bilag_a"].kind == "list"
    assert "renal" in fields["scores.bilag_a"].choices
    assert fields["infections.hbv"].choices == ("positive", "negative", "latent", "treated")
    assert "therapies" not in fields and "id" not in fields


def _numeric_paths() -> list[str]:
    return [path for path, spec in case_fields().items() if spec.kind == "number"]


def _at(path: str, value: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"id": "x"}
    put_path(data, path, value)
    return data


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_never_a_number(value: bool) -> None:
    """``creatinine_mg_dl: false`` would be 0 and pass "creatinine < 1.5"; every numeric field."""
    paths = _numeric_paths()
    assert "labs.creatinine_mg_dl" in paths and "age" in paths and len(paths) > 40
    for path in paths:
        found = problems(_at(path, value))
        shown = "true" if value else "false"
        assert len(found) == 1 and found[0].startswith(f"{path}: must be a"), (path, found)
        assert found[0].endswith(f"number (got {shown})"), (path, found)


def test_booleans_stay_booleans_and_numbers_numbers() -> None:
    case = Case.model_validate({"id": "x", "pregnant": False, "age": 40, "labs": {"egfr": "58"}})
    assert case.pregnant is False and case.age == 40 and case.labs is not None
    assert case.labs.egfr == 58.0


@pytest.mark.parametrize(
    ("path", "items"),
    [
        ("scores.bilag_a", ["renal", "renal"]),
        ("scores.bilag_b", ["renal", "ophthalmic", "renal"]),
        ("overlap", ["ssc", "ssc"]),
        ("organ_damage.irreversible", ["cataract", "cataract"]),
        ("history.other_neuromuscular", ["cidp", "cidp"]),
    ],
)
def test_a_code_list_naming_an_item_twice_is_refused(path: str, items: list[str]) -> None:
    assert problems(_at(path, items)) == [f"{path}: lists '{items[-1]}' twice; name each item once"]


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\u200b", "\u202e", "\u2028", "\ue000"])
def test_an_id_with_a_control_or_bidi_character_is_refused(char: str) -> None:
    [found] = problems({"id": f"ab{char}c"})
    assert found == (
        f"id: must be plain text: character 3 is U+{ord(char):04X}, a control, formatting or "
        "bidirectional character"
    )


def test_an_id_may_hold_any_printable_text() -> None:
    assert Case(id="Zürich-ß-東京-01 (v2)").id == "Zürich-ß-東京-01 (v2)"
