"""Load test of ``careligible serve``: concurrent ``patient-view`` calls, latency and throughput.

Method. Start the service as a subprocess on 127.0.0.1 (``--workers W``), trusting a stub EHR on
127.0.0.1 that publishes the signing key, exactly as the tests do (``tests/servicekit.py``). Send
``--calls`` hook calls, at most ``--concurrency`` at a time, each with its own signed token and
the full prefetch of the committed SLE bundle (31 resources, about 30 KB), and time each call
from request to parsed cards. Warm-up calls (one per worker) are not counted. Prints the median
and 95th percentile latency, the calls per second over the run, and any call that failed.
The run is bounded: it stops after ``--calls`` calls or ``--limit`` seconds, whichever first.

    python bench/serve_load.py --calls 200 --concurrency 8 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the stub EHR and server launcher serve tests and bench

from servicekit import (  # noqa: E402
    ISSUER,
    Keys,
    StubEhr,
    full_prefetch,
    hook_call,
    running,
)

HOOK = "/cds-services/careligible-car-t-trials"


async def _call(client: httpx.AsyncClient, url: str, keys: Keys) -> float:
    """One hook call; its latency in milliseconds (raises on a non-200 answer)."""
    body = hook_call(full_prefetch())
    headers = {"Authorization": f"Bearer {keys.token(url)}"}
    started = time.perf_counter()
    response = await client.post(url, json=body, headers=headers)
    response.raise_for_status()
    assert response.json()["cards"], "the SLE bundle must get cards"
    return (time.perf_counter() - started) * 1000


async def _load(
    url: str, keys: Keys, calls: int, concurrency: int, limit: float, warm: int
) -> tuple[list[float], int, float]:
    """(latencies in ms, failed calls, wall seconds) for ``calls`` calls."""
    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(_call(client, url, keys) for _ in range(warm)))
        gate = asyncio.Semaphore(concurrency)
        latencies: list[float] = []
        failed = 0
        deadline = time.monotonic() + limit

        async def one() -> None:
            nonlocal failed
            async with gate:
                if time.monotonic() > deadline:
                    return
                try:
                    latencies.append(await _call(client, url, keys))
                except (httpx.HTTPError, AssertionError):
                    failed += 1

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(calls)))
        return latencies, failed, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=float, default=300.0, help="stop after SECONDS")
    args = parser.parse_args()
    keys = Keys()
    ehr = StubEhr(keys)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            flags = [
                "--workers",
                str(args.workers),
                "--trust-issuer",
                f"{ISSUER}={ehr.url}/jwks.json",
            ]
            with running(Path(tmp), *flags) as server:
                latencies, failed, wall = asyncio.run(
                    _load(
                        server.url + HOOK,
                        keys,
                        args.calls,
                        args.concurrency,
                        args.limit,
                        args.workers,
                    )
                )
    finally:
        ehr.close()
    latencies.sort()
    done = len(latencies)
    p95 = latencies[max(0, int(0.95 * done) - 1)] if done else float("nan")
    print(
        f"patient-view calls: {done} ok, {failed} failed; concurrency {args.concurrency}, "
        f"workers {args.workers}"
    )
    if done:
        print(
            f"latency: median {statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms; "
            f"throughput {done / wall:.1f} calls/s"
        )


if __name__ == "__main__":
    main()
