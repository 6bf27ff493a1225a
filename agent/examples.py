"""Which worked examples (prompts/examples.json) a goal is shown: the ones whose words it shares most.

A small model copies the shape of the examples it sees, so a goal about a CSV file gets the CSV example,
a goal about reviews the sentiment example. The choice depends on the goal only, so it is stable for a run.
"""

from __future__ import annotations

import re
from typing import Any

SHOWN = 2
TAG_WEIGHT = 2
_WORD = re.compile(r"[a-z]+|\.\.")
_STOP = frozenset("a an and are as at be by do does file for from give how i in is it its me my of on or "
                  "so than that the their them then there these this to use using what with".split())


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def select_examples(goal: str, library: list[dict[str, Any]], shown: int = SHOWN) -> list[dict[str, Any]]:
    """The `shown` best-matching examples, the best one last (nearest the goal); ties keep library order."""
    goal_words = words(goal)

    def score(example: dict[str, Any]) -> int:
        tags = {t.lower() for t in example.get("tags", ())}
        return len(goal_words & words(example["goal"])) + TAG_WEIGHT * len(goal_words & tags)

    ranked = sorted(range(len(library)), key=lambda i: (-score(library[i]), i))[:shown]
    return [library[i] for i in reversed(ranked)]
