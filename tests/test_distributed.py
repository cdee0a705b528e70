"""Screening on a real Dask cluster: the same records as ``--jobs``, in input order.

One local cluster of two worker processes serves the whole module (starting one takes seconds);
the commands reach it as any remote scheduler, by its ``tcp://`` address. One test starts its own
cluster through ``--scheduler local:2``, as a user would.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from distributed import Client, LocalCluster

from careligible.batch import cluster as dask_batch
from careligible.batch.frozen import CatalogRefused, FrozenCatalog, freeze
from careligible.batch.partition import screen_piece
from careligible.batch.stream import MIN_PARALLEL
from careligible.catalog import Catalog, default_rules_dir, load_catalog
from careligible.cli import main
from careligible.cli.common import ExitCode
from careligible.fhir.bulk import PatientLines
from careligible.readers.bulk import bundle_pieces
from careligible.readers.pieces import pieces
from test_bulk_fhir import ACTIVE, CONFIRMED, patient, population_export, write_ndjson

DISEASES = ["sle", "iim", "ssc", "mg", "ms", "ra"]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a local cluster of two worker processes, one thread each."""
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        scheduler_kwargs={"dashboard": False},
    ) as cluster:
        yield cluster.scheduler_address


def _mixed(path: Path, n: int, seed: int = 5) -> Path:
    """``n`` JSON Lines records, about one in eight bad: invalid values, broken JSON, an id
    used before, a blank line."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        pick = rng.random()
        if pick < 0.03:
            lines.append(json.dumps({"id": f"p-{i}", "age": -1}))
        elif pick < 0.06:
            lines.append(f'{{"id": "p-{i}",')
        elif pick < 0.09:
            lines.append(json.dumps({"id": "p-0", "disease": "sle", "age": 30}))
        elif pick < 0.12:
            lines.append("")
        else:
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


def _as_csv(jsonl: Path, path: Path) -> Path:
    """The same cases as CSV (flat columns only), with a quoted cell over two lines and a
    quote left open."""
    rows = ["id,disease,age,labs.egfr"]
    for number, line in enumerate(jsonl.read_text().splitlines()):
        try:
            case = json.loads(line)
        except json.JSONDecodeError:
            rows.append(f'p-x{number},"sle,40,90')
            continue
        egfr = case.get("labs", {}).get("egfr", "")
        rows.append(f"{case['id']},{case.get('disease', '')},{case['age']},{egfr}")
    rows.insert(5, 'p-multi,"s\nle",40,90')
    path.write_text("\n".join(rows) + "\n")
    return path


def _screen(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["screen", *args])
    return result.exit_code, result.output


def _errors_line(stderr: str) -> int:
    """The number of records with errors, from the one line a run with some writes."""
    [line] = stderr.splitlines()
    assert line.endswith(" record(s) had errors; see the 'error' field"), line
    return int(line.split()[1])


def test_a_local_cluster_writes_the_records_of_two_local_workers(tmp_path: Path) -> None:
    cases = _mixed(tmp_path / "cases.jsonl", MIN_PARALLEL * 2 + 9)
    outputs, errors = {}, {}
    for how in (["--jobs", "2"], ["--scheduler", "local:2", "--partition-size", "40"]):
        out = tmp_path / f"out{how[0]}.jsonl"
        command = ["screen", "--format", "jsonl", *how, str(cases), "-o", str(out)]
        done = subprocess.run(
            [sys.executable, "-m", "careligible", *command], capture_output=True, text=True
        )
        assert done.returncode == ExitCode.RECORD_ERRORS, done.stderr
        errors[how[0]] = _errors_line(done.stderr)
        outputs[how[0]] = out.read_bytes()
    assert outputs["--scheduler"] == outputs["--jobs"]
    assert errors["--scheduler"] == errors["--jobs"] > 0
    records = [json.loads(line) for line in outputs["--jobs"].splitlines()]
    assert len(records) == len(cases.read_text().splitlines()) - cases.read_text().count("\n\n")
    assert any("duplicate case id 'p-0'" in (r["error"] or "") for r in records)
    assert any("invalid JSON" in (r["error"] or "") for r in records)
    assert sum(1 for r in records if r["trials"]) > MIN_PARALLEL


@pytest.mark.parametrize("fmt", ["jsonl", "compact", "csv", "table"])
def test_a_remote_scheduler_gives_the_records_of_local_workers(
    tmp_path: Path, scheduler: str, fmt: str
) -> None:
    jsonl = _mixed(tmp_path / "cases.jsonl", MIN_PARALLEL + 30, seed=8)
    csv = _as_csv(jsonl, tmp_path / "cases.csv")
    inputs = [str(jsonl), str(csv), "cases/sle-nephritis.yaml"]
    local_out, dask_out = tmp_path / f"local.{fmt}", tmp_path / f"dask.{fmt}"
    local = _screen("--format", fmt, "--jobs", "2", *inputs, "-o", str(local_out))
    on_dask = _screen(
        "--format", fmt, "--scheduler", scheduler, "--partition-size", "7",
        *inputs, "-o", str(dask_out),
    )  # fmt: skip
    assert local[0] == on_dask[0] == ExitCode.RECORD_ERRORS, on_dask[1]
    assert on_dask[1] == local[1]
    assert dask_out.read_bytes() == local_out.read_bytes()


def test_records_keep_input_order_across_files_and_pieces(tmp_path: Path, scheduler: str) -> None:
    first = _mixed(tmp_path / "a.jsonl", 60, seed=1)
    second = _mixed(tmp_path / "b.jsonl", 45, seed=2)
    out = tmp_path / "out.jsonl"
    code, _ = _screen(
        "--format", "jsonl", "--scheduler", scheduler, "--partition-size", "4",
        str(first), str(second), "-o", str(out),
    )  # fmt: skip
    assert code == ExitCode.RECORD_ERRORS
    sources = [json.loads(line)["source"] for line in out.read_text().splitlines()]
    expected = [
        f"{path}:{number}"
        for path in (first, second)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.strip()
    ]
    assert sources == expected
    assert len(list(pieces(first, "jsonl", 4))) > 10  # the file really was cut up


def test_a_worker_refuses_a_catalog_that_does_not_match_its_hash(
    tmp_path: Path, scheduler: str, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen = freeze(catalog)
    [piece] = pieces(_mixed(tmp_path / "cases.jsonl", 5), "jsonl", 100)
    with Client(scheduler) as client:
        good = client.submit(screen_piece, piece, frozen.data, frozen.digest, "jsonl", False)
        assert len(good.result()) == piece.records > 0
        wrong = "0" * 64
        bad = client.submit(screen_piece, piece, frozen.data, wrong, "jsonl", False)
        with pytest.raises(CatalogRefused, match="does not match its hash"):
            bad.result()
    # Through the command: the run stops with one line, and an earlier output is kept.
    monkeypatch.setattr(
        dask_batch, "freeze", lambda c: FrozenCatalog(freeze(c).data, wrong, c.version)
    )
    out = tmp_path / "out.jsonl"
    out.write_text("earlier\n")
    code, output = _screen(
        "--format", "jsonl", "--scheduler", scheduler, str(piece.file), "-o", str(out)
    )
    assert code == ExitCode.WORKERS_LOST
    assert output.splitlines() == [
        "careligible: workers lost: a Dask worker refused the catalog: the catalog sent to this "
        f"worker does not match its hash; {out} was left as it was"
    ]
    assert out.read_text() == "earlier\n"


def test_a_scheduler_that_cannot_be_reached_ends_the_run_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dask_batch, "CONNECT_WITHIN", 1.0)
    cases = _mixed(tmp_path / "cases.jsonl", 3)
    code, output = _screen("--format", "jsonl", "--scheduler", "tcp://127.0.0.1:9", str(cases))
    assert code == ExitCode.WORKERS_LOST
    [line] = output.splitlines()
    assert line.startswith(
        "careligible: workers lost: cannot reach the scheduler at tcp://127.0.0.1:9"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scheduler", "local:0"], "expected local:N with N at least 1"),
        (["--scheduler", "somewhere"], "expected tcp://HOST:PORT or local:N"),
        (["--scheduler", "local:2", "--jobs", "2"], "give one"),
        (["--scheduler", "local:2", "--audit-log", "log.jsonl"], "--audit-log needs the cases"),
    ],
)
def test_what_a_scheduler_cannot_be_combined_with_is_refused_before_any_work(
    args: list[str], message: str
) -> None:
    code, output = _screen(*args, "cases/batch.jsonl")
    assert code == ExitCode.CANNOT_RUN
    assert message in output


def _parts(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_empty_directory_gets_one_file_per_piece_in_input_order(
    tmp_path: Path, scheduler: str, fmt: str
) -> None:
    first = _mixed(tmp_path / "a.jsonl", 30, seed=3)
    second = _mixed(tmp_path / "b.jsonl", 12, seed=4)
    inputs = [str(first), str(second)]
    single, folder = tmp_path / f"all.{fmt}", tmp_path / "dataset"
    folder.mkdir()
    common = ["--format", fmt, "--scheduler", scheduler, "--partition-size", "8", *inputs]
    assert _screen(*common, "-o", str(single))[0] == ExitCode.RECORD_ERRORS
    code, output = _screen(*common, "-o", str(folder))
    assert code == ExitCode.RECORD_ERRORS, output
    cut = [p for path in (first, second) for p in pieces(path, "jsonl", 8)]
    assert _parts(folder) == [f"part-{n:05d}.{fmt}" for n in range(len(cut))]
    texts = [(folder / name).read_text() for name in _parts(folder)]
    if fmt == "jsonl":
        assert "".join(texts) == single.read_text()
        assert [len(t.splitlines()) for t in texts] == [p.records for p in cut]
    else:  # every file has its header; the rows, in order, are those of the single file
        header, *rows = single.read_text().splitlines(keepends=True)
        assert all(t.startswith(header) for t in texts)
        assert "".join(t.removeprefix(header) for t in texts) == "".join(rows)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dataset.")]


def test_a_parquet_dataset_holds_the_rows_of_one_parquet_file(
    tmp_path: Path, scheduler: str
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    cases = _mixed(tmp_path / "cases.jsonl", 50, seed=6)
    single, folder = tmp_path / "all.parquet", tmp_path / "dataset"
    folder.mkdir()
    common = ["--format", "parquet", "--scheduler", scheduler, "--partition-size", "16"]
    assert _screen(*common, str(cases), "-o", str(single))[0] == ExitCode.RECORD_ERRORS
    assert _screen(*common, str(cases), "-o", str(folder))[0] == ExitCode.RECORD_ERRORS
    assert _parts(folder) == [f"part-{n:05d}.parquet" for n in range(4)]
    rows = [row for name in _parts(folder) for row in pq.read_table(folder / name).to_pylist()]
    assert rows == pq.read_table(single).to_pylist()
    assert len(rows) == len([line for line in cases.read_text().splitlines() if line])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "jsonl"], "a dataset (one file per piece) comes from a --scheduler run"),
        (["--format", "table", "--scheduler", "local:1"], "--format table has no dataset form"),
        (["--format", "jsonl", "--scheduler", "local:1", "--held"], "holds files (kept.txt)"),
    ],
)
def test_a_directory_that_cannot_take_a_dataset_is_refused_before_any_work(
    tmp_path: Path, args: list[str], message: str
) -> None:
    folder = tmp_path / "dataset"
    folder.mkdir()
    if "--held" in args:
        args.remove("--held")
        (folder / "kept.txt").write_text("kept\n")
    code, output = _screen(*args, "cases/batch.jsonl", "-o", str(folder))
    assert code == ExitCode.CANNOT_RUN
    assert message in output
    assert _parts(folder) == (["kept.txt"] if "holds" in message else [])


def test_a_run_that_fails_leaves_the_directory_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dask_batch, "CONNECT_WITHIN", 1.0)
    folder = tmp_path / "dataset"
    folder.mkdir()
    cases = _mixed(tmp_path / "cases.jsonl", 3)
    code, output = _screen(
        "--format", "jsonl", "--scheduler", "tcp://127.0.0.1:9", str(cases), "-o", str(folder)
    )
    assert code == ExitCode.WORKERS_LOST
    assert output.rstrip().endswith(f"{folder} was left as it was")
    assert _parts(folder) == []
    assert _parts(tmp_path) == ["cases.jsonl", "dataset"]


def _parquet_cases(path: Path, count: int) -> Path:
    """``count`` cases as a Parquet file with the CSV columns, typed as a warehouse would: one
    age unknown (null), one invalid, one row with no id."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rng = random.Random(9)
    ids: list[str | None] = [f"p-{i}" for i in range(count)]
    ages: list[int | None] = [rng.randint(12, 80) for _ in range(count)]
    ages[3], ages[5], ids[8] = None, -1, None
    table = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "disease": pa.array([rng.choice(DISEASES) for _ in range(count)], pa.string()),
            "age": pa.array(ages, pa.int64()),
            "labs.egfr": pa.array([float(rng.randint(10, 120)) for _ in range(count)]),
        }
    )
    pq.write_table(table, path, row_group_size=10)
    return path


