"""Screening a stream of parsed cases, in input order, in this process or over worker processes.

durable_rules holds the interpreter while it matches and fires, so one process screens one case at
a time; a large batch is spread over worker processes instead (:mod:`.pool`). Every worker gets the
catalog of the main process as pickled bytes with their SHA-256, checks them and never reads the
rules directory: one run screens with one ruleset, even if its files change meanwhile, and a
replacement worker screens with the same one. A worker sends back what the main process needs and
nothing more: the record already encoded in the output format (a result object costs far more to
send than its text), and the result itself only when the main process must read it (the table
format, the audit log).

Small batches are screened in the main process: starting workers costs more than they would save.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass

from ..population import lean
from ..readers import ParsedCase
from ..results import CaseResult
from ..screening import Screener
from .cases import describe, screen_parsed, unscreened
from .frozen import freeze, thaw
from .memory import HeapKeeper
from .pool import Lost, WorkerPool

#: Cases per task sent to a worker: large enough to amortise the hand-over, small enough to
#: keep every worker busy to the end of the batch.
CHUNK = 64

#: Below this many cases a batch is screened in the main process.
MIN_PARALLEL = 2 * CHUNK

Encoder = Callable[[CaseResult], str]

#: What a worker returns per case: (failed, encoded record, result JSON when kept).
Reply = tuple[bool, str | None, str | None]


@dataclass(frozen=True)
class Screened:
    """One input record's outcome: its encoded output record and, when asked for, the result."""

    parsed: ParsedCase
    failed: bool
    text: str | None
    result: CaseResult | None
    part: int = 0
    """The piece of the input it came from, on a cluster (one output file each in a dataset)."""


def default_jobs() -> int:
    """Every core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def screen_stream(
    parsed: Iterable[ParsedCase],
    screener: Screener,
    jobs: int,
    encode: Encoder | None,
    keep_results: bool,
    on_event: Callable[[str], None] = lambda _: None,
) -> Generator[Screened, None, None]:
    """Screen every parsed case with ``screener``'s catalog, yielding outcomes in input order.

    ``encode`` turns a result into its output record; when it is None, or with ``keep_results``,
    each outcome also carries the result itself. ``on_event`` hears of lost workers.
    """
    heap = HeapKeeper()
    items = iter(parsed)
    head = list(itertools.islice(items, MIN_PARALLEL))
    rest = itertools.chain(head, items)
    if jobs <= 1 or len(head) < MIN_PARALLEL:
        keep = keep_results or screener.population  # a population run counts every result
        outcomes = (outcome(p, screen_parsed(screener, p), encode, keep) for p in rest)
    else:
        outcomes = _in_workers(rest, screener, jobs, encode, keep_results, on_event)
    with closing(outcomes):  # closing this stream stops its workers at once
        for item in outcomes:
            yield item
            heap.screened()


def outcome(parsed: ParsedCase, result: CaseResult, encode: Encoder | None, keep: bool) -> Screened:
    """Encode one result; a result that cannot be encoded becomes an error record that can."""
    try:
        text = encode(result) if encode is not None else None
    except Exception as exc:
        safe = (
            parsed.case_id.encode("utf-8", "backslashreplace").decode() if parsed.case_id else None
        )
        result = CaseResult(
            case_id=safe, source=parsed.source, error=f"could not be written: {describe(exc)}"
        )
        text = encode(result) if encode is not None else None
    return Screened(parsed, result.error is not None, text, result if keep or not encode else None)


def _in_workers(
    items: Iterator[ParsedCase],
    screener: Screener,
    jobs: int,
    encode: Encoder | None,
    keep: bool,
    on_event: Callable[[str], None],
) -> Generator[Screened, None, None]:
    frozen = freeze(screener.catalog)
    start_args = (
        frozen.data,
        frozen.digest,
        encode,
        keep,
        screener.population,
        screener.criteria,
    )
    sent: deque[list[ParsedCase]] = deque()  # what the pool was given, whose outcome is due

    def chunks() -> Iterator[list[ParsedCase]]:
        while chunk := list(itertools.islice(items, CHUNK)):
            sent.append(chunk)
            yield chunk

    with WorkerPool(jobs, _start_worker, start_args, _screen_chunk, on_event, _label) as pool:
        for replies in pool.map(chunks()):
            chunk = sent.popleft()
            if isinstance(replies, Lost):
                for parsed in chunk:
                    lost = unscreened(parsed, replies.reason)
                    yield outcome(parsed, lost, encode, keep or screener.population)
                continue
            for parsed, (failed, text, kept) in zip(chunk, replies, strict=True):
                result = CaseResult.model_validate_json(kept) if kept else None
                yield Screened(parsed, failed, text, result)


def kept_json(result: CaseResult, keep: bool, population: bool) -> str | None:
    """What a worker sends back of a result besides its record: all of it when the main process
    must read it (``keep``: the table, the audit log, an area), what a population run counts and
    lists when that is all it needs (:func:`careligible.population.lean`), else nothing."""
    if keep:
        return result.model_dump_json()
    return lean(result).model_dump_json() if population else None


def _label(chunk: list[ParsedCase]) -> str:
    """Name a chunk by the records it holds: paths and lines, never case data."""
    first, last = chunk[0].source, chunk[-1].source
    return f"records {first} to {last}" if first != last else f"record {first}"


_worker: Screener | None = None
_encode: Encoder | None = None
_keep = False


def _start_worker(
    frozen: bytes,
    digest: str,
    encode: Encoder | None,
    keep: bool,
    population: bool = False,
    criteria: bool = True,
) -> None:
    """Build this worker's screener from the main process's catalog, checked against its hash,
    screening as the main process's does (``population``: with the pre-filter; ``criteria``:
    gathering each criterion's detail, see :class:`~careligible.screening.Screener`)."""
    global _worker, _encode, _keep
    _worker = Screener(thaw(frozen, digest), population=population, criteria=criteria)
    _encode, _keep = encode, keep


def _screen_chunk(chunk: list[ParsedCase]) -> list[Reply]:
    """Screen a chunk in a worker: per case, (failed, encoded record, result JSON if kept)."""
    assert _worker is not None, "worker started without its screener"
    replies = []
    for parsed in chunk:
        done = outcome(parsed, screen_parsed(_worker, parsed), _encode, True)
        assert done.result is not None
        kept = kept_json(done.result, _keep or _encode is None, _worker.population)
        replies.append((done.failed, done.text, kept))
    return replies
