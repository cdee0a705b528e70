"""The referral report as a web page: the Markdown report rendered by markdown-it-py.

Rendering the Markdown (rather than writing a second HTML report by hand) keeps one content for
every format. The parser runs with raw HTML disabled, on text already escaped: nothing from the
case can become markup. The style sheet has print rules, since a referral is often printed or
saved as PDF from a browser: no page break inside a criterion list or a table row, link targets
written out after each link, the disclaimer kept with the page.
"""

from __future__ import annotations

import html

from markdown_it import MarkdownIt

from .content import Referral
from .markdown import render as render_markdown

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60em; margin: 1em auto; padding: 0 1em;
       line-height: 1.4; color: #111; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #999; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #eee; }
blockquote { border-left: 4px solid #999; margin: 0.5em 0; padding: 0.2em 0.8em; }
code { font-size: 0.95em; }
h2 { border-bottom: 1px solid #ccc; margin-top: 1.6em; }
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; }
  a { color: inherit; text-decoration: none; }
  a[href^="http"]::after { content: " <" attr(href) ">"; font-size: 0.9em; }
  h1, h2, h3 { page-break-after: avoid; break-after: avoid; }
  table, ul, blockquote { page-break-inside: avoid; break-inside: avoid; }
  tr { page-break-inside: avoid; break-inside: avoid; }
  th { background: none; }
  @page { margin: 1.5cm; }
}
"""


def _parser() -> MarkdownIt:
    """CommonMark with tables, and with raw HTML off: ``<b>`` in a value stays text."""
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def render(referral: Referral) -> str:
    """A standalone HTML page of the report (no external style sheet, script or font)."""
    body = _parser().render(render_markdown(referral))
    title = html.escape(f"CAR-T trial referral: case {referral.case_id}")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}</body>\n</html>\n"
    )
