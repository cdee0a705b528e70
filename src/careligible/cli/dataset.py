"""``--output DIR``: the records of a ``--scheduler`` run as a dataset, one file per piece.

A population run on a cluster ends in tools that read a directory of files as one table (Spark,
Dask, DuckDB, pandas with pyarrow). Each piece of the input (``--partition-size`` records) becomes
one file, ``part-NNNNN.EXT``, numbered from 0 in input order across all the input files, its
records in input order: reading the files in name order gives exactly the records of
``--output FILE``. Each file is complete in itself (a CSV file has its header, a JSON file is
one array, a Parquet file has the schema of every other).

The directory must exist and be empty, so nothing in it, and no input, can ever be overwritten.
The files are written into a hidden directory beside it, which replaces the empty directory only
when the run completes: an interrupted or failed run leaves the directory empty, as it was.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from ..errors import CareligibleError
from ..results import CaseResult
from ..writers import EncodingWriter, Writer, make_writer

#: The name ending of each part file, by ``--format``; a format missing here has no dataset.
SUFFIX = {
    "jsonl": ".jsonl",
    "compact": ".jsonl",
    "csv": ".csv",
    "json": ".json",
    "parquet": ".parquet",
}


def part_name(number: int, fmt: str) -> str:
    """The file of piece ``number``: ``part-00000.jsonl``, ``part-00001.jsonl``, ..."""
    return f"part-{number:05d}{SUFFIX[fmt]}"


def check_dataset(output: Path, fmt: str, scheduler: str | None) -> None:
    """Refuse an ``--output DIR`` that cannot be written as a dataset, before any work."""
    if scheduler is None:
        raise CareligibleError(
            f"--output {output} is a directory: a dataset (one file per piece) comes from a "
            "--scheduler run; give --output FILE"
        )
    if fmt not in SUFFIX:
        raise CareligibleError(
            f"--format {fmt} has no dataset form; use {', '.join(sorted(SUFFIX))} with "
            f"--output {output}"
        )
    try:
        holds = next(output.iterdir(), None)
    except OSError as exc:
        raise CareligibleError(f"{output}: cannot read the directory ({exc.strerror})") from None
    if holds is not None:
        raise CareligibleError(
            f"--output {output} is a directory that holds files ({holds.name}); a dataset is "
            "written only into an empty one, so nothing is replaced"
        )


@contextmanager
def dataset_destination(output: Path) -> Iterator[Path]:
    """A hidden directory beside ``output`` to write the parts into; it replaces the empty
    ``output`` when the block ends normally, and is removed otherwise."""
    target = output.resolve()
    try:
        temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    except OSError as exc:
        raise CareligibleError(f"{output}: cannot write there ({exc.strerror})") from None
    try:
        yield temp
        os.chmod(temp, target.stat().st_mode)  # mkdtemp makes it private; keep the directory's
        os.replace(temp, target)  # an empty directory is replaced at once, whole
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


class PartsWriter(EncodingWriter):
    """Writes each record into the file of its piece, through the writer of ``fmt``."""

    def __init__(self, folder: Path, fmt: str, version: str, population: bool) -> None:
        super().__init__(io.StringIO())
        self.folder, self.fmt, self.version, self.population = folder, fmt, version, population
        self._number: int | None = None
        self._handle: IO[str] | None = None
        self._writer: Writer | None = None

    def start_part(self, number: int) -> None:
        """The records from now on belong to piece ``number``."""
        if number == self._number:
            return
        self._close_part()
        path = self.folder / part_name(number, self.fmt)
        self._handle = path.open("x", encoding="utf-8", newline="")
        self._number = number
        self._writer = make_writer(self.fmt, self._handle, self.version, self.population)

    def write(self, result: CaseResult) -> None:
        self._current().write(result)

    def write_encoded(self, text: str) -> None:
        writer = self._current()
        assert isinstance(writer, EncodingWriter)
        writer.write_encoded(text)

    def close(self) -> None:
        self._close_part()

    def _current(self) -> Writer:
        if self._writer is None:
            self.start_part(0)
        assert self._writer is not None
        return self._writer

    def _close_part(self) -> None:
        if self._writer is not None and self._handle is not None:
            self._writer.close()
            self._handle.close()
        self._writer = self._handle = None
