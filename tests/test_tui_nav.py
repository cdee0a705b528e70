"""Getting around the terminal UI by keyboard: trial filters, context footer keys, jump to a
section or a field. Every test drives the app through keys only and polls ``app.settled``."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import DataTable, Static
from textual.widgets._footer import FooterKey

from careligible.catalog import Catalog
from careligible.results import CohortResult
from careligible.tui import form_model
from careligible.tui.app import CareligibleApp
from careligible.tui.screens.filters import FilterScreen
from careligible.tui.screens.trial_screen import TrialScreen
from careligible.tui.trial_filter import (
    TrialFacts,
    TrialFilter,
    country_choices,
    describe,
    target_choices,
    trial_facts,
)
from careligible.tui.widgets.case_form import CaseForm
from careligible.tui.widgets.footer import SteadyFooter
from test_tui import MG_CASE, make_app, settle, sync


def table_trials(app: CareligibleApp) -> list[str]:
    table = app.query_one("#trials", DataTable)
    return [str(key.value) for key in table.rows]


def filter_line(app: CareligibleApp) -> str:
    line = app.query_one("#filter-line", Static)
    return str(line.render()) if line.display else ""


async def open_filters(pilot: Pilot[Any]) -> FilterScreen:
    await pilot.press("f4")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, FilterScreen)
    return screen


async def apply_filters(pilot: Pilot[Any]) -> None:
    """From the first box of the filter screen: Tab to Apply and press it."""
    await pilot.press("tab", "tab", "tab", "tab", "enter")
    await settle(pilot)


def _trial(status: str = "recruiting") -> CohortResult:
    return CohortResult(
        nct_id="NCT00000001",
        verdict="eligible",
        cohort="main",
        cohort_name="main",
        status=status,
        missing=[],
        to_confirm=[],
        criteria=[],
    )


async def from_palette(
    pilot: Pilot[Any], query: str, wanted: str, key: str = "ctrl+p", timeout: float = 10.0
) -> None:
    """Open a palette with ``key``, type ``query`` and run the first hit once it is ``wanted``
    (the palette searches in the background: poll for the hit, never sleep a guessed time)."""
    if key:
        await pilot.press(key)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not isinstance(pilot.app.screen, CommandPalette):
        assert loop.time() < deadline, "no palette opened"
        await pilot.pause(0.02)
    await pilot.press(*query)
    commands = pilot.app.screen.query_one(CommandList)
    while True:
        first = commands.get_option_at_index(0) if commands.option_count else None
        if first is not None and wanted in str(first.prompt):
            break
        assert loop.time() < deadline, f"the palette never offered {wanted!r}"
        await pilot.pause(0.02)
    if commands.highlighted is None:
        await pilot.press("down")
    await pilot.press("enter")
    await pilot.pause()


# --- filters ------------------------------------------------------------------------------------


def test_filters_read_the_catalog_and_only_narrow_the_view(catalog: Catalog) -> None:
    facts = TrialFacts("CD19/BCMA", frozenset({"sle"}), ("CN",))
    assert TrialFilter().keeps(_trial("completed"), facts, "mg")  # no filter keeps every trial
    assert not TrialFilter(recruiting_only=True).keeps(_trial("completed"), facts, "sle")
    assert not TrialFilter(my_disease=True).keeps(_trial(), facts, "mg")
    assert TrialFilter(my_disease=True).keeps(_trial(), facts, "")  # no disease: nothing to narrow
    assert not TrialFilter(target="CD19").keeps(_trial(), facts, "sle")  # the combination, exactly
    assert TrialFilter(target="CD19/BCMA", country="CN").keeps(_trial(), facts, "sle")
    assert not TrialFilter(country="DE").keeps(_trial(), TrialFacts(), "sle")  # lists no country
    both = TrialFilter(recruiting_only=True, country="DE")
    line = describe(both, "sle", 3, 18)
    assert line == "Filter (F4): recruiting, in Germany · 15 of 18 trials hidden"
    assert "CD19/BCMA" in target_choices(catalog)
    assert ("Germany", "DE") in country_choices(catalog)


@sync
async def test_recruiting_only_hides_trials_and_says_how_many(catalog: Catalog) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.result is not None
        every = [t.nct_id for t in app.result.trials]
        assert table_trials(app) == every and filter_line(app) == ""
        await open_filters(pilot)
        await pilot.press("space")  # "are recruiting"
        await apply_filters(pilot)
        recruiting = [t.nct_id for t in app.result.trials if t.status == "recruiting"]
        assert 0 < len(recruiting) < len(every)
        assert table_trials(app) == recruiting
        hidden = len(every) - len(recruiting)
        assert f"recruiting · {hidden} of {len(every)} trials hidden" in filter_line(app)
        assert [t.nct_id for t in app.result.trials] == every  # screening is unchanged
        await open_filters(pilot)
        await pilot.press("tab", "tab", "tab", "tab", "tab", "enter")  # Show all
        await settle(pilot)
        assert table_trials(app) == every and filter_line(app) == ""


@sync
async def test_my_disease_keeps_trials_with_a_cohort_for_the_case_disease(
    catalog: Catalog,
) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.result is not None
        await open_filters(pilot)
        await pilot.press("tab", "space")  # "enrol the case's disease (MG)"
        await pilot.press("tab", "tab", "tab", "enter")
        await settle(pilot)
        shown = table_trials(app)
        assert shown and all("mg" in trial_facts(catalog, n).diseases for n in shown)
        others = [t.nct_id for t in app.result.trials if t.nct_id not in shown]
        assert others and all("mg" not in trial_facts(catalog, n).diseases for n in others)
        assert "enrols MG" in filter_line(app)


@sync
async def test_target_and_country_filters_by_keyboard(catalog: Catalog) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = await open_filters(pilot)
        # The target list opens with Enter; the first choice is the first target, sorted.
        await pilot.press("tab", "tab", "enter", "down", "enter")
        await pilot.pause()
        chosen = screen.chosen()
        assert chosen.target == sorted({"/".join(t.meta.targets) for t in catalog.trials})[0]
        await pilot.press("tab", "enter", "down", "enter")
        await pilot.pause()
        chosen = screen.chosen()
        assert chosen.country
        await pilot.press("tab", "enter")
        await settle(pilot)
        shown = table_trials(app)
        for nct in shown:
            facts = trial_facts(catalog, nct)
            assert facts.targets == chosen.target and chosen.country in facts.countries
        assert app.result is not None
        expected = [
            t.nct_id
            for t in app.result.trials
            if TrialFilter(target=chosen.target, country=chosen.country).keeps(
                t, trial_facts(catalog, t.nct_id), "mg"
            )
        ]
        assert shown == expected
        assert f"{len(app.result.trials) - len(shown)} of" in filter_line(app)


@sync
async def test_escape_leaves_the_filters_as_they_were(catalog: Catalog) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = table_trials(app)
        await open_filters(pilot)
        await pilot.press("space", "escape")
        await settle(pilot)
        assert not isinstance(app.screen, FilterScreen)
        assert table_trials(app) == before and filter_line(app) == ""


@sync
async def test_the_palette_opens_the_filters(catalog: Catalog) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await from_palette(pilot, "filter", "Filter trials")
        assert isinstance(app.screen, FilterScreen)


# --- footer keys for the focused area -----------------------------------------------------------


def footer_keys(app: CareligibleApp) -> list[FooterKey]:
    return list(app.screen.query_one(SteadyFooter).query(FooterKey))


def footer_text(app: CareligibleApp) -> str:
    """What the footer shows whole, inside the terminal, left of the docked palette key."""
    keys = footer_keys(app)
    palette = next(k for k in keys if k.has_class("-command-palette"))
    width = app.size.width
    shown = [
        str(k.render())
        for k in keys
        if k is palette or (k.region.width and k.region.right <= palette.region.x <= width)
    ]
    return " ".join(shown)


@sync
async def test_the_footer_shows_the_keys_of_the_focused_area_whole_at_80_columns(
    catalog: Catalog,
) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = footer_text(app)
        for word in ("Help", "Save", "Form", "Trials", "Quit", "palette"):
            assert word in form, form
        assert "Filter" not in form and "Details" not in form
        assert str(footer_keys(app)[0].render()).endswith("Help")  # clipped last, if ever
        await pilot.press("f3")
        await pilot.pause()
        trials = footer_text(app)
        for word in ("Help", "Details", "Filter", "Report", "Form", "Trials", "Quit"):
            assert word in trials, trials
        assert "Save" not in trials
        await pilot.press("enter")  # the trial in full: its own footer, Help first
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen)
        full = footer_text(app)
        assert str(footer_keys(app)[0].render()).endswith("Help")
        assert "Back" in full and "Form" in full
        await pilot.press("f2")  # F2 leaves the full view for the form
        await pilot.pause()
        assert not isinstance(app.screen, TrialScreen)
        assert app.focused is not None and app.query_one(CaseForm) in app.focused.ancestors


@sync
async def test_the_footer_is_rebuilt_only_when_its_keys_change(catalog: Catalog) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = footer_keys(app)
        await pilot.press("tab", "tab", "tab")  # field to field: the same keys
        await pilot.pause()
        assert footer_keys(app) == before
        await pilot.press("f3")
        await pilot.pause()
        assert footer_keys(app) != before


# --- jump to a section or a field ---------------------------------------------------------------


def assert_focused_in_view(app: CareligibleApp, widget_id: str) -> None:
    form = app.query_one(CaseForm)
    focused = app.focused
    assert focused is not None and focused.id == widget_id, focused
    assert form.content_region.contains_region(focused.region), (focused.region, form.region)


@sync
async def test_go_to_section_focuses_its_first_field(catalog: Catalog) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f3")  # from the trial table too
        await from_palette(pilot, "labs and", "Labs and organ function", key="ctrl+g")
        await pilot.pause()
        first_lab = next(s for s in form_model.SECTIONS if s.title.startswith("Labs")).fields[0]
        assert_focused_in_view(app, form_model.widget_id(first_lab.key))
        await from_palette(pilot, "therapies", "Therapies", key="ctrl+g")
        await pilot.pause()
        therapy_drug = form_model.widget_id(form_model.therapy_key(0, "drug"))
        assert_focused_in_view(app, therapy_drug)


@sync
async def test_find_field_by_its_clinician_label(catalog: Catalog) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        labels = [label for label, _section, _key in app.query_one(CaseForm).field_labels()]
        assert "QMG" in labels and "eGFR" in labels
        assert "EDSS" not in labels  # an MS score, hidden for an MG case, is not offered
        assert not any("." in label for label in labels)  # labels, not field paths
        await from_palette(pilot, "egfr", "eGFR", key="ctrl+f")
        await pilot.pause()
        assert_focused_in_view(app, form_model.widget_id("labs.egfr"))
        await from_palette(pilot, "therapy 6: drug", "therapy 6: drug", key="ctrl+f")
        await pilot.pause()
        assert_focused_in_view(app, form_model.widget_id(form_model.therapy_key(5, "drug")))
        await from_palette(pilot, "find field", "Find field", key="ctrl+p")  # and from the palette
        await from_palette(pilot, "qmg", "QMG", key="")
        await pilot.pause()
        assert_focused_in_view(app, form_model.widget_id("scores.qmg"))
