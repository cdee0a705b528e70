"""The terminal UI: the pure form model and report, the app driven by the Pilot, and snapshots."""

from __future__ import annotations

import asyncio
import functools
import shutil
from collections.abc import Awaitable, Callable, Coroutine
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from careligible import screening
from careligible.case import Case
from careligible.catalog import Catalog, load_catalog
from careligible.report.content import (
    DOES_NOT_EXCLUDE,
    MET,
    MISSING,
    NOT_YET_KNOWN,
    RULES_OUT,
    TO_CONFIRM,
)
from careligible.results import VERDICT_SHORT, CaseResult, CohortResult
from careligible.screening import Screener
from careligible.tui import form_model
from careligible.tui.app import CareligibleApp
from careligible.tui.report import ask_next, trial_meta
from careligible.tui.screens.confirm import UnsavedScreen
from careligible.tui.screens.file_picker import FilePicker
from careligible.tui.screens.trial_screen import TrialScreen
from careligible.tui.widgets.case_form import CaseForm
from careligible.tui.widgets.trial_detail import TrialInfo, render_trial
from careligible.writers import DISCLAIMER

REPO = Path(__file__).resolve().parents[1]
MG_CASE = REPO / "cases" / "myasthenia-gravis.yaml"
MG_TRIAL = "NCT06193889"


