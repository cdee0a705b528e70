"""The results panel tells the truth about what it shows, driven from the keyboard.

Results that are not for what the form shows are dimmed and say why; "ask next" speaks the
form's language and leads to the field; an eligible verdict always comes with its count.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, Select, Static

from careligible.case import Case
from careligible.catalog import Catalog
from careligible.results import CaseResult
from careligible.screening import Screener
from careligible.tui import form_model
from careligible.tui.app import CareligibleApp
from careligible.tui.report import ask_items, ask_next
from careligible.tui.widgets.case_form import CaseForm
from careligible.tui.widgets.results_panel import ResultsPanel
from test_tui import MG_CASE, MG_TRIAL, REPO, cell, make_app, settle, sync, verdict_of


class GatedScreener(Screener):
    """Screens only while its gate is open, so a test can look at the panel while a screening
    is under way, however fast the machine."""

    def __init__(self, catalog: Catalog) -> None:
        super().__init__(catalog)
        self.gate = threading.Event()
        self.gate.set()

    def screen(self, case: Case, source: str = "") -> CaseResult:
        self.gate.wait(timeout=60)
        return super().screen(case, source)


@pytest.fixture(scope="module")
def gated(catalog: Catalog) -> GatedScreener:
    return GatedScreener(catalog)


@pytest.fixture
def make(gated: GatedScreener) -> Iterator[Callable[[Path | None], CareligibleApp]]:
    gated.gate.set()

    def build(case_file: Path | None = MG_CASE) -> CareligibleApp:
        return CareligibleApp(gated.catalog, case_file, debounce=0.05, screener=gated)

    yield build
    gated.gate.set()  # never leave a worker waiting


def summary(app: CareligibleApp) -> str:
    return str(app.query_one("#summary", Static).render())


def panel(app: CareligibleApp) -> ResultsPanel:
    return app.query_one(ResultsPanel)


def dimmed(app: CareligibleApp) -> bool:
    """The class is set and the style sheet dims the table and the tabs below it."""
    stale = panel(app).has_class("-stale")
    opacities = {app.query_one(f"#{w}").styles.text_opacity for w in ("trials", "result-tabs")}
    assert (max(opacities) < 1) == stale and len(opacities) == 1
    return stale


async def until(pilot: Pilot[Any], done: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for ``done`` without sleeping a fixed time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.02)


def screening(app: CareligibleApp) -> bool:
    return any(w.group == "screen" and w.is_running for w in app.workers)


async def retype(pilot: Pilot[Any], key: str, text: str) -> Input:
    """Focus a field and replace its text from the keyboard."""
    field = pilot.app.query_one(f"#{form_model.widget_id(key)}", Input)
    field.focus()
    await pilot.press("end", *["backspace"] * len(field.value), *text)
    return field


@sync
async def test_an_edit_not_yet_screened_dims_the_results(
    make: Callable[[Path | None], CareligibleApp], gated: GatedScreener
) -> None:
    app = make(MG_CASE)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert not dimmed(app)
        fresh = summary(app)
        gated.gate.clear()
        await retype(pilot, "age", "52")
        assert dimmed(app)
        assert "earlier entry" in summary(app)
        await until(pilot, lambda: screening(app))  # the edit is being screened, not yet shown
        assert dimmed(app) and "earlier entry" in summary(app)
        gated.gate.set()
        await settle(pilot)
        assert not dimmed(app)
        assert summary(app) == fresh  # the age changes no verdict here; the label goes all the same


@sync
async def test_a_form_problem_dims_the_results_until_it_is_fixed(
    make: Callable[[Path | None], CareligibleApp],
) -> None:
    app = make(MG_CASE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await retype(pilot, "age", "abc")
        await settle(pilot)
        assert dimmed(app)
        assert "1 problem(s) in the form" in summary(app)
        assert "last valid entry" in summary(app)
        await retype(pilot, "age", "41")
        await settle(pilot)
        assert not dimmed(app)
        assert "problem" not in summary(app)


@sync
async def test_a_disease_switch_dims_the_results_until_the_new_ones_arrive(
    make: Callable[[Path | None], CareligibleApp], gated: GatedScreener
) -> None:
    app = make(MG_CASE)
    async with app.run_test(size=(120, 40)) as pilot:
        await retype(pilot, "subtype", "")  # "generalized" is no subtype of MS
        await settle(pilot)
        gated.gate.clear()
        disease: Select[str] = app.query_one(f"#{form_model.widget_id('disease')}", Select)
        disease.focus()
        await pilot.press("enter", "down", "enter")  # the option after mg is ms
        await pilot.pause()
        assert disease.value == "ms"
        assert dimmed(app)
        assert "Disease changed to ms" in summary(app)
        assert "for disease mg" in summary(app)
        await until(pilot, lambda: screening(app))
        assert "Disease changed to ms" in summary(app)
        gated.gate.set()
        await settle(pilot)
        assert not dimmed(app)
        assert "Disease changed" not in summary(app)


@sync
async def test_a_problem_after_a_disease_switch_names_the_disease_shown(
    make: Callable[[Path | None], CareligibleApp],
) -> None:
    app = make(MG_CASE)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await retype(pilot, "age", "abc")
        disease: Select[str] = app.query_one(f"#{form_model.widget_id('disease')}", Select)
        disease.focus()
        await pilot.press("enter", "down", "enter")
        await settle(pilot)
        assert disease.value == "ms"
        assert dimmed(app)
        assert "last valid entry (disease mg)" in summary(app)


# --- ask next: the form's words, and a way to the field -----------------------------------------

SPARSE_SLE = REPO / "cases" / "sparse-sle.yaml"


def test_ask_next_names_fields_as_the_form_does_and_only_fields_it_shows() -> None:
    asks = [
        ("labs.creatinine_mg_dl", ["NCT1", "NCT2"]),
        ("scores.t25fw_s", ["NCT3"]),
        ("therapies: outcome, duration or timing of mycophenolate", ["NCT1"]),
        ("failed_one_biologic: the recorded facts do not decide it", ["NCT2"]),
    ]
    creatinine, t25fw, therapies, judged = ask_items(asks, "mg")
    assert (creatinine.label, creatinine.field) == ("creatinine (mg/dL)", "labs.creatinine_mg_dl")
    assert creatinine.trials == ("NCT1", "NCT2")
    assert t25fw.field is None  # the MG form hides T25FW: nothing to type it into
    assert t25fw.label == "T25FW (s): not on the mg form; to confirm at screening"
    assert ask_items(asks[1:2], "ms")[0].field == "scores.t25fw_s"
    assert therapies.field == form_model.THERAPIES
    assert therapies.label == "prior therapies: outcome, duration or timing of mycophenolate"
    assert (judged.label, judged.field) == (
        "failed one biologic: the recorded facts do not decide it",
        None,
    )


def test_every_field_label_is_written_for_clinicians() -> None:
    for spec in [*form_model.FIELDS.values(), *form_model.THERAPY_FIELDS.values()]:
        assert "." not in spec.label and "_" not in spec.label, spec.key
    assert form_model.FIELDS["labs.igg_g_l"].label == "IgG (g/L)"
    assert form_model.FIELDS["history.live_vaccine_weeks_ago"].label == "live vaccine (weeks ago)"


async def ask_next_list(pilot: Pilot[Any]) -> OptionList:
    """From the trial list to the Ask next tab's list, by the keys a user would press."""
    await pilot.press("f3", "tab", "right", "tab")
    await pilot.pause()
    focused = pilot.app.focused
    assert isinstance(focused, OptionList) and focused.id == "ask-next"
    return focused


