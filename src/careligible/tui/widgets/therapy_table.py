"""The editable list of therapies: one block of fields per drug, with add and remove."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Label, Select, Static

from ..form_model import HISTORY_COMPLETE, NO, THERAPY_FIELDS, YES, therapy_key, widget_id
from ..screens.confirm import ConfirmScreen
from .field_row import FieldRow

#: The title of the therapies' section of the form.
THERAPIES_TITLE = "Therapies"
HISTORY_QUESTION = "Is the list above the whole therapy history?"

#: What the answer means for the verdicts, in the words a clinician reads beside the list.
HISTORY_MEANS = {
    NO: 'No (not confirmed): a drug class not listed is unknown, not "not tried"; '
    "a trial that needs it asks.",
    YES: "Yes: a drug class not listed counts as not tried.",
    "": "Not stated in the file, so read as complete: a drug class not listed counts as not "
    "tried. Choose yes to confirm it, or no.",
}

#: The answer shown when a file says nothing (never "unknown": absent reads as complete).
NOT_STATED = "not stated"


@dataclass(frozen=True)
class DrugHelp:
    """What a drug field offers as the clinician types: completions, and a warning for a name
    the rules do not know. Only these two, so the widget needs no catalog."""

    names: list[str]
    hint_for: Callable[[str], str]


class TherapyRow(Vertical):
    """One therapy: drug (with completion), outcome, months, stopped months ago, dose."""

    def __init__(self, row: int, values: dict[str, str], drugs: DrugHelp) -> None:
        super().__init__(id=f"therapy-{row}", classes="therapy-row")
        self.row = row
        self._values = values
        self._drugs = drugs

    def compose(self) -> ComposeResult:
        for column, spec in THERAPY_FIELDS.items():
            key = therapy_key(self.row, column)
            yield FieldRow(
                spec,
                self._values.get(key, ""),
                key=key,
                suggestions=self._drugs.names if column == "drug" else None,
                placeholder="drug name" if column == "drug" else "",
                hint_for=self._drugs.hint_for if column == "drug" else None,
            )
        yield Button(
            "Remove", id=f"remove-therapy-{self.row}", classes="remove-therapy", compact=True
        )


class TherapyTable(Widget):
    """Holds the therapy rows. Posts :class:`TherapyTable.RowRemoved`; field edits bubble up."""

    DEFAULT_CSS = """
    TherapyTable { height: auto; }
    """

    class RowRemoved(Message):
        def __init__(self, row: int) -> None:
            super().__init__()
            self.row = row

    def __init__(self, values: dict[str, str], rows: list[int], drugs: DrugHelp) -> None:
        super().__init__(id="therapies")
        self._values = values
        self._rows = rows
        self._drugs = drugs
        self._next = max(rows, default=-1) + 1

    def compose(self) -> ComposeResult:
        yield Label(THERAPIES_TITLE, classes="section-title")
        with Vertical(id="therapy-rows"):
            for row in self._rows:
                yield TherapyRow(row, self._values, self._drugs)
        yield Button("Add therapy", id="add-therapy", compact=True)
        yield Label(HISTORY_QUESTION, classes="history-question")
        answer = self._values.get(HISTORY_COMPLETE.key, "")
        yield FieldRow(HISTORY_COMPLETE, answer)
        yield Static(HISTORY_MEANS.get(answer, ""), id="history-means", classes="hint")

    def on_mount(self) -> None:
        self.query_one(f"#{widget_id(HISTORY_COMPLETE.key)}", Select).prompt = NOT_STATED

    def _show_history_meaning(self, answer: str) -> None:
        self.query_one("#history-means", Static).update(HISTORY_MEANS.get(answer, ""))

    def on_field_row_changed(self, event: FieldRow.Changed) -> None:
        """Not stopped: the form records every change; this only rewords the meaning."""
        if event.key == HISTORY_COMPLETE.key:
            self._show_history_meaning(event.value)

    async def replace_rows(self, values: dict[str, str], rows: list[int]) -> None:
        """Show a different case's therapies."""
        self._values = values
        container = self.query_one("#therapy-rows", Vertical)
        await container.remove_children()
        await container.mount_all(TherapyRow(r, values, self._drugs) for r in rows)
        self._next = max(rows, default=-1) + 1
        self._show_history_meaning(values.get(HISTORY_COMPLETE.key, ""))

    async def add_row(self) -> None:
        row = self._next
        self._next += 1
        new = TherapyRow(row, self._values, self._drugs)
        await self.query_one("#therapy-rows", Vertical).mount(new)
        new.query_one(FieldRow).query_one(".field-input").focus()
        new.scroll_visible()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "add-therapy":
            await self.add_row()
            return
        row = event.button.parent
        if isinstance(row, TherapyRow):
            self._ask_to_remove(row)

    def _ask_to_remove(self, row: TherapyRow) -> None:
        """Remove only once confirmed: a therapy deleted by a stray Enter changes the verdicts
        and the clinician might not notice which drug went."""
        drug = row.query_one(FieldRow).value.strip() or "this therapy"
        question = f"Remove {drug} from the therapies?"

        async def answered(remove: bool | None) -> None:
            if remove:
                await self._remove(row)

        self.app.push_screen(ConfirmScreen(question, "Remove", keep="Keep"), answered)

    async def _remove(self, row: TherapyRow) -> None:
        """Remove the row and keep the focus in the list: on the next drug, or *Add therapy*."""
        rows = list(self.query(TherapyRow))
        after = rows[rows.index(row) + 1 :]
        await row.remove()
        self.post_message(self.RowRemoved(row.row))
        target = after[0].query_one(".field-input") if after else self.query_one("#add-therapy")
        target.focus()
