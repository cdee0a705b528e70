"""The rule engine: the catalog's rulesets evaluated by durable_rules.

This is the only module that imports durable_rules. It registers the rulesets
:mod:`careligible.rulesets` lays out, drives durable_rules' C core directly (its Python layer
decodes and re-encodes every state and message with the standard ``json`` module; here facts are
encoded once, with orjson, and of each firing only the rule's name is read), and maps every engine
error into :class:`careligible.errors.EngineError` with no case data in its message: durable_rules
puts the whole fact, that is the patient, into its own errors.

Each case is asserted as a *fact* (a posted event would be consumed by the first matching rule) into
one session per ruleset and retracted once its rules have fired, so memory stays flat over any
batch. A cohort ruleset is asserted only when its disease gate, decided by the first ruleset, is
met or unknown.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import re
import threading
from typing import Any

import durable_rules_engine as _native
import orjson
from durable import engine as durable_engine

from .catalog import Catalog
from .catalog.cache import derived
from .compiler import compile_condition, contains_refs, count_key, fact_key, flag_key, tally_keys
from .conditions import TherapyCount, TherapySpec, walk
from .errors import EngineError
from .facts import CaseFacts
from .results import CriterionStatus
from .rulesets import (
    CASE_MARK,
    CONSIDERATIONS,
    Compiled,
    CriterionKey,
    Ruleset,
    computable,
    freeze,
    layout,
    layout_inputs,
    thresholds,
)

__all__ = ["CONSIDERATIONS", "CriterionKey", "RuleEngine"]

#: Facts the engine's results are remembered for, over all rulesets (a few hundred bytes each),
#: and the fewest any one ruleset keeps however many the catalog has.
MEMO_ENTRIES = 16_384
MEMO_MIN = 256

#: What the memo key holds for an attribute the case lacks.
_ABSENT: Any = object()


class _Host(durable_engine.Host):  # type: ignore[misc]
    """A durable_rules host without its two background dispatch threads.

    ``durable.engine.Host`` starts threads that, forever and about every 0.2 s, take any pending
    action of any ruleset and run it. Here every action runs inside ``assert_fact`` on the
    calling thread, so those threads have nothing to do but race it: one could take a rule's
    firing mid-assert (durable_rules then fails with error 307, ``ERR_NODE_DELETED``) or record
    it after the case was read, and each host left alive keeps competing for the interpreter.
    """

    def _run(self) -> None:
        """Start no dispatch threads (durable-rules 2.0.28 starts them here)."""


class RuleEngine:
    """Evaluates the computable criteria and considerations of a catalog, one case at a time."""

    def __init__(self, catalog: Catalog) -> None:
        self._lock = threading.Lock()
        self._sids = itertools.count(1)
        self._sessions: dict[str, str] = {}  # ruleset name -> the session id its cases go to
        self._memo: dict[str, dict[tuple[Any, ...], dict[int, CriterionStatus]]] = {}
        conditions = [c.condition for c in computable(catalog) if c.condition is not None]
        conditions += [c.condition for c in catalog.considerations]
        self.therapy_specs: tuple[TherapySpec, ...] = tuple(
            {
                node.spec.key: node.spec
                for cond in conditions
                for node in walk(cond)
                if isinstance(node, TherapyCount)
            }.values()
        )
        self._contains = sorted(contains_refs(conditions))
        # Laying out takes longer than the rest of a start; the same criteria lay out the same.
        laid_out = derived("layout", layout_inputs(catalog), lambda: layout(catalog))
        self._rulesets = [freeze(r) for r in laid_out]
        self._memo_limit = max(MEMO_MIN, MEMO_ENTRIES // len(self._rulesets))
        self._thresholds = thresholds([rule.match for r in laid_out for rule in r.rules])
        self._marks = {key: tuple(sorted(values)) for key, values in self._thresholds.items()}
        try:
            self._handles = {r.name: _create(r.name, _definition(r)) for r in laid_out}
        except Exception as exc:
            raise EngineError(
                _refusal(catalog) or f"the engine refused the catalog: {_safe(exc)}"
            ) from None

    @property
    def ruleset_sizes(self) -> dict[str, int]:
        """Rules per compiled ruleset (without the catch-all), for tests and benchmarks."""
        return {r.name: len(r.meaning) for r in self._rulesets}

    def engine_fact(self, facts: CaseFacts) -> dict[str, Any]:
        """The one flat fact a case becomes inside the engine."""
        fact: dict[str, Any] = {}
        for path, value in facts.values.items():
            key = fact_key(path)
            fact[key] = _spellable(value, self._thresholds.get(key, ()))
        fact[CASE_MARK] = 1
        for path, items in facts.lists.items():
            fact[count_key(path)] = len(items)
        for path, item in self._contains:
            if path in facts.lists:
                fact[flag_key(path, item)] = item in facts.lists[path]
        for key, tallied in facts.tallies.items():
            definite, possible = tally_keys(key)
            fact[definite] = tallied.definite
            fact[possible] = tallied.possible
        return fact

    def evaluate(self, facts: CaseFacts, gate: bool = True) -> dict[CriterionKey, CriterionStatus]:
        """The status of every criterion evaluated, and the considerations that are met.

        A criterion no rule decided is unknown. With ``gate`` (the default), the criteria of a
        cohort whose disease criterion is not met are left out: they are not evaluated. Without
        it every criterion is evaluated, which tests use to show the gate changes no verdict.
        """
        fact = self.engine_fact(facts)
        statuses: dict[CriterionKey, CriterionStatus] = {}
        with self._lock:
            first, *others = self._rulesets
            gates = self._decide(first, fact, statuses)
            for ruleset in others:
                if gate and ruleset.gate is not None and gates[ruleset.gate] == "not_met":
                    continue
                self._decide(ruleset, fact, statuses)
        return statuses

    def _decide(
        self,
        ruleset: Compiled,
        fact: dict[str, Any],
        statuses: dict[CriterionKey, CriterionStatus],
    ) -> list[CriterionStatus]:
        """Run one ruleset and record its statuses; returns them by slot."""
        # Each ruleset gets only the facts it tests: durable_rules serialises the whole fact for
        # every rule that fires, so a smaller fact is a faster screen.
        projected: dict[str, Any] = {}
        pattern: list[Any] = []
        for attribute in ruleset.reads_in_order:
            value = fact.get(attribute, _ABSENT)
            if value is not _ABSENT:
                projected[attribute] = value
                value = self._where(attribute, value)
            pattern.append(value)
        decided = self._run(ruleset, projected, tuple(pattern))
        out: list[CriterionStatus] = []
        for index, keys in enumerate(ruleset.slots):
            status = decided.get(index, "unknown")
            out.append(status)
            if status == "met" or index not in ruleset.met_only:
                for key in keys:
                    statuses[key] = status
        return out

    def _where(self, key: str, value: Any) -> Any:
        """A number as where it lies among the numbers rules compare attribute ``key`` with
        (below the first, equal to it, between it and the next, ...) and whether it is a float;
        anything else as itself. Every rule gives two facts of one pattern the same result."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value
        marks = self._marks.get(key, ())
        at = bisect.bisect_left(marks, value)
        return (isinstance(value, float), 2 * at + (at < len(marks) and marks[at] == value))

    def _run(
        self, ruleset: Compiled, fact: dict[str, Any], key: tuple[Any, ...]
    ) -> dict[int, CriterionStatus]:
        """What each slot of ``ruleset`` is for ``fact``, from the engine or, for a fact of the
        same pattern seen lately (``key``), from what the engine said then.

        A ruleset's result depends on nothing but the fact it is given (only the attributes its
        rules test) and, of each number, only on where it lies among the numbers the rules
        compare it with (:meth:`_where`). In a population most cases give each ruleset one
        of few such patterns, so the memo, keyed by the pattern (each attribute the ruleset
        reads, in a fixed order, or a mark that the case lacks it), saves the engine most of
        its asserts. It holds at most :data:`MEMO_ENTRIES` patterns over all rulesets, oldest
        out first, so memory stays flat.
        """
        name = ruleset.name
        memo = self._memo.setdefault(name, {})
        found = memo.get(key)
        if found is not None:
            return found
        sid = self._sessions.setdefault(name, str(next(self._sids)))
        decided = self._decided(ruleset, self._fire(name, _encode({**fact, "sid": sid}), sid))
        if len(memo) >= self._memo_limit:
            del memo[next(iter(memo))]
        memo[key] = decided
        return decided

    def _decided(self, ruleset: Compiled, fired: list[str]) -> dict[int, CriterionStatus]:
        """The status each slot gets from the rules that fired."""
        name = ruleset.name
        out: dict[int, CriterionStatus] = {}
        for rule in fired:
            for index, status in ruleset.meaning.get(rule, ()):
                if out.setdefault(index, status) == status:
                    continue
                if index in ruleset.met_wins:
                    out[index] = "met"
                else:
                    raise EngineError(f"slot {index} of ruleset {name} was both met and not met")
        return out

    def _fire(self, name: str, text: str, sid: str) -> list[str]:
        """The names of the rules ``text`` fires in ruleset ``name``, in the order they fire.

        This drives the engine's C core as ``durable.engine`` does (assert, then run each pending
        action: update the state, complete, start the next), minus its Python layer: no state
        or message is decoded or re-encoded, only each firing's rule name is read. The fact is
        then retracted, which leaves the session empty for the next case: reusing one session
        costs less than setting one up and deleting it per case. After any failure the session
        is left as it is (deleting a session whose assert failed crashes the process) and the
        next case gets a new one.
        """
        handle = self._handles[name]
        try:
            code, state = _native.assert_fact(handle, text)
            if code in (1, 2):  # 1: no rule matched (the catch-all always does); 2: seen already
                raise EngineError(f"ruleset {name} did not accept the case")
            state = 0 if code == 3 else state  # 3: queued, as durable.engine reads it
            fired: list[str] = []
            started = _native.start_action_for_state(handle, state)
            if started:
                state_text, message = started[0], started[1]
                while message:
                    fired.append(message[2 : message.index('"', 2)])  # {"r12":{"m":{...}}}
                    _native.update_state(handle, state_text)
                    message = _native.complete_and_start_action(handle, state)
            _native.retract_fact(handle, text)
        except EngineError:
            del self._sessions[name]
            raise
        except Exception as exc:
            del self._sessions[name]
            raise EngineError(f"the rule engine failed on ruleset {name}: {_safe(exc)}") from None
        return fired


