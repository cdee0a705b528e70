"""No valid case can make the engine fail: the layout keeps every ruleset within its match stack.

durable_rules walks a fact through a ruleset's tests on a stack of 64 entries and fails the assert
(error 303) when one fact passes more tests at once than that. The layout packs criteria so that
no fact can, and refuses a single condition that alone could; a fault the engine still raises on
one case becomes that case's error record and the batch goes on.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from distributed import Client, LocalCluster

import careligible.rulesets as rulesets_module
from careligible.alphanet import STACK_LIMIT, stack_bound
from careligible.batch import stream
from careligible.batch.stream import MIN_PARALLEL
from careligible.batch.stream import _start_worker as start_worker
from careligible.case import Case
from careligible.catalog import default_rules_dir, load_catalog
from careligible.cli import ExitCode
from careligible.engine import _Host
from careligible.screening import Screener
from conftest import TRIAL_HEAD, criterion_yaml, run_cli
from oracle import evaluate_case, load_rules

AGES = range(0, 121, 5)


def two_way_exclusions(count: int) -> list[str]:
    """``count`` exclusions, each an ``any`` of two age tests that a case aged 40 passes both of."""
    return [
        criterion_yaml(
            f"x{i}",
            f"{{any: [{{field: age, at_least: {i + 1}}}, {{field: age, at_most: {60 + i}}}]}}",
            kind="exclusion",
        )
        for i in range(count)
    ]


@pytest.fixture
def ra_rules(tmp_path: Path) -> Callable[[list[str]], Path]:
    """A rules directory of one trial with one RA cohort holding the given criteria."""

    def build(criteria: list[str]) -> Path:
        root = tmp_path / "rules"
        (root / "trials").mkdir(parents=True)
        shutil.copytree(default_rules_dir() / "vocabulary", root / "vocabulary")
        head = TRIAL_HEAD.replace("diseases: [sle, mg]", "diseases: [ra]")
        body = "\n".join(textwrap.indent(c, " " * 6) for c in criteria)
        (root / "trials" / "NCT00000001.yaml").write_text(head + body + "\n")
        return root

    return build


def cases_file(tmp_path: Path) -> Path:
    path = tmp_path / "cases.jsonl"
    lines = [json.dumps({"id": f"ra-{age}", "disease": "ra", "age": age}) for age in AGES]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_32_two_way_exclusions_screen_every_ra_case(
    ra_rules: Callable[[list[str]], Path], tmp_path: Path
) -> None:
    rules = ra_rules(two_way_exclusions(32))
    checked = run_cli("rules", "check", "--rules", rules)
    assert checked.exit_code == 0, checked.output
    screener = Screener(load_catalog(rules))
    assert len([n for n in screener.engine.ruleset_sizes if n.startswith("cohorts.ra")]) == 2
    oracle = load_rules(rules)
    for age in AGES:
        case = Case(id=f"ra-{age}", disease="ra", age=age)
        statuses = screener.engine.evaluate(screener.facts(case))
        assert statuses == evaluate_case(case, oracle), age
    screened = run_cli("screen", "--rules", rules, "--format", "jsonl", cases_file(tmp_path))
    assert screened.exit_code == 0, screened.output
    records = [json.loads(line) for line in screened.stdout.splitlines()]
    assert [r["case_id"] for r in records] == [f"ra-{age}" for age in AGES]
    assert all(r["error"] is None and r["trials"][0]["verdict"] == "ineligible" for r in records)


def test_a_condition_one_case_could_take_past_the_stack_is_refused_by_name(
    ra_rules: Callable[[list[str]], Path],
) -> None:
    tests = ", ".join(f"{{field: age, at_least: {i}}}" for i in range(STACK_LIMIT + 1))
    rules = ra_rules([criterion_yaml("wide", f"{{any: [{tests}]}}", kind="exclusion")])
    checked = run_cli("rules", "check", "--rules", rules)
    assert checked.exit_code == ExitCode.RECORD_ERRORS
    assert "NCT00000001 cohort main: wide: one case could pass more than 64" in checked.output
    screened = run_cli("screen", "--rules", rules, default_rules_dir().parent / "cases")
    assert screened.exit_code == ExitCode.CANNOT_RUN


def raw_ruleset(matches: list[dict[str, Any]], name: str) -> _Host:
    """A durable_rules host with one ruleset of these match expressions, nothing of the layout."""
    rules = {f"r{i}": {"all": [{"m": m}], "run": _noop} for i, m in enumerate(matches)}
    host = _Host()
    host.register_rulesets({name: rules})
    return host


def _noop(c: Any) -> None:
    """An action that does nothing: the test is whether the assert fails."""


def any_of_two(count: int) -> list[dict[str, Any]]:
    return [{"$or": [{"$gte": {"age": i}}, {"$lte": {"age": 60 + i}}]} for i in range(count)]


def chain(under: int, count: int) -> list[dict[str, Any]]:
    """``under`` tests on the root, and ``count`` more under the first of them."""
    return [{"$gte": {"age": i}} for i in range(under)] + [
        {"$and": [{"$gte": {"age": 0}}, {"$gte": {"b": j}}]} for j in range(count)
    ]


MARK = [{"mark": 1}]


@pytest.mark.parametrize(
    ("matches", "fact", "exact"),
    [
        ([{"$gte": {"age": i}} for i in range(64)], {"age": 100}, True),
        ([{"$gte": {"age": i}} for i in range(65)], {"age": 100}, True),
        (any_of_two(32), {"age": 40}, True),
        (any_of_two(32) + MARK, {"age": 40, "mark": 1}, True),
        (any_of_two(31) + MARK, {"age": 40, "mark": 1}, True),
        (chain(40, 25), {"age": 100, "b": 100}, False),
        (chain(40, 30), {"age": 100, "b": 100}, False),
    ],
)
def test_the_bound_holds_against_the_real_engine(
    matches: list[dict[str, Any]], fact: dict[str, Any], exact: bool
) -> None:
    """Each fact is the one that needs the most stack in its ruleset. Within the bound the real
    engine never fails; where the tests all hang on the root the bound is exact."""
    bound = stack_bound(matches)
    name = f"stack_{len(matches)}_{bound}_{len(fact)}"
    host = raw_ruleset(matches, name)
    try:
        host.assert_fact(name, {"sid": "1", **fact})
        failed = False
    except Exception as exc:
        assert "error code: 303" in str(exc)
        failed = True
    if bound <= STACK_LIMIT:
        assert not failed, bound
    if exact:
        assert failed == (bound > STACK_LIMIT), bound


def unbounded_start(*args: Any) -> None:
    """A ``--jobs`` worker's start-up that lays rulesets out with no stack bound, as
    :func:`test_an_engine_error_on_one_case_is_its_record_and_the_batch_goes_on` does here.

    Workers are spawned, so the main process's monkeypatch does not reach them: this function,
    imported by name in each worker, sets the bound there before the catalog is compiled.
    """
    rulesets_module.STACK_LIMIT = 10**6
    start_worker(*args)


def unbound_in_this_process() -> None:
    """For a Dask worker: compile rulesets from now on with no stack bound."""
    rulesets_module.STACK_LIMIT = 10**6


def many_cases(tmp_path: Path, count: int) -> Path:
    """``count`` RA cases over :data:`AGES`, enough for ``--jobs`` to use its workers."""
    path = tmp_path / "many.jsonl"
    ages = [AGES[i % len(AGES)] for i in range(count)]
    lines = [json.dumps({"id": f"ra-{i}", "disease": "ra", "age": a}) for i, a in enumerate(ages)]
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_only_age_40_failed(stdout: str, cases: Path) -> None:
    """One record per input, in order; the cases the engine failed on (age 40 among them) are
    error records naming their line and saying why; every other case was screened."""
    inputs = [json.loads(line) for line in cases.read_text().splitlines()]
    records = [json.loads(line) for line in stdout.splitlines()]
    assert [r["case_id"] for r in records] == [c["id"] for c in inputs]
    failed = [(c, r) for c, r in zip(inputs, records, strict=True) if r["error"]]
    assert any(c["age"] == 40 for c, _ in failed)
    assert all(c["age"] != 120 for c, _ in failed)
    for number, (case, record) in enumerate(zip(inputs, records, strict=True), start=1):
        assert record["source"] == f"{cases}:{number}"
        if record["error"]:
            assert "could not be screened" in record["error"]
            assert "error 303" in record["error"]
            assert record["trials"] == []
        else:
            assert record["trials"][0]["verdict"] == "ineligible", case


def test_an_engine_error_on_one_case_is_its_record_and_the_batch_goes_on(
    ra_rules: Callable[[list[str]], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the packing the same catalog fails for some ages: those cases alone say so."""
    monkeypatch.setattr(rulesets_module, "STACK_LIMIT", 10**6)
    rules = ra_rules(two_way_exclusions(32))
    cases = cases_file(tmp_path)
    screened = run_cli("screen", "--rules", rules, "--format", "jsonl", "--jobs", "1", cases)
    assert screened.exit_code == ExitCode.RECORD_ERRORS
    assert_only_age_40_failed(screened.stdout, cases)


