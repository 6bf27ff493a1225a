"""One run in progress: its state, where it is logged, its tools' context, and how decoding behaves now."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from agent.action import call_key
from agent.config import Budget
from agent.deliverables import missing_files, requested_files
from agent.errors import BudgetExhausted
from agent.events import Event
from agent.goal_inputs import KeptInputs
from agent.state import RunState
from agent.store import RunWriter
from agent.strategy import Strategy
from tools.base import ToolContext
from tools.registry import FINISH


@dataclass
class ActiveRun:
    state: RunState
    writer: RunWriter
    tools: ToolContext
    started: float
    elapsed_before: float = 0.0
    strategy: Strategy = field(default_factory=Strategy)
    outcomes: Counter = field(default_factory=Counter)  # (call key, output) -> times seen
    loop_strikes: int = 0
    inputs_put_back: int = 0  # calls after which the goal's inputs were put back
    _inputs: KeptInputs | None = None

    def __post_init__(self) -> None:  # a resumed run remembers what its calls returned
        for turn in self.state.turns:
            if turn.observation is not None:
                self.outcomes[(call_key(turn.action.tool, turn.action.args), turn.observation.output)] += 1

    @property
    def seconds(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started

    def emit(self, event: Event) -> Event:
        """Apply an event to the state and append it to the log."""
        self.state.apply(event)
        self.writer.append(event)
        return event

    def check_budget(self, budget: Budget) -> None:
        state = self.state
        if (reason := budget.exceeded(state.step, state.tokens_in + state.tokens_out, self.seconds)):
            raise BudgetExhausted(reason)

    def unwritten_files(self) -> list[str]:
        """Files the goal asks to write that are not in the workspace (agent/deliverables.py)."""
        return missing_files(requested_files(self.state.goal, self.state.files), self.tools.workspace)

    def kept_inputs(self) -> KeptInputs:
        """The goal's inputs as they were before the run's first call that could change them."""
        if self._inputs is None:
            self._inputs = KeptInputs.of(self.state.goal, self.tools.workspace, self.state.files)
        return self._inputs

    def finishes_sent_back(self) -> int:
        return sum(1 for t in self.state.turns if t.action.tool == FINISH and t.observation is not None)
