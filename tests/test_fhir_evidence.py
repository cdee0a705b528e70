"""What a real record's evidence supports: upper limits of normal, open orders, drug names.

Each test builds a small Bundle around one pseudonymous patient and imports it at a fixed
reference date, so nothing drifts with the day the tests run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from careligible.errors import RulesError
from careligible.fhir import ImportedCase, default_mapping_path, import_bundle, load_mapping

DAY = dt.date(2026, 11, 24)
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": "pseudo-evidence", "gender": "female"}
    entries = [{"resource": r} for r in (patient, *resources)]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def lab(code: str, value: float, unit: str, high: float | None = None, **extra: Any) -> Any:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"obs-{code}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "effectiveDateTime": "2026-11-01",
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        **extra,
    }
    if high is not None:
        resource["referenceRange"] = [{"high": {"value": high, "unit": unit}}]
    return resource


def imported(*resources: dict[str, Any]) -> ImportedCase:
    return import_bundle(bundle(*resources), reference_date=DAY)


def reasons(case: ImportedCase, resource: str) -> list[str]:
    return [n.reason for n in case.notes if n.resource == resource]


# --- upper limit of normal ------------------------------------------------------------------------


def test_the_laboratorys_own_upper_limit_comes_first() -> None:
    case = imported(lab("1742-6", 80, "U/L", high=40))
    assert case.data["labs"]["alt_x_uln"] == 2.0
    assert reasons(case, "Observation/obs-1742-6") == []


def test_without_a_range_alt_and_ast_use_the_published_default_and_say_so() -> None:
    case = imported(lab("1742-6", 72, "U/L"), lab("1920-8", 66, "IU/L"))
    assert case.data["labs"]["alt_x_uln"] == 2.0  # 72 / 36 U/L (MedlinePlus)
    assert case.data["labs"]["ast_x_uln"] == 2.0  # 66 / 33 U/L (MedlinePlus)
    (alt,) = reasons(case, "Observation/obs-1742-6")
    assert "default upper limit 36 U/L" in alt and "medlineplus.gov/ency/article/003473" in alt
    (ast,) = reasons(case, "Observation/obs-1920-8")
    assert "default upper limit 33 U/L" in ast and "003472" in ast


def test_a_default_is_never_applied_to_another_unit_or_an_analyte_without_one() -> None:
    case = imported(lab("1742-6", 1.2, "ukat/L"), lab("1975-2", 2.4, "mg/dL"))
    assert "alt_x_uln" not in case.data["labs"]
    (alt,) = reasons(case, "Observation/obs-1742-6")
    assert "the default is in U/L, the value in 'ukat/L'" in alt
    # total bilirubin: mg/dL is read; its ratio has no published default here, so stays unknown
    assert case.data["labs"] == {"bilirubin_mg_dl": 2.4}
    (bilirubin,) = reasons(case, "Observation/obs-1975-2")
    assert "no default for this test" in bilirubin


def test_the_first_range_that_states_an_upper_limit_is_used() -> None:
    ranges = [{"low": {"value": 7, "unit": "U/L"}}, {"high": {"value": 40, "unit": "U/L"}}]
    case = imported(lab("1742-6", 80, "U/L", referenceRange=ranges))
    assert case.data["labs"]["alt_x_uln"] == 2.0


def test_an_upper_limit_in_another_unit_or_not_positive_is_refused() -> None:
    other_unit = lab(
        "1742-6", 80, "U/L", referenceRange=[{"high": {"value": 0.7, "unit": "ukat/L"}}]
    )
    case = imported(other_unit)
    assert "alt_x_uln" not in case.data.get("labs", {})
    assert reasons(case, "Observation/obs-1742-6") == [
        "ALT: the reference range is in 'ukat/L', the value in 'U/L'"
    ]
    case = imported(lab("1742-6", 80, "U/L", high=0))
    assert "alt_x_uln" not in case.data.get("labs", {})
    assert reasons(case, "Observation/obs-1742-6") == [
        "ALT: the upper reference limit is not positive"
    ]


# --- below the reference range --------------------------------------------------------------------


def c3(value: float, low: dict[str, Any] | None) -> dict[str, Any]:
    """A complement C3 result without an interpretation flag, and its range's lower limit."""
    ranges = [{"low": low}] if low is not None else []
    return lab("4485-9", value, "g/L", referenceRange=ranges)


@pytest.mark.parametrize(("value", "low"), [(0.7, True), (0.9, False), (1.2, False)])
def test_without_a_flag_a_value_is_compared_with_the_lower_limit(value: float, low: bool) -> None:
    case = imported(c3(value, {"value": 0.9, "unit": "g/L"}))
    assert case.data["complement"] == {"c3_low": low}


def test_a_lower_limit_in_another_unit_or_none_at_all_leaves_it_unknown() -> None:
    case = imported(c3(0.7, {"value": 90, "unit": "mg/dL"}))
    assert "complement" not in case.data
    assert reasons(case, "Observation/obs-4485-9") == [
        "complement C3: the reference range is in 'mg/dL', the value in 'g/L'"
    ]
    case = imported(c3(0.7, None))
    assert "complement" not in case.data
    assert reasons(case, "Observation/obs-4485-9") == [
        "complement C3: no interpretation and no lower reference limit to compare with"
    ]


