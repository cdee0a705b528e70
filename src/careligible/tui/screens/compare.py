"""Two or three trials side by side: criteria x trials, each cell met / not met / unknown.

The same comparison as the report's (:func:`careligible.report.comparison`), so what the screen
shows and what the exported report prints cannot differ.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, SelectionList

from ...report import comparison
from ...results import VERDICT_LABEL, CaseResult
from ...safetext import printable

MAX_TRIALS = 3


class CompareScreen(ModalScreen[tuple[str, ...]]):
    """Pick trials with Space in the list; the table below compares them once 2 or 3 are picked.

    Dismisses with the trials picked (when two or three), which the exported report compares."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    DEFAULT_CSS = """
    CompareScreen .dialog { width: 95%; height: 90%; }
    CompareScreen SelectionList { height: 8; }
    CompareScreen DataTable { height: 1fr; }
    """

    def __init__(self, result: CaseResult, chosen: tuple[str, ...] = ()) -> None:
        super().__init__(classes="modal")
        self.result = result
        self.initial = chosen

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Compare trials: Space picks two or three · Escape closes")
            yield SelectionList[str](
                *(
                    (f"{t.nct_id}  {VERDICT_LABEL[t.verdict]}", t.nct_id, t.nct_id in self.initial)
                    for t in self.result.trials
                ),
                id="compare-pick",
            )
            yield Label("", id="compare-hint", classes="hint")
            yield DataTable(id="compare-table", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()
        self._show()

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged[str]) -> None:
        event.stop()
        self._show()

    def action_close(self) -> None:
        chosen = self.chosen
        self.dismiss(tuple(chosen) if 2 <= len(chosen) <= MAX_TRIALS else ())

    @property
    def chosen(self) -> list[str]:
        picked = set(self.query_one("#compare-pick", SelectionList).selected)
        return [t.nct_id for t in self.result.trials if t.nct_id in picked]

    def _show(self) -> None:
        table = self.query_one("#compare-table", DataTable)
        table.clear(columns=True)
        hint = self.query_one("#compare-hint", Label)
        chosen = self.chosen
        if not 2 <= len(chosen) <= MAX_TRIALS:
            hint.update(f"{len(chosen)} picked: pick two or three trials.")
            return
        hint.update("")
        view = comparison(self.result, chosen)
        table.add_columns("Criteria reading", *view.trials)
        for key, cells in view.rows:
            table.add_row(Text(printable(key)), *(Text(printable(c)) for c in cells))
