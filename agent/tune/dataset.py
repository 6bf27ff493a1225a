"""Training data: verified trajectories in the agent's exact prompt and action format, one example per step.

An example is the messages the agent built for one step (context, `train: false`) and the reply that step
made (`train: true`): loss goes on the reply's tokens only. Generated examples come from the task families
(agent/tune/families/), each trajectory replayed through the real loop, tools and sandbox and kept only when
it verifies (agent/tune/replay.py); the user's own successful runs become examples the same way
(agent/tune/runs.py). Training examples never overlap held-out text (agent/tune/overlap.py).

    {"id": str, "family": str, "split": "train"|"heldout",
     "messages": [{"role": "system"|"user"|"assistant", "content": str, "train": bool}], "meta": {...}}
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.llm.base import ChatMessage
from agent.tune.families import FAMILIES, PlannedTask, draw_task
from agent.tune.families.send_back import send_back_variant
from agent.tune.overlap import HeldOutText, OverlapIndex, default_index
from agent.tune.replay import ModelText, RecordedStep, Rejected, ReplaySettings, Verified, verify

Split = Literal["train", "heldout"]


class TrainingMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str
    train: bool = False


class TrainingExample(BaseModel):
    """One line of a training data file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    family: str = Field(min_length=1)
    split: Split = "train"
    messages: list[TrainingMessage] = Field(min_length=2)
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _trains_on_replies(self) -> TrainingExample:
        trained = [m for m in self.messages if m.train]
        if not trained:
            raise ValueError("no message has train: true (nothing to learn)")
        if any(m.role != "assistant" for m in trained):
            raise ValueError("only assistant messages can have train: true")
        return self


class DatasetError(ValueError):
    """A data file the user must fix; the message names the file and line."""


def default_data_path(seed: int = 0) -> Path:
    """Where `autogpt tune-data` writes the seeded data set unless told otherwise."""
    home = os.environ.get("AUTOGPT_HOME") or os.path.join(Path.home(), ".autogpt")
    return Path(home) / "tune" / f"data-seed{seed}.jsonl"


# -- reading and writing ---------------------------------------------------------------------------------


def load_examples(path: Path, split: Split | None = "train") -> list[TrainingExample]:
    """The examples of a JSONL data file (only `split`'s, unless None); DatasetError when it is not one."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read training data {path}: {exc.strerror or exc}") from None
    examples = [e for e in parse_examples(lines, str(path)) if split is None or e.split == split]
    if not examples:
        raise DatasetError(f"{path}: no {split or ''} examples".replace("  ", " "))
    return examples


def parse_examples(lines: Iterable[str], source: str = "data") -> Iterator[TrainingExample]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield TrainingExample.model_validate_json(line)
        except ValidationError as exc:
            problem = exc.errors(include_url=False)[0]
            place = ".".join(str(p) for p in problem["loc"]) or "line"
            raise DatasetError(f"{source} line {number}: {place}: {problem['msg']}") from None


def write_examples(examples: Iterable[TrainingExample], path: Path) -> int:
    """Write a JSONL data file atomically; returns how many examples it holds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    count = 0
    with partial.open("w", encoding="utf-8") as f:
        for example in examples:
            f.write(example.model_dump_json() + "\n")
            count += 1
    partial.replace(path)
    return count


# -- from a verified trajectory to examples ------------------------------------------------------------------


