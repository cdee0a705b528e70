"""Loaded catalogs come back from the cache only while their rule files and code are the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from careligible import engine as engine_module
from careligible import rulesets
from careligible.case import Case
from careligible.catalog import Catalog, load, load_catalog
from careligible.catalog.cache import CACHE_ENV, code_stamp
from careligible.engine import RuleEngine
from careligible.facts import case_facts
from careligible.registry.record import parse_record
from careligible.registry.snapshot import make_snapshot, store
from conftest import criterion_yaml

FIXTURES = Path(__file__).parent / "fixtures" / "registry"


@pytest.fixture
def rules(make_rules: Callable[..., Path]) -> Path:
    return make_rules(criterion_yaml("adult", "{field: age, at_least: 18}"))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(where))
    return where


def entries(where: Path) -> list[Path]:
    return sorted(where.glob("catalog-*.pickle")) if where.is_dir() else []


def refuse_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    def parse(directory: Path) -> None:
        raise AssertionError("the YAML was parsed")

    monkeypatch.setattr(load, "_load", parse)


def test_a_second_load_skips_the_yaml(
    rules: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_catalog(rules)
    assert len(entries(cache)) == 1
    refuse_yaml(monkeypatch)
    again = load_catalog(rules)
    assert again.version == first.version
    assert [c.id for c in again.trials[0].cohorts[0].criteria] == ["disease", "adult"]


def test_a_changed_rule_file_is_read_again(rules: Path, cache: Path) -> None:
    first = load_catalog(rules)
    trial = rules / "trials" / "NCT00000001.yaml"
    trial.write_text(trial.read_text().replace("at_least: 18", "at_least: 21"))
    again = load_catalog(rules)
    assert again.version != first.version
    criterion = again.trials[0].cohorts[0].criteria[1]
    assert criterion.condition is not None and "21" in repr(criterion.condition)


def test_a_damaged_entry_is_dropped_and_the_yaml_read(
    rules: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_catalog(rules)
    (entry,) = entries(cache)
    data = bytearray(entry.read_bytes())
    data[-10] ^= 0xFF  # one byte of the payload altered
    entry.write_bytes(bytes(data))
    again = load_catalog(rules)  # read from the YAML, and kept again
    assert again.version == first.version
    refuse_yaml(monkeypatch)
    assert load_catalog(rules).version == first.version  # the new entry is whole


def test_an_entry_cut_short_is_dropped(rules: Path, cache: Path) -> None:
    load_catalog(rules)
    (entry,) = entries(cache)
    entry.write_bytes(entry.read_bytes()[:100])
    assert load_catalog(rules).trials[0].nct_id == "NCT00000001"


def test_nothing_is_cached_inside_the_rules_directory(
    rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(rules / "cache"))
    load_catalog(rules)
    assert not (rules / "cache").exists()


def test_the_cache_can_be_turned_off(
    rules: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, "off")
    load_catalog(rules)
    refuse_yaml(monkeypatch)
    with pytest.raises(AssertionError, match="parsed"):
        load_catalog(rules)


def test_rules_check_reads_every_file(
    rules: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_catalog(rules)
    refuse_yaml(monkeypatch)
    with pytest.raises(AssertionError, match="parsed"):
        load_catalog(rules, cached=False)


def layouts(where: Path) -> list[Path]:
    return sorted(where.glob("layout-*.pickle")) if where.is_dir() else []


def test_a_second_engine_skips_laying_out_the_rulesets(
    rules: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = load_catalog(rules)
    first = RuleEngine(catalog)
    assert len(layouts(cache)) == 1

    def lay_out(catalog: Catalog) -> None:
        raise AssertionError("the rulesets were laid out again")

    monkeypatch.setattr(engine_module, "layout", lay_out)
    again = RuleEngine(catalog)
    assert again.ruleset_sizes == first.ruleset_sizes
    adult = Case(id="c-1", disease="sle", age=30)
    facts = case_facts(adult, catalog.vocabulary, again.therapy_specs)
    assert again.evaluate(facts)[("NCT00000001", "main", "adult")] == "met"


def test_a_changed_condition_or_limit_is_laid_out_again(
    rules: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = load_catalog(rules)
    RuleEngine(catalog)
    trial = rules / "trials" / "NCT00000001.yaml"
    trial.write_text(trial.read_text().replace("at_least: 18", "at_least: 21"))
    RuleEngine(load_catalog(rules))
    assert len(layouts(cache)) == 2
    monkeypatch.setattr(rulesets, "STACK_LIMIT", rulesets.STACK_LIMIT - 1)
    RuleEngine(catalog)
    assert len(layouts(cache)) == 3


def test_a_damaged_layout_is_laid_out_again(rules: Path, cache: Path) -> None:
    catalog = load_catalog(rules)
    RuleEngine(catalog)
    (entry,) = layouts(cache)
    entry.write_bytes(entry.read_bytes()[:-5] + b"xxxxx")
    again = RuleEngine(catalog)
    facts = case_facts(Case(id="c-2", disease="sle", age=16), catalog.vocabulary, ())
    assert again.evaluate(facts)[("NCT00000001", "main", "adult")] == "not_met"


def test_the_code_stamp_changes_with_any_module_and_only_with_modules(tmp_path: Path) -> None:
    package = tmp_path / "package"
    (package / "sub" / "__pycache__").mkdir(parents=True)
    module = package / "sub" / "deep.py"
    module.write_text("x = 1\n")
    (package / "top.py").write_text("y = 2\n")
    stamps = [code_stamp(str(package))]
    (package / "sub" / "__pycache__" / "deep.cpython-311.pyc").write_bytes(b"\0")
    (package / "notes.txt").write_text("not code")
    assert code_stamp(str(package)) == stamps[0]
    module.write_text("x = 10\n")  # a nested module of another size
    stamps.append(code_stamp(str(package)))
    info = module.stat()
    os.utime(module, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000))  # same size, touched
    stamps.append(code_stamp(str(package)))
    (package / "sub" / "new.py").write_text("")
    stamps.append(code_stamp(str(package)))
    assert len(set(stamps)) == len(stamps)


def test_a_cached_catalog_brings_its_snapshots_into_a_fresh_process(
    rules: Path, cache: Path
) -> None:
    """A start imports the snapshot format only when the cached catalog holds a snapshot."""
    record = json.loads((FIXTURES / "NCT00000001-v1.json").read_text())
    posted = parse_record(record).last_update_posted
    store(
        rules / "registry",
        make_snapshot(record, "file v1", datetime(2026, 1, 5, tzinfo=UTC), posted),
    )
    assert load_catalog(rules).trials[0].snapshot is not None  # kept in the cache
    probe = (
        "import sys\n"
        "from careligible.catalog import load, load_catalog\n"
        "load._load = None  # the YAML must not be read: the catalog comes from the cache\n"
        f"trial = load_catalog(__import__('pathlib').Path({str(rules)!r})).trials[0]\n"
        "print(trial.snapshot.nct_id, 'careligible.registry.snapshot' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": ":".join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.split() == ["NCT00000001", "True"]
