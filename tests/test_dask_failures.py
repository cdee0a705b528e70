"""A Dask cluster that fails under a run: the documented exit, never a wrong one, and no noise.

Every test runs a real cluster: worker processes supervised by their nannies (a worker that dies
is restarted), and, for the loss of the scheduler, a scheduler and a worker started as commands,
as an operator would. Workers die by SIGKILL from inside the piece function, so the death falls
mid-run, at a known piece, however fast the machine is.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dask
import pytest
from distributed import Client, LocalCluster

from careligible.batch import partition
from careligible.cli.common import ExitCode
from conftest import run_cli
from test_bulk_fhir import population_export

DISEASES = ["sle", "ra", "mg", "ms", "ssc", "iim"]


def _cases(path: Path, count: int) -> Path:
    lines = [
        json.dumps({"id": f"p-{i}", "disease": DISEASES[i % 6], "age": 18 + i % 60})
        for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _die_at_pieces_from(line: int) -> None:
    """In this worker process: die (SIGKILL) on being given a piece that starts at ``line`` or
    later. A worker started after this one screens normally."""
    original = partition.screen_piece

    def screen_piece(piece: Any, *args: Any) -> Any:
        if piece.first_line >= line:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(piece, *args)

    partition.screen_piece = screen_piece


#: Run in every worker process the cluster starts, replacements included (and may run twice in
#: one): the piece that starts at line 15 kills whichever worker takes it.
DEADLY_PIECE = """
import os, signal
from careligible.batch import partition

def screen_piece(piece, *args, original=partition.screen_piece):
    if piece.first_line == 15:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(piece, *args)

partition.screen_piece = screen_piece
"""


@pytest.fixture
def cluster() -> Iterator[Callable[..., LocalCluster]]:
    """Local clusters of worker processes under nannies, closed after the test."""
    started: list[LocalCluster] = []

    def start(**options: Any) -> LocalCluster:
        config = {
            "distributed.scheduler.allowed-failures": 2,
            "distributed.scheduler.worker-saturation": 1.0,
        }
        with dask.config.set(config):
            made = LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                dashboard_address=":0",
                scheduler_kwargs={"dashboard": False},
                **options,
            )
        started.append(made)
        return made

    yield start
    for made in started:
        made.close()


def _ours_only(stderr: str) -> list[str]:
    """The lines on stderr, each of which must be one of ours: no line of Dask's own."""
    lines = stderr.splitlines()
    assert all(line.startswith("careligible: ") for line in lines), stderr
    return lines


def test_workers_dying_mid_run_cost_no_record(
    tmp_path: Path, cluster: Callable[..., LocalCluster]
) -> None:
    """Both workers die (the catalog and every piece they held die with them); their
    replacements screen the rest, and the records are those of a run where none died."""
    cases = _cases(tmp_path / "cases.jsonl", 120)
    expected = run_cli("screen", "--format", "jsonl", "--jobs", "1", cases)
    assert expected.exit_code == ExitCode.OK
    running = cluster()
    with Client(running) as client:
        before = set(client.run(os.getpid).values())
        client.run(_die_at_pieces_from, 50)
    out = tmp_path / "out.jsonl"
    screened = run_cli(
        "screen", "--format", "jsonl", "--scheduler", running.scheduler_address,
        "--partition-size", "7", cases, "-o", out,
    )  # fmt: skip
    assert screened.exit_code == ExitCode.OK, screened.output
    assert _ours_only(screened.stderr) == []
    assert out.read_text() == expected.stdout
    with Client(running) as client:
        assert not before & set(client.run(os.getpid).values())  # both were replaced


def test_a_piece_that_kills_every_worker_is_given_up_and_the_rest_screened(
    tmp_path: Path, cluster: Callable[..., LocalCluster]
) -> None:
    script = tmp_path / "deadly.py"
    script.write_text(DEADLY_PIECE)
    running = cluster(preload=[str(script)])
    cases = _cases(tmp_path / "cases.jsonl", 40)
    screened = run_cli(
        "screen", "--format", "jsonl", "--scheduler", running.scheduler_address,
        "--partition-size", "7", cases,
    )  # fmt: skip
    assert screened.exit_code == ExitCode.RECORD_ERRORS, screened.output
    assert _ours_only(screened.stderr) == [
        "careligible: 7 record(s) had errors; see the 'error' field"
    ]
    records = [json.loads(line) for line in screened.stdout.splitlines()]
    assert [r["case_id"] for r in records] == [f"p-{i}" for i in range(40)]
    lost = [n for n, r in enumerate(records, start=1) if r["error"]]
    assert lost == list(range(15, 22))  # the piece of lines 15 to 21, and nothing else
    assert all(
        records[n - 1]["error"] == "not screened: every Dask worker that took it was lost"
        for n in lost
    )
    assert all(r["trials"] for r in records if not r["error"])


