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
