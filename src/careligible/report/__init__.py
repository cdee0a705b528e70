"""The referral report: one case's screening written for a colleague who must act on it.

:func:`build` gathers what the report says (:mod:`.content`); :func:`markdown`, :func:`html` and
:func:`pdf` lay it out. Markdown is the source of the other two, so every format says the same.
PDF needs the optional ``fpdf2`` library (the ``pdf`` extra); :func:`pdf` says so when it is
missing.
"""

from __future__ import annotations

from .content import CompareError, Comparison, Referral, build, comparison
from .html import render as html
from .markdown import render as markdown
from .names import ReportNames, stem_for
from .pdf import PdfUnavailable, pdf

FORMATS = ("md", "html", "pdf")


def render(referral: Referral, fmt: str) -> bytes:
    """The report in format ``fmt`` (one of :data:`FORMATS`) as the bytes of its file."""
    if fmt == "pdf":
        return pdf(referral)
    text = markdown(referral) if fmt == "md" else html(referral)
    return text.encode("utf-8")


__all__ = [
    "FORMATS",
    "CompareError",
    "Comparison",
    "PdfUnavailable",
    "Referral",
    "ReportNames",
    "build",
    "comparison",
    "html",
    "markdown",
    "pdf",
    "render",
    "stem_for",
]
