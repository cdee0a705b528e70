"""Reading case files: YAML, JSON, JSON Lines and CSV, one record per case.

Readers never stop at a bad record. Each yields :class:`RawRecord` items in input order, carrying
either the raw mapping or the reason it could not be read, and always where it came from
(``file:line``), so a batch writes exactly one output record per input record.

JSON Lines and CSV are read as streams; YAML and JSON documents are read whole.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .case import Case
from .errors import InputError, Problem, describe_validation_error
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


def _text(raw: bytes, file: str, line: int) -> str | RawRecord:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return RawRecord(
            file, line, error=f"not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        )


def _read_yaml(file: str, handle: io.BufferedReader) -> Iterator[RawRecord]:
    text = _text(handle.read(), file, 1)
    if isinstance(text, RawRecord):
        yield text
        return
    try:
        data, lines = load_with_lines(text)
    except YamlSyntaxError as exc:
        yield RawRecord(file, exc.line or 1, error=str(exc))
        return
    if data is None:
        yield RawRecord(file, 1, error="the file holds no case")
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield RawRecord(file, lines.line_of((index,)) or 1, item, lines=_sub(lines, index))
    else:
        yield RawRecord(file, 1, data, lines=lines)


def _sub(lines: LineMap, index: int) -> LineMap:
    """The line map of one item of a top-level list."""
    return LineMap({k[1:]: v for k, v in lines.lines.items() if k[:1] == (index,)})


def _read_json(file: str, handle: io.BufferedReader) -> Iterator[RawRecord]:
    text = _text(handle.read(), file, 1)
    if isinstance(text, RawRecord):
        yield text
        return
    decoder = json.JSONDecoder()
    start = _skip_space(text, 0)
    if start < len(text) and text[start] == "[":
        yield from _json_array(file, text, start + 1, decoder)
        return
    try:
        data, end = decoder.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        yield RawRecord(file, exc.lineno, error=f"invalid JSON: {exc.msg} (column {exc.colno})")
        return
    if _skip_space(text, end) != len(text):
        yield RawRecord(file, _line_at(text, end), error="invalid JSON: extra data after the case")
        return
    yield RawRecord(file, _line_at(text, start), data)


def _json_array(file: str, text: str, pos: int, decoder: json.JSONDecoder) -> Iterator[RawRecord]:
    """Decode array items one by one so each record knows its line, and a bad one stops only itself."""
    while True:
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == "]":
            return
        try:
            item, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield RawRecord(
                file,
                exc.lineno,
                error=f"invalid JSON: {exc.msg} (column {exc.colno}); "
                "the rest of the array cannot be read",
            )
            return
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


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _read_jsonl(file: str, handle: io.BufferedReader) -> Iterator[RawRecord]:
    for number, raw in enumerate(handle, start=1):
        text = _text(raw, file, number)
        if isinstance(text, RawRecord):
            yield text
            continue
        if not text.strip():
            continue
        try:
            yield RawRecord(file, number, json.loads(text))
        except json.JSONDecodeError as exc:
            yield RawRecord(file, number, error=f"invalid JSON: {exc.msg} (column {exc.colno})")
        except RecursionError:
            yield RawRecord(file, number, error="invalid JSON: nested too deeply")


def _read_csv(file: str, handle: io.BufferedReader) -> Iterator[RawRecord]:
    stream = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    try:
        yield from _csv_rows(file, csv.reader(stream))
    finally:
        stream.detach()  # the caller closes the underlying file


def _csv_rows(file: str, reader: Any) -> Iterator[RawRecord]:
    try:
        header = next(reader)
    except StopIteration:
        return
    except (UnicodeDecodeError, csv.Error) as exc:
        yield RawRecord(file, 1, error=f"cannot read the CSV header: {exc}")
        return
    header = [h.strip() for h in header]
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            yield RawRecord(
                file, line, error=f"not UTF-8 text (byte {exc.start}); save the file as UTF-8"
            )
            return
        except csv.Error as exc:
            yield RawRecord(file, line, error=f"invalid CSV: {exc}")
            continue
        if not any(cell.strip() for cell in row):
            continue
        yield _csv_record(file, line, header, row)


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
    for column, cell in zip(header, row, strict=True):
        cell = cell.strip()
        if not cell:
            continue  # an empty cell is unknown
        if column == "therapies":
            value: Any = _csv_therapies(cell)
            if isinstance(value, str):
                return RawRecord(file, line, error=f"therapies: {value}")
        elif column in _CSV_LISTS:
            value = [v.strip() for v in cell.split(";") if v.strip()]
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
        node[parts[-1]] = value
    return RawRecord(file, line, data)


def _csv_therapies(cell: str) -> list[dict[str, str]] | str:
    """``drug:outcome:months;...`` into therapy mappings, or a message saying what is wrong."""
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
    if record.error is not None:
        return ParsedCase(
            record.source, None, None, (Problem(record.error, "", record.file, record.line),)
        )
    data = record.data
    case_id = data.get("id") if isinstance(data, dict) else None
    case_id = str(case_id) if isinstance(case_id, str | int) else None
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
    except RecursionError:
        return ParsedCase(
            record.source,
            case_id,
            None,
            (Problem("nested too deeply", "", record.file, record.line),),
        )
