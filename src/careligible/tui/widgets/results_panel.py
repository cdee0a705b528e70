"""Live results: the ranked trials, the selected trial's reasons, what to ask next, and the
considerations. Attributes down (:meth:`show`), messages up (:class:`ResultsPanel.Opened`)."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from ...results import VERDICTS, CaseResult, CohortResult
from ..report import VERDICT_LABEL
from .trial_detail import VERDICT_STYLE, TrialDetail, TrialInfo


class ResultsPanel(Vertical):
    class Opened(Message):
        """The clinician asked for a trial's full explanation."""

        def __init__(self, nct_id: str) -> None:
            super().__init__()
            self.nct_id = nct_id

    def __init__(self, info_of: Callable[[str], TrialInfo]) -> None:
        super().__init__(id="results")
        self._info_of = info_of
        self.result: CaseResult | None = None

    def compose(self) -> ComposeResult:
        yield Static("Screening…", id="summary")
        table: DataTable[str | Text] = DataTable(id="trials", cursor_type="row", zebra_stripes=True)
        table.add_columns("Verdict", "Trial", "Target", "Phase", "Sponsor", "Status")
        yield table
        with TabbedContent(id="result-tabs"):
            with TabPane("Why", id="tab-why"):
                yield TrialDetail(id="detail")
            with TabPane("Ask next", id="tab-ask"), VerticalScroll():
                yield Static("", id="ask-next")
            with TabPane("Considerations", id="tab-considerations"), VerticalScroll():
                yield Static("", id="considerations")

    def show_problems(self, count: int) -> None:
        summary = self.query_one("#summary", Static)
        if count:
            summary.update(
                Text(
                    f"{count} problem(s) in the form: results below are for the last valid entry",
                    style="bold red",
                )
            )
        elif self.result is not None:
            summary.update(self._summary(self.result))

    def show_error(self, message: str) -> None:
        self.query_one("#summary", Static).update(Text(message, style="bold red"))

    def _summary(self, result: CaseResult) -> Text:
        text = Text()
        for verdict in VERDICTS:
            n = len(result.by_verdict(verdict))
            text.append(f"{n} {VERDICT_LABEL[verdict].lower()}", style=VERDICT_STYLE[verdict])
            text.append("  ")
        if result.warnings:
            text.append(f"\n{'; '.join(result.warnings)}", style="yellow")
        return text

    def show(self, result: CaseResult, ask_next: list[tuple[str, list[str]]]) -> None:
        self.result = result
        self.query_one("#summary", Static).update(self._summary(result))
        table: DataTable[str | Text] = self.query_one("#trials", DataTable)
        current = self.selected_nct()
        table.clear()
        for trial in result.trials:
            info = self._info_of(trial.nct_id)
            verdict = Text(VERDICT_LABEL[trial.verdict], style=VERDICT_STYLE[trial.verdict])
            table.add_row(
                verdict,
                trial.nct_id,
                info.targets,
                info.phase[:24],
                info.sponsor[:28],
                info.status.split(" (")[0],
                key=trial.nct_id,
            )
        if current is not None and current in table.rows:
            table.move_cursor(row=table.get_row_index(current), animate=False)
        self._show_detail()
        asks = Text()
        for path, ncts in ask_next:
            asks.append(f"{path}", style="bold")
            asks.append(f"  {len(ncts)} trial(s): {', '.join(ncts)}\n", style="dim")
        self.query_one("#ask-next", Static).update(
            asks if ask_next else "Nothing missing for the trials that need information."
        )
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
