"""Bad case files: each record gives a verdict or one clear error naming file, line and field.

Nothing a user can put in a case file may crash the tool or stop a batch: ``careligible screen``
writes exactly one output record per input record, in input order, and exits with the documented
:class:`~careligible.cli.ExitCode`. The small inputs are the corpus in ``tests/bad_inputs/`` (its
README says what the reader decides for each kind of input); inputs too large or too deep to keep
in the repository are generated here, into ``tmp_path``.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from click.testing import Result

from careligible.catalog import Catalog, load_catalog
from careligible.cli import ExitCode
from careligible.readers import parse_case, read_records
from conftest import run_cli as run

CORPUS = Path(__file__).parent / "bad_inputs"

#: (line of the record, its case id, its error after "file:") for each record of a corpus file.
Row = tuple[int, str | None, str | None]

NO_CASE: list[Row] = [(1, None, "1: the file holds no case")]

ONLY_SEPARATORS = (
    "the cell holds only separators (';'); leave it empty when unknown, or name the items"
)
UNSAFE = "must be plain text: character"
KIND = "a control, formatting or bidirectional character"
SURROGATE = "holds a lone surrogate (an escape such as \\ud800), which is not text"

EXPECTED: dict[str, list[Row]] = {
    # --- syntax ---
    "malformed.yaml": [(4, None, "4: invalid YAML: expected ',' or '}', but got ':'")],
    "malformed.json": [(4, None, "4: invalid JSON: Expecting ',' delimiter (column 3)")],
    "malformed-line.jsonl": [
        (1, "jl-1", None),
        (2, None, "2: invalid JSON: Expecting property name enclosed in double quotes (column 44)"),
        (3, "jl-3", None),
        (4, None, "4: invalid JSON: Expecting ',' delimiter (column 15)"),
        (6, None, "6: invalid JSON: Extra data (column 34)"),
        (7, "jl-7", None),
    ],
    "truncated-array.json": [
        (2, "ta-1", None),
        (3, "ta-2", None),
        (
            5,
            None,
            "5: invalid JSON: Expecting value (column 1); the rest of the array cannot be read",
        ),
    ],
    "trailing-data.json": [
        (2, "td-1", None),
        (4, None, "4: invalid JSON: extra data after the list of cases"),
    ],
    "unbalanced-quote.csv": [
        (2, "q-1", None),
        (
            3,
            None,
            "3: unbalanced quote: a quoted cell opened on this line runs on to line 5, so the row "
            'has 1 cell(s) where the header has 3; check the quotes (")',
        ),
        (4, "q-3", None),
        (5, "q-4", None),
    ],
    "wrong-column-count.csv": [
        (2, "w-1", None),
        (3, None, "3: row has 4 cells but the header has 3"),
        (4, None, "4: row has 2 cells but the header has 3"),
        (5, "w-4", None),
    ],
    "duplicate-header.csv": [
        (2, None, "2: column 'age' appears twice in the header (columns 2 and 4)"),
        (3, None, "3: column 'age' appears twice in the header (columns 2 and 4)"),
    ],
    "unnamed-column.csv": [
        (2, "n-1", None),
        (3, None, "3: column 2 has a value but no name"),
    ],
    "duplicate-key.yaml": [(4, None, "4: duplicate key 'age'")],
    "two-documents.yaml": [
        (
            3,
            None,
            "3: invalid YAML: expected a single document in the stream but found another document",
        )
    ],
    "tab-indent.yaml": [
        (3, None, "3: invalid YAML: found character '\\t' that cannot start any token")
    ],
    "impossible-date.yaml": [
        (1, "date-1", "3: history.live_vaccine_weeks_ago: must be a number (got '2024-13-45')")
    ],
    "alias-bomb.yaml": [
        (4, None, "4: invalid YAML: aliases (*name) expand the document far beyond its size")
    ],
    "recursive-alias.yaml": [(2, None, "2: invalid YAML: nested more than 100 levels deep")],
    # --- types, ranges, names ---
    "wrong-types.yaml": [
        (1, "wt-1", "2: age: must be a whole number (got 'thirty')"),
        (3, "wt-2", "4: sex: must be one of 'female' or 'male' (got ['female'])"),
        (5, "wt-3", "6: labs: must be a mapping of fields (got 58)"),
        (7, "wt-4", "8: pregnant: must be true or false (got 'maybe')"),
        (9, "wt-5", "10: therapies: must be a list (got {'drug': 'rituximab'})"),
        (11, "wt-6", "13: labs.egfr: must be a number (got [58, 60])"),
        (14, "17", "14: id: must be text (got 17)"),
        (16, None, "16: a case must be a mapping of fields"),
    ],
    "out-of-range.jsonl": [
        (1, "or-1", "1: age: must be at least 0 (got -1)"),
        (2, "or-2", "2: labs.egfr: must be at most 250 (got 1000000)"),
        (3, "or-3", "3: scores.edss: must be in steps of 0.5 (got 3.3)"),
        (4, "or-4", "4: organ_function.nyha_class: must be at least 1 (got 0)"),
        (5, "or-5", "5: therapies[0].months: must be at least 0 (got -2)"),
        (6, "or-6", None),
    ],
    "enormous-numbers.json": [
        (2, "big-1", "2: age: must be a finite number (got inf)"),
        (3, "big-2", "3: labs.egfr: must be a finite number (got inf)"),
        (4, "big-3", "4: age: must be at most 120 (got 1000000000000000000000000000000000000...)"),
        (5, "big-4", "5: labs.platelets: must be a finite number (got -inf)"),
        (6, "big-5", None),
    ],
    "nan-infinity.jsonl": [
        (1, "nf-1", "1: labs.egfr: must be a finite number (got nan)"),
        (2, "nf-2", "2: age: must be a finite number (got inf)"),
        (3, "nf-3", "3: labs.platelets: must be a finite number (got -inf)"),
        (4, "nf-4", None),
    ],
    "unknown-fields.yaml": [
        (1, "uf-1", "2: weigth_kg: unknown field; did you mean 'weight_kg'?"),
        (3, "uf-2", "5: labs.egrf: unknown field; did you mean 'egfr'?"),
        (6, "uf-3", "9: therapies[0].outcom: unknown field; did you mean 'outcome'?"),
        (10, "uf-4", "11: zzz_qqq: unknown field"),
    ],
    "unknown-drug.yaml": [(1, "ud-1", None)],
    "duplicate-ids.csv": [(2, "d-1", None), (3, "d-2", None), (4, "d-1", None), (5, "d-2", None)],
    "booleans-as-numbers.jsonl": [
        (1, "bn-1", "1: labs.creatinine_mg_dl: must be a number (got false)"),
        (2, "bn-2", "2: age: must be a whole number (got true)"),
        (3, "bn-3", None),
    ],
    "booleans-as-numbers.yaml": [
        (
            1,
            "by-1",
            "2: age: must be a whole number (got true); "
            f"{CORPUS}/booleans-as-numbers.yaml:3: weight_kg: must be a number (got false)",
        )
    ],
    "duplicate-key.json": [
        (2, "dk-1", None),
        (3, "dk-2", "3: duplicate key 'age'"),
        (5, "dk-3", "5: labs: duplicate key 'egfr'"),
    ],
    "separators-only.csv": [
        (2, None, f"2: therapies: {ONLY_SEPARATORS}"),
        (3, None, f"3: scores.bilag_b: {ONLY_SEPARATORS}"),
        (4, "sp-3", None),
    ],
    "duplicate-items.yaml": [
        (1, "di-1", "3: scores.bilag_b: lists 'renal' twice; name each item once"),
        (4, "di-2", "5: overlap: lists 'ssc' twice; name each item once"),
        (6, "di-3", None),  # the same drug twice: two courses
    ],
    "unsafe-ids.jsonl": [
        (1, None, f"1: id: {UNSAFE} 4 is U+001B, {KIND}"),
        (2, None, f"2: id: {UNSAFE} 5 is U+202E, {KIND}"),
        (3, None, f"3: id: {SURROGATE}"),
        (4, None, f"4: id: {UNSAFE} 5 is U+2028, {KIND}"),
        (5, "us-5", f"5: therapies[0].drug: {SURROGATE}"),
        (6, "us-6", None),
    ],
    "markup.jsonl": [(1, "[/bold]", "1: age: must be at least 0 (got -1)"), (2, "mk-[red]2", None)],
    # --- nothing in them ---
    "empty.yaml": NO_CASE,
    "empty.json": NO_CASE,
    "empty.jsonl": NO_CASE,
    "empty.csv": NO_CASE,
    "whitespace-only.yaml": NO_CASE,
    "whitespace-only.json": NO_CASE,
    "whitespace-only.jsonl": NO_CASE,
    "whitespace-only.csv": NO_CASE,
    "header-only.csv": NO_CASE,
    "dashes-only.yaml": NO_CASE,
    "comments-only.yaml": NO_CASE,
    "empty-list.json": NO_CASE,
    "empty-list.yaml": NO_CASE,
    # --- encodings ---
    "bom.yaml": [(1, "bom-y", None)],
    "bom.json": [(1, "bom-j", None)],
    "bom.jsonl": [(1, "bom-l1", None), (2, "bom-l2", None)],
    "bom.csv": [(2, "bom-c1", None), (3, "bom-c2", None)],
    "latin1.yaml": [
        (
            4,
            None,
            "4: therapies[0].drug: not UTF-8 text (byte 13 of the line is 0xe9); "
            "save the file as UTF-8",
        )
    ],
    "latin1.json": [
        (2, "lat-j1", None),
        (
            3,
            None,
            "3: therapies[0].drug: not UTF-8 text (byte 45 of the line is 0xe9); "
            "save the file as UTF-8",
        ),
        (4, "lat-j3", None),
    ],
    "latin1.jsonl": [
        (1, "lat-l1", None),
        (2, None, "2: sex: not UTF-8 text (byte 27 of the line is 0xe9); save the file as UTF-8"),
        (3, "lat-l3", None),
    ],
    "latin1.csv": [
        (2, "lat-c1", None),
        (
            3,
            None,
            "3: subtype: not UTF-8 text (byte 25 of the line is 0xed); save the file as UTF-8",
        ),
        (4, "lat-c3", None),
    ],
    "latin1-header.csv": [
        (
            line,
            None,
            f"{line}: cannot read the CSV header (line 1): not UTF-8 text "
            "(byte 4 of the line is 0xe2); save the file as UTF-8",
        )
        for line in (2, 3)
    ],
}


@pytest.fixture(autouse=True)
def _load_the_catalog_once(monkeypatch: pytest.MonkeyPatch, catalog: Catalog) -> None:
    """Each ``screen`` run here uses the shipped catalog; loading it once keeps the tests fast."""
    monkeypatch.setattr(
        "careligible.cli.common.load_catalog",
        lambda directory=None: catalog if directory is None else load_catalog(directory),
    )


def read(path: Path) -> list[Row]:
    """What the reader makes of ``path``: one row per record."""
    rows = []
    for record in read_records(path):
        parsed = parse_case(record)
        line = int(parsed.source.rsplit(":", 1)[1])
        error = parsed.error
        if error is not None:
            assert error.startswith(f"{path}:"), error  # every error names its file first
            error = error.removeprefix(f"{path}:")
        rows.append((line, parsed.case_id, error))
    return rows


def jsonl(result: Result) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.suffix != ".md")


def test_every_corpus_file_has_expectations() -> None:
    assert sorted(p.name for p in corpus_files()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_record_is_read_or_refused_with_its_location(name: str) -> None:
    assert read(CORPUS / name) == EXPECTED[name]


def test_the_whole_corpus_is_one_batch_with_one_record_per_input_record() -> None:
    """Every corpus file at once: bad files and bad rows never stop the batch."""
    paths = corpus_files()
    result = run("screen", "--format", "jsonl", *paths)
    assert result.exit_code == ExitCode.RECORD_ERRORS
    expected = [
        (f"{path}:{line}", f"{path}:{error}" if error else None)
        for path in paths
        for line, _, error in EXPECTED[path.name]
    ]
    dups = CORPUS / "duplicate-ids.csv"  # valid rows, refused by the batch for their ids
    for line, first in ((4, 2), (5, 3)):
        index = expected.index((f"{dups}:{line}", None))
        case_id = "d-1" if line == 4 else "d-2"
        error = f"{dups}:{line}: id: duplicate case id '{case_id}' (first at {dups}:{first})"
        expected[index] = (f"{dups}:{line}", error)
    records = jsonl(result)
    assert [(r["source"], r["error"]) for r in records] == expected
    assert all(r["trials"] for r in records if r["error"] is None)
    errors = sum(error is not None for _, error in expected)
    assert f"careligible: {errors} record(s) had errors" in result.stderr


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_every_output_format_survives_the_corpus(fmt: str) -> None:
    paths = corpus_files()
    count = sum(len(EXPECTED[p.name]) for p in paths)
    errors = sum(error is not None for p in paths for *_, error in EXPECTED[p.name]) + 2
    result = run("screen", "--format", fmt, *paths)
    assert result.exit_code == ExitCode.RECORD_ERRORS
    if fmt == "json":
        assert len(json.loads(result.stdout)) == count
    elif fmt == "csv":
        rows = list(csv.DictReader(result.stdout.splitlines()))
        assert len(rows) == count and sum(bool(r["error"]) for r in rows) == errors
    else:
        assert result.stdout.count("error:") == errors
        assert "[/bold]" in result.stdout  # a case id that looks like markup is shown as text


def test_duplicate_ids_are_errors_within_and_across_files(tmp_path: Path) -> None:
    other = tmp_path / "more.jsonl"
    other.write_text('{"id": "d-2", "disease": "mg"}\n{"id": "d-9", "disease": "mg"}\n')
    dups = CORPUS / "duplicate-ids.csv"
    records = jsonl(run("screen", "--format", "jsonl", dups, other))
    assert [r["error"] for r in records] == [
        None,
        None,
        f"{dups}:4: id: duplicate case id 'd-1' (first at {dups}:2)",
        f"{dups}:5: id: duplicate case id 'd-2' (first at {dups}:3)",  # " d-2 " is d-2
        f"{other}:1: id: duplicate case id 'd-2' (first at {dups}:3)",
        None,
    ]


def test_an_unknown_drug_is_a_warning_and_the_case_is_screened() -> None:
    result = run("screen", "--format", "jsonl", CORPUS / "unknown-drug.yaml")
    assert result.exit_code == ExitCode.OK
    [record] = jsonl(result)
    assert record["error"] is None and record["trials"]
    assert record["warnings"] == [
        "therapies[0].drug: 'ritoximab' is not in the drug vocabulary (did you mean "
        "'rituximab'?); it counts in no drug class"
    ]  # RTX, on the next line, is a known abbreviation of rituximab


def test_a_byte_order_mark_is_dropped_and_the_text_read_as_utf8() -> None:
    cases = {
        parse_case(r).case_id: parse_case(r).case
        for name in ("bom.yaml", "bom.json", "bom.jsonl", "bom.csv")
        for r in read_records(CORPUS / name)
    }
    assert sorted(cases) == ["bom-c1", "bom-c2", "bom-j", "bom-l1", "bom-l2", "bom-y"]
    yaml_case, csv_case = cases["bom-y"], cases["bom-c1"]
    assert yaml_case is not None and yaml_case.therapies is not None
    assert yaml_case.therapies[0].dose == "15 mg/semaine, \u00b5"
    assert csv_case is not None and csv_case.subtype == "s\u00e9ropositive"
    assert run("screen", *(CORPUS / f"bom.{ext}" for ext in ("yaml", "json", "csv"))).exit_code == 0


def test_latin1_is_refused_per_record_not_per_file(tmp_path: Path) -> None:
    """A non-UTF-8 byte fails the record holding it, wherever it is, and no other record."""
    path = tmp_path / "mixed.yaml"
    path.write_bytes(
        "# r\u00e9sum\u00e9 of the clinic\n- id: a-1\n  disease: mg\n- id: a-2\n  disease: ms\n"
        "- id: a-3\n  therapies:\n  - drug: rituximab\n    dose: 1 g \u00e0 J1\n".encode("latin-1")
    )
    assert read(path) == [
        (1, None, "1: not UTF-8 text (byte 4 of the line is 0xe9); save the file as UTF-8"),
        (4, "a-2", None),
        (
            9,
            None,
            "9: therapies[0].dose: not UTF-8 text (byte 15 of the line is 0xe0); "
            "save the file as UTF-8",
        ),
    ]


HUGE = "1" + "0" * 5000  # beyond Python's 4300-digit limit for converting text to int
SHOWN = repr(HUGE)[:37] + "..."  # how a message quotes it


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "one.json",
            f'{{"id": "h-1",\n "age": {HUGE}}}',
            [(1, "h-1", "1: age: must be a finite number (got inf)")],
        ),
        (
            "many.json",
            f'[{{"id": "h-1", "labs": {{"egfr": -{HUGE}}}}},\n {{"id": "h-2"}}]',
            [(1, "h-1", "1: labs.egfr: must be a finite number (got -inf)"), (2, "h-2", None)],
        ),
        (
            "lines.jsonl",
            f'{{"id": "h-1", "age": {HUGE}}}\n{{"id": "h-2"}}\n',
            [(1, "h-1", "1: age: must be a finite number (got inf)"), (2, "h-2", None)],
        ),
        (
            "list.yaml",
            f"- id: h-1\n  age: {HUGE}\n- id: h-2\n  labs: {{egfr: {HUGE}}}\n- id: h-3\n",
            [
                (1, "h-1", f"2: age: is too large a number (got {SHOWN})"),
                (3, "h-2", f"4: labs.egfr: must be a finite number (got {SHOWN})"),
                (5, "h-3", None),
            ],
        ),
        (
            "rows.csv",
            f"id,age,labs.egfr\nh-1,{HUGE},\nh-2,,{HUGE}\nh-3,40,50\n",
            [
                (2, "h-1", f"2: age: is too large a number (got {SHOWN})"),
                (3, "h-2", f"3: labs.egfr: must be a finite number (got {SHOWN})"),
                (4, "h-3", None),
            ],
        ),
    ],
    ids=["json", "json-list", "jsonl", "yaml", "csv"],
)
def test_a_5000_digit_number_is_a_located_error(
    tmp_path: Path, name: str, text: str, expected: list[Row]
) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert read(path) == expected
    result = run("screen", "--format", "jsonl", path)
    assert result.exit_code == ExitCode.RECORD_ERRORS
    assert len(jsonl(result)) == len(expected)


DEEP = 100_000


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "array.json",
            "[" * DEEP + "]" * DEEP,
            [(1, None, "1: invalid JSON: nested too deeply; the rest of the array cannot be read")],
        ),
        (
            "object.json",
            '{"id": "deep-1",\n "labs": ' + '{"a": ' * DEEP + "1" + "}" * DEEP + "}",
            [(1, None, "1: invalid JSON: nested too deeply")],
        ),
        (
            "lines.jsonl",
            '{"id": "ok-1"}\n{"id": "deep-1", "labs": ' + "[" * DEEP + "]" * DEEP + "}\n"
            '{"id": "ok-3"}\n',
            [(1, "ok-1", None), (2, None, "2: invalid JSON: nested too deeply"), (3, "ok-3", None)],
        ),
        (
            "flow.yaml",
            "id: deep-1\nlabs: " + "[" * DEEP + "]" * DEEP + "\n",
            [(2, None, "2: invalid YAML: nested more than 100 levels deep")],
        ),
        (
            "block.yaml",
            "id: deep-1\nlabs:\n" + "".join(f"{'  ' * i}- \n" for i in range(1, 300)),
            [(102, None, "102: invalid YAML: nested more than 100 levels deep")],
        ),
        (
            "just-deep-enough.yaml",
            "id: deep-1\nlabs: " + "[" * 98 + "]" * 98 + "\n",
            [(1, "deep-1", f"2: labs: must be a mapping of fields (got {'[' * 37}...)")],
        ),
    ],
    ids=["json-list", "json", "jsonl", "yaml-flow", "yaml-block", "yaml-98-levels"],
)
def test_deep_nesting_is_a_located_error(
    tmp_path: Path, name: str, text: str, expected: list[Row]
) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert read(path) == expected
    result = run("screen", "--format", "jsonl", path)
    assert len(jsonl(result)) == len(expected)


def test_nesting_near_the_recursion_limit_never_crashes_the_cli(tmp_path: Path) -> None:
    """Depths either side of Python's recursion limit, where the JSON decoder may or may not cope
    and validation then may: every record still ends as a located error."""
    depths = (300, 600, 900, 990, 1100, 5000)
    path = tmp_path / "depths.jsonl"
    lines = [f'{{"id": "d-{d}", "labs": ' + "[" * d + "]" * d + "}" for d in depths]
    path.write_text("\n".join([*lines, '{"id": "ok", "disease": "mg"}']) + "\n")
    result = run("screen", "--format", "jsonl", path)
    assert result.exit_code == ExitCode.RECORD_ERRORS
    records = jsonl(result)
    assert [r["source"] for r in records] == [f"{path}:{i}" for i in range(1, len(depths) + 2)]
    for record in records[:-1]:
        error = str(record["error"])
        assert error.startswith(f"{record['source']}: "), error
        assert "labs: must be a mapping of fields" in error or "nested too deeply" in error, error
    assert records[-1]["error"] is None


TEN_MB = 10 * 1024 * 1024


def test_a_10_mb_jsonl_line_is_one_located_record_and_is_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with path.open("w") as out:
        out.write('{"id": "ok-1", "disease": "mg"}\n')
        out.write('{"id": "big-2", "subtype": "' + "x" * TEN_MB + '"}\n')
        out.write('{"id": "big-3", "' + "k" * TEN_MB + '": 1}\n')
        out.write('{"id": "' + "i" * TEN_MB + '"}\n')
        out.write('{"id": "ok-5", "disease": "ms"}\n')
    assert read(path) == [
        (1, "ok-1", None),
        (2, "big-2", "2: subtype: is too long (at most 200 characters)"),
        (3, "big-3", f"3: {'k' * 57}...: unknown field"),
        (4, None, "4: id: is too long (at most 128 characters)"),
        (5, "ok-5", None),
    ]
    result = run("screen", "--format", "jsonl", path)
    assert result.exit_code == ExitCode.RECORD_ERRORS
    assert len(jsonl(result)) == 5 and len(result.stdout) < TEN_MB // 10


def test_a_10_mb_csv_cell_is_a_located_error(tmp_path: Path) -> None:
    """The csv module refuses cells over its field size limit; that is one row's error."""
    path = tmp_path / "big.csv"
    with path.open("w") as out:
        out.write("id,disease,subtype\nok-1,mg,generalized\n")
        out.write("big-2,ra," + "x" * TEN_MB + "\n")
        out.write('big-3,ra,"' + "y" * TEN_MB + '"\n')
        out.write("ok-4,ms,rrms\n")
    limit = csv.field_size_limit()
    assert read(path) == [
        (2, "ok-1", None),
        (3, None, f"3: invalid CSV: a cell is longer than {limit} characters"),
        (4, None, f"4: invalid CSV: a cell is longer than {limit} characters"),
        (5, "ok-4", None),
    ]
    result = run("screen", "--format", "csv", path)
    assert result.exit_code == ExitCode.RECORD_ERRORS
    assert len(list(csv.DictReader(result.stdout.splitlines()))) == 4


