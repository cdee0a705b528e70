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
CountUnit = Literal["agents", "classes"]

#: Days in the average month: weeks in rules are compared with months in cases through it.
MONTH_DAYS = 365.25 / 12


def weeks_to_months(weeks: float) -> float:
    return weeks * 7 / MONTH_DAYS


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


def parse_condition(raw: Any, path: tuple[int | str, ...], ctx: ParseContext) -> Condition | None:
    """Parse one condition; on any problem, report it and return None."""
    if not isinstance(raw, dict):
        ctx.report(path, "a condition must be a mapping")
        return None
    if "use" in raw:
        return _parse_use(raw, path, ctx)
    if "decide" in raw:
        return _parse_decide(raw, path, ctx)
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


def _parse_decide(
    raw: dict[str, Any], path: tuple[int | str, ...], ctx: ParseContext
) -> Condition | None:
    body = raw["decide"]
    sides = {"met_if", "not_met_if"}
    if len(raw) != 1 or not isinstance(body, dict) or not body or not set(body) <= sides:
        ctx.report(
            path, "'decide' takes met_if and/or not_met_if (one at least) and nothing beside it"
        )
        return None
    if path[-1] != "when":
        ctx.report(path, "'decide' may only stand at the top of a criterion's when")
        return None
    parsed = {side: parse_condition(body[side], (*path, "decide", side), ctx) for side in body}
    if any(p is None for p in parsed.values()):
        return None
    if any(isinstance(n, Decide) for p in parsed.values() if p for n in walk(p)):
        ctx.report(path, "'decide' cannot hold another 'decide'")
        return None
    return Decide(parsed.get("met_if"), parsed.get("not_met_if"))


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
    parsed = [parse_condition(item, (*path, word, i), ctx) for i, item in enumerate(items)]
    if any(p is None for p in parsed):
        return None
    if (repeat := _first_repeat(parsed)) is not None:
        ctx.report((*path, word, repeat), "repeats an earlier item of the list")
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
    if op == "in" and (repeat := _first_repeat(values)) is not None:
        ctx.report(path, f"'{values[repeat]}' is listed twice")
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


def _first_repeat(items: list[Any]) -> int | None:
    """The index of the first item equal to an earlier one: a list never counts a thing twice."""
    for index, item in enumerate(items):
        if item in items[:index]:
            return index
    return None


#: Duration keys: (months per unit, strict). At most one per count.
_DURATIONS = {
    "min_months": (1.0, False),
    "more_than_months": (1.0, True),
    "min_weeks": (weeks_to_months(1), False),
    "more_than_weeks": (weeks_to_months(1), True),
}
_RECENCY = {"stopped_within_months": 1.0, "stopped_within_weeks": weeks_to_months(1)}

Bound = tuple[float, bool, str]
"""A therapy bound: in months, whether strict, and as the rule wrote it ("12 weeks")."""

_THERAPY_KEYS = (
    "drugs",
    "classes",
    "outcome",
    *_DURATIONS,
    *_RECENCY,
    "count_as_one",
    "count",
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
    bounds = _parse_bounds(body, tpath, ctx)
    if bounds is None:
        return None
    count_unit = body.get("count", "agents")
    if count_unit not in ("agents", "classes"):
        ctx.report((*tpath, "count"), "must be agents or classes")
        return None
    for group in body.get("count_as_one") or []:
        if not isinstance(group, list) or not all(ctx.vocabulary.knows(str(n)) for n in group):
            ctx.report(
                (*tpath, "count_as_one"),
                f"each item must be a list of drugs or classes of the vocabulary (got {show(group)})",
            )
            return None
    names = [*(body.get("drugs") or []), *(body.get("classes") or [])]
    if (repeat := _first_repeat(names)) is not None:
        ctx.report(tpath, f"'{names[repeat]}' is named twice")
        return None
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
    duration, recency = bounds
    spec = TherapySpec(
        names=tuple(names),
        outcomes=tuple(outcomes),
        min_months=duration[0] if duration else None,
        stopped_within_months=recency[0] if recency else None,
        count_as_one=groups,
        count=count_unit,
        duration_strict=duration[1] if duration else False,
        duration_text=duration[2] if duration else "",
        recency_text=recency[2] if recency else "",
    )
    return TherapyCount(spec, count)


def _parse_bounds(
    body: dict[str, Any], tpath: tuple[int | str, ...], ctx: ParseContext
) -> tuple[Bound | None, Bound | None] | None:
    """The duration and recency bounds of a therapy count, in months, each given at most once."""
    found: list[Bound | None] = []
    for table in (_DURATIONS, _RECENCY):
        keys = [k for k in table if k in body]
        if len(keys) > 1:
            ctx.report(tpath, f"give one of {', '.join(keys)}, not several")
            return None
        if not keys:
            found.append(None)
            continue
        key = keys[0]
        value = body[key]
        unit = "weeks" if key.endswith("weeks") else "months"
        limit = 1200 if unit == "months" else 5200
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= limit:
            ctx.report(
                (*tpath, key), f"must be a number of {unit} from 0 to {limit} (got {show(value)})"
            )
            return None
        if key in _RECENCY and value == 0:
            # "stopped less than 0 months ago" holds for no treatment: the count could never be met.
            ctx.report((*tpath, key), "must be above 0 (nothing stops within 0)")
            return None
        scale = _DURATIONS[key][0] if key in _DURATIONS else _RECENCY[key]
        strict = _DURATIONS[key][1] if key in _DURATIONS else True
        found.append((value * scale, strict, f"{value:g} {unit}"))
    return found[0], found[1]


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
