"""Text from an input made safe for where it is shown: a terminal, a CSV cell, Markdown, a comment.

Ids, file names, drug names and error messages come from case files; any of them may hold
characters that act instead of reading as text: an ESC sequence retitles or clears a terminal,
U+202E reverses what follows, a newline ends a YAML comment and starts a live key, a cell
beginning ``=`` is a spreadsheet formula, ``<script>`` in Markdown is HTML. Each function here
makes such text inert for one kind of reader, visibly (``\\x1b`` is shown, not dropped).
"""

from __future__ import annotations

import re
import unicodedata

#: Unicode categories that act rather than read: controls (Cc: ESC, NUL, newlines), formatting
#: and bidirectional marks (Cf: U+202E, zero-width space), lone surrogates (Cs), private use
#: (Co), line and paragraph separators (Zl, Zp).
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})

#: What starts a spreadsheet formula (or, for tab and CR, hides one) in a CSV cell.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

#: Markdown characters that can start emphasis, links, code, HTML or a table cell inline.
_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|#!~&"})


def is_unsafe(char: str) -> bool:
    return unicodedata.category(char) in UNSAFE_CATEGORIES


def unsafe_character(text: str) -> tuple[int, str] | None:
    """The first unsafe character of ``text`` and its 1-based position, or None."""
    for position, char in enumerate(text, start=1):
        if is_unsafe(char):
            return position, char
    return None


def printable(text: str, keep: str = "") -> str:
    """``text`` for a terminal: every unsafe character but those in ``keep`` shown as an escape."""
    if not any(is_unsafe(char) and char not in keep for char in text):
        return text
    return "".join(_escape(char) if is_unsafe(char) and char not in keep else char for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """``text`` for a single line (a YAML or shell comment): every line break becomes a space,
    so text from an input can never end the comment it is written into."""
    return printable(" ".join(text.split()))


def csv_cell(text: str) -> str:
    """``text`` for a CSV cell a spreadsheet may open: a leading formula character is quoted
    with ``'`` (as spreadsheets do themselves), so the cell is shown, never computed."""
    text = printable(text)
    return "'" + text if text.startswith(FORMULA_START) else text


def markdown_text(text: object) -> str:
    """``text`` for inline Markdown: punctuation that would format, link or open HTML is
    backslash-escaped, line breaks become spaces and unsafe characters are shown as escapes."""
    return one_line(str(text)).translate(_MARKDOWN)


def markdown_code(text: str) -> str:
    """``text`` as an inline Markdown code span, on one line: the fence is one backtick longer
    than any run of backticks inside, so nothing in ``text`` can end the span."""
    text = one_line(text)
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_PLAIN_URL = re.compile(r"https?://[^\s<>|`\\]+")


def markdown_source(text: str) -> str:
    """A source as Markdown: a plain web address as it is (escaping would mangle the link),
    anything else as :func:`markdown_text`."""
    if _PLAIN_URL.fullmatch(text) and unsafe_character(text) is None:
        return text
    return markdown_text(text)
