"""One FHIR mapping per rules directory: ``--rules DIR`` imports FHIR with ``DIR``'s
``vocabulary/fhir.yaml`` in ``import-fhir``, ``screen``, the terminal UI and the service
workers alike, so a site's local codes are read wherever its rules are used."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from careligible.catalog import default_rules_dir, load_catalog
from careligible.errors import RulesError
from careligible.fhir import import_bundle, load_mapping
from careligible.fhir.bulk import iter_export
from careligible.tui.files import load_case_file
from conftest import run_cli

#: A local wording of SLE that the shipped mapping does not know.
LOCAL_TEXT = "lupus eritematoso sistemico"


def bundle(tmp_path: Path) -> Path:
    """A bundle whose only diagnosis is written in the site's own words."""
    data: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "pt-local-1",
                    "gender": "female",
                    "birthDate": "1990-01-01",
                }
            },
            {
                "resource": {
                    "resourceType": "Condition",
                    "id": "cond-1",
                    "subject": {"reference": "Patient/pt-local-1"},
                    "clinicalStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                "code": "active",
                            }
                        ]
                    },
                    "verificationStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                "code": "confirmed",
                            }
                        ]
                    },
                    "code": {"text": LOCAL_TEXT.capitalize()},
                }
            },
        ],
    }
    path = tmp_path / "local.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def site_rules(tmp_path: Path) -> Path:
    """The shipped rules with one more wording of SLE in their FHIR mapping."""
    rules = tmp_path / "site-rules"
    shutil.copytree(default_rules_dir(), rules)
    mapping = rules / "vocabulary" / "fhir.yaml"
    text = mapping.read_text(encoding="utf-8")
    shipped = "    text: [systemic lupus erythematosus, SLE]\n"
    assert shipped in text
    mapping.write_text(
        text.replace(shipped, f"    text: [systemic lupus erythematosus, SLE, {LOCAL_TEXT}]\n"),
        encoding="utf-8",
    )
    return rules


def disease_facts(stdout: str) -> set[Any]:
    """Every value of ``disease`` the screen's criteria read."""
    (record,) = [json.loads(line) for line in stdout.splitlines()]
    return {
        c["facts"]["disease"]
        for t in record["trials"]
        for c in t["criteria"]
        if "disease" in c["facts"]
    }


def test_import_fhir_reads_with_the_mapping_of_its_rules(tmp_path: Path, site_rules: Path) -> None:
    path = bundle(tmp_path)
    shipped = run_cli("import-fhir", path, "--reference-date", "2026-11-30")
    assert shipped.exit_code == 0, shipped.output
    assert "disease: sle" not in shipped.stdout
    local = run_cli("import-fhir", path, "--reference-date", "2026-11-30", "--rules", site_rules)
    assert local.exit_code == 0, local.output
    assert "disease: sle" in local.stdout


def test_screen_imports_a_bundle_with_the_mapping_of_its_rules(
    tmp_path: Path, site_rules: Path
) -> None:
    path = bundle(tmp_path)
    shipped = run_cli("screen", path, "--format", "jsonl")
    assert disease_facts(shipped.stdout) == {None}
    local = run_cli("screen", path, "--format", "jsonl", "--rules", site_rules)
    assert disease_facts(local.stdout) == {"sle"}
    parallel = run_cli("screen", path, "--format", "jsonl", "--rules", site_rules, "--jobs", "2")
    assert disease_facts(parallel.stdout) == {"sle"}


def test_explain_imports_a_bundle_with_the_mapping_of_its_rules(
    tmp_path: Path, site_rules: Path
) -> None:
    path = bundle(tmp_path)

    def diseases(result: Any) -> set[Any]:
        assert result.exit_code == 0, result.output
        (case,) = json.loads(result.stdout)
        return {
            c["facts"]["disease"]
            for t in case["trials"]
            for c in t["criteria"]
            if "disease" in c["facts"]
        }

    assert diseases(run_cli("explain", path, "--format", "json")) == {None}
    local = run_cli("explain", path, "--format", "json", "--rules", site_rules)
    assert diseases(local) == {"sle"}


