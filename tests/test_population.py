"""Population screening (``screen --population``): the pre-filter, its counts, never the default.

Generated cases go through the real command. A case is pre-filtered exactly when an ordinary run
finds no trial whose disease criterion it meets: the test derives that from the ordinary run's
records, not from the code under test, so the filter can drop no case a trial could take.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from careligible.catalog import load_catalog
from conftest import run_cli
from strategies import random_case_dicts

REPO = Path(__file__).resolve().parents[1]
CATALOG = load_catalog()

#: Generated cases per run; above the threshold at which ``--jobs 2`` starts workers.
BULK = 300


def write_cases(path: Path, count: int = BULK, seed: int = 17) -> list[dict[str, Any]]:
    """Generated cases, a few with the disease taken away, a few recorded as deceased (one of
    them with no disease either), and one record that is not a case."""
    cases = list(random_case_dicts(seed, count))
    for index in range(0, count, 23):
        cases[index].pop("disease", None)
        cases[index].pop("subtype", None)
    for index in range(0, count, 29):
        cases[index]["deceased"] = True
    lines = [json.dumps(case, default=str) for case in cases]
    lines.insert(5, '{"id": "broken", "age": "old"}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cases


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def gated_out(record: dict[str, Any]) -> bool:
    """True when an ordinary run's record shows no trial whose disease criterion the case meets
    (not met, or unknown for want of a disease)."""
    return record["error"] is None and not any(
        criterion["id"] == "disease" and criterion["status"] == "met"
        for trial in record["trials"]
        for criterion in trial["criteria"]
    )


def summary(stderr: str) -> dict[str, Any]:
    """The counts of a population run's summary on stderr, read back from its lines."""
    lines = [
        line.removeprefix("careligible: population: ")
        for line in stderr.splitlines()
        if line.startswith("careligible: population: ")
    ]
    found: dict[str, Any] = {"prefiltered": {}, "best": {}, "trials": {}}
    section = ""
    for line in lines:
        if match := re.fullmatch(r"(\d+) case\(s\) read, (\d+) with errors", line):
            found["read"], found["errors"] = int(match[1]), int(match[2])
        elif match := re.fullmatch(r"(\d+) recorded as deceased: not screened", line):
            found["deceased"] = int(match[1])
        elif match := re.fullmatch(r"(\d+) pre-filtered: (.+)", line):
            found["prefiltered"][match[2]] = int(match[1])
        elif match := re.fullmatch(r"(\d+) screened against the trials; best verdict:", line):
            found["screened"], section = int(match[1]), "best"
        elif line.startswith("candidates per trial"):
            section = "trials"
        elif match := re.fullmatch(r"  (NCT\d+): (\d+), (\d+), (\d+)", line):
            found["trials"][match[1]] = tuple(int(n) for n in match.groups()[1:])
        elif match := re.fullmatch(r"  ([a-z ]+): (\d+)", line):
            assert section == "best", line
            found["best"][match[1]] = int(match[2])
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same generated cases screened as an ordinary run and as a population run."""
    root = tmp_path_factory.mktemp("population")
    source = root / "cases.jsonl"
    write_cases(source)
    plain = run_cli("screen", source, "--format", "jsonl", "-j", "1")
    population = run_cli("screen", source, "--format", "jsonl", "-j", "1", "--population")
    assert plain.exit_code == population.exit_code == 1  # the broken record
    return {
        "source": source,
        "plain": records(plain.stdout),
        "population": records(population.stdout),
        "stderr": population.stderr,
        "plain_stderr": plain.stderr,
    }


def test_the_prefilter_keeps_out_exactly_the_cases_no_trial_could_take(
    runs: dict[str, Any],
) -> None:
    plain, population = runs["plain"], runs["population"]
    assert len(plain) == len(population) == BULK + 1  # one record per input record
    kept_out = 0
    for full, short in zip(plain, population, strict=True):
        assert short["case_id"] == full["case_id"] and short["source"] == full["source"]
        if full.get("deceased"):  # a deceased case is never screened, in either run
            assert short == full and "prefilter" not in short and short["trials"] == []
        elif gated_out(full):
            kept_out += 1
            assert short["prefilter"] == "no_candidate_disease"
            assert short["trials"] == [] and short["error"] is None
        else:  # every other record is exactly that of an ordinary run
            assert short == full
    assert 10 < kept_out < BULK // 2  # both kinds are common in the generated mix
    assert all("prefilter" not in record for record in plain)  # the default is unchanged
    assert any(len(r["trials"]) == len(CATALOG.trials) and gated_out(r) for r in plain)


LABELS = {
    "eligible": "eligible",
    "possibly_eligible": "possibly eligible",
    "needs_info": "needs information",
    "cannot_screen": "cannot screen",
    "ineligible": "ineligible",
}
ORDER = list(LABELS)
CANDIDATE = ("eligible", "possibly_eligible", "needs_info")


def test_the_summary_counts_what_the_records_hold(runs: dict[str, Any]) -> None:
    found, population = summary(runs["stderr"]), runs["population"]
    errors = [r for r in population if r["error"]]
    kept_out = [r for r in population if r.get("prefilter")]
    deceased = [r for r in population if r.get("deceased")]
    screened = [r for r in population if r["trials"]]
    assert len(errors) == 1 and len(deceased) == len(range(0, BULK, 29))
    assert (found["read"], found["errors"]) == (BULK + 1, len(errors))
    assert found["deceased"] == len(deceased)
    assert len(errors) + len(deceased) + len(kept_out) + len(screened) == BULK + 1
    assert found["prefiltered"] == {"no candidate disease recorded": len(kept_out)}
    assert found["screened"] == len(screened)
    best = {label: 0 for label in LABELS.values()}
    for record in screened:
        best[LABELS[min((t["verdict"] for t in record["trials"]), key=ORDER.index)]] += 1
    assert found["best"] == best
    per_trial: dict[str, list[int]] = {}
    for record in screened:
        for trial in record["trials"]:
            if trial["verdict"] in CANDIDATE:
                counts = per_trial.setdefault(trial["nct_id"], [0, 0, 0])
                counts[CANDIDATE.index(trial["verdict"])] += 1
    assert found["trials"] == {nct: tuple(counts) for nct, counts in per_trial.items()}
    assert sum(best[LABELS[v]] for v in CANDIDATE) > 0  # the mix has candidates to count
    assert "population:" not in runs["plain_stderr"]  # an ordinary run prints no summary


def test_workers_prefilter_as_the_main_process_does(runs: dict[str, Any]) -> None:
    workers = run_cli("screen", runs["source"], "--format", "jsonl", "-j", "2", "--population")
    assert records(workers.stdout) == runs["population"]
    assert summary(workers.stderr) == summary(runs["stderr"])


@pytest.mark.parametrize("fmt", ["csv", "compact", "parquet", "table"])
def test_every_format_gives_one_short_record_per_prefiltered_case(
    fmt: str, runs: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / f"out.{fmt}"
    result = run_cli("screen", runs["source"], "--format", fmt, "--population", "-o", out)
    assert result.exit_code == 1
    expected = [r["case_id"] for r in runs["population"] if r.get("prefilter")]
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
        assert len(rows) == BULK + 1
        short = [row for row in rows if row["prefilter"]]
        assert [row["case_id"] for row in short] == expected
        assert {row["prefilter"] for row in short} == {"no_candidate_disease"}
        assert all(not row["needs_info"] and not row["ineligible"] for row in short)
    elif fmt == "compact":
        lines = records(out.read_text(encoding="utf-8"))
        assert len(lines) == BULK + 1
        assert [r["case_id"] for r in lines if r.get("prefilter")] == expected
        assert all(r["trials"] == [] for r in lines if r.get("prefilter"))
        explained = run_cli("explain", "--compact", out)
        assert explained.exit_code == 0
        assert explained.stdout.count("no candidate disease recorded") == len(expected)
    elif fmt == "parquet":
        rows = pq.read_table(out).to_pylist()
        assert len(rows) == BULK + 1
        assert [r["case_id"] for r in rows if r["prefilter"]] == expected
    else:
        text = out.read_text(encoding="utf-8")
        assert text.count("no candidate disease recorded") == len(expected)


def test_the_enrolled_diseases_come_from_the_catalog(tmp_path: Path) -> None:
    """A trial that enrols one more disease lets that disease's cases through the filter."""
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    trial = rules / "trials" / "NCT03030976.yaml"
    trial.write_text(
        trial.read_text(encoding="utf-8").replace("diseases: [sle]", "diseases: [sle, t1d]", 1),
        encoding="utf-8",
    )
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"id": "p-t1d", "disease": "t1d", "age": 30}\n', encoding="utf-8")
    shipped = records(run_cli("screen", cases, "--format", "jsonl", "--population").stdout)
    widened = records(
        run_cli("screen", cases, "--format", "jsonl", "--population", "--rules", rules).stdout
    )
    assert shipped[0]["prefilter"] == "no_candidate_disease"
    assert "prefilter" not in widened[0]
    [trial] = [t for t in widened[0]["trials"] if t["nct_id"] == "NCT03030976"]
    assert {"id": "disease", "status": "met"}.items() <= trial["criteria"][0].items()


