"""Entering a case in the terminal UI: what the form screens and saves is what it shows."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from textual.widgets import Input, Select, Static

from careligible.catalog import Catalog
from careligible.tui import form_model
from careligible.tui.screens.confirm import ConfirmScreen
from careligible.tui.widgets.therapy_table import NOT_STATED
from test_tui import MG_CASE, MG_TRIAL, make_app, set_field, settle, sync, verdict_of

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
        await pilot.pause()  # let the change reach the form before waiting on it
        app.query_one(f"#{form_model.widget_id('subtype')}", Input).value = ""
        await pilot.pause()  # the same for the subtype, or Ctrl+S may come before its change
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

        await pilot.pause()  # let the change reach the form before waiting on it
        await settle(pilot)
        assert qmg_row.display and qmg.value == "14"
        shown = app.current_case()
        assert shown is not None and shown.scores is not None and shown.scores.qmg == 14


# --- disease-appropriate serology ---------------------------------------------------------------

_SEROLOGY_TOPS = ("autoantibodies.", "complement.")


def test_every_serology_fact_a_rule_reads_is_on_the_form_of_each_disease_it_enrols(
    catalog: Catalog,
) -> None:
    """The panel narrows what the form asks; it must never hide a test a trial's rule reads
    for the diseases that trial enrols, or the form would screen the case without it."""
    hidden = sorted(
        (trial.nct_id, cohort.id, disease, fact)
        for trial in catalog.trials
        for cohort in trial.cohorts
        for disease in cohort.diseases
        for criterion in cohort.criteria
        for fact in criterion.fields()
        if fact.startswith(_SEROLOGY_TOPS) and not form_model.FIELDS[fact].shown_for(disease)
    )
    assert hidden == []


def test_each_disease_is_asked_for_its_own_serology() -> None:
    def shown(disease: str) -> set[str]:
        return {
            key.split(".", 1)[1]
            for key, spec in form_model.FIELDS.items()
            if key.startswith(_SEROLOGY_TOPS) and spec.shown_for(disease)
        }

    everything = shown("other")
    assert {"anti_achr", "anti_dsdna", "anti_scl70", "anti_jo1", "c3_low"} <= everything
    assert shown("") == everything  # nothing is hidden before the disease is chosen
    assert shown("mg") == {"anti_achr", "anti_musk", "anti_lrp4"}
    assert {"anti_dsdna", "anti_sm", "c3_low"} <= shown("sle")
    assert "anti_achr" not in shown("sle") and "anti_jo1" not in shown("sle")
    assert {"anti_jo1", "anti_mda5"} <= shown("iim") and "anti_dsdna" not in shown("iim")
    assert {"anti_aqp4", "anti_mog"} == shown("ms")
    section = next(s for s in form_model.SECTIONS if s.title == "Serology")
    assert {"autoantibodies.anti_achr", "complement.c3_low"} <= {f.key for f in section.fields}


def test_serology_hidden_by_the_disease_is_not_screened() -> None:
    values = form_model.blank_values("demo-sero-01")
    values.update({"disease": "mg", "autoantibodies.anti_dsdna": "positive"})
    values["autoantibodies.anti_achr"] = "positive"
    data = form_model.case_dict_from_values(values)
    assert data["autoantibodies"] == {"anti_achr": "positive"}
    values["disease"] = "sle"
    assert form_model.case_dict_from_values(values)["autoantibodies"] == {"anti_dsdna": "positive"}


# --- drug names the rules do not know ------------------------------------------------------------


def test_a_drug_hint_suggests_the_known_name_and_is_empty_for_a_known_one(
    catalog: Catalog,
) -> None:
    vocabulary = catalog.vocabulary
    assert form_model.drug_hint(vocabulary, "rituximap") == (
        "not a drug the rules know — did you mean rituximab?"
    )
    assert form_model.drug_hint(vocabulary, "zzqx") == "not a drug the rules know"
    assert form_model.drug_hint(vocabulary, "Rituximab") == ""
    assert form_model.drug_hint(vocabulary, "") == ""


@sync
async def test_a_misspelt_drug_is_warned_under_its_field_until_it_is_fixed(
    catalog: Catalog,
) -> None:
    app = make_app(catalog, MG_CASE)
    key = form_model.therapy_key(0, "drug")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        row = app.query_one(f"#{form_model.widget_id(key)}-row")
        hint = row.query_one(".field-hint", Static)
        assert not hint.display  # a known drug: no line taken
        field = await set_field(pilot, key, "rituximap")
        await settle(pilot)
        assert hint.display
        assert str(hint.render()) == "not a drug the rules know — did you mean rituximab?"
        assert hint.region.y == field.region.bottom  # right under the drug field
        assert not row.has_class("-invalid")  # a warning, not a form error
        case = app.current_case()
        assert case is not None and case.therapies is not None
        assert case.therapies[0].drug == "rituximap"  # still screened as typed

        await pilot.press("backspace", "b")
        await settle(pilot)
        assert field.value == "rituximab"
        assert not hint.display


# --- removing a therapy ---------------------------------------------------------------------------


@sync
async def test_remove_asks_first_and_then_moves_to_the_next_drug(catalog: Catalog) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        before = app.current_case()
        assert before is not None and before.therapies is not None
        count = len(before.therapies)

        app.query_one("#remove-therapy-0").focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert app.focused is not None and app.focused.id == "cancel"  # Keep
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.query("#therapy-0")  # kept
        assert not app.dirty

        app.query_one("#remove-therapy-0").focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("shift+tab")
        assert app.focused is not None and app.focused.id == "confirm"
        await pilot.press("enter")
        await settle(pilot)
        assert not app.query("#therapy-0")
        after = app.current_case()
        assert after is not None and after.therapies is not None
        assert len(after.therapies) == count - 1
        assert app.focused is app.query_one(
            f"#{form_model.widget_id(form_model.therapy_key(1, 'drug'))}"
        )


@sync
async def test_removing_the_last_therapy_moves_to_add_therapy(catalog: Catalog) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        last = list(app.query(".therapy-row"))[-1]
        last.query_one(".remove-therapy").focus()
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("shift+tab", "enter")
        await settle(pilot)
        assert last not in app.query(".therapy-row")
        assert app.focused is app.query_one("#add-therapy")


# --- is this the whole therapy history? ---------------------------------------------------------


def test_a_new_case_is_not_confirmed_complete_and_a_file_keeps_its_meaning() -> None:
    case, _ = form_model.validate(form_model.blank_values("c1"))
    assert case is not None and case.therapies_complete is False
    values = _mg_values()  # the demo file does not say: its listed history reads as complete
    assert values["therapies_complete"] == ""
    case, _ = form_model.validate(values)
    assert case is not None and case.therapies_complete is None
    for answer, meant in (("yes", True), ("no", False)):
        case, _ = form_model.validate({**values, "therapies_complete": answer})
        assert case is not None and case.therapies_complete is meant
        assert form_model.values_from_case(case)["therapies_complete"] == answer
    assert "therapies_complete" not in form_model.CARRIED


@sync
async def test_the_history_question_decides_whether_a_class_not_listed_is_unknown(
    catalog: Catalog, tmp_path: Path
) -> None:
    path = tmp_path / "mg.yaml"
    shutil.copy(MG_CASE, path)
    app = make_app(catalog, path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        answer: Select[str] = app.query_one(
            f"#{form_model.widget_id('therapies_complete')}", Select
        )
        means = app.query_one("#history-means", Static)
        assert answer.is_blank() and answer.prompt == NOT_STATED
        assert "read as complete" in str(means.render())
        assert verdict_of(app, MG_TRIAL) == "eligible"

        answer.value = "no"

        await pilot.pause()  # let the change reach the form before waiting on it
        await settle(pilot)
        assert "unknown, not" in str(means.render())
        assert verdict_of(app, MG_TRIAL) == "needs_info"  # an unlisted class may have been tried

        answer.value = "yes"

        await pilot.pause()  # let the change reach the form before waiting on it
        await settle(pilot)
        assert verdict_of(app, MG_TRIAL) == "eligible"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["therapies_complete"] is True

        await pilot.press("ctrl+n")
        await settle(pilot)
        assert answer.value == "no"  # a case begun here is not confirmed complete
        assert "unknown, not" in str(means.render())
