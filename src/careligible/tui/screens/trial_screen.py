"""A full-screen view of one trial's explanation."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Header

from ...results import CohortResult
from ..widgets.footer import SteadyFooter
from ..widgets.trial_detail import TrialDetail, TrialInfo


class TrialScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "dismiss(None)", "Back")]

    def __init__(self, trial: CohortResult, info: TrialInfo) -> None:
        super().__init__()
        self.trial = trial
        self.info = info

    def compose(self) -> ComposeResult:
        yield Header()
        yield TrialDetail(id="full-detail")
        yield SteadyFooter(compact=True)

    def on_mount(self) -> None:
        self.sub_title = self.trial.nct_id
        detail = self.query_one(TrialDetail)
        detail.show(self.trial, self.info)
        detail.focus()
