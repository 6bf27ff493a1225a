"""Pick and start a sandbox backend: `open_sandbox("docker" | "local" | "auto", workspace, config)`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sandbox.base import Sandbox, SandboxConfig, SandboxKind, SandboxUnavailable


def _open_docker(workspace: Path, config: SandboxConfig) -> Sandbox:
    from sandbox.docker import DockerSandbox

    return DockerSandbox(workspace, config)


def _open_local(workspace: Path, config: SandboxConfig) -> Sandbox:
    from sandbox.local import LocalSandbox

    return LocalSandbox(workspace, config)


def _open_auto(workspace: Path, config: SandboxConfig) -> Sandbox:
    """Docker when an engine answers and the image is built, else the local backend."""
    return _open_docker(workspace, config) if docker_ready(config.image) else _open_local(workspace, config)


_OPENERS: dict[SandboxKind, Callable[[Path, SandboxConfig], Sandbox]] = {
    SandboxKind.DOCKER: _open_docker, SandboxKind.LOCAL: _open_local, SandboxKind.AUTO: _open_auto,
}


def open_sandbox(kind: SandboxKind, workspace: Path, config: SandboxConfig | None = None) -> Sandbox:
    """Start a sandbox for `workspace`; SandboxUnavailable says what to do when the backend cannot run."""
    try:
        opener = _OPENERS[SandboxKind(kind)]
    except ValueError:
        raise SandboxUnavailable(f"unknown sandbox backend {kind!r}: use docker, local or auto") from None
    return opener(Path(workspace), config or SandboxConfig())


def docker_ready(image: str) -> bool:
    """Whether a Docker engine answers and has the sandbox image."""
    try:
        return docker_unavailable_reason(image) is None
    except Exception:  # no SDK, a daemon that errors: both mean "not ready"
        return False


def sandbox_factory(kind: SandboxKind, workspace: Path, config: SandboxConfig) -> Callable[[], Sandbox]:
    """What the agent's ToolContext takes: starts the sandbox on the first call that needs it."""
    return lambda: open_sandbox(kind, workspace, config)


def docker_unavailable_reason(image: str) -> str | None:
    """Why the Docker backend cannot start here (no engine, no image), or None when it can."""
    from sandbox.image import docker_client, image_exists

    try:
        client = docker_client(timeout_s=5)
    except SandboxUnavailable as exc:
        return str(exc)
    if not image_exists(client, image):
        return f"the sandbox image {image} is missing: build it with `autogpt sandbox build`"
    return None


def unavailable_reason(kind: SandboxKind, config: SandboxConfig) -> str | None:
    """Why a sandbox of `kind` cannot start here (checked before a run starts), or None when it can."""
    from sandbox.isolation import choose

    if kind == "docker":
        return docker_unavailable_reason(config.image)
    if kind == "auto" and docker_ready(config.image):
        return None
    if choose(config.local_isolation) is not None or config.unsafe_local:
        return None
    return ("no sandbox can run here: the Docker engine or its image is missing, and neither bubblewrap nor "
            "util-linux unshare can make namespaces (apt-get install -y bubblewrap, or `make engine` for "
            "Docker); --unsafe-local runs code WITHOUT isolation")
