"""Compile three-valued conditions into durable_rules match expressions.

Each criterion becomes two rules: one whose expression holds exactly when the criterion is *met*,
one exactly when it is *not met*. When a fact is missing neither expression can match, so the
criterion stays *unknown* — the engine never has to be told what "unknown" means.

Kleene logic compiles structurally: ``all`` is met when every part is met and not met when any
part is not met; ``any`` the reverse; ``not`` swaps the two. This module builds plain JSON-like
dicts and imports nothing from durable_rules, so it can be read and tested on its own.
"""

from __future__ import annotations

from typing import Any

from .conditions import AllOf, AnyOf, Condition, Decide, FieldTest, Not, TherapyCount, walk

Expr = dict[str, Any]

#: An expression no case matches: the side a one-sided decision leaves out. No fact carries
#: this attribute.
NEVER: Expr = {"careligible_never": 1}


def fact_key(path: str) -> str:
    """The attribute name a case fact takes inside the engine (durable_rules reads dots as nesting)."""
    return path.replace(".", "__")


def flag_key(path: str, item: str) -> str:
    """The attribute saying whether a list fact contains ``item``."""
    return f"{fact_key(path)}__has__{item}"


def count_key(path: str) -> str:
    """The attribute holding how many items a list fact has."""
    return f"{fact_key(path)}__count"


def tally_keys(spec_key: str) -> tuple[str, str]:
    return f"{spec_key}__definite", f"{spec_key}__possible"


def compile_condition(condition: Condition) -> tuple[Expr, Expr]:
    """The (met, not met) expressions of a condition."""
    if isinstance(condition, FieldTest):
        return _field_test(condition)
    if isinstance(condition, TherapyCount):
        definite, possible = tally_keys(condition.spec.key)
        return {"$gte": {definite: condition.at_least}}, {"$lt": {possible: condition.at_least}}
    if isinstance(condition, Not):
        met, not_met = compile_condition(condition.item)
        return not_met, met
    if isinstance(condition, Decide):
        # Both may match (a case whose facts contradict the one-sided bound); the engine then
        # lets "met" win, as the definition of a one-sided decision says. A side left out
        # never matches.
        return tuple(  # type: ignore[return-value]
            NEVER if side is None else compile_condition(side)[0]
            for side in (condition.met_if, condition.not_met_if)
        )
    parts = [compile_condition(item) for item in condition.items]
    mets = [p[0] for p in parts]
    not_mets = [p[1] for p in parts]
    if isinstance(condition, AllOf):
        return _join("$and", mets), _join("$or", not_mets)
    assert isinstance(condition, AnyOf)
    return _join("$or", mets), _join("$and", not_mets)


def _join(op: str, exprs: list[Expr]) -> Expr:
    """``exprs`` under one ``op``, nested groups of the same ``op`` spliced in.

    The engine allows one rule 32 group markers (error 113 past that); a flat group is the same
    condition in two.
    """
    flat: list[Expr] = []
    for expr in exprs:
        flat += expr[op] if list(expr) == [op] else [expr]
    return flat[0] if len(flat) == 1 else {op: flat}


def _present(key: str) -> Expr:
    return {"$ex": {key: 1}}


def _field_test(test: FieldTest) -> tuple[Expr, Expr]:
    key = fact_key(test.field)
    value = test.value
    if test.op == "is":
        return {key: value}, {key: not value}
    if test.op == "count_at_least":
        count = count_key(test.field)
        return {"$gte": {count: value}}, {"$lt": {count: value}}
    if test.op == "contains":
        flag = flag_key(test.field, str(value))
        return {flag: True}, {flag: False}
    if test.op == "equals":
        return {key: value}, {"$and": [_present(key), {"$neq": {key: value}}]}
    if test.op == "in":
        met = _join("$or", [{key: v} for v in value])
        return met, {"$and": [_present(key), *({"$neq": {key: v}} for v in value)]}
    if test.op == "between":
        low, high = value
        return (
            {"$and": [{"$gte": {key: low}}, {"$lte": {key: high}}]},
            {"$or": [{"$lt": {key: low}}, {"$gt": {key: high}}]},
        )
    met_op, not_op = {
        "at_least": ("$gte", "$lt"),
        "at_most": ("$lte", "$gt"),
        "above": ("$gt", "$lte"),
        "below": ("$lt", "$gte"),
    }[test.op]
    return {met_op: {key: value}}, {not_op: {key: value}}


def contains_refs(conditions: list[Condition]) -> set[tuple[str, str]]:
    """Every (list field, item) pair a set of conditions tests with ``contains``."""
    refs = set()
    for condition in conditions:
        for node in walk(condition):
            if isinstance(node, FieldTest) and node.op == "contains":
                refs.add((node.field, str(node.value)))
    return refs
