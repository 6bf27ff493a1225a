"""Auto-GPT: a local-first autonomous task runner.

    from agent import Agent, run
    result = run("What is 2 to the power of 20?", workspace=".")

Names are loaded on first use, so importing `agent` stays cheap (no torch until a model is built).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.config import AgentConfig, Budget
    from agent.loop import Agent, RunResult

__all__ = ["Agent", "AgentConfig", "Budget", "RunResult", "run", "load_chat_model"]


def run(goal: str, *, model: str = "default", workspace: str = ".", max_steps: int = 12,
        sandbox: str = "auto", plan: bool = False, runs_dir: str | None = None, adapter: str | None = None,
        **config: Any) -> RunResult:
    """Run the agent on `goal` with the same options as `autogpt run`; returns the RunResult."""
    from pathlib import Path

    from agent.config import AgentConfig, Budget
    from agent.llm import load_chat_model
    from agent.loop import Agent
    from agent.store import RunStore

    cfg = AgentConfig(workspace=Path(workspace), budget=Budget(max_steps=max_steps), sandbox=sandbox,
                      plan=plan, **config)
    chat_model = load_chat_model(model, adapter=Path(adapter) if adapter else None)
    agent = Agent(chat_model, config=cfg, store=RunStore(Path(runs_dir) if runs_dir else None), model_spec=model,
                  adapter=str(Path(adapter).resolve()) if adapter else "")
    return agent.run(goal)


def __getattr__(name: str) -> Any:
    if name in ("Agent", "RunResult"):
        from agent import loop

        return getattr(loop, name)
    if name in ("AgentConfig", "Budget"):
        from agent import config

        return getattr(config, name)
    if name == "load_chat_model":
        from agent.llm import load_chat_model

        return load_chat_model
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
