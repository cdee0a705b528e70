"""Reading case files: YAML, JSON, JSON Lines and CSV, one record per case.

Readers never stop at a bad record. Each yields :class:`RawRecord` items in input order, carrying
either the raw mapping or the reason it could not be read, and always where it came from
(``file:line``), so a batch writes exactly one output record per input record.

JSON Lines and CSV are read as streams; YAML and JSON documents are read whole.

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

import csv
import dataclasses
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .case import Case, id_problem
from .errors import InputError, Problem, describe_validation_error, dotted, show
from .yamlsource import LineMap, YamlSyntaxError, load_with_lines

FORMATS = {
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
}


@dataclass(frozen=True)
class RawRecord:
    """One input record before validation."""

    file: str
    line: int
    data: Any = None
    error: str | None = None
    lines: LineMap | None = None  # where each field stands, for YAML

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class ParsedCase:
    """A record after validation: a case, or the problems that stopped it."""

    source: str
    case_id: str | None
    case: Case | None
    problems: tuple[Problem, ...] = ()
    warnings: tuple[str, ...] = ()  # e.g. what a FHIR Bundle held that the case could not take

    @property
    def error(self) -> str | None:
        return "; ".join(str(p) for p in self.problems) if self.problems else None


def format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"{path}: unknown case file type '{path.suffix}'; use {', '.join(sorted(FORMATS))}"
        )
    return fmt


def read_records(path: Path) -> Iterator[RawRecord]:
    """Every record of a case file, in order. Raises :class:`InputError` if the file is unreadable."""
    fmt = format_of(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror}") from None
    with handle:
        yield from _READERS[fmt](str(path), handle)


def _no_case(file: str) -> RawRecord:
    return RawRecord(file, 1, error="the file holds no case")


_BOM = b"\xef\xbb\xbf"


def _decode(raw: bytes) -> tuple[str, dict[int, str]]:
    """The text of ``raw``, and which lines hold bytes that are not UTF-8 (line -> the byte).

    Undecodable bytes become U+FFFD so the rest of a document can still be parsed and every record
    judged on its own; :func:`_flag_undecodable` then turns the records holding them into errors.
    A leading UTF-8 byte order mark is dropped.
    """
    raw = raw.removeprefix(_BOM)
    try:
        return raw.decode("utf-8"), {}
    except UnicodeDecodeError:
        pass
    bad = {}
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad[number] = f"byte {exc.start + 1} of the line is 0x{line[exc.start]:02x}"
    return raw.decode("utf-8", errors="replace"), bad


def _not_utf8(file: str, line: int, which: str, field: str | None) -> RawRecord:
    where = f"{field}: " if field else ""
    return RawRecord(file, line, error=f"{where}not UTF-8 text ({which}); save the file as UTF-8")


def _flag_undecodable(records: list[RawRecord], bad: dict[int, str]) -> Iterator[RawRecord]:
    """Turn every record whose lines hold bytes that are not UTF-8 into an error naming them.

    Record ``i`` owns the lines from its own first line to the line before the next record's
    (the first record also owns the lines above it), so no undecodable byte passes unreported.
    """
    for index, record in enumerate(records):
        if not bad:
            yield record
            continue
        low = 1 if index == 0 else record.line
        high = max(low, records[index + 1].line - 1) if index + 1 < len(records) else None
        hit = min((n for n in bad if low <= n and (high is None or n <= high)), default=None)
        if hit is None:
            yield record
        else:
            field = _replaced_field(record.data) if record.error is None else None
            yield _not_utf8(record.file, hit, bad[hit], field)


def _replaced_field(data: Any) -> str | None:
    """The field holding a replacement character (an undecodable byte), if any."""
    path = _path_where(data, lambda value: isinstance(value, str) and "\ufffd" in value)
    return None if path is None else dotted(path) or None


def _path_where(data: Any, test: Callable[[Any], bool]) -> tuple[int | str, ...] | None:
    """The path of the first key or value in ``data`` (depth first) that passes ``test``."""
    stack: list[tuple[tuple[int | str, ...], Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if test(value):
            return path
        if isinstance(value, dict):
            for key, item in reversed(value.items()):
                child = (*path, key if isinstance(key, int | str) else str(key))
                if isinstance(key, str) and test(key):
                    return child
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend(((*path, i), item) for i, item in reversed(list(enumerate(value))))
    return None


def _read_yaml(file: str, handle: io.BufferedReader) -> Iterator[RawRecord]:
    text, bad = _decode(handle.read())
    yield from _flag_undecodable(list(_yaml_records(file, text)), bad)


def _yaml_records(file: str, text: str) -> Iterator[RawRecord]:
    if not text.strip():  # blank, tabs included (which YAML would call a syntax error)
        yield _no_case(file)
        return
    try:
        data, lines = load_with_lines(text)
    except YamlSyntaxError as exc:
        yield RawRecord(file, exc.line or 1, error=str(exc))
        return
    if data is None or data == []:
        yield _no_case(file)
    elif isinstance(data, list):
        # The line map of each item, split off in one pass: a list may hold thousands of cases.
        items: dict[int, LineMap] = {}
        for key, line in lines.lines.items():
            if key and isinstance(key[0], int):
                items.setdefault(key[0], LineMap()).lines[key[1:]] = line
        for index, item in enumerate(data):
            yield RawRecord(file, lines.line_of((index,)) or 1, item, lines=items.get(index))
    else:
        yield RawRecord(file, 1, data, lines=lines)


def _parse_int(digits: str) -> int | float:
    """A JSON integer; one too long for Python to convert becomes +/-inf, out of every range."""
    try:
        return int(digits)
    except ValueError:
        return float(digits)


class _Duplicated(dict[str, Any]):
    """A JSON object that names a key twice; ``key`` is the first such key."""

    key = ""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object. A key written twice marks it (:class:`_Duplicated`), and its record is
    refused as YAML refuses one: JSON would keep the last value silently, so one of two
    conflicting facts would vanish. Marking, not raising, lets the rest of an array be read."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result and not isinstance(result, _Duplicated):
            result = _Duplicated(result)
            result.key = key
        result[key] = value
    return result


#: Decodes JSON numbers of any length without Python's int-string conversion limit error, and
#: refuses duplicate keys.
_JSON = json.JSONDecoder(parse_int=_parse_int, object_pairs_hook=_object)


def _json_failure(file: str, line: int, exc: ValueError | RecursionError) -> RawRecord:
    """A record for JSON that cannot be decoded; ``line`` is where the value began."""
    if isinstance(exc, json.JSONDecodeError):
        return RawRecord(
            file, line + exc.lineno - 1, error=f"invalid JSON: {exc.msg} (column {exc.colno})"
        )
    if isinstance(exc, RecursionError):
        return RawRecord(file, line, error="invalid JSON: nested too deeply")
    return RawRecord(file, line, error=f"invalid JSON: {exc}")


def _read_json(file: str, handle: io.BufferedReader) -> Iterator[RawRecord]:
    text, bad = _decode(handle.read())
    yield from _flag_undecodable(list(_json_records(file, text)), bad)


def _json_records(file: str, text: str) -> Iterator[RawRecord]:
    start = _skip_space(text, 0)
    if start == len(text):
        yield _no_case(file)
        return
    if text[start] == "[":
        yield from _json_array(file, text, start + 1)
        return
    try:
        data, end = _JSON.raw_decode(text, start)
    except (ValueError, RecursionError) as exc:
        line = 1 if isinstance(exc, json.JSONDecodeError) else _line_at(text, start)
        yield _json_failure(file, line, exc)
        return
    if _skip_space(text, end) != len(text):
        yield RawRecord(file, _line_at(text, end), error="invalid JSON: extra data after the case")
        return
    yield RawRecord(file, _line_at(text, start), data)


def _json_array(file: str, text: str, pos: int) -> Iterator[RawRecord]:
    """Decode array items one by one so each record knows its line, and a bad one stops only itself."""
    count = 0
    while True:
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == "]":
            break
        try:
            item, end = _JSON.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            line = 1 if isinstance(exc, json.JSONDecodeError) else _line_at(text, pos)
            failure = _json_failure(file, line, exc)
            yield RawRecord(
                file, failure.line, error=f"{failure.error}; the rest of the array cannot be read"
            )
            return
        count += 1
        yield RawRecord(file, _line_at(text, pos), item)
        pos = _skip_space(text, end)
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos >= len(text) or text[pos] != "]":
            yield RawRecord(
                file,
                _line_at(text, pos),
                error="invalid JSON: expected ',' or ']' "
                "after a case; the rest of the array cannot be read",
            )
            return
    after = _skip_space(text, pos + 1)
    if after != len(text):
        yield RawRecord(
            file, _line_at(text, after), error="invalid JSON: extra data after the list of cases"
        )
    elif count == 0:
        yield _no_case(file)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _read_jsonl(file: str, handle: io.BufferedReader) -> Iterator[RawRecord]:
    found = False
    for number, raw in enumerate(handle, start=1):
        text, bad = _decode(raw)
        text = text.rstrip("\r\n")  # so a decoding error's line number is always 1
        if not text.strip():
            continue
        found = True
        try:
            record = RawRecord(file, number, _JSON.decode(text))
        except (ValueError, RecursionError) as exc:
            record = _json_failure(file, number, exc)
        yield from _flag_undecodable([record], {number: bad[1]} if bad else {})
    if not found:
        yield _no_case(file)


class _CsvLines:
    """The physical lines of a CSV file, for :func:`csv.reader`: decoded one by one, numbered.

    Decoding line by line lets one row with non-UTF-8 bytes fail alone. The lines of the current
    row can be handed back (:meth:`rewind`), so a quote left open on one row does not swallow
    every row after it.
    """

    def __init__(self, handle: io.BufferedReader) -> None:
        self.handle = handle
        self.number = 0  # the last line handed out
        self.bad: dict[int, str] = {}
        self._row: list[str] = []
        self._returned: list[str] = []

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        if self._returned:
            text = self._returned.pop(0)
        else:
            text, bad = _decode(next(self.handle))
            if bad:
                self.bad[self.number + 1] = bad[1]
        self.number += 1
        self._row.append(text)
        return text

    def start_row(self) -> int:
        """Begin a row; returns the number of its first line."""
        self._row = []
        return self.number + 1

    def rewind(self) -> None:
        """Hand back every line of the current row but its first, to be read again."""
        self._returned[:0] = self._row[1:]
        self.number -= len(self._row) - 1
        self._row = self._row[:1]


def _read_csv(file: str, handle: io.BufferedReader) -> Iterator[RawRecord]:
    """Rows after the header, one record each; a header that cannot be used fails every row."""
    lines = _CsvLines(handle)
    reader = csv.reader(lines)
    header: list[str] | None = None
    header_line = 1
    header_problem: str | None = None
    found = False
    while True:
        start = lines.start_row()
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if header is None:
                header, header_line = [], start
                header_problem = f"cannot read the CSV header (line {start}): {_csv_problem(exc)}"
            else:
                found = True
                yield RawRecord(file, start, error=f"invalid CSV: {_csv_problem(exc)}")
            continue
        if not any(cell.strip() for cell in row):
            continue
        end = lines.number
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
            yield _not_utf8(file, undecodable, lines.bad[undecodable], column)
        else:
            yield _csv_record(file, start, header, row)
    if not found:
        yield (
            RawRecord(file, header_line, error=header_problem) if header_problem else _no_case(file)
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


def _csv_record(file: str, line: int, header: list[str], row: list[str]) -> RawRecord:
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


_READERS = {"yaml": _read_yaml, "json": _read_json, "jsonl": _read_jsonl, "csv": _read_csv}


def parse_case(record: RawRecord) -> ParsedCase:
    """Validate a raw record against the case model; problems name file, line and field."""
    try:
        return _parse_case(record)
    except RecursionError:  # a deeply nested value, while validating or describing it
        problem = Problem("nested too deeply", "", record.file, record.line)
        return ParsedCase(record.source, None, None, (problem,))


def _parse_case(record: RawRecord) -> ParsedCase:
    if record.error is not None:
        return ParsedCase(
            record.source, None, None, (Problem(record.error, "", record.file, record.line),)
        )
    data = record.data
    if isinstance(data, dict) and "resourceType" in data:  # FHIR: a Bundle, or a clear error
        return _parse_bundle(record)
    case_id = data.get("id") if isinstance(data, dict) else None
    case_id = str(case_id) if isinstance(case_id, str | int) else None
    if case_id is not None and (len(case_id) > 128 or id_problem(case_id)):
        case_id = None  # not an id the model accepts; never echo it
    # A lone surrogate (JSON "\ud800") is not text: it cannot be written as UTF-8 and would
    # crash every output, so its record is refused here, naming the field.
    surrogate = _path_where(data, _has_surrogate)
    if surrogate is not None:
        return ParsedCase(record.source, case_id, None, (_not_text(record, surrogate),))
    twice = _path_where(data, lambda value: isinstance(value, _Duplicated))
    if twice is not None:
        return ParsedCase(record.source, case_id, None, (_duplicate_key(record, data, twice),))
    if not isinstance(data, dict):
        return ParsedCase(
            record.source,
            None,
            None,
            (Problem("a case must be a mapping of fields", "", record.file, record.line),),
        )
    try:
        return ParsedCase(record.source, case_id, Case.model_validate(data))
    except ValidationError as exc:
        problems = []
        for problem in describe_validation_error(exc, Case):
            line = record.line
            if record.lines is not None:
                line = record.lines.line_of(problem.loc) or record.line
            problems.append(Problem(problem.message, problem.field, record.file, line))
        return ParsedCase(record.source, case_id, None, tuple(problems))


def _has_surrogate(value: Any) -> bool:
    return isinstance(value, str) and any("\ud800" <= char <= "\udfff" for char in value)


def _duplicate_key(record: RawRecord, data: Any, path: tuple[int | str, ...]) -> Problem:
    mapping = data
    for part in path:
        mapping = mapping[part]
    return Problem(f"duplicate key {show(mapping.key)}", dotted(path), record.file, record.line)


def _not_text(record: RawRecord, path: tuple[int | str, ...]) -> Problem:
    line = record.lines.line_of(path) if record.lines is not None else None
    message = "holds a lone surrogate (an escape such as \\ud800), which is not text"
    return Problem(message, dotted(path), record.file, line or record.line)


def _parse_bundle(record: RawRecord) -> ParsedCase:
    """A FHIR Bundle becomes its patient's case; what it could not map becomes warnings."""
    from .fhir import BundleError, import_bundle

    try:
        imported = import_bundle(record.data, fallback_id=Path(record.file).stem[:128])
    except BundleError as exc:
        problems = tuple(
            Problem(p.message, p.field, record.file, record.line) for p in exc.problems
        )
        return ParsedCase(record.source, None, None, problems)
    parsed = _parse_case(RawRecord(record.file, record.line, imported.data))
    return dataclasses.replace(parsed, warnings=tuple(imported.warnings()))
