"""The referral report: its content, its three formats, and ``careligible report`` in batch."""

from __future__ import annotations

import io
import json
import re
import shutil
from datetime import date
from pathlib import Path

import pypdf
import pytest
import yaml

from careligible import report
from careligible.case import Case
from careligible.catalog import Catalog
from careligible.cli import ExitCode
from careligible.report.names import ReportNames, stem_for
from careligible.results import DISCLAIMER, CaseResult
from careligible.screening import Screener
from conftest import run_cli

REPO = Path(__file__).resolve().parents[1]
MG_CASE = REPO / "cases" / "myasthenia-gravis.yaml"
SLE_CASE = REPO / "cases" / "sle-nephritis.yaml"
MG_TRIAL = "NCT06193889"
DAY = date(2026, 12, 2)


def _case(path: Path, **changes: object) -> Case:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(changes)
    return Case.model_validate(data)


def _referral(
    catalog: Catalog, screener: Screener, case: Case, **options: object
) -> report.Referral:
    result = screener.screen(case, "cases/x.yaml:1")
    return report.build(case, result, catalog, on=DAY, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def mg(catalog: Catalog, screener: Screener) -> report.Referral:
    return _referral(catalog, screener, _case(MG_CASE))


# --- content ------------------------------------------------------------------------------------


def test_the_report_names_case_date_versions_and_met_criteria_by_text(
    catalog: Catalog, screener: Screener, mg: report.Referral
) -> None:
    text = report.markdown(mg)
    assert "case demo-mg-01" in text
    assert "- Date: 2026-12-02" in text
    assert f"- Ruleset version: `{catalog.version}`" in text
    assert re.search(r"- Tool: careligible \d+\.\d+", text)
    assert DISCLAIMER in text
    result = screener.screen(_case(MG_CASE))
    [trial] = [t for t in result.trials if t.nct_id == MG_TRIAL]
    met = [c for c in trial.criteria if c.kind == "inclusion" and c.status == "met"]
    assert met
    section = text.split(f"## {MG_TRIAL}")[1].split("\n## ")[0]
    for criterion in met:
        # The criterion's own text (escaped for Markdown), not its rule id.
        assert _escaped(criterion.text) in section
    assert "QMG total of 11 or more" in section


def _escaped(text: str) -> str:
    from careligible.safetext import markdown_text

    return markdown_text(text)


def test_facts_are_shown_as_entered(mg: report.Referral) -> None:
    facts = {f.path: f.value for f in mg.facts}
    assert facts["weight_kg"] == "70"  # 70 as entered, not 70.0
    assert facts["scores.qmg"] == "14"
    assert facts["pregnant"] == "no"
    assert facts["labs.creatinine_mg_dl"] == "0.7"
    text = report.markdown(mg)
    assert "| `scores.qmg` | 14 |" in text
    assert "| efgartigimod | inadequate\\_response | 6 | 3 |" in text


def test_only_the_case_disease_trials_unless_asked(
    catalog: Catalog, screener: Screener, mg: report.Referral
) -> None:
    mg_trials = {t.nct_id for t in catalog.trials if any("mg" in c.diseases for c in t.cohorts)}
    assert {t.nct_id for t in mg.trials} == mg_trials
    assert mg.left_out == len(catalog.trials) - len(mg_trials) > 0
    sle_only = next(t for t in catalog.trials if all("mg" not in c.diseases for c in t.cohorts))
    assert sle_only.nct_id not in report.markdown(mg)
    every = _referral(catalog, screener, _case(MG_CASE), all_trials=True)
    assert len(every.trials) == len(catalog.trials)
    assert sle_only.nct_id in report.markdown(every)


def test_rules_out_to_confirm_and_missing_are_listed(catalog: Catalog, screener: Screener) -> None:
    referral = _referral(catalog, screener, _case(MG_CASE, age=80))
    trial = next(t for t in referral.trials if t.nct_id == MG_TRIAL)
    assert any("Aged 18 to 75" in c.text for c in trial.rules_out)
    assert trial.to_confirm and trial.verdict == "ineligible"
    section = report.markdown(referral).split(f"## {MG_TRIAL}")[1].split("\n## ")[0]
    assert "### Rules the case out" in section and "`age` = 80" in section
    assert "Ruled out by one criterion only: Aged 18 to 75 years." in section
    assert "### To confirm at screening" in section
    unknown_age = _referral(catalog, screener, _case(MG_CASE, age=None))
    needs = next(t for t in unknown_age.trials if t.nct_id == MG_TRIAL)
    assert needs.verdict == "needs_info" and "age" in needs.missing
    assert any("Aged 18 to 75" in c.text for c in needs.open)
    text = report.markdown(unknown_age).split(f"## {MG_TRIAL}")[1].split("\n## ")[0]
    assert "### Missing facts" in text and "`age`" in text
    assert "### Not yet known" in text


def test_registry_links_for_every_trial_shown(mg: report.Referral) -> None:
    page = report.html(mg)
    for trial in mg.trials:
        url = f"https://clinicaltrials.gov/study/{trial.nct_id}"
        assert trial.registry_url == url
        assert f'href="{url}"' in page


def test_html_is_rendered_from_the_markdown_with_print_styles(mg: report.Referral) -> None:
    page = report.html(mg)
    assert page.startswith("<!DOCTYPE html>")
    assert "@media print" in page
    assert "page-break-inside: avoid" in page
    assert "<table>" in page and "<h2>Summary</h2>" in page
    assert "<li>Date: 2026-12-02</li>" in page


def test_text_from_the_case_is_inert(catalog: Catalog, screener: Screener) -> None:
    hostile = "x<img src=y onerror=alert(1)>[link](http://evil)|cell*em*"
    case = _case(MG_CASE, id="demo<b>1</b>")
    case = case.model_copy(
        update={
            "therapies": [*case.therapies, case.therapies[0].model_copy(update={"dose": hostile})]
        }
    )
    referral = _referral(catalog, screener, case)
    text = report.markdown(referral)
    assert "demo\\<b\\>1\\</b\\>" in text
    assert "x\\<img src=y onerror=alert(1)\\>\\[link\\](http://evil)\\|" in text
    page = report.html(referral)
    assert "<b>1</b>" not in page and "<img" not in page
    assert 'href="http://evil"' not in page
    assert "demo&lt;b&gt;1&lt;/b&gt;" in page
    # The hostile dose stays one cell of its row.
    row = next(line for line in text.splitlines() if "onerror" in line)
    assert row.count(" | ") == 4


def test_side_by_side_view(catalog: Catalog, screener: Screener) -> None:
    case = _case(MG_CASE)
    result = screener.screen(case)
    pair = [MG_TRIAL, "NCT05828225"]
    referral = report.build(case, result, catalog, on=DAY, compare=pair)
    assert referral.comparison is not None
    assert referral.comparison.trials == tuple(pair)
    rows = dict(referral.comparison.rows)
    assert rows["age"][0] == "met: Aged 18 to 75 years."
    assert rows["age"][1].startswith("met: Aged 18 or over")
    assert rows["history.cns_disease"][0].startswith("not met (does not exclude): ")
    text = report.markdown(referral)
    assert f"| Criteria reading | {MG_TRIAL} | NCT05828225 |" in text
    with pytest.raises(report.CompareError):
        report.comparison(result, [MG_TRIAL])
    with pytest.raises(report.CompareError):
        report.comparison(result, [MG_TRIAL, "NCT99999999"])


def test_unknown_status_in_the_side_by_side_view(catalog: Catalog, screener: Screener) -> None:
    case = _case(MG_CASE).model_copy(update={"age": None})
    result = screener.screen(case)
    rows = dict(report.comparison(result, [MG_TRIAL, "NCT05828225"]).rows)
    assert rows["age"] == ("unknown: Aged 18 to 75 years.", rows["age"][1])
    assert rows["age"][1].startswith("unknown: ")


def _pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_pdf_holds_the_report(mg: report.Referral, catalog: Catalog) -> None:
    data = report.pdf(mg)
    assert data.startswith(b"%PDF-")
    text = _pdf_text(data)
    assert "CAR-T trial referral: case demo-mg-01" in text
    assert "2026-12-02" in text
    assert catalog.version in text
    assert "QMG total of 11 or more" in text
    assert MG_TRIAL in text
    assert report.pdf(mg) == data  # the same report gives the same file


def test_pdf_spells_what_helvetica_lacks() -> None:
    from careligible.report.pdf import latin1

    assert latin1("eGFR ≥ 30 \u2013 ok… Müller Ćosić") == "eGFR >= 30 - ok... Müller Cosic"
    assert latin1("漢") == "?"


def test_report_names_never_collide() -> None:
    names = ReportNames()
    assert names.claim("demo.v1", "md") == "demo.v1.md"
    assert names.claim("demo.v2", "md") == "demo.v2.md"
    assert names.claim("a/b", "md") == "a_b.md"
    assert names.claim("a_b", "md") == "a_b-2.md"
    assert names.claim("A_B", "md") == "A_B-3.md"  # a file system may ignore case
    assert stem_for("../etc") == "_etc"
    assert stem_for("...") == "case"


# --- the command line ---------------------------------------------------------------------------


def _write_cases(path: Path, *cases: dict[str, object]) -> Path:
    path.write_text("\n".join(json.dumps(c) for c in cases) + "\n", encoding="utf-8")
    return path


def _mg(case_id: str) -> dict[str, object]:
    data = yaml.safe_load(MG_CASE.read_text(encoding="utf-8"))
    data["id"] = case_id
    return dict(data)


def test_cli_writes_one_report_per_case_with_ids_that_share_a_stem(tmp_path: Path) -> None:
    cases = _write_cases(tmp_path / "cases.jsonl", _mg("demo.v1"), _mg("demo.v2"))
    out = tmp_path / "reports"
    result = run_cli("report", cases, "--output-dir", out, "--date", "2026-12-02")
    assert result.exit_code == ExitCode.OK, result.output
    assert sorted(p.name for p in out.iterdir()) == ["demo.v1.md", "demo.v2.md"]
    assert "case demo.v2" in (out / "demo.v2.md").read_text(encoding="utf-8")
    assert str(out / "demo.v1.md") in result.stdout


def test_cli_reads_every_format_and_reports_bad_records_with_their_place(tmp_path: Path) -> None:
    shutil.copy(MG_CASE, tmp_path / "mg.yaml")
    bad = _mg("bad-1")
    bad["age"] = "old"
    cases = _write_cases(tmp_path / "batch.jsonl", _mg("good-1"), bad, _mg("good-2"))
    out = tmp_path / "out"
    result = run_cli(
        "report", tmp_path / "mg.yaml", cases, REPO / "cases" / "mixed.csv", "--output-dir", out
    )
    assert result.exit_code == ExitCode.RECORD_ERRORS
    assert f"{cases}:2: not a valid case (age)" in result.stderr
    assert "old" not in result.stderr  # places and fields, never values
    names = {p.name for p in out.iterdir()}
    assert {"demo-mg-01.md", "good-1.md", "good-2.md"} <= names
    assert "bad-1.md" not in names
    csv_ids = [
        line.split(",")[0] for line in (REPO / "cases" / "mixed.csv").read_text().splitlines()[1:]
    ]
    assert any(f"{stem_for(i)}.md" in names for i in csv_ids if i)


def test_cli_never_overwrites_without_force(tmp_path: Path) -> None:
    cases = _write_cases(tmp_path / "c.jsonl", _mg("x1"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "x1.html").write_text("earlier report", encoding="utf-8")
    refused = run_cli("report", cases, "--format", "html", "--output-dir", out)
    assert refused.exit_code == ExitCode.RECORD_ERRORS
    assert "x1.html exists; --force replaces it" in refused.stderr
    assert (out / "x1.html").read_text(encoding="utf-8") == "earlier report"
    forced = run_cli("report", cases, "--format", "html", "--output-dir", out, "--force")
    assert forced.exit_code == ExitCode.OK
    assert "@media print" in (out / "x1.html").read_text(encoding="utf-8")


def test_cli_never_writes_into_the_rules(tmp_path: Path) -> None:
    from careligible.catalog import default_rules_dir

    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    before = sorted(p.name for p in rules.rglob("*"))
    cases = _write_cases(tmp_path / "c.jsonl", _mg("x1"))
    result = run_cli("report", cases, "--output-dir", rules, "--rules", rules, "--force")
    assert result.exit_code == ExitCode.RECORD_ERRORS
    assert "is inside the rule catalog" in result.stderr
    assert sorted(p.name for p in rules.rglob("*")) == before


def test_cli_refuses_a_report_over_its_input(tmp_path: Path) -> None:
    case = _write_cases(tmp_path / "c.jsonl", _mg("x1"))
    link = tmp_path / "c.jsonl.md"
    link.symlink_to(case)
    clash = _write_cases(tmp_path / "d.jsonl", _mg("c.jsonl"))
    result = run_cli("report", clash, case, "--output-dir", tmp_path, "--force")
    # The report for case id "c.jsonl" would be c.jsonl.md, a link to the input c.jsonl.
    assert result.exit_code == ExitCode.RECORD_ERRORS
    assert "is an input" in result.stderr
    assert json.loads(case.read_text(encoding="utf-8").splitlines()[0])["id"] == "x1"


def test_cli_pdf_and_compare(tmp_path: Path) -> None:
    result = run_cli(
        "report",
        MG_CASE,
        "--format",
        "pdf",
        "--output-dir",
        tmp_path,
        "--compare",
        MG_TRIAL,
        "--compare",
        "NCT05828225",
        "--date",
        "2026-12-02",
    )
    assert result.exit_code == ExitCode.OK, result.output
    text = _pdf_text((tmp_path / "demo-mg-01.pdf").read_bytes())
    assert "Side by side" in text and "2026-12-02" in text
    bad = run_cli("report", MG_CASE, "--output-dir", tmp_path, "--compare", MG_TRIAL)
    assert bad.exit_code == ExitCode.CANNOT_RUN and "two or three" in bad.output
    unknown = run_cli(
        "report",
        MG_CASE,
        "--output-dir",
        tmp_path,
        "--compare",
        "NCT00000000",
        "--compare",
        MG_TRIAL,
    )
    assert unknown.exit_code == ExitCode.CANNOT_RUN and "NCT00000000" in unknown.output


def test_report_of_a_result_with_no_disease_shows_every_trial(
    catalog: Catalog, screener: Screener
) -> None:
    case = Case(id="nodisease-1", age=40)
    result: CaseResult = screener.screen(case)
    referral = report.build(case, result, catalog, on=DAY)
    assert len(referral.trials) == len(catalog.trials) and referral.left_out == 0
    assert "all " in report.markdown(referral)
