"""A worker that dies mid-batch is replaced and its chunks redone; the run never hangs.

The pool tests run small functions of this module in real worker processes (spawned, so they import
this module by name); the command tests SIGKILL real screening workers from outside, as the
kernel's out-of-memory killer would.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from careligible.batch.pool import ATTEMPTS, Lost, WorkerPool, WorkersLost
from careligible.batch.stream import CHUNK
from careligible.cli.common import ExitCode

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


def _stall_when_marked(chunk: tuple[str, list[int]]) -> list[int]:
    """Double the numbers; a chunk with a mark names this worker in the mark file and stalls."""
    mark, numbers = chunk
    if mark:
        with open(mark, "a") as file:
            file.write(f"{os.getpid()}\n")
        time.sleep(60)
    return [2 * n for n in numbers]


def _kill_each_pid_written_to(path: Path, until: threading.Event) -> None:
    """Kill every process that names itself in ``path``, as it does so, from outside."""
    killed: set[int] = set()
    while not until.is_set():
        pids = {int(p) for p in path.read_text().split()} if path.exists() else set()
        for pid in pids - killed:
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        time.sleep(0.05)


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


def test_a_chunk_whose_workers_are_killed_from_outside_is_given_up_after_three(
    tmp_path: Path,
) -> None:
    marks = tmp_path / "marks"
    chunks = [("", [n]) for n in range(6)]
    chunks[2] = (str(marks), [2])
    events: list[str] = []
    done = threading.Event()
    killer = threading.Thread(target=_kill_each_pid_written_to, args=(marks, done))
    killer.start()
    try:
        started = time.monotonic()
        with WorkerPool(2, _nothing, (), _stall_when_marked, events.append, str) as pool:
            outcomes = list(pool.map(chunks))
    finally:
        done.set()
        killer.join()
    assert time.monotonic() - started < 50, "a stalled chunk was waited for, not given up"
    assert len(marks.read_text().split()) == ATTEMPTS  # three workers took it, each was killed
    assert outcomes[:2] == [[0], [2]] and outcomes[3:] == [[6], [8], [10]]
    assert isinstance(outcomes[2], Lost) and f"lost {ATTEMPTS} times" in outcomes[2].reason
    assert sum("written as errors" in e for e in events) == 1


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
N_CASES = 3000  # long enough that a kill lands mid-batch on an idle machine too
SCREEN = [sys.executable, "-m", "careligible", "screen", "--format", "jsonl", "--no-progress"]


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("loss") / "cases.jsonl"
    lines = [json.dumps({"id": f"w-{i}", **TEMPLATES[i % 4]}) for i in range(N_CASES)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def reference(batch: Path) -> list[dict[str, object]]:
    """The records of the batch screened in one process, with no worker at all."""
    done = subprocess.run([*SCREEN, "--jobs", "1", str(batch)], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


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


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def _start(batch: Path, output: Path) -> subprocess.Popen[bytes]:
    command = [*SCREEN, "--jobs", "2", str(batch), "--output", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finish(process: subprocess.Popen[bytes], deadline: float) -> str:
    """Wait for the run until ``deadline``; a run still going then has hung."""
    try:
        _, err = process.communicate(timeout=max(10.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError("the run hung after its workers were killed") from None
    return err.decode()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_workers_killed_at_random_points_cost_nothing(
    batch: Path, reference: list[dict[str, object]], tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    output = tmp_path / "results.jsonl"
    process = _start(batch, output)
    kills = 0
    deadline = time.monotonic() + 240
    while kills < 3 and process.poll() is None and time.monotonic() < deadline:
        workers = _workers(process.pid)
        if not workers:
            time.sleep(0.05)
            continue
        time.sleep(rng.uniform(0.05, 0.8))  # a random point of the workers' lives
        alive = [pid for pid in workers if _running(pid)]
        if alive:
            os.kill(rng.choice(alive), signal.SIGKILL)
            kills += 1
    stderr = _finish(process, deadline)
    assert kills >= 1, "the batch ended before any worker could be killed"
    assert "Traceback" not in stderr
    # A kill as the pool is being closed at the end is not noticed; every other one is.
    assert 1 <= stderr.count("was killed by SIGKILL") <= kills, stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["source"] for r in records] == [r["source"] for r in reference]
    # Three kills may all land on the worker redoing one chunk: it is then given up, the one
    # documented loss, and its records say so.
    given_up = [r for r in records if r["error"] and f"lost {ATTEMPTS} times" in r["error"]]
    assert process.returncode == (1 if given_up else 0), stderr
    kept = [(r, e) for r, e in zip(records, reference, strict=True) if r not in given_up]
    assert all(r == e for r, e in kept)
    assert len(given_up) in (0, CHUNK)
    assert list(tmp_path.iterdir()) == [output]


def test_a_run_whose_workers_keep_dying_ends_with_its_code_and_keeps_the_old_output(
    batch: Path, tmp_path: Path
) -> None:
    output = tmp_path / "results.jsonl"
    output.write_text("earlier complete results\n")
    process = _start(batch, output)
    children: set[int] = set()
    deadline = time.monotonic() + 240
    while process.poll() is None and time.monotonic() < deadline:
        for pid in _workers(process.pid):  # every worker dies as soon as it is seen
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        found = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True)
        children.update(int(pid) for pid in found.stdout.split())
        time.sleep(0.05)
    stderr = _finish(process, deadline)
    assert process.returncode == ExitCode.WORKERS_LOST, stderr
    assert "Traceback" not in stderr
    last = stderr.splitlines()[-1]
    assert last.startswith("careligible: workers lost: "), stderr
    assert last.endswith(f"{output} was left as it was"), stderr
    assert output.read_text() == "earlier complete results\n"
    assert list(tmp_path.iterdir()) == [output]  # no temporary file left beside it
    # Neither a worker nor multiprocessing's resource tracker outlives the run.
    settle = time.monotonic() + 15
    while any(_running(pid) for pid in children):
        assert time.monotonic() < settle, [pid for pid in children if _running(pid)]
        time.sleep(0.2)
