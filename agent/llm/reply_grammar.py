"""The shapes a reply may take when it is more than JSON: a JSON object, then optionally one fenced block.

A form is a JSON schema for the object and, for a form with a body, the info string of the fenced block
that follows it:

    {"tool": "run_python"}
    ```python
    print("any text: quotes, \\ backslashes, tabs, unicode")
    ```

The block opens on the line after the object with a fence of three or more backticks and the info string,
and closes at the first line that starts with that many backticks; nothing inside it is escaped. The writer
(`fenced`) picks a fence longer than any run of backticks that starts a line of the body, so every text has
a form that reads back unchanged; under the grammar a model may open with three to six.

This module is pure (no model, no xgrammar): the loop's parser and the backends both use it; the grammar
itself is compiled in agent/llm/grammar.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MIN_FENCE = 3
GRAMMAR_FENCES = (3, 4, 5, 6)  # fence lengths a model may open with under the grammar


@dataclass(frozen=True)
class ReplyForm:
    """One shape of reply: a JSON object matching `schema`, then a fenced block when `body_language` is
    not None (its info string: "python", or "" for none)."""

    schema: dict[str, Any]
    body_language: str | None = None


@dataclass(frozen=True)
class ReplyGrammar:
    """The replies allowed for one decode: any one of `forms`."""

    forms: tuple[ReplyForm, ...]

    def key(self) -> str:
        """A stable text for caching the compiled grammar (key order is field order: never sort)."""
        return json.dumps([[f.schema, f.body_language] for f in self.forms])


@dataclass(frozen=True)
class SplitReply:
    header: Any  # the decoded JSON value
    body: str | None  # the fenced block's text, None when the reply has none
    language: str = ""


class ReplySyntaxError(ValueError):
    """The text is not a JSON object optionally followed by one closed fenced block; says where it breaks."""


def split_reply(text: str) -> SplitReply:
    """The JSON header and the fenced body of a reply (whitespace around both is allowed)."""
    stripped = text.lstrip()
    try:
        header, end = json.JSONDecoder().raw_decode(stripped)
    except json.JSONDecodeError as exc:
        raise ReplySyntaxError(f"the reply was not complete JSON ({exc.msg})") from None
    rest = stripped[end:]
    if not rest.strip():
        return SplitReply(header, None)
    opening = rest.lstrip(" \t\r\n")
    fence_length = len(opening) - len(opening.lstrip("`"))
    if fence_length < MIN_FENCE:
        raise ReplySyntaxError(f"after the JSON came {opening[:30]!r}, not a ``` code block")
    first_line, newline, body_and_close = opening.partition("\n")
    if not newline:
        raise ReplySyntaxError("the code block has no line after its opening ```")
    language = first_line[fence_length:].strip()
    fence = "`" * fence_length
    lines = body_and_close.split("\n")
    for index, line in enumerate(lines):
        if line.startswith(fence):
            if line.rstrip() != fence or any(later.strip() for later in lines[index + 1:]):
                raise ReplySyntaxError("there was text after the code block's closing ```")
            return SplitReply(header, "\n".join(lines[:index]), language)
    raise ReplySyntaxError("the code block was not closed with ``` (the reply may have been cut short)")


def fenced(body: str, language: str) -> str:
    """`body` as a fenced block, on the line after a header: the inverse of `split_reply`'s body."""
    longest = max((len(line) - len(line.lstrip("`")) for line in body.split("\n")), default=0)
    fence = "`" * max(MIN_FENCE, longest + 1)
    return f"\n{fence}{language}\n{body}\n{fence}"
