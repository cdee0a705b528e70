"""The footer: the keys of the focused area, Help first, rebuilt only when those keys change.

Each area of the screen (the form, the trial table, the trial's detail) declares the keys that
matter there as its own bindings, shown while the focus is inside it; the app's keys that work
everywhere stay hidden there, so the footer never runs out of room. The keys are laid out in a
fixed order, F1 Help first: a narrow terminal clips the right end of the footer, never Help.
"""

from __future__ import annotations

from typing import NamedTuple

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey  # Textual exports no name for a footer's key

#: Actions shown before the focused area's keys (their place never moves) and after them.
FIRST = ("help",)
LAST = ("focus_form", "focus_trials", "quit")


class ShownKey(NamedTuple):
    key: str
    display: str
    action: str
    description: str
    enabled: bool
    tooltip: str


def _rank(action: str) -> int:
    if action in FIRST:
        return FIRST.index(action) - len(FIRST)
    if action in LAST:
        return 1 + LAST.index(action)
    return 0


def shown_keys(screen: Screen[object]) -> tuple[ShownKey, ...]:
    """The keys the footer shows on ``screen``, in their order: one key per action (the first
    bound), Help first, then the focused area's keys, then the moves between areas and Quit."""
    app = screen.app
    palette = app.COMMAND_PALETTE_BINDING
    by_action: dict[str, ShownKey] = {}
    for key, (_node, binding, enabled, tooltip) in screen.active_bindings.items():
        if binding.show and key != palette:
            action = binding.action.removeprefix("app.")
            shown = ShownKey(
                key,
                app.get_key_display(binding),
                binding.action,
                binding.description,
                enabled,
                tooltip,
            )
            by_action.setdefault(action, shown)
    ordered = sorted(by_action.items(), key=lambda item: _rank(item[0]))
    return tuple(shown for _action, shown in ordered)


def palette_key(screen: Screen[object]) -> ShownKey | None:
    """The command palette's key, which the footer docks at its right end."""
    app = screen.app
    active = screen.active_bindings.get(app.COMMAND_PALETTE_BINDING)
    if active is None or not app.ENABLE_COMMAND_PALETTE:
        return None
    _node, binding, enabled, _tooltip = active
    return ShownKey(
        binding.key,
        app.get_key_display(binding),
        binding.action,
        binding.description,
        enabled,
        binding.tooltip or binding.description,
    )


class SteadyFooter(Footer):
    """Textual's footer rebuilds itself on every focus change. With a form of a thousand
    widgets each rebuild lays the whole screen out again, which made Tab take a second on a
    busy machine; from field to field the keys shown rarely change, so most rebuilds are moot.
    """

    _last_shown: tuple[tuple[ShownKey, ...], ShownKey | None] | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            shown = (shown_keys(screen), palette_key(screen))
            if shown == self._last_shown:
                return
            self._last_shown = shown
        super().bindings_changed(screen)

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        for shown in shown_keys(self.screen):
            yield self._key(shown)
        palette = palette_key(self.screen) if self.show_command_palette else None
        if palette is not None:
            yield self._key(palette, "-command-palette")

    def _key(self, shown: ShownKey, classes: str = "") -> FooterKey:
        key = FooterKey(
            shown.key,
            shown.display,
            shown.description,
            shown.action,
            disabled=not shown.enabled,
            tooltip=shown.tooltip,
            classes=classes,
        )
        return key.data_bind(compact=Footer.compact)
