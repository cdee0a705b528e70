"""A one-case screen is mostly start-up: it loads only what screening that case needs.

Measured as a second run, the catalog then coming from the cache (as it does for an installed
package after its first start); loading the YAML itself reads the site registry.

What only some options use (the audit log, the population run, the site registry, datasets,
the compact reader) is imported when the option is given, never by a plain ``screen``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CASE = Path(__file__).resolve().parents[1] / "cases" / "sle-nephritis.yaml"

#: Modules a plain ``careligible screen CASE`` must not load.
NOT_NEEDED = (
    "careligible.audit",
    "careligible.rulediff",
    "careligible.cli.population",
    "careligible.cli.dataset",
    "careligible.registry.sites",
    "careligible.registry.snapshot",  # the shipped catalog has no snapshots
    "careligible.registry.record",
    "careligible.compact",
    "careligible.explain",
    "pycountry",
    "geographiclib",
    "sqlite3",
    "textual",
    "pyarrow",
    "dask",
    "httpx",
)

_PROBE = """
import json, runpy, sys
sys.argv = ["careligible", *sys.argv[1:]]
code = 0
try:
    runpy.run_module("careligible", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def loaded_by(*args: str, tmp_path: Path) -> tuple[int, set[str]]:
    """The exit code of ``careligible ARGS`` and every module it had loaded at the end."""
    env = {"CARELIGIBLE_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": ":".join(sys.path)},
        check=False,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


def test_one_case_screen_loads_nothing_only_options_need(tmp_path: Path) -> None:
    loaded_by("screen", str(CASE), tmp_path=tmp_path)  # leaves the loaded catalog cached
    code, modules = loaded_by("screen", str(CASE), tmp_path=tmp_path)
    assert code == 0
    assert "careligible.screening" in modules  # the probe saw a real screen
    assert sorted(set(NOT_NEEDED) & modules) == []


def test_an_option_still_loads_what_it_needs(tmp_path: Path) -> None:
    code, modules = loaded_by(
        "screen", "--country", "DE", "--format", "compact", str(CASE), tmp_path=tmp_path
    )
    assert code == 0
    assert {"careligible.registry.sites", "pycountry", "careligible.compact"} <= modules
