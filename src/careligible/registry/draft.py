"""A draft rule file for a trial not yet in the catalog, from its registry snapshot.

The draft holds what the record states: title, sponsor, phase, status, countries, the age and
sex limits as computed criteria, the cohort diseases its conditions name beyond doubt, and every
inclusion and exclusion item of the eligibility text as a criterion *to confirm* (no ``when``),
each citing the snapshot. It is marked ``draft: true``: ``rules check`` accepts it as it is, and
screening leaves it out until a curator has encoded it and removed the mark.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from .criteria import Item, split_criteria
from .diseases import diseases_of
from .record import StudyRecord
from .sites import countries_of
from .snapshot import Snapshot

_TARGET = re.compile(r"\b(CD\d{1,3}|BCMA|BAFF-?R)\b", re.I)

_RATIONALE = (
    "Drafted from the registry's eligibility text: a curator encodes it as a condition, "
    "or keeps it as an item to confirm at screening."
)


def draft_rule(snapshot: Snapshot, conditions: dict[str, str]) -> str:
    """The text of a draft trial file for ``snapshot`` (see the module docstring)."""
    study = snapshot.study
    diseases = diseases_of(study.conditions, conditions)
    data: dict[str, Any] = {
        "nct_id": study.nct_id,
        "draft": True,
        "title": study.title,
        **({"acronym": study.acronym} if study.acronym else {}),
        "product": "; ".join(study.interventions) or "not stated in the registry record",
        "targets": _Inline(_targets(study)),
        "cell_source": _cell_source(study),
        "modality": "not stated in sources seen",
        "lymphodepletion": "not stated in sources seen",
        "phase": study.phase,
        "sponsor": study.sponsor or "not stated in the registry record",
        "status": study.status,
        # The record's own date for its status, not the day it was read.
        **({"status_as_of": snapshot.last_update_posted} if snapshot.last_update_posted else {}),
        "criteria_complete": "full" if study.eligibility_criteria.strip() else "none",
        "countries": _Inline(countries_of(study.sites)),
        "not_found": _to_curate(study, conditions, diseases),
        "sources": {
            "registry": {
                "url": f"https://clinicaltrials.gov/study/{study.nct_id}",
                "what": snapshot.cite(),
                "checked": snapshot.seen,
            }
        },
        "criteria": _limits(study) + _items(split_criteria(study.eligibility_criteria)),
        "cohorts": [
            {
                "id": "all",
                "name": "All participants (cohorts to be curated)",
                "diseases": _Inline(diseases),
                "source": "registry",
            }
        ],
    }
    header = (
        f"# DRAFT from {snapshot.cite()}.\n"
        "# Left out of screening until a curator has checked every field, encoded what a case can\n"
        "# express, and removed `draft: true`. See docs/rule-format.md.\n"
    )
    body = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    return header + body


class _Dumper(yaml.SafeDumper):
    """Plain YAML: the same date written twice stays two dates, not an anchor and an alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class _Inline(list[Any]):
    """A short list written on one line (``targets: [CD19]``), as curators write them."""


class _InlineMap(dict[str, Any]):
    """A condition written on one line (``when: {field: age, at_least: 18}``)."""


_Dumper.add_representer(
    _Inline, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)
_Dumper.add_representer(
    _InlineMap, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True)
)


def _targets(study: StudyRecord) -> list[str]:
    """CAR targets named in the title or the interventions, else a placeholder to curate."""
    text = " ".join((study.title, *study.interventions))
    found = dict.fromkeys(m.upper().replace("BAFFR", "BAFF-R") for m in _TARGET.findall(text))
    return list(found) or ["not stated"]


def _cell_source(study: StudyRecord) -> str:
    text = " ".join((study.title, *study.interventions)).lower()
    allogeneic, autologous = "allogeneic" in text, "autologous" in text
    if allogeneic != autologous:
        return "allogeneic" if allogeneic else "autologous"
    return "unknown"


def _to_curate(study: StudyRecord, conditions: dict[str, str], diseases: list[str]) -> list[str]:
    """What the curator must fill in: what the record's structured fields do not say."""
    todo = ["Modality, lymphodepletion and cohorts: not in the registry's structured fields."]
    unmapped = [c for c in study.conditions if c.lower() not in conditions]
    if not diseases:
        todo.append(
            "Cohort diseases: no registry condition maps to a case disease beyond doubt "
            f"({'; '.join(study.conditions) or 'none listed'})."
        )
    elif unmapped:
        todo.append(f"Conditions not mapped to a disease code: {'; '.join(unmapped)}.")
    return todo


def _limits(study: StudyRecord) -> list[dict[str, Any]]:
    """The age and sex limits of ``eligibilityModule`` as computed criteria."""
    out: list[dict[str, Any]] = []
    low, high = study.minimum_age, study.maximum_age
    if low is not None or high is not None:
        shown = " to ".join(a.text if a else "no limit" for a in (low, high))
        criterion: dict[str, Any] = {
            "id": "age_limits",
            "kind": "inclusion",
            "text": f"Age {shown} (registry minimumAge/maximumAge).",
        }
        whole = all(a is None or a.years.is_integer() for a in (low, high))
        if whole:
            criterion["when"] = _age_condition(
                low.years if low else None, high.years if high else None
            )
        out.append(
            {
                **criterion,
                "rationale": "The registry's structured age limits.",
                "source": "registry",
            }
        )
    if study.sex in ("female", "male"):
        out.append(
            {
                "id": f"sex_{study.sex}",
                "kind": "inclusion",
                "text": f"{study.sex.capitalize()} participants only (registry sex).",
                "when": _InlineMap({"field": "sex", "equals": study.sex}),
                "rationale": "The registry's structured sex limit.",
                "source": "registry",
            }
        )
    return out


def _age_condition(low: float | None, high: float | None) -> dict[str, Any]:
    if low is not None and high is not None:
        return _InlineMap({"field": "age", "between": _Inline([int(low), int(high)])})
    if low is not None:
        return _InlineMap({"field": "age", "at_least": int(low)})
    return _InlineMap({"field": "age", "at_most": int(high or 0)})


def _items(items: list[Item]) -> list[dict[str, Any]]:
    """One criterion to confirm per item of the eligibility text."""
    out = []
    counts = {"inclusion": 0, "exclusion": 0, None: 0}
    prefix = {"inclusion": "inc", "exclusion": "exc", None: "item"}
    for item in items:
        counts[item.kind] += 1
        criterion: dict[str, Any] = {
            "id": f"{prefix[item.kind]}_{counts[item.kind]:02d}",
            "kind": item.kind or "inclusion",
            "text": item.text,
            "rationale": _RATIONALE,
            "source": "registry",
        }
        if item.kind is None:
            criterion["note"] = (
                "The registry text puts this under no inclusion or exclusion heading"
                + (f" ('{item.heading}')" if item.heading else "")
                + "; the curator sets its kind."
            )
        elif item.heading:
            criterion["note"] = f"Registry heading: {item.heading}"
        out.append(criterion)
    return out
