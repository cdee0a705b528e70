"""Entering a case in the terminal UI: what the form screens and saves is what it shows."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from textual.widgets import Input, Select

from careligible.catalog import Catalog
from careligible.tui import form_model
from test_tui import MG_CASE, make_app, settle, sync

# --- hidden fields ------------------------------------------------------------------------------


def _mg_values() -> dict[str, str]:
    return form_model.values_from_case(yaml.safe_load(MG_CASE.read_text(encoding="utf-8")))


def test_a_field_hidden_by_a_disease_switch_is_neither_screened_nor_kept_in_the_case() -> None:
    values = _mg_values()
    assert values["scores.qmg"] == "14"
    values["disease"] = "ms"
    values["subtype"] = ""  # MG's subtype is shown, so it would be a problem under MS
    data = form_model.case_dict_from_values(values)
    assert "qmg" not in data.get("scores", {})
    assert "anti_achr" not in data.get("autoantibodies", {})
    case, problems = form_model.validate(values)
    assert problems == {}
    assert case is not None and case.disease == "ms"
    assert case.scores is None or case.scores.qmg is None
    assert values["scores.qmg"] == "14"  # the text stays in the form

    values["disease"] = "mg"  # a mis-click undone: the value is back in the case
    case, _ = form_model.validate(values)
    assert case is not None and case.scores is not None and case.scores.qmg == 14


def test_a_hidden_field_with_bad_text_is_no_problem_of_the_shown_case() -> None:
    values = _mg_values()
    values["scores.qmg"] = "abc"
    assert "scores.qmg" in form_model.validate(values)[1]
    values["disease"] = "sle"
    values["subtype"] = ""
    case, problems = form_model.validate(values)
    assert problems == {}
    assert case is not None


@sync
async def test_switching_the_disease_screens_and_saves_only_the_shown_fields(
    catalog: Catalog, tmp_path: Path
) -> None:
    path = tmp_path / "mg.yaml"
    shutil.copy(MG_CASE, path)
    app = make_app(catalog, path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        qmg = app.query_one(f"#{form_model.widget_id('scores.qmg')}", Input)
        qmg_row = app.query_one(f"#{form_model.widget_id('scores.qmg')}-row")
        disease: Select[str] = app.query_one(f"#{form_model.widget_id('disease')}", Select)
        disease.value = "ms"
        app.query_one(f"#{form_model.widget_id('subtype')}", Input).value = ""
        await settle(pilot)
        assert not qmg_row.display
        shown = app.current_case()
        assert shown is not None and (shown.scores is None or shown.scores.qmg is None)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not app.dirty
        saved = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert saved["disease"] == "ms"
        assert "qmg" not in saved.get("scores", {})
        assert "autoantibodies" not in saved or "anti_achr" not in saved["autoantibodies"]

        disease.value = "mg"
        await settle(pilot)
        assert qmg_row.display and qmg.value == "14"
        shown = app.current_case()
        assert shown is not None and shown.scores is not None and shown.scores.qmg == 14
