"""The records of a batch, parsed, and each screened into exactly one result.

A bad record becomes a result whose ``error`` says what is wrong and where; it never stops the
batch. Duplicate case ids are errors too, because results are looked up by id. So is a fault while
screening one case (an engine error, a bug): that case's record says so and the batch goes on.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..catalog import Catalog
from ..errors import CareligibleError, Problem
from ..readers import ParsedCase, parsed_records
from ..results import CaseResult
from ..screening import Screener

if TYPE_CHECKING:
    import sqlite3

#: Longest exception message an error record carries: enough to say what failed, not a dump.
MESSAGE_LIMIT = 200


def parsed_cases(paths: Iterable[Path], catalog: Catalog | None = None) -> Iterator[ParsedCase]:
    """Every record of every file (or patient of a bulk export directory), validated, with
    duplicate ids turned into errors; FHIR is imported with ``catalog``'s mapping."""
    with SeenIds() as seen:
        for path in paths:
            for file, line, parsed in parsed_records(path, catalog):
                if parsed.case is not None:
                    earlier = seen.first_seen(parsed.case.id, parsed.source)
                    if earlier is not None:
                        parsed = duplicate(parsed.case.id, file, line, earlier)
                yield parsed


def duplicate(case_id: str, file: str, line: int, earlier: str) -> ParsedCase:
    """The record at ``file:line`` as an error: its case id was first seen at ``earlier``."""
    problem = Problem(f"duplicate case id '{case_id}' (first at {earlier})", "id", file, line)
    return ParsedCase(f"{file}:{line}", case_id, None, (problem,))


class SeenIds:
    """Every case id of a batch and where it first appeared, in memory that stays flat.

    The first ``in_memory`` ids are kept in a dict; beyond that they move to a temporary SQLite
    file with a small page cache, so a batch of millions of cases needs no more memory than
    one of thousands. The file holds a digest of each id, not the id, and is deleted on close.
    """

    def __init__(self, in_memory: int = 10_000) -> None:
        self._limit = in_memory
        self._ids: dict[str, str] = {}
        self._spill: tempfile.TemporaryDirectory[str] | None = None
        self._db: sqlite3.Connection | None = None

    def __enter__(self) -> SeenIds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def first_seen(self, case_id: str, source: str) -> str | None:
        """Where ``case_id`` first appeared, or None (and remember ``source``) when it is new."""
        earlier = self._ids.get(case_id)
        if earlier is not None:
            return earlier
        if self._db is None and len(self._ids) < self._limit:
            self._ids[case_id] = source
            return None
        db = self._db or self._open()
        digest = hashlib.blake2b(case_id.encode(), digest_size=16).digest()
        if db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (digest, source)).rowcount:
            return None
        row = db.execute("SELECT source FROM seen WHERE digest = ?", (digest,)).fetchone()
        return str(row[0])

    def _open(self) -> sqlite3.Connection:
        import sqlite3  # only a batch of more than ``in_memory`` ids needs it

        self._spill = tempfile.TemporaryDirectory(prefix="careligible-ids-")
        db = sqlite3.connect(Path(self._spill.name) / "seen.db")
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -256")  # KiB; the operating system caches the file too
        db.execute("CREATE TABLE seen (digest BLOB PRIMARY KEY, source TEXT) WITHOUT ROWID")
        self._db = db
        return db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._spill is not None:
            self._spill.cleanup()
            self._spill = None


def screen_parsed(screener: Screener, parsed: ParsedCase) -> CaseResult:
    """The one result of one record: its verdicts, or an error saying why there are none."""
    if parsed.case is None:
        return CaseResult(case_id=parsed.case_id, source=parsed.source, error=parsed.error)
    try:
        result = screener.screen(parsed.case, parsed.source)
    except Exception as exc:  # one case's fault must not cost the rest of the batch
        return unscreened(parsed, f"could not be screened: {describe(exc)}")
    if parsed.warnings:  # what the input held that the case could not take, e.g. from FHIR
        result = result.model_copy(update={"warnings": [*parsed.warnings, *result.warnings]})
    return result


def unscreened(parsed: ParsedCase, error: str) -> CaseResult:
    """The error record of a record left unscreened; one that did not parse keeps its own error."""
    return CaseResult(case_id=parsed.case_id, source=parsed.source, error=parsed.error or error)


def describe(exc: BaseException) -> str:
    """One line naming an exception: our own errors by their message, others by type too.

    Engine errors never carry case data (the engine module sees to that); other messages are
    cut short, since a library may put a whole value into one.
    """
    first = str(exc).splitlines()[0] if str(exc) else ""
    if len(first) > MESSAGE_LIMIT:
        first = first[: MESSAGE_LIMIT - 1] + "…"
    if isinstance(exc, CareligibleError):
        return first
    return f"internal error ({type(exc).__name__}{': ' + first if first else ''})"
