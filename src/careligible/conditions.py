"""The condition language of rule files, parsed and checked.

A condition is a small tree written in YAML (see ``docs/rule-format.md``):

* a *field test* — ``{field: labs.egfr, at_least: 30}``, with one operator of :data:`OPERATORS`;
* a *therapy count* — ``{therapies: {classes: [anti_cd20_mab], outcome: [inadequate_response]},
  at_least: 1}``: how many prior treatments qualify;
* ``{all: [...]}``, ``{any: [...]}``, ``{not: ...}`` combining them;
* ``{use: NAME}``, a shared definition from ``definitions.yaml``, inlined when the catalog loads.

Every condition is three-valued (met / not met / unknown) with Kleene logic, so a missing fact can
only ever make a result unknown. This module only parses: the engine evaluates.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, get_args

from .errors import Problem, did_you_mean, show
from .fields import FieldSpec, case_fields
from .vocabulary import Vocabulary

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

#: Which operators each kind of field accepts.
_ALLOWED: dict[str, tuple[str, ...]] = {
    "number": ("equals", "in", "at_least", "at_most", "above", "below", "between"),
    "bool": ("is",),
    "choice": ("equals", "in"),
    "text": ("equals", "in"),
    "list": ("contains", "count_at_least"),
}


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
    stopped_within_months: float | None = None
    count_as_one: tuple[tuple[str, ...], ...] = ()

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
            ]
        )
        return "tx_" + hashlib.sha256(blob.encode()).hexdigest()[:12]

    def describe(self) -> str:
        parts = [" / ".join(n.replace("_", " ") for n in self.names)]
        if self.outcomes:
            parts.append("outcome " + " or ".join(o.replace("_", " ") for o in self.outcomes))
        if self.min_months is not None:
            parts.append(f"at least {self.min_months:g} months")
        if self.stopped_within_months is not None:
            parts.append(f"taken within the last {self.stopped_within_months:g} months")
        return ", ".join(parts)


@dataclass(frozen=True)
class TherapyCount:
    spec: TherapySpec
    at_least: int

    def fields(self) -> Iterator[str]:
        yield "therapies"


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]

    def fields(self) -> Iterator[str]:
        for item in self.items:
            yield from item.fields()


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]

    def fields(self) -> Iterator[str]:
        for item in self.items:
            yield from item.fields()


@dataclass(frozen=True)
class Not:
    item: Condition

    def fields(self) -> Iterator[str]:
        yield from self.item.fields()


Condition = FieldTest | TherapyCount | AllOf | AnyOf | Not


def walk(condition: Condition) -> Iterator[Condition]:
    """Every node of a condition tree, parents first."""
    yield condition
    if isinstance(condition, AllOf | AnyOf):
        for item in condition.items:
            yield from walk(item)
    elif isinstance(condition, Not):
        yield from walk(condition.item)


@dataclass
class ParseContext:
    """What a condition may refer to, and where to report problems."""

    vocabulary: Vocabulary
    definitions: dict[str, Condition]
    file: str
    line_of: Callable[[tuple[int | str, ...]], int | None]
    problems: list[Problem] = field(default_factory=list)
    fields: dict[str, FieldSpec] = field(default_factory=case_fields)

    def report(self, path: tuple[int | str, ...], message: str) -> None:
        from .errors import dotted

        self.problems.append(Problem(message, dotted(path), self.file, self.line_of(path)))


#: The most tests and groups one condition may hold, with every ``use:`` expanded. The largest
#: shipped criterion holds 12; the rule engine stops responding (even to Ctrl-C) somewhere above
#: 500, so a larger condition is refused before the engine sees it. Write a long list of
#: alternatives as one test instead (``in: [...]``, ``count_at_least`` on a list).
MAX_CONDITION_NODES = 200


def parse_when(raw: Any, path: tuple[int | str, ...], ctx: ParseContext) -> Condition | None:
    """Parse a criterion's, definition's or consideration's whole condition, and refuse one
    larger than :data:`MAX_CONDITION_NODES` (counting stops there, so nested ``use:`` that
    would expand exponentially is refused as quickly)."""
    condition = parse_condition(raw, path, ctx)
    if condition is None:
        return None
    if sum(1 for _ in itertools.islice(walk(condition), MAX_CONDITION_NODES + 1)) > (
        MAX_CONDITION_NODES
    ):
        ctx.report(path, _too_large())
        return None
    return condition


def _too_large() -> str:
    return (
        f"the condition holds more than {MAX_CONDITION_NODES} tests and groups (with 'use' "
        "expanded), more than the rule engine can take; split it or test a list at once"
    )


def parse_condition(raw: Any, path: tuple[int | str, ...], ctx: ParseContext) -> Condition | None:
    """Parse one condition; on any problem, report it and return None."""
    if not isinstance(raw, dict):
        ctx.report(path, "a condition must be a mapping")
        return None
    if "use" in raw:
        return _parse_use(raw, path, ctx)
    for word, cls in (("all", AllOf), ("any", AnyOf)):
        if word in raw:
            return _parse_group(raw, word, cls, path, ctx)
    if "not" in raw:
        if len(raw) != 1:
            ctx.report(path, "'not' takes one condition and nothing beside it")
            return None
        inner = parse_condition(raw["not"], (*path, "not"), ctx)
        return Not(inner) if inner is not None else None
    if "therapies" in raw:
        return _parse_therapy_count(raw, path, ctx)
    if "field" in raw:
        return _parse_field_test(raw, path, ctx)
    ctx.report(path, "a condition needs one of: field, therapies, all, any, not, use")
    return None


def _parse_use(
    raw: dict[str, Any], path: tuple[int | str, ...], ctx: ParseContext
) -> Condition | None:
    name = raw["use"]
    if len(raw) != 1:
        ctx.report(path, "'use' names a definition and takes nothing beside it")
        return None
    if not isinstance(name, str) or name not in ctx.definitions:
        ctx.report(
            (*path, "use"), f"unknown definition '{name}'{did_you_mean(str(name), ctx.definitions)}"
        )
        return None
    return ctx.definitions[name]


def _parse_group(
    raw: dict[str, Any],
    word: str,
    cls: type[AllOf] | type[AnyOf],
    path: tuple[int | str, ...],
    ctx: ParseContext,
) -> Condition | None:
    items = raw[word]
    if len(raw) != 1:
        ctx.report(path, f"'{word}' takes a list of conditions and nothing beside it")
        return None
    if not isinstance(items, list) or not items:
        ctx.report((*path, word), "must be a non-empty list of conditions")
        return None
    if len(items) > MAX_CONDITION_NODES:  # refused unread: parsing 10^6 items takes long
        ctx.report((*path, word), _too_large())
        return None
    parsed = [parse_condition(item, (*path, word, i), ctx) for i, item in enumerate(items)]
    if any(p is None for p in parsed):
        return None
    return cls(tuple(p for p in parsed if p is not None))


def _parse_field_test(
    raw: dict[str, Any], path: tuple[int | str, ...], ctx: ParseContext
) -> Condition | None:
    name = raw["field"]
    spec = ctx.fields.get(str(name))
    if spec is None:
        ctx.report(
            (*path, "field"), f"unknown case field '{name}'{did_you_mean(str(name), ctx.fields)}"
        )
        return None
    ops = [k for k in raw if k != "field"]
    if len(ops) != 1 or ops[0] not in OPERATORS:
        bad = next((o for o in ops if o not in OPERATORS), None)
        hint = did_you_mean(str(bad), OPERATORS) if bad else ""
        ctx.report(path, f"a field test needs exactly one operator of {', '.join(OPERATORS)}{hint}")
        return None
    op = ops[0]
    if op not in _ALLOWED[spec.kind]:
        ctx.report(
            (*path, op),
            f"'{op}' does not apply to {spec.kind} field '{name}'; "
            f"use {', '.join(_ALLOWED[spec.kind])}",
        )
        return None
    value = _check_value(spec, op, raw[op], (*path, op), ctx)
    return FieldTest(spec.path, op, value) if value is not None else None  # type: ignore[arg-type]


def _check_value(
    spec: FieldSpec, op: str, value: Any, path: tuple[int | str, ...], ctx: ParseContext
) -> Any:
    def number(v: Any) -> bool:
        # A NaN threshold would silently never be met; an infinite one the engine cannot take.
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    if op == "is":
        if not isinstance(value, bool):
            ctx.report(path, "must be true or false")
            return None
        return value
    if op == "between":
        if not (
            isinstance(value, list)
            and len(value) == 2
            and all(map(number, value))
            and value[0] <= value[1]
        ):
            ctx.report(path, "must be [low, high], two numbers with low <= high")
            return None
        return tuple(value)
    if op == "count_at_least":
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            ctx.report(path, "must be a whole number of at least 1")
            return None
        return value
    if op in ("at_least", "at_most", "above", "below"):
        if not number(value):
            ctx.report(path, f"must be a finite number (got {show(value)})")
            return None
        return value
    values = value if op == "in" else [value]
    if op == "in" and (not isinstance(value, list) or not value):
        ctx.report(path, "must be a non-empty list")
        return None
    for v in values:
        if spec.kind == "number" and not number(v):
            ctx.report(path, f"'{v}' is not a number")
            return None
        if spec.choices and str(v) not in spec.choices:
            ctx.report(
                path, f"'{v}' is not a value of {spec.path}{did_you_mean(str(v), spec.choices)}"
            )
            return None
    return tuple(values) if op == "in" else value


_THERAPY_KEYS = (
    "drugs",
    "classes",
    "outcome",
    "min_months",
    "stopped_within_months",
    "count_as_one",
)


_EXAMPLE = {
    "drugs": "rituximab",
    "classes": "anti_cd20_mab",
    "outcome": "inadequate_response",
    "count_as_one": "[methotrexate, azathioprine]",
}


def _parse_therapy_count(
    raw: dict[str, Any], path: tuple[int | str, ...], ctx: ParseContext
) -> Condition | None:
    extra = set(raw) - {"therapies", "at_least"}
    if extra or "at_least" not in raw:
        ctx.report(path, "a therapy count takes 'therapies' and 'at_least' only")
        return None
    count = raw["at_least"]
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        ctx.report((*path, "at_least"), "must be a whole number of at least 1")
        return None
    body = raw["therapies"]
    tpath = (*path, "therapies")
    if not isinstance(body, dict):
        ctx.report(tpath, "must be a mapping")
        return None
    for key in body:
        if key not in _THERAPY_KEYS:
            ctx.report((*tpath, key), f"unknown key{did_you_mean(str(key), _THERAPY_KEYS)}")
            return None
    for key in ("drugs", "classes", "outcome", "count_as_one"):
        if not isinstance(body.get(key) or [], list):
            ctx.report((*tpath, key), f"must be a list, such as [{_EXAMPLE[key]}]")
            return None
    for key in ("min_months", "stopped_within_months"):
        value = body.get(key)
        if value is not None and (
            not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1200
        ):
            ctx.report(
                (*tpath, key), f"must be a number of months from 0 to 1200 (got {show(value)})"
            )
            return None
    if body.get("stopped_within_months") == 0:
        # "stopped less than 0 months ago" holds for no treatment: the count could never be met.
        ctx.report((*tpath, "stopped_within_months"), "must be above 0 (nothing stops within 0)")
        return None
    for group in body.get("count_as_one") or []:
        if not isinstance(group, list) or not all(ctx.vocabulary.knows(str(n)) for n in group):
            ctx.report(
                (*tpath, "count_as_one"),
                f"each item must be a list of drugs or classes of the vocabulary (got {show(group)})",
            )
            return None
    names = [*(body.get("drugs") or []), *(body.get("classes") or [])]
    if not names:
        ctx.report(tpath, "name at least one drug or class (drugs: [...] or classes: [...])")
        return None
    for name in names:
        if not ctx.vocabulary.knows(str(name)):
            hint = did_you_mean(str(name), ctx.vocabulary.known_terms())
            ctx.report(tpath, f"'{name}' is not a drug, class or group of the vocabulary{hint}")
            return None
    outcomes = body.get("outcome") or []
    for outcome in outcomes:
        if outcome not in OUTCOMES:
            ctx.report(
                (*tpath, "outcome"),
                f"'{outcome}' is not an outcome{did_you_mean(str(outcome), OUTCOMES)}",
            )
            return None
    groups = tuple(tuple(g) for g in body.get("count_as_one") or [])
    spec = TherapySpec(
        names=tuple(names),
        outcomes=tuple(outcomes),
        min_months=body.get("min_months"),
        stopped_within_months=body.get("stopped_within_months"),
        count_as_one=groups,
    )
    return TherapyCount(spec, count)


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
    joiner = " and " if isinstance(condition, AllOf) else " or "
    return joiner.join(
        f"({describe(i)})" if isinstance(i, AllOf | AnyOf) else describe(i) for i in condition.items
    )
