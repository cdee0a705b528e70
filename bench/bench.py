"""Benchmark: screening speed and memory on seeded synthetic cases.

Method. Generate N cases (seeded; every disease of the contract, or one with ``--disease``; about
30% of facts missing, 0-5 prior therapies with outcomes sometimes unrecorded) as JSON Lines, then
time, on that same file:

1. parse + validate only (the floor any screening pays);
2. the plain-Python oracle of the tests (``tests/oracle.py``), evaluating the same rule files
   criterion by criterion with no engine: what the rules cost without durable_rules;
3. the engine alone (``RuleEngine.evaluate``) and a full screen (``Screener.screen``: engine,
   verdicts, ranking, results) in this process;
4. single-case latency of ``Screener.screen`` (the API the terminal UI uses) over the first 1,000
   cases: median and 95th percentile;
5. the batch command end to end, ``careligible screen --format jsonl --jobs J FILE -o FILE`` in a
   subprocess (start-up, reading, screening, writing): cases per second;
6. memory: the same command on 10,000 and on ``--scale`` cases; peak RSS of its largest process.
   Flat means the larger batch needs no more memory than the smaller one.

Ratios are printed against parsing and against the oracle. Run it on an otherwise idle machine;
figures vary by a few percent from run to run:

    python bench/bench.py --cases 10000 --seed 1            # all diseases
    python bench/bench.py --cases 10000 --disease sle       # the disease with most cohorts
    python bench/bench.py --cases 10000 --scale 100000      # adds the 10k -> 100k memory check

The HTTP service has its own load test, ``bench/serve_load.py`` (concurrent CDS Hooks calls).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the oracle lives with the tests it serves

from careligible.batch import default_jobs, parsed_cases  # noqa: E402
from careligible.case import Case  # noqa: E402
from careligible.catalog import load_catalog  # noqa: E402
from careligible.screening import Screener  # noqa: E402
from oracle import default_rules, evaluate_catalog  # noqa: E402

DISEASES = ["sle", "iim", "ssc", "mg", "ms", "ra", "sjogren"]
DRUGS = [
    "prednisone",
    "MMF",
    "rituximab",
    "belimumab",
    "tacrolimus",
    "cyclophosphamide",
    "azathioprine",
    "IVIG",
    "ocrelizumab",
    "efgartigimod",
    "methotrexate",
]
OUTCOMES = ["inadequate_response", "intolerance", "response", "ongoing", None]

TARGET_BATCH = 1000  # cases/s, full catalog, batch command
TARGET_P95_MS = 10.0  # single case
TARGET_RSS_GROWTH = 0.10  # 10k -> 100k


def maybe(rng: random.Random, value: Any, p: float = 0.7) -> Any:
    """The value with probability p, else None: roughly 30% of facts are missing."""
    return value if rng.random() < p else None


def synthetic_case(rng: random.Random, index: int, disease: str | None = None) -> dict[str, Any]:
    case: dict[str, Any] = {
        "id": f"bench-{index}",
        "age": maybe(rng, rng.randint(16, 80)),
        "sex": maybe(rng, rng.choice(["female", "male"])),
        "disease": disease or rng.choice(DISEASES),
        "pregnant": maybe(rng, False),
        "labs": {
            "egfr": maybe(rng, rng.randint(10, 120)),
            "creatinine_mg_dl": maybe(rng, round(rng.uniform(0.5, 4), 1)),
            "neutrophils": maybe(rng, round(rng.uniform(0.5, 8), 1)),
            "platelets": maybe(rng, rng.randint(40, 400)),
        },
        "scores": {
            "sledai_2k": maybe(rng, rng.randint(0, 30)),
            "mg_adl": maybe(rng, rng.randint(0, 20)),
            "qmg": maybe(rng, rng.randint(0, 30)),
            "edss": maybe(rng, rng.randint(0, 16) / 2),
        },
        "history": {
            "prior_car_t": maybe(rng, False),
            "cns_disease": maybe(rng, False),
            "malignancy": maybe(rng, "none"),
        },
        "infections": {"hbv": maybe(rng, "negative"), "hiv": maybe(rng, "negative")},
        "therapies": [
            {
                "drug": rng.choice(DRUGS),
                "outcome": rng.choice(OUTCOMES),
                "months": rng.randint(1, 36),
            }
            for _ in range(rng.randint(0, 5))
        ],
    }
    return json.loads(
        json.dumps(case),
        object_hook=lambda d: {k: v for k, v in d.items() if v is not None},
    )


def write_cases(path: Path, n: int, seed: int, disease: str | None) -> Path:
    rng = random.Random(seed)
    with path.open("w") as out:
        for i in range(n):
            out.write(json.dumps(synthetic_case(rng, i, disease)) + "\n")
    return path


def _drain(results: Iterable[object]) -> None:
    for _ in results:
        pass


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def run_batch(path: Path, jobs: int) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB, largest process) of the batch command on ``path``."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "code = subprocess.run(sys.argv[1:]).returncode\n"
        "wall = time.perf_counter() - t\n"
        "print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)\n"
    )
    command = [sys.executable, "-m", "careligible", "screen", "--format", "jsonl"]
    command += ["--jobs", str(jobs), str(path), "--output", os.devnull]
    out = subprocess.run(
        [sys.executable, "-c", probe, *command], capture_output=True, text=True, check=True
    )
    wall, rss, code = out.stdout.split()
    if int(code) not in (0, 1):
        raise SystemExit(f"the batch command failed with exit code {code}")
    return float(wall), int(rss)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--disease", choices=DISEASES, default=None)
    parser.add_argument("--jobs", type=int, default=default_jobs())
    parser.add_argument("--scale", type=int, default=None, help="also check RSS at this size")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = write_cases(Path(tmp) / "cases.jsonl", args.cases, args.seed, args.disease)
        parsed: list[Any] = []
        parse_s = timed(lambda: parsed.extend(parsed_cases([path])))
        cases: list[Case] = [p.case for p in parsed if p.case is not None]
        rules = default_rules()
        oracle_s = timed(lambda: evaluate_catalog(cases, rules))
        screener = Screener(load_catalog())
        engine = screener.engine
        # Results are dropped as they come, as in the batch command: a list of 10,000 kept
        # results makes the garbage collector rescan them all and doubles the time measured.
        engine_s = timed(lambda: _drain(engine.evaluate(screener.facts(c)) for c in cases))
        screen_s = timed(lambda: _drain(screener.screen(c) for c in cases))
        latencies = sorted(timed(lambda c=c: screener.screen(c)) * 1000 for c in cases[:1000])
        batch_s, batch_rss = run_batch(path, args.jobs)
        scale = None
        if args.scale:
            small = write_cases(Path(tmp) / "small.jsonl", 10_000, args.seed, args.disease)
            large = write_cases(Path(tmp) / "large.jsonl", args.scale, args.seed, args.disease)
            scale = (run_batch(small, args.jobs)[1], run_batch(large, args.jobs))

    n = len(cases)
    p95 = latencies[int(0.95 * len(latencies)) - 1]
    print(
        f"cases: {n:,} ({args.disease or 'all diseases'}, seed {args.seed})  "
        f"trials: {len(screener.catalog.trials)}  rulesets: {len(engine.ruleset_sizes)}  "
        f"cores: {os.cpu_count()}  jobs: {args.jobs}"
    )
    print(f"parse + validate only:        {n / parse_s:>9,.0f} cases/s")
    print(f"plain-Python oracle:          {n / oracle_s:>9,.0f} cases/s")
    print(
        f"engine alone (1 process):     {n / engine_s:>9,.0f} cases/s  "
        f"({engine_s / oracle_s:.1f}x the oracle)"
    )
    print(
        f"full screen (1 process):      {n / screen_s:>9,.0f} cases/s  "
        f"({screen_s / oracle_s:.1f}x the oracle, {screen_s / parse_s:.1f}x parsing)"
    )
    print(
        f"batch command, {args.jobs} job(s):     {n / batch_s:>9,.0f} cases/s  "
        f"(end to end; target >= {TARGET_BATCH:,}: {verdict(n / batch_s >= TARGET_BATCH)})"
    )
    print(
        f"single case:                  median {statistics.median(latencies):.2f} ms, "
        f"p95 {p95:.2f} ms  (target p95 <= {TARGET_P95_MS:.0f} ms: "
        f"{verdict(p95 <= TARGET_P95_MS)})"
    )
    print(f"peak RSS, batch command:      {batch_rss / 1024:.0f} MB (largest process)")
    if scale:
        small_rss, (large_s, large_rss) = scale
        growth = large_rss / small_rss - 1
        print(
            f"peak RSS 10,000 -> {args.scale:,} cases: {small_rss / 1024:.0f} MB -> "
            f"{large_rss / 1024:.0f} MB ({growth:+.1%}; target flat, <= "
            f"{TARGET_RSS_GROWTH:.0%}: {verdict(growth <= TARGET_RSS_GROWTH)}); "
            f"{args.scale / large_s:,.0f} cases/s at that size"
        )


if __name__ == "__main__":
    main()
