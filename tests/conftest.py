"""Shared fixtures: the shipped catalog, a screener on it, and tiny throwaway catalogs."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from careligible.catalog import Catalog, default_rules_dir, load_catalog
from careligible.catalog.cache import CACHE_ENV
from careligible.cli import main
from careligible.screening import Screener

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def catalog_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Loaded catalogs are cached where the tests say, never in the user's cache directory
    (commands the tests start inherit the variable)."""
    where = tmp_path_factory.mktemp("catalog-cache")
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(where)
    yield where
    if before is None:
        del os.environ[CACHE_ENV]
    else:
        os.environ[CACHE_ENV] = before


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def screener(catalog: Catalog) -> Screener:
    return Screener(catalog)


TRIAL_HEAD = """\
nct_id: NCT00000001
title: "Test trial"
product: "test product"
targets: [CD19]
cell_source: autologous
modality: "test"
lymphodepletion: "none"
phase: "Phase 1"
sponsor: "Test sponsor"
status: recruiting
status_as_of: 2026-11-01
criteria_complete: full
sources:
  s1: {url: "https://example.org/trial", what: "test source", checked: 2026-11-24}
cohorts:
  - id: main
    name: "Main cohort"
    diseases: [sle, mg]
    source: s1
    criteria:
"""


def criterion_yaml(cid: str, when: str | None, kind: str = "inclusion") -> str:
    lines = [f"- id: {cid}", f"  kind: {kind}", f'  text: "{cid}"']
    if when is not None:
        lines.append(f"  when: {when}")
    lines += ['  rationale: "test"', "  source: s1"]
    return "\n".join(lines)


@pytest.fixture
def make_rules(tmp_path: Path) -> Callable[..., Path]:
    """Build a rules directory holding one test trial with the given criteria (YAML snippets)."""

    def build(*criteria: str, definitions: str | None = None) -> Path:
        root = tmp_path / "rules"
        (root / "trials").mkdir(parents=True)
        shutil.copytree(default_rules_dir() / "vocabulary", root / "vocabulary")
        body = "\n".join(textwrap.indent(c, " " * 6) for c in criteria)
        (root / "trials" / "NCT00000001.yaml").write_text(TRIAL_HEAD + body + "\n")
        if definitions is not None:
            (root / "definitions.yaml").write_text(definitions)
        return root

    return build


@pytest.fixture
def mini_screener(make_rules: Callable[..., Path]) -> Callable[..., Screener]:
    def build(*criteria: str, definitions: str | None = None) -> Screener:
        return Screener(load_catalog(make_rules(*criteria, definitions=definitions)))

    return build


def run_cli(*args: str | Path) -> Result:
    """Run the command line in-process; whatever the input, it must exit, never crash."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    return result
