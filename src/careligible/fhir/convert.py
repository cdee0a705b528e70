"""One FHIR R4 Bundle -> one case, with a note for everything that could not be mapped.

The Bundle is validated by ``fhir.resources`` (its R4B models, wire-compatible with R4 for the
resources read here) before anything is read, so a malformed bundle is an error naming the entry
and field, never a half-read case. After that the import never fails on content: a resource it
cannot map, a unit it cannot convert, two results that disagree, each becomes a :class:`Note`
and the case field stays unknown. Nothing is guessed: absence in the bundle is absence in the
case (no Condition for HIV is not "HIV negative"), and therapy outcomes, which FHIR does not
record, are left for the clinician.

This module knows nothing of files: it takes the decoded JSON and returns case data.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from ..case import Case
from ..errors import InputError, Problem, describe_validation_error, dotted
from ..fields import put_path
from ..vocabulary import Drug, Vocabulary
from .mapping import (
    SINCE_ABATEMENT,
    ConditionRule,
    FhirMapping,
    ObservationRule,
    load_mapping,
    normalise_code,
    normalise_text,
    normalise_unit,
)

if TYPE_CHECKING:
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.codeableconcept import CodeableConcept
    from fhir.resources.R4B.condition import Condition
    from fhir.resources.R4B.medication import Medication
    from fhir.resources.R4B.medicationrequest import MedicationRequest
    from fhir.resources.R4B.medicationstatement import MedicationStatement
    from fhir.resources.R4B.observation import Observation
    from fhir.resources.R4B.patient import Patient
    from fhir.resources.R4B.period import Period
    from fhir.resources.R4B.quantity import Quantity
    from fhir.resources.R4B.reference import Reference
    from fhir.resources.R4B.resource import Resource

DAYS_PER_MONTH = 365.25 / 12
MAX_PROBLEMS = 20
UCUM = "http://unitsofmeasure.org"

ACTIVE = frozenset({"active", "recurrence", "relapse"})
INACTIVE = frozenset({"inactive", "remission", "resolved"})
FINAL = frozenset({"final", "amended", "corrected"})
ORDER_INTENTS = frozenset(
    {"order", "original-order", "reflex-order", "filler-order", "instance-order"}
)
MALIGNANCY_ORDER = {"remote": 1, "within_5y": 2, "active": 3}

Policy = Literal["agree", "latest", "worst"]


class BundleError(InputError):
    """The input is not a valid FHIR R4 Bundle of one patient; ``problems`` say where."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Note:
    """A resource, or part of one, that did not make it into the case, and why."""

    resource: str
    reason: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.reason}"


