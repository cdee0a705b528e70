"""The rulesets a catalog compiles to: its criteria laid out so that a case fires few rules.

What a case costs is mostly how many rules fire (each firing serialises state and returns to
Python), so the layout is built to fire few:

* the **first ruleset** holds the *disease gate* and the article's considerations. The gate decides
  every cohort's disease criterion with one firing: one rule per disease any cohort names, plus one
  for any other disease, each deciding all cohorts at once;
* **cohort rulesets** hold every other criterion, packed by the disease list of their cohort, and
  are asserted only when that gate is met or unknown: a cohort whose disease criterion is not met is
  ineligible whatever else holds, so its other criteria are left unevaluated (and reported so);
* criteria with the **same condition** (age at least 18 in a dozen cohorts) are compiled and fired
  once, and the one result goes to each of them;
* considerations matter only when they apply, so each has a rule for *met* and none for *not met*.

Every ruleset also holds a rule that matches every case (see :data:`CASE_MARK`). This module
knows durable_rules' limits (rules per ruleset, the depth of its match stack) but not the engine
itself: :mod:`careligible.engine` registers and runs what is laid out here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .alphanet import STACK_LIMIT, AlphaNetwork
from .catalog import DISEASE, Catalog, Criterion
from .compiler import Expr, compile_condition, fact_key
from .conditions import Condition, Decide, FieldTest
from .errors import EngineError
from .results import CriterionStatus

#: Rules per ruleset. The engine's ceiling depends on the rules' shape (about 130 simple rules were
#: measured to work and 140 to fail); 80 keeps a margin for compound conditions.
MAX_RULES_PER_RULESET = 80

#: The attribute every asserted case carries, matched by each ruleset's catch-all rule: a fact
#: that matches no rule makes durable_rules raise, keep a session it can never free (deleting it
#: crashes the process) and, after a few thousand such cases, run out of memory.
CASE_MARK = "careligible_case"

#: The owner key under which the article's considerations are evaluated.
CONSIDERATIONS = "considerations"

CriterionKey = tuple[str, str, str]  # (nct_id, cohort id, criterion id)

#: What one rule's firing decides: (slot, status) pairs. A slot holds criteria sharing a status.
Decision = tuple[tuple[int, CriterionStatus], ...]


@dataclass(frozen=True)
class Rule:
    """One rule: the compiled match and what its firing decides."""

    match: Expr
    decides: Decision


@dataclass
class Ruleset:
    """A ruleset being laid out: its slots (criteria sharing one status) and its rules."""

    name: str
    gate: int | None = None  # the first ruleset's gate slot that must not be "not met"
    slots: list[tuple[CriterionKey, ...]] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    met_only: set[int] = field(default_factory=set)  # slots reported only when met
    met_wins: set[int] = field(default_factory=set)  # one-sided decisions: met beats not met

    def slot(self, keys: tuple[CriterionKey, ...]) -> int:
        self.slots.append(keys)
        return len(self.slots) - 1

    def add_condition(self, condition: Condition, keys: tuple[CriterionKey, ...]) -> None:
        """A met rule and a not-met rule: with neither firing the criteria stay unknown."""
        index = self.slot(keys)
        met, not_met = compile_condition(condition)
        self.rules += [Rule(met, ((index, "met"),)), Rule(not_met, ((index, "not_met"),))]
        if isinstance(condition, Decide):
            self.met_wins.add(index)


@dataclass(frozen=True)
class Compiled:
    """A ruleset as the engine runs it: what each rule's firing means, and what it reads."""

    name: str
    slots: tuple[tuple[CriterionKey, ...], ...]
    meaning: dict[str, Decision]  # rule name -> what its firing decides
    reads: frozenset[str]  # the fact attributes its rules test
    reads_in_order: tuple[str, ...]  # the same, sorted
    met_only: frozenset[int]
    gate: int | None
    met_wins: frozenset[int] = frozenset()


def computable(catalog: Catalog) -> Iterator[Criterion]:
    """The criteria of every cohort that have a condition the engine can evaluate."""
    for trial in catalog.trials:
        for cohort in trial.cohorts:
            yield from (c for c in cohort.criteria if c.condition is not None)


