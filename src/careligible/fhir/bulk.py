"""A FHIR Bulk Data export (a directory of NDJSON files) -> one imported case per Patient.

A bulk export splits a population by resource type, not by patient: ``Patient.000.ndjson`` holds
every patient, ``Observation.000.ndjson`` and ``Observation.001.ndjson`` every result of all of
them. To give one case per patient without holding the population in memory, the export is read
once into a temporary SQLite file (the resources as JSON text, indexed by the patient they name),
then each patient's resources are read back as one R4 ``collection`` Bundle and imported by
:func:`~careligible.fhir.import_bundle`, the same mapping as for any bundle. Memory then depends
on the largest patient, not on the number of patients.

The two steps are apart: :func:`grouped_export` gathers each patient's lines (text and places,
nothing decoded), :func:`import_patient` imports one patient's lines. :func:`iter_export` does
both in one process; ``screen --scheduler`` groups in the client and imports on the Dask workers.

What cannot be given to a patient is never dropped silently: a line that is not a JSON resource,
a resource that names no patient or one the Patient files do not hold, and a second Patient with
an id already seen, each becomes an error record naming ``file:line``; the rest is read. Files of
resource types the case format does not use (Encounter, Procedure, ...) are not read, and every
case says which ones were left.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, Problem
from ..readers.jsonfile import decode_json
from ..readers.records import RawRecord
from ..readers.text import shown_path
from ..readers.validate import unreadable
from ..vocabulary import Vocabulary
from .importer import ImportedCase, default_vocabulary, import_bundle
from .mapping import FhirMapping, import_rules, load_mapping
from .notes import Note
from .validate import BundleError

if TYPE_CHECKING:
    from ..catalog import Catalog

#: Resource types the import reads: the Patient, what a case is made of, and the Medications
#: that orders and statements refer to. Files of any other type are listed, not read.
USED_TYPES = frozenset(
    {"Patient", "Condition", "Observation", "MedicationRequest", "MedicationStatement"}
)
SHARED_TYPES = frozenset({"Medication"})

#: ``Patient.ndjson``, ``Patient.000.ndjson``, ``Observation.2.ndjson``: the resource type, then
#: an optional part name. Other ``.ndjson`` files (the export's ``log.ndjson``) are not resources.
_FILE_NAME = re.compile(r"^(?P<kind>[A-Z][A-Za-z]+)(?:\.[^.]+)?\.ndjson$")

#: ``Patient/ID``, an absolute ``https://host/fhir/Patient/ID``, optionally with ``/_history/N``.
_PATIENT_REF = re.compile(r"(?:^|/)Patient/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


@dataclass(frozen=True)
class ExportFile:
    """One NDJSON file of the export, with the resource type its name gives."""

    path: Path
    kind: str

    @property
    def shown(self) -> str:
        return shown_path(self.path)


@dataclass(frozen=True)
class BulkItem:
    """One record of the stream: a patient's imported case, or the problems that stopped it.

    A patient's record stands at its Patient line (``source``); a line that belongs to no patient
    is a record of its own, with ``patient_id`` None.
    """

    file: str
    line: int
    patient_id: str | None = None
    imported: ImportedCase | None = None
    problems: tuple[Problem, ...] = ()

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class PatientLines:
    """One patient's lines of the export, gathered but not yet decoded or imported.

    Plain text and places only, so the import can happen in another process or on another
    machine and still name the user's ``file:line`` in every problem and note.
    """

    file: str
    line: int
    """Where the Patient stands: the place of the patient's record."""
    patient_id: str
    resources: tuple[tuple[str, int, str], ...]
    """``(file, line, JSON text)``: the Patient, its resources in file order, then the shared
    Medications they refer to."""
    left: tuple[str, ...] = ()
    """The resource types of the export's files that were not read."""

    @property
    def size(self) -> int:
        """Characters of resource text: what the lines cost to hold or to send."""
        return sum(len(text) for _, _, text in self.resources)


@dataclass(frozen=True)
class ImportOptions:
    """How every patient of one export is imported, resolved once for the whole export."""

    reference_date: dt.date
    mapping: FhirMapping
    vocabulary: Vocabulary
    max_age_months: int = 12


