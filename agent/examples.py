"""Which worked examples (prompts/examples.json) a goal is shown: the ones whose words it shares most.

A small model copies the shape of the examples it sees, so a goal about a CSV file gets the CSV example,
a goal about reviews the sentiment example. It copies file names too: where the goal names as many files of
a kind (extension, test or not) as the example does, the example is shown with the goal's names instead.
The choice depends on the goal (and the tool set) only, so it is stable for a run.

The examples show the built-in tools only. A tool added to them (MCP, JSON-schema, LangChain) whose name and
description share more words with the goal than an example does beats that example: shown, the example
pulls a small model to the built-in tools (measured with the default model: a weather question next to a
get_weather tool went to run_python with the arithmetic examples shown, to get_weather without them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

SHOWN = 2
TAG_WEIGHT = 2
_FILE = re.compile(r"(?<![\w./-])[\w-]+(?:/[\w-]+)*\.([A-Za-z]{1,5})\b")
_WORD = re.compile(r"[a-z]+|\.\.")
_STOP = frozenset("a an and are as at be by do does file for from give how i in is it its me my of on or "
                  "so than that the their them then there these this to use using what with".split())


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def select_examples(goal: str, library: list[dict[str, Any]], shown: int = SHOWN,
                    added_tools: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The `shown` best-matching examples, the best one last (nearest the goal); ties keep library order.
    `added_tools`: the name and description of each tool beyond the built-in ones; an example that matches
    the goal no better than one of them is left out."""
    goal_words = words(goal)

    def score(example: dict[str, Any]) -> int:
        tags = {t.lower() for t in example.get("tags", ())}
        return len(goal_words & words(example["goal"])) + TAG_WEIGHT * len(goal_words & tags)

    rival = max((len(goal_words & words(text.replace("_", " "))) for text in added_tools), default=0)
    ranked = sorted((i for i in range(len(library)) if rival == 0 or score(library[i]) > rival),
                    key=lambda i: (-score(library[i]), i))[:shown]
    return [with_goal_files(library[i], goal) for i in reversed(ranked)]


def file_names(text: str) -> dict[tuple[str, bool], list[str]]:
    """File names in `text` by kind: (lower-cased extension, whether it is a test file), in order."""
    found: dict[tuple[str, bool], list[str]] = {}
    for match in _FILE.finditer(text):
        kind = (match.group(1).lower(), match.group(0).rsplit("/", 1)[-1].startswith("test_"))
        names = found.setdefault(kind, [])
        if match.group(0) not in names:
            names.append(match.group(0))
    return found


def with_goal_files(example: dict[str, Any], goal: str) -> dict[str, Any]:
    """`example` with its file names replaced by the goal's, kind by kind, where both name as many files of
    that kind (matched in the order they appear)."""
    goal_files = file_names(goal)
    renames = {}
    for kind, names in file_names(example["goal"]).items():
        theirs = goal_files.get(kind, [])
        if len(names) != len(theirs):
            continue
        for mine, goal_name in zip(names, theirs, strict=True):  # in the order the goals name them
            if mine != goal_name:
                renames[mine] = goal_name
                if kind[0] == "py":  # the module is imported by its stem
                    renames[mine[:-3].rsplit("/", 1)[-1]] = goal_name[:-3].rsplit("/", 1)[-1]
    if not renames:
        return example
    pattern = re.compile(r"(?<![\w./-])(" + "|".join(map(re.escape, renames)) + r")(?![\w-])")
    text = pattern.sub(lambda m: renames[m.group(1)], json.dumps(example, ensure_ascii=False))
    return json.loads(text)
