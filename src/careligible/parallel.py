"""Screening a batch over several processes, in input order, with bounded memory.

durable_rules holds the interpreter while it matches and fires, so one process screens one case at
a time; a batch is spread over worker processes instead. Each worker loads the catalog once and
screens chunks of parsed cases. A worker sends back what the main process needs and nothing more:
the record already encoded in the output format (a result object costs far more to send than its
text), and the result itself only when the main process must read it (the table format, the audit
log). At most a few chunks per worker are in flight, so a file larger than memory streams through.

Small batches are screened in the main process: starting workers costs more than they would save.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .batch import screen_parsed
from .catalog import load_catalog
from .memory import HeapKeeper
from .readers import ParsedCase
from .results import CaseResult
from .screening import Screener

#: Cases per task sent to a worker: large enough to amortise the hand-over, small enough to
#: keep every worker busy to the end of the batch.
CHUNK = 64

#: Chunks in flight per worker: enough to hide the hand-over, few enough to bound memory.
IN_FLIGHT = 2

#: Below this many cases a batch is screened in the main process.
MIN_PARALLEL = 2 * CHUNK

Encoder = Callable[[CaseResult], str]


@dataclass(frozen=True)
class Screened:
    """One input record's outcome: its encoded output record and, when asked for, the result."""

    parsed: ParsedCase
    failed: bool
    text: str | None
    result: CaseResult | None


def default_jobs() -> int:
    """Every core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def screen_stream(
    parsed: Iterable[ParsedCase],
    screener: Callable[[], Screener],
    rules_dir: Path | None,
    jobs: int,
    encode: Encoder | None,
    keep_results: bool,
) -> Iterator[Screened]:
    """Screen every parsed case, yielding outcomes in input order.

    ``screener`` builds the in-process screener (only called when one is needed); ``rules_dir`` is
    what workers load. ``encode`` turns a result into its output record; when it is None, or with
    ``keep_results``, each outcome also carries the result itself.
    """
    heap = HeapKeeper()
    items = iter(parsed)
    head = list(itertools.islice(items, MIN_PARALLEL))
    if jobs <= 1 or len(head) < MIN_PARALLEL:
        local = screener()
        for item in itertools.chain(head, items):
            yield _outcome(item, screen_parsed(local, item), encode, keep_results)
            heap.screened()
        return
    remote = _in_workers(itertools.chain(head, items), rules_dir, jobs, encode, keep_results)
    for outcome in remote:
        yield outcome
        heap.screened()


def _outcome(
    parsed: ParsedCase, result: CaseResult, encode: Encoder | None, keep: bool
) -> Screened:
    text = encode(result) if encode is not None else None
    return Screened(parsed, result.error is not None, text, result if keep or not encode else None)


def _in_workers(
    items: Iterator[ParsedCase],
    rules_dir: Path | None,
    jobs: int,
    encode: Encoder | None,
    keep: bool,
) -> Iterator[Screened]:
    context = multiprocessing.get_context("spawn")  # no engine threads inherited by a fork
    pending: deque[tuple[list[ParsedCase], Future[list[tuple[bool, str | None, str | None]]]]]
    pending = deque()
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_start_worker, initargs=(rules_dir,)
    ) as pool:
        try:
            while True:
                chunk = list(itertools.islice(items, CHUNK))
                if chunk:
                    pending.append((chunk, pool.submit(_screen_chunk, chunk, encode, keep)))
                while pending and (len(pending) >= jobs * IN_FLIGHT or not chunk):
                    sent, future = pending.popleft()
                    for parsed, (failed, text, kept) in zip(sent, future.result(), strict=True):
                        result = CaseResult.model_validate_json(kept) if kept else None
                        yield Screened(parsed, failed, text, result)
                if not chunk and not pending:
                    return
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


_worker: Screener | None = None


def _start_worker(rules_dir: Path | None) -> None:
    """Build this worker's screener; leave Ctrl-C to the main process, which stops the pool."""
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    _worker = Screener(load_catalog(rules_dir))


def _exit_with_parent(parent: int) -> None:
    """A killed main process cannot stop its pool: each worker notices and exits on its own."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _screen_chunk(
    chunk: list[ParsedCase], encode: Encoder | None, keep: bool
) -> list[tuple[bool, str | None, str | None]]:
    """Screen a chunk in a worker: per case, (failed, encoded record, result JSON if kept)."""
    assert _worker is not None, "worker started without its screener"
    out = []
    for parsed in chunk:
        result = screen_parsed(_worker, parsed)
        text = encode(result) if encode is not None else None
        kept = result.model_dump_json() if keep or encode is None else None
        out.append((result.error is not None, text, kept))
    return out
