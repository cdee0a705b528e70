"""Questions before losing something: unsaved changes (save, discard, cancel), a file replaced,
a therapy removed."""

from __future__ import annotations

from typing import ClassVar, Literal

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

Choice = Literal["save", "discard", "cancel"]


class UnsavedScreen(ModalScreen[Choice]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss('cancel')", "Cancel")]

    def __init__(self, doing: str) -> None:
        super().__init__(classes="modal")
        self.doing = doing

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"The case has unsaved changes. Save before you {self.doing}?")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Discard", id="discard", variant="error")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#save", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        choice: Choice = "save" if event.button.id == "save" else "cancel"
        if event.button.id == "discard":
            choice = "discard"
        self.dismiss(choice)


class ConfirmScreen(ModalScreen[bool]):
    """A question before something that cannot be undone (replacing a file, removing a therapy).

    Dismisses with True only for the named action. The button that changes nothing (*keep*) has
    the focus, so an Enter typed by habit changes nothing.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(False)", "Cancel")]

    def __init__(self, question: str, action: str, keep: str = "Cancel") -> None:
        super().__init__(classes="modal")
        self.question = question
        self.action_label = action
        self.keep_label = keep

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question)
            with Horizontal(classes="buttons"):
                yield Button(self.action_label, id="confirm", variant="error")
                yield Button(self.keep_label, id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")