def sync(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test without an asyncio plugin."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


# --- the pure form model ----------------------------------------------------------------------


def test_form_round_trip_keeps_the_case() -> None:
    data = yaml.safe_load(MG_CASE.read_text(encoding="utf-8"))
    case, problems = form_model.validate(form_model.values_from_case(data))
    assert problems == {}
    assert case == Case.model_validate(data)


def test_unknown_is_not_no() -> None:
    values = form_model.blank_values("c1")
    values["pregnant"] = "no"
    values["overlap"] = "none"
    data = form_model.case_dict_from_values(values)
    unconfirmed = {"therapies_complete": False}  # a new case's history is not confirmed
    assert data == {"id": "c1", "pregnant": False, "overlap": [], **unconfirmed}
    values["pregnant"] = ""
    values["overlap"] = ""
    assert form_model.case_dict_from_values(values) == {"id": "c1", **unconfirmed}


def test_lists_numbers_and_nested_fields() -> None:
    values = {
        "id": "c2",
        "disease": "sle",  # lupus nephritis is shown, and so part of the case, only for SLE
        "age": "41",
        "labs.egfr": "88.5",
        "scores.bilag_a": "renal, mucocutaneous",
        "lupus_nephritis.class": "IV",
        "therapies[0].drug": "rituximab",
        "therapies[0].months": "6",
        "therapies[3].drug": "",
    }
    assert form_model.case_dict_from_values(values) == {
        "id": "c2",
        "disease": "sle",
        "age": 41,
        "lupus_nephritis": {"class": "IV"},
        "scores": {"bilag_a": ["renal", "mucocutaneous"]},
        "labs": {"egfr": 88.5},
        "therapies": [{"drug": "rituximab", "months": 6.0}],
    }


def test_problems_are_keyed_by_form_field() -> None:
    values = form_model.blank_values("c3")
    values.update(
        {
            "age": "abc",
            "labs.egfr": "900",
            "therapies[0].drug": "",
            "therapies[4].drug": "prednisone",
            "therapies[4].outcome": "great",
            "therapies[7].months": "3",
        }
    )
    case, problems = form_model.validate(values)
    assert case is None
    assert "whole number" in problems["age"]
    assert "at most 250" in problems["labs.egfr"]
    assert "therapies[4].outcome" in problems
    assert problems["therapies[7].drug"] == "is required"


def test_disease_specific_fields() -> None:
    fields = form_model.FIELDS
    assert fields["scores.qmg"].shown_for("mg")
    assert not fields["scores.qmg"].shown_for("sle")
    assert fields["lupus_nephritis.class"].shown_for("sle")
    assert fields["scores.edss"].shown_for("ms")
    assert fields["labs.egfr"].shown_for("")


# --- the pure report ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mg_result(catalog: Catalog, screener: Screener) -> CaseResult:
    case = Case.model_validate(yaml.safe_load(MG_CASE.read_text(encoding="utf-8")))
    return screener.screen(case)


def test_ask_next_counts_missing_facts_across_needs_info_trials() -> None:
    def trial(nct: str, verdict: str, missing: list[str]) -> CohortResult:
        return CohortResult.model_validate(
            {
                "nct_id": nct,
                "verdict": verdict,
                "cohort": "c",
                "cohort_name": "c",
                "missing": missing,
                "to_confirm": [],
                "criteria": [],
            }
        )

    result = CaseResult(
        case_id="x",
        source="",
        trials=[
            trial("NCT1", "needs_info", ["labs.egfr", "age"]),
            trial("NCT2", "needs_info", ["labs.egfr"]),
            trial("NCT3", "ineligible", ["age", "age"]),
        ],
    )
    assert ask_next(result) == [("labs.egfr", ["NCT1", "NCT2"]), ("age", ["NCT1"])]


# --- the app, driven by the Pilot ---------------------------------------------------------------


async def settle(pilot: Pilot[Any], timeout: float = 30.0) -> None:
    """Wait until the latest edit has been screened and shown, however slow the machine."""
    app = pilot.app
    assert isinstance(app, CareligibleApp)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not app.settled:
        assert loop.time() < deadline, "the app did not settle"
        await pilot.pause(0.02)
        await app.workers.wait_for_complete()
    await pilot.pause()


def verdict_of(app: CareligibleApp, nct_id: str) -> str:
    assert app.result is not None
    return str(next(t.verdict for t in app.result.trials if t.nct_id == nct_id))


async def set_field(pilot: Pilot[Any], key: str, text: str) -> Input:
    field = pilot.app.query_one(f"#{form_model.widget_id(key)}", Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)
    return field


def cell(table: DataTable[Any], nct_id: str, column: int) -> str:
    return str(table.get_cell_at((table.get_row_index(nct_id), column))).strip()


_SCREENERS: dict[int, Screener] = {}


def make_app(catalog: Catalog, case_file: Path | None = None) -> CareligibleApp:
    screener = _SCREENERS.setdefault(id(catalog), Screener(catalog))
    return CareligibleApp(catalog, case_file, debounce=0.05, screener=screener)


@sync
async def test_typing_changes_the_verdict(catalog: Catalog) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert verdict_of(app, MG_TRIAL) == "eligible"
        table = app.query_one("#trials", DataTable)
        assert cell(table, MG_TRIAL, 0) == VERDICT_SHORT["eligible"]
        await set_field(pilot, "scores.qmg", "5")
        await settle(pilot)
        assert verdict_of(app, MG_TRIAL) == "ineligible"
        assert cell(table, MG_TRIAL, 0) == VERDICT_SHORT["ineligible"]
        assert app.dirty


@sync
async def test_tab_shows_every_field_it_focuses(catalog: Catalog) -> None:
    """Tab from the first field to past the last therapy at 80x24: each focused widget is on
    screen, whole, inside the form's visible area (none is clipped away below the form)."""
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        form = app.query_one(CaseForm)
        therapy_fields = {
            form_model.widget_id(form_model.therapy_key(row, column))
            for row in range(6)
            for column in form_model.THERAPY_COLUMNS
        }
        reached: set[str] = set()
        while (focused := app.focused) is not None and form in focused.ancestors:
            await pilot.pause()  # let the form scroll to the focused widget
            region = focused.region
            assert region.area > 0, f"{focused.id} is focused but not shown"
            assert form.content_region.contains_region(region), (
                f"{focused.id} at {region} is outside the form's view {form.content_region}"
            )
            reached.add(focused.id or "")
            await pilot.press("tab")
        assert therapy_fields <= reached, sorted(therapy_fields - reached)


@pytest.mark.parametrize("typed", ["abc", "150"])
@sync
async def test_invalid_input_shows_a_message_and_keeps_the_text(
    catalog: Catalog, typed: str
) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        field = await set_field(pilot, "age", typed)
        await settle(pilot)
        row = app.query_one(f"#{form_model.widget_id('age')}-row")
        message = str(row.query_one(".field-error", Static).render())
        assert "whole number" in message or "at most 120" in message
        assert row.has_class("-invalid")
        assert field.value == typed
        assert app.result is not None  # the last results stay; nothing crashed
        summary = str(app.query_one("#summary", Static).render())
        assert "problem" in summary


@sync
async def test_open_edit_save_round_trip(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "mg.yaml"
    shutil.copy(MG_CASE, path)
    app = make_app(catalog)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert isinstance(app.screen, FilePicker)
        app.screen.query_one(Input).value = str(path)
        await pilot.press("enter")
        await settle(pilot)
        assert app.case_file == path
        assert app.query_one(f"#{form_model.widget_id('labs.egfr')}", Input).value == "104"
        assert verdict_of(app, MG_TRIAL) == "eligible"
        await set_field(pilot, "labs.egfr", "55")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not app.dirty
    saved = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert saved["labs"]["egfr"] == 55
    assert saved["therapies"][3]["drug"] == "mycophenolate mofetil"
    assert saved["history"]["malignancy"] == "none"


@sync
async def test_unsaved_changes_prompt_on_new(catalog: Catalog) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await set_field(pilot, "age", "42")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, UnsavedScreen)
        await pilot.click("#cancel")
        await pilot.pause()
        assert app.query_one(f"#{form_model.widget_id('age')}", Input).value == "42"
        await pilot.press("ctrl+n")
        await pilot.pause()
        await pilot.click("#discard")
        await settle(pilot)
        assert app.query_one(f"#{form_model.widget_id('age')}", Input).value == ""
        assert app.case_file is None
        assert not app.dirty


@sync
async def test_export_writes_markdown_html_and_pdf(catalog: Catalog, tmp_path: Path) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert isinstance(app.screen, FilePicker)
        app.screen.query_one(Input).value = str(tmp_path / "report")
        await pilot.press("enter")
        await settle(pilot)
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF-")
    for name in ("report.md", "report.html"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert MG_TRIAL in text
        assert DISCLAIMER in text
        assert catalog.version in text


@sync
async def test_trial_detail_explains_criteria(catalog: Catalog) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.query_one("#trials", DataTable)
        table.focus()
        table.move_cursor(row=table.get_row_index(MG_TRIAL))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen)
        text = str(app.screen.query_one("#trial-detail-text", Static).render())
        assert "scores.qmg = 14" in text
        assert "source:" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, TrialScreen)


