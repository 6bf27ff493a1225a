"""The task families, and how one seeded task of a family is drawn.

Each family is a set of kinds (a function from a `Draw` to a `Plan`); a task picks one kind, then the kind
draws its wording and content. The same seed, family, split and index always give the same task.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from agent.bench import SuiteTask
from agent.tune.families import compute, files, fixing, multi, nlp, questions, safety, tables, writing
from agent.tune.families.base import Draw, Plan, Split, StepPlan

FAMILIES: dict[str, dict[str, Callable[[Draw], Plan]]] = {
    "compute": compute.KINDS,
    "read_answer": files.READ_KINDS,
    "count_search": files.SEARCH_KINDS,
    "csv_json": tables.KINDS,
    "table_questions": questions.KINDS,
    "write_file": writing.WRITE_KINDS,
    "write_function": writing.FUNCTION_KINDS,
    "fix_code": fixing.KINDS,
    "convert": writing.CONVERT_KINDS,
    "nlp": nlp.KINDS,
    "multi_step": multi.KINDS,
    "refuse": safety.REFUSE_KINDS,
    "injection": safety.INJECTION_KINDS,
}


@dataclass(frozen=True)
class PlannedTask:
    family: str
    kind: str
    split: Split
    task: SuiteTask  # what the bench would run: id, goal, files, check, max_steps
    steps: tuple[StepPlan, ...]
    recovery: bool
    finish_checks: int = 0  # as `--finish-checks`: how often the replayed loop sends finish back


def draw_task(family: str, split: Split, seed: int, index: int, name_variety: float = 0.0,
              function_variety: float = 0.0, look_first: float = 0.0) -> PlannedTask:
    """Task `index` of `family` for `split` under `seed`; `name_variety`: the share of its file names that
    are unusual ones (`Draw.name`), `function_variety`: the share of its functions to write or repair that
    come from the larger pool (`writing.pick_spec`), `look_first`: the share of table tasks that read their file
    before computing on it (`Draw.looks_first`). At 0 a task is what it was before these existed."""
    kinds = FAMILIES[family]
    key = f"{seed}/{family}/{split}/{index}"
    rng = random.Random(key)
    kind = rng.choice(sorted(kinds))
    plan = kinds[kind](Draw(rng, split, names=random.Random(key + "/names"), name_variety=name_variety,
                            functions=random.Random(key + "/functions"), function_variety=function_variety,
                            looks=random.Random(key + "/looks"), look_first=look_first))
    task = SuiteTask(id=f"{family}-{kind}-{split}-{seed}-{index}", goal=plan.goal, files=plan.files,
                     check=plan.check, max_steps=plan.max_steps)
    return PlannedTask(family, kind, split, task, plan.steps, plan.recovery)
