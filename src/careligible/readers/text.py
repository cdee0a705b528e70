"""The one text-decoding policy of every case reader.

Text must be UTF-8; a leading byte order mark is dropped. Bytes that are not UTF-8 (Latin-1 or
Windows-1252 accents) are never guessed at: the record holding them becomes an error naming the
line, the byte and, when it can be found, the field, and the other records are read as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..errors import dotted
from .records import RawRecord, not_utf8

BOM = b"\xef\xbb\xbf"


def decode_lenient(raw: bytes) -> tuple[str, dict[int, str]]:
    """The text of ``raw``, and which lines hold bytes that are not UTF-8 (line -> the byte).

    Undecodable bytes become U+FFFD so the rest of a document can still be parsed and every record
    judged on its own; :func:`flag_undecodable` then turns the records holding them into errors.
    A leading UTF-8 byte order mark is dropped.
    """
    raw = raw.removeprefix(BOM)
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


def flag_undecodable(records: list[RawRecord], bad: dict[int, str]) -> Iterator[RawRecord]:
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
            field = replaced_field(record.data) if record.error is None else None
            yield not_utf8(record.file, hit, bad[hit], field)


def replaced_field(data: Any) -> str | None:
    """The field holding a replacement character (an undecodable byte), if any."""
    path = path_where(data, lambda value: isinstance(value, str) and "\ufffd" in value)
    return None if path is None else dotted(path) or None


def path_where(data: Any, test: Callable[[Any], bool]) -> tuple[int | str, ...] | None:
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
