"""Benchmark: memory of reading a FHIR bulk export, by number of patients.

Method. For each size N, write a seeded synthetic bulk export of N pseudonymous patients (per
patient: 2 Conditions, one mapped and one not; 4 Observations, eGFR, platelets, creatinine and
an unmapped one; 2 MedicationRequests, one naming a drug of the shared ``Medication.000.ndjson``
by reference and one by text; an Encounter, which is not read), with Observations split over
parts of 50,000 lines as real exports are. Then, in a fresh process, read it with
``careligible.fhir.bulk.iter_export`` to the end, counting the cases, and report that process's
peak RSS (``ru_maxrss``). Flat means the larger export needs no more memory than the smaller one:

    python bench/bulk_memory.py --patients 2000 20000

``--control`` also reads the largest export keeping every imported case in a list, which is
what a reader that groups in memory would hold at least, to show that the measure can see
growth. ``--screen`` also runs the whole command on each export, ``careligible screen DIR
--format compact --jobs 1 --output /dev/null`` (reading, import, rule engine, writing in one
process), and reports its peak RSS; ``--import-fhir`` does the same for ``careligible import-fhir
DIR --output /dev/null``:

    python bench/bulk_memory.py --patients 2000 20000 --control --screen --import-fhir
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

#: Observation lines per part file, like an export server that splits large types.
PART_LINES = 50_000

LOINC = "http://loinc.org"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
DISEASES = ["M32.14", "G70.00", "M05.79", "G35", "M34.0", "E10.9"]
OTHER = ["I10", "E78.5", "J45.909", "K21.9"]
DRUGS = {"121191": "rituximab", "6851": "methotrexate", "42316": "tacrolimus"}


def _status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{system}", "code": code}]}


def _condition(cid: str, pid: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": ICD, "code": code}]},
        "clinicalStatus": _status("condition-clinical", "active"),
        "verificationStatus": _status("condition-ver-status", "confirmed"),
        "onsetDateTime": "2019-04-01",
    }


def _lab(oid: str, pid: str, loinc: str, value: float, unit: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "effectiveDateTime": "2026-09-01",
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def _order(rid: str, pid: str, medication: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "completed",
        "intent": "order",
        "subject": {"reference": f"Patient/{pid}"},
        **medication,
        "authoredOn": "2024-03-01",
    }


def patient_resources(rng: random.Random, n: int) -> Iterator[dict[str, Any]]:
    pid = f"pseudo-{n:07d}"
    born = f"{rng.randint(1950, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    yield {"resourceType": "Patient", "id": pid, "gender": rng.choice(["female", "male"]),
           "birthDate": born}  # fmt: skip
    yield _condition(f"c-{n}-1", pid, rng.choice(DISEASES))
    yield _condition(f"c-{n}-2", pid, rng.choice(OTHER))
    yield _lab(f"o-{n}-1", pid, "33914-3", rng.randint(20, 120), "mL/min/{1.73_m2}")
    yield _lab(f"o-{n}-2", pid, "777-3", rng.randint(50, 400), "10*3/uL")
    yield _lab(f"o-{n}-3", pid, "2160-0", round(rng.uniform(0.5, 3.0), 2), "mg/dL")
    yield _lab(f"o-{n}-4", pid, "8302-2", rng.randint(150, 190), "cm")
    drug = rng.choice(sorted(DRUGS))
    yield _order(f"m-{n}-1", pid, {"medicationReference": {"reference": f"Medication/med-{drug}"}})
    yield _order(
        f"m-{n}-2", pid, {"medicationCodeableConcept": {"text": "prednisone 5 MG Oral Tablet"}}
    )
    yield {"resourceType": "Encounter", "id": f"e-{n}", "status": "finished",
           "class": {"code": "AMB"}, "subject": {"reference": f"Patient/{pid}"}}  # fmt: skip


class _Parts:
    """One resource type's NDJSON files, a new part every ``PART_LINES`` lines."""

    def __init__(self, root: Path, kind: str) -> None:
        self.root, self.kind, self.lines, self.part = root, kind, 0, 0
        self.handle: IO[str] = self._open()

    def _open(self) -> IO[str]:
        return (self.root / f"{self.kind}.{self.part:03d}.ndjson").open("w", encoding="utf-8")

    def write(self, resource: dict[str, Any]) -> None:
        if self.lines == PART_LINES:
            self.handle.close()
            self.part, self.lines = self.part + 1, 0
            self.handle = self._open()
        self.handle.write(json.dumps(resource, separators=(",", ":")) + "\n")
        self.lines += 1

    def close(self) -> None:
        self.handle.close()