def examples_of(verified: Verified, family: str, split: Split, text: ModelText,
                meta: dict[str, Any]) -> list[TrainingExample]:
    """The steps the model should learn to write, as few examples as the prompts allow.

    The prompt of a step is the previous step's prompt, its reply and what came back, as long as the history
    was not compacted in between. Such steps share one example that ends at the last of them, every learned
    reply trained: the same loss as one example per step, for far fewer tokens of context (the system prompt
    and the tool list once, not once per step). A reply that was a planned mistake stays as context only."""
    groups: list[list[tuple[int, RecordedStep]]] = []
    for index, step in enumerate(verified.steps, start=1):
        if groups and _continues(groups[-1][-1][1], step):
            groups[-1].append((index, step))
        else:
            groups.append([(index, step)])
    examples = []
    for group in groups:
        learned = [i for i, s in group if s.learn]
        if not learned:
            continue
        while not group[-1][1].learn:  # nothing after the last learned reply is needed
            group.pop()
        last = group[-1][1]
        replies = {len(s.messages): s for _, s in group}
        messages = [TrainingMessage(role=m.role, content=m.content, train=m.role == "assistant" and
                                    i in replies and replies[i].learn and replies[i].reply == m.content)
                    for i, m in enumerate(last.messages)]
        messages.append(TrainingMessage(role="assistant", content=last.reply, train=True))
        train_tokens = sum(len(text.tokenizer.encode(s.reply).ids) + 1 for _, s in group if s.learn)  # + <eot>
        tokens = text.count([*last.messages, ChatMessage("assistant", last.reply)]) + 1
        examples.append(TrainingExample(
            id=f"{verified.task.id}-s{learned[0]}" + (f"-{learned[-1]}" if len(learned) > 1 else ""),
            family=family, split=split, messages=messages,
            meta={**meta, "task": verified.task.id, "step": learned[-1], "learned_steps": learned,
                  "steps": len(verified.steps), "tokens": tokens, "train_tokens": train_tokens}))
    return examples


def _continues(previous: RecordedStep, step: RecordedStep) -> bool:
    """Whether `step`'s prompt is `previous`'s prompt with its reply appended (and more after it)."""
    head = len(previous.messages)
    return (len(step.messages) > head + 1 and tuple(step.messages[:head]) == previous.messages
            and step.messages[head].role == "assistant" and step.messages[head].content == previous.reply)


def _chat(message: TrainingMessage) -> ChatMessage:
    return ChatMessage(message.role, message.content)


def example_overlaps(example: TrainingExample, index: OverlapIndex) -> list[str]:
    """Why `example` may not be trained on: held-out n-grams in its messages, checked values in its reply."""
    text = "\n".join(m.content for m in example.messages if m.role != "system")
    found = [f"{gram!r} ({source})" for gram, source in index.overlaps(text)]
    goal = example.meta.get("goal")
    found += [f"goal {gram!r} ({source})" for gram, source in index.goal_overlaps(goal)] if goal else []
    for message in example.messages:
        if message.train:
            found += [f"states {value} ({source})" for value, source in index.stated_values(message.content)]
    return found


# -- generating the seeded data set ------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationSettings:
    seed: int = 0
    tasks: int = 40  # training tasks per family
    heldout_tasks: int = 4  # held-out tasks per family (held-out wordings and content)
    families: tuple[str, ...] = tuple(FAMILIES)
    name_variety: float = 0.0  # the share of file names drawn from the unusual ones (`Draw.name`)
    send_back_share: float = 0.0  # the share of file-writing tasks also drawn as a sent-back recovery
    function_variety: float = 0.0  # the share of functions drawn from the larger pool (`writing.pick_spec`)
    look_first: float = 0.0  # the share of table tasks that read the file before computing (`Draw.looks_first`)
    replay: ReplaySettings = field(default_factory=ReplaySettings)


@dataclass
class FamilyReport:
    tasks: int = 0
    verified: int = 0
    recoveries: int = 0
    examples: int = 0
    tokens: int = 0
    train_tokens: int = 0
    max_tokens: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason kind -> trajectories

    def add(self, examples: list[TrainingExample], recovery: bool) -> None:
        self.verified += 1
        self.recoveries += recovery
        self.examples += len(examples)
        for example in examples:
            self.tokens += example.meta["tokens"]
            self.train_tokens += example.meta["train_tokens"]
            self.max_tokens = max(self.max_tokens, example.meta["tokens"])


@dataclass
class GenerationReport:
    settings: GenerationSettings
    train: dict[str, FamilyReport] = field(default_factory=dict)
    heldout: dict[str, FamilyReport] = field(default_factory=dict)
    seconds: float = 0.0
    drop_samples: list[str] = field(default_factory=list)  # a few full reasons, to see what went wrong

    def to_json(self) -> dict[str, Any]:
        def part(reports: dict[str, FamilyReport]) -> dict[str, Any]:
            return {name: {**{k: v for k, v in vars(r).items() if k != "dropped"}, "dropped": dict(r.dropped)}
                    for name, r in reports.items()}

        return {"seed": self.settings.seed, "name_variety": self.settings.name_variety,
                "send_back_share": self.settings.send_back_share,
                "function_variety": self.settings.function_variety, "look_first": self.settings.look_first,
                "seconds": round(self.seconds, 1),
                "train": part(self.train),
                "heldout": part(self.heldout), "drop_samples": self.drop_samples}


