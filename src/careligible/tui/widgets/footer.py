"""The footer, rebuilt only when the keys it shows change."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer

_Shown = tuple[tuple[str, str, str, bool, str], ...]


def shown_keys(screen: Screen[object]) -> _Shown:
    """What the footer would show on ``screen``: each key, its action, label and state."""
    palette = screen.app.COMMAND_PALETTE_BINDING
    return tuple(
        (key, binding.action, binding.description, enabled, tooltip)
        for key, (_node, binding, enabled, tooltip) in screen.active_bindings.items()
        if binding.show or key == palette
    )


class SteadyFooter(Footer):
    """Textual's footer rebuilds itself on every focus change. With a form of a thousand
    widgets each rebuild lays the whole screen out again, which made Tab take a second on a
    busy machine; from field to field the keys shown rarely change, so most rebuilds are moot.
    """

    _last_shown: _Shown | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            shown = shown_keys(screen)
            if shown == self._last_shown:
                return
            self._last_shown = shown
        super().bindings_changed(screen)
