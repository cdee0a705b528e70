"""The headless core never loads the terminal UI library."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE = [
    "careligible.case",
    "careligible.catalog",
    "careligible.conditions",
    "careligible.engine",
    "careligible.rulesets",
    "careligible.screening",
    "careligible.readers",
    "careligible.report",
    "careligible.outputs",
    "careligible.writers",
    "careligible.compact",
    "careligible.parquetfile",
    "careligible.batch",
    "careligible.cli",
]


@pytest.mark.parametrize("module", CORE)
def test_core_module_does_not_import_textual(module: str) -> None:
    code = f"import sys, {module}; assert 'textual' not in sys.modules, '{module} loaded textual'"
    subprocess.run([sys.executable, "-c", code], check=True)
