"""Text from the model or a tool, made safe to print: no control character reaches the user's terminal.

Code in the sandbox writes what it likes to its output, and the model writes what it likes into its
arguments; both end up on the user's screen. An escape sequence there can clear the screen, move the
cursor up and overwrite the line the user is asked to approve, set the window title, or on some terminals
type into the shell. So every C0 control character but newline and tab, DEL, every C1 control (U+0080 to
U+009F, which some terminals take as ESC [ and the like), and the Unicode direction overrides that reorder
what a line appears to say, are shown as visible escapes instead (`\\x1b`, `\\x9b`, `\\u202e`). A carriage
return is kept only as part of a CRLF line ending.

`safe_json` is the same for machine-readable output: JSON escapes for every such character (json.dumps only
escapes C0 by itself), all other text kept as it is.
"""

from __future__ import annotations

import json
import re
from typing import Any

_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")
_UNSAFE_IN_JSON = re.compile(f"[\x7f-\x9f{_BIDI}]")  # json.dumps escapes the rest itself


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every control character (but newline and tab) shown as a visible escape."""
    return _UNSAFE.sub(_visible, text.replace("\r\n", "\n"))


def safe_json(value: Any, *, ensure_ascii: bool = True, **options: Any) -> str:
    """json.dumps(value) with DEL, C1 controls and direction overrides escaped too (as \\u0085 and so on),
    also where `ensure_ascii=False` keeps the rest of the text readable."""
    text = json.dumps(value, ensure_ascii=ensure_ascii, **options)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
