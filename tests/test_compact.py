"""The compact result format: the same verdicts as ``jsonl``, in far fewer bytes, and expandable.

``screen --format compact`` (and ``parquet``) must give, for every input record, one record with
the same case id, error and trial verdicts as ``--format jsonl``; the criteria ids it names must
be those that decide each verdict; ``explain --compact`` must turn them back into the rules'
text; and Parquet must refuse standard output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from careligible.case import Case
from careligible.catalog import load_catalog
from careligible.compact import compact_record, expand
from careligible.results import CaseResult
from careligible.screening import Screener
from conftest import run_cli
from strategies import cases, random_case_dicts

#: Generated cases screened both ways through the command (the benchmark runs 20,000).
BULK = 400

REPO = Path(__file__).resolve().parents[1]
SLE, MIXED = REPO / "cases/sle-nephritis.yaml", REPO / "cases/mixed.csv"
CATALOG = load_catalog()
SCREENER = Screener(CATALOG)
#: What the command screens with for compact output: no criterion's text, facts or source.
BY_ID = Screener(CATALOG, criteria=False)


def write_cases(path: Path, count: int, seed: int = 7) -> Path:
    lines = [json.dumps(data, default=str) for data in random_case_dicts(seed, count)]
    lines.insert(count // 2, '{"id": "broken", "age": "old"}')  # an error record mid-stream
    lines.insert(1, "not json at all")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_agree(full: dict[str, Any], compact: dict[str, Any]) -> None:
    """One jsonl record and its compact record say the same thing about every trial."""
    assert compact["case_id"] == full["case_id"]
    assert compact["source"] == full["source"]
    assert compact.get("error") == full["error"]
    assert compact["ruleset_version"] == CATALOG.version
    assert [t["nct_id"] for t in compact["trials"]] == [t["nct_id"] for t in full["trials"]]
    for short, trial in zip(compact["trials"], full["trials"], strict=True):
        assert short["verdict"] == trial["verdict"], trial["nct_id"]
        if trial["blocked_by"] == ["disease"]:  # ruled out by the disease gate alone
            assert set(short) == {"nct_id", "verdict"}
            continue
        assert (short["cohort"], short["status"]) == (trial["cohort"], trial["status"])
        assert short.get("blocked_by", []) == trial["blocked_by"]
        if trial["verdict"] == "needs_info":
            assert short.get("missing", []) == trial["missing"]
        if trial["verdict"] == "possibly_eligible":
            defining = [c["id"] for c in trial["to_confirm"] if c["defines_population"]]
            assert short["to_confirm"] == defining and defining


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Generated cases, screened to jsonl and to compact by the command."""
    root = tmp_path_factory.mktemp("compact")
    source = write_cases(root / "cases.jsonl", BULK)
    for fmt in ("jsonl", "compact"):
        result = run_cli("screen", source, "--format", fmt, "--jobs", "1", "-o", root / fmt)
        assert result.exit_code == 1, result.output  # the two bad records
    return source, root / "jsonl", root / "compact"


def test_compact_and_jsonl_agree_on_every_verdict(both: tuple[Path, Path, Path]) -> None:
    source, full, compact = both
    full_records, compact_records = records(full), records(compact)
    assert len(compact_records) == len(full_records) == BULK + 2  # one per input record
    verdicts = set()
    for full_record, compact_record_ in zip(full_records, compact_records, strict=True):
        assert_agree(full_record, compact_record_)
        verdicts |= {t["verdict"] for t in full_record["trials"]}
    assert verdicts >= {"ineligible", "needs_info", "possibly_eligible"}  # not one kind only
    errors = [r for r in compact_records if "error" in r]
    assert [e["source"] for e in errors] == [f"{source}:2", f"{source}:{BULK // 2 + 2}"]
    assert all(e["trials"] == [] for e in errors)


def test_compact_is_a_small_part_of_jsonl(both: tuple[Path, Path, Path]) -> None:
    _, full, compact = both
    assert compact.stat().st_size * 10 < full.stat().st_size


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_compact_record_names_what_decides_each_verdict(case: Any) -> None:
    result = SCREENER.screen(case, "hypothesis:1")
    full = json.loads(result.model_dump_json())
    assert_agree(full, compact_record(result, CATALOG.version))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_a_screener_without_criteria_gives_the_same_compact_record(case: Any) -> None:
    light = BY_ID.screen(case, "hypothesis:1")
    assert all(trial.criteria == [] for trial in light.trials)  # nothing gathered
    full = SCREENER.screen(case, "hypothesis:1")
    assert compact_record(light, CATALOG.version) == compact_record(full, CATALOG.version)
    assert [t.only_blocker for t in light.trials] == [t.only_blocker for t in full.trials]
    assert [(t.checked, t.total) for t in light.trials] == [
        (t.checked, t.total) for t in full.trials
    ]
    assert light.ask_next == full.ask_next


