"""Verifying a planned trajectory: the real Agent loop replays its steps through the real tools and sandbox.

A `ReplayModel` stands in for the language model. Each time the loop asks for an action it writes the next
planned step the way the agent's own renderer writes a turn (so the reply is in the agent's exact action
format), checks that the grammar the loop asked for allows that reply, and records the messages the loop
built. Everything else is the product's own: the prompt, the tools, the sandbox, the strategy after a
failure, the run log. A trajectory is verified when every step did what it planned (a mistake failed,
everything else worked), the run ended with the planned finish, and the task's check passes on the
workspace and the answer; otherwise it is rejected with the reason.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent.action import Action
from agent.action_format import render_action
from agent.bench import SuiteTask, prepare_workspace, run_check
from agent.config import AgentConfig, Budget
from agent.events import ErrorEvent, Observation
from agent.llm.base import GREEDY, ChatMessage, DecodingParams, Generation
from agent.llm.chat_tokenizer import ChatTokenizer
from agent.llm.reply_grammar import ReplyGrammar
from agent.result import RunResult
from agent.store import RunStore
from agent.tune.families.base import Step, StepPlan
from sandbox.base import SandboxConfig, SandboxKind
from tools.base import ToolRegistry
from tools.registry import default_tools

CHECK_SECONDS = 60.0


class Rejected(Exception):
    """The trajectory failed verification; the message says where."""


@dataclass(frozen=True)
class ModelText:
    """The model's side of a prompt: its tokenizer (to count tokens as the agent does) and its grammar."""

    name: str
    tokenizer: ChatTokenizer
    grammar: Any  # agent.llm.grammar.JsonGrammar

    @classmethod
    def load(cls, spec: str = "default") -> ModelText:
        from agent.llm.grammar import JsonGrammar
        from agent.llm.loading import load_chat_tokenizer, resolve_model

        source = resolve_model(spec)
        tokenizer, vocab_size = load_chat_tokenizer(source)
        return cls(source.name, tokenizer, JsonGrammar(tokenizer, vocab_size))

    def count(self, messages: list[ChatMessage]) -> int:
        return len(self.tokenizer.encode(self.tokenizer.render(messages)).ids)

    def allows(self, constraint: Any, reply: str) -> bool:
        """Whether decoding under `constraint` (a JSON schema or a reply grammar) can produce exactly `reply`
        and then stop."""
        matcher = self.grammar.matcher(constraint)
        if not all(matcher.accept_token(token) for token in self.tokenizer.encode(reply).ids):
            return False
        return bool(matcher.is_completed())


def render_reply(step: Step, tools: ToolRegistry, config: AgentConfig) -> str:
    """The reply that makes this call, written by the agent's own renderer of a turn. Arguments come in the
    tool's parameter order, the only order the grammar allows."""
    fields = tools.get(step.tool).args_model.model_fields
    unknown = set(step.args) - set(fields)
    if unknown:
        raise Rejected(f"{step.tool} has no argument {', '.join(sorted(unknown))}")
    args = {name: step.args[name] for name in fields if name in step.args}
    return render_action(Action("", step.tool, args), tools, config.action_format, plan=config.plan,
                         thoughts=config.thoughts)


@dataclass(frozen=True)
class RecordedStep:
    messages: tuple[ChatMessage, ...]  # the prompt the loop built for this step
    reply: str
    learn: bool


