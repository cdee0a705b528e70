"""The trial-list filters: recruiting only, my disease, target, country.

Dismisses with the new :class:`TrialFilter`, or None when cancelled. Filters change what the
table shows, never what is screened.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, Select

from ..trial_filter import TrialFilter


class FilterScreen(ModalScreen[TrialFilter | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    DEFAULT_CSS = """
    FilterScreen Select { width: 1fr; margin-top: 1; }
    FilterScreen Checkbox { width: 1fr; }
    """

    def __init__(
        self,
        current: TrialFilter,
        disease: str,
        targets: list[str],
        countries: list[tuple[str, str]],
        unplaced: list[str],
    ) -> None:
        super().__init__(classes="modal")
        self.current = current
        self.disease = disease
        self.targets = targets
        self.countries = countries
        self.unplaced = unplaced

    def compose(self) -> ComposeResult:
        disease = self.disease.upper() if self.disease else "no disease entered"
        with Vertical(classes="dialog"):
            yield Label("Show only the trials that… (screening is unchanged)")
            yield Checkbox("are recruiting", self.current.recruiting_only, id="filter-recruiting")
            yield Checkbox(
                f"enrol the case's disease ({disease})",
                self.current.my_disease,
                id="filter-disease",
            )
            yield Select(
                [(t, t) for t in self.targets],
                prompt="any target",
                value=self.current.target or Select.NULL,
                compact=True,
                id="filter-target",
            )
            yield Select(
                [(f"{name} ({code})", code) for name, code in self.countries],
                prompt="any country",
                value=self.current.country or Select.NULL,
                compact=True,
                id="filter-country",
            )
            yield Label(self._country_note(), classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Apply", id="apply", variant="primary")
                yield Button("Show all", id="clear")
                yield Button("Cancel", id="cancel")

    def _country_note(self) -> str:
        """Where the countries come from, and which trials a country filter cannot place."""
        if not self.countries:
            return "The catalog lists no trial's countries: a country filter is not available."
        note = "Countries as the catalog lists them (rule file, or registry sites)."
        if self.unplaced:
            note += f" No country listed for {', '.join(self.unplaced)}: a country filter hides it."
        return note

    def on_mount(self) -> None:
        self.query_one("#filter-country", Select).disabled = not self.countries
        self.query_one("#filter-recruiting", Checkbox).focus()

    def chosen(self) -> TrialFilter:
        target = self.query_one("#filter-target", Select).value
        country = self.query_one("#filter-country", Select).value
        return TrialFilter(
            recruiting_only=self.query_one("#filter-recruiting", Checkbox).value,
            my_disease=self.query_one("#filter-disease", Checkbox).value,
            target="" if target is Select.NULL else str(target),
            country="" if country is Select.NULL else str(country),
        )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply":
            self.dismiss(self.chosen())
        elif event.button.id == "clear":
            self.dismiss(TrialFilter())
        else:
            self.dismiss(None)
