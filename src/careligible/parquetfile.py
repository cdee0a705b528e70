"""Compact results as a Parquet file: one row per input record, written in row groups.

Parquet is the columnar format that analytics tools (pandas, DuckDB, Spark, Dask) read without a
parser of ours, and compresses the repetitive compact records far below their JSON size. The rows
are exactly the :mod:`careligible.compact` records (same names; a key left out of a record is a
null or an empty list here), so a reader moves between the two without a mapping. pyarrow writes
it: the maintained reference implementation, installed with ``careligible[population]``.
"""

from __future__ import annotations

import json
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from .compact import encode_compact
from .results import CaseResult
from .writers import EncodingWriter

#: Rows buffered before they are written as one row group: bounds memory on any batch size.
ROW_GROUP = 4096

_LIST = pa.list_(pa.string())

#: The schema of every file, whatever the records hold, so files of one ruleset concatenate.
SCHEMA = pa.schema(
    [
        ("case_id", pa.string()),
        ("source", pa.string()),
        ("ruleset_version", pa.string()),
        ("error", pa.string()),
        ("prefilter", pa.string()),
        ("deceased", pa.bool_()),
        ("deceased_date", pa.string()),
        ("warnings", _LIST),
        (
            "trials",
            pa.list_(
                pa.struct(
                    [
                        ("nct_id", pa.string()),
                        ("verdict", pa.string()),
                        ("cohort", pa.string()),
                        ("status", pa.string()),
                        ("blocked_by", _LIST),
                        ("missing", _LIST),
                        ("to_confirm", _LIST),
                    ]
                )
            ),
        ),
    ]
)


class ParquetWriter(EncodingWriter):
    """Takes compact records (encoded, as workers send them, or as results) and writes rows.

    ``out`` is the text stream the command opened (a temporary file renamed into place when the
    run completes); Parquet goes to the binary file beneath it.
    """

    def __init__(self, out: IO[str], ruleset_version: str) -> None:
        super().__init__(out)
        self.ruleset_version = ruleset_version
        out.flush()
        self._sink: Any = getattr(out, "buffer", out)
        self._writer = pq.ParquetWriter(self._sink, SCHEMA, compression="zstd")
        self._rows: list[dict[str, Any]] = []

    def write(self, result: CaseResult) -> None:
        self.write_encoded(encode_compact(result, self.ruleset_version))

    def write_encoded(self, text: str) -> None:
        self._rows.append(json.loads(text))
        if len(self._rows) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=SCHEMA))
            self._rows = []

    def close(self) -> None:
        self._flush()
        self._writer.close()
        self._sink.flush()
