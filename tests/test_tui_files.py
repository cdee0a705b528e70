"""Files in the terminal UI: saving keeps the file's comments and numbers, nothing is saved or
exported from a form with problems, Save as is its own key and command, and nothing is replaced
without asking (nor ever an input or a rule file)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from ruamel.yaml.comments import CommentedMap
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, SelectionList

from careligible.case import Case
from careligible.catalog import Catalog, load_catalog
from careligible.readers import open_case, roundtrip
from careligible.tui import form_model
from careligible.tui.app import CareligibleApp
from careligible.tui.files import report_paths, save_case
from careligible.tui.screens.compare import CompareScreen
from careligible.tui.screens.confirm import ConfirmScreen
from careligible.tui.screens.file_picker import FilePicker
from test_tui import MG_CASE, MG_TRIAL, make_app, set_field, settle, sync


def _messages(app: CareligibleApp) -> str:
    return " | ".join(str(n.message) for n in app._notifications)


def _mg_copy(tmp_path: Path, name: str = "mg.yaml") -> Path:
    path = tmp_path / name
    shutil.copy(MG_CASE, path)
    return path


async def _pick(pilot: Pilot[Any], path: Path | str) -> None:
    assert isinstance(pilot.app.screen, FilePicker)
    pilot.app.screen.query_one("#path", Input).value = str(path)
    await pilot.press("enter")
    await settle(pilot)


# --- the round trip, without the UI -------------------------------------------------------------


def test_save_keeps_comments_number_forms_and_layout(tmp_path: Path) -> None:
    path = _mg_copy(tmp_path)
    original = path.read_text(encoding="utf-8")
    case = Case.model_validate(yaml.safe_load(original))
    assert case.weight_kg == 70.0 and isinstance(case.weight_kg, float)
    save_case(path, case, template=path)
    assert path.read_text(encoding="utf-8") == original  # unchanged case: the same bytes

    labs = case.labs.model_copy(update={"egfr": 55.0})  # type: ignore[union-attr]
    save_case(path, case.model_copy(update={"labs": labs, "age": None}), template=path)
    saved = path.read_text(encoding="utf-8")
    assert saved.startswith("# Generalized AChR-positive myasthenia gravis")
    assert "weight_kg: 70\n" in saved and "egfr: 55\n" in saved  # never 70.0 or 55.0
    assert "\nage:" not in saved  # cleared to unknown: removed, not written as null
    changed = [line for line in saved.splitlines() if line not in original.splitlines()]
    assert changed == ["  egfr: 55"]
    assert "  - {drug: pyridostigmine, outcome: ongoing, months: 84" in saved


def test_merge_appends_therapies_in_the_file_style_and_never_takes_a_bool_for_a_number() -> None:
    document = roundtrip._yaml().load(
        "# note\ntherapies:\n  - {drug: a, months: 6}\nflag: 1\nlist: [x, y]\n"
    )
    assert isinstance(document, CommentedMap)
    roundtrip.merge(
        document,
        {"therapies": [{"drug": "a", "months": 6.0}, {"drug": "b"}], "flag": True, "list": ["x"]},
    )
    text = roundtrip.dump(document)
    assert text == (
        "# note\ntherapies:\n  - {drug: a, months: 6}\n  - {drug: b}\nflag: true\nlist: [x]\n"
    )


def test_save_as_json_and_a_new_case(tmp_path: Path) -> None:
    case = Case.model_validate(yaml.safe_load(MG_CASE.read_text(encoding="utf-8")))
    save_case(tmp_path / "c.json", case)
    data = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert data["weight_kg"] == 70 and isinstance(data["weight_kg"], int)
    assert Case.model_validate(data) == case
    save_case(tmp_path / "new.yaml", case)
    assert "weight_kg: 70\n" in (tmp_path / "new.yaml").read_text(encoding="utf-8")
    assert Case.model_validate(yaml.safe_load((tmp_path / "new.yaml").read_text())) == case


def test_report_names_add_the_extension() -> None:
    assert report_paths(Path("d/demo.v1"), ("md", "html")) == [
        Path("d/demo.v1.md"),
        Path("d/demo.v1.html"),
    ]
    assert report_paths(Path("demo.v2.md"), ("md",)) == [Path("demo.v2.md")]


# --- the app, driven by the Pilot ---------------------------------------------------------------


@sync
async def test_save_and_export_are_refused_while_the_form_has_problems(
    catalog: Catalog, tmp_path: Path
) -> None:
    path = _mg_copy(tmp_path)
    before = path.read_text(encoding="utf-8")
    app = make_app(catalog, path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await set_field(pilot, "age", "abc")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Not saved: fix the problems shown in the form" in _messages(app)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert not isinstance(app.screen, FilePicker)  # no report of an earlier entry
        assert "Not exported" in _messages(app)
        await pilot.press("f12")
        await settle(pilot)
        assert not isinstance(app.screen, FilePicker)
    assert path.read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mg.yaml"]


@sync
async def test_ctrl_s_keeps_the_comments_and_70(catalog: Catalog, tmp_path: Path) -> None:
    path = _mg_copy(tmp_path)
    app = make_app(catalog, path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await set_field(pilot, "labs.egfr", "55")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not app.dirty
    saved = path.read_text(encoding="utf-8")
    assert saved.startswith("# Generalized AChR-positive")
    assert "weight_kg: 70\n" in saved and "egfr: 55\n" in saved


@sync
async def test_save_as_on_its_own_key_asks_before_replacing(
    catalog: Catalog, tmp_path: Path
) -> None:
    path = _mg_copy(tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text("# someone else's file\n", encoding="utf-8")
    app = make_app(catalog, path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await set_field(pilot, "age", "42")
        await settle(pilot)
        await pilot.press("f12")
        await settle(pilot)
        assert isinstance(app.screen, FilePicker)
        assert app.screen.query_one("#path", Input).value == "demo-mg-01.yaml"
        await _pick(pilot, other)
        assert isinstance(app.screen, ConfirmScreen)
        assert "other.yaml already exists" in str(app.screen.question)
        await pilot.press("enter")  # Cancel has the focus
        await settle(pilot)
        assert other.read_text(encoding="utf-8") == "# someone else's file\n"
        assert app.case_file == path and app.dirty

        await pilot.press("f12")
        await settle(pilot)
        await _pick(pilot, other)
        await pilot.click("#confirm")
        await settle(pilot)
        assert app.case_file == other and not app.dirty
    assert yaml.safe_load(other.read_text(encoding="utf-8"))["age"] == 42
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["age"] == 41  # Save as left it
    assert other.read_text(encoding="utf-8").startswith("# Generalized")  # the comments came too


@sync
async def test_save_as_in_the_palette_never_runs_save(catalog: Catalog, tmp_path: Path) -> None:
    path = _mg_copy(tmp_path)
    before = path.read_text(encoding="utf-8")
    app = make_app(catalog, path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await set_field(pilot, "age", "42")
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"save as")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, FilePicker)
        await pilot.press("escape")
        await settle(pilot)
    assert path.read_text(encoding="utf-8") == before


@sync
async def test_export_asks_before_replacing_and_never_writes_into_the_rules(
    make_rules: Callable[..., Path], tmp_path: Path
) -> None:
    from test_tui import SNAP_CRITERIA

    catalog = load_catalog(make_rules(*SNAP_CRITERIA))
    app = CareligibleApp(catalog, MG_CASE, debounce=0.01)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "r.md").write_text("earlier", encoding="utf-8")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert app.screen.query_one("#path", Input).value == "demo-mg-01"
        await _pick(pilot, catalog.directory / "trials" / "r")
        assert "inside the rule catalog" in _messages(app)
        assert not list((catalog.directory / "trials").glob("r.*"))

        await pilot.press("ctrl+r")
        await settle(pilot)
        await _pick(pilot, tmp_path / "out" / "r")
        assert isinstance(app.screen, ConfirmScreen)
        assert "r.md already exists" in str(app.screen.question)
        await pilot.press("escape")
        await settle(pilot)
        assert (tmp_path / "out" / "r.md").read_text(encoding="utf-8") == "earlier"
        assert not (tmp_path / "out" / "r.html").exists()

        await pilot.press("ctrl+r")
        await settle(pilot)
        await _pick(pilot, tmp_path / "out" / "r")
        await pilot.click("#confirm")
        await settle(pilot)
    text = (tmp_path / "out" / "r.md").read_text(encoding="utf-8")
    assert "case demo-mg-01" in text and "Aged 18 or over." in text
    assert (tmp_path / "out" / "r.pdf").read_bytes().startswith(b"%PDF-")


@sync
async def test_open_uses_the_file_picker(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _mg_copy(tmp_path)
    monkeypatch.chdir(tmp_path)  # a new case: the picker starts in the working directory
    app = make_app(catalog)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert isinstance(app.screen, FilePicker)
        await _pick(pilot, tmp_path / "missing.yaml")
        assert isinstance(app.screen, FilePicker)  # refused, with the reason, not closed
        assert "No such file" in str(app.screen.query_one("#picker-error").render())
        await pilot.press("tab")  # to the tree: its first entry is the file
        await pilot.pause(0.3)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.case_file == path and app.opened_from == path
        assert app.query_one("#" + form_model.widget_id("scores.qmg"), Input).value == "14"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@sync
async def test_compare_two_trials_and_export_the_view(
    catalog: Catalog, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"compare")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        picks = app.screen.query_one(SelectionList)
        picks.select(MG_TRIAL)
        picks.select("NCT05828225")
        await pilot.pause()
        table = app.screen.query_one("#compare-table", DataTable)
        assert [str(c.label) for c in table.columns.values()][1:] == [MG_TRIAL, "NCT05828225"]
        rows = {str(table.get_row_at(i)[0]): table.get_row_at(i) for i in range(table.row_count)}
        assert str(rows["age"][1]) == "met: Aged 18 to 75 years."
        await pilot.press("escape")
        await settle(pilot)
        assert app.compared == (MG_TRIAL, "NCT05828225")
        await pilot.press("ctrl+r")
        await settle(pilot)
        await _pick(pilot, tmp_path / "r")
    assert "## Side by side" in (tmp_path / "r.md").read_text(encoding="utf-8")


@sync
async def test_ctrl_s_on_a_csv_case_asks_where_instead_of_writing_yaml_into_it(
    catalog: Catalog, tmp_path: Path
) -> None:
    rows = (MG_CASE.parents[0] / "mixed.csv").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "one.csv"
    path.write_text("\n".join(rows[:2]) + "\n", encoding="utf-8")
    before = path.read_text(encoding="utf-8")
    app = make_app(catalog, path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.case_file == path
        await set_field(pilot, "age", "33")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, FilePicker)
        assert "not a YAML or JSON file" in _messages(app)
        await _pick(pilot, tmp_path / "one.yaml")
        assert app.case_file == tmp_path / "one.yaml"
    assert path.read_text(encoding="utf-8") == before
    assert yaml.safe_load((tmp_path / "one.yaml").read_text(encoding="utf-8"))["age"] == 33


@sync
async def test_fields_the_form_does_not_show_are_screened_and_saved_as_the_file_had_them(
    catalog: Catalog, tmp_path: Path
) -> None:
    """The case's date and the site's confirmations have no widget, but they decide what
    ``screen`` says (a confirmed item is no longer open); opening and saving must keep both."""
    path = _mg_copy(tmp_path)
    confirmation = (
        "confirmations:\n  - {trial: NCT06193889, criterion: stable_background_immunotherapy,"
        ' answer: met, by: "trial coordinator", on: 2026-11-30}\n'
    )
    path.write_text(
        path.read_text(encoding="utf-8") + "as_of: 2026-11-30\n" + confirmation, encoding="utf-8"
    )
    expected = Case.model_validate(open_case(path).data)
    app = make_app(catalog, path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        shown = app.current_case()
        assert shown is not None and shown.as_of == expected.as_of
        assert shown.confirmations == expected.confirmations
        assert app.result is not None
        (trial,) = [t for t in app.result.trials if t.nct_id == MG_TRIAL]
        assert "stable_background_immunotherapy" not in [c.id for c in trial.to_confirm]
        await set_field(pilot, "labs.egfr", "55")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not app.dirty
    saved = Case.model_validate(open_case(path).data)
    assert saved.as_of == expected.as_of
    assert saved.confirmations == expected.confirmations
    assert saved.labs is not None and saved.labs.egfr == 55
