"""Reading case files: YAML, JSON, JSON Lines and CSV, one record per case.

Readers never stop at a bad record. Each yields :class:`RawRecord` items in input order, carrying
either the raw mapping or the reason it could not be read, and always where it came from
(``file:line``), so a batch writes exactly one output record per input record.

JSON Lines and CSV are read as streams; YAML and JSON documents are read whole. A directory is
read as a FHIR bulk export (:mod:`.bulk`), one record per patient.

What counts as a record when the input is broken:

* Text must be UTF-8 (a byte order mark is accepted). Bytes that are not, such as Latin-1 or
  Windows-1252 accents, are never guessed at: the record holding them is an error naming the line,
  the byte and, when it can be found, the field. The other records of the file are read as usual.
* A file holding no case (empty, blank, ``---`` alone, ``[]``, a CSV header alone) is one error
  record, so it never passes a batch unnoticed.
* A syntax error in a YAML or JSON document is one error record at its line: the rest of the
  document cannot be trusted. In a JSON array the items before the break are still read.
* In CSV, a quote left open is reported on the row where it opens, and the lines it would have
  swallowed are read again as rows of their own. A header that cannot be used (not UTF-8, a column
  named twice) makes every row an error saying so.
* Numbers too large to hold (``1e400``, a JSON integer of thousands of digits) and nesting deeper
  than any case needs are errors of their record, never a crash.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, Problem
from .csvfile import read_csv
from .jsonfile import decode_json, read_json, read_jsonl
from .parquetrows import read_parquet
from .records import ParsedCase, RawRecord
from .text import shown_path
from .validate import parse_case
from .yamlfile import read_yaml

if TYPE_CHECKING:
    from ..catalog import Catalog

__all__ = [
    "FORMATS",
    "CaseFile",
    "ParsedCase",
    "RawRecord",
    "decode_json",
    "format_of",
    "open_case",
    "parse_case",
    "parsed_records",
    "read_records",
]

FORMATS = {
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
}


def format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"{shown_path(path)}: unknown case file type '{shown_path(Path(path.suffix))}'; "
            f"use {', '.join(sorted(FORMATS))}"
        )
    return fmt


def parsed_records(
    path: Path, catalog: Catalog | None = None
) -> Iterator[tuple[str, int, ParsedCase]]:
    """``(file, line, parsed case)`` for every record of a case file, or for every patient of a
    FHIR bulk export when ``path`` is a directory (see :mod:`.bulk`). FHIR is imported with the
    mapping of ``catalog``, the rules the cases are for (the shipped rules when None)."""
    if path.is_dir():
        from .bulk import read_export

        yield from read_export(path, catalog)
        return
    for record in read_records(path):
        yield record.file, record.line, parse_case(record, catalog)


def read_records(path: Path) -> Iterator[RawRecord]:
    """Every record of a case file, in order. Raises :class:`InputError` if the file is unreadable."""
    fmt = format_of(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{shown_path(path)}: cannot open: {exc.strerror}") from None
    with handle:
        yield from _READERS[fmt](shown_path(path), handle)


_READERS = {
    "yaml": read_yaml,
    "json": read_json,
    "jsonl": read_jsonl,
    "csv": read_csv,
    "parquet": read_parquet,
}


@dataclass(frozen=True)
class CaseFile:
    """The one case of a file opened for editing: its fields as written, and their problems.

    ``parsed`` is what ``screen`` makes of the same record; for a FHIR Bundle it is not
    validated here (``is_bundle``), since importing it is the editor's first step.
    """

    data: dict[str, Any]
    parsed: ParsedCase | None

    @property
    def is_bundle(self) -> bool:
        return "resourceType" in self.data

    @property
    def problems(self) -> tuple[Problem, ...]:
        return self.parsed.problems if self.parsed is not None else ()


def open_case(path: Path) -> CaseFile:
    """Read a file holding one case exactly as ``screen`` reads it: the same decoding, syntax
    checks, duplicate keys and validation. Raises :class:`InputError` when the file does not
    give one mapping of fields (unreadable, broken, empty, or a list of several cases)."""
    records = list(read_records(path))
    if len(records) != 1:
        raise InputError(f"{path}: holds {len(records)} cases; open a file holding one case")
    [record] = records
    if record.error is not None:
        raise InputError(f"{record.source}: {record.error}")
    if not isinstance(record.data, dict):
        raise InputError(f"{path}: a case file must hold one case (a mapping of fields)")
    if "resourceType" in record.data:
        return CaseFile(record.data, None)
    return CaseFile(record.data, parse_case(record))
