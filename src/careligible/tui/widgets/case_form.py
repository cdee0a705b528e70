"""The case form: every section of the case contract, as text the clinician edits.

Attributes down (:meth:`load`, :meth:`show_problems`), messages up (:class:`CaseForm.Changed`).
Turning the text into a case is :mod:`careligible.tui.form_model`'s job, not this widget's.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Label

from ...case import SUBTYPES
from ..form_model import SECTIONS, THERAPIES, therapy_rows, widget_id
from .field_row import FieldRow
from .therapy_table import THERAPIES_TITLE, DrugHelp, TherapyRow, TherapyTable

_ALL_SUBTYPES = sorted({s for subtypes in SUBTYPES.values() for s in subtypes})


class CaseForm(VerticalScroll):
    """Posts :class:`CaseForm.Changed` with a copy of all values whenever one changes."""

    can_focus = False
    #: The keys the footer shows while a field has the focus (they work anywhere).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "app.save_case", "Save"),
        Binding("ctrl+g", "app.go_to_section", "Section"),
        Binding("ctrl+f", "app.find_field", "Find"),
    ]

    class Changed(Message):
        def __init__(self, values: dict[str, str]) -> None:
            super().__init__()
            self.values = values

    def __init__(self, values: dict[str, str], drugs: DrugHelp) -> None:
        super().__init__(id="case-form")
        self.values = dict(values)
        self._drugs = drugs

    def compose(self) -> ComposeResult:
        for section in SECTIONS:
            yield Label(section.title, classes="section-title")
            for spec in section.fields:
                row = FieldRow(
                    spec,
                    self.values.get(spec.key, ""),
                    suggestions=_ALL_SUBTYPES if spec.key == "subtype" else None,
                )
                row.display = spec.shown_for(self.values.get("disease", ""))
                yield row
            if section.title == "Organ damage":
                yield TherapyTable(self.values, therapy_rows(self.values), self._drugs)

    def focus_first(self) -> None:
        self.query(".field-input").first().focus()

    def focus_field(self, key: str) -> None:
        """Focus the field for ``key`` and scroll it into view: where "ask next" leads. The
        therapy history leads to its first drug, or to *Add therapy* when none is listed."""
        if key == THERAPIES:
            table = self.query_one(TherapyTable)
            inputs = table.query(".field-input")
            target = inputs.first() if inputs else table.query_one("#add-therapy")
        else:
            target = self.query_one(f"#{widget_id(key)}")
        target.focus(scroll_visible=False)
        self.scroll_to_center(target, animate=False)

    def section_titles(self) -> list[str]:
        """The form's sections in order, the therapies after the organ damage."""
        titles = []
        for section in SECTIONS:
            titles.append(section.title)
            if section.title == "Organ damage":  # where compose puts the therapy table
                titles.append(THERAPIES_TITLE)
        return titles

    def go_to_section(self, title: str) -> None:
        """Focus the first field the section shows now (the first drug, or *Add therapy*)."""
        if title == THERAPIES_TITLE:
            self.focus_field(THERAPIES)
            return
        keys = {f.key for s in SECTIONS if s.title == title for f in s.fields}
        row = next((r for r in self._rows() if r.key in keys and r.display), None)
        if row is not None:
            self.focus_field(row.key)

    def field_labels(self) -> list[tuple[str, str, str]]:
        """(label, section, key) of every field shown now: hidden fields cannot be reached."""
        out = []
        for section in SECTIONS:
            for spec in section.fields:
                if spec.shown_for(self.values.get("disease", "")):
                    out.append((spec.label, section.title, spec.key))
        for number, row in enumerate(self.query(TherapyRow), start=1):
            for field in row.query(FieldRow):
                out.append((f"therapy {number}: {field.spec.label}", THERAPIES_TITLE, field.key))
        return out

    def _rows(self) -> list[FieldRow]:
        return list(self.query(FieldRow))

    def _show_disease_fields(self) -> None:
        disease = self.values.get("disease", "")
        for row in self._rows():
            if row.spec.diseases is not None:
                row.display = row.spec.shown_for(disease)

    async def load(self, values: dict[str, str]) -> None:
        """Show another case: replace every value, without announcing each change."""
        self.values = dict(values)
        await self.query_one(TherapyTable).replace_rows(self.values, therapy_rows(self.values))
        for row in self._rows():
            row.set_value(self.values.get(row.key, ""))
            row.set_error("")
        self._show_disease_fields()
        self.scroll_home(animate=False)

    def typed_values(self) -> dict[str, str]:
        """All values as the fields hold them now.

        :class:`Changed` reaches the app a few messages after the key that caused it, so a
        Ctrl+S typed right after a digit could otherwise save the case without that digit.

        It leaves :attr:`values` alone: that change's own message must still find it new,
        or the form would never announce it and the results would stay those of the value
        before it.
        """
        typed = dict(self.values)
        for row in self._rows():
            typed[row.key] = row.value
        return typed

    def show_problems(self, problems: dict[str, str]) -> None:
        for row in self._rows():
            row.set_error(problems.get(row.key, ""))

    def on_field_row_changed(self, event: FieldRow.Changed) -> None:
        event.stop()
        if self.values.get(event.key, "") == event.value:
            return  # an echo of load(), or no real change
        self.values[event.key] = event.value
        if event.key == "disease":
            self._show_disease_fields()
        self.post_message(self.Changed(dict(self.values)))

    def on_therapy_table_row_removed(self, event: TherapyTable.RowRemoved) -> None:
        event.stop()
        prefix = f"therapies[{event.row}]."
        self.values = {k: v for k, v in self.values.items() if not k.startswith(prefix)}
        self.post_message(self.Changed(dict(self.values)))
