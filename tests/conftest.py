from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.config import AgentConfig, Budget
from agent.loop import Agent
from agent.store import RunStore
from agent.testing import ScriptedModel
from sandbox.base import SandboxConfig
from sandbox.local import LocalSandbox


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    ws.mkdir()
    return ws


@pytest.fixture
def make_agent(workspace: Path, tmp_path: Path):
    """Build an Agent over a scripted model, a real local sandbox and a run store in tmp_path."""

    def build(outputs, **config) -> tuple[Agent, ScriptedModel]:
        budget = config.pop("budget", Budget())
        model = ScriptedModel(list(outputs))
        cfg = AgentConfig(workspace=workspace, budget=budget, plan=config.pop("plan", False), **config)
        agent = Agent(model, config=cfg, store=RunStore(tmp_path / "runs"),
                      sandbox_factory=lambda: LocalSandbox(workspace, SandboxConfig(unsafe_local=True)))
        return agent, model

    return build


@pytest.fixture(scope="session")
def real_model():
    """The real default model, loaded once per test session."""
    from agent.llm import load_chat_model

    return load_chat_model("default")


@pytest.fixture(scope="session")
def base_model():
    """The real embedded model without the shipped adapter (`--model base`), loaded once per test session."""
    from agent.llm import load_chat_model

    return load_chat_model("base")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_docker(image: str) -> None:
    """Skip when no Docker engine/image is here, except in CI, where that is a failure."""
    from sandbox.factory import docker_unavailable_reason

    reason = docker_unavailable_reason(image)
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"Docker is required in CI: {reason}")
    pytest.skip(reason)
