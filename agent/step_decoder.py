"""One step's decodes: the prompt, the grammar (in the run's action format) and the sampling for each
attempt, and the model call. The loop (agent/loop.py) decides what to do with what comes back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.action import call_key, step_schema
from agent.action_format import step_grammar
from agent.active_run import ActiveRun
from agent.config import AgentConfig
from agent.history import PromptContext, action_of, build_messages
from agent.llm.base import ChatModel, Generation
from agent.llm.reply_grammar import ReplyGrammar
from prompts import render
from tools.base import ToolRegistry
from tools.registry import FINISH


@dataclass(frozen=True)
class StepDecoder:
    model: ChatModel
    tools: ToolRegistry
    config: AgentConfig
    context: PromptContext
    on_text: Callable[[str], None] | None = None

    def generate(self, run: ActiveRun, step: int, attempt: int) -> Generation:
        """Attempt `attempt` (0 = the first) at step `step`'s reply."""
        exclude = excluded_tools(run, self.config)
        avoided = exclude | run.strategy.avoided_tools
        schema, grammar = self.constraint(len(run.state.plan), avoided if set(self.tools.names()) - avoided
                                          else exclude)
        feedback = (render("feedback", kind=run.strategy.feedback_kind, detail=run.strategy.feedback_detail)
                    if run.strategy.feedback_kind else None)
        messages = build_messages(self.context, run.state, feedback=feedback,
                                  budget_tokens=self.config.context_tokens, count=self.model.count_tokens)
        params = run.strategy.params(self.config.action_tokens, self.config.seed + step, self.replies_to_avoid(run),
                                     attempt, floor=self.config.temperature)
        return self.model.generate(messages, json_schema=schema, grammar=grammar, params=params, on_text=self.on_text)

    def constraint(self, plan_steps: int, exclude: frozenset[str]) -> tuple[dict[str, Any] | None,
                                                                            ReplyGrammar | None]:
        """(JSON schema, None) in the JSON action format, (None, reply grammar) in the raw one."""
        if self.config.action_format == "json":
            return step_schema(self.tools, plan_steps=plan_steps, exclude=exclude,
                               thoughts=self.config.thoughts), None
        return None, step_grammar(self.tools, plan_steps=plan_steps, exclude=exclude, thoughts=self.config.thoughts)

    def replies_to_avoid(self, run: ActiveRun) -> tuple[str, ...]:
        """How the model wrote the calls it may not make now, for the decoder to steer away from."""
        turns = [t for t in run.state.turns if run.strategy.avoids(call_key(t.action.tool, t.action.args))]
        return tuple(dict.fromkeys(self.context.render(action_of(t)) for t in turns))


def excluded_tools(run: ActiveRun, config: AgentConfig) -> frozenset[str]:
    """Tools left out of a step: finish before anything worked, or right after it was sent back."""
    acted = any(t.observation and t.observation.ok for t in run.state.turns)
    sent_back = bool(run.state.turns) and run.state.turns[-1].action.tool == FINISH  # accepted: the run ended
    return frozenset({FINISH}) if (config.act_before_finish and not acted) or sent_back else frozenset()
