"""The help screen; its text lives in help.md beside this file."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Markdown

HELP = Path(__file__).with_name("help.md")


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "dismiss(None)", "Close help")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="help"):
            yield Markdown(HELP.read_text(encoding="utf-8"))
        yield Footer()
