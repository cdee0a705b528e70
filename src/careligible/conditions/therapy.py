"""Parsing a therapy count: which prior treatments qualify, for how long and how recently.

Durations and recencies may be written in weeks or months; both are kept in months (through
:data:`~.tree.MONTH_DAYS`) with the wording the rule used, so an explanation quotes the rule.
"""

from __future__ import annotations

from typing import Any

from ..errors import did_you_mean, show
from .context import ParseContext, first_repeat
from .tree import OUTCOMES, Condition, TherapyCount, TherapySpec, weeks_to_months

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


def parse_therapy_count(
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
    if (repeat := first_repeat(names)) is not None:
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
