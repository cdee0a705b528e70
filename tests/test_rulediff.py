"""rules diff: what changed between two catalogs, and which cases it moves."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner, Result

from careligible.catalog import default_rules_dir, load_catalog
from careligible.cli.audit import rules_diff
from careligible.rulediff import diff_catalogs, status_changes

REPO = Path(__file__).resolve().parents[1]
KYSA6 = Path("trials") / "NCT06193889.yaml"


def edited_rules(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the shipped rules with one edit to the KYSA-6 trial file."""
    root = tmp_path / "new-rules"
    shutil.copytree(default_rules_dir(), root)
    path = root / KYSA6
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))
    return root


def raised_qmg(tmp_path: Path) -> Path:
    return edited_rules(
        tmp_path, "{field: scores.qmg, at_least: 11}", "{field: scores.qmg, at_least: 13}"
    )


def qmg_12_case(tmp_path: Path) -> Path:
    path = tmp_path / "qmg12.yaml"
    text = (REPO / "cases" / "myasthenia-gravis.yaml").read_text()
    path.write_text(text.replace("qmg: 14", "qmg: 12"))
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(rules_diff, list(args))


def test_identical_catalogs_have_no_differences() -> None:
    result = run(str(default_rules_dir()), str(default_rules_dir()))
    assert result.exit_code == 0, result.output
    assert "no trial or criterion changed" in result.output


def test_a_changed_threshold_is_reported_with_the_cases_it_moves(tmp_path: Path) -> None:
    new = raised_qmg(tmp_path)
    result = run(str(default_rules_dir()), str(new), str(qmg_12_case(tmp_path)))
    assert result.exit_code == 0, result.output
    assert "criterion changed: NCT06193889 qmg_ge_11 (condition) in cohort(s) gmg" in result.output
    assert "case demo-mg-01" in result.output
    assert "NCT06193889: eligible (gmg) -> ineligible (gmg)" in result.output
    assert "because gmg: qmg_ge_11: met -> not_met" in result.output
    assert "1 verdict change(s) over 1 case(s)" in result.output


def test_a_case_the_change_does_not_touch_is_not_listed(tmp_path: Path) -> None:
    new = raised_qmg(tmp_path)
    result = run(str(default_rules_dir()), str(new), str(REPO / "cases" / "myasthenia-gravis.yaml"))
    assert result.exit_code == 0, result.output
    assert "0 verdict change(s) over 1 case(s)" in result.output


def test_text_kind_source_and_general_criteria_are_compared(tmp_path: Path) -> None:
    new = edited_rules(
        tmp_path,
        'text: "Aged 18 to 75 years."',
        'text: "Aged 18 to 75 years inclusive."',
    )
    general = new / KYSA6
    general.write_text(
        general.read_text().replace(
            "  - id: chronic_anticoagulation\n    kind: exclusion",
            "  - id: chronic_anticoagulation\n    kind: inclusion",
        )
    )
    diff = diff_catalogs(load_catalog(), load_catalog(new))
    changes = {(c.criterion_id, c.aspects, c.cohorts) for c in diff.criteria}
    assert changes == {
        ("age_18_75", ("text",), ("gmg",)),
        ("chronic_anticoagulation", ("kind",), ("gmg",)),
    }


def test_added_and_removed_trials_and_criteria(tmp_path: Path) -> None:
    new = edited_rules(tmp_path, "      - id: qmg_ge_11\n", "      - id: qmg_at_least_11\n")
    (new / "trials" / "NCT03030976.yaml").unlink()
    diff = diff_catalogs(load_catalog(), load_catalog(new))
    assert diff.trials_removed == ("NCT03030976",)
    assert {(c.criterion_id, c.change) for c in diff.criteria} == {
        ("qmg_ge_11", "removed"),
        ("qmg_at_least_11", "added"),
    }


def test_invalid_new_rules_cannot_be_compared(tmp_path: Path) -> None:
    new = edited_rules(tmp_path, "at_least: 11}", "at_least: eleven}")
    result = run(str(default_rules_dir()), str(new))
    assert result.exit_code == 2


def test_status_changes_treat_an_absent_status_as_unknown() -> None:
    assert status_changes({"a": "met", "b": "not_met"}, {"a": "met", "c": "met"}) == [
        "b: not_met -> unknown",
        "c: unknown -> met",
    ]
