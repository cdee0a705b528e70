"""FHIR R4 Bundles -> cases: every mapping, what is left out and why, bad bundles, the round trip.

The fixtures under ``tests/fixtures/fhir/`` are hand-made bundles with pseudonymous ids only.
Every import here uses an explicit reference date, so ages and months do not drift with time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from textual.widgets import Select

from careligible.case import Case
from careligible.catalog import Catalog
from careligible.cli import ExitCode, main
from careligible.errors import RulesError
from careligible.fhir import BundleError, ImportedCase, import_bundle, load_mapping
from careligible.readers import parse_case, read_records
from careligible.screening import Screener
from careligible.tui import form_model
from careligible.tui.app import CareligibleApp
from careligible.tui.files import load_case_file

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fhir"
SLE = FIXTURES / "sle-lupus-nephritis.json"
MG = FIXTURES / "mg-generalized.json"
SAFETY = FIXTURES / "safety-flags.json"
DAY = dt.date(2026, 11, 24)

LOINC = "http://loinc.org"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def imported(path: Path, day: dt.date = DAY) -> ImportedCase:
    return import_bundle(load(path), reference_date=day)


def notes_of(case: ImportedCase) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for note in case.notes:
        found.setdefault(note.resource, []).append(note.reason)
    return found


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    """A small collection bundle around a female patient 'pseudo-inline'."""
    patient = {"resourceType": "Patient", "id": "pseudo-inline", "gender": "female"}
    entries = [{"resource": r} for r in (patient, *resources)]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def observation(code: str, value: float, unit: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"obs-{code}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "effectiveDateTime": "2026-11-01",
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        **extra,
    }


def condition(code: str, status: str | None = "active", **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": f"cond-{code}",
        "subject": {"reference": "Patient/pseudo-inline"},
        "code": {"coding": [{"system": ICD, "code": code}]},
        **extra,
    }
    if status:
        resource["clinicalStatus"] = {"coding": [{"code": status}]}
    return resource


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


# --- the mapping file -----------------------------------------------------------------------------


def test_shipped_mapping_loads_with_every_rxnorm_code_pointing_at_a_known_drug(
    catalog: Catalog,
) -> None:
    mapping = load_mapping(vocabulary=catalog.vocabulary)
    assert mapping.raw.medications["rxnorm"]
    for drug in mapping.raw.medications["rxnorm"].values():
        assert catalog.vocabulary.lookup(drug) is not None
    fields = {rule.field for rule in mapping.raw.observations}
    assert {"labs.egfr", "labs.upcr_g_g", "autoantibodies.anti_musk", "pregnant"} <= fields


def test_a_broken_mapping_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "fhir.yaml"
    path.write_text(
        "systems: {icd10cm: http://hl7.org/fhir/sid/icd-10-cm}\n"
        "conditions:\n"
        "  - name: lupus\n"
        "    codes: {icd10cm: [M32*]}\n"
        "    fields: {disease: lupus}\n"
        "  - name: typo\n"
        "    codes: {snomed: ['1']}\n"
        "    fields: {labs.egfrr: 3}\n",
        encoding="utf-8",
    )
    with pytest.raises(RulesError) as caught:
        load_mapping(path)
    text = [str(p) for p in caught.value.problems]
    assert any(t.startswith(f"{path}:5:") and "disease" in t and "lupus" in t for t in text)
    assert any(f"{path}:7:" in t and "unknown code system 'snomed'" in t for t in text)
    assert any(f"{path}:8:" in t and "egfrr" in t and "unknown field" in t for t in text)


def test_rules_check_checks_the_fhir_mapping_beside_the_rules(tmp_path: Path) -> None:
    from careligible.catalog import default_rules_dir

    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    ok = CliRunner().invoke(main, ["rules", "check", "--rules", str(rules)])
    assert ok.exit_code == ExitCode.OK and "FHIR mapping" in ok.stdout
    mapping = rules / "vocabulary" / "fhir.yaml"
    text = mapping.read_text(encoding="utf-8")
    mapping.write_text(text.replace("labs.egfr", "labs.egfrr", 1), encoding="utf-8")
    broken = CliRunner().invoke(main, ["rules", "check", "--rules", str(rules)])
    assert broken.exit_code == ExitCode.RECORD_ERRORS
    assert f"{mapping}:" in broken.stderr and "labs.egfrr" in broken.stderr


# --- Patient ---------------------------------------------------------------------------------------


def test_patient_sex_and_age_at_the_reference_date() -> None:
    case = imported(SLE)
    assert case.data["id"] == "pseudo-sle-01"
    assert case.data["sex"] == "female"
    assert case.data["age"] == 32  # born 1994-03-10
    assert imported(SLE, dt.date(2027, 3, 9)).data["age"] == 32
    assert imported(SLE, dt.date(2027, 3, 10)).data["age"] == 33
    assert case.reference_date == DAY
    assert DAY.isoformat() in case.warnings()[0]


def test_a_year_only_birth_date_leaves_age_unknown_and_says_why() -> None:
    case = imported(MG)
    assert "age" not in case.data
    assert any("gives an age of 57 or 58" in r for r in notes_of(case)["Patient/pseudo-mg-01"])


def test_a_gender_the_case_format_lacks_is_reported() -> None:
    data = bundle()
    data["entry"][0]["resource"]["gender"] = "other"
    case = import_bundle(data, reference_date=DAY)
    assert "sex" not in case.data
    assert notes_of(case)["Patient/pseudo-inline"] == [
        "gender 'other' has no equivalent in the case format"
    ]


# --- Condition -------------------------------------------------------------------------------------


def test_conditions_of_the_lupus_bundle() -> None:
    case = imported(SLE)
    assert case.data["disease"] == "sle"
    assert case.data["lupus_nephritis"] == {"active": True}
    assert case.data["history"] == {"malignancy": "remote"}  # abated 2018-05-01: over 5 years
    assert case.data["infections"] == {"hcv": "treated"}  # resolved hepatitis C
    notes = notes_of(case)
    assert notes["Condition/c-hypertension"] == ["no mapping for ICD10CM I10"]
    assert notes["Condition/c-ssc-query"] == ["diagnosis is provisional, not confirmed"]
    assert case.sources["lupus_nephritis.active"] == "Condition/c-ln"


def test_safety_conditions_and_a_disease_conflict() -> None:
    case = imported(SAFETY)
    data = case.data
    assert data["pregnant"] is True
    assert data["infections"] == {"hiv": "positive"}  # no clinical status: HIV maps regardless
    assert data["organ_damage"] == {"esrd": True}
    assert data["organ_function"] == {"dialysis": True}
    assert data["history"] == {"malignancy": "active"}  # active lung over breast within 5 years
    assert "disease" not in data and "subtype" not in data
    notes = notes_of(case)
    assert notes["Condition/c-hbv"] == [
        "hepatitis B with clinical status 'resolved': infections.hbv left unknown"
    ]
    assert "set history.malignancy" in notes["Condition/c-history"][0]
    conflict = notes["Condition/c-sle, Condition/c-ra, Condition/c-dm"][0]
    assert conflict.startswith("disease: conflicting values") and "'ra'" in conflict
    assert notes["Condition/c-dm"] == ["subtype left unknown: the disease is not settled"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("M32.0", {"disease": "sle", "drug_induced": True}),
        ("M3214", {"disease": "sle", "lupus_nephritis": {"active": True}}),  # no dot
        ("M33.11", {"disease": "iim", "subtype": "dermatomyositis"}),
        ("M33.03", {"disease": "iim", "subtype": "juvenile_dm"}),
        ("G72.41", {"disease": "iim", "subtype": "inclusion_body"}),
        ("M34.1", {"disease": "ssc", "subtype": "limited"}),
        ("G70.01", {"disease": "mg"}),
        ("G35", {"disease": "ms"}),
        ("M05.79", {"disease": "ra"}),
        ("M35.00", {"disease": "sjogren"}),
        ("E10.9", {"disease": "t1d"}),
        ("G36.0", {"disease": "nmosd"}),
        ("M31.31", {"disease": "aav"}),
        ("M31.7", {"disease": "aav"}),
        ("B20", {"infections": {"hiv": "positive"}}),
        ("B18.1", {"infections": {"hbv": "positive"}}),
        ("C91.10", {"history": {"malignancy": "active"}}),
    ],
)
def test_icd10cm_codes_map_to_the_most_specific_entry(code: str, expected: dict[str, Any]) -> None:
    case = import_bundle(bundle(condition(code)), reference_date=DAY)
    assert {k: v for k, v in case.data.items() if k not in ("id", "sex")} == expected


def test_a_code_outside_the_mapping_is_not_guessed_from_its_neighbours() -> None:
    case = import_bundle(bundle(condition("M06.1")), reference_date=DAY)  # adult-onset Still's
    assert "disease" not in case.data
    assert notes_of(case)["Condition/cond-M06.1"] == ["no mapping for ICD10CM M06.1"]


def test_text_only_entries_match_condition_text() -> None:
    resource = condition("X")
    resource["code"] = {"text": "Anti-synthetase syndrome"}
    case = import_bundle(bundle(resource), reference_date=DAY)
    assert (case.data["disease"], case.data["subtype"]) == ("iim", "anti_synthetase")


def test_text_adds_what_the_code_cannot_say() -> None:
    resource = condition("G70.00")
    resource["code"]["text"] = "Ocular myasthenia gravis"
    case = import_bundle(bundle(resource), reference_date=DAY)
    assert (case.data["disease"], case.data["subtype"]) == ("mg", "ocular")


def test_a_resolved_malignancy_needs_an_abatement_date() -> None:
    recent = condition("C50.911", "remission", abatementDateTime="2024-02-01")
    assert import_bundle(bundle(recent), reference_date=DAY).data["history"] == {
        "malignancy": "within_5y"
    }
    undated = condition("C50.911", "resolved")
    case = import_bundle(bundle(undated), reference_date=DAY)
    assert "history" not in case.data
    assert "no abatement date" in notes_of(case)["Condition/cond-C50.911"][0]


def test_refuted_conditions_and_other_patients_are_left_out() -> None:
    refuted = condition("M32.9", verificationStatus={"coding": [{"code": "refuted"}]})
    other = condition("B20")
    other["id"] = "cond-other"
    other["subject"] = {"reference": "Patient/pseudo-someone-else"}
    case = import_bundle(bundle(refuted, other), reference_date=DAY)
    assert "disease" not in case.data and "infections" not in case.data
    notes = notes_of(case)
    assert notes["Condition/cond-M32.9"] == ["verification status is 'refuted'"]
    assert notes["Condition/cond-other"] == ["refers to another patient"]


# --- Observation -----------------------------------------------------------------------------------


def test_lab_results_with_unit_conversion() -> None:
    labs = imported(SLE).data["labs"]
    assert labs == {
        "egfr": 52,  # the October result; January's is superseded
        "creatinine_mg_dl": 1.5,  # 132.6 umol/L / 88.4
        "upcr_g_g": 1.0,  # 113.1 mg/mmol x 0.00884
        "alt_x_uln": 1.5,  # 60 U/L over an upper limit of 40 U/L
        "ast_x_uln": 0.61,  # 20 U/L, no range: over the default 33 U/L
        "bilirubin_mg_dl": 2,  # 34.2 umol/L / 17.1
        "bilirubin_x_uln": 2,
        "wbc": 3.2,  # 10*3/uL
        "neutrophils": 1.8,  # 1800 /uL
        "lymphocytes": 0.6,  # 10*9/L
        "platelets": 140,
        "hemoglobin_g_dl": 10.5,  # 105 g/L
        "igg_g_l": 6.5,  # 650 mg/dL
    }


def test_coded_results_flags_and_other_observations() -> None:
    data = imported(SLE).data
    assert data["complement"] == {"c3_low": True, "c4_low": True}  # L flag; below range low
    assert data["autoantibodies"] == {"anti_dsdna": "positive"}  # interpretation H
    assert data["pregnant"] is False  # 82810-3 answered 'not pregnant'
    assert data["weight_kg"] == 62
    mg = imported(MG).data
    assert mg["autoantibodies"] == {"anti_achr": "positive", "anti_musk": "negative"}
    assert mg["scores"] == {"qmg": 14, "ecog": 1}
    assert mg["weight_kg"] == pytest.approx(81.647)  # 180 lb
    assert (mg["disease"], mg["subtype"]) == ("mg", "generalized")


def test_results_that_cannot_be_mapped_are_listed() -> None:
    sle = notes_of(imported(SLE))
    (ast,) = sle["Observation/ast"]
    assert ast.startswith("AST: the result gives no reference range; divided by the default")
    assert sle["Observation/egfr-jan"] == [
        "labs.egfr: earlier result(s) superseded by Observation/egfr-oct (2026-10-01)"
    ]
    mg = notes_of(imported(MG))
    assert (
        "'mg/L' is not a unit converted for labs.creatinine_mg_dl"
        in (mg["Observation/creatinine-mg-l"][0])
    )
    assert "'>90', not an exact number" in mg["Observation/egfr-over-90"][0]
    assert mg["Observation/other-patient-egfr"] == ["refers to another patient"]


@pytest.mark.parametrize(
    ("code", "value", "unit", "path", "expected"),
    [
        ("2160-0", 1.2, "mg/dL", ("labs", "creatinine_mg_dl"), 1.2),
        ("14682-9", 88.4, "umol/L", ("labs", "creatinine_mg_dl"), 1.0),
        ("2890-2", 450, "mg/g", ("labs", "upcr_g_g"), 0.45),
        ("718-7", 6.2, "mmol/L", ("labs", "hemoglobin_g_dl"), 9.988),
        ("777-3", 250000, "/uL", ("labs", "platelets"), 250),
        ("26464-8", 7.1, "10*9/L", ("labs", "wbc"), 7.1),
        ("2465-3", 9.5, "g/L", ("labs", "igg_g_l"), 9.5),
        ("2157-6", 2, "ukat/L", ("scores", "ck_u_per_l"), 120),
        ("751-8", 2100, "/mm3", ("labs", "neutrophils"), 2.1),
        ("10230-1", 55, "%", ("organ_function", "lvef_pct"), 55),
        ("59408-5", 97, "%", ("organ_function", "spo2_pct"), 97),
    ],
)
def test_unit_conversions(
    code: str, value: float, unit: str, path: tuple[str, str], expected: float
) -> None:
    case = import_bundle(bundle(observation(code, value, unit)), reference_date=DAY)
    assert case.data[path[0]][path[1]] == pytest.approx(expected)
    assert case.notes == ()


def test_a_unit_of_another_dimension_is_refused_not_rescaled() -> None:
    case = import_bundle(bundle(observation("751-8", 62, "%")), reference_date=DAY)
    assert "labs" not in case.data
    assert notes_of(case)["Observation/obs-751-8"][0].startswith(
        "neutrophils (absolute): '%' is not a unit converted for labs.neutrophils"
    )


def test_a_value_outside_the_case_format_is_left_unknown_with_a_note() -> None:
    case = import_bundle(
        bundle(observation("62238-1", 400, "mL/min/{1.73_m2}")), reference_date=DAY
    )
    assert "labs" not in case.data
    assert notes_of(case)["Observation/obs-62238-1 (2026-11-01)"] == [
        "labs.egfr must be at most 250 (got 400.0); left unknown"
    ]


def test_pregnancy_status_observation() -> None:
    answer = {"coding": [{"system": LOINC, "code": "LA15173-0", "display": "Pregnant"}]}
    resource = observation("82810-3", 0, "")
    del resource["valueQuantity"]
    resource["valueCodeableConcept"] = answer
    assert import_bundle(bundle(resource), reference_date=DAY).data["pregnant"] is True


def test_a_number_alone_is_not_read_as_positive() -> None:
    case = import_bundle(bundle(observation("5130-0", 80, "[IU]/mL")), reference_date=DAY)
    assert "autoantibodies" not in case.data
    assert "not read as positive or negative" in notes_of(case)["Observation/obs-5130-0"][0]


# --- MedicationStatement and MedicationRequest ---------------------------------------------------


def test_therapies_with_months_and_stopped_months_ago() -> None:
    case = imported(SLE)
    assert case.data["therapies"] == [
        # 2025-01-15 .. 2025-07-15 = 181 days; stopped 497 days before the reference date
        {"drug": "rituximab", "months": 5.9, "stopped_months_ago": 16.3},
        # two orders merged: 172 + 268 days; the second is active
        {
            "drug": "mycophenolate mofetil",
            "months": 14.5,
            "stopped_months_ago": 0,
            "dose": "1 g twice daily",
        },
        # started '2019-06' (mid-month), still active
        {"drug": "hydroxychloroquine", "months": 89.3, "stopped_months_ago": 0},
    ]
    assert all("outcome" not in t for t in case.data["therapies"])
    assert "therapy outcomes are not in FHIR" in case.warnings()[0]
    # one record's medication list is not a lifetime history until a clinician says so
    assert case.data["therapies_complete"] is False
    assert "not confirmed complete" in case.warnings()[0]
    notes = notes_of(case)
    assert notes["MedicationStatement/ms-belimumab"] == [
        "status is 'not-taken': not a therapy the patient had"
    ]
    assert "not in the drug vocabulary" in notes["MedicationStatement/ms-statin"][0]
    assert "set the therapy's outcome" in notes["MedicationStatement/ms-rituximab"][0]
    assert case.sources["therapies[1]"] == "MedicationRequest/mr-mmf-1, MedicationRequest/mr-mmf-2"


def test_medication_references_and_orders() -> None:
    case = imported(MG)
    assert case.data["therapies"] == [
        {"drug": "efgartigimod", "months": 6.8, "stopped_months_ago": 0},  # brand name Vyvgart
        {
            "drug": "pyridostigmine",  # a contained Medication
            "months": 33.7,
            "stopped_months_ago": 0,
            "dose": "60 mg four times daily",
        },
    ]
    notes = notes_of(case)
    assert notes["MedicationRequest/mr-plan"] == ["intent is 'plan': not an order"]
    assert notes["Medication/med-unused"] == [
        "no MedicationStatement or MedicationRequest refers to it"
    ]


def test_no_medication_resources_leaves_therapies_unknown_not_empty() -> None:
    data = import_bundle(bundle(), reference_date=DAY).data
    assert "therapies" not in data and "therapies_complete" not in data


# --- malformed bundles ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("not-json.json", "not-json.json:3: invalid JSON"),
        ("not-a-bundle.json", "resourceType: not a FHIR Bundle (resourceType is 'Patient')"),
        ("no-patient.json", "entry: the bundle holds no Patient resource"),
        ("two-patients.json", "the bundle holds 2 Patient resources (entry[0], entry[1])"),
    ],
)
def test_malformed_bundles_name_the_file_and_the_place(name: str, expected: str) -> None:
    path = FIXTURES / "malformed" / name
    [record] = list(read_records(path))
    parsed = parse_case(record)
    assert parsed.case is None and parsed.error is not None
    assert parsed.error.startswith(str(path)) and expected in parsed.error
    result = run("import-fhir", str(path), "--reference-date", "2026-11-24")
    assert result.exit_code == ExitCode.RECORD_ERRORS
    assert expected in result.stderr


def test_import_bundle_rejects_what_is_not_a_bundle() -> None:
    with pytest.raises(BundleError) as caught:
        import_bundle(["not", "a", "bundle"], reference_date=DAY)
    assert str(caught.value) == "a FHIR Bundle must be a JSON object"
    with pytest.raises(BundleError) as caught:
        import_bundle({"resourceType": "Bundle", "type": "collection", "entry": [7]})
    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("entry[0]", "must be an object"),
        ("entry", "the bundle holds no Patient resource"),
    ]


@pytest.mark.parametrize(
    ("name", "kept", "reason"),
    [
        (
            "invalid-resource.json",
            "pseudo-bad-01",
            "Observation/obs-no-status: not valid FHIR R4, left out "
            "(entry[1].resource.valueQuantity.value: "
            "Decimal value string does not match spec regex.)",
        ),
        (
            "unknown-resource-type.json",
            "pseudo-c",
            "Patientt/typo: not valid FHIR R4, left out "
            "(entry[1].resource.resourceType: 'Patientt' is not a FHIR R4 resource type)",
        ),
    ],
)
def test_a_bad_entry_is_reported_and_the_rest_imported(name: str, kept: str, reason: str) -> None:
    path = FIXTURES / "malformed" / name
    imported = import_bundle(load(path), reference_date=DAY)
    assert imported.case_id == kept
    assert reason in [str(note) for note in imported.notes]
    [record] = list(read_records(path))
    parsed = parse_case(record)
    assert parsed.case is not None and parsed.error is None
    assert any("not valid FHIR R4" in w for w in parsed.warnings)


# --- readers, screen and import-fhir -------------------------------------------------------------


def test_the_json_reader_routes_bundles_and_keeps_one_record_per_bundle(tmp_path: Path) -> None:
    path = tmp_path / "two.json"
    bad = load(FIXTURES / "malformed" / "no-patient.json")
    path.write_text(json.dumps([load(SLE), bad], indent=1), encoding="utf-8")
    first, second = (parse_case(r) for r in read_records(path))
    assert first.case is not None and first.case.id == "pseudo-sle-01"
    assert first.case.lupus_nephritis is not None and first.case.lupus_nephritis.active is True
    assert first.warnings[0].startswith("imported from a FHIR Bundle")
    assert "not mapped: Encounter/enc-1: Encounter is not used by the case format" in (
        first.warnings
    )
    assert second.case is None and second.error is not None
    assert second.error.startswith(f"{path}:") and "no Patient resource" in second.error


def test_screen_accepts_a_bundle(tmp_path: Path) -> None:
    result = run("screen", str(SLE), "--format", "json")
    assert result.exit_code == ExitCode.OK, result.output
    [record] = json.loads(result.stdout)
    assert record["case_id"] == "pseudo-sle-01" and record["error"] is None
    # NCT06121297 enrols lupus nephritis but no eligibility text of it was available.
    verdicts = {t["nct_id"]: t["verdict"] for t in record["trials"]}
    assert verdicts["NCT06121297"] == "cannot_screen"
    assert "eligible" not in verdicts.values()


def test_import_fhir_writes_cases_with_notes_and_one_place_per_bundle(tmp_path: Path) -> None:
    out = tmp_path / "cases.yaml"
    bad = FIXTURES / "malformed" / "two-patients.json"
    result = run(
        "import-fhir", str(SLE), str(bad), str(MG), "--output", str(out), "--reference-date",
        "2026-11-24",
    )  # fmt: skip
    assert result.exit_code == ExitCode.RECORD_ERRORS
    assert "1 bundle(s) could not be imported" in result.stderr
    text = out.read_text(encoding="utf-8")
    assert "# Reference date: 2026-11-24" in text
    assert "#   - Encounter/enc-1: Encounter is not used by the case format" in text
    assert "#   labs.egfr: Observation/egfr-oct (2026-10-01)" in text
    order = [
        text.index(s)
        for s in ("pseudo-sle-01", "two-patients.json:1: NOT IMPORTED", "pseudo-mg-01")
    ]
    assert order == sorted(order)
    cases = yaml.safe_load(text)
    assert [c["id"] for c in cases] == ["pseudo-sle-01", "pseudo-mg-01"]
    assert cases[0] == imported(SLE).data
    screened = run("screen", str(out), "--format", "jsonl")
    assert screened.exit_code == ExitCode.OK, screened.output


def test_import_fhir_of_one_bundle_writes_one_case_the_tui_can_open(tmp_path: Path) -> None:
    out = tmp_path / "one.yaml"
    result = run("import-fhir", str(MG), "-o", str(out), "--reference-date", "2026-11-24")
    assert result.exit_code == ExitCode.OK
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["id"] == "pseudo-mg-01"
    assert load_case_file(out).values["disease"] == "mg"


def test_round_trip_bundle_to_case_to_verdicts(tmp_path: Path, screener: Screener) -> None:
    out = tmp_path / "sle.yaml"
    assert (
        run("import-fhir", str(SLE), "-o", str(out), "--reference-date", "2026-11-24").exit_code
        == 0
    )
    [record] = list(read_records(out))
    case = parse_case(record).case
    assert case is not None
    result = screener.screen(case, record.source)
    by_id = {t.nct_id: t for t in result.trials}
    nephritis = by_id["NCT06121297"]
    assert (nephritis.verdict, nephritis.cohort) == ("cannot_screen", "lupus_nephritis")
    active = next(c for c in nephritis.criteria if c.id == "active_lupus_nephritis")
    assert (active.status, active.facts) == ("met", {"lupus_nephritis.active": True})
    cd19 = by_id["NCT03030976"]  # creatinine from 132.6 umol/L is 1.5 mg/dL: not below 1.5
    assert cd19.verdict == "ineligible" and "creatinine_lt_1_5" in cd19.blocked_by
    creatinine = next(c for c in cd19.criteria if c.id == "creatinine_lt_1_5")
    assert creatinine.facts == {"labs.creatinine_mg_dl": 1.5}
    assert Case.model_validate(imported(SLE).data) == case


# --- the terminal UI -----------------------------------------------------------------------------


def test_opening_a_bundle_in_the_tui_shows_unknown_outcomes(
    catalog: Catalog, screener: Screener, tmp_path: Path
) -> None:
    path = tmp_path / "bundle.json"
    shutil.copy(SLE, path)
    loaded = load_case_file(path)
    assert loaded.imported is not None
    message = loaded.import_message()
    assert "Imported from a FHIR Bundle" in message and "Encounter/enc-1" in message

    async def scenario() -> None:
        app = CareligibleApp(catalog, path, debounce=0.05, screener=screener)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.15)
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert app.case_file is None and app.dirty  # saving asks where; never over the JSON
            assert app.values["disease"] == "sle"
            assert app.values["therapies[0].drug"] == "rituximab"
            assert app.values["therapies[0].outcome"] == ""
            outcome = app.query_one(f"#{form_model.widget_id('therapies[0].outcome')}", Select)
            assert outcome.is_blank()
            assert app.result is not None and app.result.case_id == "pseudo-sle-01"

    asyncio.run(scenario())
    assert path.read_text(encoding="utf-8") == SLE.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("resource", "version"),
    [
        ({"resourceType": "MedicationOrder", "id": "m"}, "DSTU2"),
        ({"resourceType": "ProcedureRequest", "id": "p"}, "STU3"),
        (
            {"resourceType": "Condition", "id": "c", "clinicalStatus": "active",
             "subject": {"reference": "Patient/p"}},
            "STU3",
        ),
        (
            {"resourceType": "Observation", "id": "o", "patient": {"reference": "Patient/p"}},
            "DSTU2",
        ),
    ],
)  # fmt: skip
def test_an_older_fhir_version_is_named_not_reported_field_by_field(
    resource: dict[str, Any], version: str
) -> None:
    data = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "id": "p"}}, {"resource": resource}],
    }
    with pytest.raises(BundleError) as caught:
        import_bundle(data, reference_date=DAY)
    [problem] = caught.value.problems
    assert f"this is a FHIR {version} bundle, not R4" in problem.message
    assert "convert it to FHIR R4 first" in problem.message


def test_notes_of_one_kind_are_counted_on_one_line() -> None:
    entries = [{"resource": {"resourceType": "Patient", "id": "p"}}] + [
        {"resource": {"resourceType": "Encounter", "id": f"e{i}", "status": "finished",
                      "class": {"code": "AMB"}}}
        for i in range(30)
    ]  # fmt: skip
    imported = import_bundle(
        {"resourceType": "Bundle", "type": "collection", "entry": entries}, reference_date=DAY
    )
    assert len(imported.notes) == 30
    assert imported.warnings()[1:] == [
        "not mapped: not used by the case format (30): Encounter x30"
    ]


def _order(text: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "mr-text",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/pseudo-inline"},
        "medicationCodeableConcept": {"text": text},
        "authoredOn": "2026-06-01",
    }


@pytest.mark.parametrize(
    ("text", "agent"),
    [
        ("10 ML rituximab 10 MG/ML Injection", "rituximab"),
        ("24 HR tacrolimus 1 MG Extended Release Oral Tablet", "tacrolimus"),
        ("rituximab 10 MG/ML Injection [Rituxan]", "rituximab"),
        ("100 MG rituximab-abbs 10 MG/ML Injection", "rituximab"),
        ("Prograf 1 MG Oral Capsule", "tacrolimus"),
    ],
)
def test_the_drug_is_found_inside_an_rxnorm_style_name(text: str, agent: str) -> None:
    case = import_bundle(bundle(_order(text)), reference_date=DAY)
    [therapy] = case.data["therapies"]
    assert therapy["drug"] == agent


@pytest.mark.parametrize("status", ["cancelled", "entered-in-error", "draft"])
def test_an_order_not_given_is_not_a_therapy(status: str) -> None:
    order = {**_order("rituximab 10 MG/ML Injection"), "status": status}
    case = import_bundle(bundle(order), reference_date=DAY)
    assert "therapies" not in case.data
    assert notes_of(case)["MedicationRequest/mr-text"] == [
        f"status is '{status}': not a therapy the patient had"
    ]


def test_an_order_for_another_patient_is_not_this_patients_therapy() -> None:
    order = {**_order("rituximab 10 MG/ML Injection"), "subject": {"reference": "Patient/other"}}
    case = import_bundle(bundle(order), reference_date=DAY)
    assert "therapies" not in case.data
    assert "MedicationRequest/mr-text" in notes_of(case)


def test_a_drug_name_the_vocabulary_lacks_is_reported_not_guessed() -> None:
    case = import_bundle(
        bundle(_order("Acetaminophen 160 MG/ML Oral Suspension")), reference_date=DAY
    )
    assert "therapies" not in case.data
    assert any("not in the drug vocabulary" in line for line in case.warnings())


def test_blood_creatinine_as_synthea_codes_it() -> None:
    case = import_bundle(bundle(observation("38483-4", 1.1, "mg/dL")), reference_date=DAY)
    assert case.data["labs"]["creatinine_mg_dl"] == 1.1


def _coded(system: str, code: str, status: str = "active") -> dict[str, Any]:
    resource = condition("x", status)
    resource["code"] = {"coding": [{"system": system, "code": code}]}
    return resource


SCT = "http://snomed.info/sct"


@pytest.mark.parametrize(
    ("system", "code"),
    [
        (SCT, "254837009"),
        (SCT, "254637007"),
        (SCT, "109838007"),
        ("http://terminology.hl7.org/CodeSystem/icd-o-3", "8500/3"),
        ("http://hl7.org/fhir/sid/icd-10", "C50.9"),
        ("http://fhir.de/CodeSystem/bfarm/icd-10-gm", "C50.4"),
    ],
)
def test_an_active_specific_cancer_is_an_active_malignancy(system: str, code: str) -> None:
    case = import_bundle(bundle(_coded(system, code)), reference_date=DAY)
    assert case.data["history"]["malignancy"] == "active"


def test_a_benign_or_in_situ_morphology_is_not_a_malignancy() -> None:
    icdo3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
    for code in ("8500/2", "8140/0"):
        case = import_bundle(bundle(_coded(icdo3, code)), reference_date=DAY)
        assert "history" not in case.data


@pytest.mark.parametrize(
    ("system", "code"),
    [
        (SCT, "239887007"),
        ("http://hl7.org/fhir/sid/icd-10", "M32.9"),
        ("http://fhir.de/CodeSystem/bfarm/icd-10-gm", "M32.1+"),
        ("http://hl7.org/fhir/sid/icd-9-cm", "710.0"),
    ],
)
def test_sle_in_other_code_systems_and_descendants(system: str, code: str) -> None:
    case = import_bundle(bundle(_coded(system, code)), reference_date=DAY)
    assert case.data["disease"] == "sle"


def test_the_lupus_parent_code_asks_to_confirm_the_disease_never_sets_one() -> None:
    case = import_bundle(bundle(_coded(SCT, "200936003")), reference_date=DAY)
    assert "disease" not in case.data
    assert any("disease to confirm" in line for line in case.warnings())


@pytest.mark.parametrize(
    ("day", "used"),
    [
        ("2026-11-24", True),  # the reference date itself
        ("2025-11-24", True),  # exactly 12 months before
        ("2025-11-23", False),  # stale
        ("2026-11-25", False),  # after the reference date
    ],
)
def test_labs_count_only_within_the_window_up_to_the_reference_date(day: str, used: bool) -> None:
    result = observation("62238-1", 55, "mL/min/{1.73_m2}", effectiveDateTime=day)
    case = import_bundle(bundle(result), reference_date=DAY)
    assert ("labs" in case.data) is used
    if not used:
        [note] = [str(n) for n in case.notes if n.resource == "Observation/obs-62238-1"]
        assert ("stale" in note) is (day < "2026")
        assert "not used" in note


def test_the_window_is_configurable() -> None:
    result = observation("62238-1", 55, "mL/min/{1.73_m2}", effectiveDateTime="2024-12-01")
    case = import_bundle(bundle(result), reference_date=DAY, max_age_months=24)
    assert case.data["labs"]["egfr"] == 55
