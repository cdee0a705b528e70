"""The condition tree: what a rule file's ``when`` becomes once parsed.

A condition is a small tree written in YAML (see ``docs/rule-format.md``):

* a *field test* — ``{field: labs.egfr, at_least: 30}``, with one operator of :data:`OPERATORS`;
* a *therapy count* — ``{therapies: {classes: [anti_cd20_mab], outcome: [inadequate_response]},
  at_least: 1}``: how many prior treatments qualify;
* ``{all: [...]}``, ``{any: [...]}``, ``{not: ...}`` combining them;
* ``{use: NAME}``, a shared definition from ``definitions.yaml``, inlined when the catalog loads.

Every condition is three-valued (met / not met / unknown) with Kleene logic, so a missing fact can
only ever make a result unknown. This module holds the tree and its one-line description;
:mod:`.parse` builds it from YAML and the engine evaluates it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, get_args

Operator = Literal[
    "is",
    "equals",
    "in",
    "at_least",
    "at_most",
    "above",
    "below",
    "between",
    "contains",
    "count_at_least",
]
OPERATORS: tuple[str, ...] = get_args(Operator)
OUTCOMES = ("inadequate_response", "intolerance", "response", "ongoing", "unknown")
CountUnit = Literal["agents", "classes"]

#: Days in the average month: weeks in rules are compared with months in cases through it.
MONTH_DAYS = 365.25 / 12


def weeks_to_months(weeks: float) -> float:
    return weeks * 7 / MONTH_DAYS


@dataclass(frozen=True)
class FieldTest:
    """One comparison of a case fact against a value from the rule file."""

    field: str
    op: Operator
    value: Any

    def fields(self) -> Iterator[str]:
        yield self.field


@dataclass(frozen=True)
class TherapySpec:
    """Which prior treatments qualify for a count.

    A treatment qualifies when its drug is named (by drug, class or group) and it passes every
    filter given. Drugs in one ``count_as_one`` group count once together (for instance
    methotrexate and azathioprine where a protocol treats them as one option).
    """

    names: tuple[str, ...]
    outcomes: tuple[str, ...] = ()
    min_months: float | None = None
    """The shortest qualifying duration, in months (a week is 7/MONTH_DAYS of a month)."""
    stopped_within_months: float | None = None
    count_as_one: tuple[tuple[str, ...], ...] = ()
    count: CountUnit = "agents"
    """``agents``: distinct active ingredients ("two therapies"); ``classes``: distinct drug
    classes ("two types of therapy")."""
    duration_strict: bool = False
    """True for "more than N": the duration must exceed ``min_months``, not merely reach it."""
    duration_text: str = ""
    recency_text: str = ""
    """The bounds as the rule wrote them ("12 weeks"), for explaining."""

    @cached_property
    def key(self) -> str:
        """A stable name for the derived fact this spec produces (worked out once: it is read for
        every case)."""
        blob = json.dumps(
            [
                self.names,
                self.outcomes,
                self.min_months,
                self.stopped_within_months,
                self.count_as_one,
                self.count,
                self.duration_strict,
            ]
        )
        return "tx_" + hashlib.sha256(blob.encode()).hexdigest()[:12]

    def describe(self) -> str:
        parts = [" / ".join(n.replace("_", " ") for n in self.names)]
        if self.outcomes:
            parts.append("outcome " + " or ".join(o.replace("_", " ") for o in self.outcomes))
        if self.count == "classes":
            parts.append("counted by drug class")
        if self.min_months is not None:
            bound = "more than" if self.duration_strict else "at least"
            parts.append(f"{bound} {self.duration_text or f'{self.min_months:g} months'}")
        if self.stopped_within_months is not None:
            window = self.recency_text or f"{self.stopped_within_months:g} months"
            parts.append(f"taken within the last {window}")
        return ", ".join(parts)


@dataclass(frozen=True)
class TherapyCount:
    spec: TherapySpec
    at_least: int

    def fields(self) -> Iterator[str]:
        yield "therapies"


@dataclass(frozen=True)
class _Group:
    """Conditions combined: what the group reads is what its items read."""

    items: tuple[Condition, ...]

    def fields(self) -> Iterator[str]:
        for item in self.items:
            yield from item.fields()


@dataclass(frozen=True)
class AllOf(_Group):
    """Met when every item is met (``{all: [...]}``)."""


@dataclass(frozen=True)
class AnyOf(_Group):
    """Met when any item is met (``{any: [...]}``)."""


@dataclass(frozen=True)
class Not:
    item: Condition

    def fields(self) -> Iterator[str]:
        yield from self.item.fields()


@dataclass(frozen=True)
class Decide:
    """A one-sided decision: met when ``met_if`` is met, else not met when ``not_met_if`` is met,
    else unknown. For criteria a source bounds on one side only (two instruments that measure the
    same thing, a count whose qualifying items no source names); allowed only at the top of a
    criterion's ``when``."""

    met_if: Condition | None
    not_met_if: Condition | None
    """Either side may be left out where a source supports only the other."""

    def fields(self) -> Iterator[str]:
        for side in (self.met_if, self.not_met_if):
            if side is not None:
                yield from side.fields()


Condition = FieldTest | TherapyCount | AllOf | AnyOf | Not | Decide


def walk(condition: Condition) -> Iterator[Condition]:
    """Every node of a condition tree, parents first."""
    yield condition
    if isinstance(condition, AllOf | AnyOf):
        for item in condition.items:
            yield from walk(item)
    elif isinstance(condition, Not):
        yield from walk(condition.item)
    elif isinstance(condition, Decide):
        for side in (condition.met_if, condition.not_met_if):
            if side is not None:
                yield from walk(side)


_SYMBOLS = {
    "at_least": "≥",
    "at_most": "≤",
    "above": ">",
    "below": "<",
    "equals": "=",
    "is": "is",
    "contains": "contains",
    "count_at_least": "has at least",
}


def describe(condition: Condition) -> str:
    """A condition in one readable line, e.g. ``labs.egfr ≥ 30 and not (pregnant is true)``."""
    if isinstance(condition, FieldTest):
        value = condition.value
        if condition.op == "between":
            return f"{condition.field} between {value[0]:g} and {value[1]:g}"
        if condition.op == "in":
            return f"{condition.field} in [{', '.join(map(str, value))}]"
        if isinstance(value, bool):
            value = str(value).lower()
        return f"{condition.field} {_SYMBOLS[condition.op]} {value}"
    if isinstance(condition, TherapyCount):
        return f"at least {condition.at_least} prior therapies: {condition.spec.describe()}"
    if isinstance(condition, Not):
        return f"not ({describe(condition.item)})"
    if isinstance(condition, Decide):
        sides = [
            f"{label} {describe(side)}"
            for label, side in (("met if", condition.met_if), ("not met if", condition.not_met_if))
            if side is not None
        ]
        return "; ".join([*sides, "else unknown"])
    joiner = " and " if isinstance(condition, AllOf) else " or "
    return joiner.join(
        f"({describe(i)})" if isinstance(i, AllOf | AnyOf) else describe(i) for i in condition.items
    )