def import_options(
    *,
    reference_date: dt.date | None = None,
    catalog: Catalog | None = None,
    mapping: FhirMapping | None = None,
    vocabulary: Vocabulary | None = None,
    max_age_months: int = 12,
) -> ImportOptions:
    """The mapping and vocabulary chosen as by :func:`~careligible.fhir.import_bundle`
    (:func:`~.mapping.import_rules`), and the reference date (default: today).

    Raises :class:`RulesError` when the catalog's mapping is invalid.
    """
    mapping, vocabulary = import_rules(catalog, mapping, vocabulary)
    vocabulary = vocabulary or default_vocabulary()
    return ImportOptions(
        reference_date or dt.date.today(),
        # loaded once for the export, not once per patient
        mapping or load_mapping(vocabulary=vocabulary),
        vocabulary,
        max_age_months,
    )


def export_files(directory: Path) -> list[ExportFile]:
    """The resource files of ``directory``, Patient files first, each type's parts in name order.

    Raises :class:`InputError` when it is not a bulk export: no ``Patient*.ndjson`` file in it.
    """
    try:
        names = sorted(p for p in directory.iterdir() if p.is_file())
    except OSError as exc:
        raise InputError(f"{shown_path(directory)}: cannot list: {exc.strerror}") from None
    files = []
    for path in names:
        match = _FILE_NAME.match(path.name)
        if match is not None:
            files.append(ExportFile(path, match["kind"]))
    if not any(f.kind == "Patient" for f in files):
        raise InputError(
            f"{shown_path(directory)}: a directory is read as a FHIR bulk export, which needs "
            "Patient.ndjson (or Patient.000.ndjson, ...); none found"
        )
    files.sort(key=lambda f: (f.kind != "Patient", f.kind, f.path.name))
    return files


def is_export(path: Path) -> bool:
    """True when ``path`` is a directory holding a ``Patient*.ndjson`` file."""
    try:
        return path.is_dir() and any(
            (m := _FILE_NAME.match(p.name)) is not None and m["kind"] == "Patient"
            for p in path.iterdir()
        )
    except OSError:
        return False


def iter_export(
    directory: Path,
    *,
    reference_date: dt.date | None = None,
    catalog: Catalog | None = None,
    mapping: FhirMapping | None = None,
    vocabulary: Vocabulary | None = None,
    max_age_months: int = 12,
) -> Iterator[BulkItem]:
    """Every patient of the export at ``directory``, imported, in Patient file order; then one
    error record per line that could not be given to a patient, in file order.

    The mapping and vocabulary are chosen as by :func:`~careligible.fhir.import_bundle`.
    Raises (before yielding) :class:`RulesError` when the catalog's mapping is invalid, then
    :class:`InputError` when ``directory`` is not a bulk export.
    """
    options = import_options(
        reference_date=reference_date,
        catalog=catalog,
        mapping=mapping,
        vocabulary=vocabulary,
        max_age_months=max_age_months,
    )
    for entry in grouped_export(directory):
        yield import_patient(entry, options) if isinstance(entry, PatientLines) else entry


def grouped_export(directory: Path) -> Iterator[PatientLines | BulkItem]:
    """The records of :func:`iter_export`, in its order, each patient's lines gathered but not
    imported; the records that are errors already are :class:`BulkItem` as there.

    Raises (before yielding) :class:`InputError` when ``directory`` is not a bulk export.
    """
    files = export_files(directory)
    shown = [f.shown for f in files]
    with _Store(shown) as store:
        for number, export_file in enumerate(files):
            if export_file.kind in USED_TYPES | SHARED_TYPES:
                store.load(number, export_file)
        store.commit()
        left = tuple(sorted({f.kind for f in files} - USED_TYPES - SHARED_TYPES))
        patients = 0
        for row in store.patients():
            patients += 1
            yield _patient_lines(store, shown, row, left)
        if not patients:  # like an empty case file: one record, so it never passes unnoticed
            file = shown[0]
            yield BulkItem(file, 1, problems=(_problem("the export holds no Patient", file, 1),))
        for file_no, line, message in store.loose():
            yield BulkItem(
                shown[file_no], line, problems=(_problem(message, shown[file_no], line),)
            )


