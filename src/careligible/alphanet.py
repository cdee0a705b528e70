"""How deep durable_rules' match stack can grow for one fact: the bound behind the engine's 64.

durable_rules matches a fact against a ruleset's *alpha network*, a tree of one-attribute tests
(``age >= 18``) built from the rules' match expressions, by a depth-first walk over an explicit
stack of 64 entries: popping a test pushes every child test the fact passes. A fact that would
push a 65th entry fails the whole assert with error 303. How many entries it needs depends on the
fact's values, not on the size of the ruleset: 32 two-way ``any`` tests on age each fit, and an
RA case aged 40 passes 64 of them at once.

This module rebuilds that network in Python, the way durable-rules 2.0.28 does (identical tests
under one parent are shared; ``$or`` joins its branches in a forward node of its own, which every
branch that matches pushes again), and bounds the stack over **every** possible fact. The bound
is safe: for each attribute it takes the value that passes the most tests, as if one fact could
take that value everywhere, and it assumes the deepest child is always walked first. It imports
nothing from durable_rules, so the layout can be checked, and a catalog refused, before the
engine sees it.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: Entries in durable_rules' match stack (``MAX_STACK_SIZE`` in its ``events.c``).
STACK_LIMIT = 64

_COMPARISONS = {"$lt": "lt", "$lte": "lte", "$gt": "gt", "$gte": "gte", "$neq": "neq"}


@dataclass(eq=False)
class _Node:
    """One alpha test: ``attribute op value``; the root and forward nodes test nothing."""

    attribute: str | None = None
    op: str = "root"
    value: Any = None
    tests: dict[tuple[str, str, str], _Node] = field(default_factory=dict)
    passes: list[_Node] = field(default_factory=list)  # "not exists" and forward nodes

    def child(self, attribute: str, op: str, value: Any) -> _Node:
        """The child testing ``attribute op value``, shared as durable_rules shares it."""
        key = (attribute, op, json.dumps(value, sort_keys=True))
        found = self.tests.get(key)
        if found is None:
            found = self.tests[key] = _Node(attribute, op, value)
        return found


class AlphaNetwork:
    """The alpha network of one ruleset, grown rule by rule."""

    def __init__(self) -> None:
        self._root = _Node()

    def add(self, expr: dict[str, Any]) -> None:
        """Add one rule's match expression (as :mod:`careligible.compiler` builds it)."""
        self._build(expr, self._root)

    def stack_bound(self) -> int:
        """The most stack entries any one fact can need in this network."""
        return _depth(self._root, {})

    def _build(self, expr: dict[str, Any], parent: _Node) -> _Node:
        """Add ``expr`` under ``parent``; returns the node its last test ends in."""
        [(key, operand)] = expr.items()
        if key == "$and":
            node = parent
            for item in operand:
                node = self._build(item, node)
            return node
        if key == "$or":
            forward = _Node(op="forward")
            for item in operand:
                self._build(item, parent).passes.append(forward)
            return forward
        if key == "$ex":
            [(attribute, _)] = operand.items()
            return parent.child(attribute, "ex", None)
        if key in _COMPARISONS:
            [(attribute, value)] = operand.items()
            return parent.child(attribute, _COMPARISONS[key], value)
        if key.startswith("$"):
            raise ValueError(f"no bound for the operator {key}")
        return parent.child(key, "eq", operand)


def stack_bound(exprs: Iterable[dict[str, Any]]) -> int:
    """The stack bound of a ruleset holding these match expressions."""
    network = AlphaNetwork()
    for expr in exprs:
        network.add(expr)
    return network.stack_bound()


def _depth(root: _Node, memo: dict[int, int]) -> int:
    """Most entries on the stack while ``root``'s children are walked, from an empty stack.

    Popping a node pushes the children a fact passes; the first one popped leaves the others
    below it, so the walk can reach ``pushed - 1`` plus what that child needs. Computed children
    first, without recursion: a long ``all`` is a chain hundreds of tests deep.
    """
    pending: list[tuple[_Node, bool]] = [(root, False)]
    while pending:
        node, ready = pending.pop()
        if id(node) in memo:
            continue
        children = [*node.tests.values(), *node.passes]
        if not ready:
            pending.append((node, True))
            pending += [(c, False) for c in children if id(c) not in memo]
            continue
        pushed = _most_passed(node)
        deepest = max((memo[id(c)] for c in children), default=0)
        memo[id(node)] = max(pushed, pushed - 1 + deepest) if pushed else 0
    return memo[id(root)]


def _most_passed(node: _Node) -> int:
    """The most children of ``node`` one fact can pass: the best value of each attribute."""
    by_attribute: dict[str, list[_Node]] = defaultdict(list)
    for child in node.tests.values():
        assert child.attribute is not None
        by_attribute[child.attribute].append(child)
    # A forward node is pushed whatever the fact holds.
    total = sum(1 for child in node.passes if child.op == "forward")
    for tests in by_attribute.values():
        total += max(sum(_passes(t, v) for t in tests) for v in _candidates(tests))
    return total


def _candidates(tests: list[_Node]) -> list[Any]:
    """Values that between them pass every combination of ``tests`` one value can pass.

    Only values of the kinds the tests compare with: a case's field has one type, and the
    catalog compares it only with values of that type.
    """
    constants = [t.value for t in tests if t.op != "ex"]
    out: list[Any] = [c for c in constants if not _number(c)]
    if any(isinstance(c, bool) for c in constants):
        out += [True, False]
    if any(isinstance(c, str) for c in constants):
        out.append("\x00another value")
    numbers = sorted({c for c in constants if _number(c)})
    if numbers:
        out += [numbers[0] - 1, numbers[-1] + 1, *numbers]
        out += [(a + b) / 2 for a, b in itertools.pairwise(numbers)]
    return out or [None]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    return "number" if _number(value) else type(value).__name__


def _passes(test: _Node, value: Any) -> bool:
    """Whether ``value`` can pass ``test``; a comparison across kinds is taken to pass (safe)."""
    if test.op == "ex":
        return True
    if _kind(value) != _kind(test.value):
        return True
    if test.op == "eq":
        return bool(value == test.value)
    if test.op == "neq":
        return bool(value != test.value)
    if isinstance(value, bool):
        return True
    return bool(
        {
            "lt": value < test.value,
            "lte": value <= test.value,
            "gt": value > test.value,
            "gte": value >= test.value,
        }[test.op]
    )