@dataclass
class ReplayModel:
    """A ChatModel that writes the planned steps, in order, and records what the loop asked."""

    steps: tuple[StepPlan, ...]
    text: ModelText
    config: AgentConfig
    tools: ToolRegistry
    device: str = "cpu"
    context_window: int = 8192
    seen: list[str] = field(default_factory=list)  # observation outputs so far, filled by the driver
    recorded: list[RecordedStep] = field(default_factory=list)
    planned: list[Step] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.text.name

    def generate(self, messages: list[ChatMessage], *, json_schema: dict[str, Any] | None = None,
                 grammar: ReplyGrammar | None = None, params: DecodingParams = GREEDY,
                 on_text: Callable[[str], None] | None = None) -> Generation:
        index = len(self.recorded)
        if index >= len(self.steps):
            raise Rejected(f"the loop asked for step {index + 1}; the plan has {len(self.steps)}")
        plan = self.steps[index]
        try:
            step = plan if isinstance(plan, Step) else plan(tuple(self.seen))
        except (ValueError, KeyError, IndexError, TypeError) as exc:  # the observations do not allow it
            raise Rejected(f"step {index + 1}: cannot plan it from what the tools showed ({exc})") from None
        reply = render_reply(step, self.tools, self.config)
        constraint = grammar if grammar is not None else json_schema
        if constraint is not None and not self.text.allows(constraint, reply):
            raise Rejected(f"step {index + 1}: the grammar does not allow the reply {reply[:120]!r}")
        self.recorded.append(RecordedStep(tuple(messages), reply, step.learn))
        self.planned.append(step)
        tokens_in = self.count_tokens(messages)
        return Generation(text=reply, tokens_in=tokens_in, tokens_out=len(self.text.tokenizer.encode(reply).ids),
                          prefilled_tokens=tokens_in, seconds=0.0, finished=True)

    def count_tokens(self, messages: list[ChatMessage]) -> int:
        return self.text.count(messages)


@dataclass(frozen=True)
class Verified:
    task: SuiteTask
    steps: tuple[RecordedStep, ...]
    answer: str
    seconds: float


@dataclass(frozen=True)
class ReplaySettings:
    """How trajectories are replayed: the agent's config for the prompt, and where code runs."""

    worked_examples: int = 0
    action_format: Literal["json", "raw"] = "json"  # the format the examples' replies are written in
    sandbox: SandboxKind = SandboxKind.LOCAL
    sandbox_config: SandboxConfig = field(default_factory=SandboxConfig)


def verify(task: SuiteTask, steps: tuple[StepPlan, ...], text: ModelText,
           settings: ReplaySettings = ReplaySettings(), finish_checks: int = 0) -> Verified:
    """Replay `steps` for `task` in a fresh workspace (the loop sending finish back up to `finish_checks`
    times while a file the goal asks for is missing); Rejected says why a trajectory does not hold."""
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="tune-"))
    try:
        workspace, canary = prepare_workspace(task, root)
        config = AgentConfig(workspace=workspace, budget=Budget(max_steps=task.max_steps),
                             worked_examples=settings.worked_examples, action_format=settings.action_format,
                             sandbox=settings.sandbox, finish_checks=finish_checks,
                             sandbox_config=settings.sandbox_config)
        recorded, result = replay(task.goal, steps, text, config, default_tools(shell=config.shell),
                                  RunStore(root / "runs"))
        check = run_check(task, workspace, result, canary, CHECK_SECONDS)
        if not check.passed:
            raise Rejected(f"the check failed (exit {check.exit_code}): {check.output[-300:]}")
        return Verified(task, tuple(recorded), result.answer, time.monotonic() - started)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def replay(goal: str, steps: tuple[StepPlan, ...], text: ModelText, config: AgentConfig, tools: ToolRegistry,
           store: RunStore) -> tuple[list[RecordedStep], RunResult]:
    """Drive the real loop over `steps`; every step must do what it planned and the run must finish."""
    from agent.loop import Agent

    model = ReplayModel(steps, text, config, tools)
    agent = Agent(model, config=config, tools=tools, store=store)
    for event in agent.stream(goal):
        if isinstance(event, ErrorEvent):
            raise Rejected(f"step {event.step}: the loop rejected it ({event.kind}: {event.message})")
        if isinstance(event, Observation):
            _expect(model.planned[-1], event)
            model.seen.append(event.output)
    result = agent.result
    if result is None or result.status != "done" or len(model.recorded) != len(steps):
        status = result.status if result else "no result"
        raise Rejected(f"the run ended {status} after {len(model.recorded)} of {len(steps)} steps")
    return model.recorded, result


def _expect(step: Step, observation: Observation) -> None:
    if observation.ok != step.ok:
        wanted = "work" if step.ok else "fail"
        raise Rejected(f"step {observation.step} {step.tool} should {wanted}: {observation.output[:300]}")
