"""What the import collected: candidate values per case field, notes, and how one value is chosen.

Every stage (Patient, Condition, Observation, medication) adds candidates and notes to one
:class:`Evidence`; only at the end is one value chosen per field, so two results that disagree
are seen together and left unknown rather than one silently winning.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .elements import codes, texts
from .mapping import FhirMapping
from .notes import Note

if TYPE_CHECKING:
    from fhir.resources.R4B.codeableconcept import CodeableConcept
    from fhir.resources.R4B.reference import Reference

    from ..vocabulary import Vocabulary

MALIGNANCY_ORDER = {"remote": 1, "within_5y": 2, "active": 3}

Policy = Literal["agree", "latest", "worst"]


@dataclass
class Candidate:
    value: Any
    source: str
    when: dt.date | None
    policy: Policy


@dataclass
class Evidence:
    """The state one import shares between its stages."""

    mapping: FhirMapping
    vocabulary: Vocabulary
    reference: dt.date
    #: Labs and scores older than this many months before the reference date are stale.
    max_age_months: int = 12
    candidates: dict[str, list[Candidate]] = field(default_factory=lambda: defaultdict(list))
    notes: list[Note] = field(default_factory=list)
    patient_refs: set[str] = field(default_factory=set)

    def note(
        self, resource: str, reason: str, group: str | None = None, detail: str | None = None
    ) -> None:
        """Record what was left out; ``group``/``detail`` let notes of one kind be counted."""
        self.notes.append(Note(resource, reason, group, detail))

    def add(self, path: str, value: Any, source: str, when: dt.date | None, policy: Policy) -> None:
        self.candidates[path].append(Candidate(value, source, when, policy))

    def other_patient(self, subject: Reference | None, label: str) -> bool:
        """True (with a note) when ``subject`` is a patient other than the bundle's."""
        ref = subject.reference if subject is not None else None
        if not ref or ref in self.patient_refs:
            return False
        if any(ref.endswith("/" + known) for known in self.patient_refs if known[:8] == "Patient/"):
            return False
        self.note(label, "refers to another patient")
        return True

    def unmatched(self, label: str, code: CodeableConcept | None) -> None:
        """Note a resource whose code the mapping does not know, grouped by its first code."""
        found = []
        for system, value in codes(code):
            alias = self.mapping.system_alias(system)
            found.append(f"{alias.upper() if alias else system or '?'} {value}")
        written = texts(code)
        if found:
            reason = f"no mapping for {', '.join(found)}"
            detail = f"{found[0]} {written[0][:60]}" if written else found[0]
        elif written:
            reason = f"no mapping for '{written[0][:80]}'"
            detail = f"'{written[0][:60]}'"
        else:
            reason = detail = "no code"
        self.note(label, reason, "no mapping for the code", detail)

    def resolve(self) -> tuple[dict[str, Any], dict[str, str]]:
        """One value per field: agreeing values, the latest result, or none when they conflict."""
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for path, candidates in self.candidates.items():
            chosen = choose(path, candidates, self.note)
            if chosen:
                values[path] = chosen[0].value
                sources[path] = ", ".join(dict.fromkeys(cite(c) for c in chosen))
        if "subtype" in values and "disease" not in values:
            self.note(sources.pop("subtype"), "subtype left unknown: the disease is not settled")
            del values["subtype"]
        return values, sources


def choose(path: str, candidates: list[Candidate], note: Callable[..., None]) -> list[Candidate]:
    """The candidates that give the field its value; empty (with a note) when they conflict."""
    distinct = list(dict.fromkeys(repr(c.value) for c in candidates))
    if len(distinct) == 1:
        return candidates
    if all(c.policy == "worst" for c in candidates):
        worst = max(candidates, key=lambda c: MALIGNANCY_ORDER.get(str(c.value), 0))
        return [c for c in candidates if c.value == worst.value]
    if all(c.policy == "latest" and c.when is not None for c in candidates):
        latest = max(c.when for c in candidates if c.when is not None)
        top = [c for c in candidates if c.when == latest]
        if len({repr(c.value) for c in top}) == 1:
            older = [c for c in candidates if c.when != latest]
            note(
                list_sources(older),
                f"{path}: earlier result(s) superseded by {cite(top[0])}",
                "earlier results superseded by a later one",
                path,
            )
            return top
    listed = "; ".join(f"{c.value!r} from {cite(c)}" for c in candidates)
    note(list_sources(candidates), f"{path}: conflicting values ({listed}); left unknown")
    return []


def cite(candidate: Candidate) -> str:
    return (
        f"{candidate.source} ({candidate.when.isoformat()})" if candidate.when else candidate.source
    )


def list_sources(candidates: Iterable[Candidate], limit: int = 5) -> str:
    names = list(dict.fromkeys(c.source for c in candidates))
    shown = ", ".join(names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown
