"""Screening over a Dask cluster: pieces of the input out to the workers, records back in order.

``screen --scheduler tcp://host:port`` uses a running Dask scheduler and its workers;
``--scheduler local:N`` starts a :class:`distributed.LocalCluster` of N worker processes for the
run. This process (the client) cuts every input file into pieces of whole records
(:mod:`careligible.readers.pieces`), sends each piece's bytes to a worker, and gathers the encoded
records back in input order, at most a few pieces per worker ahead. A FHIR bulk export is grouped
here, by patient, into pieces of patients' resource lines (:mod:`careligible.readers.bulk`): the
grouping needs the whole export in one place, the import of each patient does not. The workers
run :func:`.partition.screen_piece`: they read (or import), validate, screen and encode, which is
where the time goes. The catalog is scattered to every worker once, as bytes with their SHA-256,
and a worker refuses bytes that do not match.

What a local run finds across the whole batch is found here too: duplicate case ids, in input
order, from the ids the workers send back. So the records are the same as with ``--jobs``.

Nothing a piece needs lives only on a worker: the piece travels inside its task, and the
catalog is the result of a task that holds its bytes, so the scheduler can run either again
when the worker that held it dies (data *scattered* to a worker would die with it, and every
piece that needed it with it). When a worker dies, Dask runs its pieces again elsewhere; a piece
whose workers keep dying is given up by the scheduler (``KilledWorker``), and its records are
written as errors, as with ``--jobs``. A scheduler that goes away (noticed within
:data:`POLL` seconds of the client losing it), or a cluster left with no worker for
:data:`NO_WORKERS_FOR` seconds, ends the run with :class:`~careligible.batch.pool.WorkersLost`.

This is the only module that imports Dask; it is imported only when ``--scheduler`` is given.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path

import dask
from distributed import Client, Future, KilledWorker, LocalCluster
from distributed.client import FutureCancelledError

from ..catalog import Catalog
from ..readers import ParsedCase, format_of
from ..readers.bulk import bundle_pieces
from ..readers.pieces import pieces
from ..results import CaseResult
from ..screening import Screener
from ..writers import encoder
from .cases import SeenIds, describe, duplicate, unscreened
from .frozen import CatalogRefused, freeze
from .partition import AnyPiece, Reply, local_workers, piece_cases, screen_piece
from .pool import ATTEMPTS, WorkersLost
from .stream import Screened, outcome

#: Records per piece unless ``--partition-size`` says otherwise.
PIECE = 1000

#: Pieces in flight per worker: one being screened, one ready to start.
IN_FLIGHT = 2

#: Seconds to reach a scheduler, and for the first worker to join it.
CONNECT_WITHIN = 30.0

#: Seconds the cluster may have no worker at all before the run gives up on it.
NO_WORKERS_FOR = 60.0

#: Seconds between two looks at the cluster while a piece is being screened.
POLL = 1.0

Event = Callable[[str], None]


def cluster_stream(
    paths: Iterable[Path],
    screener: Screener,
    scheduler: str,
    fmt: str,
    keep: bool,
    size: int = PIECE,
    on_event: Event = lambda _: None,
) -> Generator[Screened, None, None]:
    """Every record of ``paths`` screened on the cluster at ``scheduler``, in input order.

    Each outcome carries the piece it came from (:attr:`Screened.part`), numbered from 0 across
    all the files. Raises :class:`WorkersLost` when the cluster cannot be reached or lost.
    """
    with _quiet_dask(), _client(scheduler) as client, SeenIds() as seen:
        gather = _Gather(client, scheduler, screener, fmt, keep, seen)
        yield from gather.run(_all_pieces(paths, size, screener.catalog))


def _all_pieces(paths: Iterable[Path], size: int, catalog: Catalog) -> Iterator[AnyPiece]:
    """The pieces of every input in order: a directory is a bulk export, grouped here."""
    for path in paths:
        if path.is_dir():
            yield from bundle_pieces(path, catalog, size)
        else:
            yield from pieces(path, format_of(path), size)


class _Gather:
    """Submits pieces a few ahead and hands back their records in input order."""

    def __init__(
        self,
        client: Client,
        scheduler: str,
        screener: Screener,
        fmt: str,
        keep: bool,
        seen: SeenIds,
    ) -> None:
        self.client, self.scheduler, self.seen = client, scheduler, seen
        self.fmt, self.keep = fmt, keep
        self.population = screener.population
        self.criteria = screener.criteria
        self.encode = encoder(fmt, screener.catalog.version, self.population)
        self.rules = screener.catalog  # for reading records here, as the workers read them
        self.frozen = freeze(screener.catalog)
        with self._reaching():
            # A task, not scattered data: its result can be computed again if its worker dies.
            self.catalog = client.submit(_held, self.frozen.data, pure=False)
            self.window = IN_FLIGHT * max(1, len(_workers(client)))

    def run(self, items: Iterator[AnyPiece]) -> Iterator[Screened]:
        flight: deque[tuple[int, AnyPiece, Future[list[Reply]]]] = deque()
        numbers = iter(range(1 << 62))
        try:
            while True:
                while len(flight) < self.window and (piece := next(items, None)) is not None:
                    flight.append((next(numbers), piece, self._submit(piece)))
                if not flight:
                    return
                number, piece, future = flight.popleft()
                yield from self._records(number, piece, future)
        finally:
            for _, _, future in flight:
                future.cancel()

    def _submit(self, piece: AnyPiece) -> Future[list[Reply]]:
        """The piece goes inside its task, so the scheduler can give it to another worker."""
        self._check_connected()
        digest = self.frozen.digest
        with self._reaching():
            return self.client.submit(
                screen_piece,
                piece,
                self.catalog,
                digest,
                self.fmt,
                self.keep,
                self.population,
                self.criteria,
                pure=False,
            )

    @contextlib.contextmanager
    def _reaching(self) -> Iterator[None]:
        """A failure to talk to the scheduler is the loss of the scheduler, said so."""
        try:
            yield
        except OSError as exc:
            raise WorkersLost(f"lost the scheduler at {self.scheduler} ({exc})") from None

    def _check_connected(self) -> None:
        """A client that has lost its scheduler tries to reconnect, but the pieces it had
        sent are gone with the scheduler's memory: the run cannot go on."""
        if self.client.status != "running":
            raise WorkersLost(f"lost the scheduler at {self.scheduler}")

    def _records(
        self, number: int, piece: AnyPiece, future: Future[list[Reply]]
    ) -> Iterator[Screened]:
        try:
            replies: list[Reply] = self._result(future)
        except KilledWorker:
            reason = "not screened: every Dask worker that took it was lost"
            yield from self._unscreened(number, piece, reason)
            return
        except CatalogRefused as exc:
            raise WorkersLost(f"a Dask worker refused the catalog: {exc}") from None
        except (WorkersLost, FutureCancelledError):
            raise
        except Exception as exc:  # the work itself failed: that piece's records say so
            yield from self._unscreened(number, piece, f"not screened: {describe(exc)}")
            return
        for line, case_id, failed, text, kept in replies:
            source = f"{piece.file}:{line}"
            earlier = self.seen.first_seen(case_id, source) if case_id is not None else None
            if case_id is not None and earlier is not None:
                parsed = duplicate(case_id, piece.file, line, earlier)
                yield self._part(number, outcome(parsed, unscreened(parsed, ""), self.encode, True))
                continue
            result = CaseResult.model_validate_json(kept) if kept else None
            yield Screened(ParsedCase(source, case_id, None), failed, text, result, number)

    def _part(self, number: int, item: Screened) -> Screened:
        keep = self.keep or self.encode is None or self.population
        return Screened(item.parsed, item.failed, item.text, item.result if keep else None, number)

    def _result(self, future: Future[list[Reply]]) -> list[Reply]:
        """The piece's replies, watching meanwhile that the cluster still has workers.

        The wait is on an event the future sets when it is done, never on ``result(timeout)``:
        a timeout that ran out just as the piece finished would be taken for the piece's own
        failure, and Dask's timed wait can itself fail at that moment.
        """
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        alone_since: float | None = None
        while not done.wait(POLL):
            self._check_connected()
            with self._reaching():
                workers = _workers(self.client)
            if workers:
                alone_since = None
            elif alone_since is None:
                alone_since = time.monotonic()
            elif time.monotonic() - alone_since > NO_WORKERS_FOR:
                raise WorkersLost(
                    f"the scheduler at {self.scheduler} has had no worker for "
                    f"{NO_WORKERS_FOR:.0f} s"
                )
        try:
            replies: list[Reply] = future.result()
            return replies
        except FutureCancelledError:
            raise WorkersLost(f"lost the scheduler at {self.scheduler}") from None
        except OSError as exc:
            if future.status == "error":  # the work itself raised it
                raise
            raise WorkersLost(f"lost the scheduler at {self.scheduler} ({exc})") from None

    def _unscreened(self, number: int, piece: AnyPiece, reason: str) -> Iterator[Screened]:
        """The records of a piece that was not screened, each an error record, read here
        (a bulk export's patients imported here) as the workers would have read them."""
        for line, parsed in piece_cases(piece, self.rules):
            if parsed.case is not None:
                earlier = self.seen.first_seen(parsed.case.id, parsed.source)
                if earlier is not None:
                    parsed = duplicate(parsed.case.id, piece.file, line, earlier)
            yield self._part(number, outcome(parsed, unscreened(parsed, reason), self.encode, True))


