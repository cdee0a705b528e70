"""The import on real third-party FHIR R4 bundles: the facts a clinician would read off each.

The bundles under ``tests/fixtures/fhir/public/`` are Synthea patients published by SMART Health
IT (Apache-2.0; source, commit and paths in the README there), committed verbatim. Each expected
value below was read off the bundle by hand (the resource is named beside it), not off the
import, so a regression in the import fails here. Every import uses a fixed reference date.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from careligible.cli import ExitCode, main
from careligible.fhir import ImportedCase, import_bundle
from careligible.fhir.notes import SCREEN_LINES, grouped
from careligible.tui.files import SHOWN_NOTES, load_case_file

PUBLIC = Path(__file__).resolve().parent / "fixtures" / "fhir" / "public"
RA = PUBLIC / "synthea-rheumatoid-arthritis.json"
COLON = PUBLIC / "synthea-colon-cancer.json"
RENAL = PUBLIC / "synthea-renal-labs.json"
DECEASED = PUBLIC / "synthea-deceased.json"
BUNDLES = (RA, COLON, RENAL, DECEASED)
DAY = dt.date(2021, 6, 1)

#: Patient.id of each bundle: the case id the import must give it.
PATIENT_IDS = {
    RA: "4e122e91-c63f-4112-a778-6ccf5abfd6f2",
    COLON: "a8cd3462-ed0c-48a4-81cc-45249aa946ca",
    RENAL: "6d23a95e-7e18-4201-90ec-9501fa89fbd2",
    DECEASED: "9ceb9c47-030c-4ef2-a7d6-97f2c5676644",
}


def imported(path: Path, day: dt.date = DAY) -> ImportedCase:
    return import_bundle(json.loads(path.read_text(encoding="utf-8")), reference_date=day)


def reasons(case: ImportedCase) -> list[str]:
    return [str(note) for note in case.notes]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_the_fixtures_are_small_and_licensed() -> None:
    readme = (PUBLIC / "README.md").read_text(encoding="utf-8")
    assert "Apache License 2.0" in readme
    assert "25ac8089f0464b8673c7669509dc0bb8f4883773" in readme
    assert "Apache License" in (PUBLIC / "LICENSE-2.0.txt").read_text(encoding="utf-8")
    for path in BUNDLES:
        assert path.name in readme
        assert path.stat().st_size < 700_000, path.name


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.stem)
def test_every_bundle_imports_with_its_patient_id(path: Path) -> None:
    case = imported(path)
    assert case.case_id == PATIENT_IDS[path]
    assert case.reference_date == DAY
    assert case.notes  # encounters, claims, vital signs: a real record always leaves things out


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.stem)
def test_notes_fit_on_one_screen(path: Path) -> None:
    case = imported(path)
    lines = grouped(case.notes)
    assert len(case.notes) > 100  # the full list would not fit
    assert len(lines) <= SCREEN_LINES
    assert any(line.startswith("not used by the case format (") for line in lines)


def test_rheumatoid_arthritis_with_methotrexate() -> None:
    case = imported(RA)
    data = case.data
    # Patient: birthDate 1985-08-20, gender male.
    assert (data["age"], data["sex"]) == (35, "male")
    # Condition cd390cd5...: SNOMED CT 69896004 Rheumatoid arthritis, active.
    assert data["disease"] == "ra"
    assert "history" not in data  # no cancer in the record: unknown, not "none"
    # MedicationRequests: methotrexate 10 MG and naproxen 500 MG, active orders authored
    # 2018-08-12; acetaminophen (twice) is not in the drug vocabulary.
    drugs = {t["drug"]: t for t in data["therapies"]}
    assert set(drugs) == {"methotrexate", "naproxen"}
    since_order = (DAY - dt.date(2018, 8, 12)).days / 30.4375
    for therapy in drugs.values():
        assert "outcome" not in therapy  # FHIR does not say why a drug was stopped
        assert therapy.get("months", 0) <= since_order + 0.1
    assert data["therapies_complete"] is False
    unmatched = [r for r in reasons(case) if "not in the drug vocabulary" in r]
    assert len(unmatched) == 2
    assert all("Acetaminophen 325 MG Oral Tablet" in r for r in unmatched)


def test_resolved_colon_cancer_is_a_malignancy_within_five_years() -> None:
    case = imported(COLON)
    data = case.data
    # Patient: birthDate 1967-01-21, gender male.
    assert (data["age"], data["sex"]) == (54, "male")
    # Condition 3aee0ef5...: SNOMED CT 93761005 Primary malignant neoplasm of colon, resolved
    # 2018-06-27: under five years before 2021-06-01, over five years before 2023-07-01.
    assert data["history"]["malignancy"] == "within_5y"
    assert case.sources["history.malignancy"] == "Condition/3aee0ef5-70f6-4077-a900-d28b24edb69c"
    assert imported(COLON, dt.date(2023, 7, 1)).data["history"]["malignancy"] == "remote"
    # Its only autoimmune-relevant content is none: no disease is guessed.
    assert "disease" not in data
    # MedicationRequest: naproxen sodium 220 MG, stopped, with no end date: no duration.
    assert data["therapies"] == [{"drug": "naproxen"}]


def test_renal_labs_take_the_latest_result_in_the_window() -> None:
    case = imported(RENAL)
    data = case.data
    # Patient: birthDate 1980-10-28, gender female.
    assert (data["age"], data["sex"]) == (40, "female")
    assert "disease" not in data  # prediabetes only
    # 2020-12-01: eGFR (LOINC 33914-3) 145.856... mL/min/{1.73_m2}, creatinine (38483-4)
    # 0.9397 mg/dL. The eGFR of 56.4 on 2018-11-27 is older than 12 months: stale.
    assert data["labs"]["egfr"] == pytest.approx(145.86, abs=0.01)
    assert data["labs"]["creatinine_mg_dl"] == pytest.approx(0.94, abs=0.01)
    assert any("dated 2018-11-27" in r and "stale, not used" in r for r in reasons(case))


def test_renal_labs_at_an_earlier_date_use_what_existed_then() -> None:
    case = imported(RENAL, dt.date(2019, 6, 1))
    labs = case.data["labs"]
    # 2018-11-27: eGFR 56.4 mL/min/1.73 m2 (CKD stage 3a range); no creatinine that day.
    assert labs["egfr"] == pytest.approx(56.4, abs=0.01)
    assert "creatinine_mg_dl" not in labs
    later = [r for r in reasons(case) if "after the reference date" in r]
    assert later  # the 2020 results did not exist on 2019-06-01
    assert case.data["age"] == 38


def test_a_deceased_patient_is_flagged() -> None:
    case = imported(DECEASED)
    # Patient: birthDate 1957-06-29, gender male, deceasedDateTime 1981-03-14.
    assert case.data["sex"] == "male"
    deceased = [r for r in reasons(case) if "deceased" in r]
    assert deceased and deceased[0].startswith(f"Patient/{PATIENT_IDS[DECEASED]}")
    assert (case.data["deceased"], case.data["deceased_date"]) == (True, "1981-03-14")
    assert (case.data["deceased"], case.data["deceased_date"]) == (True, "1981-03-14")
    # Labs from the 1970s are decades stale: none is used.
    assert "labs" not in case.data
    # Amoxicillin/clavulanate and hydrochlorothiazide are not in the drug vocabulary.
    assert "therapies" not in case.data


def test_import_fhir_writes_one_case_per_bundle_with_one_screen_of_notes(tmp_path: Path) -> None:
    out = tmp_path / "cases.yaml"
    result = run(
        "import-fhir", *map(str, BUNDLES), "-o", str(out), "--reference-date", "2021-06-01"
    )
    assert result.exit_code == ExitCode.OK, result.output
    text = out.read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=# \S+\.json:1: case ')", text)[1:]
    assert [re.search(r"case '([^']+)'", b).group(1) for b in blocks] == [  # type: ignore[union-attr]
        PATIENT_IDS[p] for p in BUNDLES
    ]
    for block in blocks:
        notes = block.split("# not mapped", 1)[1].split("# sources:", 1)[0].splitlines()
        assert 3 <= len(notes) <= SCREEN_LINES + 1, block[:300]


def test_import_fhir_lists_every_note_on_request(tmp_path: Path) -> None:
    out = tmp_path / "case.yaml"
    result = run(
        "import-fhir", str(RA), "-o", str(out), "--reference-date", "2021-06-01", "--all-notes"
    )
    assert result.exit_code == ExitCode.OK, result.output
    listed = [
        line for line in out.read_text(encoding="utf-8").splitlines() if line.startswith("#   - ")
    ]
    assert len(listed) == len(imported(RA).notes)


def test_screen_gives_one_record_per_bundle(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    result = run("screen", *map(str, BUNDLES), "--format", "jsonl", "-j", "1", "-o", str(out))
    assert result.exit_code == ExitCode.OK, result.output
    records: list[dict[str, Any]] = [
        json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()
    ]
    assert [r["case_id"] for r in records] == [PATIENT_IDS[p] for p in BUNDLES]
    for record in records:
        assert record["error"] is None
        assert record["warnings"][0].startswith("imported from a FHIR Bundle")
        assert len(record["warnings"]) <= SCREEN_LINES + 1
    by_id = {r["case_id"]: r for r in records}
    # Rheumatoid arthritis rules out every trial but those recruiting RA.
    open_cohorts = {
        t["cohort"] for t in by_id[PATIENT_IDS[RA]]["trials"] if t["verdict"] != "ineligible"
    }
    assert open_cohorts == {"ra"}
    dead = by_id[PATIENT_IDS[DECEASED]]
    assert (dead["deceased"], dead["deceased_date"], dead["trials"]) == (True, "1981-03-14", [])
    assert any("deceased" in w for w in dead["warnings"])
    assert all(not r.get("deceased") for r in records if r is not dead)


def test_the_tui_notice_names_each_kind_of_note(tmp_path: Path) -> None:
    path = tmp_path / RA.name
    shutil.copy(RA, path)
    message = load_case_file(path).import_message()
    lines = message.splitlines()
    assert lines[0].startswith("Imported from a FHIR Bundle as of ")
    assert len(lines) <= SHOWN_NOTES + 3
    # The bundle opens with organisations and encounters; what a clinician must act on (a drug
    # the vocabulary does not know) must not be buried under them.
    assert any(line.startswith("- not used by the case format (") for line in lines)
    assert any("Acetaminophen 325 MG Oral Tablet" in line for line in lines)
