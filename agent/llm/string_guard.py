"""A guard for small models writing text inside JSON strings.

Inside a string value (an answer, a file path, code in the JSON action format), a small model often picks
a merged token such as `)}}` when it means `)"}}`, the end of the string and the object: the grammar must
accept it (braces are legal in a string) and the model then rambles on inside a string it believes closed.
While decoding is inside a string, merged tokens that hold a closing brace but no quote are blocked.
Nothing becomes unwritable: the same characters remain available as single-character tokens.

The guard follows the JSON only up to the end of its top-level value: in the raw action format the code
that follows in a fenced block is not JSON (its quotes open no string), so nothing is blocked there.
"""

from __future__ import annotations

from typing import Any

from agent.llm.chat_tokenizer import ChatTokenizer


class StringGuard:
    def __init__(self, token_texts: dict[int, str]) -> None:
        """`token_texts` maps token ids to their text decoded alone (tokens without a "}" may be left out)."""
        import torch

        blocked = sorted(i for i, text in token_texts.items() if _merged_closer(text))
        self._blocked = torch.tensor(blocked, dtype=torch.long)
        self.in_string = False
        self._escaped = False
        self._depth = 0  # open objects and arrays, outside strings
        self._ended = False  # the top-level JSON value closed: what follows is not JSON

    @classmethod
    def for_tokenizer(cls, tokenizer: ChatTokenizer, vocab_size: int) -> StringGuard:
        # Only tokens whose vocabulary entry holds a "}" are decoded (58 of 49,152 for the default model):
        # byte-level and sentencepiece vocabularies both spell "}" as itself.
        ids = [i for token, i in tokenizer.vocabulary().items() if "}" in token and i < vocab_size]
        return cls(dict(zip(ids, tokenizer.token_texts(ids), strict=True)))

    def reset(self) -> None:
        self.in_string, self._escaped, self._depth, self._ended = False, False, 0, False

    def feed(self, text: str) -> None:
        """Advance the in-string state over newly generated text."""
        for ch in text:
            if self._ended:
                return
            if not self.in_string:
                self.in_string = ch == '"'
                self._depth += (ch in "{[") - (ch in "}]")
                self._ended = ch in "}]" and self._depth <= 0
            elif self._escaped:
                self._escaped = False
            elif ch == "\\":
                self._escaped = True
            elif ch == '"':
                self.in_string = False

    def apply(self, logits: Any) -> None:
        if self.in_string and not self._ended and len(self._blocked):
            logits[0, self._blocked.to(logits.device)] = float("-inf")


def _merged_closer(text: str) -> bool:
    return len(text) > 1 and "}" in text and '"' not in text
