"""A new user enters each demo case from scratch with the keyboard only, and saves it.

Each test starts the app on a new case and types every value of a demo file the way a clinician
would: Tab and Shift+Tab to the field (never focusing a widget from code), text typed into
inputs, selects opened with Enter and chosen by typing, therapies added with the "Add therapy"
button reached by Tab, and the case saved with Ctrl+S through the save dialog. The file written
must hold the demo case, and the verdicts on screen must be those of screening the demo file.

The fields are walked to by their widget ids in the focus chain rather than by counting Tabs, so
the tests stay right when fields are added to the form; each walk is bounded by the length of the
focus chain, so a field Tab cannot reach fails the test instead of looping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.keys import _character_to_key
from textual.message_pump import MessagePump
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Button, Input, Select

from careligible.case import Case
from careligible.catalog import Catalog
from careligible.readers import open_case
from careligible.screening import Screener
from careligible.tui import form_model
from careligible.tui.app import CareligibleApp
from careligible.tui.screens.file_picker import FilePicker
from test_tui import REPO, make_app, settle, sync

DEMOS = ("sle-nephritis", "myasthenia-gravis", "multiple-sclerosis", "myositis")


def _demo_case(name: str) -> Case:
    opened = open_case(REPO / "cases" / f"{name}.yaml")
    assert opened.parsed is not None and opened.parsed.case is not None
    return opened.parsed.case


COMPLETE = "therapies_complete"


def _as_entered(case: Case) -> Case:
    """The demo as the form holds it. A file that does not say whether its therapy history is
    complete means it is; where the form asks, the clinician answers yes."""
    if case.therapies_complete is None:
        return case.model_copy(update={COMPLETE: True})
    return case


def _to_enter(case: Case) -> tuple[list[tuple[str, str]], list[list[tuple[str, str]]]]:
    """The form text of the demo: (field key, text) in form order, and one list per therapy.

    The disease comes first, as a user starts: it decides which score fields are shown.
    """
    values = form_model.values_from_case(case)
    fields = [(key, values[key]) for key in form_model.FIELDS if values.get(key)]
    fields.sort(key=lambda item: item[0] != "disease")
    therapies = [
        [
            (form_model.therapy_key(row, column), text)
            for column in form_model.THERAPY_FIELDS
            if (text := values.get(form_model.therapy_key(row, column), ""))
        ]
        for row in form_model.therapy_rows(values)
    ]
    return fields, therapies


def _focus_ids(app: CareligibleApp) -> list[str]:
    return [widget.id or "" for widget in app.screen.focus_chain]


async def handled(*pumps: MessagePump) -> None:
    """Wait until each of ``pumps`` has handled every message queued to it before this call."""
    for pump in pumps:
        done = asyncio.Event()
        if pump.call_later(done.set):
            await done.wait()


async def send(pilot: Pilot[Any], *keys: str) -> None:
    """Press ``keys`` as one burst: every key event queued at once, as a terminal delivers fast
    typing (``Pilot.press`` instead waits for the whole app to go idle after each key, which
    costs a tenth of a second a key in a form this size).

    Returns once every key has been handled: the app forwards each key to the focused widget,
    which either takes it (a character typed) or lets it bubble up through its ancestors back to
    the app, whose bindings (Tab) act last. Waiting on each of those queues in that order is
    waiting for exactly the path the keys take.
    """
    app = pilot.app
    target = app.focused
    for key in keys:
        if len(key) == 1:
            app.post_message(events.Key(_character_to_key(key), key))
        else:
            app.post_message(events.Key(key, None))
    await handled(app)
    if target is not None:
        await handled(target, *target.ancestors)


async def until(pilot: Pilot[Any], holds: Callable[[], bool], what: str) -> None:
    """Wait for a state the app reaches through a chain of messages (a value reaching the app,
    a list opening), failing with ``what`` rather than hanging. Polls often and cheaply: a pause
    of the Pilot would wait on every widget of the form each time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not holds():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.002)


async def walk_to(pilot: Pilot[Any], widget_id: str) -> Widget:
    """Tab (or Shift+Tab, for a field above) until ``widget_id`` has the focus."""
    app = pilot.app
    assert isinstance(app, CareligibleApp)
    chain = _focus_ids(app)
    assert widget_id in chain, f"{widget_id} cannot be reached with Tab"
    here = chain.index(app.focused.id or "") if app.focused is not None else -1
    key = "tab" if chain.index(widget_id) > here else "shift+tab"
    for _ in range(len(chain)):
        focused = app.focused
        if focused is not None and focused.id == widget_id:
            return focused
        await send(pilot, key)
    raise AssertionError(f"{len(chain)} presses of {key} did not reach {widget_id}")