def write_export(root: Path, patients: int, seed: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    parts: dict[str, _Parts] = {}
    for n in range(patients):
        for resource in patient_resources(rng, n):
            kind = resource["resourceType"]
            if kind not in parts:
                parts[kind] = _Parts(root, kind)
            parts[kind].write(resource)
    medications = _Parts(root, "Medication")
    for code, name in DRUGS.items():
        coding = {"system": RXNORM, "code": code, "display": name}
        medications.write({"resourceType": "Medication", "id": f"med-{code}",
                           "code": {"coding": [coding]}})  # fmt: skip
    for part in [*parts.values(), medications]:
        part.close()
    return root


READER = """
import datetime as dt, resource, sys, time
from pathlib import Path
from careligible.fhir.bulk import iter_export
keep = sys.argv[2] == "keep"
kept, cases, errors = [], 0, 0
start = time.perf_counter()
for item in iter_export(Path(sys.argv[1]), reference_date=dt.date(2026, 11, 24)):
    if item.imported is None:
        errors += 1
        continue
    cases += 1
    if keep:
        kept.append(item.imported)
wall = time.perf_counter() - start
print(cases, errors, wall, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def measure(root: Path, keep: bool) -> tuple[int, int, float, int]:
    """Cases, error records, seconds and peak RSS (KiB) of reading ``root`` in a new process."""
    mode = "keep" if keep else "stream"
    done = subprocess.run(
        [sys.executable, "-c", READER, str(root), mode],
        check=True,
        capture_output=True,
        text=True,
    )
    cases, errors, wall, rss = done.stdout.split()
    return int(cases), int(errors), float(wall), int(rss)


SCREEN = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:]).returncode
wall = time.perf_counter() - start
print(code, wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def measure_command(root: Path, name: str) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of ``careligible screen`` or ``import-fhir`` on ``root``."""
    command = [sys.executable, "-m", "careligible", name, str(root), "--output", os.devnull]
    if name == "screen":
        command += ["--format", "compact", "--jobs", "1"]
    else:
        command += ["--reference-date", "2026-11-24"]
    done = subprocess.run(
        [sys.executable, "-c", SCREEN, *command], check=True, capture_output=True, text=True
    )
    code, wall, rss = done.stdout.split()
    if int(code) != 0:
        raise SystemExit(f"careligible {name} exited with {code}: {done.stderr[-500:]}")
    return float(wall), int(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--control", action="store_true")
    parser.add_argument("--screen", action="store_true")
    parser.add_argument("--import-fhir", action="store_true")
    args = parser.parse_args()
    sizes = sorted(args.patients)
    commands = [c for c, on in (("screen", args.screen), ("import-fhir", args.import_fhir)) if on]
    peaks: list[int] = []
    command_peaks: dict[str, list[int]] = {c: [] for c in commands}
    with tempfile.TemporaryDirectory(prefix="careligible-bulk-bench-") as tmp:
        for size in sizes:
            started = time.perf_counter()
            root = write_export(Path(tmp) / f"export-{size}", size, args.seed)
            written = time.perf_counter() - started
            megabytes = sum(p.stat().st_size for p in root.iterdir()) / 1e6
            cases, errors, wall, rss = measure(root, keep=False)
            assert (cases, errors) == (size, 0), (cases, errors)
            peaks.append(rss)
            print(
                f"{size:>8,} patients ({megabytes:,.1f} MB of NDJSON, written in {written:.0f} s): "
                f"{cases:,} cases in {wall:.0f} s ({cases / wall:,.0f}/s), "
                f"peak RSS {rss / 1024:.0f} MB"
            )
            for name in commands:
                wall, rss = measure_command(root, name)
                command_peaks[name].append(rss)
                print(
                    f"{'':>8} careligible {name}: {wall:.0f} s ({size / wall:,.0f}/s), "
                    f"peak RSS {rss / 1024:.0f} MB"
                )
        for name, found in command_peaks.items():
            if len(found) > 1:
                print(
                    f"{name} peak RSS {sizes[0]:,} -> {sizes[-1]:,} patients: "
                    f"{found[0] / 1024:.0f} MB -> {found[-1] / 1024:.0f} MB "
                    f"(ratio {found[-1] / found[0]:.2f})"
                )
        if len(peaks) > 1:
            print(
                f"peak RSS {sizes[0]:,} -> {sizes[-1]:,} patients: {peaks[0] / 1024:.0f} MB -> "
                f"{peaks[-1] / 1024:.0f} MB (ratio {peaks[-1] / peaks[0]:.2f}) "
                f"for {sizes[-1] / sizes[0]:.0f}x the patients"
            )
        if args.control:
            root = Path(tmp) / f"export-{sizes[-1]}"
            _, _, _, rss = measure(root, keep=True)
            print(
                f"control, every case kept in a list, {sizes[-1]:,} patients: peak RSS "
                f"{rss / 1024:.0f} MB"
            )


if __name__ == "__main__":
    main()
