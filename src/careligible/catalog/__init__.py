"""The rule catalog: trial files, shared definitions and the drug vocabulary, loaded and checked.

* :mod:`.schema` — the shape of each rule file and of the checked objects screening reads;
* :mod:`.load` — reading a rules directory into a :class:`Catalog`, and its ruleset version;
* :mod:`.check` — the checks no schema expresses (special files, ids used twice).

Loading fails as a whole, listing every problem as ``file:line: field: problem``: a catalog with
one broken rule must never produce verdicts. See ``docs/rule-format.md`` for the format.
"""

from __future__ import annotations

from .load import DISEASE, default_rules_dir, load_catalog, ruleset_version
from .schema import (
    Axis,
    Catalog,
    Cohort,
    Completeness,
    ConsiderationRule,
    Criterion,
    Preference,
    RawCohort,
    RawConsideration,
    RawConsiderations,
    RawCriterion,
    RawDefinition,
    RawDefinitions,
    RawTrial,
    RecruitmentStatus,
    Source,
    Table1Row,
    Trial,
)

__all__ = [
    "DISEASE",
    "Axis",
    "Catalog",
    "Cohort",
    "Completeness",
    "ConsiderationRule",
    "Criterion",
    "Preference",
    "RawCohort",
    "RawConsideration",
    "RawConsiderations",
    "RawCriterion",
    "RawDefinition",
    "RawDefinitions",
    "RawTrial",
    "RecruitmentStatus",
    "Source",
    "Table1Row",
    "Trial",
    "default_rules_dir",
    "load_catalog",
    "ruleset_version",
]
