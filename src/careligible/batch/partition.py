"""Screening one piece of the input where it lands: bytes of records in, encoded records out.

:func:`screen_piece` is a plain function of plain values, so any engine that maps a function over
partitions can run it: the Dask workers of ``screen --scheduler``, or Spark executors through
``mapInPandas`` (docs/distributed.md). It knows nothing of either. It reads, validates, screens
and encodes each record exactly as a local run does (:mod:`.cases`, :mod:`.stream`), so the records
are the same to the byte, and returns them in input order.

The catalog arrives as bytes with their SHA-256 (:mod:`.frozen`): bytes that do not match are
refused. A process keeps the screener of the last catalog it loaded, so the catalog is unpickled
once per process, not once per piece.

A piece is a :class:`~careligible.readers.pieces.Piece` of a case file, or a
:class:`~careligible.readers.bulk.BundlePiece` of a FHIR bulk export: patients whose lines were
grouped by whoever cut the export, imported here with the catalog's FHIR mapping, the same import
as a local run's.

What this function cannot see is the rest of the batch: a case id that is also used in another
piece. Each reply therefore names the id of every record that parsed, and whoever gathers the
pieces finds the duplicates in input order, as a local run does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..catalog import Catalog
from ..readers import ParsedCase, parse_case
from ..readers.bulk import BundlePiece, read_bundle_piece
from ..readers.pieces import Piece, read_piece
from ..screening import Screener
from ..writers import encoder
from .cases import screen_parsed
from .frozen import thaw
from .stream import Screened, kept_json, outcome

#: Per record: (line, case id when the record parsed, failed, encoded record, result JSON when kept).
Reply = tuple[int, str | None, bool, str | None, str | None]

#: What a worker is given to screen: records of a case file, or patients of a bulk export.
AnyPiece = Piece | BundlePiece


@dataclass
class _Loaded:
    data: bytes
    digest: str
    population: bool
    criteria: bool
    screener: Screener


_loaded: _Loaded | None = None


def screener_for(
    catalog: bytes, digest: str, population: bool = False, criteria: bool = True
) -> Screener:
    """A screener of the catalog in ``catalog``, checked against ``digest`` the first time
    (``population``: with the pre-filter of :mod:`careligible.population`)."""
    global _loaded
    last = _loaded
    if (
        last is not None
        and last.digest == digest
        and last.population == population
        and last.criteria == criteria
        and (last.data is catalog or last.data == catalog)
    ):
        return last.screener
    screener = Screener(thaw(catalog, digest), population=population, criteria=criteria)
    _loaded = _Loaded(catalog, digest, population, criteria, screener)
    return screener


def screen_piece(
    piece: AnyPiece,
    catalog: bytes,
    digest: str,
    fmt: str,
    keep: bool,
    population: bool = False,
    criteria: bool = True,
) -> list[Reply]:
    """Every record of ``piece`` screened with the catalog in ``catalog`` and encoded as ``fmt``
    (a format whose records are encoded apart, or ``"table"`` for the result alone);
    ``population`` screens as ``screen --population`` does; ``criteria=False`` leaves out each
    criterion's detail, for a format that names criteria by id only.

    With ``keep`` (or a format that is not encoded apart) each reply also carries the result as
    JSON, for a caller that must read it. Raises
    :class:`~careligible.batch.frozen.CatalogRefused` when ``catalog`` does not match ``digest``.
    """
    screener = screener_for(catalog, digest, population, criteria)
    encode = encoder(fmt, screener.catalog.version, population)
    replies: list[Reply] = []
    for line, parsed in piece_cases(piece, screener.catalog):
        done: Screened = outcome(parsed, screen_parsed(screener, parsed), encode, True)
        assert done.result is not None
        kept = kept_json(done.result, keep or encode is None, population)
        case_id = parsed.case.id if parsed.case is not None else None
        replies.append((line, case_id, done.failed, done.text, kept))
    return replies


def piece_cases(piece: AnyPiece, catalog: Catalog) -> Iterator[tuple[int, ParsedCase]]:
    """``(line, parsed case)`` per record of ``piece``, validated (and FHIR imported with
    ``catalog``'s mapping) exactly as a local run reads the whole input."""
    if isinstance(piece, BundlePiece):
        yield from read_bundle_piece(piece, catalog)
        return
    for record in read_piece(piece):
        yield record.line, parse_case(record, catalog)


def local_workers(scheduler: str) -> int | None:
    """N for ``local:N``; None for the address of a running scheduler."""
    if not scheduler.startswith("local:"):
        return None
    count = scheduler.removeprefix("local:")
    if not count.isdigit() or int(count) < 1:
        raise ValueError(f"--scheduler {scheduler}: expected local:N with N at least 1")
    return int(count)
