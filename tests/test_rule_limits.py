"""Rules the engine cannot take are refused by the loader, within seconds, before it sees them.

A condition larger than :data:`~careligible.conditions.MAX_CONDITION_NODES` (an ``any:`` of
1,000 tests, or ``use:`` definitions nesting into millions of nodes) would make the engine stop
responding, even to Ctrl-C; a FIFO or a device among the rule files would block the loader
forever. Each run here is a real process with a deadline, so a regression fails, never hangs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from careligible.case import Case
from careligible.catalog import load_catalog
from careligible.cli import ExitCode
from careligible.conditions import MAX_CONDITION_NODES
from careligible.screening import Screener
from conftest import criterion_yaml

CASE = Path(__file__).resolve().parents[1] / "cases" / "myasthenia-gravis.yaml"
DEADLINE = 60  # seconds; each run takes a few


def careligible(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from careligible.cli import main; main()", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE, check=False)


def any_of(count: int) -> str:
    return "{any: [" + ", ".join(f"{{field: age, at_least: {i}}}" for i in range(count)) + "]}"


def test_an_any_of_1000_tests_is_refused_by_check_and_screen_within_seconds(
    make_rules: Callable[..., Path],
) -> None:
    rules = make_rules(criterion_yaml("huge", any_of(1000)))
    start = time.monotonic()
    checked = careligible("rules", "check", "--rules", rules)
    assert checked.returncode == 1, checked.stderr
    rule_file = rules / "trials" / "NCT00000001.yaml"
    line = 1 + next(
        n for n, text in enumerate(rule_file.read_text().splitlines()) if "any:" in text
    )
    assert (
        f"{rule_file}:{line}: cohorts[0].criteria[0].when.any: the condition holds more than "
        in (checked.stderr)
    )
    screened = careligible("screen", "--rules", rules, CASE)
    assert screened.returncode == ExitCode.CANNOT_RUN and screened.stdout == ""
    assert time.monotonic() - start < DEADLINE


def test_nested_definitions_expanding_exponentially_are_refused(
    make_rules: Callable[..., Path],
) -> None:
    levels = [
        "  d0: {when: {any: [{field: age, at_least: 1}, {field: age, at_most: 9}]}, text: t, source: s}"
    ]
    levels += [
        f"  d{i}: {{when: {{all: [{{use: d{i - 1}}}, {{any: [{{use: d{i - 1}}}]}}]}}, "
        "text: t, source: s}"
        for i in range(1, 40)
    ]  # d39 would hold about 10^12 nodes (two different items: a list repeats none)
    definitions = "sources:\n  s: {url: 'https://example.org', what: t, checked: 2026-11-24}\n"
    definitions += "definitions:\n" + "\n".join(levels) + "\n"
    rules = make_rules(criterion_yaml("deep", "{use: d39}"), definitions=definitions)
    checked = careligible("rules", "check", "--rules", rules)
    assert checked.returncode == 1
    assert "definitions.d6.when: the condition holds more than" in checked.stderr


def test_a_condition_at_the_limit_is_accepted(make_rules: Callable[..., Path]) -> None:
    """The most tests a condition may hold, of a kind one case passes few of at once: 199
    ``at_least`` tests would be refused for another limit (a case aged 198 passes them all, more
    than the engine's match stack holds; see ``test_engine_stack.py``)."""
    tests = ", ".join(f"{{field: age, equals: {i}}}" for i in range(MAX_CONDITION_NODES - 1))
    rules = make_rules(criterion_yaml("big", "{any: [" + tests + "]}"))
    catalog = load_catalog(rules)
    [trial] = catalog.trials
    assert "big" in [c.id for c in trial.cohorts[0].criteria]
    result = Screener(catalog).screen(Case(id="x", disease="sle", age=40))
    [screened] = result.trials
    assert {c.id: c.status for c in screened.criteria}["big"] == "met"


def test_a_fifo_among_the_rule_files_is_refused_not_waited_on(
    make_rules: Callable[..., Path],
) -> None:
    rules = make_rules(criterion_yaml("c1", "{field: age, at_least: 18}"))
    fifo = rules / "trials" / "NCT00000002.yaml"
    os.mkfifo(fifo)
    checked = careligible("rules", "check", "--rules", rules)
    assert checked.returncode == 1
    assert f"{fifo}: not a regular file (a FIFO, socket or device)" in checked.stderr
    screened = careligible("screen", "--rules", rules, CASE)
    assert screened.returncode == ExitCode.CANNOT_RUN


@pytest.mark.parametrize("where", ["definitions.yaml", "vocabulary/extra.yaml"])
def test_a_device_as_a_rule_file_is_refused(make_rules: Callable[..., Path], where: str) -> None:
    rules = make_rules(criterion_yaml("c1", "{field: age, at_least: 18}"))
    (rules / where).symlink_to("/dev/zero")
    checked = careligible("rules", "check", "--rules", rules)
    assert checked.returncode == 1
    assert f"{rules / where}: not a regular file" in checked.stderr
