"""Observation resources -> labs, scores and coded results, by the mapping's observation entries.

A quantity is converted only by a factor the mapping lists for its unit (never guessed); a value
"times the upper limit of normal" divides by the laboratory's own reference range; a coded result
is read from its code, text or interpretation, and a number alone is never read as positive.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

from .dates import date_bounds, months_before
from .elements import Refused, codes, number, texts, unit_of
from .evidence import Evidence
from .mapping import ObservationRule, normalise_text, normalise_unit

if TYPE_CHECKING:
    from fhir.resources.R4B.codeableconcept import CodeableConcept
    from fhir.resources.R4B.observation import Observation
    from fhir.resources.R4B.resource import Resource

FINAL = frozenset({"final", "amended", "corrected"})


def read_observation(evidence: Evidence, resource: Resource, label: str) -> None:
    observation: Observation = resource  # type: ignore[assignment]
    if evidence.other_patient(observation.subject, label):
        return
    rules = observation_rules(evidence, observation.code)
    if not rules:
        evidence.unmatched(label, observation.code)
        return
    if observation.status not in FINAL:
        evidence.note(label, f"status is '{observation.status}'; only final results are used")
        return
    when = observation_date(observation)
    if not _current(evidence, when, label):
        return
    for rule in rules:
        try:
            value = read_value(evidence, rule, observation, label)
        except Refused as refused:
            evidence.note(label, f"{rule.name}: {refused}")
            continue
        evidence.add(rule.field, value, label, when, "latest")


def _current(evidence: Evidence, when: dt.date | None, label: str) -> bool:
    """Is a result of ``when`` evidence as of the reference date? Notes why not.

    A result dated after the reference date did not exist then; one older than the window
    (``max_age_months``, 12 by default) no longer says what the patient's value is.
    """
    if when is None:
        return True
    if when > evidence.reference:
        evidence.note(
            label,
            f"dated {when.isoformat()}, after the reference date; not used",
            "results dated after the reference date, not used",
        )
        return False
    cutoff = months_before(evidence.reference, evidence.max_age_months)
    if when < cutoff:
        evidence.note(
            label,
            f"dated {when.isoformat()}, more than {evidence.max_age_months} months before the "
            "reference date; stale, not used",
            f"results older than {evidence.max_age_months} months (stale), not used",
        )
        return False
    return True


def observation_rules(evidence: Evidence, code: CodeableConcept | None) -> list[ObservationRule]:
    """Every entry a coding matches, and every entry whose text the observation carries."""
    mapping = evidence.mapping

    def every_match(alias: str, normal: str) -> list[ObservationRule]:
        return [
            rule
            for rule, matches in mapping.observation_codes
            if any(m.matches(alias, normal) for m in matches)
        ]

    return mapping.matched(code, every_match, mapping.raw.observations)


def read_value(
    evidence: Evidence, rule: ObservationRule, observation: Observation, label: str = ""
) -> Any:
    """The case value an Observation gives for ``rule``, or :class:`Refused` saying why not."""
    if rule.kind == "coded":
        return coded(evidence, rule, observation)
    if rule.kind == "below_range":
        return below_range(evidence, rule, observation)
    value, unit = quantity(observation)
    if rule.kind == "ratio_to_uln":
        limit = upper_limit(observation, unit)
        if limit is None:
            limit = default_limit(evidence, rule, unit, label)
        return round(value / limit, 2)
    factor = rule.factor(unit)
    if factor is None:
        accepted = ", ".join(repr(u) for u in rule.units)
        shown = f"'{unit}'" if unit else "no unit"
        raise Refused(f"{shown} is not a unit converted for {rule.field} ({accepted})")
    return round(value * factor, 3)


def answer(
    evidence: Evidence, rule: ObservationRule, observation: Observation, codes_too: bool
) -> Any:
    """The answer set's value the result states, or :class:`Refused`."""
    assert rule.answers is not None
    mapping = evidence.mapping
    interpretations = {
        code for concept in observation.interpretation or [] for _, code in codes(concept)
    }
    given_codes = codes(observation.valueCodeableConcept) if codes_too else []
    given_text = set()
    if codes_too:
        written = [observation.valueString, *texts(observation.valueCodeableConcept)]
        given_text = {normalise_text(t) for t in written if t}
    found = []
    for option in mapping.answers(rule.answers):
        by_code = any(
            (alias := mapping.system_alias(system)) is not None
            and code in option.codes.get(alias, [])
            for system, code in given_codes
        )
        by_text = bool(given_text & {normalise_text(t) for t in option.text})
        by_interpretation = bool(interpretations & set(option.interpretation))
        if (by_code or by_text or by_interpretation) and option.value not in found:
            found.append(option.value)
    if len(found) > 1:
        raise Refused("the result and its interpretation disagree")
    if not found:
        raise Refused("the result is not one the mapping can read")
    return found[0]


