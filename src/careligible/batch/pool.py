"""Worker processes that a batch outlives: a worker that dies is replaced and its chunks redone.

A long batch loses a worker sooner or later: the kernel's out-of-memory killer, a container limit,
an operator's ``kill``. The pool gives every worker its own pair of pipes and knows which chunks
each holds, so when a worker's process ends (its sentinel becomes ready, which takes no polling)
the main process reads what the worker did send, starts a replacement with the same start-up
arguments, and hands the chunks it still held to the next free worker. The chunk the worker was on
is blamed; a chunk blamed :data:`ATTEMPTS` times is given up as :class:`Lost`, so one case that
kills every worker costs its chunk, not the run. When workers die one after another with nothing
finished in between, the cause is not one chunk and :class:`WorkersLost` ends the run.

The main thread never blocks on one worker: it waits on every result pipe and every process at
once, and each worker drains its task pipe from a thread of its own, so neither side can fill the
other's pipe while waiting for it to be read.
"""

from __future__ import annotations

import contextlib
import heapq
import multiprocessing
import queue
import signal
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar

from ..errors import CareligibleError

#: Chunks in flight per worker: enough to hide the hand-over, few enough to bound memory.
IN_FLIGHT = 2

#: Deaths of the worker screening one chunk after which the chunk is given up.
ATTEMPTS = 3

#: Seconds a worker gets to exit once told to, before it is killed.
GRACE = 5.0

T = TypeVar("T")
R = TypeVar("R")


class WorkersLost(CareligibleError):
    """Workers kept dying with nothing finished in between: the run cannot go on."""


@dataclass(frozen=True)
class Lost:
    """A chunk given up on: every worker that took it died, or the work itself failed."""

    reason: str


@dataclass(eq=False)
class _Chunk(Generic[T]):
    number: int
    payload: T
    deaths: int = 0
    done: bool = False
    outcome: Any = None

    def __lt__(self, other: _Chunk[T]) -> bool:  # waiting chunks go out in input order
        return self.number < other.number


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    tasks: Connection
    results: Connection
    held: deque[_Chunk[Any]] = field(default_factory=deque)
    ready: bool = False