SLE_CASE = REPO / "cases" / "sle-nephritis.yaml"


@pytest.mark.parametrize("case_file", [MG_CASE, SLE_CASE], ids=["mg", "sle"])
@sync
async def test_trial_table_shows_checked_status_and_cohort_in_80_columns(
    catalog: Catalog, case_file: Path
) -> None:
    app = make_app(catalog, case_file)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        table = app.query_one("#trials", DataTable)
        assert app.focused is table
        headers = [str(c.label).strip() for c in table.ordered_columns]
        assert headers[:5] == ["Verdict", "Trial", "Checked", "Status", "Cohort"]
        first_four = sum(c.get_render_width(table) for c in table.ordered_columns[:4])
        assert first_four <= table.scrollable_content_region.width
        assert app.result is not None
        for trial in app.result.trials:
            assert cell(table, trial.nct_id, 2) == f"{trial.checked}/{trial.total}"
            status = cell(table, trial.nct_id, 3)
            assert status.startswith("open") == (trial.status == "recruiting")
            assert status.endswith("?") == (not trial.status_current)
            assert trial.cohort_name.startswith(cell(table, trial.nct_id, 4).rstrip("…"))


@sync
async def test_a_closed_trial_is_marked_in_the_table(catalog: Catalog) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.result is not None
        closed = [
            t for t in app.result.trials if t.status == "active_not_recruiting" and t.status_current
        ]
        assert closed, "the MG demo meets a trial closed to enrolment"
        table = app.query_one("#trials", DataTable)
        for trial in closed:
            assert cell(table, trial.nct_id, 3) == "closed"


