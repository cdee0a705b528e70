"""A FHIR bulk export directory as input records: one parsed case per patient.

The grouping and import are :func:`careligible.fhir.bulk.iter_export`; this turns each of its
records into what every other reader gives ``screen``, a :class:`ParsedCase` at ``file:line``
(the patient's line of the Patient file), with the import's notes as its warnings.

For a run on other machines (``screen --scheduler``) the export is cut into
:class:`BundlePiece` items instead: the patients' lines grouped in this process
(:func:`bundle_pieces`), each piece imported and read where it lands
(:func:`read_bundle_piece`), into the same parsed cases as :func:`read_export` gives.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..case import id_problem
from .records import ParsedCase, RawRecord
from .validate import parse_case

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..fhir.bulk import BulkItem, PatientLines

#: Characters of resource text per piece at most (a piece holds at least one record): the
#: patients of an export vary from a few resources to thousands, and a piece is held in this
#: process until its records are back.
PIECE_TEXT = 16_000_000


def read_export(
    directory: Path, catalog: Catalog | None = None
) -> Iterator[tuple[str, int, ParsedCase]]:
    """``(file, line, parsed case)`` per record of the export, in the order of its stream.

    Raises :class:`~careligible.errors.InputError` when ``directory`` is not a bulk export.
    """
    from ..fhir.bulk import iter_export

    for item in iter_export(directory, catalog=catalog):
        yield item.file, item.line, parsed_item(item)


def parsed_item(item: BulkItem) -> ParsedCase:
    """One record of the export's stream as a parsed case: the imported case validated, or
    the problems that stopped it, under the patient's id when it is one a case may have."""
    if item.imported is None:
        case_id = item.patient_id
        if case_id is not None and (len(case_id) > 128 or id_problem(case_id)):
            case_id = None  # not an id the case format accepts; never echo it
        return ParsedCase(item.source, case_id, None, item.problems)
    parsed = parse_case(RawRecord(item.file, item.line, item.imported.data))
    return dataclasses.replace(parsed, warnings=tuple(item.imported.warnings()))


@dataclass(frozen=True)
class BundlePiece:
    """Records of a bulk export, each patient's lines grouped but not imported, all standing in
    one file (as a :class:`~careligible.readers.pieces.Piece` does), so that each record is
    named ``file:line`` wherever the piece is read."""

    file: str
    """The file every record of the piece stands in (a Patient file, or for the lines no
    patient took, the file holding them)."""
    reference_date: dt.date
    """The date the whole export is imported as of, fixed where it was cut."""
    items: tuple[PatientLines | BulkItem, ...]

    @property
    def records(self) -> int:
        return len(self.items)


def bundle_pieces(
    directory: Path, catalog: Catalog | None, size: int, max_text: int = PIECE_TEXT
) -> Iterator[BundlePiece]:
    """The records of the export at ``directory`` in the order of :func:`read_export`, in
    pieces of at most ``size`` records (at least one) of one file, and of about ``max_text``
    characters of resource text.

    Raises (before yielding) what :func:`read_export` raises: :class:`RulesError` when the
    catalog's FHIR mapping is invalid, :class:`InputError` when ``directory`` is not an export.
    """
    from ..fhir.bulk import PatientLines, grouped_export, import_options

    day = import_options(catalog=catalog).reference_date
    items: list[PatientLines | BulkItem] = []
    text = 0
    for entry in grouped_export(directory):
        if items and (entry.file != items[0].file or len(items) >= size or text >= max_text):
            yield BundlePiece(items[0].file, day, tuple(items))
            items, text = [], 0
        items.append(entry)
        text += entry.size if isinstance(entry, PatientLines) else 0
    yield BundlePiece(items[0].file, day, tuple(items))  # an export has one record at least


def read_bundle_piece(
    piece: BundlePiece, catalog: Catalog | None = None
) -> Iterator[tuple[int, ParsedCase]]:
    """``(line, parsed case)`` per record of ``piece``, each patient imported with the FHIR
    mapping of ``catalog`` as of the piece's date: the cases :func:`read_export` gives."""
    from ..fhir.bulk import PatientLines, import_options, import_patient

    options = import_options(reference_date=piece.reference_date, catalog=catalog)
    for entry in piece.items:
        item = import_patient(entry, options) if isinstance(entry, PatientLines) else entry
        yield item.line, parsed_item(item)
