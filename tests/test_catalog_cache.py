"""Loaded catalogs come back from the cache only while their rule files and code are the same."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from careligible.catalog import load, load_catalog
from careligible.catalog.cache import CACHE_ENV
from conftest import criterion_yaml


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