async def type_text(pilot: Pilot[Any], field: Input, text: str) -> None:
    """Replace the input's text by typing: Home, Ctrl+K (delete to the end), then the text."""
    if field.value:
        await send(pilot, "home", "ctrl+k")
    await send(pilot, *text)
    assert field.value == text, f"{field.id}: typed {text!r}, the field holds {field.value!r}"


async def choose(pilot: Pilot[Any], select: Select[str], text: str) -> None:
    """Open the select with Enter, type the option to jump to it, and take it with Enter."""
    app = pilot.app
    await send(pilot, "enter")
    await until(
        pilot,
        lambda: app.focused is not None and select in app.focused.ancestors,
        f"{select.id}: Enter did not open the list",
    )
    await send(pilot, *text, "enter")
    await until(pilot, lambda: app.focused is select, f"{select.id}: Enter left the list open")
    assert not select.expanded
    assert select.value == text, f"{select.id}: chose {text!r}, the select holds {select.value!r}"


async def enter(pilot: Pilot[Any], key: str, text: str) -> None:
    """Walk to the field of ``key``, enter ``text``, and wait for the app to hold it."""
    widget = await walk_to(pilot, form_model.widget_id(key))
    if isinstance(widget, Select):
        await choose(pilot, widget, text)
    else:
        assert isinstance(widget, Input), f"{widget.id} is neither an input nor a select"
        await type_text(pilot, widget, text)
    app = pilot.app
    assert isinstance(app, CareligibleApp)
    await until(
        pilot, lambda: app.values.get(key) == text, f"{key}: {text!r} never reached the app"
    )


async def add_therapy(pilot: Pilot[Any], row: int) -> None:
    """Tab to "Add therapy" and press Enter: the new row's drug field takes the focus."""
    button = await walk_to(pilot, "add-therapy")
    assert isinstance(button, Button)
    await send(pilot, "enter")
    app = pilot.app
    drug = form_model.widget_id(form_model.therapy_key(row, "drug"))
    await until(
        pilot,
        lambda: app.focused is not None and app.focused.id == drug,
        f"Add therapy did not take the focus to {drug}",
    )


async def save_as(pilot: Pilot[Any], path: Path) -> None:
    """Ctrl+S on a new case opens the save dialog with the name field focused."""
    await pilot.press("ctrl+s")
    await pilot.pause()
    app = pilot.app
    assert isinstance(app.screen, FilePicker)
    field = app.focused
    assert isinstance(field, Input) and field.id == "path"
    await type_text(pilot, field, str(path))
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(app, CareligibleApp) and app.case_file == path and not app.dirty


@pytest.mark.parametrize("demo", DEMOS)
@sync
async def test_a_demo_case_entered_by_keyboard_is_the_demo_case(
    catalog: Catalog, screener: Screener, tmp_path: Path, demo: str
) -> None:
    demo_case = _demo_case(demo)
    # The form has no widget for these: a demo file that set one could not be entered here.
    assert all(getattr(demo_case, name) is None for name in form_model.CARRIED if name != COMPLETE)
    case = _as_entered(demo_case)
    fields, therapies = _to_enter(case)
    app = make_app(catalog)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.case_file is None
        for key, text in fields:
            await enter(pilot, key, text)
        for row, items in enumerate(therapies):
            await add_therapy(pilot, row)
            for key, text in items:
                await enter(pilot, key, text)
        await enter(pilot, form_model.HISTORY_COMPLETE.key, "yes")  # the history is confirmed
        await settle(pilot)
        assert not app.query(".-invalid"), "a field shows a problem"
        assert app.result is not None
        on_screen = [(t.nct_id, t.cohort, t.verdict) for t in app.result.trials]
        saved = tmp_path / f"{demo}.yaml"
        await save_as(pilot, saved)

    expected = screener.screen(demo_case)
    assert on_screen == [(t.nct_id, t.cohort, t.verdict) for t in expected.trials]
    opened = open_case(saved)
    assert opened.parsed is not None and opened.parsed.case == case
