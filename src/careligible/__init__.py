"""careligible: decision support for screening autoimmune-disease patients for CAR-T trials.

The public surface is small: load a rule catalog, build a :class:`Screener`, screen cases.

>>> from careligible import Case, Screener, load_catalog
>>> screener = Screener(load_catalog())
>>> result = screener.screen(Case(id="demo-01", disease="mg", age=40))

The names load on first use, so importing one light module (the audit log, the rule diff, the
case model) never starts the rule engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .case import Case
    from .catalog import Catalog, load_catalog
    from .results import CaseResult, CohortResult, CriterionResult
    from .screening import Screener

_HOMES = {
    "Case": "case",
    "Catalog": "catalog",
    "load_catalog": "catalog",
    "CaseResult": "results",
    "CriterionResult": "results",
    "CohortResult": "results",
    "Screener": "screening",
}

__all__ = [
    "Case",
    "CaseResult",
    "Catalog",
    "CohortResult",
    "CriterionResult",
    "Screener",
    "load_catalog",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'careligible' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{home}", __name__), name)