@dataclass(frozen=True)
class ImportedCase:
    """A valid case mapping, the date it was computed at, and what was left out."""

    data: dict[str, Any]
    reference_date: dt.date
    notes: tuple[Note, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def case_id(self) -> str:
        return str(self.data["id"])

    def warnings(self) -> list[str]:
        """What a screening result should carry so the import is never mistaken for a full case."""
        head = (
            "imported from a FHIR Bundle; ages and therapy months as of "
            f"{self.reference_date.isoformat()}"
        )
        if self.data.get("therapies"):
            head += "; therapy outcomes are not in FHIR and stay unknown"
        return [head, *(f"not mapped: {note}" for note in self.notes)]


def import_bundle(
    data: Any,
    *,
    reference_date: dt.date | None = None,
    mapping: FhirMapping | None = None,
    vocabulary: Vocabulary | None = None,
    fallback_id: str = "fhir-import",
) -> ImportedCase:
    """Map a decoded FHIR Bundle to a case, as of ``reference_date`` (default: today).

    Raises :class:`BundleError` when ``data`` is not a valid Bundle holding exactly one Patient.
    The case id is the Patient's id (a pseudonymous logical id), else the Bundle's, else
    ``fallback_id``.
    """
    bundle = validate_bundle(data)
    importer = _Importer(
        mapping or load_mapping(),
        vocabulary or default_vocabulary(),
        reference_date or dt.date.today(),
    )
    return importer.run(bundle, fallback_id)


@functools.lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    from ..catalog import default_rules_dir
    from ..errors import RulesError
    from ..vocabulary import load_vocabulary

    vocabulary, problems = load_vocabulary(default_rules_dir() / "vocabulary" / "drugs.yaml")
    if problems:
        raise RulesError(problems)
    return vocabulary


# --- validation ---------------------------------------------------------------------------------


def validate_bundle(data: Any) -> Bundle:
    """The Bundle as ``fhir.resources`` models, or :class:`BundleError` naming entry and field."""
    if not isinstance(data, dict):
        raise BundleError([Problem("a FHIR Bundle must be a JSON object")])
    kind = data.get("resourceType")
    if kind != "Bundle":
        found = f"resourceType is {kind!r}" if kind is not None else "no resourceType"
        raise BundleError([Problem(f"not a FHIR Bundle ({found})", "resourceType")])
    problems = list(_entry_shape_problems(data.get("entry")))
    if problems:
        raise BundleError(problems)
    from fhir.resources.R4B.bundle import Bundle

    try:
        return Bundle.model_validate(data)
    except ValidationError as exc:
        raise BundleError(_validation_problems(exc, data)) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # fhir.resources raises these for shapes its validators do not anticipate.
        message = f"not a valid FHIR R4 Bundle ({type(exc).__name__})"
        raise BundleError([Problem(message)]) from None


def _entry_shape_problems(entries: Any) -> Iterator[Problem]:
    """Entries the FHIR library would reject with a crash rather than a message."""
    if entries is None:
        return
    if not isinstance(entries, list):
        yield Problem("must be a list of entries", "entry")
        return
    for index, entry in enumerate(entries):
        where = f"entry[{index}]"
        if not isinstance(entry, dict):
            yield Problem("must be an object", where)
            continue
        resource = entry.get("resource")
        if resource is None:
            continue
        if not isinstance(resource, dict):
            yield Problem("must be an object", f"{where}.resource")
            continue
        kind = resource.get("resourceType")
        if not isinstance(kind, str) or not kind:
            yield Problem("is required", f"{where}.resource.resourceType")
        elif not _is_resource_type(kind):
            yield Problem(
                f"'{kind[:40]}' is not a FHIR R4 resource type", f"{where}.resource.resourceType"
            )


@functools.lru_cache(maxsize=256)
def _is_resource_type(name: str) -> bool:
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.resource import Resource

    try:
        model = get_fhir_model_class(name)
    except ValueError:
        return False
    return isinstance(model, type) and issubclass(model, Resource)


def _validation_problems(exc: ValidationError, data: dict[str, Any]) -> list[Problem]:
    errors = exc.errors(include_url=False)
    problems = []
    for err in errors[:MAX_PROBLEMS]:
        # 'root' is where pydantic validates a wrapped value, not a FHIR element
        loc = tuple(p for p in err["loc"] if isinstance(p, int | str) and p != "root")
        label = _entry_label(data, loc)
        message = _wording(err)
        problems.append(Problem(f"{label}: {message}" if label else message, dotted(loc)))
    if len(errors) > MAX_PROBLEMS:
        problems.append(Problem(f"and {len(errors) - MAX_PROBLEMS} more problem(s)"))
    return problems


def _entry_label(data: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    """``Observation/obs-1`` for a location inside an entry's resource."""
    if len(loc) < 3 or loc[0] != "entry" or not isinstance(loc[1], int) or loc[2] != "resource":
        return ""
    try:
        resource = data["entry"][loc[1]]["resource"]
    except (KeyError, IndexError, TypeError):
        return ""
    kind = str(resource.get("resourceType", "resource"))
    rid = resource.get("id")
    return f"{kind}/{rid}" if isinstance(rid, str) and rid else kind


def _wording(err: Any) -> str:
    """The library's message in the project's words; never the offending resource itself."""
    kind = str(err["type"])
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing" or kind.endswith(".missing"):
        return "is required"
    if kind == "json_invalid":  # a string where the element needs an object
        return "must be an object"
    message = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


# --- reading values -------------------------------------------------------------------------------


def date_bounds(value: Any) -> tuple[dt.date, dt.date] | None:
    """The earliest and latest day a FHIR date, dateTime or partial date ('2020', '2020-05') means."""
    if isinstance(value, dt.datetime):
        return value.date(), value.date()
    if isinstance(value, dt.date):
        return value, value
    if not isinstance(value, str):
        return None
    try:
        if len(value) == 4:
            year = int(value)
            return dt.date(year, 1, 1), dt.date(year, 12, 31)
        if len(value) == 7:
            first = dt.date(int(value[:4]), int(value[5:7]), 1)
            following = (first + dt.timedelta(days=32)).replace(day=1)
            return first, following - dt.timedelta(days=1)
        day = dt.date.fromisoformat(value[:10])
    except ValueError:
        return None
    return day, day


def precise_date(value: Any) -> dt.date | None:
    """A day for durations: the middle of a month-precise date; None when coarser or absent."""
    bounds = date_bounds(value)
    if bounds is None or (bounds[1] - bounds[0]).days > 31:
        return None
    return bounds[0] + (bounds[1] - bounds[0]) / 2


def months_between(start: dt.date, end: dt.date) -> float:
    return round(max((end - start).days, 0) / DAYS_PER_MONTH, 1)


def age_at(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _codes(concept: CodeableConcept | None) -> list[tuple[str | None, str]]:
    if concept is None:
        return []
    return [(c.system, c.code) for c in concept.coding or [] if c.code]


def _texts(concept: CodeableConcept | None) -> list[str]:
    if concept is None:
        return []
    texts = [concept.text] + [c.display for c in concept.coding or []]
    return [t for t in texts if t]


def _status_code(concept: CodeableConcept | None) -> str | None:
    codes = _codes(concept)
    return codes[0][1] if codes else None


def _unit(quantity: Quantity) -> str:
    """The unit to convert from: the UCUM code when there is one, else the human-readable unit."""
    if quantity.code and (quantity.system in (None, UCUM)):
        return str(quantity.code)
    return str(quantity.unit or quantity.code or "")


def _number(value: Decimal | int | float) -> float:
    return float(value)


class _Refused(Exception):
    """A value that cannot be mapped; the message says why."""


@dataclass
class _Candidate:
    value: Any
    source: str
    when: dt.date | None
    policy: Policy


@dataclass
class _Course:
    """One medication record, reduced to what therapy months need."""

    source: str
    current: bool
    start: dt.date | None
    end: dt.date | None
    dose: str | None


# --- the import -----------------------------------------------------------------------------------


class _Importer:
    def __init__(self, mapping: FhirMapping, vocabulary: Vocabulary, reference: dt.date) -> None:
        self.mapping = mapping
        self.vocabulary = vocabulary
        self.reference = reference
        self.candidates: dict[str, list[_Candidate]] = defaultdict(list)
        self.notes: list[Note] = []
        self.courses: dict[str, list[_Course]] = {}
        self.patient_refs: set[str] = set()
        self.medications: dict[str, Medication] = {}
        self.used_medications: set[str] = set()

    def note(self, resource: str, reason: str) -> None:
        self.notes.append(Note(resource, reason))

    def add(self, path: str, value: Any, source: str, when: dt.date | None, policy: Policy) -> None:
        self.candidates[path].append(_Candidate(value, source, when, policy))

    # --- driver -------------------------------------------------------------------------------

    def run(self, bundle: Bundle, fallback_id: str) -> ImportedCase:
        entries = [
            (index, entry.fullUrl, entry.resource)
            for index, entry in enumerate(bundle.entry or [])
            if entry.resource is not None
        ]
        for index, entry in enumerate(bundle.entry or []):
            if entry.resource is None:
                self.note(f"entry {index}", "holds no resource")
        patients = [(i, url, r) for i, url, r in entries if r.get_resource_type() == "Patient"]
        if not patients:
            raise BundleError([Problem("the bundle holds no Patient resource", "entry")])
        if len(patients) > 1:
            where = ", ".join(f"entry[{i}]" for i, _, _ in patients)
            raise BundleError(
                [
                    Problem(
                        f"the bundle holds {len(patients)} Patient resources ({where}); "
                        "import one patient per bundle",
                        "entry",
                    )
                ]
            )
        _, patient_url, patient = patients[0]
        if patient.id:
            self.patient_refs.add(f"Patient/{patient.id}")
        if patient_url:
            self.patient_refs.add(str(patient_url))
        for _, url, resource in entries:
            if resource.get_resource_type() == "Medication":
                for key in _keys(resource, url):
                    self.medications[key] = resource  # type: ignore[assignment]
        handlers = {
            "Patient": self.patient,
            "Condition": self.condition,
            "Observation": self.observation,
            "MedicationStatement": self.medication_statement,
            "MedicationRequest": self.medication_request,
        }
        deferred = []
        for index, url, resource in entries:
            kind = resource.get_resource_type()
            label = _label(resource, index)
            handler = handlers.get(kind)
            if handler is not None:
                handler(resource, label)
            elif kind == "Medication":
                deferred.append((url, resource, label))
            else:
                self.note(label, f"{kind} is not used by the case format")
        for url, resource, label in deferred:
            if not any(key in self.used_medications for key in _keys(resource, url)):
                self.note(label, "no MedicationStatement or MedicationRequest refers to it")
        case_id = patient.id or bundle.id or fallback_id
        return self.finish(str(case_id))

    def finish(self, case_id: str) -> ImportedCase:
        values, sources = self.resolve()
        data: dict[str, Any] = {"id": case_id}
        for path, value in values.items():
            put_path(data, path, value)
        therapies = self.therapies()
        if therapies:
            data["therapies"] = therapies
            for index, courses in enumerate(self.courses.values()):
                sources[f"therapies[{index}]"] = ", ".join(dict.fromkeys(c.source for c in courses))
        case = self.validated(data, sources)
        return ImportedCase(
            _tidy(case.model_dump(mode="json", by_alias=True, exclude_none=True)),
            self.reference,
            tuple(self.notes),
            sources,
        )

    def validated(self, data: dict[str, Any], sources: dict[str, str]) -> Case:
        """The case; a value the case format refuses is removed, with a note, not fatal."""
        for _ in range(100):
            try:
                return Case.model_validate(data)
            except ValidationError as exc:
                problems = describe_validation_error(exc, Case)
            removed = False
            for problem in problems:
                if not problem.loc or problem.loc == ("id",):
                    continue
                source = _source_of(sources, problem.loc)
                self.note(source, f"{problem.field} {problem.message}; left unknown")
                removed = _remove(data, problem.loc) or removed
            if not removed:
                break
        raise BundleError([Problem("the imported case is not valid", "id")])

    # --- Patient ------------------------------------------------------------------------------

    def patient(self, resource: Resource, label: str) -> None:
        patient: Patient = resource  # type: ignore[assignment]
        if patient.gender:
            sex = self.mapping.raw.patient.gender.get(str(patient.gender))
            if sex is None:
                self.note(label, f"gender '{patient.gender}' has no equivalent in the case format")
            else:
                self.add("sex", sex, label, None, "agree")
        bounds = date_bounds(patient.birthDate)
        if patient.birthDate is not None and bounds is None:
            self.note(label, "birthDate cannot be read")
        elif bounds is not None:
            if bounds[0] > self.reference:
                self.note(label, "birthDate is after the reference date; age left unknown")
            else:
                ages = sorted(
                    {age_at(bounds[0], self.reference), age_at(bounds[1], self.reference)}
                )
                if len(ages) == 1:
                    self.add("age", ages[0], label, None, "agree")
                else:
                    self.note(
                        label,
                        f"birthDate '{patient.birthDate}' gives an age of {ages[0]} or {ages[-1]} "
                        "at the reference date; enter the age by hand",
                    )
        if patient.deceasedBoolean or patient.deceasedDateTime:
            self.note(label, "the patient is recorded as deceased")

    # --- Condition ----------------------------------------------------------------------------

    def condition(self, resource: Resource, label: str) -> None:
        condition: Condition = resource  # type: ignore[assignment]
        if self.other_patient(condition.subject, label):
            return
        verification = _status_code(condition.verificationStatus)
        if verification in ("refuted", "entered-in-error"):
            self.note(label, f"verification status is '{verification}'")
            return
        if verification in ("unconfirmed", "provisional", "differential"):
            self.note(label, f"diagnosis is {verification}, not confirmed")
            return
        rules = self.condition_rules(condition.code)
        if not rules:
            self.note(label, self.unmatched(condition.code))
            return
        status = _status_code(condition.clinicalStatus)
        state = "active" if status in ACTIVE else "inactive" if status in INACTIVE else None
        for rule in rules:
            if rule.review:
                self.note(label, rule.review)
                continue
            values = dict(rule.fields)
            by_status = {"active": rule.if_active, "inactive": rule.if_inactive}
            extra = by_status[state] if state else {}
            skipped = [p for p in {**rule.if_active, **rule.if_inactive} if p not in values]
            skipped = [p for p in skipped if p not in extra]
            if skipped:
                why = f"clinical status '{status}'" if status else "no clinical status"
                self.note(label, f"{rule.name} with {why}: {', '.join(skipped)} left unknown")
            values.update(extra)
            for path, value in values.items():
                if value == SINCE_ABATEMENT:
                    value = self.since_abatement(condition, label, rule.name)
                    if value is None:
                        continue
                policy: Policy = "worst" if path == "history.malignancy" else "agree"
                self.add(path, value, label, None, policy)

    def condition_rules(self, code: CodeableConcept | None) -> list[ConditionRule]:
        """Per coding the most specific entry, and every entry whose text the condition carries."""
        found: list[ConditionRule] = []
        for system, value in _codes(code):
            alias = self.mapping.system_alias(system)
            if alias is None:
                continue
            normal = normalise_code(alias, value)
            best: tuple[int, ConditionRule] | None = None
            for rule, matches in self.mapping.condition_codes:
                score = max((m.matches(alias, normal) for m in matches), default=0)
                if score and (best is None or score > best[0]):
                    best = (score, rule)
            if best is not None and best[1] not in found:
                found.append(best[1])
        texts = {normalise_text(t) for t in _texts(code)}
        for rule in self.mapping.raw.conditions:
            if rule not in found and texts & {normalise_text(t) for t in rule.text}:
                found.append(rule)
        return found

    def since_abatement(self, condition: Condition, label: str, name: str) -> str | None:
        when = precise_date(condition.abatementDateTime)
        if when is None and condition.abatementPeriod is not None:
            when = precise_date(condition.abatementPeriod.end)
        if when is None:
            self.note(
                label,
                f"{name} is not active but has no abatement date: "
                "set history.malignancy (within_5y or remote) by hand",
            )
            return None
        years = (self.reference - when).days / 365.25
        return "within_5y" if years <= 5 else "remote"

    # --- Observation --------------------------------------------------------------------------

    def observation(self, resource: Resource, label: str) -> None:
        observation: Observation = resource  # type: ignore[assignment]
        if self.other_patient(observation.subject, label):
            return
        rules = self.observation_rules(observation.code)
        if not rules:
            self.note(label, self.unmatched(observation.code))
            return
        if observation.status not in FINAL:
            self.note(label, f"status is '{observation.status}'; only final results are used")
            return
        when = _observation_date(observation)
        for rule in rules:
            try:
                value = self.read(rule, observation)
            except _Refused as refused:
                self.note(label, f"{rule.name}: {refused}")
                continue
            self.add(rule.field, value, label, when, "latest")

    def observation_rules(self, code: CodeableConcept | None) -> list[ObservationRule]:
        found: list[ObservationRule] = []
        for system, value in _codes(code):
            alias = self.mapping.system_alias(system)
            if alias is None:
                continue
            normal = normalise_code(alias, value)
            for rule, matches in self.mapping.observation_codes:
                if rule not in found and any(m.matches(alias, normal) for m in matches):
                    found.append(rule)
        texts = {normalise_text(t) for t in _texts(code)}
        for rule in self.mapping.raw.observations:
            if rule not in found and texts & {normalise_text(t) for t in rule.text}:
                found.append(rule)
        return found

    def read(self, rule: ObservationRule, observation: Observation) -> Any:
        if rule.kind == "coded":
            return self.coded(rule, observation)
        if rule.kind == "below_range":
            return self.below_range(rule, observation)
        value, unit = _quantity(observation)
        if rule.kind == "ratio_to_uln":
            return round(value / _upper_limit(observation, unit), 2)
        factor = rule.factor(unit)
        if factor is None:
            accepted = ", ".join(repr(u) for u in rule.units)
            shown = f"'{unit}'" if unit else "no unit"
            raise _Refused(f"{shown} is not a unit converted for {rule.field} ({accepted})")
        return round(value * factor, 3)

    def answer(self, rule: ObservationRule, observation: Observation, codes_too: bool) -> Any:
        """The answer set's value the result states, or :class:`_Refused`."""
        assert rule.answers is not None
        interpretations = {
            code for concept in observation.interpretation or [] for _, code in _codes(concept)
        }
        given_codes = _codes(observation.valueCodeableConcept) if codes_too else []
        given_text = set()
        if codes_too:
            texts = [observation.valueString, *_texts(observation.valueCodeableConcept)]
            given_text = {normalise_text(t) for t in texts if t}
        found = []
        for answer in self.mapping.answers(rule.answers):
            by_code = any(
                (alias := self.mapping.system_alias(system)) is not None
                and code in answer.codes.get(alias, [])
                for system, code in given_codes
            )
            by_text = bool(given_text & {normalise_text(t) for t in answer.text})
            by_interpretation = bool(interpretations & set(answer.interpretation))
            if (by_code or by_text or by_interpretation) and answer.value not in found:
                found.append(answer.value)
        if len(found) > 1:
            raise _Refused("the result and its interpretation disagree")
        if not found:
            raise _Refused("the result is not one the mapping can read")
        return found[0]

    def coded(self, rule: ObservationRule, observation: Observation) -> Any:
        try:
            return self.answer(rule, observation, codes_too=True)
        except _Refused:
            if observation.valueQuantity is not None and not observation.interpretation:
                raise _Refused(
                    "a number without an interpretation is not read as positive or negative"
                ) from None
            raise

    def below_range(self, rule: ObservationRule, observation: Observation) -> bool:
        if observation.interpretation:
            return bool(self.answer(rule, observation, codes_too=False))
        value, unit = _quantity(observation)
        for bound in observation.referenceRange or []:
            low = bound.low
            if low is None or low.value is None:
                continue
            low_unit = _unit(low)
            if low_unit and normalise_unit(low_unit) != normalise_unit(unit):
                raise _Refused(f"the reference range is in '{low_unit}', the value in '{unit}'")
            return value < _number(low.value)
        raise _Refused("no interpretation and no lower reference limit to compare with")

    # --- medications --------------------------------------------------------------------------

    def medication_statement(self, resource: Resource, label: str) -> None:
        statement: MedicationStatement = resource  # type: ignore[assignment]
        if self.other_patient(statement.subject, label):
            return
        status = str(statement.status or "unknown")
        if status in ("not-taken", "entered-in-error", "intended"):
            self.note(label, f"status is '{status}': not a therapy the patient had")
            return
        drug = self.drug(
            statement.medicationCodeableConcept, statement.medicationReference, resource, label
        )
        if drug is None:
            return
        start, end = _period(statement.effectivePeriod)
        dose = next((d.text for d in statement.dosage or [] if d.text), None)
        for reason in statement.statusReason or []:
            self.stopped_because(label, reason)
        self.course(drug, label, status, start, end, dose)

    def medication_request(self, resource: Resource, label: str) -> None:
        request: MedicationRequest = resource  # type: ignore[assignment]
        if self.other_patient(request.subject, label):
            return
        status = str(request.status or "unknown")
        if status in ("cancelled", "entered-in-error", "draft"):
            self.note(label, f"status is '{status}': not a therapy the patient had")
            return
        if request.intent not in ORDER_INTENTS:
            self.note(label, f"intent is '{request.intent}': not an order")
            return
        if request.doNotPerform:
            self.note(label, "doNotPerform: an instruction not to give the drug")
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
                start, end = _period(repeat.boundsPeriod)
        if start is None:
            start = precise_date(request.authoredOn)
        if request.statusReason is not None:
            self.stopped_because(label, request.statusReason)
        self.course(drug, label, status, start, end, dose)

    def stopped_because(self, label: str, reason: CodeableConcept) -> None:
        text = next(iter(_texts(reason)), None) or next((c for _, c in _codes(reason)), "")
        self.note(
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
        if concept is None and reference is not None:
            medication = self.medication(reference.reference, resource)
            if medication is None:
                self.note(label, f"medication '{reference.reference}' is not in the bundle")
                return None
            concept = medication.code
        for system, code in _codes(concept):
            alias = self.mapping.system_alias(system)
            name = self.mapping.drug_for_code(alias, code) if alias else None
            found = self.vocabulary.lookup(name) if name else None
            if found is not None:
                return found
        texts = _texts(concept)
        for text in texts:
            found = self.drug_by_text(text)
            if found is not None:
                return found
        if texts:
            self.note(
                label,
                f"medication '{texts[0][:80]}' is not in the drug vocabulary; "
                "not added (enter it by hand if it matters)",
            )
        else:
            codes = ", ".join(f"{s or '?'}|{c}" for s, c in _codes(concept)) or "none"
            self.note(label, f"medication has no text and no mapped code (codes: {codes})")
        return None

    def drug_by_text(self, text: str) -> Drug | None:
        """The longest run of leading words the vocabulary knows: 'Prednisone 5 MG' -> prednisone."""
        words = normalise_text(text).split()[:12]
        for end in range(len(words), 0, -1):
            found = self.vocabulary.lookup(" ".join(words[:end]))
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
        found = self.medications.get(ref) or next(
            (m for key, m in self.medications.items() if ref.endswith("/" + key)), None
        )
        if found is not None:
            self.used_medications.add(ref)
            self.used_medications.update(k for k, m in self.medications.items() if m is found)
        return found

    def course(
        self,
        drug: Drug,
        label: str,
        status: str,
        start: dt.date | None,
        end: dt.date | None,
        dose: str | None,
    ) -> None:
        if start is not None and start > self.reference:
            self.note(label, "starts after the reference date; not counted")
            return
        if end is not None and end > self.reference:
            end = None  # a planned end: the course is running or its real end is unknown
            current = status == "active"
        else:
            current = status == "active" and end is None
        self.courses.setdefault(drug.key, []).append(
            _Course(label, current, start, end, dose[:200] if dose else None)
        )

    def therapies(self) -> list[dict[str, Any]]:
        """One therapy per drug, its courses merged: months over the union of their periods."""
        out = []
        for key, courses in self.courses.items():
            item: dict[str, Any] = {"drug": key.replace("_", " ")}
            spans: list[tuple[dt.date, dt.date]] = []
            months_known = True
            stops: list[float] = []
            stop_unknown = False
            for course in courses:
                stop = self.reference if course.current else course.end
                if stop is None:
                    stop_unknown = True
                else:
                    stops.append(months_between(stop, self.reference))
                if course.start is None or stop is None or stop < course.start:
                    months_known = False
                else:
                    spans.append((course.start, stop))
            if months_known and spans:
                item["months"] = round(_union_days(spans) / DAYS_PER_MONTH, 1)
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
            out.append(item)
        return out

    # --- shared ---------------------------------------------------------------------------------

    def other_patient(self, subject: Reference | None, label: str) -> bool:
        ref = subject.reference if subject is not None else None
        if not ref or ref in self.patient_refs:
            return False
        if any(ref.endswith("/" + known) for known in self.patient_refs if known[:8] == "Patient/"):
            return False
        self.note(label, "refers to another patient")
        return True

    def unmatched(self, code: CodeableConcept | None) -> str:
        codes = []
        for system, value in _codes(code):
            alias = self.mapping.system_alias(system)
            codes.append(f"{alias.upper() if alias else system or '?'} {value}")
        if codes:
            return f"no mapping for {', '.join(codes)}"
        texts = _texts(code)
        return f"no mapping for '{texts[0][:80]}'" if texts else "no code"

    def resolve(self) -> tuple[dict[str, Any], dict[str, str]]:
        """One value per field: agreeing values, the latest result, or none when they conflict."""
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for path, candidates in self.candidates.items():
            chosen = _choose(path, candidates, self.note)
            if chosen:
                values[path] = chosen[0].value
                sources[path] = ", ".join(dict.fromkeys(_cite(c) for c in chosen))
        if "subtype" in values and "disease" not in values:
            self.note(sources.pop("subtype"), "subtype left unknown: the disease is not settled")
            del values["subtype"]
        return values, sources


def _choose(
    path: str, candidates: list[_Candidate], note: Callable[[str, str], None]
) -> list[_Candidate]:
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
                _list_sources(older),
                f"{path}: earlier result(s) superseded by {_cite(top[0])}",
            )
            return top
    listed = "; ".join(f"{c.value!r} from {_cite(c)}" for c in candidates)
    note(_list_sources(candidates), f"{path}: conflicting values ({listed}); left unknown")
    return []


def _cite(candidate: _Candidate) -> str:
    return (
        f"{candidate.source} ({candidate.when.isoformat()})" if candidate.when else candidate.source
    )


def _list_sources(candidates: Iterable[_Candidate], limit: int = 5) -> str:
    names = list(dict.fromkeys(c.source for c in candidates))
    shown = ", ".join(names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown


def _label(resource: Resource, index: int) -> str:
    kind = resource.get_resource_type()
    return f"{kind}/{resource.id}" if resource.id else f"{kind} (entry {index})"


def _keys(resource: Resource, url: Any) -> list[str]:
    keys = [f"{resource.get_resource_type()}/{resource.id}"] if resource.id else []
    return [*keys, str(url)] if url else keys


def _period(period: Period | None) -> tuple[dt.date | None, dt.date | None]:
    if period is None:
        return None, None
    return precise_date(period.start), precise_date(period.end)


def _observation_date(observation: Observation) -> dt.date | None:
    for value in (
        observation.effectiveDateTime,
        observation.effectivePeriod.end if observation.effectivePeriod else None,
        observation.effectivePeriod.start if observation.effectivePeriod else None,
        observation.effectiveInstant,
        observation.issued,
    ):
        bounds = date_bounds(value)
        if bounds is not None:
            return bounds[0]
    return None


def _quantity(observation: Observation) -> tuple[float, str]:
    """The numeric value and its unit; refuses comparators ('>90') and missing values."""
    quantity = observation.valueQuantity
    if quantity is None:
        if observation.valueInteger is not None:
            return float(observation.valueInteger), ""
        reason = next(iter(_texts(observation.dataAbsentReason)), None)
        raise _Refused(f"no value ({reason})" if reason else "no numeric value")
    if quantity.value is None:
        raise _Refused("the quantity has no value")
    if quantity.comparator:
        raise _Refused(
            f"the value is '{quantity.comparator}{quantity.value}', not an exact number; "
            "enter it by hand"
        )
    return _number(quantity.value), _unit(quantity)


def _upper_limit(observation: Observation, unit: str) -> float:
    for bound in observation.referenceRange or []:
        high = bound.high
        if high is None or high.value is None:
            continue
        high_unit = _unit(high)
        if high_unit and normalise_unit(high_unit) != normalise_unit(unit):
            raise _Refused(f"the reference range is in '{high_unit}', the value in '{unit}'")
        limit = _number(high.value)
        if limit <= 0:
            raise _Refused("the upper reference limit is not positive")
        return limit
    raise _Refused("no upper reference limit to divide by")


def _union_days(spans: list[tuple[dt.date, dt.date]]) -> int:
    """Days covered by the spans, overlaps counted once."""
    total = 0
    current: tuple[dt.date, dt.date] | None = None
    for start, end in sorted(spans):
        if current is None or start > current[1]:
            if current is not None:
                total += (current[1] - current[0]).days
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    if current is not None:
        total += (current[1] - current[0]).days
    return total


def _source_of(sources: dict[str, str], loc: tuple[int | str, ...]) -> str:
    """The resource a value came from: ``labs.egfr`` by its path, a therapy by its row."""
    for end in range(len(loc), 0, -1):
        found = sources.get(dotted(loc[:end]))
        if found:
            return found
    return "bundle"


def _remove(data: dict[str, Any], loc: tuple[int | str, ...]) -> bool:
    """Delete the value at ``loc``; prune emptied sections. False when there was nothing there."""
    node: Any = data
    trail = []
    for part in loc[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
        trail.append(node)
    try:
        del node[loc[-1]]
    except (KeyError, IndexError, TypeError):
        return False
    for depth in range(len(trail) - 1, -1, -1):
        if trail[depth] == {}:
            parent: Any = data if depth == 0 else trail[depth - 1]
            del parent[loc[depth]]
    return True


def _tidy(value: Any) -> Any:
    """Whole numbers as integers (``egfr: 52``, not ``52.0``), as a clinician would write them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _tidy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_tidy(item) for item in value]
    return value