def test_a_dask_cluster_prefilters_as_local_workers_do(runs: dict[str, Any]) -> None:
    """On a real local cluster the workers parse the input themselves: same records, same counts."""
    cluster = run_cli(
        "screen",
        runs["source"],
        "--format",
        "jsonl",
        "--population",
        "--scheduler",
        "local:1",
        "--partition-size",
        "100",
    )
    assert cluster.exit_code == 1, cluster.stderr
    assert records(cluster.stdout) == runs["population"]
    assert summary(cluster.stderr) == summary(runs["stderr"])


def run_with_terminal_stderr(*args: str | Path) -> tuple[bytes, str]:
    """Run the command with stderr on a pseudo-terminal and stdout to a file: (stdout, stderr)."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "160"}
    command = [sys.executable, "-m", "careligible", *map(str, args)]
    with tempfile.TemporaryFile() as out:
        with subprocess.Popen(command, stdout=out, stderr=slave, env=env) as process:
            os.close(slave)
            seen = bytearray()
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the terminal's other side was closed: the command has ended
                    break
                if not chunk:
                    break
                seen += chunk
        os.close(master)
        assert process.returncode == 1  # the broken record
        out.seek(0)
        return out.read(), seen.decode("utf-8", "replace")


def terminal_lines(text: str) -> str:
    """What a terminal shows last on each line: escapes dropped, a line redrawn after ``\\r``."""
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    return "\n".join(line.rsplit("\r", 1)[-1] for line in plain.split("\r\n"))


def test_the_progress_bar_goes_to_a_terminal_stderr_never_to_stdout(
    runs: dict[str, Any],
) -> None:
    stdout, stderr = run_with_terminal_stderr(
        "screen", runs["source"], "--format", "jsonl", "-j", "1", "--population"
    )
    assert records(stdout.decode()) == runs["population"]  # stdout holds the records only
    kept_out = sum(1 for r in runs["population"] if r.get("prefilter"))
    assert f"screened {BULK + 1} case(s), {kept_out} pre-filtered, " in stderr  # the bar, last
    assert summary(terminal_lines(stderr))["read"] == BULK + 1


def test_no_bar_unless_stderr_is_a_terminal_or_it_is_asked_for(runs: dict[str, Any]) -> None:
    """Off a terminal the bar is off by default; ``--no-progress`` turns it off on one."""
    assert "a candidate for some trial" not in runs["stderr"]
    _, stderr = run_with_terminal_stderr(
        "screen", runs["source"], "--format", "compact", "--population", "--no-progress"
    )
    assert "a candidate for some trial" not in stderr
    assert summary(terminal_lines(stderr))["read"] == BULK + 1


# --- the coordinator's worklist -------------------------------------------------------------------


def expected_worklist(population: list[dict[str, Any]]) -> dict[str, list[tuple[str, int]]]:
    """Per trial, (source, items to settle) of each candidate, ranked as the worklist promises:
    eligible, possibly eligible, then needs information with the fewest facts missing; ties in
    input order. Derived from the run's own records."""
    found: dict[str, list[tuple[int, int, int, str]]] = {}
    for order, record in enumerate(population):
        for trial in record["trials"]:
            if trial["verdict"] not in CANDIDATE:
                continue
            defining = [c for c in trial["to_confirm"] if c["defines_population"]]
            settle = len(trial["missing"]) if trial["verdict"] == "needs_info" else len(defining)
            rank = CANDIDATE.index(trial["verdict"])
            found.setdefault(trial["nct_id"], []).append((rank, settle, order, record["source"]))
    return {
        nct: [(source, settle) for _, settle, _, source in sorted(entries)]
        for nct, entries in found.items()
    }


