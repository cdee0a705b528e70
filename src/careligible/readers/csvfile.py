"""CSV case files: one row per case after a header naming dotted fields; ';' separates list items
and ``drug:outcome:months`` therapies. Read as a stream, decoded line by line."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from typing import IO, Any

from .records import RawRecord, no_case, not_utf8
from .text import decode_lenient


class _CsvLines:
    """The physical lines of a CSV file, for :func:`csv.reader`: decoded one by one, numbered.

    Decoding line by line lets one row with non-UTF-8 bytes fail alone. The lines of the current
    row can be handed back (:meth:`rewind`), so a quote left open on one row does not swallow
    every row after it. Lines come with their numbers, so a piece of a file (its header, then
    lines from further down) reads exactly as those lines read in the whole file.
    """

    def __init__(self, numbered: Iterator[tuple[int, bytes]]) -> None:
        self.numbered = numbered
        self.number = 0  # the last line handed out
        self.bad: dict[int, str] = {}
        self._row: list[tuple[int, str]] = []
        self._returned: list[tuple[int, str]] = []

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        if self._returned:
            self.number, text = self._returned.pop(0)
        else:
            self.number, raw = next(self.numbered)
            text, bad = decode_lenient(raw)
            if bad:
                self.bad[self.number] = bad[1]
        self._row.append((self.number, text))
        return text

    def start_row(self) -> None:
        """Begin a row."""
        self._row = []

    @property
    def row_start(self) -> int:
        """The number of the current row's first line."""
        return self._row[0][0] if self._row else self.number + 1

    @property
    def clean(self) -> bool:
        """No line was handed back: the next row starts on a line read for the first time."""
        return not self._returned

    def rewind(self) -> None:
        """Hand back every line of the current row but its first, to be read again."""
        self._returned[:0] = self._row[1:]
        self.number = self._row[0][0]
        self._row = self._row[:1]


def read_csv(file: str, handle: IO[bytes]) -> Iterator[RawRecord]:
    """Rows after the header, one record each; a header that cannot be used fails every row."""
    return read_csv_lines(file, enumerate(handle, start=1))


def read_csv_lines(
    file: str,
    numbered: Iterator[tuple[int, bytes]],
    row_starts: Callable[[bool], None] | None = None,
) -> Iterator[RawRecord]:
    """The records of CSV lines given with their numbers (the header's first).

    ``row_starts`` is called whenever a row is about to begin on a line not read before (no
    line handed back), with whether the header has been read: cutting the file before that line
    leaves every row on either side read as in the whole file.
    """
    lines = _CsvLines(numbered)
    reader = csv.reader(lines)
    header: list[str] | None = None
    header_line = 1
    header_problem: str | None = None
    found = False
    while True:
        lines.start_row()
        if row_starts is not None and lines.clean:
            row_starts(header is not None)
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            start = lines.row_start
            if header is None:
                header, header_line = [], start
                header_problem = f"cannot read the CSV header (line {start}): {_csv_problem(exc)}"
            else:
                found = True
                yield RawRecord(file, start, error=f"invalid CSV: {_csv_problem(exc)}")
            continue
        if not any(cell.strip() for cell in row):
            continue
        start, end = lines.row_start, lines.number
        undecodable = min((n for n in lines.bad if start <= n <= end), default=None)
        if header is None:
            header, header_line = [h.strip() for h in row], start
            if undecodable is not None:
                header_problem = (
                    f"cannot read the CSV header (line {start}): not UTF-8 text "
                    f"({lines.bad[undecodable]}); save the file as UTF-8"
                )
            else:
                header_problem = _header_problem(header)
            continue
        found = True
        if header_problem is not None:
            yield RawRecord(file, start, error=header_problem)
        elif end > start and len(row) != len(header):
            lines.rewind()
            yield RawRecord(
                file,
                start,
                error=f"unbalanced quote: a quoted cell opened on this line runs on to line {end}, "
                f"so the row has {len(row)} cell(s) where the header has {len(header)}; "
                'check the quotes (")',
            )
        elif undecodable is not None:
            column = next(
                (
                    header[i] if i < len(header) else f"column {i + 1}"
                    for i, cell in enumerate(row)
                    if "\ufffd" in cell
                ),
                None,
            )
            yield not_utf8(file, undecodable, lines.bad[undecodable], column)
        else:
            yield csv_record(file, start, header, row)
    if not found:
        yield (
            RawRecord(file, header_line, error=header_problem) if header_problem else no_case(file)
        )


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"a cell is longer than {csv.field_size_limit()} characters"
    return str(exc)


def _header_problem(header: list[str]) -> str | None:
    """What makes every row unreadable, when the header names a column twice."""
    seen: dict[str, int] = {}
    for index, name in enumerate(header, start=1):
        if name and name in seen:
            return f"column '{name}' appears twice in the header (columns {seen[name]} and {index})"
        seen.setdefault(name, index)
    return None


#: CSV columns whose cells hold ';'-separated lists.
_CSV_LISTS = {
    "scores.bilag_a",
    "scores.bilag_b",
    "overlap",
    "organ_damage.irreversible",
    "history.other_neuromuscular",
}


def csv_record(file: str, line: int, header: list[str], row: list[str]) -> RawRecord:
    """One row as a record, its cells named by ``header``; also how Parquet rows are read."""
    if len(row) != len(header):
        return RawRecord(
            file, line, error=f"row has {len(row)} cells but the header has {len(header)}"
        )
    data: dict[str, Any] = {}
    for number, (column, cell) in enumerate(zip(header, row, strict=True), start=1):
        cell = cell.strip()
        if not cell:
            continue  # an empty cell is unknown
        if not column:
            return RawRecord(file, line, error=f"column {number} has a value but no name")
        if column == "therapies":
            value: Any = _csv_therapies(cell)
            if isinstance(value, str):
                return RawRecord(file, line, error=f"therapies: {value}")
        elif column in _CSV_LISTS:
            value = [v.strip() for v in cell.split(";") if v.strip()]
            if not value:
                return RawRecord(file, line, error=_only_separators(column))
        else:
            value = cell
        node = data
        parts = column.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                return RawRecord(
                    file, line, error=f"column '{column}' clashes with column '{part}'"
                )
            node = child
        if isinstance(node.get(parts[-1]), dict):
            return RawRecord(file, line, error=f"column '{column}' clashes with columns under it")
        node[parts[-1]] = value
    return RawRecord(file, line, data)


def _only_separators(column: str) -> str:
    """A cell of ';' alone is neither a list nor unknown: refused rather than read as empty."""
    return (
        f"{column}: the cell holds only separators (';'); leave it empty when unknown, "
        "or name the items"
    )


def _csv_therapies(cell: str) -> list[dict[str, str]] | str:
    """``drug:outcome:months;...`` into therapy mappings, or a message saying what is wrong.

    A cell of separators only (``;;;``) would otherwise read as "no prior therapy"."""
    if not cell.replace(";", "").strip():
        return _only_separators("therapies").removeprefix("therapies: ")
    items = []
    for number, part in enumerate((p.strip() for p in cell.split(";") if p.strip()), start=1):
        pieces = [p.strip() for p in part.split(":")]
        if len(pieces) > 3 or not pieces[0]:
            return f"item {number} '{part}' is not drug:outcome:months"
        item = {"drug": pieces[0]}
        if len(pieces) > 1 and pieces[1]:
            item["outcome"] = pieces[1]
        if len(pieces) > 2 and pieces[2]:
            item["months"] = pieces[2]
        items.append(item)
    return items
