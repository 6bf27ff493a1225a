"""A recovery that any task writing a file can teach: the file written under another name, finish sent back
because the file the goal asks for is missing (`--finish-checks`), then the planned steps.

The default model's commonest way to fail a file task is to write a name of its own (`count.py` for
`counting.py`, `sentiment.csv` for `labels.csv`) and finish. The loop can send such a finish back with the
name of the missing file; this variant of a task shows the model what to do then. The wrong call and the
finish that was sent back are context, never training targets.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from agent.deliverables import requested_files
from agent.tune.families import PlannedTask
from agent.tune.families.base import Step

WRONG_STEMS = ("output", "result", "out", "new", "data", "file", "answer", "results", "final", "temp")
EXTRA_STEPS = 2  # the wrong call and the finish that is sent back


def send_back_variant(planned: PlannedTask, rng: random.Random) -> PlannedTask | None:
    """The task with a wrong-name call and a sent-back finish before the step that first writes the goal's
    file; None when the goal asks for no file or no planned step names it."""
    wanted = requested_files(planned.task.goal, planned.task.files)
    if not wanted:
        return None
    target = wanted[0]
    first = next((i for i, step in enumerate(planned.steps)
                  if isinstance(step, Step) and step.tool != "finish" and _names(step.args, target)), None)
    if first is None:
        return None
    step = planned.steps[first]
    assert isinstance(step, Step)
    wrong = wrong_name(target, rng, taken=set(planned.task.files) | set(wanted))
    misstep = Step(step.tool, _renamed(step.args, target, wrong), ok=True, learn=False)
    sent_back = Step("finish", {"answer": f"Wrote {target}."}, ok=False, learn=False)
    steps = planned.steps[:first] + (misstep, sent_back) + planned.steps[first:]
    task = planned.task.model_copy(update={"id": planned.task.id + "-sent-back",
                                           "max_steps": planned.task.max_steps + EXTRA_STEPS})
    return dataclasses.replace(planned, task=task, steps=steps, recovery=True, finish_checks=1)


def wrong_name(target: str, rng: random.Random, taken: set[str]) -> str:
    """Another name in the same folder with the same extension: a generic stem, or the target's last part
    (`my_notes.txt` -> `notes.txt`)."""
    folder, _, base = target.rpartition("/")
    stem, _, extension = base.rpartition(".")
    stems = list(WRONG_STEMS) + ([stem.split("_")[-1]] if "_" in stem else [])
    rng.shuffle(stems)
    for candidate in stems:
        name = (folder + "/" if folder else "") + candidate + "." + extension
        if candidate != stem and name not in taken:
            return name
    raise ValueError(f"no other name for {target}")


def _names(args: dict[str, Any], target: str) -> bool:
    return any(isinstance(value, str) and target in value for value in args.values())


def _renamed(args: dict[str, Any], target: str, wrong: str) -> dict[str, Any]:
    return {key: value.replace(target, wrong) if isinstance(value, str) else value for key, value in args.items()}
