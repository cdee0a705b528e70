"""YAML case files: one case, or a list of cases, each record knowing its line and its fields'."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from ..yamlsource import LineMap, YamlSyntaxError, load_with_lines
from .records import RawRecord, no_case
from .text import decode_lenient, flag_undecodable


def read_yaml(file: str, handle: IO[bytes]) -> Iterator[RawRecord]:
    text, bad = decode_lenient(handle.read())
    yield from flag_undecodable(list(_yaml_records(file, text)), bad)


def _yaml_records(file: str, text: str) -> Iterator[RawRecord]:
    if not text.strip():  # blank, tabs included (which YAML would call a syntax error)
        yield no_case(file)
        return
    try:
        data, lines = load_with_lines(text)
    except YamlSyntaxError as exc:
        yield RawRecord(file, exc.line or 1, error=str(exc))
        return
    if data is None or data == []:
        yield no_case(file)
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
