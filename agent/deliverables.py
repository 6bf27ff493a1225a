"""Files a goal asks the run to write, and which of them are still missing when the model calls finish.

The default 135M model often calls finish with a description of a file instead of writing it ("mymath.py
has gcd(a, b)"), and the run ends as `done` with nothing written. A file counts as asked for when the goal
names it (a common extension) after a verb of writing in the same sentence, and it was not in the
workspace when the run started: "Write fizz.py ...", "... and save the labels to labels.csv". A file the
goal only reads, or names before the verb ("Read notes.txt and write ..."), is not asked for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

WRITE_VERB = re.compile(r"\b(?:write|save|create|store|convert|copy|concatenate|merge|export|generate|produce|"
                        r"output|put|make|build)\b", re.IGNORECASE)
FILE_NAME = re.compile(r"(?<![\w./\\-])((?:[\w-]+/)*[\w-]+\.(?:py|txt|csv|tsv|jsonl|json|md|log|ini|cfg|toml|"
                       r"yaml|yml|html|xml|sql|sh|js|ts))(?![\w/-])", re.IGNORECASE)
SENTENCE_END = re.compile(r"(?<=[.;!?])\s+")


def requested_files(goal: str, files_at_start: Iterable[str]) -> tuple[str, ...]:
    """The files `goal` asks to be written that did not exist when the run started, in goal order."""
    present = set(files_at_start)
    found: list[str] = []
    for sentence in SENTENCE_END.split(goal):
        verb = WRITE_VERB.search(sentence)
        if verb is None:
            continue
        for match in FILE_NAME.finditer(sentence, verb.end()):
            name = match.group(1)
            if name not in present and name not in found:
                found.append(name)
    return tuple(found)


def missing_files(requested: Iterable[str], workspace: Path) -> list[str]:
    return [name for name in requested if not (workspace / name).is_file()]
