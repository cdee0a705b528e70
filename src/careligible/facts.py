"""From a case to the facts rules read.

A case is a tree; rules read flat facts by dotted path, plus *therapy tallies*: for each therapy
count a rule asks for, how many prior treatments surely qualify and how many might. Keeping the
two numbers is what makes a count three-valued: "at least 2" is met when 2 surely qualify, not met
when fewer than 2 even might, and unknown in between (an outcome or duration not recorded).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .case import Case, Therapy
from .conditions import TherapySpec
from .vocabulary import Drug, Vocabulary

YES, MAYBE, NO = 2, 1, 0


@dataclass(frozen=True)
class TherapyTally:
    """How many distinct treatments surely (``definite``) or possibly qualify for a spec."""

    definite: int
    possible: int
    qualifying: tuple[str, ...] = ()
    uncertain: tuple[str, ...] = ()


@dataclass
class CaseFacts:
    """The facts of one case, ready for the engine and for explaining verdicts."""

    values: dict[str, Any]
    lists: dict[str, tuple[str, ...]]
    tallies: dict[str, TherapyTally]
    therapies_known: bool
    warnings: list[str] = field(default_factory=list)

    def value_of(self, path: str) -> Any:
        """The recorded value of a fact, or None when unknown."""
        if path == "therapies":
            return None
        if path in self.lists:
            return list(self.lists[path])
        return self.values.get(path)


def flatten(case: Case) -> tuple[dict[str, Any], dict[str, tuple[str, ...]]]:
    """Scalar facts by dotted path, and list facts apart; absent facts are simply not there."""
    values: dict[str, Any] = {}
    lists: dict[str, tuple[str, ...]] = {}

    def visit(prefix: str, data: dict[str, Any]) -> None:
        for key, value in data.items():
            path = f"{prefix}{key}"
            if value is None or path in ("id", "therapies"):
                continue
            if isinstance(value, dict):
                visit(f"{path}.", value)
            elif isinstance(value, list):
                lists[path] = tuple(str(v) for v in value)
            else:
                values[path] = value

    visit("", case.model_dump(by_alias=True, exclude_none=True))
    values["therapies.recorded"] = case.therapies is not None  # always known: listed or not
    return values, lists


def resolve_therapies(
    case: Case, vocabulary: Vocabulary
) -> tuple[list[tuple[Therapy, Drug | None]], list[str]]:
    """Pair each therapy with its vocabulary entry; unknown drugs become warnings, not errors."""
    resolved = []
    warnings = []
    for index, therapy in enumerate(case.therapies or []):
        drug = vocabulary.lookup(therapy.drug)
        if drug is None:
            close = vocabulary.suggest(therapy.drug)
            hint = f" (did you mean '{close}'?)" if close else ""
            warnings.append(
                f"therapies[{index}].drug: '{therapy.drug}' is not in the drug "
                f"vocabulary{hint}; it counts in no drug class"
            )
        resolved.append((therapy, drug))
    return resolved, warnings


def tally(spec: TherapySpec, therapies: Iterable[tuple[Therapy, Drug | None]]) -> TherapyTally:
    """Count the distinct treatments that surely or possibly qualify for ``spec``."""
    best: dict[str, int] = {}
    for therapy, drug in therapies:
        if drug is None or not drug.belongs_to_any(spec.names):
            continue
        grade = min(
            _outcome_grade(spec, therapy),
            _duration_grade(spec, therapy),
            _recency_grade(spec, therapy),
        )
        unit = _unit(spec, drug.key)
        best[unit] = max(best.get(unit, NO), grade)
    return TherapyTally(
        definite=sum(1 for g in best.values() if g == YES),
        possible=sum(1 for g in best.values() if g >= MAYBE),
        qualifying=tuple(u for u, g in best.items() if g == YES),
        uncertain=tuple(u for u, g in best.items() if g == MAYBE),
    )


def _unit(spec: TherapySpec, key: str) -> str:
    for group in spec.count_as_one:
        if key in group:
            return " or ".join(group)
    return key


def _outcome_grade(spec: TherapySpec, therapy: Therapy) -> int:
    if not spec.outcomes:
        return YES
    if therapy.outcome in spec.outcomes:
        return YES
    # An unrecorded or still-running treatment may yet prove to qualify.
    return MAYBE if therapy.outcome in (None, "unknown", "ongoing") else NO


def _duration_grade(spec: TherapySpec, therapy: Therapy) -> int:
    if spec.min_months is None:
        return YES
    if therapy.months is None:
        return MAYBE
    return YES if therapy.months >= spec.min_months else NO


def _recency_grade(spec: TherapySpec, therapy: Therapy) -> int:
    if spec.stopped_within_months is None:
        return YES
    stopped = therapy.stopped_months_ago
    if stopped is None and therapy.outcome == "ongoing":
        stopped = 0.0
    if stopped is None:
        return MAYBE
    return YES if stopped < spec.stopped_within_months else NO


_NONE = TherapyTally(0, 0)


def case_facts(case: Case, vocabulary: Vocabulary, specs: Iterable[TherapySpec]) -> CaseFacts:
    """Everything the rules of a catalog may read about ``case``."""
    values, lists = flatten(case)
    resolved, warnings = resolve_therapies(case, vocabulary)
    known = case.therapies is not None
    tallies = (
        {spec.key: tally(spec, resolved) if resolved else _NONE for spec in specs} if known else {}
    )
    return CaseFacts(values, lists, tallies, known, warnings)