def option_texts(options: OptionList) -> list[str]:
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


@sync
async def test_enter_on_an_ask_next_item_goes_to_its_field(
    make: Callable[[Path | None], CareligibleApp],
) -> None:
    app = make(SPARSE_SLE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        options = await ask_next_list(pilot)
        texts = option_texts(options)
        assert not [t for t in texts for key in form_model.FIELDS if key in t]  # no field paths
        wanted = next(i for i, t in enumerate(texts) if t.startswith("creatinine (mg/dL)\n"))
        assert options.highlighted == 0
        await pilot.press(*["down"] * wanted, "enter")
        await pilot.pause()
        field = app.focused
        assert isinstance(field, Input)
        assert field.id == form_model.widget_id("labs.creatinine_mg_dl")
        form = app.query_one(CaseForm)
        assert form.content_region.contains_region(field.region)  # scrolled into view
        await pilot.press(*"1.1")
        await settle(pilot)
        assert app.result is not None
        assert "labs.creatinine_mg_dl" not in [a.fact for a in app.result.ask_next]
        assert not any(t.startswith("creatinine") for t in option_texts(options))


@sync
async def test_ask_next_never_leads_to_a_field_the_form_hides(
    make: Callable[[Path | None], CareligibleApp],
) -> None:
    app = make(MG_CASE)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.result is not None
        assert "scores.t25fw_s" in dict(ask_next(app.result))  # an MS trial asks for it
        options = await ask_next_list(pilot)
        [t25fw] = [
            options.get_option_at_index(i)
            for i, t in enumerate(option_texts(options))
            if t.startswith("T25FW")
        ]
        assert t25fw.disabled
        assert "to confirm at screening" in str(t25fw.prompt)
        before = app.focused
        await pilot.press("enter")  # nothing to lead to: focus stays on the list
        await pilot.pause()
        assert app.focused is before
        hidden = app.query_one(f"#{form_model.widget_id('scores.t25fw_s')}-row")
        assert not hidden.display


# --- no verdict without its count ---------------------------------------------------------------


@sync
async def test_an_eligible_verdict_always_shows_what_was_checked(
    make: Callable[[Path | None], CareligibleApp],
) -> None:
    """Before any therapy is entered the MG demo is already eligible for a trial: the table row
    and the summary line say how many criteria were checked and how many are to confirm."""
    app = make(MG_CASE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.result is not None
        table = app.query_one("#trials", DataTable)
        eligible = app.result.by_verdict("eligible")
        possibly = app.result.by_verdict("possibly_eligible")
        assert eligible and possibly
        for trial in eligible + possibly:
            assert trial.checked < trial.total  # nothing here is fully settled...
            assert (
                cell(table, trial.nct_id, 2) == f"{trial.checked}/{trial.total}"
            )  # ...and says so
        [one] = eligible
        line = summary(app).replace("\n", " ")
        assert (
            f"1 eligible ({one.checked}/{one.total} checked, {len(one.to_confirm)} to confirm)"
            in line
        )
        checked = sum(t.checked for t in possibly)
        total = sum(t.total for t in possibly)
        confirm = sum(len(t.to_confirm) for t in possibly)
        assert f"{len(possibly)} possibly ({checked}/{total} checked, {confirm} to confirm)" in line
        assert "needs info (" not in line and "ineligible (" not in line


@sync
async def test_a_value_read_before_its_change_arrives_is_still_screened(catalog: Catalog) -> None:
    """Save and export read the fields themselves, ahead of the change messages. The change
    that arrives after must still be screened, or the panel would show, undimmed, the
    verdicts of the value before it."""
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert verdict_of(app, MG_TRIAL) == "eligible"
        app.query_one(f"#{form_model.widget_id('scores.qmg')}", Input).value = "5"
        app.current_case()  # as Ctrl+S does, before the field's change message is handled
        await pilot.pause()
        await settle(pilot)
        assert verdict_of(app, MG_TRIAL) == "ineligible"
        assert not app.query_one(ResultsPanel).has_class("-stale")


@sync
async def test_a_focused_select_is_marked_as_clearly_as_a_focused_input(
    catalog: Catalog,
) -> None:
    """Tab onto a yes/no field: its shown value changes colour and turns bold, so the field that
    takes the next key is visible without hunting for a faint tint."""
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        select = app.query(Select).first()
        current = select.query_one("SelectCurrent")
        before = current.styles.background
        select.focus()
        await pilot.pause()
        assert app.focused is select
        assert current.styles.background != before
        assert current.styles.background.a > 0.3
        assert current.styles.text_style.bold
        app.query(Input).first().focus()
        await pilot.pause()
        assert current.styles.background == before
