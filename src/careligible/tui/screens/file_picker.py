"""Choose a file to open or a place to save: a directory tree beside a path field.

The tree is for finding a file by browsing; the field is for typing (it takes a name relative to
the folder chosen in the tree, or any path). Selecting a file in the tree opens it, or, when
saving, puts it in the field, so nothing is written on a single key press in the tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input, Label


class FilePicker(ModalScreen[Path | None]):
    """Dismisses with the path chosen, or None on Escape.

    ``must_exist`` (opening) refuses a path that is not a file, with the reason under the field.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    DEFAULT_CSS = """
    FilePicker .dialog { width: 90; height: 80%; }
    FilePicker DirectoryTree { height: 1fr; border: round $primary-darken-2; }
    FilePicker #picker-error { color: $error; height: auto; }
    """

    def __init__(
        self, title: str, directory: Path, name: str = "", must_exist: bool = False
    ) -> None:
        super().__init__(classes="modal")
        self.title_text = title
        self.directory = directory if directory.is_dir() else Path.cwd()
        self.initial = name
        self.must_exist = must_exist

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text)
            yield DirectoryTree(self.directory, id="picker-tree")
            yield Label(f"Folder: {self.directory}", id="picker-folder", classes="hint")
            yield Input(self.initial, placeholder="file name or path", id="path")
            yield Label("", id="picker-error")
            yield Label(
                "Enter confirms · Tab moves between the tree and the name · Escape cancels",
                classes="hint",
            )

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    def on_directory_tree_directory_selected(self, event: DirectoryTree.DirectorySelected) -> None:
        event.stop()
        self.directory = event.path
        self.query_one("#picker-folder", Label).update(f"Folder: {event.path}")

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        if self.must_exist:
            self.dismiss(event.path)
            return
        self.directory = event.path.parent
        self.query_one("#picker-folder", Label).update(f"Folder: {self.directory}")
        field = self.query_one("#path", Input)
        field.value = event.path.name
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self._refuse("Type a file name, or choose one in the tree.")
            return
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = self.directory / path
        if self.must_exist and not path.is_file():
            self._refuse(f"No such file: {path}")
            return
        if not self.must_exist and path.is_dir():
            self._refuse(f"{path} is a folder; type a file name.")
            return
        self.dismiss(path)

    def _refuse(self, message: str) -> None:
        self.query_one("#picker-error", Label).update(message)
