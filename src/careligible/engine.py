"""The rule engine: compiled criteria evaluated by durable_rules.

This is the only module that imports durable_rules. It owns the engine's host, builds one ruleset
per cohort (split further when a cohort is large, since durable_rules fails with error 303 on big
rulesets), and maps every engine error into :class:`careligible.errors.EngineError` with no case
data in its message: durable_rules puts the whole fact, that is the patient, into its own errors.

Each case is asserted as a *fact* (a posted event would be consumed by the first matching rule) under
a fresh session id whose state is deleted afterwards, so memory stays flat over any batch. Every
ruleset also holds a rule that matches every case: a fact that matches no rule makes durable_rules
raise, keep a session it can never free (deleting it crashes the process) and, after a few
thousand such cases, run out of memory.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from durable import engine as durable_engine

from .catalog import Catalog
from .compiler import (
    compile_condition,
    contains_refs,
    count_key,
    fact_key,
    flag_key,
    tally_keys,
)
from .conditions import Condition, TherapyCount, TherapySpec, walk
from .errors import EngineError
from .facts import CaseFacts

Status = Literal["met", "not_met", "unknown"]

#: Rules per ruleset. The engine's ceiling depends on the rules' shape (about 130 simple rules were
#: measured to work and 140 to fail); 80 keeps a margin for compound conditions.
MAX_RULES_PER_RULESET = 80

#: The attribute every asserted case carries, matched by each ruleset's catch-all rule.
_CASE_MARK = "careligible_case"

CriterionKey = tuple[str, str, str]  # (nct_id, cohort id, criterion id)


@dataclass(frozen=True)
class _CompiledRuleset:
    name: str
    criteria: tuple[CriterionKey, ...]
    reads: frozenset[str] = frozenset()  # fact attributes its rules test


class RuleEngine:
    """Evaluates every computable criterion of a catalog for one case at a time."""

    def __init__(self, catalog: Catalog) -> None:
        self._lock = threading.Lock()
        self._fired: list[str] = []
        self._sids = itertools.count(1)
        groups = _groups(catalog)
        conditions = [cond for _, items in groups for _, cond in items]
        self.therapy_specs: tuple[TherapySpec, ...] = tuple(
            {
                node.spec.key: node.spec
                for cond in conditions
                for node in walk(cond)
                if isinstance(node, TherapyCount)
            }.values()
        )
        self._contains = sorted(contains_refs(conditions))
        self._rulesets, definitions = self._compile(groups)
        try:
            self._host = durable_engine.Host()
            self._host.register_rulesets(definitions)
        except Exception as exc:
            raise EngineError(
                _refusal(catalog) or f"the engine refused the catalog: {_safe(exc)}"
            ) from None

    @property
    def ruleset_sizes(self) -> dict[str, int]:
        """Rules per compiled ruleset (two per criterion), for tests and benchmarks."""
        return {r.name: 2 * len(r.criteria) for r in self._rulesets}

    def _compile(self, groups: list[_Group]) -> tuple[list[_CompiledRuleset], dict[str, Any]]:
        rulesets: list[_CompiledRuleset] = []
        definitions: dict[str, Any] = {}
        per_set = MAX_RULES_PER_RULESET // 2
        for (owner, part_of), items in groups:
            for start in range(0, len(items), per_set):
                chunk = items[start : start + per_set]
                name = f"{owner}.{part_of}.{start // per_set}"
                rules: dict[str, Any] = {"seen": {"all": [{"m": {_CASE_MARK: 1}}], "run": _ignore}}
                for index, (_, condition) in enumerate(chunk):
                    rules.update(self._rules_for(condition, index))
                definitions[name] = rules
                keys = tuple((owner, part_of, item_id) for item_id, _ in chunk)
                reads = frozenset(_attributes([r["all"] for r in rules.values()]))
                rulesets.append(_CompiledRuleset(name, keys, reads))
        return rulesets, definitions

    def _rules_for(self, condition: Condition, index: int) -> dict[str, Any]:
        met, not_met = compile_condition(condition)
        return {
            f"{index}:met": {"all": [{"m": met}], "run": self._recorder(f"{index}:met")},
            f"{index}:not_met": {
                "all": [{"m": not_met}],
                "run": self._recorder(f"{index}:not_met"),
            },
        }

    def _recorder(self, name: str) -> Callable[[Any], None]:
        """An action that only notes which rule fired: durable_rules swallows action errors."""
        fired = self._fired

        def action(c: Any) -> None:
            fired.append(name)

        return action

    def engine_fact(self, facts: CaseFacts) -> dict[str, Any]:
        """The one flat fact a case becomes inside the engine."""
        fact: dict[str, Any] = {fact_key(path): value for path, value in facts.values.items()}
        fact[_CASE_MARK] = 1
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

    def evaluate(self, facts: CaseFacts) -> dict[CriterionKey, Status]:
        """The status of every computable criterion; criteria no rule decided are unknown."""
        fact = self.engine_fact(facts)
        statuses: dict[CriterionKey, Status] = {}
        with self._lock:
            for ruleset in self._rulesets:
                # Each ruleset gets only the facts it tests: durable_rules serialises the whole
                # fact for every rule that fires, so a smaller fact is a faster screen.
                projected = {k: v for k, v in fact.items() if k in ruleset.reads}
                for index, status in self._run(ruleset.name, projected).items():
                    statuses[ruleset.criteria[index]] = status
                for key in ruleset.criteria:
                    statuses.setdefault(key, "unknown")
        return statuses

    def _run(self, name: str, fact: dict[str, Any]) -> dict[int, Status]:
        sid = str(next(self._sids))
        self._fired.clear()
        try:
            state = self._host.assert_fact(name, {**fact, "sid": sid})
        except durable_engine.MessageNotHandledException:
            raise EngineError(f"ruleset {name} did not accept the case") from None
        except Exception as exc:
            raise EngineError(f"the rule engine failed on ruleset {name}: {_safe(exc)}") from None
        try:
            self._host.delete_state(name, sid)
        except Exception as exc:
            raise EngineError(
                f"could not free engine state of ruleset {name}: {_safe(exc)}"
            ) from None
        if isinstance(state, dict) and "exception" in state:
            raise EngineError(f"a rule action failed in ruleset {name}")
        return _statuses(self._fired, name)


#: A group of conditions compiled together: ((owner, part), [(item id, condition)]).
_Group = tuple[tuple[str, str], list[tuple[str, "Condition"]]]

#: The owner key under which the article's considerations are evaluated.
CONSIDERATIONS = "considerations"


def _groups(catalog: Catalog) -> list[_Group]:
    """Each cohort's computable criteria, then the considerations, as groups to compile."""
    groups: list[_Group] = []
    for trial in catalog.trials:
        for cohort in trial.cohorts:
            items = [(c.id, c.condition) for c in cohort.criteria if c.condition is not None]
            if items:
                groups.append(((trial.nct_id, cohort.id), items))
    advice = [(c.id, c.condition) for c in catalog.considerations]
    if advice:
        groups.append(((CONSIDERATIONS, "all"), advice))
    return groups


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
                    durable_engine.Host().register_rulesets({"probe": rules})
                except Exception as exc:
                    return (
                        f"{criterion.where}: {criterion.id}: the engine refused this condition "
                        f"({_safe(exc)}); simplify it, e.g. with count_at_least on a list"
                    )
    return None


def _ignore(c: Any) -> None:
    """The catch-all rule's action: it only keeps unmatched cases away from the engine's trap."""


def _statuses(fired: Iterable[str], ruleset: str) -> dict[int, Status]:
    out: dict[int, Status] = {}
    for rule in fired:
        index, status = rule.split(":")
        if int(index) in out and out[int(index)] != status:
            raise EngineError(f"criterion {index} of ruleset {ruleset} was both met and not met")
        out[int(index)] = status  # type: ignore[assignment]
    return out


def _safe(exc: Exception) -> str:
    """Describe an engine exception without its message, which may quote the whole fact."""
    found = re.search(r"error code: (\d+)\s*$", str(exc))
    code = found.group(1) if found else None
    if code == "303":
        return "error 303: a ruleset is too large for the engine"
    return f"engine error {code}" if code else type(exc).__name__
