"""careligible: decision support for screening autoimmune-disease patients for CAR-T trials.

The public surface is small: load a rule catalog, build a :class:`Screener`, screen cases.

>>> from careligible import Case, Screener, load_catalog
>>> screener = Screener(load_catalog())
>>> result = screener.screen(Case(id="demo-01", disease="mg", age=40))
"""

from .case import Case
from .catalog import Catalog, load_catalog
from .results import CaseResult, CriterionResult, TrialResult
from .screening import Screener

__all__ = [
    "Case",
    "CaseResult",
    "Catalog",
    "CriterionResult",
    "Screener",
    "TrialResult",
    "load_catalog",
]
