"""Decision records: a hash chain that shows tampering, and verdicts that can be re-checked."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from careligible.audit import (
    AuditError,
    AuditLog,
    case_hash,
    chain_break,
    open_audit_log,
    read_log,
    record_hash,
    stale_status_warnings,
)
from careligible.case import Case
from careligible.catalog import Catalog, default_rules_dir, load_catalog
from careligible.cli.audit import audit
from careligible.readers import parse_case, read_records
from careligible.screening import Screener

REPO = Path(__file__).resolve().parents[1]
CASES = sorted((REPO / "cases").glob("*.yaml"))


def load_case(path: Path) -> Case:
    [record] = read_records(path)
    case = parse_case(record).case
    assert case is not None
    return case


def verify(log: Path, *args: str) -> Result:
    return CliRunner().invoke(audit, ["verify", str(log), *args])


def write_log(path: Path, catalog: Catalog, screener: Screener, include_case: bool) -> Path:
    log = AuditLog(path)
    for case_file in CASES:
        case = load_case(case_file)
        log.append(screener.screen(case, str(case_file)), case, catalog, include_case)
    return path


@pytest.fixture
def log(tmp_path: Path, catalog: Catalog, screener: Screener) -> Path:
    return write_log(tmp_path / "audit.jsonl", catalog, screener, include_case=True)


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_an_untouched_log_verifies_and_its_verdicts_reproduce(log: Path) -> None:
    result = verify(log)
    assert result.exit_code == 0, result.output
    assert f"chain intact: {len(CASES)} record(s)" in result.output
    assert f"every verdict of {len(CASES)} re-screened case(s)" in result.output


def test_a_record_holds_versions_hashes_verdicts_and_fired_rules(
    tmp_path: Path, catalog: Catalog, screener: Screener
) -> None:
    case = load_case(REPO / "cases" / "myasthenia-gravis.yaml")
    path = tmp_path / "log.jsonl"
    record = AuditLog(path).append(screener.screen(case, "secret-name.yaml:1"), case, catalog)
    assert json.loads(path.read_text()) == record
    assert record["prev"] is None and record["hash"] == record_hash(record)
    assert record["ruleset_version"] == catalog.version
    assert record["tool_version"] and record["time"].endswith("+00:00")
    assert record["case_id"] == "demo-mg-01" and record["case_sha256"] == case_hash(case)
    assert {"nct_id": "NCT06193889", "verdict": "eligible", "cohort": "gmg"} in record["verdicts"]
    assert record["fired"]["NCT06193889"]["qmg_ge_11"] == "met"
    assert "unknown" not in {s for fired in record["fired"].values() for s in fired.values()}
    assert "case" not in record
    assert "secret-name" not in path.read_text()
    assert set(record) == {
        "format",
        "time",
        "tool_version",
        "ruleset_version",
        "case_id",
        "case_sha256",
        "verdicts",
        "fired",
        "prev",
        "hash",
    }


def test_the_case_hash_ignores_layout_and_absent_fields() -> None:
    a = Case.model_validate({"id": "x", "age": 40, "scores": {"qmg": 12}})
    b = Case.model_validate({"scores": {"qmg": 12, "mg_adl": None}, "age": 40, "id": "x"})
    assert case_hash(a) == case_hash(b)
    assert case_hash(a) != case_hash(Case.model_validate({"id": "x", "age": 41}))


def test_an_edited_record_fails_at_that_record(log: Path) -> None:
    lines = lines_of(log)
    record = json.loads(lines[2])
    record["verdicts"][0]["verdict"] = "eligible"
    record["case_id"] = "someone-else"
    lines[2] = json.dumps(record)
    log.write_text("\n".join(lines) + "\n")
    result = verify(log)
    assert result.exit_code == 1
    assert "chain broken: line 3: the record does not match its hash" in result.output


def test_an_edited_record_with_a_recomputed_hash_fails_at_the_next(log: Path) -> None:
    lines = lines_of(log)
    record = json.loads(lines[1])
    record["case_id"] = "someone-else"
    record["hash"] = record_hash(record)
    lines[1] = json.dumps(record)
    log.write_text("\n".join(lines) + "\n")
    result = verify(log)
    assert result.exit_code == 1
    assert "chain broken: line 3: the record does not follow the one before it" in result.output


@pytest.mark.parametrize("index", [0, 3])
def test_a_deleted_record_fails_where_it_was(log: Path, index: int) -> None:
    lines = lines_of(log)
    del lines[index]
    log.write_text("\n".join(lines) + "\n")
    result = verify(log)
    assert result.exit_code == 1
    assert f"chain broken: line {index + 1}: the record does not follow" in result.output


def test_reordered_records_fail(log: Path) -> None:
    lines = lines_of(log)
    lines[1], lines[2] = lines[2], lines[1]
    log.write_text("\n".join(lines) + "\n")
    result = verify(log)
    assert result.exit_code == 1
    assert "chain broken: line 2: the record does not follow" in result.output


def test_a_line_that_is_not_a_record_fails(log: Path) -> None:
    lines = lines_of(log)
    lines[4] = lines[4][:40]
    log.write_text("\n".join(lines) + "\n")
    result = verify(log)
    assert result.exit_code == 1
    assert "chain broken: line 5: not a decision record" in result.output


def test_appending_after_a_torn_record_is_refused(log: Path, catalog: Catalog) -> None:
    log.write_text(log.read_text() + '{"time": "2026')
    case = load_case(CASES[0])
    with pytest.raises(AuditError, match="last record is unreadable"):
        AuditLog(log).append(Screener(catalog).screen(case), case, catalog)


def test_a_changed_threshold_no_longer_reproduces(
    tmp_path: Path, catalog: Catalog, screener: Screener
) -> None:
    data = load_case(REPO / "cases" / "myasthenia-gravis.yaml").model_dump(
        by_alias=True, exclude_none=True
    )
    data["scores"]["qmg"] = 12
    case = Case.model_validate(data)
    log = tmp_path / "audit.jsonl"
    AuditLog(log).append(screener.screen(case), case, catalog, include_case=True)
    assert verify(log).exit_code == 0

    new = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), new)
    trial = new / "trials" / "NCT06193889.yaml"
    text = trial.read_text()
    trial.write_text(
        text.replace("{field: scores.qmg, at_least: 11}", "{field: scores.qmg, at_least: 13}")
    )

    result = verify(log, "--rules", str(new))
    assert result.exit_code == 1, result.output
    assert "chain intact: 1 record(s)" in result.output
    assert (
        "not reproduced: line 1: case demo-mg-01: NCT06193889: recorded eligible (gmg), "
        "now ineligible (gmg); criteria changed: qmg_ge_11: met -> not_met"
    ) in result.output
    assert "made with ruleset version(s)" in result.output


def test_records_without_the_case_only_check_the_chain(
    tmp_path: Path, catalog: Catalog, screener: Screener
) -> None:
    log = write_log(tmp_path / "audit.jsonl", catalog, screener, include_case=False)
    result = verify(log, "--rules", str(tmp_path / "no-such-rules"))
    assert result.exit_code == 0, result.output
    assert f"{len(CASES)} record(s) hold no case" in result.output


def _append_many(path: str, count: int) -> None:
    catalog = load_catalog()
    screener = Screener(catalog)
    case = load_case(REPO / "cases" / "myasthenia-gravis.yaml")
    result = screener.screen(case)
    log = AuditLog(Path(path))
    for _ in range(count):
        log.append(result, case, catalog)


def test_two_processes_appending_at_once_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(str(path), 50)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    lines = read_log(path)
    assert len(lines) == 100
    assert chain_break(lines) is None


def test_open_audit_log_is_optional(tmp_path: Path) -> None:
    assert open_audit_log(None) is None
    log = open_audit_log(tmp_path / "a.jsonl")
    assert log is not None and log.path == tmp_path / "a.jsonl"


def test_stale_trial_status_is_warned(catalog: Catalog) -> None:
    dated = [t.meta.status_as_of for t in catalog.trials if t.meta.status_as_of is not None]
    undated = [t for t in catalog.trials if t.meta.status_as_of is None]
    fresh = stale_status_warnings(catalog, 365, min(dated))
    assert len(fresh) == len(undated) and all("no dated source" in w for w in fresh)
    warnings = stale_status_warnings(catalog, 365, date(max(dated).year + 2, 1, 1))
    assert len(warnings) == len(catalog.trials)
    assert any("NCT06193889" in w and "status_as_of" in w for w in warnings)
