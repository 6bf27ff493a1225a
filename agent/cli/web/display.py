"""Text made safe to show on the page: HTML-escaped, control characters shown as visible escapes, code
highlighted with Pygments. Everything the page puts in as HTML comes from here; the rest it sets as text.

Control characters matter because tool output is written by model code: an escape sequence, a carriage
return or a right-to-left override could otherwise hide or disguise what ran. Each one is shown as a
small `\\x1b` / `\\u202e` marker instead.
"""

from __future__ import annotations

import html
import re
from functools import cache

# C0 controls except tab and newline, DEL, C1 controls, and the invisible characters that reorder or hide
# text (bidi embeddings, overrides and isolates, zero-width characters, line/paragraph separators, BOM).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
MAX_HIGHLIGHT_CHARS = 100_000  # beyond this, text is shown plain (highlighting is for reading, not logs)
LEXERS = {"python": "python", "bash": "bash", "diff": "diff", "json": "json", "text": "text"}


def control_escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def neutralise_html(markup: str) -> str:
    """Mark every control character in already-escaped HTML; escaped HTML holds them only as text."""
    return _CONTROL.sub(lambda m: f'<span class="ctl" title="control character">{control_escape(m.group())}'
                                  "</span>", markup.replace("\r\n", "\n"))


def text_html(text: str) -> str:
    """Plain text as HTML: escaped, with control characters made visible."""
    return neutralise_html(html.escape(text, quote=True))


def code_html(code: str, syntax: str = "text", filename: str | None = None) -> str:
    """Highlighted code as HTML spans (classes from `code_css()`), control characters made visible.

    `syntax` is a Pygments lexer name; with `filename` the lexer is picked from the file's name instead.
    """
    if len(code) > MAX_HIGHLIGHT_CHARS:
        return text_html(code)
    from pygments import highlight

    markup = highlight(code, _lexer(syntax, filename), _formatter())
    if markup.endswith("\n") and not code.endswith("\n"):  # the formatter ends every last line
        markup = markup[:-1]
    return neutralise_html(markup)


def code_css() -> str:
    """The stylesheet for `code_html` spans, scoped to `.code`."""
    return _formatter().get_style_defs(".code") + "\n"


@cache
def _formatter():
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(nowrap=True, style="default")


def _lexer(syntax: str, filename: str | None):
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
    from pygments.util import ClassNotFound

    options = {"stripnl": False, "ensurenl": False}
    if filename:
        try:
            return get_lexer_for_filename(filename, **options)
        except ClassNotFound:
            pass
    return get_lexer_by_name(LEXERS.get(syntax, "text"), **options)
