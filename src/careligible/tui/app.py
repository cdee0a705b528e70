"""The careligible terminal UI: a case form on the left, live screening results on the right.

The app wires widgets to the core: form text goes through :mod:`form_model` to a case, an
exclusive worker screens it, and results flow down into the results panel. Patient data is never
logged or printed.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import SimpleCommand
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import DataTable, Header
from textual.worker import get_current_worker

from ..case import Case
from ..catalog import Catalog, load_catalog
from ..errors import CareligibleError
from ..results import CaseResult
from ..screening import Screener
from . import form_model
from .commands import CaseCommands
from .files import LoadedCase, load_case_file
from .report import ask_items, ask_next, trial_meta
from .saving import FileActions
from .screens.confirm import UnsavedScreen
from .screens.filters import FilterScreen
from .screens.help import HelpScreen
from .screens.trial_screen import TrialScreen
from .trial_filter import country_choices, target_choices, trial_facts, without_country
from .widgets.case_form import CaseForm
from .widgets.footer import SteadyFooter
from .widgets.results_panel import ResultsPanel
from .widgets.therapy_table import DrugHelp
from .widgets.trial_detail import TrialInfo


class CareligibleApp(FileActions):
    CSS_PATH = "app.tcss"
    TITLE = "careligible"
    COMMANDS = App.COMMANDS | {CaseCommands}
    # Keys that work everywhere. Those the footer shows only where they matter are shown by the
    # area that declares them again (CaseForm, ResultsPanel): see widgets/footer.py.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "new_case", "New", show=False),
        Binding("ctrl+o", "open_case", "Open", show=False),
        Binding("ctrl+s", "save_case", "Save", show=False),
        Binding("f12", "save_case_as", "Save as", show=False),
        Binding("ctrl+r", "export_report", "Report", show=False),
        Binding("f1", "help", "Help"),
        Binding("f2", "focus_form", "Form"),
        Binding("f3", "focus_trials", "Trials"),
        Binding("f4", "filter_trials", "Filter", show=False),
        Binding("ctrl+g", "go_to_section", "Section", show=False),
        Binding("ctrl+f", "find_field", "Find", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        # Priority: focus moves as the App reads Tab, before it reads the next key. As a plain
        # binding Tab first travels up from the focused field, and a key typed meanwhile was
        # handed to the field being left.
        Binding("tab", "focus_next", show=False, priority=True),
        Binding("shift+tab", "focus_previous", show=False, priority=True),
    ]

    def __init__(
        self,
        catalog: Catalog,
        case_file: Path | None = None,
        debounce: float = 0.3,
        screener: Screener | None = None,
    ) -> None:
        super().__init__()
        self.catalog = catalog
        self.screener = screener or Screener(catalog)
        self.debounce = debounce
        self.case_file = case_file
        self.opened_from = case_file
        self.result: CaseResult | None = None
        self.dirty = False
        self._generation = 0
        self._shown_generation = 0
        self._shown_disease: str | None = None  # the disease of the case the panel shows
        self._timer: Timer | None = None
        self._load_error = ""
        self._import_message = ""
        self.values = form_model.blank_values()
        if case_file is not None:
            try:
                loaded = load_case_file(case_file, catalog)
            except CareligibleError as exc:
                self._load_error = str(exc)
                self.case_file = None
            else:
                self.values = loaded.values
                self._imported(loaded)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            vocabulary = self.catalog.vocabulary
            drugs = DrugHelp(vocabulary.names(), partial(form_model.drug_hint, vocabulary))
            yield CaseForm(self.values, drugs)
            facts = {t.nct_id: trial_facts(self.catalog, t.nct_id) for t in self.catalog.trials}
            yield ResultsPanel(self.trial_info, facts)
        yield SteadyFooter(compact=True)

    def on_mount(self) -> None:
        self._update_subtitle()
        if self._load_error:
            self.notify(self._load_error, severity="error")
        if self._import_message:
            self.notify(self._import_message, severity="warning", timeout=30)
        self._screen_now()
        self.query_one(CaseForm).focus_first()

    def trial_info(self, nct_id: str) -> TrialInfo:
        return TrialInfo(*trial_meta(self.catalog, nct_id))

    def _update_subtitle(self) -> None:
        name = self.case_file.name if self.case_file else "new case"
        self.sub_title = f"{name}{' *' if self.dirty else ''} · rules {self.catalog.version}"

    # --- live screening -------------------------------------------------------------------

    def on_case_form_changed(self, event: CaseForm.Changed) -> None:
        taken = event.values == self.values  # a save already read it from the fields
        self.values = event.values
        self._mark_stale()
        if not self.dirty and not taken:
            self.dirty = True
            self._update_subtitle()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(self.debounce, self._screen_now)

    @property
    def settled(self) -> bool:
        """True when no edit waits for screening and the panel shows the latest one.

        Scripts and tests poll this instead of sleeping, so a slow machine cannot make them
        read the panel between an edit and its verdicts.
        """
        return self._timer is None and self._shown_generation == self._generation

    def current_case(self) -> Case | None:
        self.values = self.query_one(CaseForm).typed_values()
        case, problems = form_model.validate(self.values)
        self.query_one(CaseForm).show_problems(problems)
        self.query_one(ResultsPanel).show_problems(len(problems), self._other_disease())
        return case

    def _other_disease(self) -> str:
        """The disease of the results shown, worded, when the form now names another; else ""."""
        shown = self._shown_disease
        if shown is None or shown == self.values.get("disease", ""):
            return ""
        return f"disease {shown}" if shown else "no disease"

    def _mark_stale(self) -> None:
        """Dim the results until the form's entry is screened, saying why they are dimmed."""
        if self.result is None:
            return  # nothing shown yet: the panel says it is screening
        panel = self.query_one(ResultsPanel)
        if other := self._other_disease():
            now = self.values.get("disease", "") or "none"
            panel.show_stale(
                f"Disease changed to {now}: the results below are for {other} "
                "until the new screening arrives"
            )
        else:
            panel.show_stale(
                "Screening the form: the results below are for an earlier entry "
                "until the new ones arrive"
            )

    def _screen_now(self) -> None:
        if self._timer is not None:  # called directly (a file loaded): the pending one is moot
            self._timer.stop()
            self._timer = None
        self._generation += 1  # anything still running is now stale
        case = self.current_case()
        if case is None:
            self._shown_generation = self._generation  # the panel shows the problems
        else:
            self._mark_stale()
            self._screen(case, self._generation)

    @work(exclusive=True, thread=True, group="screen")
    def _screen(self, case: Case, generation: int) -> None:
        try:
            result = self.screener.screen(case)
        except Exception as exc:  # never crash the form; never show case data
            message = f"Screening failed ({type(exc).__name__}); see the rule catalog."
            self.call_from_thread(self._show_error, generation, message)
            return
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self._show_result, generation, result, case.disease or "")

    def _show_result(self, generation: int, result: CaseResult, disease: str) -> None:
        if generation != self._generation:
            return  # a newer edit is on its way
        self.result = result
        self._shown_disease = disease
        panel = self.query_one(ResultsPanel)
        panel.disease = disease
        panel.show(result, ask_items(ask_next(result), disease))
        self._shown_generation = generation

    def _show_error(self, generation: int, message: str) -> None:
        self.query_one(ResultsPanel).show_error(message)
        self._shown_generation = generation

    # --- files ----------------------------------------------------------------------------

    async def _may_discard(self, doing: str) -> bool:
        if not self.dirty:
            return True
        choice = await self.push_screen_wait(UnsavedScreen(doing))
        if choice == "save":
            return await self._save(self.case_file)
        return choice == "discard"

    async def _load(self, values: dict[str, str], path: Path | None) -> None:
        self.values = values
        self.case_file = path
        self.dirty = False
        await self.query_one(CaseForm).load(values)
        self.query_one(ResultsPanel).new_case()
        self._update_subtitle()
        self._screen_now()

    @work(group="files", exclusive=True)
    async def action_new_case(self) -> None:
        if await self._may_discard("start a new case"):
            await self._load(form_model.blank_values(), None)

    def _imported(self, loaded: LoadedCase) -> bool:
        """After loading a FHIR Bundle: unsaved, and never saved over the bundle itself."""
        self._import_message = loaded.import_message()
        if loaded.imported is None:
            return False
        self.case_file = None
        self.dirty = True
        return True

    async def action_quit(self) -> None:
        self._quit_after_prompt()

    @work(group="files", exclusive=True)
    async def _quit_after_prompt(self) -> None:
        if await self._may_discard("quit"):
            self.exit()

    # --- navigation -----------------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def _back_to_main(self) -> None:
        """Close a trial's full view, so F2 and F3 shown in its footer reach the main screen."""
        while isinstance(self.screen, TrialScreen):
            self.pop_screen()

    def action_focus_form(self) -> None:
        self._back_to_main()
        self.query_one(CaseForm).focus_first()

    def action_focus_trials(self) -> None:
        self._back_to_main()
        self.query_one("#trials", DataTable).focus()

    @work(group="filter", exclusive=True)
    async def action_filter_trials(self) -> None:
        """Narrow the trial table; what is screened, counted and reported stays the same."""
        panel = self.query_one(ResultsPanel)
        screen = FilterScreen(
            panel.trial_filter,
            panel.disease,
            target_choices(self.catalog),
            country_choices(self.catalog),
            without_country(self.catalog),
        )
        chosen = await self.push_screen_wait(screen)
        if chosen is not None:
            panel.set_filter(chosen)

    def action_go_to_section(self) -> None:
        """Pick a section of the form by name; its first field takes the focus."""
        self._back_to_main()
        form = self.query_one(CaseForm)
        self.search_commands(
            [SimpleCommand(t, partial(form.go_to_section, t), "") for t in form.section_titles()],
            placeholder="Go to section…",
        )

    def action_find_field(self) -> None:
        """Pick a field by its label (those shown for the disease); it takes the focus."""
        self._back_to_main()
        form = self.query_one(CaseForm)
        self.search_commands(
            [
                SimpleCommand(label, partial(form.focus_field, key), section)
                for label, section, key in form.field_labels()
            ],
            placeholder="Find field…",
        )

    def action_open_trial(self) -> None:
        trial = self.query_one(ResultsPanel).selected_trial()
        if trial is not None:
            self.push_screen(TrialScreen(trial, self.trial_info(trial.nct_id)))

    def on_results_panel_opened(self, event: ResultsPanel.Opened) -> None:
        self.action_open_trial()

    def on_results_panel_asked_for(self, event: ResultsPanel.AskedFor) -> None:
        self.query_one(CaseForm).focus_field(event.field)


def run_app(case_file: Path | None, rules_dir: Path | None) -> None:
    """Entry point of ``careligible tui``."""
    try:
        catalog = load_catalog(rules_dir)
        app = CareligibleApp(catalog, case_file)
    except CareligibleError as exc:
        print(f"careligible: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    app.run()
