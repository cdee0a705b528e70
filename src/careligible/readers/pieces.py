"""Cutting case files into pieces that each read, alone, exactly as they read in the whole file.

A piece is a run of whole records as bytes, with the file's name and the number of its first
line, so it can be screened in another process or on another machine and its records still name
``file:line`` as a local run does. Pieces never span two files.

* JSON Lines are cut before a line holding a record (never before blank lines alone, which would
  read as a file holding no case).
* CSV is cut only where the reader starts a row on a line it has not read before, so a quoted
  cell running over several lines, or a quote left open and read again, stays in one piece. Each
  piece after the first carries the file's lines up to the end of the header row.
* Parquet is cut between batches of rows, each carried as text (:mod:`.parquetrows`).
* YAML and JSON documents are read whole, so each such file is one piece.
"""

from __future__ import annotations

import io
import itertools
import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import InputError
from .csvfile import read_csv_lines
from .jsonfile import read_json, read_jsonl
from .parquetrows import parquet_rows, rows_from_text, rows_text
from .records import RawRecord
from .text import decode_lenient, shown_path
from .yamlfile import read_yaml


@dataclass(frozen=True)
class Piece:
    """Whole records of one file as bytes, and where they stand in it."""

    fmt: str
    """The file's format, as :data:`careligible.readers.FORMATS` names it."""
    file: str
    """The file's name as its records name it."""
    first_line: int
    """The number of the first line of ``body``."""
    body: bytes
    head: bytes = b""
    """For CSV pieces after the first: the file's lines 1 to the end of the header row."""
    records: int = 0
    """How many records the piece holds, as counted when it was cut."""


def read_piece(piece: Piece) -> Iterator[RawRecord]:
    """The records of a piece, exactly as they read in the whole file."""
    body = io.BytesIO(piece.body)
    if piece.fmt == "jsonl":
        return read_jsonl(piece.file, body, start=piece.first_line)
    if piece.fmt == "parquet":
        return rows_from_text(piece.file, piece.first_line, piece.head, piece.body)
    if piece.fmt == "csv":
        numbered = itertools.chain(
            enumerate(io.BytesIO(piece.head), start=1), enumerate(body, start=piece.first_line)
        )
        return read_csv_lines(piece.file, numbered)
    whole = {"yaml": read_yaml, "json": read_json}[piece.fmt]
    return whole(piece.file, body)


def pieces(path: Path, fmt: str, size: int) -> Iterator[Piece]:
    """The pieces of one file, in order, of about ``size`` records each (at least one).

    Raises :class:`InputError` when the file cannot be opened, as reading it would.
    """
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{shown_path(path)}: cannot open: {exc.strerror}") from None
    file = shown_path(path)
    with handle:
        if fmt == "jsonl":
            yield from _jsonl_pieces(file, handle, size)
        elif fmt == "csv":
            yield from _csv_pieces(file, handle, size)
        elif fmt == "parquet":
            yield from _parquet_pieces(file, handle, size)
        else:
            yield Piece(fmt, file, 1, handle.read(), records=1)


def _jsonl_pieces(file: str, handle: IO[bytes], size: int) -> Iterator[Piece]:
    lines: list[bytes] = []
    first, count = 1, 0
    for number, raw in enumerate(handle, start=1):
        if _holds_a_record(raw):
            if count >= size:
                yield Piece("jsonl", file, first, b"".join(lines), records=count)
                lines, first, count = [], number, 0
            count += 1
        lines.append(raw)
    yield Piece("jsonl", file, first, b"".join(lines), records=count)


def _parquet_pieces(file: str, handle: IO[bytes], size: int) -> Iterator[Piece]:
    found = False
    for first, header, rows in parquet_rows(file, handle, size):
        found = True
        head = json.dumps(header).encode()
        yield Piece("parquet", file, first, rows_text(rows), head, len(rows))
    if not found:  # read as a file that holds no case
        yield Piece("parquet", file, 1, b"", records=1)


def _holds_a_record(raw: bytes) -> bool:
    """Whether the JSON Lines reader reads a record from this line (it skips blank ones)."""
    if raw.strip():
        return bool(decode_lenient(raw)[0].strip())
    return False


class _CsvCutter:
    """Keeps the lines read since the last cut, and cuts where the reader allows it."""

    def __init__(self, file: str, handle: IO[bytes], size: int) -> None:
        self.file, self.size = file, size
        self.numbered = enumerate(handle, start=1)
        self.lines: list[bytes] = []
        self.first = 1  # the number of the first line kept
        self.read = 0  # lines read so far
        self.records = 0  # records since the last cut
        self.head: bytes | None = None
        self.ready: deque[Piece] = deque()

    def feed(self) -> Iterator[tuple[int, bytes]]:
        for number, raw in self.numbered:
            self.lines.append(raw)
            self.read = number
            yield number, raw

    def row_starts(self, header_read: bool) -> None:
        if not header_read:
            return
        if self.head is None:  # the header row has just ended
            self.head = b"".join(self.lines)
        if self.records >= self.size:
            self.cut()

    def cut(self) -> None:
        body = b"".join(self.lines)
        head = self.head if self.first > 1 and self.head is not None else b""
        self.ready.append(Piece("csv", self.file, self.first, body, head, self.records))
        self.lines, self.first, self.records = [], self.read + 1, 0


def _csv_pieces(file: str, handle: IO[bytes], size: int) -> Iterator[Piece]:
    cutter = _CsvCutter(file, handle, size)
    for _record in read_csv_lines(file, cutter.feed(), cutter.row_starts):
        cutter.records += 1
        while len(cutter.ready) > 1:  # the last is held back: blank lines may follow it
            yield cutter.ready.popleft()
    cutter.cut()
    last = cutter.ready.pop()
    if cutter.ready and last.records == 0:  # only blank lines after the last cut: no piece
        before = cutter.ready.pop()
        last = Piece(
            "csv", file, before.first_line, before.body + last.body, before.head, before.records
        )
    yield from cutter.ready
    yield last