def test_a_long_yaml_list_keeps_every_case_and_its_lines(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(
        "".join(f"- id: m-{i}\n  age: {'x' if i == 2999 else 40}\n" for i in range(3000))
    )
    rows = read(path)
    assert len(rows) == 3000 and rows[0] == (1, "m-0", None)
    assert rows[-1] == (5999, "m-2999", "6000: age: must be a whole number (got 'x')")


def test_exit_codes_are_the_documented_ones(tmp_path: Path) -> None:
    good = CORPUS / "bom.json"
    assert run("screen", good).exit_code == ExitCode.OK
    assert run("screen", good, CORPUS / "empty.csv").exit_code == ExitCode.RECORD_ERRORS
    everything_bad = run("screen", "--format", "jsonl", CORPUS / "wrong-types.yaml")
    assert everything_bad.exit_code == ExitCode.RECORD_ERRORS  # still written, record by record
    assert len(jsonl(everything_bad)) == len(EXPECTED["wrong-types.yaml"])
    unknown_type = tmp_path / "case.txt"
    unknown_type.write_text("id: t-1\n")
    refused = run("screen", good, unknown_type)
    assert refused.exit_code == ExitCode.CANNOT_RUN
    assert f"{unknown_type}: unknown case file type '.txt'" in refused.stderr
    assert run("screen", tmp_path / "absent.yaml").exit_code == ExitCode.CANNOT_RUN
    assert run("screen", tmp_path).exit_code == ExitCode.CANNOT_RUN  # a directory


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "table"])
def test_a_file_name_that_is_not_utf8_is_shown_escaped_in_every_format(
    tmp_path: Path, fmt: str
) -> None:
    """POSIX names may hold any byte; Python keeps 0xff as a lone surrogate, which no output
    could write. The name is shown with the byte escaped, and every record is written."""
    raw = os.fsencode(tmp_path) + b"/\xff-cases.jsonl"
    with open(raw, "wb") as out:
        out.write(b'{"id": "nu-1", "disease": "mg"}\n{"id": "nu-2", "age": -1}\n')
    result = run("screen", "--format", fmt, os.fsdecode(raw))
    assert result.exit_code == ExitCode.RECORD_ERRORS, result.stderr
    shown = [f"{tmp_path}/\\xff-cases.jsonl:{n}" for n in (1, 2)]
    if fmt in ("csv", "table"):
        assert all(source in result.stdout for source in shown)
    else:
        records = jsonl(result) if fmt == "jsonl" else json.loads(result.stdout)
        assert [r["source"] for r in records] == shown