def test_parquet_cases_read_as_their_csv_and_in_pieces_on_the_cluster(
    tmp_path: Path, scheduler: str
) -> None:
    parquet = _parquet_cases(tmp_path / "cases.parquet", 40)
    pq = pytest.importorskip("pyarrow.parquet")
    rows = pq.read_table(parquet).to_pylist()
    csv = tmp_path / "cases.csv"
    lines = ["id,disease,age,labs.egfr"]
    for row in rows:
        cells = [row["id"], row["disease"], row["age"], int(row["labs.egfr"])]
        lines.append(",".join("" if cell is None else str(cell) for cell in cells))
    csv.write_text("\n".join(lines) + "\n")
    local = _screen("--format", "jsonl", "--jobs", "1", str(parquet))
    from_csv = _screen("--format", "jsonl", "--jobs", "1", str(csv))
    assert local[0] == from_csv[0] == ExitCode.RECORD_ERRORS
    records = [json.loads(line) for line in local[1].splitlines()[:-1]]
    csv_records = [json.loads(line) for line in from_csv[1].splitlines()[:-1]]
    assert [r["source"] for r in records] == [f"{parquet}:{n}" for n in range(1, 41)]
    for record, same in zip(records, csv_records, strict=True):  # the same but for the place
        assert {**record, "source": None, "error": None} == {**same, "source": None, "error": None}
        assert bool(record["error"]) == bool(same["error"])
    assert [n for n, r in enumerate(records, start=1) if r["error"]] == [6, 9]
    assert "age" in records[5]["error"] and records[3]["error"] is None
    out = tmp_path / "dask.jsonl"
    code, output = _screen(
        "--format", "jsonl", "--scheduler", scheduler, "--partition-size", "7",
        str(parquet), "-o", str(out),
    )  # fmt: skip
    assert code == ExitCode.RECORD_ERRORS, output
    assert out.read_text().splitlines() == local[1].splitlines()[:-1]
    assert [p.records for p in pieces(parquet, "parquet", 7)] == [7] * 5 + [5]


