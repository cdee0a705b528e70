"""Command-palette entries for the main actions."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("New case", "new_case", "Start an empty case"),
    ("Open case…", "open_case", "Open a case file: YAML, JSON or a FHIR Bundle (Ctrl+O)"),
    # "Save" is shorter than any query that means Save as, so "save as" can never run Save.
    ("Save", "save_case", "Save the case to its file (Ctrl+S)"),
    ("Save as…", "save_case_as", "Save the case to a new file you choose (F12)"),
    ("Export report…", "export_report", "Write the referral report: Markdown, HTML, PDF (Ctrl+R)"),
    ("Go to section…", "go_to_section", "Jump to a section of the form (Ctrl+G)"),
    ("Find field…", "find_field", "Jump to a field of the form by its label (Ctrl+F)"),
    ("Filter trials…", "filter_trials", "Recruiting only, my disease, target, country (F4)"),
    ("Compare trials…", "compare_trials", "Two or three trials side by side"),
    ("Show trial details", "open_trial", "Full explanation of the selected trial"),
    ("Help", "help", "Keys and how the screen works"),
)


class CaseCommands(Provider):
    async def discover(self) -> Hits:
        for name, action, help_text in ACTIONS:
            yield DiscoveryHit(name, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, action, help_text in ACTIONS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(name),
                    partial(self.app.run_action, action),
                    help=help_text,
                )
