"""Cases from a Parquet file whose columns are those of the CSV format: one record per row.

A population extract often leaves a warehouse as Parquet. Each row reads exactly as the same row
of a CSV file would: every cell becomes the text a CSV cell would hold (a null is an empty cell,
that is unknown; true and false; a whole number without ``.0``; a list as ``a;b``) and goes
through the CSV reader's mapping of columns to fields, so the same rows give the same records
in either format. Records are named by row, ``cases.parquet:1`` for the first.

The file is read in batches of rows, so memory stays flat; on a cluster each batch is a piece
(:mod:`.pieces`), carried as text, so workers need no Parquet reader. pyarrow reads the file
(``careligible[population]``).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import IO, Any

from ..errors import InputError
from .csvfile import csv_record
from .records import RawRecord, no_case

#: Rows read at once.
BATCH = 1024

Rows = tuple[int, list[str], list[list[str]]]


def read_parquet(file: str, handle: IO[bytes]) -> Iterator[RawRecord]:
    """Every row of the file as a record, in order."""
    found = False
    for first, header, rows in parquet_rows(file, handle, BATCH):
        for offset, row in enumerate(rows):
            found = True
            yield csv_record(file, first + offset, header, row)
    if not found:
        yield no_case(file)


def parquet_rows(file: str, handle: IO[bytes], size: int) -> Iterator[Rows]:
    """``(number of the first row, column names, rows of cell texts)`` for every batch of about
    ``size`` rows. Raises :class:`InputError` when the file cannot be read as Parquet."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            f"{file}: reading Parquet needs pyarrow: pip install 'careligible[population]'"
        ) from None
    try:
        reader = pq.ParquetFile(handle)
        header = [str(name) for name in reader.schema_arrow.names]
        first = 1
        for batch in reader.iter_batches(batch_size=size):
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            rows = [[_cell(column[r]) for column in columns] for r in range(batch.num_rows)]
            yield first, header, rows
            first += batch.num_rows
    except (OSError, ValueError) as exc:  # pyarrow's errors are of these kinds
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise InputError(f"{file}: cannot read as Parquet ({reason})") from None


def rows_text(rows: list[list[str]]) -> bytes:
    """Rows as text that :func:`rows_from_text` reads back: one JSON array per line."""
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def rows_from_text(file: str, first: int, head: bytes, body: bytes) -> Iterator[RawRecord]:
    """The records of rows written by :func:`rows_text`, the first numbered ``first``."""
    if not body:
        yield no_case(file)
        return
    header = json.loads(head)
    for offset, line in enumerate(body.splitlines()):
        yield csv_record(file, first + offset, header, json.loads(line))


def _cell(value: Any) -> str:
    """The text of a CSV cell holding ``value``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ";".join(_cell(item) for item in value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)
