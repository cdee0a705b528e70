"""Keyboard entry in a real terminal: the app runs under a pseudo-terminal at 80x24 and keys
arrive as a typist sends them, with gaps of 0 to 250 ms after each Tab or Shift+Tab.

The Pilot waits for the app to go idle between keys, so it cannot see a key overtaking a focus
change; only keys written to a terminal, as fast as a person types them, can. Each run types a
digit into a run of lab fields going forward, another going back, saves with Ctrl+S and reads the
saved file: every field must hold exactly its own two digits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from careligible.tui import form_model

if not sys.platform.startswith("linux"):
    pytest.skip("needs a Linux pseudo-terminal", allow_module_level=True)

import fcntl
import pty
import struct
import termios

REPO = Path(__file__).resolve().parents[1]
MG_CASE = REPO / "cases" / "myasthenia-gravis.yaml"
COLUMNS, LINES = 80, 24
TAB, SHIFT_TAB, CTRL_S, CTRL_Q = "\t", "\x1b[Z", "\x13", "\x11"
#: A run of numeric fields, typed into: any one or two digits below 20 are valid in each.
FIELDS = tuple(
    f"labs.{name}"
    for name in (
        "egfr",
        "creatinine_mg_dl",
        "upcr_g_g",
        "alt_x_uln",
        "ast_x_uln",
        "bilirubin_x_uln",
        "bilirubin_mg_dl",
        "wbc",
        "neutrophils",
        "lymphocytes",
        "platelets",
        "hemoglobin_g_dl",
        "igg_g_l",
    )
)
GAPS_MS = (0, 50, 100, 150, 200, 250)
START_TIMEOUT = 60.0
SAVE_TIMEOUT = 30.0


class Terminal:
    """The app on a pseudo-terminal: keys go in, and the screen output is drained (the app
    would block on a full terminal) and kept so a test can wait for text to appear."""

    def __init__(self, case_file: Path) -> None:
        self._master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(LINES))
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
        env.pop("TEXTUAL", None)  # no devtools or debug features from the caller's shell
        self.process = subprocess.Popen(
            [sys.executable, "-m", "careligible", "tui", str(case_file)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=case_file.parent,
            start_new_session=True,
        )
        os.close(slave)
        self._output = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # the app has gone and closed the terminal
                return
            if not chunk:
                return
            with self._lock:
                self._output += chunk

    def output(self) -> str:
        with self._lock:
            return self._output.decode("utf-8", "replace")

    def wait_for(self, text: str, timeout: float) -> None:
        """Poll the screen output until ``text`` is drawn."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.process.poll() is None, f"the app ended: {self.output()[-2000:]!r}"
            assert time.monotonic() < deadline, f"{text!r} never appeared on the screen"
            time.sleep(0.05)

    def send(self, keys: str) -> None:
        os.write(self._master, keys.encode())

    def close(self) -> None:
        if self.process.poll() is None:
            self.send(CTRL_Q)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        os.close(self._master)
        self._reader.join(timeout=5)


def tabs_to(case: dict[str, Any], key: str) -> int:
    """How many Tabs from the form's first field reach ``key``: one per field shown for the
    case's disease, in the form's order."""
    disease = str(case.get("disease", ""))
    shown = [f.key for s in form_model.SECTIONS for f in s.fields if f.shown_for(disease)]
    return shown.index(key)


def lab_value(saved: dict[str, Any], key: str) -> str:
    """A saved lab value as the digits typed: ``12`` for 12 or 12.0, "" when absent."""
    value = saved.get("labs", {}).get(key.removeprefix("labs."))
    return "" if value is None else f"{float(value):g}"


@pytest.fixture
def case_file(tmp_path: Path) -> Path:
    """The MG demo case without its labs, in a folder of its own (the app saves into it)."""
    case = yaml.safe_load(MG_CASE.read_text(encoding="utf-8"))
    del case["labs"]
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(case, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def terminal(case_file: Path) -> Iterator[Terminal]:
    term = Terminal(case_file)
    try:
        term.wait_for("rules ", START_TIMEOUT)  # the subtitle: the form is mounted and focused
        yield term
    finally:
        term.close()


def wait_for_save(path: Path, before: str) -> dict[str, Any]:
    deadline = time.monotonic() + SAVE_TIMEOUT
    while (text := path.read_text(encoding="utf-8")) == before:
        assert time.monotonic() < deadline, (
            "the case was not saved: a key landed in a wrong field and made it invalid?"
        )
        time.sleep(0.05)
    saved = yaml.safe_load(text)
    assert isinstance(saved, dict)
    return saved


def test_keys_after_tab_land_in_the_focused_field(terminal: Terminal, case_file: Path) -> None:
    """Forward with Tab typing 1, back with Shift+Tab typing the field's own digit: every gap
    from 0 to 250 ms follows two Tabs and two Shift+Tabs. A key that reached the field just
    left, or replaced the value already there, shows as a wrong value next to its gap."""
    case = yaml.safe_load(case_file.read_text(encoding="utf-8"))
    before = case_file.read_text(encoding="utf-8")
    own = {key: str(n % 9 + 1) for n, key in enumerate(FIELDS)}
    forward = [(TAB, key, "1") for key in FIELDS[1:]]
    back = [(SHIFT_TAB, key, own[key]) for key in reversed(FIELDS[:-1])]
    gaps: dict[str, list[int]] = {key: [] for key in FIELDS}
    terminal.send(TAB * tabs_to(case, FIELDS[0]) + "1")
    for n, (move, key, digit) in enumerate(forward + back):
        if n == len(forward):
            terminal.send(own[FIELDS[-1]])  # the turn: the last field gets both its digits
        gap_ms = GAPS_MS[n % len(GAPS_MS)]
        gaps[key].append(gap_ms)
        terminal.send(move)
        time.sleep(gap_ms / 1000)  # the typist's pause, the input under test; not a wait
        terminal.send(digit)
    terminal.send(CTRL_S)
    saved = wait_for_save(case_file, before)
    landed = {key: lab_value(saved, key) for key in FIELDS}
    wrong = {
        f"{key} after {gaps[key]} ms": landed[key]
        for key in FIELDS
        if landed[key] != "1" + own[key]
    }
    assert wrong == {}, f"expected {[('1' + own[key]) for key in FIELDS]}"
