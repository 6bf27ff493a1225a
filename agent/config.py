"""Run configuration: what the CLI and the Python API accept (validated at the boundary)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from sandbox.base import SandboxConfig, SandboxKind
from tools.mcp_config import McpServerConfig


class Budget(BaseModel):
    max_steps: int = Field(default=12, ge=1, description="model decisions (tool calls and rejected replies)")
    max_tokens: int = Field(default=200_000, ge=1, description="prompt + completion tokens over the run")
    max_seconds: float = Field(default=900.0, gt=0, description="wall-clock time of the run")

    def exceeded(self, steps: int, tokens: int, seconds: float) -> str | None:
        """Which limit a run at this point has reached, if any."""
        if steps >= self.max_steps:
            return f"reached the step limit ({self.max_steps})"
        if tokens >= self.max_tokens:
            return f"reached the token limit ({self.max_tokens})"
        if seconds >= self.max_seconds:
            return f"reached the time limit ({self.max_seconds:g} s)"
        return None


class AgentConfig(BaseModel):
    workspace: Path = Field(default_factory=Path.cwd)
    budget: Budget = Field(default_factory=Budget)
    context_tokens: int = Field(default=2048, ge=512, description="prompt size the history is compacted to")
    observation_chars: int = Field(default=1200, ge=100, description="longest observation shown to the model")
    action_tokens: int = Field(default=320, ge=32, description="longest reply the model may write per step")
    plan: bool = Field(default=False, description="ask the model for a short plan first (measured: the "
                       "135M default model does worse with one)")
    thoughts: bool = Field(default=False, description="each action starts with a short thought (measured: the "
                           "135M default model writes a guessed answer there and then copies it)")
    worked_examples: int = Field(default=2, ge=0, description="worked example runs (prompts/examples.json) "
                                 "shown before the goal; a model tuned on the job may need none")
    act_before_finish: bool = Field(default=True, description="finish is offered only after a tool call worked")
    finish_checks: int = Field(default=0, ge=0, description="times finish is sent back while a file the goal "
                               "asks to write is missing (agent/deliverables.py). Off by default: the 135M "
                               "default model ignores the feedback (3/19 tasks either way, 2.5x the steps)")
    keep_inputs: bool = Field(default=True, description="when the goal asks for new files, put back the files it "
                              "reads whenever a call changes them (agent/goal_inputs.py)")
    action_format: Literal["raw", "json"] = Field(default="json", description="how the model writes actions: "
                                                  "raw (code and file content as they are, in a fenced block "
                                                  "after a JSON header) or json (escaped in JSON strings); "
                                                  "agent/action_format.py")
    decode_attempts: int = Field(default=3, ge=1, description="tries per step before a step counts as failed")
    loop_strikes: int = Field(default=3, ge=1, description="repeats tolerated after a strategy change")
    sandbox: SandboxKind = SandboxKind.AUTO
    sandbox_config: SandboxConfig = Field(default_factory=SandboxConfig)
    shell: bool = Field(default=False, description="offer the run_shell tool")
    # The CLI starts these servers for a run (agent/cli/mcp_tools.py); from Python, use tools.mcp.McpServers.
    mcp: list[McpServerConfig] = Field(default_factory=list, description="MCP servers given as commands (--mcp)")
    mcp_config: Path | None = Field(default=None, description="MCP servers file (--mcp-config); read again on "
                                    "resume, so the secrets in its env never go into the run log")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="sampling temperature of each decode "
                               "(0: greedy); a retry after a failure samples at 0.3 or more")
    seed: int = Field(default=0, description="seed of the sampled decodes: the same seed, the same run")
