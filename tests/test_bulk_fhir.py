"""FHIR Bulk Data exports -> one case per patient, through the same import as a Bundle.

The export is written here, small and explicit: four pseudonymous patients, a bad line, a resource
of a patient the export does not hold and one that names no patient. Every import uses an
explicit reference date, so ages and months do not drift with time.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from careligible.cli import ExitCode, main
from careligible.errors import InputError
from careligible.fhir import import_bundle
from careligible.fhir.bulk import BulkItem, is_export, iter_export

DAY = dt.date(2026, 11, 24)
#: A subset of SMART's Synthea bulk sample (CC0; see its README.md and LICENSE).
PUBLIC = Path(__file__).resolve().parent / "fixtures" / "fhir" / "bulk-public"
#: The export's transaction time, in its log.ndjson.
EXPORTED = dt.date(2024, 8, 6)
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
ACTIVE = {
    "coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
    ]
}
CONFIRMED = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "code": "confirmed",
        }
    ]
}


def patient(pid: str, gender: str, born: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": gender, "birthDate": born}


def condition(cid: str, pid: str, system: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": system, "code": code}]},
        "clinicalStatus": ACTIVE,
        "verificationStatus": CONFIRMED,
    }


def lab(oid: str, pid: str, loinc: str, value: float, unit: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def order(rid: str, pid: str, medication: dict[str, Any], start: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "completed",
        "intent": "order",
        "subject": {"reference": f"Patient/{pid}"},
        **medication,
        "authoredOn": start,
    }


def write_ndjson(path: Path, lines: list[dict[str, Any] | str]) -> None:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """Four patients over two Patient files, their resources spread over split files."""
    root = tmp_path / "export"
    root.mkdir()
    write_ndjson(
        root / "Patient.000.ndjson",
        [patient("pseudo-b1", "female", "1990-05-01"), patient("pseudo-b2", "male", "1975-02-03")],
    )
    write_ndjson(
        root / "Patient.001.ndjson",
        [patient("pseudo-b3", "female", "1982-07-09"), patient("pseudo-b4", "male", "1969-12-30")],
    )
    write_ndjson(
        root / "Condition.000.ndjson",
        [
            condition("c-sle", "pseudo-b1", ICD, "M32.14"),
            condition("c-mg", "pseudo-b2", ICD, "G70.00"),
            '{"resourceType": "Condition", "id": "c-broken", ',  # line 3: cut short
            condition("c-orphan", "pseudo-gone", ICD, "M32.14"),
        ],
    )
    write_ndjson(
        root / "Observation.000.ndjson",
        [lab("egfr-b1", "pseudo-b1", "33914-3", 52, "mL/min/{1.73_m2}", "2026-10-01")],
    )
    write_ndjson(
        root / "Observation.001.ndjson",
        [
            lab("plt-b2", "pseudo-b2", "777-3", 180, "10*3/uL", "2026-09-15"),
            {
                "resourceType": "Observation",
                "id": "o-nobody",
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": "777-3"}]},
            },
        ],
    )
    write_ndjson(
        root / "MedicationRequest.000.ndjson",
        [
            order(
                "mr-ritux",
                "pseudo-b1",
                {"medicationReference": {"reference": "Medication/med-r"}},
                "2025-01-15",
            ),
            order(
                "mr-mmf",
                "pseudo-b3",
                {"medicationCodeableConcept": {"text": "Mycophenolate Mofetil 500 MG Oral Tablet"}},
                "2025-09-01",
            ),
        ],
    )
    write_ndjson(
        root / "Medication.000.ndjson",
        [
            {
                "resourceType": "Medication",
                "id": "med-r",
                "code": {"coding": [{"system": RXNORM, "code": "121191", "display": "rituximab"}]},
            }
        ],
    )
    write_ndjson(root / "Encounter.000.ndjson", [{"resourceType": "Encounter", "id": "e-1"}])
    write_ndjson(root / "log.ndjson", [{"exportId": "x"}])
    return root


#: ICD-10-CM codes of diseases the catalog enrols, for a population of patients.
DISEASE_CODES = ["M32.14", "G70.00", "M05.79", "G35", "M34.0"]


def population_export(root: Path, count: int, seed: int = 3) -> Path:
    """``count`` seeded pseudonymous patients over two Patient files, each with a disease, an
    eGFR and a drug named through the shared Medication file, and what goes wrong in real
    exports: a Patient whose import fails (a gender that is a number), a Patient without an id, a
    broken line, and resources of nobody. Encounters are written and not read."""
    rng = random.Random(seed)
    root.mkdir()
    people: list[dict[str, Any] | str] = []
    conditions: list[dict[str, Any] | str] = []
    labs: list[dict[str, Any] | str] = []
    orders: list[dict[str, Any] | str] = []
    for n in range(1, count + 1):
        pid = f"pseudo-d{n}"
        born = f"{rng.randint(1950, 2006)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        people.append(patient(pid, rng.choice(["female", "male"]), born))
        conditions.append(condition(f"c-{n}", pid, ICD, rng.choice(DISEASE_CODES)))
        egfr = rng.randint(15, 120)
        labs.append(lab(f"o-{n}", pid, "33914-3", egfr, "mL/min/{1.73_m2}", "2026-10-01"))
        drug = {"medicationReference": {"reference": f"Medication/med-{rng.choice('rm')}"}}
        orders.append(order(f"mr-{n}", pid, drug, "2025-01-15"))
    people[4] = {"resourceType": "Patient", "id": "pseudo-d5", "gender": 42}
    people.insert(9, {"resourceType": "Patient", "gender": "female"})  # no id
    conditions.insert(3, '{"resourceType": "Condition", ')  # cut short
    labs.append(condition("c-gone", "pseudo-gone", ICD, "M32.14"))
    half = len(people) // 2
    write_ndjson(root / "Patient.000.ndjson", people[:half])
    write_ndjson(root / "Patient.001.ndjson", people[half:])
    write_ndjson(root / "Condition.000.ndjson", conditions)
    write_ndjson(root / "Observation.000.ndjson", [x for x in labs if "Observation" in str(x)])
    write_ndjson(root / "Condition.001.ndjson", [x for x in labs if "Condition" in str(x)])
    write_ndjson(root / "MedicationRequest.000.ndjson", orders)
    medications = [("med-r", "121191", "rituximab"), ("med-m", "6851", "methotrexate")]
    write_ndjson(
        root / "Medication.000.ndjson",
        [
            {
                "resourceType": "Medication",
                "id": mid,
                "code": {"coding": [{"system": RXNORM, "code": code, "display": name}]},
            }
            for mid, code, name in medications
        ],
    )
    write_ndjson(root / "Encounter.000.ndjson", [{"resourceType": "Encounter", "id": "e-1"}])
    return root


def items(root: Path) -> list[BulkItem]:
    return list(iter_export(root, reference_date=DAY))


def by_patient(found: list[BulkItem]) -> dict[str, dict[str, Any]]:
    return {i.patient_id: i.imported.data for i in found if i.patient_id and i.imported}


def test_one_record_per_patient_in_patient_file_order_then_lines_no_patient_took(
    export: Path,
) -> None:
    found = items(export)
    names = [(Path(i.file).name, i.line, i.patient_id) for i in found]
    assert names == [
        ("Patient.000.ndjson", 1, "pseudo-b1"),
        ("Patient.000.ndjson", 2, "pseudo-b2"),
        ("Patient.001.ndjson", 1, "pseudo-b3"),
        ("Patient.001.ndjson", 2, "pseudo-b4"),
        ("Condition.000.ndjson", 3, None),
        ("Condition.000.ndjson", 4, None),
        ("Observation.001.ndjson", 2, None),
    ]
    assert all(i.imported is not None and not i.problems for i in found[:4])
    assert all(i.imported is None and i.problems for i in found[4:])


def test_each_patient_gets_its_own_disease_labs_and_drugs(export: Path) -> None:
    cases = by_patient(items(export))
    first = cases["pseudo-b1"]
    assert (first["sex"], first["age"], first["disease"]) == ("female", 36, "sle")
    assert first["lupus_nephritis"]["active"] is True
    assert first["labs"] == {"egfr": 52}
    # The order names its drug through a Medication of the shared Medication file.
    assert [t["drug"] for t in first["therapies"]] == ["rituximab"]
    second = cases["pseudo-b2"]
    assert (second["disease"], second["labs"]) == ("mg", {"platelets": 180})
    assert "therapies" not in second
    third = cases["pseudo-b3"]
    assert [t["drug"] for t in third["therapies"]] == ["mycophenolate mofetil"]
    assert "disease" not in third and "labs" not in third
    assert cases["pseudo-b4"] == {"id": "pseudo-b4", "age": 56, "sex": "male"}


def test_a_patient_reads_as_the_bundle_of_its_resources(export: Path) -> None:
    """The stream adds no mapping of its own: the case is the one its Bundle gives."""
    lines = []
    for name in (
        "Patient.000.ndjson",
        "Condition.000.ndjson",
        "Observation.000.ndjson",
        "MedicationRequest.000.ndjson",
        "Medication.000.ndjson",
    ):
        for text in (export / name).read_text(encoding="utf-8").splitlines():
            try:
                lines.append(json.loads(text))
            except ValueError:
                continue
    mine = [r for r in lines if "pseudo-b1" in json.dumps(r) or r["resourceType"] == "Medication"]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in mine],
    }
    assert by_patient(items(export))["pseudo-b1"] == import_bundle(bundle, reference_date=DAY).data


def test_a_line_no_patient_can_take_is_an_error_naming_file_line_and_why(export: Path) -> None:
    errors = {
        (Path(i.file).name, i.line): str(i.problems[0])
        for i in items(export)
        if i.patient_id is None
    }
    broken = errors[("Condition.000.ndjson", 3)]
    assert broken.startswith(f"{export / 'Condition.000.ndjson'}:3: invalid JSON")
    orphan = errors[("Condition.000.ndjson", 4)]
    assert "Condition/c-orphan refers to Patient/pseudo-gone" in orphan
    assert "no Patient file" in orphan
    nobody = errors[("Observation.001.ndjson", 2)]
    assert "Observation/o-nobody names no patient" in nobody


def test_files_of_unused_types_are_named_on_every_case_and_the_log_is_not_a_resource(
    export: Path,
) -> None:
    for item in items(export)[:4]:
        assert item.imported is not None
        assert [str(n) for n in item.imported.notes if n.resource == "export"] == [
            "export: Encounter files not read: not used by the case format"
        ]


def test_a_medication_nothing_can_refer_to_or_given_twice_is_an_error_and_the_first_is_used(
    export: Path,
) -> None:
    other = {"resourceType": "Medication", "id": "med-r",
             "code": {"coding": [{"system": RXNORM, "code": "6851"}]}}  # fmt: skip
    nameless = {"resourceType": "Medication", "code": {"text": "rituximab"}}
    with (export / "Medication.000.ndjson").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(other) + "\n" + json.dumps(nameless) + "\n")
    found = items(export)
    errors = {i.line: str(i.problems[0]) for i in found if Path(i.file).name.startswith("Medic")}
    assert f"a second Medication/med-r (first at {export / 'Medication.000.ndjson'}:1)" in errors[2]
    assert "Medication without an id, so nothing can refer to it" in errors[3]
    assert [t["drug"] for t in by_patient(found)["pseudo-b1"]["therapies"]] == ["rituximab"]


def test_a_second_patient_with_the_same_id_is_an_error_and_the_first_keeps_the_resources(
    export: Path,
) -> None:
    with (export / "Patient.001.ndjson").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(patient("pseudo-b1", "male", "1950-01-01")) + "\n")
    found = items(export)
    again = next(i for i in found if Path(i.file).name == "Patient.001.ndjson" and i.line == 3)
    assert again.imported is None
    assert "a second Patient 'pseudo-b1'" in str(again.problems[0])
    assert "Patient.000.ndjson:1" in str(again.problems[0])
    assert by_patient(found)["pseudo-b1"]["disease"] == "sle"


def test_a_bad_patient_line_stands_in_its_place_and_an_invalid_patient_names_its_field(
    export: Path,
) -> None:
    write_ndjson(
        export / "Patient.000.ndjson",
        [
            patient("pseudo-b1", "female", "1990-05-01"),
            "not json",
            {"resourceType": "Patient", "id": "pseudo-b2", "gender": 42},
        ],
    )
    found = items(export)
    head = [(Path(i.file).name, i.line, i.patient_id, i.imported is not None) for i in found[:3]]
    assert head == [
        ("Patient.000.ndjson", 1, "pseudo-b1", True),
        ("Patient.000.ndjson", 2, None, False),
        ("Patient.000.ndjson", 3, "pseudo-b2", False),
    ]
    assert "invalid JSON" in str(found[1].problems[0])
    problem = found[2].problems[0]
    assert (Path(problem.file).name, problem.line, problem.field) == (
        "Patient.000.ndjson",
        3,
        "gender",
    )
    # The resources of the refused patient are not taken by anybody else.
    assert "disease" not in by_patient(found).get("pseudo-b3", {})


def test_a_line_of_another_type_than_its_file_is_an_error(export: Path) -> None:
    with (export / "Condition.000.ndjson").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(lab("o-x", "pseudo-b1", "777-3", 1, "10*3/uL", "2026-10-01")))
    found = {(Path(i.file).name, i.line): i for i in items(export)}
    wrong = found[("Condition.000.ndjson", 5)]
    assert wrong.imported is None
    assert "holds resourceType 'Observation', but the file is named for Condition" in str(
        wrong.problems[0]
    )
    assert "platelets" not in by_patient(list(found.values()))["pseudo-b1"].get("labs", {})


def test_a_resource_is_its_patients_by_an_absolute_reference_too_and_a_group_is_nobodys(
    export: Path,
) -> None:
    absolute = condition("c-abs", "pseudo-b4", ICD, "G35")
    absolute["subject"] = {"reference": "https://ehr.example/fhir/Patient/pseudo-b4"}
    grouped = condition("c-group", "pseudo-b4", ICD, "G35")
    grouped["subject"] = {"reference": "Group/cohort-1"}
    write_ndjson(export / "Condition.001.ndjson", [absolute, grouped])
    found = items(export)
    assert by_patient(found)["pseudo-b4"]["disease"] == "ms"
    [group] = [i for i in found if Path(i.file).name == "Condition.001.ndjson"]
    assert group.line == 2
    assert "Condition/c-group has subject 'Group/cohort-1', which is not a Patient" in str(
        group.problems[0]
    )


def test_an_invalid_resource_is_left_out_with_a_note_naming_its_file_and_line(
    export: Path,
) -> None:
    broken = lab("egfr-bad", "pseudo-b2", "33914-3", 60, "mL/min/{1.73_m2}", "2026-10-01")
    broken["valueQuantity"]["value"] = "sixty"
    with (export / "Observation.001.ndjson").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(broken) + "\n")
    second = next(i for i in items(export) if i.patient_id == "pseudo-b2")
    assert second.imported is not None
    assert second.imported.data["labs"] == {"platelets": 180}  # the rest of the patient is read
    [note] = [str(n) for n in second.imported.notes if "not valid FHIR R4" in n.reason]
    assert note.startswith("Observation/egfr-bad: not valid FHIR R4, left out (")
    assert f"{export / 'Observation.001.ndjson'}:3: valueQuantity.value: " in note
    assert "entry[" not in note


def test_an_stu3_export_says_so_for_each_patient(tmp_path: Path) -> None:
    write_ndjson(tmp_path / "Patient.ndjson", [patient("pseudo-s1", "female", "1990-05-01")])
    old = condition("c-old", "pseudo-s1", ICD, "M32.14")
    old["clinicalStatus"] = "active"  # a code in STU3, a CodeableConcept in R4
    write_ndjson(tmp_path / "Condition.ndjson", [old])
    [item] = items(tmp_path)
    assert item.imported is None and item.patient_id == "pseudo-s1"
    assert "this is a FHIR STU3 bundle, not R4" in str(item.problems[0])
    assert str(item.problems[0]).startswith(f"{tmp_path / 'Patient.ndjson'}:1:")


def test_a_directory_without_patient_files_is_not_an_export(tmp_path: Path) -> None:
    write_ndjson(tmp_path / "Condition.ndjson", [condition("c", "p", ICD, "M32.14")])
    assert not is_export(tmp_path)
    with pytest.raises(InputError, match=r"Patient\.ndjson"):
        list(iter_export(tmp_path))


def test_a_patient_without_an_id_is_an_error_in_its_place(tmp_path: Path) -> None:
    write_ndjson(
        tmp_path / "Patient.ndjson",
        [
            {"resourceType": "Patient", "gender": "female"},
            patient("pseudo-i2", "male", "1980-01-01"),
        ],
    )
    first, second = items(tmp_path)
    assert first.imported is None and first.line == 1
    assert str(first.problems[0]).endswith("id: a Patient of a bulk export needs a FHIR id "
                                           "(up to 64 letters, digits, '-' or '.'), which its "
                                           "resources refer to")  # fmt: skip
    assert second.patient_id == "pseudo-i2" and second.imported is not None


def test_an_export_without_a_patient_is_one_error_record(tmp_path: Path) -> None:
    (tmp_path / "Patient.ndjson").write_text("\n", encoding="utf-8")
    write_ndjson(tmp_path / "Condition.ndjson", [condition("c", "pseudo-x", ICD, "M32.14")])
    found = items(tmp_path)
    assert [(Path(i.file).name, i.line) for i in found] == [
        ("Patient.ndjson", 1),
        ("Condition.ndjson", 1),
    ]
    assert "the export holds no Patient" in str(found[0].problems[0])
    assert "refers to Patient/pseudo-x" in str(found[1].problems[0])


def test_an_unsplit_export_is_read_too(tmp_path: Path) -> None:
    write_ndjson(tmp_path / "Patient.ndjson", [patient("pseudo-u1", "female", "1990-05-01")])
    write_ndjson(tmp_path / "Condition.ndjson", [condition("c", "pseudo-u1", ICD, "G70.00")])
    assert is_export(tmp_path)
    assert by_patient(items(tmp_path)) == {
        "pseudo-u1": {"id": "pseudo-u1", "age": 36, "sex": "female", "disease": "mg"}
    }


# --- the command line ---------------------------------------------------------------------------


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_screen_gives_one_record_per_patient_and_one_per_line_no_patient_took(
    export: Path,
) -> None:
    result = run("screen", str(export), "--format", "jsonl")
    assert result.exit_code == ExitCode.RECORD_ERRORS, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["case_id"] for r in records] == [
        "pseudo-b1", "pseudo-b2", "pseudo-b3", "pseudo-b4", None, None, None
    ]  # fmt: skip
    for record in records[:4]:
        assert record["error"] is None and record["trials"]
        assert any("Encounter files not read" in w for w in record["warnings"])
    assert records[0]["source"] == f"{export / 'Patient.000.ndjson'}:1"
    assert records[2]["source"] == f"{export / 'Patient.001.ndjson'}:1"
    assert [r["source"] for r in records[4:]] == [
        f"{export / 'Condition.000.ndjson'}:3",
        f"{export / 'Condition.000.ndjson'}:4",
        f"{export / 'Observation.001.ndjson'}:2",
    ]
    assert "invalid JSON" in records[4]["error"]
    assert "Patient/pseudo-gone" in records[5]["error"]
    assert "3 record(s) had errors" in result.stderr


def test_screen_of_an_export_in_worker_processes_keeps_the_order(export: Path) -> None:
    for number in range(5, 140):  # beyond the size below which the batch stays in-process
        with (export / "Patient.001.ndjson").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(patient(f"pseudo-b{number}", "female", "1980-01-01")) + "\n")
    result = run("screen", str(export), "--format", "jsonl", "--jobs", "2")
    ids = [json.loads(line)["case_id"] for line in result.stdout.splitlines()]
    assert ids[:139] == [f"pseudo-b{n}" for n in range(1, 140)]
    assert ids[139:] == [None, None, None]


def test_screen_refuses_a_directory_that_is_not_an_export(tmp_path: Path) -> None:
    (tmp_path / "case.yaml").write_text("id: x\n", encoding="utf-8")
    result = run("screen", str(tmp_path))
    assert result.exit_code == ExitCode.CANNOT_RUN
    assert "needs Patient.ndjson" in result.stderr


def test_screen_never_writes_into_the_export(export: Path) -> None:
    result = run("screen", str(export), "--output", str(export / "results.jsonl"))
    assert result.exit_code == ExitCode.CANNOT_RUN
    assert not (export / "results.jsonl").exists()


def test_import_fhir_writes_one_case_per_patient_below_its_notes(
    export: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cases.yaml"
    result = run("import-fhir", str(export), "-o", str(out), "--reference-date", "2026-11-24")
    assert result.exit_code == ExitCode.RECORD_ERRORS, result.output
    text = out.read_text(encoding="utf-8")
    cases = yaml.safe_load(text)
    assert [c["id"] for c in cases] == ["pseudo-b1", "pseudo-b2", "pseudo-b3", "pseudo-b4"]
    assert cases == list(by_patient(items(export)).values())
    assert f"# {export / 'Condition.000.ndjson'}:4: NOT IMPORTED" in text
    assert "#   - export: Encounter files not read: not used by the case format" in text
    assert "3 bundle(s) could not be imported" in result.stderr


# --- a real public export -----------------------------------------------------------------------


def test_a_public_synthea_export_reads_as_a_clinician_would_read_it() -> None:
    found = list(iter_export(PUBLIC, reference_date=EXPORTED))
    assert [(Path(i.file).name, i.line, i.problems) for i in found] == [
        ("Patient.000.ndjson", n, ()) for n in range(1, 6)
    ]  # log.ndjson is the export's log, not a resource file: no record of its own
    cases = {pid[:8]: data for pid, data in by_patient(found).items()}
    assert not [c for c in cases.values() if "disease" in c]  # none has a disease of the catalog
    transplant = cases["79a66c97"]
    assert transplant["sex"] == "female"
    assert transplant["organ_damage"]["esrd"] is True
    # tacrolimus is named only by the shared Medication its orders refer to
    assert "tacrolimus" in [t["drug"] for t in transplant["therapies"]]
    imported = next(i.imported for i in found if i.patient_id and i.patient_id[:8] == "79a66c97")
    assert imported is not None
    assert any("deceased" in str(n) for n in imported.notes)
    asthma = cases["fb7c882a"]
    assert (asthma["sex"], asthma["age"]) == ("female", 22)
    # inhaled budesonide acts in the airways: reported, never systemic glucocorticoid therapy
    assert "budesonide" not in [t["drug"] for t in asthma.get("therapies", [])]
    inhaled = next(i.imported for i in found if (i.patient_id or "")[:8] == "fb7c882a")
    assert inhaled is not None
    assert any(n.detail == "budesonide (inhalation)" for n in inhaled.notes)
    contraception = next(i.imported for i in found if (i.patient_id or "")[:8] == "7bc002fa")
    assert contraception is not None and "therapies" not in contraception.data
    unknown = [n.reason for n in contraception.notes if "drug vocabulary" in n.reason]
    assert any("Mirena 52 MG Intrauterine System" in r for r in unknown)
    assert cases["63ee2253"]["age"] == 13 and cases["63ee2253"]["sex"] == "male"


def test_screen_of_the_public_export_gives_the_patient_who_died_no_verdicts() -> None:
    result = run("screen", str(PUBLIC), "--format", "jsonl")
    assert result.exit_code == ExitCode.OK, result.output
    records = {r["case_id"][:8]: r for r in map(json.loads, result.stdout.splitlines())}
    assert sorted(records) == ["63ee2253", "79a66c97", "7bc002fa", "bb6a9034", "fb7c882a"]
    died = records["79a66c97"]
    assert died["deceased"] is True and died["deceased_date"].startswith("1994-11-11")
    assert died["trials"] == []
    assert all(r["trials"] and not r.get("deceased") for k, r in records.items() if k != "79a66c97")