def _problem(message: str, file: str, line: int, field: str = "") -> Problem:
    return Problem(message, field, file, line)


class _Store:
    """The export in a temporary SQLite file: patients in file order, resources by patient.

    SQLite keeps a small page cache (the operating system caches the file as well), so loading
    and reading back cost the same memory for a thousand patients as for a million.
    """

    def __init__(self, shown: list[str]) -> None:
        self.shown = shown  # the files' names as shown, by number
        self._dir = tempfile.TemporaryDirectory(prefix="careligible-bulk-")
        db = sqlite3.connect(Path(self._dir.name) / "export.db")
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -2048")  # KiB
        db.executescript(
            """
            CREATE TABLE patient (seq INTEGER PRIMARY KEY, file INTEGER, line INTEGER,
                                  id TEXT, json TEXT, error TEXT);
            CREATE TABLE resource (patient TEXT, file INTEGER, line INTEGER, label TEXT, json TEXT,
                                   medications TEXT);
            CREATE TABLE shared (ref TEXT PRIMARY KEY, file INTEGER, line INTEGER, json TEXT);
            CREATE TABLE loose (file INTEGER, line INTEGER, message TEXT);
            CREATE INDEX patient_id ON patient (id);
            """
        )
        self.db = db

    def __enter__(self) -> _Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.db.close()
        self._dir.cleanup()

    def commit(self) -> None:
        self.db.execute("CREATE INDEX by_patient ON resource (patient, file, line)")
        self.db.commit()

    def load(self, file_no: int, export_file: ExportFile) -> None:
        """Every line of one file into its table; a line that cannot be read, as a problem."""
        try:
            handle = export_file.path.open("rb")
        except OSError as exc:
            self._loose(file_no, 1, f"cannot open: {exc.strerror}", export_file.kind)
            return
        with handle:
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    self._line(file_no, number, raw, export_file)

    def _line(self, file_no: int, number: int, raw: bytes, export_file: ExportFile) -> None:
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            message = f"not UTF-8 text (byte {exc.start + 1}); the export must be UTF-8"
            self._loose(file_no, number, message, export_file.kind)
            return
        try:
            data = decode_json(text)
        except (ValueError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            self._loose(file_no, number, f"invalid JSON: {reason}", export_file.kind)
            return
        problem = unreadable(RawRecord(export_file.shown, number, data))
        if problem is None and not isinstance(data, dict):
            problem = Problem("a line of a bulk export must be one resource (a JSON object)")
        if problem is None and data.get("resourceType") != export_file.kind:
            found = data.get("resourceType")
            problem = Problem(
                f"holds {_kind_of(found)}, but the file is named for {export_file.kind}",
                "resourceType",
            )
        if problem is not None:
            message = f"{problem.field}: {problem.message}" if problem.field else problem.message
            self._loose(file_no, number, message, export_file.kind)
            return
        self._resource(file_no, number, data, text)

    def _resource(self, file_no: int, number: int, data: dict[str, Any], text: str) -> None:
        kind = data["resourceType"]
        rid = data.get("id")
        label = f"{kind}/{rid[:64]}" if isinstance(rid, str) and rid else kind
        if kind == "Patient":
            self._patient(file_no, number, rid, text, self.shown)
        elif kind in SHARED_TYPES:
            self._shared(file_no, number, kind, rid, text)
        else:
            ref, why = _patient_of(data)
            if ref is None:
                self._loose(file_no, number, f"{label} {why}; left out", kind)
            else:
                # the Medications it names, found now while it is decoded, so that grouping
                # the patient's lines later decodes nothing
                medications = " ".join(_medication_refs(data))
                self.db.execute(
                    "INSERT INTO resource VALUES (?, ?, ?, ?, ?, ?)",
                    (ref, file_no, number, label, text, medications),
                )

    def _patient(self, file_no: int, number: int, rid: Any, text: str, shown: list[str]) -> None:
        """A Patient in file order; one without a usable id, or with an id seen before, is an
        error in its place (the ids are looked up in the file, not held in memory)."""
        error = None
        first = None
        if isinstance(rid, str):
            query = "SELECT file, line FROM patient WHERE id = ? LIMIT 1"
            first = self.db.execute(query, (rid,)).fetchone()
        if not isinstance(rid, str) or not _PATIENT_REF.search(f"Patient/{rid}"):
            error = (
                "id: a Patient of a bulk export needs a FHIR id (up to 64 letters, digits, "
                "'-' or '.'), which its resources refer to"
            )
            rid = None
        elif first is not None:
            where = f"{shown[first[0]]}:{first[1]}"
            error = f"id: a second Patient '{rid}' (first at {where}); left out"
            rid = None
        self.db.execute(
            "INSERT INTO patient (file, line, id, json, error) VALUES (?, ?, ?, ?, ?)",
            (file_no, number, rid, None if error else text, error),
        )

    def _shared(self, file_no: int, number: int, kind: str, rid: Any, text: str) -> None:
        """A resource patients refer to; one nothing can refer to, or a second with the same
        id, is reported (the first one is the one used)."""
        if not isinstance(rid, str) or not rid:
            self._loose(file_no, number, f"{kind} without an id, so nothing can refer to it", kind)
            return
        ref = f"{kind}/{rid[:64]}"
        query = "SELECT file, line FROM shared WHERE ref = ?"
        first = self.db.execute(query, (ref,)).fetchone()
        if first is not None:
            where = f"{self.shown[first[0]]}:{first[1]}"
            self._loose(file_no, number, f"a second {ref} (first at {where}); left out", kind)
            return
        self.db.execute("INSERT INTO shared VALUES (?, ?, ?, ?)", (ref, file_no, number, text))

    def _loose(self, file_no: int, number: int, message: str, kind: str) -> None:
        """A line that is no patient's: among the patients when it is in a Patient file."""
        if kind == "Patient":
            self.db.execute(
                "INSERT INTO patient (file, line, id, json, error) VALUES (?, ?, NULL, NULL, ?)",
                (file_no, number, message),
            )
        else:
            self.db.execute("INSERT INTO loose VALUES (?, ?, ?)", (file_no, number, message))

    def patients(self) -> Iterator[tuple[int, int, str | None, str | None, str | None]]:
        yield from self.db.execute("SELECT file, line, id, json, error FROM patient ORDER BY seq")

    def resources(self, patient: str) -> Iterator[tuple[int, int, str, str]]:
        """``(file, line, JSON text, Medication refs)`` of a patient's resources, in file order."""
        yield from self.db.execute(
            "SELECT file, line, json, medications FROM resource WHERE patient = ? "
            "ORDER BY file, line",
            (patient,),
        )

    def shared(self, ref: str) -> tuple[int, int, str] | None:
        row = self.db.execute("SELECT file, line, json FROM shared WHERE ref = ?", (ref,))
        found = row.fetchone()
        return None if found is None else (found[0], found[1], found[2])

    def loose(self) -> Iterator[tuple[int, int, str]]:
        """Lines no patient took, in file order: unreadable, or naming no known patient."""
        yield from self.db.execute(
            """
            SELECT file, line, message FROM loose
            UNION ALL
            SELECT r.file, r.line, r.label || ' refers to Patient/' || r.patient
                   || ', which no Patient file of the export holds; left out'
            FROM resource r WHERE NOT EXISTS (SELECT 1 FROM patient p WHERE p.id = r.patient)
            ORDER BY 1, 2
            """
        )


def _kind_of(found: Any) -> str:
    if isinstance(found, str) and found:
        return f"resourceType '{found[:40]}'"
    return "no resourceType"


def _patient_of(data: dict[str, Any]) -> tuple[str | None, str]:
    """The id of the patient a resource names in ``subject`` (or ``patient``), or why none."""
    for element in ("subject", "patient"):
        value = data.get(element)
        if value is None:
            continue
        ref = value.get("reference") if isinstance(value, dict) else None
        if not isinstance(ref, str) or not ref:
            return None, f"has a {element} without a reference, so it names no patient"
        match = _PATIENT_REF.search(ref)
        if match is None:
            return None, f"has {element} '{ref[:80]}', which is not a Patient"
        return match["id"], ""
    return None, "names no patient (no subject or patient)"


def _patient_lines(
    store: _Store,
    shown: list[str],
    row: tuple[int, int, str | None, str | None, str | None],
    left: tuple[str, ...],
) -> PatientLines | BulkItem:
    """A patient's lines as text, or the error record a bad Patient line is."""
    file_no, line, patient_id, text, error = row
    file = shown[file_no]
    if error is not None or patient_id is None or text is None:
        return BulkItem(file, line, problems=(_problem(error or "unreadable", file, line),))
    resources = [(file, line, text)]
    wanted: list[str] = []
    for r_file, r_line, r_text, medications in store.resources(patient_id):
        resources.append((shown[r_file], r_line, r_text))
        wanted.extend(medications.split())
    for ref in dict.fromkeys(wanted):
        found = store.shared(ref)
        if found is not None:
            resources.append((shown[found[0]], found[1], found[2]))
    return PatientLines(file, line, patient_id, tuple(resources), left)


def import_patient(lines: PatientLines, options: ImportOptions) -> BulkItem:
    """One patient's lines imported as one R4 ``collection`` Bundle, through
    :func:`~careligible.fhir.import_bundle`; what stops the import is the patient's record,
    its problems at the lines they are about."""
    file, line, patient_id = lines.file, lines.line, lines.patient_id
    sources = [(r_file, r_line) for r_file, r_line, _ in lines.resources]
    entries = [{"resource": decode_json(text)} for _, _, text in lines.resources]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    try:
        imported = import_bundle(
            bundle,
            fallback_id=patient_id,
            reference_date=options.reference_date,
            mapping=options.mapping,
            vocabulary=options.vocabulary,
            max_age_months=options.max_age_months,
        )
    except BundleError as exc:
        problems = tuple(_placed(p, sources) for p in exc.problems)
        return BulkItem(file, line, patient_id, problems=problems)
    except RecursionError:
        return BulkItem(
            file, line, patient_id, problems=(_problem("nested too deeply", file, line),)
        )
    notes = tuple(_placed_note(note, sources) for note in imported.notes)
    imported = dataclasses.replace(imported, notes=notes)
    if lines.left:
        note = Note(
            "export",
            f"{', '.join(lines.left)} files not read: not used by the case format",
            "resource files of the export not read",
        )
        imported = dataclasses.replace(imported, notes=(*imported.notes, note))
    return BulkItem(file, line, patient_id, imported)


def _medication_refs(resource: dict[str, Any]) -> Iterator[str]:
    """``Medication/ID`` for an order or statement whose medication is a reference."""
    value = resource.get("medicationReference")
    ref = value.get("reference") if isinstance(value, dict) else None
    if isinstance(ref, str):
        match = re.search(r"(?:^|/)(Medication/[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$", ref)
        if match is not None:
            yield match[1]


_ENTRY_FIELD = re.compile(r"^entry\[(\d+)\]\.resource\.?")


def _placed_note(note: Note, sources: list[tuple[str, int]]) -> Note:
    """A note that names an entry of the assembled bundle names the file and line instead: the
    bundle is this module's, the lines are the user's."""
    match = _ENTRY_IN_TEXT.search(note.reason)
    if match is None or int(match[1]) >= len(sources):
        return note
    file, line = sources[int(match[1])]
    reason = f"{note.reason[: match.start()]}{file}:{line}: {note.reason[match.end() :]}"
    return dataclasses.replace(note, reason=reason)


_ENTRY_IN_TEXT = re.compile(r"entry\[(\d+)\]\.resource\.?")


def _placed(problem: Problem, sources: list[tuple[str, int]]) -> Problem:
    """A problem of the assembled bundle at the file and line of the resource it is about."""
    match = _ENTRY_FIELD.match(problem.field)
    index = int(match[1]) if match is not None else 0
    file, line = sources[index] if index < len(sources) else sources[0]
    field = problem.field[match.end() :] if match is not None else problem.field
    return Problem(problem.message, field, file, line)
