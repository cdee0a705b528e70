"""Parsing a rule file's condition from YAML into a checked tree (see :mod:`.tree`).

Each problem is reported through the :class:`~.context.ParseContext` with the path of the
offending node, so a message names file, line and field; a condition with any problem is None.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from ..errors import did_you_mean, show
from ..fields import FieldSpec
from .context import ParseContext, first_repeat
from .therapy import parse_therapy_count
from .tree import OPERATORS, AllOf, AnyOf, Condition, Decide, FieldTest, Not, walk

#: Which operators each kind of field accepts.
_ALLOWED: dict[str, tuple[str, ...]] = {
    "number": ("equals", "in", "at_least", "at_most", "above", "below", "between"),
    "bool": ("is",),
    "choice": ("equals", "in"),
    "text": ("equals", "in"),
    "list": ("contains", "count_at_least"),
}


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
        return parse_therapy_count(raw, path, ctx)
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
    if len(items) > MAX_CONDITION_NODES:  # refused unread: parsing 10^6 items takes long
        ctx.report((*path, word), _too_large())
        return None
    parsed = [parse_condition(item, (*path, word, i), ctx) for i, item in enumerate(items)]
    if any(p is None for p in parsed):
        return None
    if (repeat := first_repeat(parsed)) is not None:
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
    if op == "in" and (repeat := first_repeat(values)) is not None:
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