class WorkerPool(Generic[T, R]):
    """``jobs`` processes running ``work`` on chunks, each started by ``start(*start_args)``.

    ``start``, ``work`` and every argument must be picklable (module-level functions): workers are
    spawned, never forked, so no engine thread or lock of the main process is inherited.
    ``on_event`` hears, one line at a time, that a worker was lost and what became of its chunks;
    ``label`` names a chunk in those lines.
    """

    def __init__(
        self,
        jobs: int,
        start: Callable[..., None],
        start_args: tuple[Any, ...],
        work: Callable[[T], R],
        on_event: Callable[[str], None],
        label: Callable[[T], str] = lambda _: "a chunk",
    ) -> None:
        self._jobs = jobs
        self._target_args = (start, start_args, work)
        self._on_event = on_event
        self._label = label
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._waiting: list[_Chunk[T]] = []  # a heap: the earliest chunk goes out first
        self._deaths_in_a_row = 0
        self._numbers = 0  # the number the next chunk read gets

    def __enter__(self) -> WorkerPool[T, R]:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        self.close(graceful=kind is None)

    def map(self, payloads: Iterable[T]) -> Iterator[R | Lost]:
        """Each payload's outcome, in the order given; at most ``jobs * IN_FLIGHT`` read ahead."""
        items = iter(payloads)
        window: deque[_Chunk[T]] = deque()
        started = [self._spawn() for _ in range(self._jobs - len(self._workers))]
        for worker in started:  # all started first, so that they get ready side by side
            self._boot(worker)
        while True:
            # Finished chunks leave the window before it is refilled: one wait can finish every
            # chunk in it (a redone first chunk is often the last to finish), and a window
            # refilled first would then be emptied with nothing left in flight to wait for.
            while window and window[0].done:
                yield window.popleft().outcome
            self._fill(window, items)
            if not window:
                return
            self._dispatch()
            self._wait()

    def _fill(self, window: deque[_Chunk[T]], items: Iterator[T]) -> None:
        """Read payloads ahead until ``jobs * IN_FLIGHT`` unfinished chunks are in the window."""
        while len(window) < self._jobs * IN_FLIGHT:
            try:
                payload = next(items)
            except StopIteration:
                return
            chunk = _Chunk(self._numbers, payload)
            self._numbers += 1
            window.append(chunk)
            heapq.heappush(self._waiting, chunk)

    def close(self, graceful: bool = True) -> None:
        """Stop every worker and reap it: asked to finish when all went well, ended otherwise."""
        for worker in self._workers:
            worker.tasks.close()  # a worker whose task pipe ends exits
            if not graceful and worker.process.is_alive():
                worker.process.terminate()
        for worker in self._workers:
            worker.process.join(GRACE)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.results.close()
        self._workers = []

    def _spawn(self) -> _Worker:
        """Start one worker process, which waits for :meth:`_boot` to say how to start."""
        task_reader, task_writer = self._context.Pipe(duplex=False)
        result_reader, result_writer = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_worker_main, args=(task_reader, result_writer), daemon=True
        )
        try:
            with warnings.catch_warnings():
                # multiprocessing restarts its resource tracker if that process was killed too;
                # the pool keeps no resource it tracks, so nothing can leak.
                warnings.filterwarnings("ignore", "resource_tracker: process died unexpectedly")
                process.start()
        except OSError as exc:
            raise WorkersLost(f"cannot start a worker process ({exc.strerror or exc})") from None
        finally:
            task_reader.close()  # the worker's ends: once it dies, its pipes read as closed
            result_writer.close()
        worker = _Worker(process, task_writer, result_reader)
        self._workers.append(worker)
        return worker

    def _boot(self, worker: _Worker) -> None:
        """Send a worker its start-up arguments, the same for every replacement.

        They go through the pool's own pipe, not multiprocessing's: that one is written while
        the main process still holds its reading end, so a worker dying as it starts would leave
        the write blocked for ever. On this pipe such a death is an error at once.
        """
        with contextlib.suppress(OSError):  # it died: its sentinel says so at the next wait
            worker.tasks.send(self._target_args)

    def _dispatch(self) -> None:
        """Give waiting chunks, earliest first, to the ready workers holding the fewest."""
        while self._waiting:
            ready = [w for w in self._workers if w.ready and len(w.held) < IN_FLIGHT]
            if not ready:
                return
            worker = min(ready, key=lambda w: len(w.held))
            chunk = heapq.heappop(self._waiting)
            worker.held.append(chunk)
            try:
                worker.tasks.send((chunk.number, chunk.payload))
            except OSError:  # it died: its sentinel says so at the next wait
                return

    def _wait(self) -> None:
        """Handle whatever the workers said, and every worker that ended, at least one of them."""
        if not any(w.held or not w.ready for w in self._workers):
            # Nothing in flight and no worker starting: no message could ever come. A bug, but
            # one that must end the run, not hang it.
            raise RuntimeError("the worker pool would wait with no chunk in flight")
        by_handle: dict[Any, _Worker] = {}
        for worker in self._workers:
            by_handle[worker.results] = worker
            by_handle[worker.process.sentinel] = worker
        ended: list[_Worker] = []
        for handle in wait(list(by_handle)):
            worker = by_handle[handle]
            if handle is worker.results:
                if not self._receive(worker) and worker not in ended:
                    ended.append(worker)
            elif worker not in ended:
                ended.append(worker)
        for worker in ended:
            self._replace(worker)

    def _receive(self, worker: _Worker) -> bool:
        """Read one message from ``worker``; False when its pipe has closed."""
        try:
            message = worker.results.recv()
        except (EOFError, OSError):
            return False
        if message[0] == "ready":
            worker.ready = True
        elif message[0] == "failed":
            raise WorkersLost(f"a worker process could not start: {message[1]}")
        else:
            _, number, outcome = message
            chunk = worker.held.popleft()
            assert chunk.number == number, "a worker answered out of turn"
            chunk.done = True
            chunk.outcome = Lost(outcome) if message[0] == "error" else outcome
            self._deaths_in_a_row = 0
        return True

    def _replace(self, worker: _Worker) -> None:
        """Take back what an ended worker held, blame the chunk it was on, start another."""
        while worker.results.poll() and self._receive(worker):
            pass  # what it finished before it died still counts
        worker.process.join()
        self._workers.remove(worker)
        worker.tasks.close()
        worker.results.close()
        cause = _cause(worker.process.exitcode)
        self._deaths_in_a_row += 1
        if self._deaths_in_a_row > ATTEMPTS * self._jobs:
            raise WorkersLost(
                f"{self._deaths_in_a_row} worker processes in a row ended ({cause}) "
                "with no chunk finished in between"
            )
        if worker.held:
            self._requeue(worker.held, cause)
        else:
            self._on_event(f"a worker process {cause}; a new one takes its place")
        self._boot(self._spawn())

    def _requeue(self, held: deque[_Chunk[T]], cause: str) -> None:
        current = held[0]
        current.deaths += 1
        names = self._label(current.payload)
        if current.deaths >= ATTEMPTS:
            held.popleft()
            current.done = True
            current.outcome = Lost(
                f"not screened: the worker screening it was lost {ATTEMPTS} times "
                f"(the last one {cause})"
            )
            self._on_event(
                f"a worker process {cause} while screening {names}, the {ATTEMPTS}th to end "
                "there; those records are written as errors"
            )
        else:
            self._on_event(
                f"a worker process {cause} while screening {names}; a new one screens them again"
            )
        for chunk in held:
            heapq.heappush(self._waiting, chunk)


def _cause(exitcode: int | None) -> str:
    """How a process ended, in words: 'was killed by SIGKILL', 'exited with status 1'."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


def _worker_main(tasks: Connection, results: Connection) -> None:
    """A worker's life: learn how to start and what to do, start, then work until told to stop.

    Ctrl-C is left to the main process, which stops the pool. A failure of the work itself is
    reported as that chunk's outcome rather than by dying, so it is not mistaken for a lost worker.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        start, start_args, work = tasks.recv()
    except (EOFError, OSError):
        return  # the main process is gone, or stopped before this worker was needed
    inbox: queue.SimpleQueue[tuple[int, Any] | None] = queue.SimpleQueue()
    threading.Thread(target=_drain, args=(tasks, inbox), daemon=True).start()
    try:
        start(*start_args)
    except Exception as exc:
        results.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    results.send(("ready",))
    while (task := inbox.get()) is not None:
        number, payload = task
        try:
            results.send(("done", number, work(payload)))
        except (BrokenPipeError, EOFError):
            return  # the main process is gone
        except Exception as exc:
            message = f"not screened: internal error ({type(exc).__name__})"
            try:
                results.send(("error", number, message))
            except OSError:
                return


def _drain(tasks: Connection, inbox: queue.SimpleQueue[tuple[int, Any] | None]) -> None:
    """Read tasks as they come, so the main process never waits for this worker to read."""
    try:
        while True:
            inbox.put(tasks.recv())
    except (EOFError, OSError):
        inbox.put(None)  # the main process closed the pipe, or is gone
