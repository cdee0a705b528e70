"""Outputs never destroy inputs, and never carry input that their reader would act on.

An ``--output`` (or ``--audit-log``) that is an input, the audit log or a rule file is refused
before anything is written, however the same file is reached: its own path, a symbolic link, a
hard link, ``..``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from careligible.catalog import default_rules_dir
from careligible.cli import ExitCode
from conftest import run_cli as run

CASE = '{"id": "os-1", "disease": "mg", "age": 40}\n'
FHIR = Path(__file__).parent / "fixtures" / "fhir" / "mg-generalized.json"


@pytest.fixture
def cases(tmp_path: Path) -> Path:
    path = tmp_path / "cases.jsonl"
    path.write_text(CASE)
    return path


def _same(path: Path) -> Path:
    return path


def _symlink(path: Path) -> Path:
    link = path.with_name("link.jsonl")
    link.symlink_to(path)
    return link


def _hardlink(path: Path) -> Path:
    link = path.with_name("hard.jsonl")
    os.link(path, link)
    return link


def _dotdot(path: Path) -> Path:
    (path.parent / "sub").mkdir()
    return path.parent / "sub" / ".." / path.name


@pytest.mark.parametrize("alias", [_same, _symlink, _hardlink, _dotdot])
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(
    cases: Path, alias: Callable[[Path], Path]
) -> None:
    target = alias(cases)
    result = run("screen", "--format", "jsonl", "-o", target, cases)
    assert result.exit_code == ExitCode.CANNOT_RUN
    assert f"the output {target} is an input ({cases})" in result.stderr
    assert cases.read_text() == CASE


def test_an_output_that_is_the_audit_log_is_refused(cases: Path, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    assert run("screen", "--audit-log", log, cases).exit_code == ExitCode.OK
    before = log.read_bytes()
    result = run("screen", "--format", "jsonl", "-o", log, "--audit-log", log, cases)
    assert result.exit_code == ExitCode.CANNOT_RUN
    assert f"the output {log} is the audit log" in result.stderr
    assert log.read_bytes() == before


def test_an_audit_log_that_is_an_input_is_refused(cases: Path) -> None:
    result = run("screen", "--audit-log", cases, cases)
    assert result.exit_code == ExitCode.CANNOT_RUN
    assert f"the audit log {cases} is an input" in result.stderr
    assert cases.read_text() == CASE


def test_an_output_inside_a_rules_directory_is_refused(
    cases: Path, make_rules: Callable[..., Path]
) -> None:
    rules = make_rules('- id: c1\n  kind: inclusion\n  text: "c1"\n  rationale: "t"\n  source: s1')
    rule_file = rules / "trials" / "NCT00000001.yaml"
    before = rule_file.read_text()
    result = run("screen", "--rules", rules, "--format", "jsonl", "-o", rule_file, cases)
    assert result.exit_code == ExitCode.CANNOT_RUN
    assert "is inside the rule catalog" in result.stderr
    assert rule_file.read_text() == before
    shipped = default_rules_dir() / "trials" / "new.yaml"
    result = run("screen", "--format", "jsonl", "-o", shipped, cases)
    assert result.exit_code == ExitCode.CANNOT_RUN and not shipped.exists()


def test_import_fhir_refuses_to_overwrite_its_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(FHIR.read_bytes())
    result = run("import-fhir", "-o", bundle, bundle)
    assert result.exit_code == ExitCode.CANNOT_RUN
    assert f"the output {bundle} is an input" in result.stderr
    assert bundle.read_bytes() == FHIR.read_bytes()


def test_a_device_output_is_still_written(cases: Path) -> None:
    assert run("screen", "-o", "/dev/null", cases).exit_code == ExitCode.OK


# --- outputs safe for their reader ---------------------------------------------------------------

HOSTILE_DRUG = "ritux\x1b]0;owned\x07imab\u202e"


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """Ids a spreadsheet would compute, and a drug name holding terminal control sequences."""
    path = tmp_path / "hostile.jsonl"
    path.write_text(
        '{"id": "=HYPERLINK(\\"http://x\\")", "disease": "mg"}\n'
        '{"id": "+1", "disease": "mg"}\n'
        '{"id": "@SUM(A1)", "age": -1}\n'
        + json.dumps({"id": "hd-4", "disease": "mg", "therapies": [{"drug": HOSTILE_DRUG}]})
        + "\n"
        + '{"id": "<img src=x onerror=alert(1)>", "disease": "mg"}\n'
    )
    return path


def test_csv_cells_never_start_a_formula(hostile: Path) -> None:
    import csv

    result = run("screen", "--format", "csv", hostile)
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert [r["case_id"] for r in rows] == [
        '\'=HYPERLINK("http://x")',
        "'+1",
        "'@SUM(A1)",
        "hd-4",
        "<img src=x onerror=alert(1)>",
    ]
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values()), row
    assert "\x1b" not in result.stdout and "\\x1b]0;owned\\x07" in rows[3]["warnings"]


def test_the_terminal_table_shows_control_sequences_as_text(hostile: Path) -> None:
    result = run("screen", hostile)
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\u202e" not in result.stdout
    assert "ritux\\x1b]0;owned\\x07imab\\u202e" in result.stdout


def test_explain_text_and_markdown_carry_no_control_or_html(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    case = {"id": "<b>x</b>*y*", "disease": "mg", "therapies": [{"drug": HOSTILE_DRUG}]}
    path.write_text(json.dumps(case))
    text = run("explain", path)
    assert text.exit_code == 0 and "\x1b" not in text.stdout and "\u202e" not in text.stdout
    markdown = run("explain", "--format", "markdown", path)
    assert markdown.exit_code == 0
    assert "# Case \\<b\\>x\\</b\\>\\*y\\*" in markdown.stdout
    assert "<b>" not in markdown.stdout and "\x1b" not in markdown.stdout


def test_import_fhir_comments_stay_one_line_whatever_the_file_name(tmp_path: Path) -> None:
    import yaml

    bundle = tmp_path / "x\nevil_key: injected\r\n\u2028#.json"
    bundle.write_bytes(FHIR.read_bytes())
    out = tmp_path / "cases.yaml"
    result = run("import-fhir", "--reference-date", "2026-01-01", "-o", out, bundle)
    assert result.exit_code == ExitCode.OK, result.stderr
    text = out.read_text()
    data = yaml.safe_load(text)
    assert "evil_key" not in data
    for line in text.splitlines():
        assert line.startswith("#") or not line.startswith("evil_key"), line


# --- no patient data on stderr -------------------------------------------------------------------


SECRET = "-4242"  # a value that must never reach stderr


def test_explain_and_rules_diff_name_places_never_values(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text(f'{{"id": "ok-1", "disease": "mg"}}\n{{"id": "bad-2", "age": {SECRET}}}\n')
    explained = run("explain", path)
    assert explained.exit_code == ExitCode.RECORD_ERRORS
    assert f"{path}:2: not a valid case (age)" in explained.stderr
    assert SECRET not in explained.stderr
    rules = default_rules_dir()
    diffed = run("rules", "diff", rules, rules, path)
    assert diffed.exit_code == ExitCode.RECORD_ERRORS
    assert f"{path}:2: not a valid case (age)" in diffed.stderr
    assert SECRET not in diffed.stderr