OnTask = Callable[[PlannedTask, str | None], None]  # a task and why it was dropped (None: kept)


def generate(settings: GenerationSettings, text: ModelText, on_task: OnTask | None = None,
             index: OverlapIndex | None = None) -> tuple[list[TrainingExample], GenerationReport]:
    """The held-out split first (its goals and files join the overlap index), then the training split."""
    started = time.monotonic()
    report = GenerationReport(settings)
    drawn: list[PlannedTask] = []
    heldout = _generate_split(settings, "heldout", text, report, on_task, None, drawn)
    index = index or default_index(held_out_texts(drawn))
    train = _generate_split(settings, "train", text, report, on_task, index, [])
    report.seconds = time.monotonic() - started
    return heldout + train, report


def held_out_texts(tasks: Iterable[PlannedTask]) -> Iterator[HeldOutText]:
    """The goals and files of held-out tasks, for the overlap index."""
    for planned in tasks:
        yield HeldOutText(f"{planned.task.id} goal", planned.task.goal, goal=True)
        for name, content in planned.task.files.items():
            yield HeldOutText(f"{planned.task.id} {name}", content)


def _generate_split(settings: GenerationSettings, split: Split, text: ModelText, report: GenerationReport,
                    on_task: OnTask | None, index: OverlapIndex | None,
                    drawn: list[PlannedTask]) -> list[TrainingExample]:
    out: list[TrainingExample] = []
    seen: set[str] = set()
    count = settings.tasks if split == "train" else settings.heldout_tasks
    for family in settings.families:
        family_report = (report.train if split == "train" else report.heldout).setdefault(family, FamilyReport())
        for i in range(count):
            planned = draw_task(family, split, settings.seed, i, settings.name_variety, settings.function_variety,
                                settings.look_first)
            drawn.append(planned)
            reasons = []
            for task in (planned, *_send_back(planned, settings)):
                family_report.tasks += 1
                examples, reason = _examples_for(task, settings, text, index, seen)
                if reason is None:
                    family_report.add(examples, task.recovery)
                    out.extend(examples)
                else:
                    family_report.dropped[reason.split(":", 1)[0]] += 1
                    if len(report.drop_samples) < 40:
                        report.drop_samples.append(f"{task.task.id}: {reason}"[:400])
                reasons.append(reason)
            if on_task is not None:
                on_task(planned, reasons[0])
    return out


def _send_back(planned: PlannedTask, settings: GenerationSettings) -> list[PlannedTask]:
    """The task's sent-back recovery, for a `send_back_share` of the tasks that write a file."""
    rng = random.Random(planned.task.id + "/send-back")
    if settings.send_back_share <= 0 or rng.random() >= settings.send_back_share:
        return []
    variant = send_back_variant(planned, rng)
    return [variant] if variant is not None else []


def _examples_for(planned: PlannedTask, settings: GenerationSettings, text: ModelText,
                  index: OverlapIndex | None, seen: set[str]) -> tuple[list[TrainingExample], str | None]:
    digest = hashlib.sha256(json.dumps([planned.task.goal, planned.task.files, planned.finish_checks]).encode()
                            ).hexdigest()
    if digest in seen:
        return [], "duplicate: the same goal and files were drawn before"
    seen.add(digest)
    try:
        verified = verify(planned.task, planned.steps, text, settings.replay, planned.finish_checks)
    except Rejected as exc:
        return [], f"unverified: {exc}"
    meta = {"goal": planned.task.goal, "kind": planned.kind, "recovery": planned.recovery, "seed": settings.seed,
            "name_variety": settings.name_variety, "finish_checks": planned.finish_checks,
            "worked_examples": settings.replay.worked_examples, "source": "generated"}
    examples = examples_of(verified, planned.family, planned.split, text, meta)
    for example in examples if index is not None else []:
        if found := example_overlaps(example, index):
            return [], f"overlap: {found[0]}"
    return examples, None
