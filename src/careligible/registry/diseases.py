"""Which case disease a registry condition names: the data of ``vocabulary/registry-conditions.yaml``.

The mapping is exact-name only (ignoring case): a draft or a drift report uses a condition only
when the file says beyond doubt which disease it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import yaml

from ..case import Disease
from ..errors import Problem, RulesError

#: Where the mapping lives in a rules directory.
MAPPING = Path("vocabulary") / "registry-conditions.yaml"


def load_condition_map(rules_dir: Path) -> dict[str, str]:
    """Lower-case condition name -> disease code; empty when the file is absent.

    Raises :class:`RulesError` naming the file and entry when a code is not a case disease.
    """
    path = rules_dir / MAPPING
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RulesError([Problem(f"cannot be read ({exc})", file=str(path))]) from None
    entries = data.get("conditions") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise RulesError([Problem("must hold a mapping 'conditions'", "conditions", str(path))])
    codes = set(get_args(Disease))
    problems = [
        Problem(
            f"'{code}' is not a case disease code ({', '.join(sorted(codes))})",
            f"conditions.{name}",
            str(path),
        )
        for name, code in entries.items()
        if code not in codes
    ]
    if problems:
        raise RulesError(problems)
    return {str(name).lower(): str(code) for name, code in entries.items()}


def diseases_of(conditions: tuple[str, ...], mapping: dict[str, str]) -> list[str]:
    """The disease codes the conditions name, in order, without repeats."""
    return list(dict.fromkeys(c for c in (mapping.get(n.lower()) for n in conditions) if c))
