"""Pieces of a case file, or of a FHIR bulk export, read each alone exactly as the whole input."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from careligible.batch.frozen import CatalogRefused, freeze
from careligible.batch.partition import screen_piece
from careligible.catalog import Catalog
from careligible.fhir.bulk import BulkItem, PatientLines
from careligible.readers import read_records
from careligible.readers.bulk import bundle_pieces, read_bundle_piece, read_export
from careligible.readers.pieces import Piece, pieces, read_piece
from test_bulk_fhir import population_export


def _awkward_csv(path: Path, rows: int, seed: int) -> Path:
    """A CSV file with every way a row can span lines or break: quoted cells over two lines,
    quotes left open, blank lines and separator-only rows, bytes that are not UTF-8."""
    rng = random.Random(seed)
    lines = [b"", b"id,disease,age,labs.egfr"]
    for i in range(rows):
        pick = rng.random()
        if pick < 0.06:
            lines.append(b'p-%d,"sle,40,90' % i)  # a quote left open
        elif pick < 0.12:
            lines.append(b'p-%d,"s\nle",40,90' % i)  # a cell over two lines
        elif pick < 0.18:
            lines.append(b"")
        elif pick < 0.22:
            lines.append(b"p-%d,sl\xe9,40,90" % i)  # Latin-1
        elif pick < 0.25:
            lines.append(b",,,")
        else:
            lines.append(b"p-%d,sle,%d,90" % (i, rng.randint(10, 80)))
    path.write_bytes(b"\n".join(lines) + b"\n\n\n")
    return path


def _awkward_jsonl(path: Path, rows: int, seed: int) -> Path:
    rng = random.Random(seed)
    lines = ["", "  "]
    for i in range(rows):
        pick = rng.random()
        if pick < 0.1:
            lines.append("")
        elif pick < 0.15:
            lines.append("\u00a0")  # blank to the reader, though not to bytes.strip()
        elif pick < 0.25:
            lines.append(f'{{"id": "p-{i}",')
        else:
            lines.append(json.dumps({"id": f"p-{i}", "disease": "mg", "age": 30 + i % 40}))
    path.write_text("\n".join(lines) + "\n \n")
    return path


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("size", [1, 2, 5, 40, 10_000])
def test_pieces_read_as_the_whole_file(tmp_path: Path, seed: int, size: int) -> None:
    for path, fmt in (
        (_awkward_csv(tmp_path / "cases.csv", 200, seed), "csv"),
        (_awkward_jsonl(tmp_path / "cases.jsonl", 200, seed), "jsonl"),
    ):
        whole = list(read_records(path))
        cut = list(pieces(path, fmt, size))
        assert [r for piece in cut for r in read_piece(piece)] == whole
        assert sum(piece.records for piece in cut) == len(whole)
        assert all(piece.records >= 1 for piece in cut)
        if size < 40:
            assert len(cut) > 1, "the file was not cut at all"


def test_a_csv_piece_after_the_first_carries_the_header(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text("id,disease,age\np-1,sle,30\np-2,mg,40\np-3,ms,50\n")
    first, second, third = pieces(path, "csv", 1)
    assert (first.first_line, first.head) == (1, b"")
    assert (third.first_line, third.head, third.body) == (4, b"id,disease,age\n", b"p-3,ms,50\n")
    assert [r.data for r in read_piece(second)] == [{"id": "p-2", "disease": "mg", "age": "40"}]


def test_a_yaml_or_json_file_is_one_piece(tmp_path: Path) -> None:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([{"id": "a", "disease": "mg"}, {"id": "b", "disease": "ms"}]))
    [piece] = pieces(path, "json", 1)
    assert list(read_piece(piece)) == list(read_records(path))


def test_a_catalog_that_does_not_match_its_hash_is_refused_unread(catalog: Catalog) -> None:
    frozen = freeze(catalog)
    piece = Piece("jsonl", "cases.jsonl", 1, b'{"id": "a", "disease": "mg", "age": 40}\n')
    [(line, case_id, failed, text, _)] = screen_piece(
        piece, frozen.data, frozen.digest, "jsonl", False
    )
    assert (line, case_id, failed) == (1, "a", False)
    assert text is not None and json.loads(text)["source"] == "cases.jsonl:1"
    altered = frozen.data[:-1] + bytes([frozen.data[-1] ^ 1])
    with pytest.raises(CatalogRefused, match="does not match its hash"):
        screen_piece(piece, altered, frozen.digest, "jsonl", False)
    # Bytes that are no pickle at all are refused by the hash, never handed to pickle.
    with pytest.raises(CatalogRefused, match="does not match its hash"):
        screen_piece(piece, b"not a pickle", frozen.digest, "jsonl", False)


@pytest.mark.parametrize(("size", "max_text"), [(1, 10**9), (7, 10**9), (1000, 10**9), (50, 1)])
def test_an_export_in_pieces_of_grouped_patients_reads_as_the_whole_export(
    tmp_path: Path, catalog: Catalog, size: int, max_text: int
) -> None:
    export = population_export(tmp_path / "export", 30)
    cut = list(bundle_pieces(export, catalog, size, max_text))
    whole = [(file, line, parsed) for file, line, parsed in read_export(export, catalog)]
    read = [(p.file, line, parsed) for p in cut for line, parsed in read_bundle_piece(p, catalog)]
    assert read == whole
    assert len(whole) == 30 + 1 + 2  # the patients, one Patient without an id, two lines of nobody
    assert [parsed.source for _, _, parsed in whole] == [f"{f}:{n}" for f, n, _ in whole]
    # Cut within a file only, never more than asked; nothing imported where the export was cut.
    for piece in cut:
        assert {item.file for item in piece.items} == {piece.file}
        assert 1 <= piece.records <= size
        if max_text == 1:  # a patient's text fills a piece: the next record starts another
            assert sum(isinstance(i, PatientLines) for i in piece.items[:-1]) == 0
        assert all(isinstance(i, PatientLines) or i.imported is None for i in piece.items)
    assert sum(isinstance(i, BulkItem) for p in cut for i in p.items) == 3
    files = [p.file for p in cut]
    assert sorted(set(files), key=files.index) == [
        str(export / name)
        for name in ("Patient.000.ndjson", "Patient.001.ndjson", "Condition.000.ndjson")
    ] + [str(export / "Condition.001.ndjson")]
