"""Steering a decode away from replies that must not come back (a call that just failed, unchanged).

Told that a call failed and must change, a small model often writes it again character for character,
even when sampling, and the loop can only reject it after the whole decode. The backend scores each
avoided reply once (one forward pass over its tokens, the grammar applied) and finds where the model was
least sure of it: the place it had a real alternative. While the output is still a prefix of the reply,
the character there may not come back: every token that would write the same text through it is
blocked (blocking one token is not enough: the same text has other spellings in tokens). Only tokens
holding a letter or digit are candidates (a JSON quote or brace is not a change); a place the grammar
forces is skipped for the next least likely one. A reply the model is sure of throughout can still come
back, and the loop's own check catches it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

UNSURE = 0.9  # a token at least this likely is not a place the model had an alternative
TARGETS = 4  # places per reply to try, least likely first


class TokenTexts:
    """Token ids by the text each decodes to alone, sorted so that all tokens starting with a text are found
    with two binary searches."""

    def __init__(self, texts: list[str]) -> None:
        pairs = sorted((text, i) for i, text in enumerate(texts) if text and "\ufffd" not in text)
        self._texts = [t for t, _ in pairs]
        self._ids = [i for _, i in pairs]

    def starting_with(self, prefix: str) -> list[int]:
        lo = bisect.bisect_left(self._texts, prefix)
        hi = bisect.bisect_left(self._texts, prefix + "\U0010ffff")
        return self._ids[lo:hi]


@dataclass
class _Reply:
    text: str
    targets: list[int]  # character offsets, least likely first
    skipped: set[int] = field(default_factory=set)  # targets the grammar forced


class AvoidedReplies:
    def __init__(self, replies: list[tuple[str, list[int]]], tokens: TokenTexts) -> None:
        """`replies`: (text, character offsets where the model was least sure of it, least likely first)."""
        self._replies = [_Reply(text, targets) for text, targets in replies if targets]
        self._tokens = tokens

    def __bool__(self) -> bool:
        return bool(self._replies)

    def apply(self, logits: Any, out_text: str) -> None:
        """Block, in `logits` (1 x vocab, grammar mask applied), every token that would go on repeating."""
        import torch

        row, at = logits[0], len(out_text)
        self._replies = [r for r in self._replies if r.text.startswith(out_text)]  # once left, done with
        for reply in self._replies:
            for target in reply.targets:
                if target < at or target in reply.skipped:
                    continue
                blocked = torch.tensor(self._tokens.starting_with(reply.text[at:target + 1]), dtype=torch.long)
                allowed = torch.isfinite(row)
                if len(blocked) and int(allowed[blocked].sum()) == int(allowed.sum()):
                    reply.skipped.add(target)  # the grammar allows nothing else here
                    continue
                row[blocked] = float("-inf")
                break


def steering_targets(text: str, offsets: list[int], token_texts: list[str], probs: list[float]) -> list[int]:
    """Character offsets of the tokens worth changing, least likely first: a letter or digit in them, and
    either the least likely such token or one below `UNSURE`."""
    candidates = sorted((p, offsets[i]) for i, p in enumerate(probs)
                        if any(ch.isalnum() for ch in token_texts[i]) and offsets[i] < len(text))
    return [offset for rank, (p, offset) in enumerate(candidates) if rank == 0 or p < UNSURE][:TARGETS]


def token_probabilities(rows: Any, ids: list[int]) -> list[float]:
    """P(ids[i] | the tokens before it) from one row of logits per token."""
    import torch

    if not ids:
        return []
    probs = torch.softmax(rows[: len(ids)].float(), dim=-1)
    return probs[torch.arange(len(ids)), torch.tensor(ids)].tolist()
