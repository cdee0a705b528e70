"""A worker that dies mid-batch is replaced and its chunks redone; the run never hangs.

The pool tests run small functions of this module in real worker processes (spawned, so they import
this module by name); the command tests SIGKILL real screening workers from outside, as the
kernel's out-of-memory killer would.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from careligible.batch.pool import ATTEMPTS, Lost, WorkerPool, WorkersLost
from careligible.readers import RawRecord, parse_case
from careligible.screening import Screener

POISON = 3


def _nothing() -> None:
    """A worker start-up with nothing to prepare."""


def _fail_to_start() -> None:
    raise RuntimeError("no catalog here")


def _double_unless_poison(chunk: list[int]) -> list[int]:
    """Double each number; a chunk holding POISON kills its worker, as an OOM kill would."""
    if POISON in chunk:
        os.kill(os.getpid(), signal.SIGKILL)
    return [2 * n for n in chunk]


def _always_die(chunk: list[int]) -> list[int]:
    os.kill(os.getpid(), signal.SIGKILL)
    return chunk


def _raise(chunk: list[int]) -> list[int]:
    raise ValueError("a bug in the work itself")


def test_a_chunk_whose_worker_dies_three_times_is_given_up_and_the_rest_go_on() -> None:
    events: list[str] = []
    chunks = [[n] for n in range(8)]
    with WorkerPool(2, _nothing, (), _double_unless_poison, events.append, str) as pool:
        outcomes = list(pool.map(chunks))
    assert outcomes[:POISON] == [[0], [2], [4]]
    assert isinstance(outcomes[POISON], Lost)
    assert f"lost {ATTEMPTS} times" in outcomes[POISON].reason
    assert "SIGKILL" in outcomes[POISON].reason
    assert outcomes[POISON + 1 :] == [[2 * n] for n in range(POISON + 1, 8)]
    assert len(events) == ATTEMPTS
    assert all("killed by SIGKILL while screening [3]" in e for e in events)
    assert "screens them again" in events[0] and "written as errors" in events[-1]


def test_workers_that_die_on_every_chunk_end_the_run() -> None:
    events: list[str] = []
    pool = WorkerPool(1, _nothing, (), _always_die, events.append)
    with pytest.raises(WorkersLost, match="in a row"), pool:
        list(pool.map([[n] for n in range(10)]))
    # one chunk given up after ATTEMPTS deaths, then one more death ends the run
    assert len(events) == ATTEMPTS


def test_a_worker_that_cannot_start_ends_the_run_with_the_reason() -> None:
    pool = WorkerPool(1, _fail_to_start, (), _raise, print)
    with pytest.raises(WorkersLost, match="could not start: RuntimeError: no catalog here"), pool:
        list(pool.map([[1]]))


def test_a_failure_of_the_work_is_that_chunks_outcome_not_a_lost_worker() -> None:
    events: list[str] = []
    with WorkerPool(1, _nothing, (), _raise, events.append) as pool:
        outcomes = list(pool.map([[1], [2]]))
    assert outcomes == [Lost("not screened: internal error (ValueError)")] * 2
    assert events == []


# --- the command, with real screening workers killed from outside ---------------------------

TEMPLATES = [
    {"disease": "sle", "age": 40, "labs": {"egfr": 70}},
    {"disease": "mg", "age": 55},
    {"disease": "ssc", "age": 17},
    {"disease": "ra", "age": 63, "labs": {"egfr": 25}},
]
N_CASES = 1200


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("loss") / "cases.jsonl"
    lines = [json.dumps({"id": f"w-{i}", **TEMPLATES[i % 4]}) for i in range(N_CASES)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _expected(batch: Path, screener: Screener) -> list[dict[str, object]]:
    """The record each input must get: its template screened once here, with its id and line."""
    screened = []
    for n, template in enumerate(TEMPLATES):
        record = RawRecord(file=str(batch), line=n + 1, data={"id": "t", **template})
        parsed = parse_case(record)
        assert parsed.case is not None
        screened.append(json.loads(screener.screen(parsed.case).model_dump_json()))
    return [
        {**screened[i % 4], "case_id": f"w-{i}", "source": f"{batch}:{i + 1}"}
        for i in range(N_CASES)
    ]


def _workers(parent: int) -> list[int]:
    """The pool's worker processes (not multiprocessing's resource tracker)."""
    found = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
    pids = []
    for pid in found.stdout.split():
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in command:
            pids.append(int(pid))
    return pids


@pytest.mark.parametrize("seed", [1, 2])
def test_workers_killed_at_random_points_cost_nothing(
    batch: Path, tmp_path: Path, screener: Screener, seed: int
) -> None:
    rng = random.Random(seed)
    output = tmp_path / "results.jsonl"
    command = [sys.executable, "-m", "careligible", "screen", "--format", "jsonl", "--jobs", "2"]
    process = subprocess.Popen(
        [*command, str(batch), "--output", str(output)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    kills = 0
    deadline = time.monotonic() + 240
    while kills < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.5, 4.0))
        workers = _workers(process.pid)
        if workers:
            os.kill(rng.choice(workers), signal.SIGKILL)
            kills += 1
    try:
        _, err = process.communicate(timeout=max(10.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("the run hung after its workers were killed") from None
    stderr = err.decode()
    assert process.returncode == 0, stderr
    assert kills >= 1, "the batch ended before any worker could be killed"
    assert stderr.count("was killed by SIGKILL") == kills, stderr
    assert "Traceback" not in stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert records == _expected(batch, screener)
    assert list(tmp_path.iterdir()) == [output]
