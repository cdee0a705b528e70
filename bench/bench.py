"""Benchmark: screening speed and memory on seeded synthetic cases.

Method: generate N cases (seeded, all diseases, a realistic mix of known and missing facts) as
JSON Lines; time (1) parsing and validating them only, (2) screening them all with the full
catalog in one process, and (3) single-case latency through ``Screener.screen`` (the API the
terminal UI uses) over the first 500 cases, reporting median and 95th percentile. Peak RSS is
read from the kernel after the run. Run on an otherwise idle machine:

    python bench/bench.py --cases 2000 --seed 1
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from careligible.batch import parsed_cases
from careligible.catalog import load_catalog
from careligible.screening import Screener

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


def maybe(rng: random.Random, value: Any, p: float = 0.7) -> Any:
    """The value with probability p, else None: roughly 30% of facts are missing."""
    return value if rng.random() < p else None


def synthetic_case(rng: random.Random, index: int) -> dict[str, Any]:
    disease = rng.choice(DISEASES)
    case: dict[str, Any] = {
        "id": f"bench-{index}",
        "age": maybe(rng, rng.randint(16, 80)),
        "sex": maybe(rng, rng.choice(["female", "male"])),
        "disease": disease,
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
        json.dumps(case, default=str),
        object_hook=lambda d: {k: v for k, v in d.items() if v is not None},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.jsonl"
        path.write_text(
            "\n".join(json.dumps(synthetic_case(rng, i)) for i in range(args.cases)) + "\n"
        )
        start = time.perf_counter()
        parsed = list(parsed_cases([path]))
        parse_s = time.perf_counter() - start
        screener = Screener(load_catalog())
        start = time.perf_counter()
        for item in parsed:
            assert item.case is not None
            screener.screen(item.case)
        screen_s = time.perf_counter() - start
        latencies = []
        for item in parsed[:500]:
            assert item.case is not None
            t0 = time.perf_counter()
            screener.screen(item.case)
            latencies.append((time.perf_counter() - t0) * 1000)
    latencies.sort()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"cases: {args.cases}  trials: {len(screener.catalog.trials)}  "
        f"rulesets: {len(screener.engine.ruleset_sizes)}"
    )
    print(f"parse+validate only: {args.cases / parse_s:,.0f} cases/s")
    print(
        f"screen (full catalog): {args.cases / screen_s:,.0f} cases/s "
        f"(engine+aggregation cost {screen_s / parse_s:.1f}x parsing)"
    )
    print(
        f"single case latency: median {statistics.median(latencies):.2f} ms, "
        f"p95 {latencies[int(0.95 * len(latencies)) - 1]:.2f} ms"
    )
    print(f"peak RSS: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