#: As :data:`DEADLY_PIECE`, for a piece of a bulk export: the patients from line 5 of the first
#: Patient file.
DEADLY_PATIENTS = """
import os, signal
from careligible.batch import partition

def screen_piece(piece, *args, original=partition.screen_piece):
    items = getattr(piece, "items", ())
    if piece.file.endswith("Patient.000.ndjson") and items and items[0].line == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(piece, *args)

partition.screen_piece = screen_piece
"""


def test_patients_whose_piece_kills_every_worker_are_error_records_in_their_place(
    tmp_path: Path, cluster: Callable[..., LocalCluster]
) -> None:
    """The patients of the piece given up are imported here, so that each record keeps its
    case id, and its own error when its import failed."""
    script = tmp_path / "deadly.py"
    script.write_text(DEADLY_PATIENTS)
    running = cluster(preload=[str(script)])
    export = population_export(tmp_path / "export", 20)
    screened = run_cli(
        "screen", "--format", "jsonl", "--scheduler", running.scheduler_address,
        "--partition-size", "4", export,
    )  # fmt: skip
    assert screened.exit_code == ExitCode.RECORD_ERRORS, screened.output
    assert _ours_only(screened.stderr) == [
        "careligible: 7 record(s) had errors; see the 'error' field"
    ]
    records = [json.loads(line) for line in screened.stdout.splitlines()]
    patients = Path(export / "Patient.000.ndjson")
    assert [r["source"] for r in records[4:8]] == [f"{patients}:{n}" for n in range(5, 9)]
    assert [r["case_id"] for r in records[4:8]] == [f"pseudo-d{n}" for n in range(5, 9)]
    assert "gender" in records[4]["error"]  # its own error, found where it was imported
    assert all(
        r["error"] == "not screened: every Dask worker that took it was lost" for r in records[5:8]
    )
    assert [r["case_id"] for r in records if r["trials"]] == [
        f"pseudo-d{n}" for n in [1, 2, 3, 4, *range(9, 21)]
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _pieces_seen(client: Client) -> bool:
    """Whether a piece of the run is being screened on a worker, or held there screened."""
    keys = [*client.processing().values(), *client.has_what().values()]
    return any(str(key).startswith("screen_piece") for held in keys for key in held)


def _command(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_the_loss_of_the_scheduler_ends_the_run_at_once_with_one_line(tmp_path: Path) -> None:
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _command(
        "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
        "--no-dashboard",
    )  # fmt: skip
    worker = _command(
        "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--no-dashboard"
    )
    try:
        cases = _cases(tmp_path / "cases.jsonl", 3000)
        out = tmp_path / "out.jsonl"
        out.write_text("earlier\n")
        run = subprocess.Popen(
            [
                sys.executable, "-m", "careligible", "screen", "--format", "jsonl",
                "--scheduler", address, "--partition-size", "20", str(cases), "-o", str(out),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        with Client(address, timeout=60) as watching:
            deadline = time.monotonic() + 120
            while not _pieces_seen(watching):  # the run is under way
                assert run.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        scheduler.kill()
        lost = time.monotonic()
        _, stderr = run.communicate(timeout=60)
        took = time.monotonic() - lost
    finally:
        for process in (worker, scheduler):
            process.kill()
            process.wait()
    assert run.returncode == ExitCode.WORKERS_LOST
    assert _ours_only(stderr) == [
        f"careligible: workers lost: lost the scheduler at {address}; {out} was left as it was"
    ]
    assert took < 10, took  # not the 30 s a client spends trying to reconnect
    assert out.read_text() == "earlier\n"
    assert not list(tmp_path.glob(".out.jsonl.*.part"))


def test_a_local_cluster_starts_beside_a_busy_dashboard_port(tmp_path: Path) -> None:
    """``local:N`` starts no dashboard, so a port 8787 already taken (another cluster's
    dashboard, say) changes nothing, not even a warning."""
    with socket.socket() as busy:
        try:
            busy.bind(("", 8787))
        except OSError:
            pass  # taken already: the case this test is about
        else:
            busy.listen()
        cases = _cases(tmp_path / "cases.jsonl", 10)
        done = subprocess.run(
            [
                sys.executable, "-m", "careligible", "screen", "--format", "jsonl",
                "--scheduler", "local:1", str(cases),
            ],
            capture_output=True,
            text=True,
        )  # fmt: skip
    assert done.returncode == ExitCode.OK, done.stderr
    assert done.stderr == ""
    assert len(done.stdout.splitlines()) == 10
