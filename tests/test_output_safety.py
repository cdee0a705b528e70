"""Outputs never destroy inputs, and never carry input that their reader would act on.

An ``--output`` (or ``--audit-log``) that is an input, the audit log or a rule file is refused
before anything is written, however the same file is reached: its own path, a symbolic link, a
hard link, ``..``.
"""

from __future__ import annotations

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
