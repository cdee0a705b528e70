"""Screening over worker processes: same records, same order, bounded read-ahead."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from careligible.batch.pool import IN_FLIGHT
from careligible.batch.stream import CHUNK, MIN_PARALLEL, screen_stream
from careligible.cli import main
from careligible.readers import ParsedCase, RawRecord, parse_case
from careligible.screening import Screener
from careligible.writers import ENCODERS

DISEASES = ["sle", "iim", "ssc", "mg", "ms", "ra"]


def _cases_file(path: Path, n: int, seed: int = 3) -> Path:
    """``n`` JSON Lines records, about one in ten of them bad in some way."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        if rng.random() < 0.1:
            lines.append(rng.choice(['{"id": "p-%d", "age": -1}', '{"id": "p-%d",']) % i)
            continue
        case = {
            "id": f"p-{i}",
            "disease": rng.choice(DISEASES),
            "age": rng.randint(12, 80),
            "labs": {"egfr": rng.randint(10, 120)},
            "therapies": [{"drug": "rituximab", "outcome": "inadequate_response", "months": 6}],
        }
        lines.append(json.dumps(case))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "json"])
def test_workers_write_the_same_records_in_the_same_order(tmp_path: Path, fmt: str) -> None:
    cases = _cases_file(tmp_path / "cases.jsonl", MIN_PARALLEL * 2 + 17)
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out-{jobs}.{fmt}"
        result = CliRunner().invoke(
            main, ["screen", "--format", fmt, "--jobs", jobs, str(cases), "-o", str(out)]
        )
        assert result.exit_code == 1, result.output  # some records are bad
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1]
    if fmt == "jsonl":
        sources = [json.loads(line)["source"] for line in outputs[1].splitlines()]
        assert sources == [f"{cases}:{i}" for i in range(1, MIN_PARALLEL * 2 + 18)]


#: Audit-record keys that name when a record was written, and the chain fields that hash them.
TIMED = ("time", "prev", "hash")


def test_the_same_input_gives_the_same_records_with_one_worker_or_two_twice(
    tmp_path: Path,
) -> None:
    cases = _cases_file(tmp_path / "cases.jsonl", MIN_PARALLEL * 2 + 5, seed=11)
    outputs, logs = [], []
    for run, jobs in enumerate(("1", "2", "1", "2")):
        out, log = tmp_path / f"out-{run}.jsonl", tmp_path / f"audit-{run}.jsonl"
        command = ["screen", "--format", "jsonl", "--jobs", jobs, "--audit-log", str(log)]
        result = CliRunner().invoke(main, [*command, str(cases), "-o", str(out)])
        assert result.exit_code == 1, result.output  # some records are bad
        outputs.append(out.read_text())
        records = [json.loads(line) for line in log.read_text().splitlines()]
        logs.append([{k: v for k, v in r.items() if k not in TIMED} for r in records])
    assert outputs[1:] == outputs[:1] * 3  # results name no time: identical to the byte
    assert logs[0] and logs[1:] == logs[:1] * 3
    assert {r["ruleset_version"] for r in logs[0]} == {logs[0][0]["ruleset_version"]}


def test_workers_feed_the_audit_log_and_the_table(tmp_path: Path) -> None:
    cases = _cases_file(tmp_path / "cases.jsonl", MIN_PARALLEL + 5)
    log = tmp_path / "audit.jsonl"
    result = CliRunner().invoke(
        main, ["screen", "--jobs", "2", "--audit-log", str(log), str(cases)]
    )
    assert result.exit_code == 1
    records = [json.loads(line) for line in log.read_text().splitlines()]
    good = sum(
        1
        for line in cases.read_text().splitlines()
        if '"age": -1' not in line and line.endswith("}")
    )
    assert len(records) == good
    assert "p-0" in result.output


def _endless() -> Iterator[ParsedCase]:
    for i in itertools.count():
        record = RawRecord(
            file="endless.jsonl", line=i + 1, data={"id": f"e-{i}", "disease": "mg", "age": 40}
        )
        yield parse_case(record)


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_endless_input_is_read_only_a_bounded_way_ahead(screener: Screener, jobs: int) -> None:
    """Results come out while input is still being read: a file larger than memory streams."""
    consumed = 0

    def counting() -> Iterator[ParsedCase]:
        nonlocal consumed
        for item in _endless():
            consumed += 1
            yield item

    stream = screen_stream(counting(), screener, jobs, ENCODERS["jsonl"], keep_results=False)
    taken = list(itertools.islice(stream, 3 * CHUNK))
    stream.close()  # stops the workers
    assert [json.loads(t.text or "")["case_id"] for t in taken] == [
        f"e-{i}" for i in range(3 * CHUNK)
    ]
    ahead = MIN_PARALLEL + jobs * IN_FLIGHT * CHUNK + CHUNK
    assert consumed <= 3 * CHUNK + ahead


def test_duplicate_ids_are_found_after_they_spill_out_of_memory() -> None:
    from careligible.batch import SeenIds

    with SeenIds(in_memory=2) as seen:
        firsts = [seen.first_seen(i, f"f:{n}") for n, i in enumerate(["a", "b", "c", "d"], 1)]
        assert firsts == [None, None, None, None]
        assert seen.first_seen("a", "f:5") == "f:1"  # kept in memory
        assert seen.first_seen("d", "f:6") == "f:4"  # kept on disk
        assert seen.first_seen("e", "f:7") is None
        spill = seen._spill
        assert spill is not None
    assert not Path(spill.name).exists()  # deleted on close


def test_the_spill_file_holds_no_case_id(tmp_path: Path) -> None:
    from careligible.batch import SeenIds

    with SeenIds(in_memory=0) as seen:
        for i in range(50):
            seen.first_seen(f"pseudonym-{i:04d}", f"f:{i}")
        assert seen._db is not None
        seen._db.commit()
        assert seen._spill is not None
        assert b"pseudonym-" not in (Path(seen._spill.name) / "seen.db").read_bytes()


def test_the_heap_is_trimmed_once_every_so_many_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    from careligible.batch import memory

    calls: list[tuple[str, tuple[int, ...]]] = []

    class FakeLibc:
        def mallopt(self, *args: int) -> int:
            calls.append(("mallopt", args))
            return 1

        def malloc_trim(self, *args: int) -> int:
            calls.append(("malloc_trim", args))
            return 1

    monkeypatch.setattr(memory, "_glibc", FakeLibc)
    keeper = memory.HeapKeeper()
    assert calls == [("mallopt", (memory._M_MMAP_THRESHOLD, memory.MMAP_THRESHOLD))]
    for _ in range(2 * memory.TRIM_EVERY + 1):
        keeper.screened()
    assert [name for name, _ in calls].count("malloc_trim") == 2


def test_without_glibc_the_heap_keeper_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from careligible.batch import memory

    monkeypatch.setattr(memory, "_glibc", lambda: None)
    keeper = memory.HeapKeeper()
    keeper.screened(memory.TRIM_EVERY * 3)  # must not fail
