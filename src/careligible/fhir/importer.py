"""One FHIR R4 Bundle -> one case, with a note for everything that could not be mapped.

The Bundle is validated first (:mod:`.validate`), so a malformed bundle is an error naming the
entry and field, never a half-read case. After that the import never fails on content: a resource
it cannot map, a unit it cannot convert, two results that disagree, each becomes a :class:`Note`
and the case field stays unknown. Nothing is guessed: absence in the bundle is absence in the
case (no Condition for HIV is not "HIV negative"), and therapy outcomes, which FHIR does not
record, are left for the clinician.

The stages live in their own modules (conditions, observations, medications); this one drives
them over the entries, reads the Patient, and builds the case. It knows nothing of files.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..case import Case
from ..errors import Problem, describe_validation_error, dotted
from ..fields import put_path
from ..vocabulary import Vocabulary
from .conditions import read_condition
from .dates import age_at, date_bounds
from .elements import label as label_of
from .evidence import Evidence
from .mapping import FhirMapping, import_rules, load_mapping
from .medications import Medications
from .notes import Note, grouped
from .observations import read_observation
from .validate import BundleError, ValidBundle, validate_bundle

if TYPE_CHECKING:
    from fhir.resources.R4B.patient import Patient
    from fhir.resources.R4B.resource import Resource

    from ..catalog import Catalog


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

    @property
    def deceased(self) -> str | None:
        """``deceased <date>`` (or ``deceased, date not recorded``) when the Patient died by
        the reference date: said first wherever the imported case is shown."""
        if not self.data.get("deceased"):
            return None
        on = self.data.get("deceased_date")
        return f"deceased {on}" if on else "deceased, date not recorded"

    def warnings(self) -> list[str]:
        """What a screening result should carry so the import is never mistaken for a full case."""
        head = (
            "imported from a FHIR Bundle; ages and therapy months as of "
            f"{self.reference_date.isoformat()}"
        )
        if self.data.get("therapies"):
            head += (
                "; therapy outcomes are not in FHIR and stay unknown; the therapy list is not "
                "confirmed complete"
            )
        return [head, *(f"not mapped: {line}" for line in grouped(self.notes))]


def import_bundle(
    data: Any,
    *,
    reference_date: dt.date | None = None,
    catalog: Catalog | None = None,
    mapping: FhirMapping | None = None,
    vocabulary: Vocabulary | None = None,
    fallback_id: str = "fhir-import",
    max_age_months: int = 12,
) -> ImportedCase:
    """Map a decoded FHIR Bundle to a case, as of ``reference_date`` (default: today).

    The mapping and drug vocabulary are ``catalog``'s when given (:func:`.mapping.import_rules`),
    else ``mapping`` and ``vocabulary``, else the shipped ones. Labs and scores count only from
    ``max_age_months`` before the reference date up to it; older or later results are reported,
    not used.

    Raises :class:`RulesError` when the catalog's mapping is invalid (before the Bundle is
    looked at), :class:`BundleError` when ``data`` is not a valid Bundle holding exactly one
    Patient. The case id is the Patient's id (a pseudonymous logical id), else the Bundle's,
    else ``fallback_id``.
    """
    mapping, vocabulary = import_rules(catalog, mapping, vocabulary)
    bundle = validate_bundle(data)
    evidence = Evidence(
        mapping or load_mapping(),
        vocabulary or default_vocabulary(),
        reference_date or dt.date.today(),
        max_age_months,
    )
    return _Import(evidence).run(bundle, fallback_id)


@functools.lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    from ..catalog import default_rules_dir
    from ..errors import RulesError
    from ..vocabulary import load_vocabulary

    vocabulary, problems = load_vocabulary(default_rules_dir() / "vocabulary" / "drugs.yaml")
    if problems:
        raise RulesError(problems)
    return vocabulary


class _Import:
    """One run over a bundle's entries, each handed to the stage for its resource type."""

    def __init__(self, evidence: Evidence) -> None:
        self.evidence = evidence
        self.medications = Medications(evidence)

    def run(self, bundle: ValidBundle, fallback_id: str) -> ImportedCase:
        note = self.evidence.note
        entries = [(e.index, e.url, e.resource) for e in bundle.entries]
        for index in bundle.empty:
            note(f"entry {index}", "holds no resource")
        for _index, label, problem in bundle.invalid:
            note(
                label,
                f"not valid FHIR R4, left out ({problem.field}: {problem.message})",
                "entries that are not valid FHIR R4, left out",
                f"{label.split('/', 1)[0]} {problem.field.split('.', 2)[-1]}",
            )
        patients = [(i, url, r) for i, url, r in entries if r.get_resource_type() == "Patient"]
        invalid_patients = [p for _, label, p in bundle.invalid if _kind(label) == "Patient"]
        if invalid_patients:
            raise BundleError(invalid_patients)
        if not patients:
            found = [p for _, _, p in bundle.invalid]
            raise BundleError([*found, Problem("the bundle holds no Patient resource", "entry")])
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
            self.evidence.patient_refs.add(f"Patient/{patient.id}")
        if patient_url:
            self.evidence.patient_refs.add(str(patient_url))
        for _, url, resource in entries:
            if resource.get_resource_type() == "Medication":
                self.medications.register(resource, url)
        handlers: dict[str, Callable[[Resource, str], None]] = {
            "Patient": self.patient,
            "Condition": functools.partial(read_condition, self.evidence),
            "Observation": functools.partial(read_observation, self.evidence),
            "MedicationStatement": self.medications.statement,
            "MedicationRequest": self.medications.request,
        }
        deferred = []
        for index, url, resource in entries:
            kind = resource.get_resource_type()
            label = label_of(resource, index)
            handler = handlers.get(kind)
            if handler is not None:
                handler(resource, label)
            elif kind == "Medication":
                deferred.append((url, resource, label))
            else:
                note(label, f"{kind} is not used by the case format", "not used by the case format")
        for url, resource, label in deferred:
            if not self.medications.is_used(resource, url):
                note(
                    label,
                    "no MedicationStatement or MedicationRequest refers to it",
                    "Medication that no MedicationStatement or MedicationRequest refers to",
                )
        case_id = patient.id or bundle.id or fallback_id
        return self.finish(str(case_id))

    def finish(self, case_id: str) -> ImportedCase:
        values, sources = self.evidence.resolve()
        data: dict[str, Any] = {"id": case_id}
        for path, value in values.items():
            put_path(data, path, value)
        therapies = self.medications.therapies()
        if therapies:
            data["therapies"] = therapies
            # One record's medication list is rarely a lifetime history: until a clinician
            # confirms it, a drug not listed is unknown, never "not tried".
            data["therapies_complete"] = False
            sources.update(self.medications.sources())
        case = self.validated(data, sources)
        return ImportedCase(
            _tidy(case.model_dump(mode="json", by_alias=True, exclude_none=True)),
            self.evidence.reference,
            tuple(self.evidence.notes),
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
                self.evidence.note(source, f"{problem.field} {problem.message}; left unknown")
                removed = _remove(data, problem.loc) or removed
            if not removed:
                break
        raise BundleError([Problem("the imported case is not valid", "id")])

    def patient(self, resource: Resource, label: str) -> None:
        patient: Patient = resource  # type: ignore[assignment]
        evidence = self.evidence
        if patient.gender:
            sex = evidence.mapping.raw.patient.gender.get(str(patient.gender))
            if sex is None:
                evidence.note(
                    label, f"gender '{patient.gender}' has no equivalent in the case format"
                )
            else:
                evidence.add("sex", sex, label, None, "agree")
        bounds = date_bounds(patient.birthDate)
        if patient.birthDate is not None and bounds is None:
            evidence.note(label, "birthDate cannot be read")
        elif bounds is not None:
            if bounds[0] > evidence.reference:
                evidence.note(label, "birthDate is after the reference date; age left unknown")
            else:
                ages = sorted(
                    {age_at(bounds[0], evidence.reference), age_at(bounds[1], evidence.reference)}
                )
                if len(ages) == 1:
                    evidence.add("age", ages[0], label, None, "agree")
                else:
                    evidence.note(
                        label,
                        f"birthDate '{patient.birthDate}' gives an age of {ages[0]} or {ages[-1]} "
                        "at the reference date; enter the age by hand",
                    )
        self.death(patient, label)

    def death(self, patient: Patient, label: str) -> None:
        """``deceasedBoolean``/``deceasedDateTime`` -> ``deceased``/``deceased_date``.

        A death after the reference date had not happened then: the case is as of that date,
        so it is reported and not recorded. A date coarser than a day (``2013``) still makes
        the patient deceased; the date is then reported, not guessed.
        """
        evidence = self.evidence
        if patient.deceasedBoolean is not None:
            evidence.add("deceased", bool(patient.deceasedBoolean), label, None, "agree")
            if patient.deceasedBoolean:
                self.deceased_note(label)
            return
        raw = patient.deceasedDateTime
        if raw is None:
            return
        bounds = date_bounds(raw)
        if bounds is None:
            evidence.note(label, f"deceasedDateTime '{raw}' cannot be read; recorded as deceased")
        elif bounds[0] > evidence.reference:
            evidence.note(
                label,
                f"deceased on {bounds[0].isoformat()}, after the reference date; alive then, "
                "so not recorded as deceased",
            )
            return
        elif bounds[0] != bounds[1]:
            evidence.note(
                label,
                f"deceasedDateTime '{raw}' is not a full date; deceased_date left unknown",
            )
        else:
            evidence.add("deceased_date", bounds[0].isoformat(), label, None, "agree")
        evidence.add("deceased", True, label, None, "agree")
        self.deceased_note(label)

    def deceased_note(self, label: str) -> None:
        """Said with the notes too, so every view of the import (the TUI's notice included)
        leads to the fact that matters most."""
        self.evidence.note(
            label,
            "the patient is recorded as deceased: screening gives this case no trial verdicts",
        )


def _kind(label: str) -> str:
    """The resource type in an entry label such as ``Patient/p-1``."""
    return label.split("/", 1)[0]


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
