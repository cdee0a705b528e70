"""A case recorded as deceased gets a "deceased" result, never trial verdicts, in every output.

The case fields are ``deceased`` (bool) and ``deceased_date`` (a date, which implies
``deceased: true``); absent, the patient is screened as before. FHIR import writes them from
``Patient.deceasedBoolean`` / ``deceasedDateTime``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from pydantic import ValidationError

from careligible.case import Case
from careligible.compact import expand, render_expanded
from careligible.fhir import import_bundle
from careligible.screening import Screener
from conftest import REPO, run_cli

SLE = REPO / "cases" / "sle-nephritis.yaml"
FHIR_SLE = REPO / "tests" / "fixtures" / "fhir" / "sle-lupus-nephritis.json"
DAY = dt.date(2026, 11, 24)


def sle_case(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SLE.read_text(encoding="utf-8"))
    data.update(extra)
    return data


def case_file(tmp_path: Path, **extra: Any) -> Path:
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(sle_case(**extra), sort_keys=False), encoding="utf-8")
    return path


def alive_file(tmp_path: Path) -> Path:
    """The same patient under another id (a batch refuses an id seen twice), alive."""
    path = tmp_path / "alive.yaml"
    path.write_text(yaml.safe_dump(sle_case(id="demo-sle-02")), encoding="utf-8")
    return path


# --- the case fields ------------------------------------------------------------------------------


def test_a_date_of_death_makes_the_case_deceased() -> None:
    case = Case.model_validate({"id": "d-1", "deceased_date": "2013-04-02"})
    assert case.deceased is True and case.deceased_date == dt.date(2013, 4, 2)
    assert Case.model_validate({"id": "d-2", "deceased": True}).deceased_date is None
    assert Case.model_validate({"id": "a-1"}).deceased is None  # absent: not recorded


def test_a_contradictory_or_future_death_is_refused() -> None:
    with pytest.raises(ValidationError, match="deceased is false"):
        Case.model_validate({"id": "d-3", "deceased": False, "deceased_date": "2013-04-02"})
    with pytest.raises(ValidationError, match="after the case's date"):
        Case.model_validate({"id": "d-4", "as_of": "2012-01-01", "deceased_date": "2013-04-02"})


def test_csv_cases_take_the_deceased_columns(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text("id,disease,deceased,deceased_date\nc-1,sle,,2013-04-02\nc-2,sle,,\n")
    result = run_cli("screen", path, "--format", "jsonl")
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["deceased"] is True and first["deceased_date"] == "2013-04-02"
    assert first["trials"] == []
    assert "deceased" not in second and "deceased_date" not in second and second["trials"]


# --- screening: one result, in the core -----------------------------------------------------------


def test_screening_a_deceased_case_gives_no_verdicts(screener: Screener) -> None:
    alive = screener.screen(Case.model_validate(sle_case()))
    assert alive.trials and not alive.deceased
    dead = screener.screen(Case.model_validate(sle_case(deceased_date="2013-04-02")))
    assert dead.deceased and dead.deceased_date == "2013-04-02"
    assert dead.trials == [] and dead.ask_next == [] and dead.considerations == []
    assert dead.warnings == [
        "DECEASED on 2013-04-02: the patient is recorded as deceased; no trial was screened"
    ]
    undated = screener.screen(Case.model_validate(sle_case(deceased=True)))
    assert undated.deceased and undated.deceased_date is None
    assert "date not recorded" in undated.warnings[0]


# --- every output format --------------------------------------------------------------------------


def test_jsonl_and_json_say_deceased(tmp_path: Path) -> None:
    path = case_file(tmp_path, deceased_date="2013-04-02")
    (record,) = [
        json.loads(x) for x in run_cli("screen", path, "--format", "jsonl").stdout.splitlines()
    ]
    assert (record["deceased"], record["deceased_date"], record["trials"]) == (
        True,
        "2013-04-02",
        [],
    )
    (same,) = json.loads(run_cli("screen", path, "--format", "json").stdout)
    assert same["deceased"] is True and same["trials"] == []


def test_csv_output_has_deceased_columns(tmp_path: Path) -> None:
    dead = case_file(tmp_path, deceased_date="2013-04-02")
    out = run_cli("screen", dead, alive_file(tmp_path), "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert (rows[0]["deceased"], rows[0]["deceased_date"]) == ("true", "2013-04-02")
    assert rows[0]["eligible"] == rows[0]["needs_info"] == rows[0]["ineligible"] == ""
    assert "DECEASED on 2013-04-02" in rows[0]["warnings"]
    assert (rows[1]["deceased"], rows[1]["deceased_date"]) == ("", "")
    assert rows[1]["ineligible"]


def test_compact_and_parquet_say_deceased(tmp_path: Path, screener: Screener) -> None:
    path = case_file(tmp_path, deceased_date="2013-04-02")
    (line,) = run_cli("screen", path, "--format", "compact").stdout.splitlines()
    record = json.loads(line)
    assert record["deceased"] is True and record["deceased_date"] == "2013-04-02"
    assert record["trials"] == []
    expanded = expand(record, screener.catalog)
    assert (expanded["deceased"], expanded["deceased_date"]) == (True, "2013-04-02")
    alive = json.loads(run_cli("screen", alive_file(tmp_path), "--format", "compact").stdout)
    assert "deceased" not in expand(alive, screener.catalog)  # as in the jsonl record
    assert "DECEASED on 2013-04-02" in render_expanded(expanded)
    target = tmp_path / "out.parquet"
    run_cli("screen", path, alive_file(tmp_path), "--format", "parquet", "-j", "1", "-o", target)
    rows = pq.read_table(target).to_pylist()
    assert (rows[0]["deceased"], rows[0]["deceased_date"], rows[0]["trials"]) == (
        True,
        "2013-04-02",
        [],
    )
    assert rows[1]["deceased"] is None and rows[1]["trials"]


def test_the_table_says_deceased_not_no_trial_open(tmp_path: Path) -> None:
    path = case_file(tmp_path, deceased_date="2013-04-02")
    out = run_cli("screen", path, "--format", "table").stdout
    assert "DECEASED on 2013-04-02" in out
    assert "no trial is open" not in out and "NCT" not in out


def test_explain_says_deceased(tmp_path: Path) -> None:
    path = case_file(tmp_path, deceased=True)
    text = run_cli("explain", path).stdout
    assert "DECEASED (date not recorded)" in text and "NCT" not in text
    markdown = run_cli("explain", path, "--format", "markdown").stdout
    assert "**DECEASED (date not recorded)" in markdown
    (as_json,) = json.loads(run_cli("explain", path, "--format", "json").stdout)
    assert as_json["deceased"] is True and as_json["trials"] == []


def test_the_report_says_deceased(tmp_path: Path) -> None:
    path = case_file(tmp_path, deceased_date="2013-04-02")
    run_cli("report", path, "--output-dir", tmp_path / "reports")
    (report,) = (tmp_path / "reports").iterdir()
    text = report.read_text(encoding="utf-8")
    assert "DECEASED on 2013-04-02" in text and "NCT0" not in text


# --- FHIR import ----------------------------------------------------------------------------------


def with_patient(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FHIR_SLE.read_text(encoding="utf-8"))
    patient = next(
        e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    patient.update(fields)
    return data


def test_import_writes_the_date_of_death() -> None:
    case = import_bundle(
        with_patient(deceasedDateTime="2013-04-02T10:00:00+02:00"), reference_date=DAY
    )
    assert (case.data["deceased"], case.data["deceased_date"]) == (True, "2013-04-02")
    assert case.deceased == "deceased 2013-04-02"
    assert case.sources["deceased_date"].startswith("Patient/")


def test_import_reads_deceased_boolean_and_a_partial_date() -> None:
    flagged = import_bundle(with_patient(deceasedBoolean=True), reference_date=DAY)
    assert flagged.data["deceased"] is True and "deceased_date" not in flagged.data
    alive = import_bundle(with_patient(deceasedBoolean=False), reference_date=DAY)
    assert alive.data["deceased"] is False and alive.deceased is None
    coarse = import_bundle(with_patient(deceasedDateTime="2013"), reference_date=DAY)
    assert coarse.data["deceased"] is True and "deceased_date" not in coarse.data
    assert any("'2013' is not a full date" in n.reason for n in coarse.notes)


def test_a_death_after_the_reference_date_is_not_recorded() -> None:
    case = import_bundle(with_patient(deceasedDateTime="2026-12-01"), reference_date=DAY)
    assert "deceased" not in case.data
    assert any("after the reference date; alive then" in n.reason for n in case.notes)


def test_import_fhir_puts_deceased_first_and_screen_gives_no_verdicts(tmp_path: Path) -> None:
    bundle = tmp_path / "dead.json"
    bundle.write_text(json.dumps(with_patient(deceasedDateTime="2013-04-02")), encoding="utf-8")
    out = run_cli("import-fhir", bundle, "--reference-date", DAY.isoformat()).stdout
    case_lines = out.split("\n\n", 1)[1].splitlines()
    assert case_lines[0] == "# DECEASED 2013-04-02: screening gives this case no trial verdicts"
    assert str(yaml.safe_load(out)["deceased_date"]) == "2013-04-02"
    (record,) = json.loads(run_cli("screen", bundle, "--format", "json").stdout)
    assert record["deceased"] is True and record["trials"] == []
    assert "DECEASED on 2013-04-02" in " ".join(record["warnings"])


def test_the_tui_form_carries_deceased_through_screening_and_save(
    tmp_path: Path, screener: Screener
) -> None:
    """The form has no widget for it, but a deceased patient opened in the TUI stays deceased:
    its screening gives no verdicts and Save keeps the fields."""
    from careligible.tui import form_model
    from careligible.tui.files import load_case_file, save_case

    bundle = tmp_path / "dead.json"
    bundle.write_text(json.dumps(with_patient(deceasedDateTime="2013-04-02")), encoding="utf-8")
    loaded = load_case_file(bundle)
    case, problems = form_model.validate(loaded.values)
    assert problems == {} and case is not None
    assert case.deceased and case.deceased_date == dt.date(2013, 4, 2)
    assert screener.screen(case).trials == []
    save_case(tmp_path / "saved.yaml", case)
    saved = yaml.safe_load((tmp_path / "saved.yaml").read_text(encoding="utf-8"))
    assert (saved["deceased"], str(saved["deceased_date"])) == (True, "2013-04-02")
    alive, _ = form_model.validate(form_model.values_from_case(sle_case()))
    assert alive is not None and alive.deceased is None
