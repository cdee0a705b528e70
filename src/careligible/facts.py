"""From a case to the facts rules read.

A case is a tree; rules read flat facts by dotted path, plus *therapy tallies*: for each therapy
count a rule asks for, how many prior treatments surely qualify and how many might. Keeping the
two numbers is what makes a count three-valued: "at least 2" is met when 2 surely qualify, not met
when fewer than 2 even might, and unknown in between (an outcome or duration not recorded).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
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
    #: False when the case says its list is not the whole history: then any number of further
    #: treatments may qualify, so the count can be met but never ruled out.
    complete: bool = True


@dataclass
class CaseFacts:
    """The facts of one case, ready for the engine and for explaining verdicts."""

    values: dict[str, Any]
    lists: dict[str, tuple[str, ...]]
    tallies: dict[str, TherapyTally]
    warnings: list[str] = field(default_factory=list)

    def value_of(self, path: str) -> Any:
        """The recorded value of a fact, or None when unknown."""
        if path == "therapies":
            return None
        if path in self.lists:
            return list(self.lists[path])
        return self.values.get(path)


#: Parts of a case that are not facts rules read: who it is, what is counted apart, and the
#: site's confirmations and date, which screening applies itself.
_NOT_FACTS = ("id", "therapies", "therapies_complete", "confirmations", "as_of")


def flatten(case: Case) -> tuple[dict[str, Any], dict[str, tuple[str, ...]]]:
    """Scalar facts by dotted path, and list facts apart; absent facts are simply not there."""
    values: dict[str, Any] = {}
    lists: dict[str, tuple[str, ...]] = {}

    def visit(prefix: str, data: dict[str, Any]) -> None:
        for key, value in data.items():
            path = f"{prefix}{key}"
            if value is None or path in _NOT_FACTS:
                continue
            if isinstance(value, dict):
                visit(f"{path}.", value)
            elif isinstance(value, list):
                lists[path] = tuple(str(v) for v in value)
            else:
                values[path] = value

    visit("", case.model_dump(by_alias=True, exclude_none=True))
    values["therapies.recorded"] = case.therapies is not None  # always known: listed or not
    values.update(_cannot_apply(values))
    return values, lists


#: Facts another fact decides when it rules them out: (deciding path, its value, what follows).
#: A man is neither pregnant nor breastfeeding; a case with no lupus nephritis has no nephritis
#: class and no active nephritis (``none`` matches no class a rule may name). A criterion on such
#: a fact is then decided, never asked for.
CANNOT_APPLY: tuple[tuple[str, Any, dict[str, Any]], ...] = (
    ("sex", "male", {"pregnant": False, "breastfeeding": False}),
    (
        "lupus_nephritis.present",
        False,
        {"lupus_nephritis.class": "none", "lupus_nephritis.active": False},
    ),
)


def _cannot_apply(values: dict[str, Any]) -> dict[str, Any]:
    derived: dict[str, Any] = {}
    for path, value, follows in CANNOT_APPLY:
        if values.get(path) is value or values.get(path) == value:
            derived |= {k: v for k, v in follows.items() if values.get(k) is None}
    return derived


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
        unit = _unit(spec, drug)
        best[unit] = max(best.get(unit, NO), grade)
    if not best:  # most specs, for most cases: no listed therapy is of the spec's kind
        return _NONE
    return TherapyTally(
        definite=sum(1 for g in best.values() if g == YES),
        possible=sum(1 for g in best.values() if g >= MAYBE),
        qualifying=tuple(u for u, g in best.items() if g == YES),
        uncertain=tuple(u for u, g in best.items() if g == MAYBE),
    )


def _unit(spec: TherapySpec, drug: Drug) -> str:
    """What one counted therapy is: an agent (salts and forms as one, every systemic
    glucocorticoid as one), or a drug class where the protocol counts "types" of therapy."""
    for group in spec.count_as_one:
        if drug.belongs_to_any(group):
            return " or ".join(group)
    return drug.drug_class if spec.count == "classes" else drug.agent


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
    if spec.duration_strict:
        return YES if therapy.months > spec.min_months else NO
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

#: What ``possible`` becomes when the history is not complete: more than any count a rule asks for.
UNLISTED = 1_000_000


def _open_ended(tallied: TherapyTally) -> TherapyTally:
    """A tally over an incomplete history: what is listed still counts, the rest is unknown."""
    return replace(tallied, possible=UNLISTED, complete=False)


class Tallier:
    """Tallies a case's therapies for every spec of a catalog, looking only at the specs each
    listed drug can count for.

    Of a catalog's specs, a drug belongs to few (rituximab to the anti-CD20 and B-cell counts,
    not to the glucocorticoid or plasma exchange ones), so pairing every therapy with every spec
    spent most of a case's fact-building on pairs that count nothing. Which specs a drug belongs
    to is worked out once per drug and kept; the tallies are those :func:`tally` gives.
    """

    def __init__(self, specs: Iterable[TherapySpec]) -> None:
        self.specs = tuple(specs)
        self._of_drug: dict[str, tuple[int, ...]] = {}

    def tallies(self, resolved: list[tuple[Therapy, Drug | None]]) -> dict[str, TherapyTally]:
        """Every spec's tally, by spec key in spec order."""
        out = dict.fromkeys((spec.key for spec in self.specs), _NONE)
        counted: dict[int, list[tuple[Therapy, Drug | None]]] = {}
        for therapy, drug in resolved:
            if drug is not None:
                for index in self._specs_of(drug):
                    counted.setdefault(index, []).append((therapy, drug))
        for index, items in counted.items():
            spec = self.specs[index]
            out[spec.key] = tally(spec, items)
        return out

    def _specs_of(self, drug: Drug) -> tuple[int, ...]:
        found = self._of_drug.get(drug.key)
        if found is None:
            found = tuple(i for i, s in enumerate(self.specs) if drug.belongs_to_any(s.names))
            self._of_drug[drug.key] = found
        return found


def case_facts(
    case: Case, vocabulary: Vocabulary, specs: Iterable[TherapySpec] | Tallier
) -> CaseFacts:
    """Everything the rules of a catalog may read about ``case``; ``specs`` are the therapy
    counts its rules ask for (a :class:`Tallier` of them, kept across cases, is faster)."""
    values, lists = flatten(case)
    resolved, warnings = resolve_therapies(case, vocabulary)
    if case.therapies is None:
        return CaseFacts(values, lists, {}, warnings)
    tallier = specs if isinstance(specs, Tallier) else Tallier(specs)
    tallies = tallier.tallies(resolved)
    if case.therapies_complete is False:
        tallies = {key: _open_ended(tallied) for key, tallied in tallies.items()}
    return CaseFacts(values, lists, tallies, warnings)