def freeze(ruleset: Ruleset) -> Compiled:
    """A laid-out ruleset with its rules named ``r<index>``, as the engine registers them."""
    meaning = {f"r{i}": rule.decides for i, rule in enumerate(ruleset.rules)}
    reads = frozenset(_attributes([rule.match for rule in ruleset.rules]) | {CASE_MARK})
    return Compiled(
        ruleset.name,
        tuple(ruleset.slots),
        meaning,
        reads,
        tuple(sorted(reads)),
        frozenset(ruleset.met_only),
        ruleset.gate,
        frozenset(ruleset.met_wins),
    )


def layout_inputs(catalog: Catalog) -> str:
    """Everything :func:`layout` reads of a catalog and of this module, as text: the key a laid
    out catalog is kept under, so that a start-up with the same criteria skips laying it out."""
    parts = [f"rules per ruleset {MAX_RULES_PER_RULESET}, stack {STACK_LIMIT}"]
    parts += [
        repr((trial.nct_id, cohort.id, criterion.id, criterion.condition))
        for trial in catalog.trials
        for cohort in trial.cohorts
        for criterion in cohort.criteria
    ]
    parts += [repr((rule.id, rule.condition)) for rule in catalog.considerations]
    return "\n".join(parts)


def layout(catalog: Catalog) -> list[Ruleset]:
    """The first ruleset (gate and considerations), then the cohort rulesets behind each gate."""
    first = Ruleset("first")
    gates: dict[tuple[str, ...], list[CriterionKey]] = {}
    behind: dict[tuple[str, ...] | None, list[tuple[CriterionKey, Condition]]] = {}
    for trial in catalog.trials:
        for cohort in trial.cohorts:
            diseases: tuple[str, ...] | None = None
            for criterion in cohort.criteria:
                if criterion.condition is None:
                    continue
                key = (trial.nct_id, cohort.id, criterion.id)
                if criterion.id == DISEASE:
                    diseases = _diseases(criterion.condition)
                    gates.setdefault(diseases, []).append(key)
                else:
                    behind.setdefault(diseases, []).append((key, criterion.condition))
    gate_slot = {diseases: first.slot(tuple(keys)) for diseases, keys in gates.items()}
    first.rules += _gate_rules(gate_slot)
    network = _network(first.rules)
    if len(first.rules) > MAX_RULES_PER_RULESET or network.stack_bound() > STACK_LIMIT:
        raise EngineError(f"the disease gate of {len(gate_slot)} disease lists is too large")
    rulesets = [first]
    extra: Ruleset | None = None  # where considerations go once the first ruleset is full
    for shared, keys in _shared(
        [((CONSIDERATIONS, "all", c.id), c.condition) for c in catalog.considerations]
    ):
        rule = compile_condition(shared)[0]
        target = extra or first
        if not _fits(target, network, [rule]):
            extra = target = Ruleset(f"considerations.{len(rulesets)}")
            rulesets.append(extra)
            network = _network([])
            if not _fits(target, network, [rule]):
                raise EngineError(_too_deep(keys))
        index = target.slot(keys)
        target.met_only.add(index)
        target.rules.append(Rule(rule, ((index, "met"),)))
    for diseases, items in behind.items():
        gate = None if diseases is None else gate_slot[diseases]
        stem = "cohorts." + ("any" if diseases is None else "-".join(diseases))
        rulesets += _packed(stem, gate, _shared(items))
    return rulesets


def _packed(
    stem: str, gate: int | None, items: list[tuple[Condition, tuple[CriterionKey, ...]]]
) -> list[Ruleset]:
    """Criteria packed into as few rulesets as hold them, none deeper than the engine's stack.

    How deep one fact takes durable_rules' match stack depends on the fact's values, so a ruleset
    that fits for most cases could fail for one (error 303): each criterion joins the current
    ruleset only while :func:`careligible.alphanet.stack_bound`, a bound over every possible
    fact, stays within :data:`~careligible.alphanet.STACK_LIMIT`; otherwise it starts the next.
    """
    out: list[Ruleset] = []
    current: Ruleset | None = None
    network = _network([])
    for condition, keys in items:
        met, not_met = compile_condition(condition)
        if current is None or not _fits(current, network, [met, not_met]):
            current = Ruleset(f"{stem}.{len(out)}", gate)
            out.append(current)
            network = _network([])
            if not _fits(current, network, [met, not_met]):
                raise EngineError(_too_deep(keys))
        current.add_condition(condition, keys)
    return out