def _spellable(value: Any, thresholds: tuple[float, ...]) -> Any:
    """A number the engine can read, on the same side of every threshold as ``value``.

    durable_rules cannot parse a float written with an exponent and no decimal point, which is how
    Python writes some tiny numbers (0.00001 is ``1e-05``). The next float up is written with one
    (``1.0000000000000002e-05``); rules only compare a fact with their thresholds, so a neighbour
    on the same side of each of them gives exactly the same results.
    """
    if not isinstance(value, float) or "e" not in (text := repr(value)) or "." in text:
        return value
    candidate = value
    for _ in range(4):
        candidate = math.nextafter(candidate, math.inf)
        text = repr(candidate)
        same_side = all(
            (candidate > t) == (value > t) and (candidate < t) == (value < t) for t in thresholds
        )
        if "." in text and same_side:
            return candidate
    raise EngineError("a number in the case cannot be passed to the rule engine")


def _refusal(catalog: Catalog) -> str | None:
    """Find the first criterion the engine refuses on its own, to name it in the error."""
    for trial in catalog.trials:
        for cohort in trial.cohorts:
            for criterion in cohort.criteria:
                if criterion.condition is None:
                    continue
                met, not_met = compile_condition(criterion.condition)
                rules = {
                    "met": {"all": [{"m": met}], "run": _ignore},
                    "not_met": {"all": [{"m": not_met}], "run": _ignore},
                }
                try:
                    _Host().register_rulesets({"probe": rules})
                except Exception as exc:
                    return (
                        f"{criterion.place}: {criterion.id}: the engine refused this condition "
                        f"({_safe(exc)}); simplify it, e.g. with count_at_least on a list"
                    )
    return None


