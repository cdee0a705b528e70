"""The condition language of rule files, parsed and checked.

* :mod:`.tree` — the condition tree (field tests, therapy counts, all/any/not, decide) and its
  one-line description;
* :mod:`.parse` — YAML into a checked tree, refusing one too large for the engine;
* :mod:`.therapy` — the therapy-count part of the language (drugs, outcomes, durations);
* :mod:`.context` — what a parse may refer to, and where its problems go.

See ``docs/rule-format.md`` for the language itself.
"""

from __future__ import annotations

from .context import ParseContext
from .parse import MAX_CONDITION_NODES, parse_condition, parse_when
from .tree import (
    MONTH_DAYS,
    OPERATORS,
    OUTCOMES,
    AllOf,
    AnyOf,
    Condition,
    CountUnit,
    Decide,
    FieldTest,
    Not,
    Operator,
    TherapyCount,
    TherapySpec,
    describe,
    walk,
    weeks_to_months,
)

__all__ = [
    "MAX_CONDITION_NODES",
    "MONTH_DAYS",
    "OPERATORS",
    "OUTCOMES",
    "AllOf",
    "AnyOf",
    "Condition",
    "CountUnit",
    "Decide",
    "FieldTest",
    "Not",
    "Operator",
    "ParseContext",
    "TherapyCount",
    "TherapySpec",
    "describe",
    "parse_condition",
    "parse_when",
    "walk",
    "weeks_to_months",
]
