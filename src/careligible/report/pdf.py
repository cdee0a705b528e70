"""The referral report as PDF, drawn by fpdf2 from the same HTML as the web page.

fpdf2 is an optional dependency (the ``pdf`` extra): it is imported only here, when a PDF is
asked for, and :class:`PdfUnavailable` says how to install it otherwise.

The PDF uses the standard Helvetica font, which every PDF reader has, so no font file has to be
shipped or found; that font holds Latin-1 only. Characters outside it are written as their
nearest plain form (``≥`` as ``>=``, an accented letter outside Latin-1 without its accent) or,
failing that, as ``?``; the Markdown and HTML reports keep every character.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, time
from typing import Any

from .content import Referral
from .html import render as render_html

#: Characters outside Latin-1 that the reports use, and how the PDF spells them.
PLAIN = str.maketrans(
    {
        "≥": ">=",
        "≤": "<=",
        "≠": "!=",
        "\u2013": "-",
        "\u2014": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "…": "...",
        "•": "-",
        "✓": "yes",
        "✗": "no",
        "\u00d7": "x",
        "μ": "u",
    }
)


class PdfUnavailable(RuntimeError):
    """fpdf2 is not installed."""


def latin1(text: str) -> str:
    """``text`` in the characters Helvetica holds (see the module docstring)."""
    text = text.translate(PLAIN)
    out = []
    for char in text:
        if ord(char) < 256:
            out.append(char)
            continue
        plain = unicodedata.normalize("NFKD", char).encode("latin-1", "ignore").decode("latin-1")
        out.append(plain or "?")
    return "".join(out)


def pdf(referral: Referral) -> bytes:
    """The report as PDF bytes. Its creation date is the report's date, so the same report
    gives the same file."""
    try:
        from fpdf import FPDF
    except ImportError:
        raise PdfUnavailable("PDF output needs fpdf2: pip install 'careligible[pdf]'") from None
    document: Any = FPDF(format="A4")
    document.set_creation_date(datetime.combine(referral.on, time(), tzinfo=UTC))
    document.set_title(latin1(f"CAR-T trial referral: case {referral.case_id}"))
    document.set_creator("careligible")
    document.set_font("Helvetica", size=9)
    document.set_auto_page_break(auto=True, margin=15)
    document.add_page()
    document.write_html(latin1(_body(render_html(referral))))
    return bytes(document.output())


def _body(page: str) -> str:
    """What fpdf2 draws: the page's body, without the style sheet it does not read."""
    start = page.index("<body>") + len("<body>")
    return page[start : page.rindex("</body>")]
