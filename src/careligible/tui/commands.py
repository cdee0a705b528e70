"""Command-palette entries for the main actions."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("New case", "new_case", "Start an empty case"),
    ("Open case…", "open_case", "Open a YAML case file"),
    ("Save case", "save_case", "Save the case as YAML"),
    ("Save case as…", "save_case_as", "Save the case to another file"),
    ("Export report…", "export_report", "Write the report as Markdown and HTML"),
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
