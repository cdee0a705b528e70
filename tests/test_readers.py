"""Each reader yields one record per case with its location, and bad records never stop it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from careligible.errors import InputError
from careligible.readers import parse_case, read_records

REPO = Path(__file__).resolve().parents[1]


def parsed(path: Path) -> list[tuple[str, str | None, str | None]]:
    out = []
    for record in read_records(path):
        p = parse_case(record)
        out.append((p.source.rsplit(":", 1)[1], p.case.id if p.case else None, p.error))
    return out


def test_yaml_single_case_and_list(tmp_path: Path) -> None:
    one = tmp_path / "one.yaml"
    one.write_text("id: a-1\nage: 30\n")
    many = tmp_path / "many.yml"
    many.write_text("- id: a-1\n  age: 30\n- id: a-2\n  labs:\n    egfr: lots\n- id: a-3\n")
    assert parsed(one) == [("1", "a-1", None)]
    rows = parsed(many)
    assert [r[:2] for r in rows] == [("1", "a-1"), ("3", None), ("6", "a-3")]
    assert rows[1][2] == f"{many}:5: labs.egfr: must be a number (got 'lots')"


def test_a_key_yaml_1_1_reads_as_a_boolean_is_the_word_written(tmp_path: Path) -> None:
    """A confirmation's date is ``on:``, which YAML 1.1 makes the key True; the case format's
    own example must read as written, in flow and in block style, while values keep their
    meaning (``yes`` is still true)."""
    path = tmp_path / "confirmed.yaml"
    path.write_text(
        "id: a-1\npregnant: no\nconfirmations:\n"
        "  - {trial: NCT06193889, criterion: stable_background_immunotherapy, answer: met,\n"
        '     by: "trial coordinator", on: 2026-11-30}\n'
        "  - trial: NCT06193889\n    criterion: other_item\n    answer: not_met\n"
        "    by: investigator\n    on: 2026-11-29\n"
    )
    [(_line, case_id, error)] = parsed(path)
    assert error is None and case_id == "a-1"
    [record] = read_records(path)
    case = parse_case(record).case
    assert case is not None and case.pregnant is False
    assert [c.on.isoformat() for c in case.confirmations or []] == ["2026-11-30", "2026-11-29"]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: a-1\nlabs: {egfr: 3\nage: 4\n")
    [(_line, case_id, error)] = parsed(bad)
    assert (
        case_id is None
        and error is not None
        and error.startswith(f"{bad}:")
        and "invalid YAML" in error
    )


def test_json_object_and_array_with_a_bad_item(tmp_path: Path) -> None:
    obj = tmp_path / "one.json"
    obj.write_text('{"id": "j-1", "age": 50}')
    arr = tmp_path / "many.json"
    arr.write_text(
        '[\n {"id": "j-1"},\n {"id": "j-2", "age": 500},\n "not a case",\n {"id": "j-4"}\n]\n'
    )
    assert parsed(obj) == [("1", "j-1", None)]
    rows = parsed(arr)
    assert [r[:2] for r in rows] == [("2", "j-1"), ("3", None), ("4", None), ("5", "j-4")]
    assert rows[1][2] is not None and "age: must be at most 120 (got 500)" in rows[1][2]
    assert rows[2][2] is not None and "a case must be a mapping" in rows[2][2]


def test_truncated_json_array_reports_the_break(tmp_path: Path) -> None:
    arr = tmp_path / "cut.json"
    arr.write_text('[{"id": "j-1"}, {"id": "j-2", ')
    rows = parsed(arr)
    assert rows[0][1] == "j-1" and "invalid JSON" in (rows[1][2] or "")


def test_jsonl_keeps_going_past_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_bytes(
        b'{"id": "l-1"}\n{"id": "l-2",\n\n{"id": "l-4", "sex": "x"}\n\xff\xfe\n{"id": "l-6"}\n'
    )
    rows = parsed(path)
    assert [(r[0], r[1]) for r in rows] == [
        ("1", "l-1"),
        ("2", None),
        ("4", None),
        ("5", None),
        ("6", "l-6"),
    ]
    assert "invalid JSON" in (rows[1][2] or "") and "sex: must be one of" in (rows[2][2] or "")
    assert "not UTF-8" in (rows[3][2] or "")


def test_csv_dotted_columns_lists_and_therapies(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text(
        "\ufeffid,age,labs.egfr,scores.bilag_a,therapies,autoantibodies.anti_dsdna\n"
        "c-1,30,58,renal;haematological,rituximab:inadequate_response:6;belimumab:intolerance:2,positive\n"
        "c-2,,,,,\n"
        "c-3,abc,,,,\n"
        "c-4,40,,,a:b:c:d,\n"
    )
    records = [parse_case(r) for r in read_records(path)]
    first = records[0].case
    assert first is not None and first.labs is not None and first.labs.egfr == 58
    assert first.scores is not None and first.scores.bilag_a == ["renal", "haematological"]
    assert first.therapies is not None and first.therapies[1].outcome == "intolerance"
    assert first.therapies[0].months == 6
    assert records[1].case is not None and records[1].case.age is None  # empty cell = unknown
    assert records[2].error == f"{path}:4: age: must be a whole number (got 'abc')"
    assert records[3].error is not None and "therapies: item 1 'a:b:c:d'" in records[3].error


def test_csv_row_with_wrong_cell_count(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text("id,age\nc-1,30,extra\nc-2,40\n")
    rows = parsed(path)
    assert rows[0][2] is not None and "3 cells but the header has 2" in rows[0][2]
    assert rows[1][1] == "c-2"


def test_unknown_extension_and_missing_file_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown case file type"):
        list(read_records(tmp_path / "cases.txt"))
    with pytest.raises(InputError, match="cannot open"):
        list(read_records(tmp_path / "absent.yaml"))


def test_bundled_example_cases_all_validate() -> None:
    paths = sorted((REPO / "cases").glob("*"))
    assert len(paths) >= 8
    for path in paths:
        for record in read_records(path):
            result = parse_case(record)
            assert result.error is None, result.error


def test_a_json_case_survives_a_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps({"id": "r-1", "therapies": [{"drug": "RTX", "outcome": "response"}]})
    )
    [record] = list(read_records(path))
    case = parse_case(record).case
    assert case is not None and case.therapies is not None and case.therapies[0].drug == "RTX"


# --- one reader for the command line and the terminal UI ----------------------------------------

BAD = REPO / "tests" / "bad_inputs"


def test_open_case_reads_one_case_as_screen_does(tmp_path: Path) -> None:
    from careligible.readers import open_case

    path = tmp_path / "case.yaml"
    path.write_text("id: oc-1\nage: -1\ndisease: mg\n")
    opened = open_case(path)
    assert opened.data == {"id": "oc-1", "age": -1, "disease": "mg"}
    assert opened.parsed is not None
    assert [str(p) for p in opened.problems] == [f"{path}:2: age: must be at least 0 (got -1)"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("duplicate-key.yaml", "4: duplicate key 'age'"),
        ("latin1.yaml", "4: therapies[0].drug: not UTF-8 text"),
        ("empty.yaml", "1: the file holds no case"),
        ("wrong-types.yaml", "holds 8 cases; open a file holding one case"),
    ],
)
def test_open_case_refuses_what_screen_refuses(name: str, expected: str) -> None:
    from careligible.readers import open_case

    with pytest.raises(InputError, match=f"^{BAD / name}:?"):
        open_case(BAD / name)
    try:
        open_case(BAD / name)
    except InputError as exc:
        assert expected in str(exc)


def test_the_tui_refuses_a_misspelt_field_screen_refuses(tmp_path: Path) -> None:
    """The form would drop ``weigth_kg`` silently and a save would lose it."""
    from careligible.tui.files import load_case_file

    path = tmp_path / "case.yaml"
    path.write_text("id: tu-1\ndisease: mg\nweigth_kg: 70\n")
    with pytest.raises(InputError) as info:
        load_case_file(path)
    assert str(info.value).startswith(
        f"{path}:3: weigth_kg: unknown field; did you mean 'weight_kg'?"
    )
    dup = tmp_path / "dup.json"
    dup.write_text('{"id": "tu-2", "age": 40, "age": 41}')
    with pytest.raises(InputError, match="duplicate key 'age'"):
        load_case_file(dup)


def test_the_tui_keeps_invalid_values_for_the_form_to_flag(tmp_path: Path) -> None:
    from careligible.tui.files import load_case_file

    path = tmp_path / "case.yaml"
    path.write_text("id: tu-3\ndisease: mg\nage: -1\n")
    assert load_case_file(path).values["age"] == "-1"


@pytest.mark.parametrize(
    "data",
    [
        {"id": "c1", "labs": {"egfr": 60}, "therapies": [{"drug": "MMF"}]},
        {"id": "c1", "therapies": [{"drug": "MMF", "note": "x\ud800"}]},
        {"id": "c1", "labs": {"\udfff": 1}},
        ["é", ["deep", {"k": "ok\U0001f600"}]],
        "\ud83d",
    ],
    ids=["text", "nested-value", "key", "astral-text", "bare"],
)
def test_holds_agrees_with_path_where(data: object) -> None:
    """The quick check every record passes finds exactly what the located search finds: a lone
    surrogate in any value or key, at any depth, and never a character that is text (é, 😀)."""
    from careligible.readers.text import holds, path_where
    from careligible.readers.validate import _has_surrogate

    assert holds(data, _has_surrogate) == (path_where(data, _has_surrogate) is not None)


def test_lone_surrogate_in_a_nested_key_is_refused_with_its_field() -> None:
    """A surrogate only in a key deep inside the record is still found and located."""
    from careligible.readers.records import RawRecord

    record = RawRecord("cases.jsonl", 3, {"id": "c1", "labs": {"e\ud800": 1}})
    parsed = parse_case(record)
    assert parsed.case is None
    assert parsed.error is not None and "lone surrogate" in parsed.error