def _definition(ruleset: Ruleset) -> dict[str, Any]:
    """The ruleset as the engine takes it: every rule named ``r<index>``, plus the catch-all."""
    rules: dict[str, Any] = {"seen": {"all": [{"m": {CASE_MARK: 1}}]}}
    for index, rule in enumerate(ruleset.rules):
        rules[f"r{index}"] = {"all": [{"m": rule.match}]}
    return rules


def _create(name: str, definition: dict[str, Any]) -> int:
    """A ruleset in the engine's C core; its handle."""
    handle: int = _native.create_ruleset(name, json.dumps(definition, ensure_ascii=False))
    return handle


def _encode(fact: dict[str, Any]) -> str:
    """A fact as the engine reads it, through orjson (about 5x faster than ``json`` here); a value
    orjson refuses (an integer beyond 64 bits) goes through ``json`` as before."""
    try:
        return orjson.dumps(fact).decode()
    except TypeError:
        return json.dumps(fact, ensure_ascii=False)


def _ignore(c: Any) -> None:
    """The catch-all rule's action: it only keeps unmatched cases away from the engine's trap."""


def _safe(exc: Exception) -> str:
    """Describe an engine exception without its message, which may quote the whole fact."""
    found = re.search(r"error code: (\d+)\s*$", str(exc))
    code = found.group(1) if found else None
    if code == "303":
        return "error 303: the case passes more of one ruleset's tests at once than it can take"
    return f"engine error {code}" if code else type(exc).__name__
