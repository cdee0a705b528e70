"""The one text-decoding policy of every case reader.

Text must be UTF-8; a leading byte order mark is dropped. Bytes that are not UTF-8 (Latin-1 or
Windows-1252 accents) are never guessed at, because a wrongly decoded accent changes a word
silently. In a case file the record holding them becomes an error naming the line, the byte and,
when it can be found, the field, and the other records are read as usual
(:func:`decode_lenient`); a rule file is refused whole at that line (:func:`decode_utf8`).
Rule files must also be regular files of bounded size (:func:`read_rule_bytes`).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import dotted
from ..yamlsource import YamlSyntaxError
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


def holds(data: Any, test: Callable[[Any], bool]) -> bool:
    """Whether any key or value in ``data`` passes ``test``: :func:`path_where` without the
    paths, which cost most of a walk. Every record is checked and almost none fails, so a caller
    asks this first and looks for the path only when there is one."""
    stack: list[Any] = [data]
    while stack:
        value = stack.pop()
        if test(value):
            return True
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and test(key):
                    return True
                stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)
    return False


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


def decode_utf8(raw: bytes) -> str:
    """A rule or case file's text. A byte order mark is dropped; bytes that are not UTF-8 are a
    located error, never guessed at (a Latin-1 "é" would otherwise become a different word)."""
    raw = raw.removeprefix(BOM)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        raise YamlSyntaxError(
            f"not UTF-8 text (byte {exc.start - line_start + 1} of the line is "
            f"0x{raw[exc.start]:02x}); save the file as UTF-8",
            raw.count(b"\n", 0, exc.start) + 1,
        ) from None


#: Largest rule or vocabulary file read; the shipped ones are under 100 kB.
MAX_RULE_FILE_BYTES = 5 * 1024 * 1024


def read_rule_bytes(path: Path) -> bytes:
    """The bytes of a rule file, which must be a regular file of at most
    :data:`MAX_RULE_FILE_BYTES`; raises :class:`OSError` (with ``strerror``) otherwise.

    A FIFO named ``x.yaml`` would block a reader forever, and a device (``/dev/zero``) never
    ends: the file is opened without blocking and checked before a byte is read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a FIFO, socket or device)")
        if info.st_size > MAX_RULE_FILE_BYTES:
            raise OSError(errno.EFBIG, f"larger than {MAX_RULE_FILE_BYTES // (1024 * 1024)} MB")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(MAX_RULE_FILE_BYTES + 1)
    finally:
        os.close(fd)


def read_rule_text(path: Path) -> str:
    """A rule file's text (:func:`read_rule_bytes`, then :func:`decode_utf8`)."""
    return decode_utf8(read_rule_bytes(path))


def shown_path(path: Path) -> str:
    """A file name as records and messages carry it. On POSIX a name may hold bytes that are not
    UTF-8, which Python keeps as lone surrogates; they could not be written to any output, so
    they are shown as escapes (``\\xff``)."""
    text = str(path)
    if not any("\udc80" <= char <= "\udcff" for char in text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
