"""Golden files: the bundled example cases in every output format, as committed text.

A change to what careligible prints, in any format, shows up as a diff of these files in review.
When a change is intended, regenerate them with ``CARELIGIBLE_UPDATE_GOLDEN=1 pytest
tests/test_golden.py`` and read the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import run_cli

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
CASES = ["cases/sle-nephritis.yaml", "cases/myasthenia-gravis.yaml", "cases/mixed.csv"]

#: The date the golden cases' facts are as of, so that a trial's status ages with it, not with
#: the day the tests run.
AS_OF = "2026-11-30"

OUTPUTS = {
    "screen.csv": ["screen", *CASES, "--format", "csv"],
    "screen.jsonl": ["screen", "cases/myasthenia-gravis.yaml", "--format", "jsonl"],
    "screen.compact.jsonl": ["screen", *CASES, "--format", "compact"],
    "screen.table.txt": ["screen", *CASES, "--format", "table"],
    "screen.json": ["screen", "cases/sle-nephritis.yaml", "--format", "json"],
    "explain.md": ["explain", "cases/myasthenia-gravis.yaml", "--format", "markdown"],
    "explain.txt": ["explain", "cases/sle-nephritis.yaml", "--trial", "NCT06189157"],
    "explain.json": ["explain", "cases/sle-nephritis.yaml", "--format", "json"],
}

#: Reports are files, not standard output: each is written to a directory and compared there.
REPORTS = {
    "report.md": ["--format", "md"],
    "report.html": ["--format", "html"],
}


def dated_cases(root: Path) -> None:
    """The bundled examples, each with ``as_of`` set, under ``root/cases``."""
    (root / "cases").mkdir()
    for name in CASES:
        text = (REPO / name).read_text(encoding="utf-8")
        if name.endswith(".csv"):
            header, *rows = text.splitlines()
            text = "\n".join([f"{header},as_of", *(f"{row},{AS_OF}" for row in rows)]) + "\n"
        else:
            text = text.replace("\nid: ", f"\nas_of: {AS_OF}\nid: ", 1)
        (root / name).write_text(text, encoding="utf-8")


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_output_matches_its_golden_file(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dated_cases(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "120")
    result = run_cli(*OUTPUTS[name])
    assert result.exit_code in (0, 1), result.output
    path = GOLDEN / name
    if os.environ.get("CARELIGIBLE_UPDATE_GOLDEN"):
        path.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == path.read_text(encoding="utf-8"), f"{name} changed; see the module doc"


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_report_matches_its_golden_file(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dated_cases(tmp_path)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "reports"
    result = run_cli(
        "report",
        "cases/myasthenia-gravis.yaml",
        *REPORTS[name],
        "--output-dir",
        str(out),
        "--date",
        AS_OF,
    )
    assert result.exit_code == 0, result.output
    (written,) = sorted(out.iterdir())
    text = written.read_text(encoding="utf-8")
    path = GOLDEN / name
    if os.environ.get("CARELIGIBLE_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; see the module doc"
