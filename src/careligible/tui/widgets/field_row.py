"""One labelled form field: a text input or a select, with its validation message beneath."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static

from ..form_model import NO, YES, FormField, widget_id

UNKNOWN = "unknown"


def _options(spec: FormField) -> list[tuple[str, str]]:
    if spec.kind == "bool":
        return [(YES, YES), (NO, NO)]
    return [(c, c) for c in spec.choices]


class FieldRow(Widget):
    """A field of the case form. Posts :class:`FieldRow.Changed` when its text changes."""

    DEFAULT_CSS = """
    FieldRow { height: auto; }
    """

    class Changed(Message):
        def __init__(self, key: str, value: str) -> None:
            super().__init__()
            self.key = key
            self.value = value

    def __init__(
        self,
        spec: FormField,
        value: str = "",
        *,
        key: str | None = None,
        suggestions: list[str] | None = None,
        placeholder: str = "",
        hint_for: Callable[[str], str] | None = None,
    ) -> None:
        self.spec = spec
        self.key = key or spec.key
        super().__init__(id=widget_id(self.key) + "-row", classes="field-row")
        self._initial = value
        self._suggestions = suggestions
        self._placeholder = placeholder
        self._hint_for = hint_for
        self._error = ""

    @property
    def uses_select(self) -> bool:
        return self.spec.kind in ("bool", "enum")

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-line"):
            yield Label(self.spec.label, classes="field-label")
            if self.uses_select:
                options = _options(self.spec)
                if self._initial and self._initial not in dict(options):
                    options.append((self._initial, self._initial))  # keep odd file values
                yield Select(
                    options,
                    prompt=UNKNOWN,
                    allow_blank=True,
                    value=self._initial or Select.NULL,
                    compact=True,
                    id=widget_id(self.key),
                    classes="field-input",
                )
            else:
                suggester = (
                    SuggestFromList(self._suggestions, case_sensitive=False)
                    if self._suggestions
                    else None
                )
                placeholder = self._placeholder or ("unknown" if self.spec.kind != "list" else "")
                yield Input(
                    self._initial,
                    placeholder=placeholder or "unknown (comma-separated; none = empty)",
                    compact=True,
                    suggester=suggester,
                    select_on_focus=False,  # a key typed on arrival adds, never replaces
                    id=widget_id(self.key),
                    classes="field-input",
                )
        if self._hint_for is not None:
            yield Static("", classes="field-hint")
        yield Static("", classes="field-error")

    def on_mount(self) -> None:
        self._show_hint(self._initial)

    @property
    def value(self) -> str:
        if self.uses_select:
            current = self.query_one(Select).value
            return "" if current is Select.NULL else str(current)
        return self.query_one(Input).value

    def set_value(self, text: str) -> None:
        """Set the text without announcing a change (used when loading a case)."""
        with self.prevent(Input.Changed, Select.Changed):
            if self.uses_select:
                select: Select[str] = self.query_one(Select)
                if not text:
                    select.clear()
                else:
                    options = _options(self.spec)
                    if text not in dict(options):
                        options.append((text, text))
                        select.set_options(options)
                    select.value = text
            else:
                field = self.query_one(Input)
                field.value = text
                field.cursor_position = len(text)  # what is typed on arrival adds at the end
        self._show_hint(text)

    def set_error(self, message: str) -> None:
        """Show ``message`` under the field ("" for none). The form sets every row's message
        on each screening; a row whose message is unchanged is left alone, since an update
        lays the whole screen out again."""
        if message == self._error:
            return
        self._error = message
        self.query_one(".field-error", Static).update(message)
        self.set_class(bool(message), "-invalid")

    def _show_hint(self, text: str) -> None:
        """Warn about the text as typed; unlike an error, a hint leaves the case screenable."""
        if self._hint_for is None:
            return
        hint = self._hint_for(text)
        self.query_one(".field-hint", Static).update(hint)
        self.set_class(bool(hint), "-hinted")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._show_hint(event.value)
        self.post_message(self.Changed(self.key, event.value))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        value = "" if event.value is Select.NULL else str(event.value)
        self.post_message(self.Changed(self.key, value))