@sync
async def test_opening_another_case_shows_its_table_from_the_top(catalog: Catalog) -> None:
    app = make_app(catalog, MG_CASE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.query_one("#trials", DataTable)
        await pilot.press("f3", "ctrl+end")
        await pilot.pause()
        last = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        assert table.cursor_row == table.row_count - 1 and table.scroll_y > 0
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert isinstance(app.screen, FilePicker)
        await pilot.press(*SLE_CASE.name, "enter")
        await settle(pilot)
        assert app.case_file == SLE_CASE
        assert last in table.rows  # the old row exists in the new case, yet is not kept
        assert table.cursor_row == 0
        assert table.scroll_y == 0


# --- snapshots (a small fixed catalog, so rule edits elsewhere do not move them) ----------------

SNAP_CRITERIA = (
    '- id: adult\n  kind: inclusion\n  text: "Aged 18 or over."\n'
    '  when: {field: age, at_least: 18}\n  rationale: "Adult protocol."\n  source: s1',
    '- id: qmg_ge_11\n  kind: inclusion\n  text: "QMG of 11 or more."\n'
    '  when: {field: scores.qmg, at_least: 11}\n  rationale: "Measurable weakness."\n'
    "  source: s1",
    '- id: egfr\n  kind: inclusion\n  text: "eGFR of 30 or more."\n'
    '  when: {field: labs.egfr, at_least: 30}\n  rationale: "Renal clearance."\n  source: s1',
    '- id: consent\n  kind: inclusion\n  text: "Signed informed consent."\n'
    '  rationale: "Every trial."\n  source: s1',
)


class _SnapshotDay(date):
    """A fixed "today": the screen says whether a trial's status is current (under a year old
    at the case's date, today for a case without one), so snapshots must not age."""

    @classmethod
    def today(cls) -> _SnapshotDay:
        return cls(2026, 12, 1)


@pytest.fixture
def snap_app(make_rules: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> CareligibleApp:
    monkeypatch.setattr(screening, "date", _SnapshotDay)
    catalog = load_catalog(make_rules(*SNAP_CRITERIA))
    catalog.version = "snapshot"
    return CareligibleApp(catalog, MG_CASE, debounce=0.01)


async def _screened(pilot: Pilot[Any]) -> None:
    for field in pilot.app.query(Input):
        field.cursor_blink = False  # a blinking cursor makes snapshots flaky
    await settle(pilot)


async def _detail(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("f3", "enter")
    await pilot.pause()


SnapCompare = Callable[..., bool]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@pytest.mark.parametrize("before", [_screened, _detail], ids=["main", "detail"])
def test_snapshots(
    snap_compare: SnapCompare,
    snap_app: CareligibleApp,
    size: tuple[int, int],
    before: Callable[[Pilot[Any]], Awaitable[None]],
) -> None:
    assert snap_compare(snap_app, terminal_size=size, run_before=before)


# --- snapshots of the shipped catalog: what a clinician sees of the MG demo ---------------------


@pytest.fixture
def demo_app(monkeypatch: pytest.MonkeyPatch) -> CareligibleApp:
    """The MG demo screened against the shipped trials, on a fixed day and ruleset label (so
    the snapshots move when a trial or the screen changes, not when the version is bumped)."""
    monkeypatch.setattr(screening, "date", _SnapshotDay)
    catalog = load_catalog()
    catalog.version = "snapshot"
    return CareligibleApp(catalog, MG_CASE, debounce=0.01)


async def _last_therapy(pilot: Pilot[Any]) -> None:
    """The form scrolled down to the end of the MG demo's six therapies, the last dose focused."""
    await _screened(pilot)
    last = form_model.widget_id(form_model.therapy_key(5, "dose"))
    pilot.app.query_one(f"#{last}", Input).focus()
    await pilot.pause()


async def _form_error(pilot: Pilot[Any]) -> None:
    """A letter typed after the age: the message under the field, and the demo's verdicts
    marked as not for what the form shows."""
    await _screened(pilot)
    pilot.app.query_one(f"#{form_model.widget_id('age')}", Input).focus()
    await pilot.press("end", "l")
    await settle(pilot)


async def _trial_detail(pilot: Pilot[Any]) -> None:
    """The full explanation of the MG trial the demo is eligible for, reached from the table."""
    await _screened(pilot)
    table = pilot.app.query_one("#trials", DataTable)
    await pilot.press("f3", *["down"] * table.get_row_index(MG_TRIAL), "enter")
    await pilot.pause()
    assert isinstance(pilot.app.screen, TrialScreen)
    assert pilot.app.screen.trial.nct_id == MG_TRIAL


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize(
    "before",
    [_last_therapy, _form_error, _trial_detail],
    ids=["long-therapy-list", "form-error", "trial-detail"],
)
def test_demo_snapshots(
    snap_compare: SnapCompare,
    demo_app: CareligibleApp,
    size: tuple[int, int],
    before: Callable[[Pilot[Any]], Awaitable[None]],
) -> None:
    assert snap_compare(demo_app, terminal_size=size, run_before=before)


DETAIL_CRITERIA = (
    *SNAP_CRITERIA,
    '- id: pregnant\n  kind: exclusion\n  text: "Pregnancy."\n'
    '  when: {field: pregnant, is: true}\n  rationale: "Unknown fetal risk."\n  source: s1',
    '- id: hiv\n  kind: exclusion\n  text: "HIV infection."\n'
    '  when: {field: infections.hiv, equals: positive}\n  rationale: "Lymphodepletion risk."\n'
    "  source: s1",
    '- id: transplant\n  kind: exclusion\n  text: "Prior solid organ transplant."\n'
    "  when: {field: history.solid_organ_transplant, is: true}\n"
    '  rationale: "Immunosuppression."\n  source: s1',
)


def _detail_lines(catalog: Catalog, pregnant: bool) -> tuple[CohortResult, list[str]]:
    case = Case.model_validate(
        {
            "id": "t-2",
            "disease": "mg",
            "age": 30,
            "pregnant": pregnant,
            "history": {"solid_organ_transplant": False},
            "labs": {"egfr": 60},
        }
    )
    [trial] = Screener(catalog).screen(case).trials
    text = render_trial(trial, TrialInfo(*trial_meta(catalog, trial.nct_id))).plain
    # each mark agrees with its word: no "met" beside a cross, no "not met" beside a tick
    assert "NOT MET" not in text
    lines = text.splitlines()
    for line in lines:
        assert not line.startswith(("✗ met", "✓ not met", "✓ excludes", "✗ does not"))
    assert f"Criteria checked: {trial.checked} of {trial.total}" in lines
    return trial, lines


ORDER = [RULES_OUT, NOT_YET_KNOWN, MISSING, TO_CONFIRM, MET, DOES_NOT_EXCLUDE]


def test_the_detail_lists_what_excludes_first_in_plain_words(
    make_rules: Callable[..., Path],
) -> None:
    catalog = load_catalog(make_rules(*DETAIL_CRITERIA))
    trial, lines = _detail_lines(catalog, pregnant=True)
    assert trial.verdict == "ineligible"
    shown = [h for h in ORDER if h in lines]
    assert shown == [RULES_OUT, NOT_YET_KNOWN, TO_CONFIRM, MET, DOES_NOT_EXCLUDE]
    assert [lines.index(h) for h in shown] == sorted(lines.index(h) for h in shown)
    assert (
        lines.index(RULES_OUT)
        < lines.index("✗ excludes [exclusion] Pregnancy.")
        < lines.index(NOT_YET_KNOWN)
    )
    assert lines.index(DOES_NOT_EXCLUDE) < lines.index(
        "✓ does not exclude [exclusion] Prior solid organ transplant."
    )
    assert "? unknown [exclusion] HIV infection." in lines
    assert lines.index(MET) < lines.index("✓ met [inclusion] Aged 18 or over.")


def test_the_detail_puts_what_is_missing_before_what_is_met(
    make_rules: Callable[..., Path],
) -> None:
    catalog = load_catalog(make_rules(*DETAIL_CRITERIA))
    trial, lines = _detail_lines(catalog, pregnant=False)
    assert trial.verdict == "needs_info"
    shown = [h for h in ORDER if h in lines]
    assert shown == [NOT_YET_KNOWN, MISSING, TO_CONFIRM, MET, DOES_NOT_EXCLUDE]
    assert [lines.index(h) for h in shown] == sorted(lines.index(h) for h in shown)
    asked = lines[lines.index(MISSING) + 1 : lines.index(TO_CONFIRM) - 1]
    assert asked == [f"• {path}" for path in trial.missing]
    assert {"• scores.qmg", "• infections.hiv"} <= set(asked)
    assert "✓ does not exclude [exclusion] Pregnancy." in lines


def test_a_trial_ruled_out_by_one_criterion_says_so_in_the_detail_and_reports(
    make_rules: Callable[..., Path],
) -> None:

    catalog = load_catalog(make_rules(*SNAP_CRITERIA))
    case = Case.model_validate(
        {"id": "t-1", "disease": "mg", "age": 17, "scores": {"qmg": 14}, "labs": {"egfr": 60}}
    )
    result = Screener(catalog).screen(case)
    [trial] = result.trials
    assert trial.verdict == "ineligible" and trial.only_blocker == "Aged 18 or over."
    line = "Ruled out by one criterion only"
    info = TrialInfo(*trial_meta(catalog, trial.nct_id))
    assert f"{line}: Aged 18 or over." in render_trial(trial, info).plain

    older = Screener(catalog).screen(case.model_copy(update={"age": 40}))
    assert older.trials[0].only_blocker is None
    assert line not in render_trial(older.trials[0], info).plain
