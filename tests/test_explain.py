"""explain: every verdict traced to the criteria, facts, rules and sources behind it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from careligible.catalog import Catalog
from careligible.cli.audit import explain
from careligible.explain import case_explanation, render, show_value
from careligible.readers import parse_case, read_records
from careligible.screening import Screener

REPO = Path(__file__).resolve().parents[1]
MG = REPO / "cases" / "myasthenia-gravis.yaml"


def run(*args: str) -> Result:
    return CliRunner().invoke(explain, list(args))


def test_text_names_the_deciding_facts_with_their_values() -> None:
    result = run(str(MG), "--trial", "NCT06193889")
    assert result.exit_code == 0, result.output
    assert "NCT06193889 KYSA-6: ELIGIBLE (cohort gmg" in result.output
    assert "fact scores.qmg = 14" in result.output
    assert "rule NCT06193889/gmg/qmg_ge_11 at trials/NCT06193889.yaml:" in result.output
    assert "why: Enough measurable weakness" in result.output
    # The registry record as read: a verbatim copy of it, not the live page.
    assert "https://github.com/qisichen74-wq/neuroimmune-cart-hub/" in result.output
    assert "to confirm at screening:" in result.output
    assert "stable_background_immunotherapy" in result.output
    assert "considerations:" in result.output


def test_only_the_named_trials_are_explained() -> None:
    result = run(str(MG), "--trial", "nct06193889", "--trial", "NCT05828225")
    assert result.exit_code == 0, result.output
    assert "NCT06193889" in result.output and "NCT05828225" in result.output
    assert "NCT06220201" not in result.output


def test_an_unknown_trial_is_a_usage_error() -> None:
    result = run(str(MG), "--trial", "NCT99999999")
    assert result.exit_code == 2
    assert "NCT99999999" in result.output


def test_json_carries_facts_rule_rationale_and_source() -> None:
    result = run(str(MG), "--trial", "NCT06193889", "--format", "json")
    assert result.exit_code == 0, result.output
    [case] = json.loads(result.output)
    [trial] = case["trials"]
    qmg = next(c for c in trial["criteria"] if c["id"] == "qmg_ge_11")
    assert qmg["facts"] == {"scores.qmg": 14}
    assert qmg["status"] == "met" and qmg["effect"] == "allows"
    assert qmg["where"].startswith("trials/NCT06193889.yaml:")
    assert qmg["rationale"] and qmg["source"]
    assert trial["to_confirm"] and trial["missing"] == []


def test_markdown_is_a_table_per_trial() -> None:
    result = run(str(MG), "--trial", "NCT06193889", "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert "## NCT06193889 (KYSA-6): eligible" in result.output
    assert "`scores.qmg` = 14" in result.output


def test_every_case_of_a_multi_case_file_is_explained() -> None:
    result = run(str(REPO / "cases" / "batch.jsonl"), "--format", "json")
    cases = json.loads(result.stdout)
    assert len(cases) >= 2
    assert len({c["case_id"] for c in cases}) == len(cases)


def test_a_bad_record_is_reported_and_the_others_explained(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text('{"id": "a", "age": 40, "disease": "mg"}\n{"id": "b", "age": -1}\n')
    result = run(str(path), "--format", "json")
    assert result.exit_code == 1
    assert [c["case_id"] for c in json.loads(result.stdout)] == ["a"]


def test_missing_facts_are_named_when_the_verdict_needs_information(
    tmp_path: Path, catalog: Catalog, screener: Screener
) -> None:
    path = tmp_path / "case.yaml"
    path.write_text("id: sparse\ndisease: mg\nage: 40\n")
    [record] = read_records(path)
    parsed = parse_case(record)
    assert parsed.case is not None
    data = case_explanation(screener.screen(parsed.case, parsed.source), catalog, ["NCT06193889"])
    [trial] = data["trials"]
    assert trial["verdict"] == "needs_info"
    assert "scores.qmg" in trial["missing"]
    text = render([data], "text")
    assert "fact scores.qmg = unknown" in text
    assert "missing: " in text and "scores.qmg" in text


def test_values_read_as_clinicians_write_them() -> None:
    assert show_value(None) == "unknown"
    assert show_value(True) == "yes"
    assert show_value({"qualifying": ["rituximab"], "uncertain": []}) == (
        "qualifying: rituximab; uncertain: none"
    )
