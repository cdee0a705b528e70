"""JSON and JSON Lines case files. A JSON list is decoded item by item, so a bad item stops only
the rest of the list; JSON Lines are read as a stream, one record a line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from .records import RawRecord, no_case
from .text import decode_lenient, flag_undecodable


def _parse_int(digits: str) -> int | float:
    """A JSON integer; one too long for Python to convert becomes +/-inf, out of every range."""
    try:
        return int(digits)
    except ValueError:
        return float(digits)


class Duplicated(dict[str, Any]):
    """A JSON object that names a key twice; ``key`` is the first such key."""

    key = ""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object. A key written twice marks it (:class:`Duplicated`), and its record is
    refused as YAML refuses one: JSON would keep the last value silently, so one of two
    conflicting facts would vanish. Marking, not raising, lets the rest of an array be read."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result and not isinstance(result, Duplicated):
            result = Duplicated(result)
            result.key = key
        result[key] = value
    return result


#: Decodes JSON numbers of any length without Python's int-string conversion limit error, and
#: refuses duplicate keys.
_JSON = json.JSONDecoder(parse_int=_parse_int, object_pairs_hook=_object)


def decode_json(text: str) -> Any:
    """One JSON document, decoded as the case files are: a key written twice marks its object
    (:class:`Duplicated`, refused by :func:`~careligible.readers.parse_case`), and an integer
    of any length is read. Raises :class:`json.JSONDecodeError` or :class:`RecursionError`."""
    return _JSON.decode(text)


def _json_failure(file: str, line: int, exc: ValueError | RecursionError) -> RawRecord:
    """A record for JSON that cannot be decoded; ``line`` is where the value began."""
    if isinstance(exc, json.JSONDecodeError):
        return RawRecord(
            file, line + exc.lineno - 1, error=f"invalid JSON: {exc.msg} (column {exc.colno})"
        )
    if isinstance(exc, RecursionError):
        return RawRecord(file, line, error="invalid JSON: nested too deeply")
    return RawRecord(file, line, error=f"invalid JSON: {exc}")


def read_json(file: str, handle: IO[bytes]) -> Iterator[RawRecord]:
    text, bad = decode_lenient(handle.read())
    yield from flag_undecodable(list(_json_records(file, text)), bad)


def _json_records(file: str, text: str) -> Iterator[RawRecord]:
    start = _skip_space(text, 0)
    if start == len(text):
        yield no_case(file)
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
        yield no_case(file)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def read_jsonl(file: str, handle: IO[bytes], start: int = 1) -> Iterator[RawRecord]:
    """One record a line; ``start`` is the number of the first line (a piece of a larger file)."""
    found = False
    for number, raw in enumerate(handle, start=start):
        text, bad = decode_lenient(raw)
        text = text.rstrip("\r\n")  # so a decoding error's line number is always 1
        if not text.strip():
            continue
        found = True
        try:
            record = RawRecord(file, number, _JSON.decode(text))
        except (ValueError, RecursionError) as exc:
            record = _json_failure(file, number, exc)
        yield from flag_undecodable([record], {number: bad[1]} if bad else {})
    if not found:
        yield no_case(file)