def _held(data: bytes) -> bytes:
    """The catalog's bytes, as the result of a task the scheduler can run again."""
    return data


def _workers(client: Client) -> dict[str, object]:
    workers: dict[str, object] = client.scheduler_info()["workers"]
    return workers


@contextlib.contextmanager
def _client(scheduler: str) -> Iterator[Client]:
    """A client of the cluster at ``scheduler``, or of a local cluster started for the run,
    with at least one worker; everything it started is stopped on the way out."""
    count = local_workers(scheduler)
    with contextlib.ExitStack() as stack:
        try:
            if count is not None:
                with dask.config.set({"distributed.scheduler.allowed-failures": ATTEMPTS - 1}):
                    cluster = LocalCluster(
                        n_workers=count,
                        threads_per_worker=1,
                        processes=True,
                        # No dashboard; the scheduler's web routes (health, metrics) on any
                        # free port: with None it would take 8787, and clash with another
                        # cluster's dashboard there.
                        dashboard_address=":0",
                        scheduler_kwargs={"dashboard": False},
                        silence_logs=logging.CRITICAL,
                    )
                stack.callback(cluster.close)
                client = Client(cluster)
            else:
                client = Client(scheduler, timeout=CONNECT_WITHIN)
            stack.callback(client.close)
            client.wait_for_workers(1, timeout=CONNECT_WITHIN)
        except (OSError, TimeoutError) as exc:
            raise WorkersLost(f"cannot reach the scheduler at {scheduler} ({exc})") from None
        yield client


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Keep Dask's own log lines and warnings off stderr: a run ends with one line of ours,
    or none.

    Dask configures a level on many of its loggers (``distributed.client`` among them), so
    raising the level of one would leave the others talking; this process logs nothing of its
    own while the cluster runs, so logging is switched off altogether, and back on afterwards.
    """
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)
