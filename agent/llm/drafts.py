"""Draft tokens for speculative greedy decoding, looked up in the text so far (prompt lookup decoding).

An agent's output copies a lot from its prompt: tool names, file names, numbers from observations,
phrases of the goal, code it saw. When the last few tokens occurred earlier, the tokens that followed
them then are a cheap guess for what follows now. The decode loop feeds the guess with the next token in
one forward pass and keeps the guessed tokens only as far as greedy decoding picks the same ones, so the
output is what plain greedy decoding gives.

A pass over T tokens is not free on a CPU (measured on 2 cores: T=2 costs 1.5x a one-token pass, T=4
2.5x, T=7 3.2x), so the guess grows while guesses are confirmed and shrinks when they miss. Measured
side by side: agent steps decoded 9% and 41% faster; free prose, where guesses rarely hold, unchanged.
"""

from __future__ import annotations

MATCH = 3  # tokens that must repeat before a guess is made (2 guesses more often and misses more often)
FIRST, MOST = 2, 6  # draft length at the start of a generation, and its ceiling


class PromptLookup:
    """Indexes every MATCH-token run of the context by where its latest earlier occurrence continued."""

    def __init__(self, ids: list[int]) -> None:
        self._ids: list[int] = []
        self._after: dict[tuple[int, ...], int] = {}
        self.length = FIRST
        self.extend(ids)

    def __len__(self) -> int:
        return len(self._ids)

    def extend(self, ids: list[int]) -> None:
        for token in ids:
            if len(self._ids) >= MATCH:
                self._after[tuple(self._ids[-MATCH:])] = len(self._ids)  # that run continued here
            self._ids.append(token)

    def propose(self, limit: int) -> list[int]:
        """Up to `limit` tokens that followed the last occurrence of the context's final MATCH tokens."""
        limit = min(limit, self.length)
        if limit <= 0 or len(self._ids) < MATCH:
            return []
        at = self._after.get(tuple(self._ids[-MATCH:]))
        return [] if at is None else self._ids[at:at + limit]

    def judge(self, drafted: int, confirmed: int) -> None:
        """Longer guesses after a fully confirmed one; shorter after a partial one; one token after a miss."""
        if confirmed == drafted:
            self.length = min(MOST, self.length + 1)
        else:
            self.length = max(1, self.length - 1) if confirmed else 1