def _network(rules: list[Rule]) -> AlphaNetwork:
    """The alpha network of a ruleset holding ``rules`` and the catch-all rule."""
    network = AlphaNetwork()
    network.add({CASE_MARK: 1})
    for rule in rules:
        network.add(rule.match)
    return network


def _fits(ruleset: Ruleset, network: AlphaNetwork, matches: list[Expr]) -> bool:
    """Add ``matches`` to ``network`` and say whether ``ruleset`` could take them.

    On False the network holds them anyway and must be dropped with its ruleset.
    """
    if len(ruleset.rules) + len(matches) > MAX_RULES_PER_RULESET:
        return False
    for match in matches:
        network.add(match)
    return network.stack_bound() <= STACK_LIMIT


def _too_deep(keys: tuple[CriterionKey, ...]) -> str:
    """Name the criteria whose one condition no ruleset can hold for every case."""
    named = ", ".join(f"{nct} cohort {cohort}: {criterion}" for nct, cohort, criterion in keys)
    return (
        f"{named}: one case could pass more than {STACK_LIMIT} of this condition's tests at "
        "once, more than the rule engine can take (its error 303); test a list at once "
        "(in: [...], count_at_least) or split the condition into several criteria"
    )


def _diseases(condition: Condition) -> tuple[str, ...]:
    """The diseases a cohort's disease criterion names (the catalog always builds it so)."""
    assert isinstance(condition, FieldTest) and condition.field == DISEASE, condition
    assert condition.op == "in"
    return tuple(str(v) for v in condition.value)


def _gate_rules(gate_slot: dict[tuple[str, ...], int]) -> list[Rule]:
    """One rule per named disease and one for any other: each fires alone and decides every gate.

    No rule fires when the disease is unknown, so every gate is then unknown.
    """
    key = fact_key(DISEASE)
    named = sorted({d for diseases in gate_slot for d in diseases})
    rules = [
        Rule(
            {key: disease},
            tuple(
                (slot, "met" if disease in diseases else "not_met")
                for diseases, slot in gate_slot.items()
            ),
        )
        for disease in named
    ]
    if gate_slot:
        other: Expr = {"$and": [{"$ex": {key: 1}}, *({"$neq": {key: d}} for d in named)]}
        rules.append(Rule(other, tuple((slot, "not_met") for slot in gate_slot.values())))
    return rules


def _shared(
    items: list[tuple[CriterionKey, Condition]],
) -> list[tuple[Condition, tuple[CriterionKey, ...]]]:
    """Criteria with the same condition, compiled once: (condition, the criteria it decides)."""
    shared: dict[str, tuple[Condition, list[CriterionKey]]] = {}
    for key, condition in items:
        signature = json.dumps(
            [isinstance(condition, Decide), compile_condition(condition)], sort_keys=True
        )
        shared.setdefault(signature, (condition, []))[1].append(key)
    return [(cond, tuple(keys)) for cond, keys in shared.values()]


def _attributes(expr: Any) -> set[str]:
    """The fact attribute names a compiled match expression reads."""
    found: set[str] = set()
    if isinstance(expr, list):
        for item in expr:
            found |= _attributes(item)
    elif isinstance(expr, dict):
        for key, value in expr.items():
            if key.startswith("$") or key == "m":
                found |= _attributes(value)
            else:
                found.add(key)
    return found


def thresholds(exprs: list[Expr]) -> dict[str, tuple[float, ...]]:
    """Every number each fact attribute is compared with, across all compiled rules."""
    found: dict[str, set[float]] = {}

    def visit(expr: Any) -> None:
        if isinstance(expr, list):
            for item in expr:
                visit(item)
        elif isinstance(expr, dict):
            for key, value in expr.items():
                if key.startswith("$"):
                    visit(value)
                elif isinstance(value, int | float) and not isinstance(value, bool):
                    found.setdefault(key, set()).add(value)

    visit(exprs)
    return {key: tuple(values) for key, values in found.items()}
