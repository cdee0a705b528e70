"""A whole batch run: read, screen, write and log every record, and count those with errors.

This is the loop behind ``careligible screen``; the command line only parses options, opens the
destination and turns what this raises into an exit status. A failure to write (a full disk, a
file size limit) raises :class:`OutputFailed` naming the output, never a bare ``OSError``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CareligibleError
from ..screening import Screener
from ..writers import EncodingWriter, Writer, encoder
from .cases import parsed_cases
from .stream import Screened, screen_stream

if TYPE_CHECKING:
    from ..audit import AuditLog
    from ..registry.sites import Area


class OutputFailed(CareligibleError):
    """The results or the audit log could not be written."""


@dataclass
class Batch:
    """What a run reads, how it screens and logs, and how it reports as it goes."""

    paths: Iterable[Path]
    screener: Screener
    fmt: str
    jobs: int
    audit_log: AuditLog | None = None
    include_case: bool = False
    area: Area | None = None
    """Keep only trials with a recruiting site there (``--country``, ``--near``)."""
    on_event: Callable[[str], None] = lambda _: None
    scheduler: str | None = None
    """A Dask scheduler's address, or ``local:N``: screen there instead of in ``jobs`` processes."""
    piece_size: int = 1000
    """Records per piece of the input sent to a Dask worker."""
    progress: Callable[[Iterator[Screened]], Iterator[Screened]] = lambda items: items


def run_batch(batch: Batch, writer: Writer, where: str = "standard output") -> int:
    """Screen every record of ``batch`` and write each to ``writer`` (which writes to ``where``),
    in input order; return how many records had errors."""
    errors = 0
    encode = encoder(batch.fmt, batch.screener.catalog.version, batch.screener.population)
    keep = batch.audit_log is not None or batch.area is not None
    stream = _screened(batch, keep=keep)
    outcomes: Iterator[Screened] = stream
    if batch.area is not None:  # trials with a recruiting site in the area, nearest named
        from ..registry.sites import narrowed

        outcomes = narrowed(stream, batch.area, batch.screener.catalog, encode)
    start_part: Callable[[int], None] | None = getattr(writer, "start_part", None)
    with closing(stream):  # stops the workers at once, however the loop ends
        for item in batch.progress(outcomes):
            errors += item.failed
            if start_part is not None:  # a dataset: each piece of the input has a file of its own
                _written(where, partial(start_part, item.part))
            _written(where, partial(_write, writer, item))
            if batch.audit_log is not None:
                _logged(batch.audit_log, item, batch)
    _written(where, writer.close)
    return errors


def _screened(batch: Batch, keep: bool) -> Generator[Screened, None, None]:
    """The batch's outcomes in input order, from this machine's processes or a Dask cluster."""
    if batch.scheduler is None:
        encode = encoder(batch.fmt, batch.screener.catalog.version, batch.screener.population)
        parsed = parsed_cases(batch.paths, batch.screener.catalog)
        return screen_stream(parsed, batch.screener, batch.jobs, encode, keep, batch.on_event)
    from .cluster import cluster_stream  # Dask is imported only when asked for

    return cluster_stream(
        batch.paths,
        batch.screener,
        batch.scheduler,
        batch.fmt,
        keep,
        batch.piece_size,
        batch.on_event,
    )


def _write(writer: Writer, item: Screened) -> None:
    if item.text is not None:
        assert isinstance(writer, EncodingWriter)
        writer.write_encoded(item.text)
    else:
        assert item.result is not None
        writer.write(item.result)


def _written(where: str, write: Callable[[], None]) -> None:
    """Run ``write``; a closed pipe stays itself, any other failure becomes :class:`OutputFailed`."""
    try:
        write()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputFailed(f"{where}: cannot write the results ({_reason(exc)})") from None


def _logged(audit_log: AuditLog, item: Screened, batch: Batch) -> None:
    """Append a screened (non-error) case to the audit log. A case the population pre-filter
    stopped was screened against no trial: there is no decision to log, and a record of no
    verdicts would look reproduced to any later check."""
    if item.parsed.case is None or item.result is None or item.failed:
        return
    if item.result.prefilter is not None:
        return
    try:
        audit_log.append(item.result, item.parsed.case, batch.screener.catalog, batch.include_case)
    except OSError as exc:
        raise OutputFailed(
            f"{audit_log.path}: cannot append to the audit log ({_reason(exc)})"
        ) from None


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