def test_every_default_upper_limit_names_its_source() -> None:
    mapping = load_mapping()
    defaults = {r.name: r.default_upper_limit for r in mapping.raw.observations}
    assert {name for name, d in defaults.items() if d is not None} == {"ALT", "AST"}
    for default in filter(None, defaults.values()):
        assert default.source.startswith("MedlinePlus") and "https://" in default.source


def test_a_default_upper_limit_on_a_quantity_is_a_mapping_error(tmp_path: Path) -> None:
    text = default_mapping_path().read_text(encoding="utf-8")
    broken = text.replace(
        "    field: labs.creatinine_mg_dl\n",
        "    field: labs.creatinine_mg_dl\n"
        "    default_upper_limit: {value: 1, units: [mg/dL], source: x}\n",
        1,
    )
    assert broken != text
    path = tmp_path / "fhir.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(RulesError, match="default_upper_limit is for ratio_to_uln"):
        load_mapping(path)


# --- open orders: current only while the record shows them alive -------------------------------

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def order(oid: str, authored: str | None, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": oid,
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/pseudo-evidence"},
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": "6851", "display": "methotrexate"}]
        },
        **extra,
    }
    if authored:
        resource["authoredOn"] = authored
    return resource


def therapy(case: ImportedCase) -> dict[str, Any]:
    (only,) = case.data["therapies"]
    assert only["drug"] == "methotrexate"
    return dict(only)


def test_an_order_authored_decades_ago_is_not_decades_of_treatment() -> None:
    case = imported(order("rx-1973", "1973-05-10"))
    assert therapy(case) == {"drug": "methotrexate"}  # no months, no "current"
    (note,) = reasons(case, "MedicationRequest/rx-1973")
    assert "latest date is 1973-05-10" in note and "not as current" in note


def test_a_recent_open_order_is_current() -> None:
    item = therapy(imported(order("rx-recent", "2026-08-24")))
    assert item["stopped_months_ago"] == 0
    assert item["months"] == pytest.approx(3.0, abs=0.1)


def test_a_valid_prescription_is_evidence_that_the_order_stands() -> None:
    validity = {"validityPeriod": {"start": "2015-03-01", "end": "2026-06-30"}}
    item = therapy(imported(order("rx-valid", "2015-03-01", dispenseRequest=validity)))
    assert item["stopped_months_ago"] == 0
    assert item["months"] > 130  # 2015-03 to the reference date


def test_a_statement_counts_up_to_its_last_date_and_its_stop_stays_unknown() -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "id": "ms-old",
        "status": "active",
        "subject": {"reference": "Patient/pseudo-evidence"},
        "medicationCodeableConcept": {"text": "Methotrexate 2.5 MG Oral Tablet"},
        "effectivePeriod": {"start": "2015-01-01"},
        "dateAsserted": "2019-01-01",
    }
    case = imported(statement)
    assert therapy(case) == {"drug": "methotrexate", "months": 48.0}
    (note,) = reasons(case, "MedicationStatement/ms-old")
    assert "latest date is 2019-01-01" in note


def test_a_stale_order_beside_a_current_one_leaves_the_drug_current() -> None:
    item = therapy(imported(order("rx-old", "2001-02-03"), order("rx-new", "2026-10-24")))
    assert item["stopped_months_ago"] == 0
    assert "months" not in item  # the 2001 order's duration is unknown


def test_an_open_order_with_no_date_stays_as_current_as_it_says() -> None:
    item = therapy(imported(order("rx-undated", None)))
    assert item == {"drug": "methotrexate", "stopped_months_ago": 0}


# --- drugs from real orders: RxNorm codes and names -------------------------------------------


def statement(sid: str, concept: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement",
        "id": sid,
        "status": "completed",
        "subject": {"reference": "Patient/pseudo-evidence"},
        "medicationCodeableConcept": concept,
        "effectivePeriod": {"start": "2025-01-01", "end": "2025-07-01"},
    }


def drugs(*concepts: dict[str, Any]) -> tuple[list[str], ImportedCase]:
    case = imported(*(statement(f"ms-{i}", c) for i, c in enumerate(concepts)))
    return [t["drug"] for t in case.data.get("therapies", [])], case


