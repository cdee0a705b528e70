"""A FHIR bulk export directory as input records: one parsed case per patient.

The grouping and import are :func:`careligible.fhir.bulk.iter_export`; this turns each of its
records into what every other reader gives ``screen``, a :class:`ParsedCase` at ``file:line``
(the patient's line of the Patient file), with the import's notes as its warnings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..case import id_problem
from .records import ParsedCase, RawRecord
from .validate import parse_case

if TYPE_CHECKING:
    from ..catalog import Catalog


def read_export(
    directory: Path, catalog: Catalog | None = None
) -> Iterator[tuple[str, int, ParsedCase]]:
    """``(file, line, parsed case)`` per record of the export, in the order of its stream.

    Raises :class:`~careligible.errors.InputError` when ``directory`` is not a bulk export.
    """
    from ..fhir.bulk import iter_export

    for item in iter_export(directory, catalog=catalog):
        if item.imported is None:
            case_id = item.patient_id
            if case_id is not None and (len(case_id) > 128 or id_problem(case_id)):
                case_id = None  # not an id the case format accepts; never echo it
            yield item.file, item.line, ParsedCase(item.source, case_id, None, item.problems)
            continue
        parsed = parse_case(RawRecord(item.file, item.line, item.imported.data))
        warnings = tuple(item.imported.warnings())
        yield item.file, item.line, dataclasses.replace(parsed, warnings=warnings)