def coded(evidence: Evidence, rule: ObservationRule, observation: Observation) -> Any:
    try:
        return answer(evidence, rule, observation, codes_too=True)
    except Refused:
        if observation.valueQuantity is not None and not observation.interpretation:
            raise Refused(
                "a number without an interpretation is not read as positive or negative"
            ) from None
        raise


def below_range(evidence: Evidence, rule: ObservationRule, observation: Observation) -> bool:
    if observation.interpretation:
        return bool(answer(evidence, rule, observation, codes_too=False))
    value, unit = quantity(observation)
    low = reference_limit(observation, unit, "low")
    if low is None:
        raise Refused("no interpretation and no lower reference limit to compare with")
    return value < low


def observation_date(observation: Observation) -> dt.date | None:
    """The day a result stands for: when it was taken, else when it was issued."""
    for value in (
        observation.effectiveDateTime,
        observation.effectivePeriod.end if observation.effectivePeriod else None,
        observation.effectivePeriod.start if observation.effectivePeriod else None,
        observation.effectiveInstant,
        observation.issued,
    ):
        bounds = date_bounds(value)
        if bounds is not None:
            return bounds[0]
    return None


def quantity(observation: Observation) -> tuple[float, str]:
    """The numeric value and its unit; refuses comparators ('>90') and missing values."""
    found = observation.valueQuantity
    if found is None:
        if observation.valueInteger is not None:
            return float(observation.valueInteger), ""
        reason = next(iter(texts(observation.dataAbsentReason)), None)
        raise Refused(f"no value ({reason})" if reason else "no numeric value")
    if found.value is None:
        raise Refused("the quantity has no value")
    if found.comparator:
        raise Refused(
            f"the value is '{found.comparator}{found.value}', not an exact number; enter it by hand"
        )
    return number(found.value), unit_of(found)


def upper_limit(observation: Observation, unit: str) -> float | None:
    """The laboratory's upper reference limit, None when the result gives none."""
    limit = reference_limit(observation, unit, "high")
    if limit is not None and limit <= 0:
        raise Refused("the upper reference limit is not positive")
    return limit


def reference_limit(
    observation: Observation, unit: str, side: Literal["low", "high"]
) -> float | None:
    """The ``side`` limit of the first reference range that states one, None when none does.

    A limit in another unit than the value's (``unit``) is refused, never converted: the
    laboratory's range and its result must speak of the same quantity.
    """
    for bound in observation.referenceRange or []:
        limit = bound.low if side == "low" else bound.high
        if limit is None or limit.value is None:
            continue
        limit_unit = unit_of(limit)
        if limit_unit and normalise_unit(limit_unit) != normalise_unit(unit):
            raise Refused(f"the reference range is in '{limit_unit}', the value in '{unit}'")
        return number(limit.value)
    return None


def default_limit(evidence: Evidence, rule: ObservationRule, unit: str, label: str) -> float:
    """The mapping's default upper limit for a result without a range, noted where used.

    Laboratories' limits differ (an ALT limit ranges from about 30 to 55 U/L), so the case
    must say that a ratio rests on a published default and not on the laboratory's own range.
    """
    default = rule.default_upper_limit
    if default is None:
        raise Refused("no upper reference limit to divide by (and no default for this test)")
    if not default.applies_to(unit):
        shown = f"'{unit}'" if unit else "no unit"
        raise Refused(
            f"no upper reference limit to divide by; the default is in {default.units[0]}, "
            f"the value in {shown}"
        )
    evidence.note(
        label,
        f"{rule.name}: the result gives no reference range; divided by the default upper "
        f"limit {default.value:g} {default.units[0]} ({default.source}); check it against "
        "the laboratory's own range",
        "upper limit of normal from the default table (the result gives no reference range)",
        rule.name,
    )
    return default.value
