"""Live results: the ranked trials, the selected trial's reasons, what to ask next, and the
considerations. Attributes down (:meth:`show`), messages up (:class:`ResultsPanel.Opened`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from ...results import VERDICT_SHORT, VERDICTS, CaseResult, CohortResult
from ..report import AskItem, checked_count, checked_summary, status_word
from ..trial_filter import TrialFacts, TrialFilter, describe, shown_trials
from .trial_detail import VERDICT_STYLE, TrialDetail, TrialInfo

#: Verdicts that invite a referral: their counts say how much of the criteria was checked.
CANDIDATES = ("eligible", "possibly_eligible")

#: The trial table's columns. Verdict, trial, criteria checked and status fit the 41 columns the
#: panel has in an 80-column terminal; the others scroll into view.
COLUMNS = ("Verdict", "Trial", "Checked", "Status", "Cohort", "Target", "Phase", "Sponsor")


def _cell(text: str, style: str = "", width: int = 40) -> Text:
    """A table cell, clipped to ``width``, after one space: the table's own padding puts two
    spaces between columns, one more than an 80-column terminal can spare."""
    clipped = text if len(text) <= width else text[: width - 1] + "…"
    return Text(f" {clipped}", style=style)


def _ask_option(index: int, ask: AskItem) -> Option:
    text = Text(ask.label, style="bold" if ask.field else "")
    trials = len(ask.trials)
    text.append(f"\n  {trials} trial{'s' if trials > 1 else ''}: {', '.join(ask.trials)}", "dim")
    return Option(text, id=str(index), disabled=ask.field is None)


class TrialTable(DataTable[str | Text]):
    """The trial table, whose Enter the footer names (Textual's table keeps it unnamed)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "select_cursor", "Details")]


class ResultsPanel(Vertical):
    #: The keys the footer shows while the trial table or the detail has the focus (F4 and
    #: Ctrl+R work anywhere; Enter in the detail opens the trial in full, as in the table).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "app.open_trial", "Details"),
        Binding("f4", "app.filter_trials", "Filter"),
        Binding("ctrl+r", "app.export_report", "Report"),
    ]

    class Opened(Message):
        """The clinician asked for a trial's full explanation."""

        def __init__(self, nct_id: str) -> None:
            super().__init__()
            self.nct_id = nct_id

    class AskedFor(Message):
        """The clinician chose an "ask next" item: the form should show its field."""

        def __init__(self, field: str) -> None:
            super().__init__()
            self.field = field

    def __init__(
        self, info_of: Callable[[str], TrialInfo], facts: dict[str, TrialFacts] | None = None
    ) -> None:
        super().__init__(id="results")
        self._info_of = info_of
        self._facts = facts or {}
        self.result: CaseResult | None = None
        self._to_top = False
        self._asks: list[AskItem] = []
        self.trial_filter = TrialFilter()
        self.disease = ""
        """The disease of the screened case, which the *my disease* filter reads."""

    def compose(self) -> ComposeResult:
        yield Static("Screening…", id="summary")
        yield Static("", id="filter-line")
        table = TrialTable(id="trials", cursor_type="row", zebra_stripes=True, cell_padding=0)
        table.add_columns(*(f" {c}" for c in COLUMNS))
        yield table
        with TabbedContent(id="result-tabs"):
            with TabPane("Why", id="tab-why"):
                yield TrialDetail(id="detail")
            with TabPane("Ask next", id="tab-ask"):
                yield OptionList(id="ask-next")
            with TabPane("Considerations", id="tab-considerations"), VerticalScroll():
                yield Static("", id="considerations")

    def show_problems(self, count: int, shown_for: str = "") -> None:
        """The form has ``count`` problems: the results below stay, dimmed, as those of the
        last valid entry (``shown_for`` names its disease when the form now names another)."""
        if not count:
            return  # the screening that follows shows fresh results, or says it is under way
        if self.result is None:
            text = f"{count} problem(s) in the form: no results until they are fixed"
            self.query_one("#summary", Static).update(Text(text, style="bold red"))
            return
        of = f" ({shown_for})" if shown_for else ""
        self.show_stale(
            f"{count} problem(s) in the form: the results below are for the last valid entry{of}, "
            "not for what the form shows",
            style="bold red",
        )

    def show_stale(self, why: str, style: str = "bold yellow") -> None:
        """The results below are not for what the form shows: dim them and say why, so that
        no one reads an earlier entry's verdicts as this one's. :meth:`show` undoes it."""
        self.add_class("-stale")
        self.query_one("#summary", Static).update(Text(why, style=style))

    def show_error(self, message: str) -> None:
        self.show_stale(f"{message} The results below are for an earlier entry.", "bold red")

    def _summary(self, result: CaseResult) -> Text:
        """The verdict counts; an eligible or possibly eligible count always says how many
        criteria were checked and how many are left to confirm, so that neither reads as
        more settled than it is."""
        text = Text()
        for verdict in VERDICTS:
            trials = result.by_verdict(verdict)
            if not trials:
                continue  # a verdict no trial has only takes room
            text.append(f"{len(trials)} {VERDICT_SHORT[verdict]}", style=VERDICT_STYLE[verdict])
            if verdict in CANDIDATES:
                text.append(f" ({checked_summary(trials)})")
            text.append("  ")
        if result.warnings:
            text.append(f"\n{'; '.join(result.warnings)}", style="yellow")
        return text

    def show(self, result: CaseResult, ask_next: list[AskItem]) -> None:
        self.result = result
        self.remove_class("-stale")
        self.query_one("#summary", Static).update(self._summary(result))
        self._fill_table(result)
        self._show_asks(ask_next)
        considerations = Text()
        for item in result.considerations:
            considerations.append(f"{item.title}\n", style="bold")
            considerations.append(f"{item.advice}\n")
            if getattr(item, "rationale", ""):
                considerations.append(f"why: {item.rationale}\n", style="dim")
            considerations.append(f"source: {item.source}\n\n", style="dim")
        self.query_one("#considerations", Static).update(
            considerations if result.considerations else "No considerations for this case."
        )

    def _show_asks(self, asks: list[AskItem]) -> None:
        """One option per missing fact; Enter on it leads to its field. A fact the form has
        no field for is listed, greyed, as to confirm at screening."""
        self._asks = asks
        options = self.query_one("#ask-next", OptionList)
        options.clear_options()
        if not asks:
            options.add_option(
                Option("Nothing missing for the trials that need information.", disabled=True)
            )
            return
        options.add_options(_ask_option(i, ask) for i, ask in enumerate(asks))
        # Enter leads at once to the first field to fill in, without a key to highlight it
        options.highlighted = next((i for i, ask in enumerate(asks) if ask.field), None)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_id is None:
            return
        field = self._asks[int(event.option_id)].field
        if field is not None:
            self.post_message(self.AskedFor(field))

    def _fill_table(self, result: CaseResult) -> None:
        """The rows the filter keeps, the cursor on the trial it was on when that is still shown."""
        table: DataTable[str | Text] = self.query_one("#trials", DataTable)
        current = None if self._to_top else self.selected_nct()
        shown = shown_trials(result.trials, self.trial_filter, self._facts, self.disease)
        table.clear()
        for trial in shown:
            table.add_row(*self._row(trial), key=trial.nct_id)
        if current is not None and current in table.rows:
            table.move_cursor(row=table.get_row_index(current), animate=False)
        elif self._to_top or current is not None:
            table.move_cursor(row=0, column=0, animate=False)
            table.scroll_home(animate=False)
        self._to_top = False
        self._show_filter_line(len(shown), len(result.trials))
        self._show_detail()

    def _show_filter_line(self, shown: int, total: int) -> None:
        line = self.query_one("#filter-line", Static)
        line.display = self.trial_filter.active
        if self.trial_filter.active:
            text = describe(self.trial_filter, self.disease, shown, total)
            line.update(Text(text, style="bold yellow" if shown < total else "yellow"))

    def set_filter(self, trial_filter: TrialFilter) -> None:
        """Show the trials ``trial_filter`` keeps; the screening and its counts are unchanged."""
        self.trial_filter = trial_filter
        if self.result is not None:
            self._fill_table(self.result)
        else:
            self.query_one("#filter-line", Static).display = trial_filter.active

    def new_case(self) -> None:
        """Another case is on screen: its results open at the top of the table, not at the row
        of the previous case's trial."""
        self._to_top = True

    def _row(self, trial: CohortResult) -> tuple[Text, ...]:
        info = self._info_of(trial.nct_id)
        return (
            _cell(VERDICT_SHORT[trial.verdict], VERDICT_STYLE[trial.verdict]),
            _cell(trial.nct_id),
            _cell(checked_count(trial)),
            _cell(*status_word(trial)),
            _cell(trial.cohort_name, width=32),
            _cell(info.targets),
            _cell(info.phase, width=24),
            _cell(info.sponsor, width=28),
        )

    def selected_nct(self) -> str | None:
        table: DataTable[str | Text] = self.query_one("#trials", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return key

    def selected_trial(self) -> CohortResult | None:
        nct = self.selected_nct()
        if self.result is None or nct is None:
            return None
        return next((t for t in self.result.trials if t.nct_id == nct), None)

    def _show_detail(self) -> None:
        trial = self.selected_trial()
        info = self._info_of(trial.nct_id) if trial else TrialInfo()
        self.query_one(TrialDetail).show(trial, info)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Opened(event.row_key.value))
