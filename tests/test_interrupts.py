"""An interrupted or killed ``screen --output FILE`` never leaves a file that looks complete."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from careligible.catalog import default_rules_dir
from careligible.cli.common import ExitCode

N_CASES = 20_000  # far more than can be screened before the signal arrives


@pytest.fixture(scope="module")
def big_batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("batch") / "cases.jsonl"
    case = {"disease": "sle", "age": 40, "labs": {"egfr": 70}}
    path.write_text("".join(json.dumps({"id": f"k-{i}", **case}) + "\n" for i in range(N_CASES)))
    return path


def _start(batch: Path, output: Path, jobs: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "careligible", "screen", "--format", "jsonl"]
    command += ["--jobs", jobs, str(batch), "--output", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for_partial_output(directory: Path, output: Path) -> None:
    """Wait until results are being written to the temporary file beside ``output``."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        parts = list(directory.glob(f".{output.name}.*.part"))
        if parts and parts[0].stat().st_size > 0:
            return
        time.sleep(0.05)
    raise AssertionError("screening never started writing")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_killed_run_leaves_the_previous_output_untouched(
    big_batch: Path, tmp_path: Path, jobs: str
) -> None:
    output = tmp_path / "results.jsonl"
    output.write_text("previous complete results\n")
    process = _start(big_batch, output, jobs)
    _wait_for_partial_output(tmp_path, output)
    workers = _children(process.pid)
    process.kill()
    process.communicate(timeout=30)
    assert output.read_text() == "previous complete results\n"
    # What a kill leaves is only the hidden temporary file, never named like the output.
    assert all(p.name.endswith(".part") for p in tmp_path.iterdir() if p != output)
    _assert_all_exit(workers)


def _children(parent: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def _assert_all_exit(pids: list[int]) -> None:
    """Workers of a killed run exit by themselves instead of lingering as orphans."""
    deadline = time.monotonic() + 15
    while any(_running(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still running: {[p for p in pids if _running(p)]}"
        time.sleep(0.2)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_an_interrupted_run_cleans_up_and_writes_nothing(
    big_batch: Path, tmp_path: Path, jobs: str
) -> None:
    output = tmp_path / "results.jsonl"
    process = _start(big_batch, output, jobs)
    _wait_for_partial_output(tmp_path, output)
    workers = _children(process.pid)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == ExitCode.INTERRUPTED, stderr.decode()
    assert not output.exists()
    assert list(tmp_path.iterdir()) == [], stderr.decode()
    _assert_all_exit(workers)


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_a_terminated_run_keeps_the_earlier_output_and_leaves_no_partial_file(
    big_batch: Path, tmp_path: Path, jobs: str, stop: signal.Signals
) -> None:
    output = tmp_path / "results.jsonl"
    output.write_text("previous complete results\n")
    process = _start(big_batch, output, jobs)
    _wait_for_partial_output(tmp_path, output)
    workers = _children(process.pid)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == ExitCode.TERMINATED, stderr.decode()
    assert stderr.decode().splitlines()[-1] == (
        f"careligible: stopped by {stop.name}; {output} was left as it was"
    )
    assert output.read_text() == "previous complete results\n"
    assert list(tmp_path.iterdir()) == [output]  # the partial .part file is gone
    _assert_all_exit(workers)


# --- a full disk or a file size limit ------------------------------------------------------------


def _file_size_limit(limit: int) -> None:
    """Run in the child: writes past ``limit`` bytes fail with EFBIG (Python ignores SIGXFSZ)."""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_file_size_limit_is_an_output_failure_and_keeps_the_earlier_output(
    tmp_path: Path, big_batch: Path
) -> None:
    output = tmp_path / "results.jsonl"
    output.write_text("earlier results\n")
    command = [sys.executable, "-m", "careligible", "screen", "--format", "jsonl"]
    command += [str(big_batch), "--output", str(output)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: _file_size_limit(64_000),
    )
    assert done.returncode == ExitCode.OUTPUT_FAILED, done.stderr
    (line,) = done.stderr.splitlines()
    assert "cannot write the results" in line and "left as it was" in line
    assert output.read_text() == "earlier results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.jsonl"]  # no partial file


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_standard_output_is_an_output_failure_in_one_line(big_batch: Path) -> None:
    command = [sys.executable, "-m", "careligible", "screen", "--format", "csv", str(big_batch)]
    with open("/dev/full", "w") as full:
        done = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert done.returncode == ExitCode.OUTPUT_FAILED
    (line,) = done.stderr.splitlines()
    assert "standard output" in line and "No space left" in line


# --- one ruleset per run -------------------------------------------------------------------------


def test_rules_changed_during_a_run_do_not_reach_its_workers(tmp_path: Path) -> None:
    """Workers screen with the catalog the main process loaded at the start: a trial removed
    from the rules directory mid-run is still in every record, so one run is one ruleset."""
    batch = tmp_path / "cases.jsonl"
    case = {"disease": "sle", "age": 40, "labs": {"egfr": 70}}
    batch.write_text("".join(json.dumps({"id": f"r-{i}", **case}) + "\n" for i in range(4000)))
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    output = tmp_path / "out" / "results.jsonl"
    output.parent.mkdir()
    command = [sys.executable, "-m", "careligible", "screen", "--format", "jsonl", "--jobs", "2"]
    command += ["--rules", str(rules), str(batch), "--output", str(output)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for_partial_output(output.parent, output)
    removed = sorted((rules / "trials").glob("NCT*.yaml"))[0]
    removed.unlink()
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == ExitCode.OK, stderr.decode()
    seen = set()
    with output.open() as records:
        for line in records:
            seen.add(tuple(t["nct_id"] for t in json.loads(line)["trials"]))
    (trials,) = seen  # every record screened against the same trials
    assert removed.stem in trials