def test_report_imports_a_bundle_with_the_mapping_of_its_rules(
    tmp_path: Path, site_rules: Path
) -> None:
    path = bundle(tmp_path)
    shipped = run_cli("report", path, "--output-dir", tmp_path / "shipped")
    assert shipped.exit_code == 0, shipped.output
    assert "| `disease` |" not in (tmp_path / "shipped" / "pt-local-1.md").read_text("utf-8")
    local = run_cli("report", path, "--output-dir", tmp_path / "local", "--rules", site_rules)
    assert local.exit_code == 0, local.output
    text = (tmp_path / "local" / "pt-local-1.md").read_text("utf-8")
    assert "| `disease` | sle |" in text


def test_the_terminal_ui_opens_a_bundle_with_the_mapping_of_its_rules(
    tmp_path: Path, site_rules: Path
) -> None:
    path = bundle(tmp_path)
    assert load_case_file(path, load_catalog()).values["disease"] == ""
    assert load_case_file(path, load_catalog(site_rules)).values["disease"] == "sle"


def test_an_import_given_a_catalog_reads_with_its_mapping(tmp_path: Path, site_rules: Path) -> None:
    data = json.loads(bundle(tmp_path).read_text(encoding="utf-8"))
    assert "disease" not in import_bundle(data, catalog=load_catalog()).data
    assert import_bundle(data, catalog=load_catalog(site_rules)).data["disease"] == "sle"


def test_a_bulk_export_given_a_catalog_reads_with_its_mapping(
    tmp_path: Path, site_rules: Path
) -> None:
    patient, condition = (
        e["resource"] for e in json.loads(bundle(tmp_path).read_text(encoding="utf-8"))["entry"]
    )
    export = tmp_path / "export"
    export.mkdir()
    (export / "Patient.ndjson").write_text(json.dumps(patient) + "\n", encoding="utf-8")
    (export / "Condition.ndjson").write_text(json.dumps(condition) + "\n", encoding="utf-8")
    (shipped,) = iter_export(export, catalog=load_catalog())
    (local,) = iter_export(export, catalog=load_catalog(site_rules))
    assert shipped.imported is not None and "disease" not in shipped.imported.data
    assert local.imported is not None and local.imported.data["disease"] == "sle"


def test_an_import_takes_a_catalog_or_a_mapping_never_both(tmp_path: Path) -> None:
    data = json.loads(bundle(tmp_path).read_text(encoding="utf-8"))
    with pytest.raises(TypeError, match="not both"):
        import_bundle(data, catalog=load_catalog(), mapping=load_mapping())


def test_a_broken_mapping_in_a_catalog_is_said_before_the_bundle_is_read(
    site_rules: Path,
) -> None:
    mapping = site_rules / "vocabulary" / "fhir.yaml"
    mapping.write_text(mapping.read_text(encoding="utf-8") + "unknown_section: 1\n", "utf-8")
    with pytest.raises(RulesError, match="unknown_section"):
        import_bundle(["not", "a", "bundle"], catalog=load_catalog(site_rules))


def test_a_broken_mapping_in_the_rules_stops_import_fhir_naming_the_file(
    tmp_path: Path, site_rules: Path
) -> None:
    mapping = site_rules / "vocabulary" / "fhir.yaml"
    mapping.write_text(mapping.read_text(encoding="utf-8") + "unknown_section: 1\n", "utf-8")
    result = run_cli("import-fhir", bundle(tmp_path), "--rules", site_rules)
    assert result.exit_code == 2
    assert str(mapping) in result.stderr


def test_a_broken_mapping_in_the_rules_makes_each_bundle_an_error_record(
    tmp_path: Path, site_rules: Path
) -> None:
    mapping = site_rules / "vocabulary" / "fhir.yaml"
    mapping.write_text(mapping.read_text(encoding="utf-8") + "unknown_section: 1\n", "utf-8")
    path = bundle(tmp_path)
    result = run_cli("screen", path, path, "--format", "jsonl", "--rules", site_rules)
    assert result.exit_code == 1, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 2
    for record in records:
        assert "the rules' FHIR mapping is invalid" in record["error"]
        assert str(mapping) in record["error"]
