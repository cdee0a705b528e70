"""Screening worker processes: each compiles the catalog once and screens one case at a time.

durable_rules keeps its state per ruleset and holds the interpreter while it matches, so one
compiled catalog cannot serve concurrent requests. The service therefore keeps a pool of spawned
processes (no engine threads inherited through a fork); each compiles, at start-up, the catalog
the service loaded (sent as bytes with their SHA-256, as ``screen`` sends it to its workers, so a
worker restarted later screens with the same rules even if the files changed), and the event loop
hands it one case at a time and waits without blocking other requests. A worker also
appends the decision record to the audit log itself: the log is locked per append, so the
workers never chain two records to the same predecessor.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..batch.frozen import FrozenCatalog, freeze, thaw
from ..catalog import Catalog
from ..errors import Problem
from ..results import CaseResult


class PoolUnavailable(Exception):
    """A worker died while screening; the pool was restarted and the request may be retried."""


class ScreeningTimeout(Exception):
    """Screening took longer than the service's time limit."""


@dataclass(frozen=True)
class Job:
    """One case for a worker: contract case data, or a FHIR Bundle to import first."""

    data: Any
    source: str
    bundle: bool = False
    pseudonym: str | None = None
    """For a Bundle: the case id to use instead of the Patient's own (an EHR identifier)."""
    patient_id: str | None = None
    """The EHR's id of the patient, replaced by ``pseudonym`` wherever a message would quote it."""
    explain: bool = False


@dataclass(frozen=True)
class Outcome:
    """What a worker sends back: the result record, the explanation, or why there is none."""

    result: CaseResult
    problems: tuple[Problem, ...] = ()
    explanation: dict[str, Any] | None = None

    @property
    def screened(self) -> bool:
        return self.result.error is None


class ScreeningPool:
    """A pool of screening processes, restarted whole if one of them dies."""

    def __init__(self, catalog: Catalog, workers: int, audit_log: Path | None) -> None:
        self.frozen = freeze(catalog)
        self.workers = workers
        self.audit_log = audit_log
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> None:
        self._executor = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self.frozen, self.audit_log),
        )

    async def warm_up(self) -> None:
        """Start every worker now, so the first hook call does not wait for a rule compile."""
        await asyncio.gather(*(self._submit(_ping, 0.2) for _ in range(self.workers)))

    async def screen(self, job: Job, timeout: float) -> Outcome:
        """Screen one job in a worker; :class:`ScreeningTimeout` past ``timeout`` seconds."""
        try:
            outcome = await asyncio.wait_for(self._submit(_run_job, job), timeout)
        except TimeoutError:
            raise ScreeningTimeout(f"screening took longer than {timeout:g} s") from None
        assert isinstance(outcome, Outcome)
        return outcome

    async def _submit(self, function: Any, argument: Any) -> Any:
        executor = self._executor
        assert executor is not None, "the pool was not started"
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, function, argument)
        except BrokenProcessPool:
            if self._executor is executor:  # the first call to see it restarts it, once
                self.close()
                self.start()
            raise PoolUnavailable("a screening worker stopped; the pool was restarted") from None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


# --- in the worker ------------------------------------------------------------------------------

_audit_log: Path | None = None
_screener: Any = None  # this worker's Screener, built once at start-up


def _start_worker(frozen: FrozenCatalog, audit_log: Path | None) -> None:
    """Compile the service's catalog once for this worker; leave Ctrl-C to the main process."""
    global _audit_log, _screener
    import os
    import signal
    import threading

    from ..screening import Screener

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    _screener = Screener(thaw(frozen.data, frozen.digest))
    _audit_log = audit_log
    import fhir.resources.R4B.bundle  # noqa: F401 - the first hook call would pay this import


def _exit_with_parent(parent: int) -> None:
    """A killed service cannot stop its pool: each worker notices and exits on its own."""
    import os
    import time

    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _ping(delay: float) -> bool:
    """Hold the worker briefly, so that each warm-up ping starts a different worker."""
    import time

    time.sleep(delay)
    return True


def _run_job(job: Job) -> Outcome:
    from ..audit import AuditLog
    from ..batch import screen_parsed
    from ..explain import case_explanation

    screener = _screener
    assert screener is not None, "worker started without its screener"
    parsed = _parsed(job, screener.catalog)
    if isinstance(parsed, Outcome):
        return parsed
    result = screen_parsed(screener, parsed)
    if parsed.case is None:
        return Outcome(result, parsed.problems)
    if _audit_log is not None:
        AuditLog(_audit_log).append(result, parsed.case, screener.catalog)
    explanation = case_explanation(result, screener.catalog) if job.explain else None
    return Outcome(result, explanation=explanation)


def _parsed(job: Job, catalog: Catalog) -> Any:
    """The job's case parsed as ``screen`` parses a record; a Bundle is imported first."""
    import dataclasses

    from ..readers import RawRecord, parse_case

    if not job.bundle:
        return parse_case(RawRecord(job.source, 1, job.data), catalog)
    from ..fhir import BundleError, import_bundle

    try:
        imported = import_bundle(job.data, reference_date=dt.date.today(), catalog=catalog)
    except BundleError as exc:
        problems = tuple(
            Problem(_hidden(p.message, job), _hidden(p.field, job)) for p in exc.problems
        )
        error = "; ".join(str(p) for p in problems)
        return Outcome(CaseResult(case_id=job.pseudonym, source=job.source, error=error), problems)
    data = {**imported.data, "id": job.pseudonym or imported.case_id}
    parsed = parse_case(RawRecord(job.source, 1, data))
    warnings = tuple(_hidden(w, job) for w in imported.warnings())
    return dataclasses.replace(parsed, warnings=warnings)


def _hidden(text: str, job: Job) -> str:
    """``text`` with ``Patient/<EHR id>`` replaced by its pseudonym (import notes cite resources)."""
    if not job.patient_id or not job.pseudonym:
        return text
    return text.replace(f"Patient/{job.patient_id}", f"Patient/{job.pseudonym}")