def test_a_file_that_is_not_parquet_cannot_run(tmp_path: Path) -> None:
    fake = tmp_path / "cases.parquet"
    fake.write_text("id,age\np-1,40\n")
    code, output = _screen("--format", "jsonl", str(fake))
    assert code == ExitCode.CANNOT_RUN
    assert f"{fake}: cannot read as Parquet" in output


def test_a_piece_that_outlasts_many_waits_is_read_whole(
    tmp_path: Path, scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client waits for each piece in short polls; a piece that finishes just as a poll runs
    out is read, not taken for a failure."""
    monkeypatch.setattr(dask_batch, "POLL", 0.002)
    cases = _mixed(tmp_path / "cases.jsonl", 300, seed=11)
    local = _screen("--format", "jsonl", "--jobs", "1", str(cases))
    on_dask = _screen(
        "--format", "jsonl", "--scheduler", scheduler, "--partition-size", "25", str(cases)
    )
    assert on_dask == local
    assert "not screened" not in on_dask[1]


# --- a FHIR bulk export -------------------------------------------------------------------------


def test_a_bulk_export_on_a_local_cluster_gives_the_records_of_local_workers(
    tmp_path: Path,
) -> None:
    """Grouped by patient here, imported and screened on the workers: the records of --jobs."""
    export = population_export(tmp_path / "export", MIN_PARALLEL + 12)
    again = tmp_path / "again.jsonl"  # a case id the export already used
    again.write_text(json.dumps({"id": "pseudo-d1", "disease": "sle", "age": 30}) + "\n")
    inputs = [str(export), str(again)]
    runs = {}
    for how in (["--jobs", "2"], ["--scheduler", "local:2", "--partition-size", "40"]):
        out = tmp_path / f"out{how[0]}.jsonl"
        code, output = _screen("--format", "jsonl", *how, *inputs, "-o", str(out))
        runs[how[0]] = (code, output, out.read_bytes())
    assert runs["--scheduler"] == runs["--jobs"]
    code, output, written = runs["--jobs"]
    assert code == ExitCode.RECORD_ERRORS
    assert _errors_line(output) == 5
    records = [json.loads(line) for line in written.splitlines()]
    assert len(records) == MIN_PARALLEL + 12 + 1 + 2 + 1
    first, failed, lost = records[0], records[4], records[9]
    assert first["source"] == f"{export / 'Patient.000.ndjson'}:1" and first["trials"]
    assert any("Encounter files not read" in w for w in first["warnings"])
    assert failed["case_id"] == "pseudo-d5" and "gender" in failed["error"]
    assert lost["case_id"] is None and "needs a FHIR id" in lost["error"]
    assert "Patient/pseudo-gone" in records[-2]["error"]
    assert f"duplicate case id 'pseudo-d1' (first at {first['source']})" in records[-1]["error"]
    assert sum(1 for r in records if r["trials"]) == MIN_PARALLEL + 12 - 1


#: A wording of SLE that only the site's own FHIR mapping knows.
LOCAL_TEXT = "lupus eritematoso sistemico"


def _site_rules(root: Path) -> Path:
    """The shipped rules, with one more wording of SLE in their FHIR mapping."""
    shutil.copytree(default_rules_dir(), root)
    mapping = root / "vocabulary" / "fhir.yaml"
    shipped = "    text: [systemic lupus erythematosus, SLE]\n"
    text = mapping.read_text(encoding="utf-8")
    assert shipped in text
    local = f"    text: [systemic lupus erythematosus, SLE, {LOCAL_TEXT}]\n"
    mapping.write_text(text.replace(shipped, local), encoding="utf-8")
    return root


def _local_wording_export(root: Path, count: int) -> Path:
    """Patients whose only diagnosis is written in the site's words."""
    root.mkdir()
    write_ndjson(
        root / "Patient.ndjson",
        [patient(f"pseudo-w{n}", "female", "1988-03-04") for n in range(count)],
    )
    conditions = [
        {
            "resourceType": "Condition",
            "id": f"c-{n}",
            "subject": {"reference": f"Patient/pseudo-w{n}"},
            "code": {"text": LOCAL_TEXT},
            "clinicalStatus": ACTIVE,
            "verificationStatus": CONFIRMED,
        }
        for n in range(count)
    ]
    write_ndjson(root / "Condition.ndjson", conditions)
    return root


def test_the_workers_import_a_bulk_export_with_the_mapping_of_the_catalog_sent(
    tmp_path: Path, scheduler: str
) -> None:
    """The workers read no rule file: the site's mapping reaches them inside the catalog."""
    rules = _site_rules(tmp_path / "site-rules")
    export = _local_wording_export(tmp_path / "export", 5)
    catalog = load_catalog(rules)
    frozen = freeze(catalog)
    cut = list(bundle_pieces(export, catalog, 2))
    assert [p.records for p in cut] == [2, 2, 1]
    assert all(isinstance(item, PatientLines) for p in cut for item in p.items)  # not imported
    with Client(scheduler) as client:
        futures = [
            client.submit(screen_piece, p, frozen.data, frozen.digest, "jsonl", False) for p in cut
        ]
        replies = [reply for future in futures for reply in future.result()]
    assert [(line, case_id, failed) for line, case_id, failed, _, _ in replies] == [
        (n + 1, f"pseudo-w{n}", False) for n in range(5)
    ]
    diseases = {
        criterion["facts"].get("disease")
        for _, _, _, text, _ in replies
        for trial in json.loads(text or "{}")["trials"]
        for criterion in trial["criteria"]
    }
    assert "sle" in diseases
    # Through the command, the same records as --jobs; and without the site's rules, no SLE.
    local = _screen("--format", "jsonl", "--jobs", "2", "--rules", str(rules), str(export))
    on_dask = _screen(
        "--format", "jsonl", "--scheduler", scheduler, "--rules", str(rules), str(export)
    )
    assert on_dask == local
    assert on_dask[1] == "".join(text or "" for _, _, _, text, _ in replies)
    shipped = _screen("--format", "jsonl", "--scheduler", scheduler, str(export))
    assert '"disease": "sle"' not in shipped[1] and shipped[1] != on_dask[1]
