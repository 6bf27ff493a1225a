"""From run state to chat messages: a stable, append-only prefix, compacted in chunks when it grows.

Keeping earlier messages byte-identical from step to step is what lets the model backend reuse its KV
cache; compaction therefore moves its boundary in chunks of several turns, not one turn at a time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from agent.action import Action
from agent.action_format import ActionFormat, body_tool_lines, render_action
from agent.config import AgentConfig
from agent.events import PlanStep
from agent.examples import select_examples
from agent.llm.base import ChatMessage
from agent.state import RunState, Turn
from prompts import examples, render
from tools.base import ToolRegistry
from tools.registry import default_tools

COMPACT_CHUNK = 4
KEEP_RECENT = 2
MAX_PLAN_STEPS = 4
SUMMARY_CHARS = 120


@dataclass(frozen=True)
class PromptContext:
    system: str
    goal: str
    plan_enabled: bool
    observation_chars: int
    examples: tuple[dict, ...] = ()  # worked example runs shown before the goal
    thoughts: bool = True  # whether actions start with a "thought"
    files: tuple[str, ...] = ()  # the workspace's files at the start of the run
    tools: ToolRegistry | None = None  # what actions are rendered against (None: an empty registry)
    action_format: ActionFormat = "raw"
    python_state: bool = False  # run_python keeps one interpreter for the run: the prompt says so

    def render(self, action: Action) -> str:
        """An action as the model writes it, in this run's format."""
        return render_action(action, self.tools or ToolRegistry(), self.action_format, plan=self.plan_enabled,
                             thoughts=self.thoughts)


def render_system(tool_lines: list[dict[str, str]], plan_enabled: bool, thoughts: bool = True,
                  body_tools: list[dict[str, str]] | None = None, python_state: bool = False) -> str:
    return render("system", tools=tool_lines, plan=plan_enabled, thoughts=thoughts, body_tools=body_tools or [],
                  python_state=python_state)


class PromptContextCache:
    """The fixed parts of every prompt: the system text once per tool set, the examples once per goal."""

    def __init__(self) -> None:
        self._system: tuple[tuple, str] | None = None
        self._examples: tuple[tuple, tuple[dict, ...]] | None = None

    def get(self, tools: ToolRegistry, config: AgentConfig, goal: str, files: tuple[str, ...] = (),
            python_state: bool = False) -> PromptContext:
        key = (tuple(tools.names()), config.plan, config.thoughts, config.action_format, python_state)
        if self._system is None or self._system[0] != key:
            lines = [{"signature": t.signature_line(), "description": t.description} for t in tools]
            self._system = (key, render_system(lines, config.plan, config.thoughts,
                                               body_tool_lines(tools, config.action_format), python_state))
        if self._examples is None or self._examples[0] != (key, goal, config.worked_examples):
            usable = [e for e in examples() if all(step["tool"] in key[0] for step in e["steps"])]
            builtin = default_tools(shell=True).names()
            added = [f"{t.name} {t.description}" for t in tools if t.name not in builtin]
            shown = (select_examples(goal, usable, config.worked_examples, added_tools=added)
                     if config.worked_examples else [])
            self._examples = ((key, goal, config.worked_examples), tuple(shown))
        return PromptContext(self._system[1], goal, config.plan, config.observation_chars, self._examples[1],
                             config.thoughts, files, tools, config.action_format, python_state)


def plan_messages(ctx: PromptContext) -> list[ChatMessage]:
    return [*_opening(ctx), ChatMessage("user", _goal_text(ctx.goal, ctx.files, ask_plan=True))]


def _opening(ctx: PromptContext) -> list[ChatMessage]:
    """The system prompt and the worked examples: identical for every step, so always in the KV cache."""
    messages = [ChatMessage("system", ctx.system)]
    for example in ctx.examples:
        messages.append(ChatMessage("user", _goal_text(example["goal"], example.get("files", ()), ask_plan=False)))
        for index, step in enumerate(example["steps"]):
            action = Action(step.get("thought", ""), step["tool"], step["args"], step.get("plan_step", 1))
            messages.append(ChatMessage("assistant", ctx.render(action)))
            if index < len(example["steps"]) - 1:
                observation = render("observation", tool=step["tool"], ok=step.get("ok", True),
                                     output=step["observation"])
                tail = render("tail", plan=[], feedback=None, goal=example["goal"])
                messages.append(ChatMessage("user", tail + "\n\n" + observation))
    return messages


def _goal_text(goal: str, files: tuple[str, ...] | list[str], *, ask_plan: bool) -> str:
    return render("goal", goal=goal, files=list(files), ask_plan=ask_plan, max_plan_steps=MAX_PLAN_STEPS)


def build_messages(ctx: PromptContext, state: RunState, *, feedback: str | None, budget_tokens: int,
                   count: Callable[[list[ChatMessage]], int]) -> list[ChatMessage]:
    """The prompt for the next step; older turns are summarised until it fits `budget_tokens`."""
    finished = [t for t in state.turns if t.observation is not None]
    compacted = 0
    while True:
        messages = _assemble(ctx, state, finished, compacted, feedback)
        movable = len(finished) - KEEP_RECENT - compacted
        if movable <= 0 or count(messages) <= budget_tokens:
            return messages
        compacted += min(COMPACT_CHUNK, movable)


def _assemble(ctx: PromptContext, state: RunState, turns: list[Turn], compacted: int,
              feedback: str | None) -> list[ChatMessage]:
    messages = _opening(ctx)
    # The plan is shown in the tail only: as a turn of its own, small models copy its words into actions.
    messages.append(ChatMessage("user", _goal_text(ctx.goal, ctx.files, ask_plan=False)))
    if compacted:
        lines = [_summary_line(t) for t in turns[:compacted]]
        messages[-1] = ChatMessage("user", messages[-1].content + "\n\n" + render("compacted", lines=lines))
    for turn in turns[compacted:]:
        messages.append(ChatMessage("assistant", ctx.render(action_of(turn))))
        messages.append(ChatMessage("user", observation_text(turn, ctx.observation_chars)))
    # Plan, feedback and goal go before the last observation, so that what the model reads last, and
    # copies from, is the result it has to act on.
    tail = render("tail", plan=list(state.plan), feedback=feedback, goal=ctx.goal if turns[compacted:] else "")
    if tail:
        messages[-1] = ChatMessage("user", tail + "\n\n" + messages[-1].content)
    return messages


def action_of(turn: Turn) -> Action:
    a = turn.action
    return Action(a.thought, a.tool, a.args, a.plan_step)


def observation_text(turn: Turn, limit: int) -> str:
    obs = turn.observation
    assert obs is not None
    return render("observation", tool=obs.tool, ok=obs.ok, output=clip(obs.output, limit))


def clip(text: str, limit: int) -> str:
    """Keep the head and the tail of a long text (errors are usually at the end)."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit} characters cut ...]\n{text[-tail:]}"


def _summary_line(turn: Turn) -> str:
    a, obs = turn.action, turn.observation
    args = json.dumps(a.args, ensure_ascii=False)
    result = (obs.output if obs else "").replace("\n", " ")
    status = "ok" if obs and obs.ok else "failed"
    return f"- step {a.step}: {a.tool} {clip(args, SUMMARY_CHARS)} -> {status}: {clip(result, SUMMARY_CHARS)}"


def new_plan(texts: list[str]) -> tuple[PlanStep, ...]:
    steps = [t.strip() for t in texts if t.strip()][:MAX_PLAN_STEPS]
    return tuple(PlanStep(text) for text in steps)
