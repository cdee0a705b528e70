"""The command line: exit codes, order, one record per input record, rules check."""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import sys
import threading
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from careligible.catalog import default_rules_dir
from careligible.cli import ExitCode, main

REPO = Path(__file__).resolve().parents[1]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_screening_the_bundled_examples_succeeds() -> None:
    result = run("screen", *map(str, sorted((REPO / "cases").glob("*"))))
    assert result.exit_code == ExitCode.OK, result.output
    assert "demo-mg-01" in result.output and "Decision support only" in result.output


def test_a_large_jsonl_with_bad_records_writes_one_record_each_in_order(tmp_path: Path) -> None:
    rng = random.Random(7)
    bad = set(rng.sample(range(1000), 50))
    lines = []
    for i in range(1000):
        if i in bad:
            lines.append(
                rng.choice(
                    [
                        '{"id": "x-%d", "age": -3}',
                        '{"id": "x-%d", "oops": 1}',
                        '{"id": "x-%d", ',
                        '["x-%d"]',
                    ]
                )
                % i
            )
        else:
            lines.append(
                json.dumps(
                    {
                        "id": f"x-{i}",
                        "disease": rng.choice(["sle", "mg", "ms"]),
                        "age": rng.randint(18, 80),
                    }
                )
            )
    source = tmp_path / "big.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    result = run("screen", str(source), "--format", "jsonl", "--output", str(out))
    assert result.exit_code == ExitCode.RECORD_ERRORS
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 1000
    assert [r["source"] for r in records] == [f"{source}:{i + 1}" for i in range(1000)]
    assert {i for i, r in enumerate(records) if r["error"]} == bad
    assert all(r["trials"] for r in records if not r["error"])


def test_json_and_csv_formats_hold_one_record_per_case(tmp_path: Path) -> None:
    source = tmp_path / "cases.yaml"
    source.write_text(
        "- {id: a-1, disease: mg}\n- {id: a-2, age: 999}\n- {id: a-3, disease: sle}\n"
    )
    as_json = run("screen", str(source), "--format", "json")
    assert as_json.exit_code == ExitCode.RECORD_ERRORS
    data = json.loads(as_json.stdout)
    assert [d["case_id"] for d in data] == ["a-1", "a-2", "a-3"]
    assert data[1]["error"].endswith("age: must be at most 120 (got 999)")
    trial = data[0]["trials"][0]
    assert set(trial) >= {"nct_id", "verdict", "cohort", "missing", "to_confirm", "criteria"}
    assert set(trial["criteria"][0]) >= {"id", "kind", "status", "text", "facts", "source"}
    as_csv = run("screen", str(source), "--format", "csv")
    rows = as_csv.stdout.strip().splitlines()
    assert rows[0].startswith("case_id,source,error") and len(rows) == 4


def test_duplicate_case_ids_are_errors(tmp_path: Path) -> None:
    source = tmp_path / "dup.jsonl"
    source.write_text('{"id": "d-1"}\n{"id": "d-1"}\n')
    result = run("screen", str(source), "--format", "jsonl")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[0]["error"] is None
    assert "duplicate case id 'd-1'" in records[1]["error"] and result.exit_code == 1


def test_an_unreadable_input_cannot_run(tmp_path: Path) -> None:
    source = tmp_path / "cases.txt"
    source.write_text("id: a\n")
    result = run("screen", str(source))
    assert result.exit_code == ExitCode.CANNOT_RUN
    assert "unknown case file type" in result.stderr


def test_invalid_rules_stop_screening_and_rules_check_names_file_and_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    trial = rules / "trials" / "NCT06193889.yaml"
    text = trial.read_text()
    assert "{field: scores.qmg, at_least: 11}" in text
    trial.write_text(
        text.replace("{field: scores.qmg, at_least: 11}", "{field: scores.qgm, at_least: 11}")
    )
    line = next(i for i, ln in enumerate(trial.read_text().splitlines(), 1) if "scores.qgm" in ln)
    check = run("rules", "check", "--rules", str(rules))
    assert check.exit_code == 1
    assert (
        f"{trial}:{line}: cohorts[0].criteria[5].when.field: unknown case field 'scores.qgm'; "
        "did you mean 'scores.qmg'?" in check.stderr
    )
    screen = run("screen", str(REPO / "cases" / "myasthenia-gravis.yaml"), "--rules", str(rules))
    assert screen.exit_code == ExitCode.CANNOT_RUN and screen.stdout == ""


def test_rules_check_passes_on_the_shipped_catalog() -> None:
    result = run("rules", "check")
    assert result.exit_code == 0 and result.stdout.startswith("ok: ")


def test_an_output_file_appears_only_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    run("screen", str(REPO / "cases" / "batch.jsonl"), "--format", "json", "--output", str(out))
    assert json.loads(out.read_text())
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_new_output_file_gets_the_usual_permissions_and_an_old_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    fresh, kept = tmp_path / "fresh.jsonl", tmp_path / "kept.jsonl"
    kept.write_text("old\n")
    kept.chmod(0o640)
    umask = os.umask(0o022)
    try:
        for out in (fresh, kept):
            run("screen", str(REPO / "cases" / "batch.jsonl"), "--output", str(out))
    finally:
        os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    assert kept.read_text() != "old\n"


def test_output_through_a_symbolic_link_keeps_the_link(tmp_path: Path) -> None:
    real, link = tmp_path / "real.jsonl", tmp_path / "link.jsonl"
    real.write_text("")
    link.symlink_to(real)
    run("screen", str(REPO / "cases" / "batch.jsonl"), "--format", "jsonl", "--output", str(link))
    assert link.is_symlink()
    assert json.loads(real.read_text().splitlines()[0])["case_id"]


def test_output_to_a_pipe_writes_into_it_and_leaves_it_a_pipe(tmp_path: Path) -> None:
    """A device or FIFO (``--output /dev/null``) must never be replaced by a regular file."""
    fifo = tmp_path / "records.fifo"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    run("screen", str(REPO / "cases" / "batch.jsonl"), "--format", "jsonl", "--output", str(fifo))
    reader.join(timeout=30)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert len(received[0].splitlines()) == len(
        (REPO / "cases" / "batch.jsonl").read_text().splitlines()
    )


def test_an_output_that_cannot_be_written_cannot_run(tmp_path: Path) -> None:
    for output, message in [
        (tmp_path, "is a directory"),
        (tmp_path / "missing" / "out.jsonl", "cannot write there"),
    ]:
        result = run("screen", str(REPO / "cases" / "batch.jsonl"), "--output", str(output))
        assert result.exit_code == ExitCode.CANNOT_RUN
        assert message in result.stderr and str(output) in result.stderr
        assert "Traceback" not in result.output + result.stderr
    assert list(tmp_path.iterdir()) == []


def test_every_command_ends_by_the_exit_code_table(monkeypatch: Any) -> None:
    """What escapes a command is mapped once, for all of them: a bug is one line and 3 (no
    traceback), Ctrl-C is 130 where click alone would say 1."""
    rules_cli = sys.modules["careligible.cli.rules"]  # the package names the group "rules"

    def broken(*args: object) -> object:
        raise RuntimeError("a case value that must not be shown")

    monkeypatch.setattr(rules_cli, "load_rules", broken)
    crashed = run("trials")
    assert crashed.exit_code == ExitCode.INTERNAL_ERROR
    assert "internal error: RuntimeError" in crashed.stderr
    assert "must not be shown" not in crashed.stderr + crashed.stdout

    def interrupted(*args: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(rules_cli, "load_rules", interrupted)
    stopped = run("trials")
    assert stopped.exit_code == ExitCode.INTERRUPTED
    assert "interrupted" in stopped.stderr