def test_workers_write_the_same_compact_records(tmp_path: Path) -> None:
    source = write_cases(tmp_path / "cases.jsonl", 300, seed=11)
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}.jsonl"
        assert (
            run_cli("screen", source, "--format", "compact", "-j", jobs, "-o", out).exit_code == 1
        )
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_parquet_rows_are_the_compact_records(tmp_path: Path) -> None:
    source = write_cases(tmp_path / "cases.jsonl", 150, seed=3)
    run_cli("screen", source, "--format", "compact", "-j", "1", "-o", tmp_path / "c.jsonl")
    result = run_cli("screen", source, "--format", "parquet", "-j", "1", "-o", tmp_path / "c.pq")
    assert result.exit_code == 1, result.output
    rows = pq.read_table(tmp_path / "c.pq").to_pylist()
    expected = records(tmp_path / "c.jsonl")
    assert len(rows) == len(expected) == 152
    for row, record in zip(rows, expected, strict=True):
        trials = [{k: v for k, v in t.items() if v is not None} for t in row.pop("trials")]
        kept = {k: v for k, v in row.items() if v is not None or k == "case_id"}
        assert kept | {"trials": trials} == record


def test_parquet_refuses_standard_output(tmp_path: Path) -> None:
    result = run_cli("screen", SLE, "--format", "parquet")
    assert result.exit_code == 2
    assert "--format parquet writes a binary file: give --output FILE" in result.stderr
    assert result.stdout == ""


def test_explain_expands_a_compact_record_into_the_rules_text(tmp_path: Path) -> None:
    out = tmp_path / "c.jsonl"
    run_cli("screen", SLE, MIXED, "--format", "compact", "-o", out)
    full = run_cli("screen", SLE, MIXED, "--format", "jsonl")
    result = run_cli("explain", "--compact", out, "--format", "json")
    assert result.exit_code == 0, result.output
    expanded = json.loads(result.stdout)
    originals = [json.loads(line) for line in full.stdout.splitlines()]
    assert len(expanded) == len(originals)
    named = 0
    for case, original in zip(expanded, originals, strict=True):
        assert case["case_id"] == original["case_id"]
        for trial, source in zip(case["trials"], original["trials"], strict=True):
            texts = {c["id"]: c["text"] for c in source["criteria"]}
            texts |= {c["id"]: c["text"] for c in source["to_confirm"]}
            assert [c["id"] for c in trial["blocked_by"]] == source["blocked_by"]
            for item in trial["blocked_by"] + trial["to_confirm"]:
                assert item["text"] == texts[item["id"]], (source["nct_id"], item["id"])
                named += 1
            assert trial["missing"] == source["missing"]
    assert named > 20


def test_explain_refuses_a_record_of_another_ruleset(tmp_path: Path) -> None:
    result = SCREENER.screen(Case(id="p-1", disease="sle", age=30), "x:1")
    record = compact_record(result, "0000000000000000")
    with pytest.raises(ValueError, match="written with ruleset version 0000000000000000"):
        expand(record, CATALOG)
    path = tmp_path / "old.jsonl"
    lines = [json.dumps(record), json.dumps(compact_record(result, CATALOG.version)), "{}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cli = run_cli("explain", "--compact", path)
    assert cli.exit_code == 1
    assert f"{path}:1: written with ruleset version 0000000000000000" in cli.stderr
    assert f"{path}:3: not a compact record" in cli.stderr
    assert cli.stdout.count("Case ") == 1  # the good record is still expanded


def test_an_error_record_stays_an_error_record() -> None:
    record = compact_record(
        CaseResult(case_id=None, source="f:3", error="age: not a number"), CATALOG.version
    )
    assert record == {
        "case_id": None,
        "source": "f:3",
        "ruleset_version": CATALOG.version,
        "error": "age: not a number",
        "trials": [],
    }
