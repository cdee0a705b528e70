"""The UI's file actions: open, save, save as, export the report, compare trials.

Every write here follows the rules the command line follows (:mod:`careligible.outputs`): never
over the file a case was imported from nor a rule file, never half written, and never over an
existing file without asking. Nothing is saved or exported while the form shows a problem: the
verdicts on screen would then describe an earlier entry, and the file would not hold what the
clinician sees.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from textual import work
from textual.app import App

from ..case import Case
from ..catalog import Catalog
from ..errors import CareligibleError
from ..outputs import protected_files, refuse_clash
from ..report import stem_for
from ..screening import Screener
from .files import SAVE_SUFFIXES, LoadedCase, export_report, load_case_file, report_paths, save_case
from .screens.compare import CompareScreen
from .screens.confirm import ConfirmScreen
from .screens.file_picker import FilePicker


def report_formats() -> tuple[str, ...]:
    """Markdown and HTML always; PDF when fpdf2 (the ``pdf`` extra) is installed."""
    return ("md", "html", "pdf") if importlib.util.find_spec("fpdf") else ("md", "html")


class FileActions(App[None]):
    """The file actions of :class:`~careligible.tui.app.CareligibleApp`, which provides the
    form, the screening and the unsaved-changes prompt named below."""

    catalog: Catalog
    screener: Screener
    case_file: Path | None
    dirty: bool
    opened_from: Path | None = None
    """The file the case came from, even a FHIR Bundle (which ``case_file`` never is)."""
    compared: tuple[str, ...] = ()
    """The trials last picked in the comparison, which the exported report sets side by side."""

    # Provided by the app.
    def current_case(self) -> Case | None:
        raise NotImplementedError

    async def _may_discard(self, doing: str) -> bool:
        raise NotImplementedError

    async def _load(self, values: dict[str, str], path: Path | None) -> None:
        raise NotImplementedError

    def _imported(self, loaded: LoadedCase) -> bool:
        raise NotImplementedError

    def _update_subtitle(self) -> None:
        raise NotImplementedError

    _import_message: str

    # --- helpers ---------------------------------------------------------------------------

    def _folder(self) -> Path:
        """Where the pickers start: beside the open file, else the working directory."""
        here = self.case_file or self.opened_from
        return here.parent if here is not None else Path.cwd()

    def _refuse_clash(self, target: Path, role: str) -> bool:
        """True (with the reason shown) when ``target`` is the imported source or a rule file.
        The open case file itself may be saved over; reports never go over it."""
        inputs = [p for p in (self.opened_from, self.case_file) if p is not None]
        if role == "the case file":
            inputs = [p for p in inputs if p != self.case_file]
        protected = protected_files(inputs, rules_dir=self.catalog.directory)
        try:
            refuse_clash(target, protected, role)
        except CareligibleError as exc:
            self.notify(str(exc), severity="error", timeout=15)
            return True
        return False

    async def _may_replace(self, paths: list[Path]) -> bool:
        """Ask before replacing files that exist (the open case file is Save's own)."""
        existing = [p for p in paths if p.exists() and p != self.case_file]
        if not existing:
            return True
        names = ", ".join(p.name for p in existing)
        verb = "exists" if len(existing) == 1 else "exist"
        question = f"{names} already {verb} in {existing[0].parent}. Replace?"
        replace: bool = await self.push_screen_wait(ConfirmScreen(question, "Replace"))
        return replace

    def _valid_case(self, doing: str) -> Case | None:
        case = self.current_case()
        if case is None:
            self.notify(
                f"Not {doing}: fix the problems shown in the form first "
                "(the verdicts on screen are for an earlier entry).",
                severity="error",
                timeout=10,
            )
        return case

    # --- open ------------------------------------------------------------------------------

    @work(group="files", exclusive=True)
    async def action_open_case(self) -> None:
        if not await self._may_discard("open another case"):
            return
        path = await self.push_screen_wait(
            FilePicker(
                "Open a case file (YAML, JSON, or a FHIR Bundle)", self._folder(), must_exist=True
            )
        )
        if path is None:
            return
        try:
            loaded = load_case_file(path, self.catalog)
        except CareligibleError as exc:
            self.notify(str(exc), severity="error")
            return
        await self._load(loaded.values, path)
        self.opened_from = path
        if self._imported(loaded):
            self._update_subtitle()
            self.notify(self._import_message, severity="warning", timeout=30)

    # --- save ------------------------------------------------------------------------------

    async def _save(self, path: Path | None) -> bool:
        case = self._valid_case("saved")
        if case is None:
            return False
        if path is None:
            name = f"{stem_for(case.id)}.yaml"
            path = await self.push_screen_wait(
                FilePicker("Save the case as (.yaml or .json)", self._folder(), name)
            )
            if path is None:
                return False
            if path.suffix.lower() not in SAVE_SUFFIXES:
                self.notify("Not saved: give the file a .yaml or .json name.", severity="error")
                return False
            if self._refuse_clash(path, "the case file") or not await self._may_replace([path]):
                return False
        elif self._refuse_clash(path, "the case file"):
            return False
        try:
            save_case(path, case, template=self.case_file)
        except OSError as exc:
            self.notify(f"Cannot save {path}: {exc.strerror or exc}", severity="error")
            return False
        self.case_file = path
        self.dirty = False
        self._update_subtitle()
        self.notify(f"Saved {path.name}")
        return True

    @work(group="files", exclusive=True)
    async def action_save_case(self) -> None:
        path = self.case_file
        if path is not None and path.suffix.lower() not in SAVE_SUFFIXES:
            # A case opened from CSV or JSON Lines: writing YAML there would ruin the file.
            self.notify(f"{path.name} is not a YAML or JSON file: choose where to save the case.")
            path = None
        await self._save(path)

    @work(group="files", exclusive=True)
    async def action_save_case_as(self) -> None:
        await self._save(None)

    # --- the report and the comparison -----------------------------------------------------

    @work(group="files", exclusive=True)
    async def action_export_report(self) -> None:
        case = self._valid_case("exported")
        if case is None:
            return
        result = self.screener.screen(case)  # what is on the form now, never an older result
        formats = report_formats()
        base = await self.push_screen_wait(
            FilePicker(
                f"Export the report ({', '.join(formats)}) as", self._folder(), stem_for(case.id)
            )
        )
        if base is None:
            return
        paths = report_paths(base, formats)
        if any(self._refuse_clash(p, "the report") for p in paths):
            return
        if not await self._may_replace(paths):
            return
        try:
            written = export_report(base, case, result, self.catalog, formats, self.compared)
        except OSError as exc:
            self.notify(f"Cannot write the report: {exc.strerror or exc}", severity="error")
            return
        self.notify("Report written: " + ", ".join(p.name for p in written))

    @work(group="files", exclusive=True)
    async def action_compare_trials(self) -> None:
        case = self._valid_case("compared")
        if case is None:
            return
        result = self.screener.screen(case)
        chosen = await self.push_screen_wait(CompareScreen(result, self.compared))
        self.compared = tuple(chosen or ())
