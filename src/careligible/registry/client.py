"""Fetching study records from the ClinicalTrials.gov API v2, politely.

httpx does the HTTP; this module adds what a registry client owes the registry and its user:
timeouts, a few retries with exponential back-off on transient failures (connection errors,
429 and 5xx, honouring ``Retry-After``), and a minimum interval between requests so that a pull
of the whole catalog stays well inside the registry's request rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx

from ..httpjson import json_answer

#: The registry's API root; ``CARELIGIBLE_REGISTRY_API`` (or ``--api``) points elsewhere.
API = "https://clinicaltrials.gov/api/v2"

#: Seconds between two requests: the registry asks clients to stay near 50 requests a minute.
MIN_INTERVAL = 1.5

#: Attempts per record before giving up; waits double from ``BACKOFF`` seconds.
ATTEMPTS = 4
BACKOFF = 2.0

_TRANSIENT = {429, 500, 502, 503, 504}


class RegistryError(Exception):
    """A record could not be fetched; the message says which and why."""


class RegistryClient:
    """Fetches one study record at a time; use as a context manager."""

    def __init__(
        self,
        api: str = API,
        *,
        timeout: float = 20.0,
        min_interval: float = MIN_INTERVAL,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api = api.rstrip("/")
        self.min_interval = min_interval
        self.attempts = attempts
        self.backoff = backoff
        self._sleep = sleep
        self._last = float("-inf")
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"Accept": "application/json", "User-Agent": "careligible (rule curation)"},
            transport=transport,
            follow_redirects=True,
        )

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._http.close()

    def study(self, nct_id: str) -> dict[str, Any]:
        """The record of ``nct_id`` as the registry's JSON; raise :class:`RegistryError`."""
        url = f"{self.api}/studies/{nct_id}"
        problem = ""
        for attempt in range(self.attempts):
            if attempt:
                self._sleep(self._wait(attempt, problem))
            self._pace()
            try:
                response = self._http.get(url, params={"format": "json"})
            except httpx.TimeoutException:
                problem = "timed out"
                continue
            except httpx.TransportError as exc:
                problem = f"cannot connect ({exc.__class__.__name__}: {exc})"
                continue
            if response.status_code in _TRANSIENT:
                problem = f"HTTP {response.status_code}"
                self._retry_after = response.headers.get("Retry-After")
                continue
            return self._decode(nct_id, response)
        raise RegistryError(f"{nct_id}: {url}: {problem} after {self.attempts} attempt(s)")

    def _decode(self, nct_id: str, response: httpx.Response) -> dict[str, Any]:
        if response.status_code == 404:
            raise RegistryError(f"{nct_id}: not found in the registry (HTTP 404)")
        return json_answer(
            response, "a study record", lambda why: RegistryError(f"{nct_id}: the registry {why}")
        )

    _retry_after: str | None = None

    def _wait(self, attempt: int, problem: str) -> float:
        """Seconds before the next attempt: the server's ``Retry-After`` when it gave one."""
        given, self._retry_after = self._retry_after, None
        if given is not None and given.strip().isdigit():
            return min(float(given), 120.0)
        return float(self.backoff * 2 ** (attempt - 1))

    def _pace(self) -> None:
        """Keep at least ``min_interval`` seconds between requests."""
        wait = self._last + self.min_interval - time.monotonic()
        if wait > 0:
            self._sleep(wait)
        self._last = time.monotonic()