@pytest.mark.parametrize(
    ("code", "drug"),
    [
        ("2105831", "rituximab"),  # 10 ML rituximab-abbs 10 MG/ML Injection [Truxima] (SBD)
        ("1657864", "rituximab"),  # 10 ML rituximab 10 MG/ML Injection [Rituxan] (SBD)
        ("2273513", "rituximab"),  # Ruxience (BN)
        ("1664463", "tacrolimus"),  # 24 HR tacrolimus 1 MG Extended Release Oral Tablet (SCD)
        ("108515", "tacrolimus"),  # 1 ML tacrolimus 5 MG/ML Injection (SCD)
        ("979094", "hydroxychloroquine"),  # ... 200 MG Oral Tablet [Plaquenil] (SBD)
        ("210639", "cyclophosphamide"),  # cyclophosphamide 50 MG Oral Tablet [Cytoxan] (SBD)
        ("402244", "bortezomib"),  # bortezomib 3.5 MG Injection [Velcade] (SBD)
        ("1594663", "alemtuzumab"),  # 1.2 ML alemtuzumab 10 MG/ML Injection [Lemtrada] (SBD)
        ("105585", "methotrexate"),  # Methotrexate 2.5 MG Oral Tablet (SCD)
    ],
)
def test_rxnorm_clinical_and_branded_drug_codes_resolve_without_text(code: str, drug: str) -> None:
    found, _ = drugs({"coding": [{"system": RXNORM, "code": code}]})
    assert found == [drug]


@pytest.mark.parametrize(
    ("name", "drug"),
    [
        ("10 ML rituximab 10 MG/ML Injection", "rituximab"),
        ("24 HR tacrolimus 1 MG Extended Release Oral Tablet", "tacrolimus"),
        ("rituximab-abbs", "rituximab"),
        ("50 ML rituximab-pvvr 10 MG/ML Injection [Ruxience]", "rituximab"),
        ("Truxima", "rituximab"),
        ("24 HR Envarsus 0.75 MG Extended Release Oral Tablet", "tacrolimus"),
        ("CellCept 500 MG Oral Tablet", "mycophenolate mofetil"),
        ("Hydroxychloroquine Sulfate 200 MG Oral Tablet [Plaquenil]", "hydroxychloroquine"),
    ],
)
def test_the_ingredient_is_found_inside_rxnorm_style_and_brand_names(name: str, drug: str) -> None:
    found, _ = drugs({"text": name})
    assert found == [drug]


def test_local_forms_are_not_systemic_therapy_and_are_reported_grouped() -> None:
    found, case = drugs(
        {"text": "cycloSPORINE 0.5 MG/ML Ophthalmic Suspension"},
        {"text": "tacrolimus 0.001 MG/MG Topical Ointment"},
        {
            "coding": [{"system": RXNORM, "code": "351109"}],
            "text": "budesonide 0.25 MG/ML Inhalation Suspension",
        },
        {"text": "24 HR tacrolimus 1 MG Extended Release Oral Tablet"},
    )
    assert found == ["tacrolimus"]  # the tablet only
    grouped = [line for line in case.warnings() if "local (topical, inhaled" in line]
    assert grouped == [
        "not mapped: local (topical, inhaled, eye...) forms, not systemic therapy; not added (3): "
        "ciclosporin (ophthalmic), tacrolimus (topical), budesonide (inhalation)"
    ]


def test_unmatched_medications_are_reported_once_per_name_with_counts() -> None:
    found, case = drugs(
        {"text": "Atorvastatin 20 MG Oral Tablet"},
        {"text": "Atorvastatin 20 MG Oral Tablet"},
        {
            "coding": [
                {"system": RXNORM, "code": "314231", "display": "Simvastatin 10 MG Oral Tablet"}
            ]
        },
        {"text": "rituximab-abbs"},
    )
    assert found == ["rituximab"]
    (line,) = [w for w in case.warnings() if "not in the drug vocabulary" in w]
    assert line == (
        "not mapped: medication not in the drug vocabulary, not added (enter it by hand if it "
        "matters) (3): 'Atorvastatin 20 MG Oral Tablet' x2, 'Simvastatin 10 MG Oral Tablet'"
    )


def test_an_inhaled_pulmonary_hypertension_drug_is_systemic_therapy() -> None:
    found, case = drugs(
        {"text": "treprostinil 0.6 MG/ML Inhalation Solution [Tyvaso]"},
        {"text": "iloprost 0.01 MG/ML Inhalation Solution"},
        {"text": "budesonide 0.25 MG/ML Inhalation Suspension"},
    )
    assert found == ["treprostinil", "iloprost"]
    assert [n.detail for n in case.notes if n.detail and "(inhalation)" in n.detail] == [
        "budesonide (inhalation)"
    ]


def test_systemic_forms_must_name_a_known_drug_and_a_local_form(tmp_path: Path) -> None:
    text = default_mapping_path().read_text(encoding="utf-8")
    broken = text.replace(
        "  iloprost: [inhalation, inhalant, inhaler]\n  treprostinil: [inhalation, inhalant, inhaler]\n",
        "  iloprostt: [inhalation]\n  treprostinil: [nebulised]\n",
        1,
    )
    assert broken != text
    path = tmp_path / "fhir.yaml"
    path.write_text(broken, encoding="utf-8")
    from careligible.fhir import default_vocabulary

    with pytest.raises(RulesError) as raised:
        load_mapping(path, vocabulary=default_vocabulary())
    message = str(raised.value)
    assert "'iloprostt' is not in the drug vocabulary" in message
    assert "'nebulised' is not one of local_forms" in message
