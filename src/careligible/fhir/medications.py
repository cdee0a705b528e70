"""MedicationStatement and MedicationRequest -> therapies: which drug, for how long, until when.

A drug is recognised by a mapped code (RxNorm) or by its text, and only if the drug vocabulary
knows it; anything else is reported, never added. Each drug's courses are merged into one therapy
whose months are the union of its periods. Outcomes are not in FHIR and stay for the clinician.

An open record (active, no end) is current only while the record shows it alive: its latest date
(:func:`last_evidence`) must fall within the evidence window before the reference date. An order
authored decades ago and never closed is a course up to that date, not decades of treatment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .dates import (
    DAYS_PER_MONTH,
    months_before,
    months_between,
    period_days,
    precise_date,
    union_days,
)
from .elements import codes, keys, texts
from .evidence import Evidence
from .mapping import normalise_text

if TYPE_CHECKING:
    from fhir.resources.R4B.codeableconcept import CodeableConcept
    from fhir.resources.R4B.medication import Medication
    from fhir.resources.R4B.medicationrequest import MedicationRequest
    from fhir.resources.R4B.medicationstatement import MedicationStatement
    from fhir.resources.R4B.reference import Reference
    from fhir.resources.R4B.resource import Resource

    from ..vocabulary import Drug

#: Statuses that say a record is not a therapy the patient had (FHIR R4 value sets
#: medication-statement-status and medicationrequest-status).
STATEMENT_NOT_HAD = frozenset({"not-taken", "entered-in-error", "intended"})
REQUEST_NOT_HAD = frozenset({"cancelled", "entered-in-error", "draft"})

ORDER_INTENTS = frozenset(
    {"order", "original-order", "reflex-order", "filler-order", "instance-order"}
)


@dataclass
class Course:
    """One medication record, reduced to what therapy months need.

    ``open`` marks a record still active whose last evidence (``end``) is older than the
    evidence window: it ran at least until ``end``, and when it stopped is unknown.
    """

    source: str
    current: bool
    start: dt.date | None
    end: dt.date | None
    dose: str | None
    open: bool = False


def last_evidence(*values: Any) -> dt.date | None:
    """The latest day among a record's own dates (precise to a month at least), or None.

    These are dates the record states about the treatment still standing: when an order was
    authored or starts, until when its prescription is valid, when a statement was asserted.
    ``meta.lastUpdated`` is not one of them: it says when a server last touched the record,
    which a bulk export sets for every record.
    """
    days = [day for day in map(precise_date, values) if day is not None]
    return max(days, default=None)


@dataclass
class Medications:
    """The medication stage: Medication resources to resolve references, and courses per drug."""

    evidence: Evidence
    courses: dict[str, list[Course]] = field(default_factory=dict)
    index: dict[str, Medication] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def register(self, resource: Resource, url: Any) -> None:
        """Remember a Medication resource so that references to it can be resolved."""
        for key in keys(resource, url):
            self.index[key] = resource  # type: ignore[assignment]

    def is_used(self, resource: Resource, url: Any) -> bool:
        return any(key in self.used for key in keys(resource, url))

    def had_status(
        self,
        record: MedicationStatement | MedicationRequest,
        label: str,
        not_had: frozenset[str],
    ) -> str | None:
        """The record's status when it is this patient's and says the drug was had, else None
        (noted): statements and requests name the statuses that rule a therapy out differently."""
        if self.evidence.other_patient(record.subject, label):
            return None
        status = str(record.status or "unknown")
        if status in not_had:
            self.evidence.note(label, f"status is '{status}': not a therapy the patient had")
            return None
        return status

    def statement(self, resource: Resource, label: str) -> None:
        statement: MedicationStatement = resource  # type: ignore[assignment]
        status = self.had_status(statement, label, STATEMENT_NOT_HAD)
        if status is None:
            return
        drug = self.drug(
            statement.medicationCodeableConcept, statement.medicationReference, resource, label
        )
        if drug is None:
            return
        start, end = period_days(statement.effectivePeriod)
        dose = next((d.text for d in statement.dosage or [] if d.text), None)
        for reason in statement.statusReason or []:
            self.stopped_because(label, reason)
        # An active statement says the patient takes the drug as of when it was asserted; its
        # start says nothing of now. Without dateAsserted it cannot be aged.
        self.course(drug, label, status, start, end, dose, last_evidence(statement.dateAsserted))

    def request(self, resource: Resource, label: str) -> None:
        request: MedicationRequest = resource  # type: ignore[assignment]
        note = self.evidence.note
        status = self.had_status(request, label, REQUEST_NOT_HAD)
        if status is None:
            return
        if request.intent not in ORDER_INTENTS:
            note(label, f"intent is '{request.intent}': not an order")
            return
        if request.doNotPerform:
            note(label, "doNotPerform: an instruction not to give the drug")
            return
        drug = self.drug(
            request.medicationCodeableConcept, request.medicationReference, resource, label
        )
        if drug is None:
            return
        start: dt.date | None = None
        end: dt.date | None = None
        dose = None
        for dosage in request.dosageInstruction or []:
            dose = dose or dosage.text
            repeat = dosage.timing.repeat if dosage.timing else None
            if repeat is not None and repeat.boundsPeriod is not None and start is None:
                start, end = period_days(repeat.boundsPeriod)
        if start is None:
            start = precise_date(request.authoredOn)
        if request.statusReason is not None:
            self.stopped_because(label, request.statusReason)
        validity = request.dispenseRequest.validityPeriod if request.dispenseRequest else None
        seen = last_evidence(
            request.authoredOn, start, *(validity.start, validity.end) if validity else ()
        )
        self.course(drug, label, status, start, end, dose, seen)

    def stopped_because(self, label: str, reason: CodeableConcept) -> None:
        text = next(iter(texts(reason)), None) or next((c for _, c in codes(reason)), "")
        self.evidence.note(
            label,
            f"status reason '{text}': set the therapy's outcome "
            "(intolerance or inadequate response) by hand",
        )

    def drug(
        self,
        concept: CodeableConcept | None,
        reference: Reference | None,
        resource: Resource,
        label: str,
    ) -> Drug | None:
        evidence = self.evidence
        if concept is None and reference is not None:
            medication = self.medication(reference.reference, resource)
            if medication is None:
                evidence.note(label, f"medication '{reference.reference}' is not in the bundle")
                return None
            concept = medication.code
        written = texts(concept)
        for system, code in codes(concept):
            alias = evidence.mapping.system_alias(system)
            name = evidence.mapping.drug_for_code(alias, code) if alias else None
            found = evidence.vocabulary.lookup(name) if name else None
            if found is not None:
                return self.systemic(found, written, label)
        for text in written:
            found = self.drug_by_text(text)
            if found is not None:
                return self.systemic(found, written, label)
        if written:
            evidence.note(
                label,
                f"medication '{written[0][:80]}' is not in the drug vocabulary; "
                "not added (enter it by hand if it matters)",
                "medication not in the drug vocabulary, not added (enter it by hand if it matters)",
                f"'{written[0][:60]}'",
            )
        else:
            listed = ", ".join(f"{s or '?'}|{c}" for s, c in codes(concept)) or "none"
            evidence.note(label, f"medication has no text and no mapped code (codes: {listed})")
        return None

    def systemic(self, drug: Drug, names: list[str], label: str) -> Drug | None:
        """``drug``, unless the product's name gives a local dose form (the mapping's
        ``local_forms``): ciclosporin eye drops or inhaled budesonide are not the systemic
        therapy a trial counts, so they are reported and not added."""
        mapping = self.evidence.mapping
        form = next(
            (f for name in names if (f := mapping.local_form(name, drug.key)) is not None), None
        )
        if form is None:
            return drug
        self.evidence.note(
            label,
            f"'{names[0][:80]}' is a local ({form}) form of {drug.key.replace('_', ' ')}, "
            "not systemic therapy; not added",
            "local (topical, inhaled, eye...) forms, not systemic therapy; not added",
            f"{drug.key.replace('_', ' ')} ({form})",
        )
        return None

    def drug_by_text(self, text: str) -> Drug | None:
        """The longest run of words the vocabulary knows, wherever it stands in the name.

        RxNorm clinical-drug names put a quantity first ('10 ML rituximab 10 MG/ML Injection',
        '24 HR tacrolimus 1 MG Extended Release Oral Tablet') and branded ones end with the brand
        in brackets, so the drug is looked for at every position; the vocabulary itself resolves
        brand names and biosimilar suffixes.
        """
        words = normalise_text(text).split()[:24]
        lookup = self.evidence.vocabulary.lookup
        for length in range(min(len(words), 6), 0, -1):
            for start in range(len(words) - length + 1):
                found = lookup(" ".join(words[start : start + length]))
                if found is not None:
                    return found
        return None

    def medication(self, ref: str | None, owner: Resource) -> Medication | None:
        if not ref:
            return None
        if ref.startswith("#"):
            for contained in getattr(owner, "contained", None) or []:
                if contained.get_resource_type() == "Medication" and contained.id == ref[1:]:
                    return contained  # type: ignore[no-any-return]
            return None
        found = self.index.get(ref) or next(
            (m for key, m in self.index.items() if ref.endswith("/" + key)), None
        )
        if found is not None:
            self.used.add(ref)
            self.used.update(k for k, m in self.index.items() if m is found)
        return found

    def course(
        self,
        drug: Drug,
        label: str,
        status: str,
        start: dt.date | None,
        end: dt.date | None,
        dose: str | None,
        seen: dt.date | None = None,
    ) -> None:
        """Record one course; ``seen`` is the record's last evidence (:func:`last_evidence`)."""
        reference = self.evidence.reference
        if start is not None and start > reference:
            self.evidence.note(label, "starts after the reference date; not counted")
            return
        is_open = False
        if end is not None and end > reference:
            end = None  # a planned end: the course is running or its real end is unknown
            current = status == "active"
        else:
            current = status == "active" and end is None
            if current and self.stale(seen):
                assert seen is not None
                current, end, is_open = False, seen, True
                self.stale_note(drug, label, seen)
        self.courses.setdefault(drug.key, []).append(
            Course(label, current, start, end, dose[:200] if dose else None, is_open)
        )

    def stale(self, seen: dt.date | None) -> bool:
        """True when an open record's last evidence is older than the evidence window. A record
        with no date at all cannot be aged, and stays as current as it says."""
        evidence = self.evidence
        return seen is not None and seen < months_before(
            evidence.reference, evidence.max_age_months
        )

    def stale_note(self, drug: Drug, label: str, seen: dt.date) -> None:
        window = self.evidence.max_age_months
        self.evidence.note(
            label,
            f"{drug.key.replace('_', ' ')}: active, but its latest date is {seen.isoformat()}, "
            f"more than {window} months before the reference date; counted as a course up to "
            "then, not as current (when it stopped is unknown)",
            f"open orders with no date in the last {window} months, counted up to their last "
            "date, not as current",
            drug.key.replace("_", " "),
        )

    def therapies(self) -> list[dict[str, Any]]:
        """One therapy per drug, its courses merged: months over the union of their periods."""
        return [self.therapy(key, courses) for key, courses in self.courses.items()]

    def therapy(self, key: str, courses: list[Course]) -> dict[str, Any]:
        reference = self.evidence.reference
        item: dict[str, Any] = {"drug": key.replace("_", " ")}
        spans: list[tuple[dt.date, dt.date]] = []
        months_known = True
        stops: list[float] = []
        stop_unknown = False
        for course in courses:
            stop = reference if course.current else course.end
            if stop is None or course.open:  # an open course stopped after its last evidence
                stop_unknown = True
            else:
                stops.append(months_between(stop, reference))
            # an open course with one date (an order authored, never closed) has no duration
            single = course.open and stop == course.start
            if course.start is None or stop is None or stop < course.start or single:
                months_known = False
            else:
                spans.append((course.start, stop))
        if months_known and spans:
            item["months"] = round(union_days(spans) / DAYS_PER_MONTH, 1)
        if any(c.current for c in courses):
            item["stopped_months_ago"] = 0
        elif stops and not stop_unknown:
            item["stopped_months_ago"] = min(stops)
        newest_first = sorted(
            courses, key=lambda c: (c.current, c.start or dt.date.min), reverse=True
        )
        dose = next((c.dose for c in newest_first if c.dose), None)
        if dose:
            item["dose"] = dose
        return item

    def sources(self) -> dict[str, str]:
        """Where each therapy came from, by its row in the case's therapy list."""
        return {
            f"therapies[{index}]": ", ".join(dict.fromkeys(c.source for c in courses))
            for index, courses in enumerate(self.courses.values())
        }