@pytest.fixture(scope="module")
def worklisted(runs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The generated cases screened by two workers with a CSV and a Markdown worklist (no
    --population given: the worklist implies it)."""
    root = tmp_path_factory.mktemp("worklist")
    out: dict[str, Any] = {}
    for suffix in ("csv", "md"):
        worklist, results = root / f"worklist.{suffix}", root / f"results-{suffix}.jsonl"
        args = ("--format", "jsonl", "-j", "2", "--worklist", worklist, "-o", results)
        done = run_cli("screen", runs["source"], *args)
        assert done.exit_code == 1, done.stderr  # the broken record
        assert records(results.read_text(encoding="utf-8")) == runs["population"]
        out[suffix] = worklist.read_text(encoding="utf-8")
    return out


def test_the_worklist_ranks_each_trials_candidates(
    runs: dict[str, Any], worklisted: dict[str, Any]
) -> None:
    rows = list(csv.DictReader(io.StringIO(worklisted["csv"])))
    by_trial: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_trial.setdefault(row["nct_id"], []).append(row)
    expected = expected_worklist(runs["population"])
    assert {
        nct: [(r["source"], int(r["to_settle"])) for r in got] for nct, got in by_trial.items()
    } == expected
    for got in by_trial.values():
        assert [int(r["rank"]) for r in got] == list(range(1, len(got) + 1))
    verdicts = {row["verdict"] for row in rows}
    assert {"possibly_eligible", "needs_info"} <= verdicts  # the mix ranks more than one kind
    assert len(expected) > 5


def test_the_worklist_says_what_to_ask(runs: dict[str, Any], worklisted: dict[str, Any]) -> None:
    """Each needs-information candidate is asked every missing fact, beside the criterion that
    needs it in the protocol's words; each possibly eligible one, every item to confirm."""
    by_key = {
        (row["nct_id"], row["source"]): row
        for row in csv.DictReader(io.StringIO(worklisted["csv"]))
    }
    asked = 0
    for record in runs["population"]:
        for trial in record["trials"]:
            row = by_key.get((trial["nct_id"], record["source"]))
            if trial["verdict"] not in CANDIDATE:
                assert row is None
                continue
            assert row is not None
            for fact in trial["missing"]:
                assert fact in row["find_out"]
                asked += 1
            for criterion in trial["criteria"]:
                if criterion["status"] == "unknown":
                    assert criterion["text"] in row["find_out"]
            for item in trial["to_confirm"]:
                if item["defines_population"]:
                    assert item["text"] in row["confirm"]
    assert asked > 100


def test_no_deceased_prefiltered_or_broken_case_is_on_the_worklist(
    runs: dict[str, Any], worklisted: dict[str, Any]
) -> None:
    listed = {row["source"] for row in csv.DictReader(io.StringIO(worklisted["csv"]))}
    left_out = [r for r in runs["population"] if r.get("deceased") or r.get("prefilter")]
    left_out += [r for r in runs["population"] if r["error"]]
    assert left_out and not listed & {r["source"] for r in left_out}


def test_the_markdown_worklist_has_a_ranked_table_per_trial(
    runs: dict[str, Any], worklisted: dict[str, Any]
) -> None:
    expected = expected_worklist(runs["population"])
    sections = re.split(r"^## ", worklisted["md"], flags=re.M)[1:]
    assert [s.split(":", 1)[0] for s in sections] == [t.nct_id for t in CATALOG.trials]
    for section in sections:
        nct = section.split(":", 1)[0]
        rows = [line for line in section.splitlines() if re.match(r"\| \d+ \|", line)]
        assert len(rows) == len(expected.get(nct, []))
        assert [int(line.split("|")[1]) for line in rows] == list(range(1, len(rows) + 1))
        if not rows:
            assert "No candidate." in section


def test_a_worklist_never_replaces_an_input_or_the_results(tmp_path: Path) -> None:
    cases = tmp_path / "cases.csv"
    shutil.copy(REPO / "cases" / "mixed.csv", cases)
    before = cases.read_bytes()
    results = tmp_path / "results.csv"
    for worklist, output in ((cases, None), (results, results), (tmp_path / "w.txt", None)):
        args = ["screen", cases, "--worklist", worklist, *(["-o", output] if output else [])]
        refused = run_cli(*args)
        assert refused.exit_code == 2, refused.stderr
        assert refused.stdout == "" and "worklist" in refused.stderr
    assert cases.read_bytes() == before and not results.exists()


def test_the_audit_log_holds_no_decision_for_a_prefiltered_case(tmp_path: Path) -> None:
    source = tmp_path / "cases.jsonl"
    cases = write_cases(source, 60, seed=5)
    log = tmp_path / "decisions.jsonl"
    done = run_cli("screen", source, "--format", "jsonl", "--population", "--audit-log", log)
    assert done.exit_code == 1
    results = records(done.stdout)
    logged = [json.loads(line)["case_id"] for line in log.read_text(encoding="utf-8").splitlines()]
    expected = [r["case_id"] for r in results if not r["error"] and not r.get("prefilter")]
    assert logged == expected and len(logged) < len(cases)
    assert run_cli("audit", "verify", log).exit_code == 0


def test_workers_send_back_enough_for_the_same_worklist(
    runs: dict[str, Any], worklisted: dict[str, Any], tmp_path: Path
) -> None:
    """Workers send back only what the counts and the worklist read: the same file as when the
    main process screens every case itself."""
    worklist = tmp_path / "worklist.csv"
    alone = run_cli("screen", runs["source"], "-j", "1", "--worklist", worklist, "-o", "/dev/null")
    assert alone.exit_code == 1
    assert worklist.read_text(encoding="utf-8") == worklisted["csv"]
    assert summary(alone.stderr) == summary(runs["stderr"])
