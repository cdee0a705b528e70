"""Benchmark: the size of the compact result formats, and their verdicts against ``jsonl``.

Method. Generate N cases of the benchmark mix (``bench.py``'s seeded generator: every disease,
about 30% of facts missing), then run the batch command on that file three times:
``--format compact`` and ``--format parquet`` to files, and ``--format jsonl`` to a pipe that this
script reads line by line (a full jsonl run of 20,000 cases is over half a gigabyte; it is compared
as it streams and never stored). It prints bytes per case for each format and checks that every
compact record has the jsonl record's case id, error, trials in the same order and the same
verdict per trial, and that the Parquet rows are the compact records:

    python bench/compact_size.py --cases 20000 --seed 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import write_cases

TARGET_BYTES = 1500  # per case, compact JSON Lines, benchmark mix


def screen(path: Path, fmt: str, jobs: int, output: Path | None) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "careligible", "screen", "--format", fmt]
    command += ["--jobs", str(jobs), str(path)]
    command += ["--output", str(output)] if output else []
    stdout = subprocess.PIPE if output is None else subprocess.DEVNULL
    return subprocess.Popen(command, stdout=stdout, text=True, encoding="utf-8")


def differences(full: dict[str, Any], compact: dict[str, Any]) -> list[str]:
    """What a compact record says differently from its jsonl record (nothing, if all is well)."""
    out = []
    for key in ("case_id", "source"):
        if full[key] != compact[key]:
            out.append(key)
    if full["error"] != compact.get("error"):
        out.append("error")
    mine = [(t["nct_id"], t["verdict"]) for t in compact["trials"]]
    theirs = [(t["nct_id"], t["verdict"]) for t in full["trials"]]
    if mine != theirs:
        out.append("trials")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="careligible-compact-") as tmp:
        cases = write_cases(Path(tmp) / "cases.jsonl", args.cases, args.seed, None)
        compact, parquet = Path(tmp) / "compact.jsonl", Path(tmp) / "compact.parquet"
        for fmt, path in (("compact", compact), ("parquet", parquet)):
            if screen(cases, fmt, args.jobs, path).wait() not in (0, 1):
                raise SystemExit(f"--format {fmt} failed")
        full = screen(cases, "jsonl", args.jobs, None)
        assert full.stdout is not None
        jsonl_bytes = records = mismatched = trials = 0
        with compact.open(encoding="utf-8") as short:
            for line, other in zip(full.stdout, short, strict=True):
                jsonl_bytes += len(line.encode("utf-8"))
                record, mine = json.loads(line), json.loads(other)
                records += 1
                trials += len(record["trials"])
                mismatched += bool(differences(record, mine))
        if full.wait() not in (0, 1):
            raise SystemExit("--format jsonl failed")
        parquet_rows = _parquet_rows(parquet)
        same_rows = parquet_rows == _as_rows(compact)
        compact_size, parquet_size = compact.stat().st_size, parquet.stat().st_size
    per_case = compact_size / records
    print(f"{records} cases of the benchmark mix (seed {args.seed}), {trials} trial verdicts")
    print(f"jsonl:   {jsonl_bytes / records:10,.0f} bytes/case")
    print(f"compact: {per_case:10,.0f} bytes/case ({jsonl_bytes / compact_size:.0f}x smaller)")
    print(f"parquet: {parquet_size / records:10,.0f} bytes/case (zstd)")
    print(
        f"compact <= {TARGET_BYTES} bytes/case: {'met' if per_case <= TARGET_BYTES else 'NOT met'}"
    )
    print(f"records whose verdicts differ from jsonl: {mismatched}")
    print(f"parquet rows equal to the compact records: {'yes' if same_rows else 'NO'}")
    if mismatched or not same_rows:
        raise SystemExit(1)


def _parquet_rows(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    for row in rows:
        row["trials"] = [{k: v for k, v in t.items() if v is not None} for t in row["trials"]]
    return [{k: v for k, v in row.items() if v is not None or k == "case_id"} for row in rows]


def _as_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


if __name__ == "__main__":
    main()