def test_an_engine_error_in_a_worker_is_that_cases_record(
    ra_rules: Callable[[list[str]], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "_start_worker", unbounded_start)
    rules = ra_rules(two_way_exclusions(32))
    cases = many_cases(tmp_path, MIN_PARALLEL + 20)
    screened = run_cli("screen", "--rules", rules, "--format", "jsonl", "--jobs", "2", cases)
    assert screened.exit_code == ExitCode.RECORD_ERRORS
    assert screened.stderr.splitlines()[-1].endswith("record(s) had errors; see the 'error' field")
    assert_only_age_40_failed(screened.stdout, cases)


def test_an_engine_error_on_a_dask_worker_is_that_cases_record(
    ra_rules: Callable[[list[str]], Path], tmp_path: Path
) -> None:
    rules = ra_rules(two_way_exclusions(32))
    cases = many_cases(tmp_path, 60)
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            dashboard_address=":0",
            scheduler_kwargs={"dashboard": False},
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(unbound_in_this_process)
        screened = run_cli(
            "screen", "--rules", rules, "--format", "jsonl", "--partition-size", "9",
            "--scheduler", cluster.scheduler_address, cases,
        )  # fmt: skip
    assert screened.exit_code == ExitCode.RECORD_ERRORS, screened.output
    assert_only_age_40_failed(screened.stdout, cases)
