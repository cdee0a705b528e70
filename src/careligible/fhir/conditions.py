"""Condition resources -> disease, subtype and safety fields, by the mapping's condition entries.

A coding matches the most specific entry of its system (an ICD-10-CM prefix such as ``M32*``
loses to ``M32.14``); text matches add what a code cannot say. Which fields apply depends on the
clinical status, and a malignancy that is no longer active is dated from its abatement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .dates import precise_date
from .elements import status_code
from .evidence import Evidence, Policy
from .mapping import SINCE_ABATEMENT, ConditionRule

if TYPE_CHECKING:
    from fhir.resources.R4B.codeableconcept import CodeableConcept
    from fhir.resources.R4B.condition import Condition
    from fhir.resources.R4B.resource import Resource

ACTIVE = frozenset({"active", "recurrence", "relapse"})
INACTIVE = frozenset({"inactive", "remission", "resolved"})


def read_condition(evidence: Evidence, resource: Resource, label: str) -> None:
    condition: Condition = resource  # type: ignore[assignment]
    if evidence.other_patient(condition.subject, label):
        return
    verification = status_code(condition.verificationStatus)
    if verification in ("refuted", "entered-in-error"):
        evidence.note(label, f"verification status is '{verification}'")
        return
    if verification in ("unconfirmed", "provisional", "differential"):
        evidence.note(label, f"diagnosis is {verification}, not confirmed")
        return
    rules = condition_rules(evidence, condition.code)
    if not rules:
        evidence.unmatched(label, condition.code)
        return
    status = status_code(condition.clinicalStatus)
    state = "active" if status in ACTIVE else "inactive" if status in INACTIVE else None
    for rule in rules:
        if rule.review:
            evidence.note(label, rule.review)
            continue
        values = dict(rule.fields)
        by_status = {"active": rule.if_active, "inactive": rule.if_inactive}
        extra = by_status[state] if state else {}
        skipped = [p for p in {**rule.if_active, **rule.if_inactive} if p not in values]
        skipped = [p for p in skipped if p not in extra]
        if skipped:
            why = f"clinical status '{status}'" if status else "no clinical status"
            evidence.note(label, f"{rule.name} with {why}: {', '.join(skipped)} left unknown")
        values.update(extra)
        for path, value in values.items():
            if value == SINCE_ABATEMENT:
                value = since_abatement(evidence, condition, label, rule.name)
                if value is None:
                    continue
            policy: Policy = "worst" if path == "history.malignancy" else "agree"
            evidence.add(path, value, label, None, policy)


def condition_rules(evidence: Evidence, code: CodeableConcept | None) -> list[ConditionRule]:
    """Per coding the most specific entry, and every entry whose text the condition carries."""
    mapping = evidence.mapping

    def most_specific(alias: str, normal: str) -> list[ConditionRule]:
        best: tuple[int, ConditionRule] | None = None
        for rule, matches in mapping.condition_codes:
            score = max((m.matches(alias, normal) for m in matches), default=0)
            if score and (best is None or score > best[0]):
                best = (score, rule)
        return [] if best is None else [best[1]]

    return mapping.matched(code, most_specific, mapping.raw.conditions)


def since_abatement(evidence: Evidence, condition: Condition, label: str, name: str) -> str | None:
    """within_5y or remote from the abatement date; None (with a note) when there is none."""
    when = precise_date(condition.abatementDateTime)
    if when is None and condition.abatementPeriod is not None:
        when = precise_date(condition.abatementPeriod.end)
    if when is None:
        evidence.note(
            label,
            f"{name} is not active but has no abatement date: "
            "set history.malignancy (within_5y or remote) by hand",
        )
        return None
    years = (evidence.reference - when).days / 365.25
    return "within_5y" if years <= 5 else "remote"
