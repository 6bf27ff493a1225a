"""Escape and exhaustion attacks, run against both backends.

Each attack must be contained (the host is untouched), reported clearly (the result says why it failed), and
leave the sandbox usable: every test ends by checking that the next call in the same sandbox works.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_docker
from sandbox_support import require_isolation

from sandbox.base import ExecResult, Sandbox, SandboxConfig, python_command
from sandbox.factory import open_sandbox

CONFIG = SandboxConfig(timeout_s=10, memory_mb=256, pids=64, output_bytes=10_000)


def _docker_or_skip() -> None:
    require_docker(CONFIG.image)


@pytest.fixture(scope="module", params=["local", "local-cold", "local-unshare", "local-unshare-cold",
                                        pytest.param("docker", marks=pytest.mark.docker),
                                        pytest.param("docker-cold", marks=pytest.mark.docker)])
def box(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One sandbox per backend, reused by every attack (as an agent run reuses its sandbox). -cold: without
    the warm executor (Docker: one `docker exec` per call; local: a fresh sandbox per call). local-unshare:
    the local backend as it runs where bubblewrap is missing."""
    backend = request.param.split("-")[0]
    if backend == "docker":
        _docker_or_skip()
    workspace = tmp_path_factory.mktemp(f"attack-{request.param}") / "workspace"
    workspace.mkdir()
    config = CONFIG.model_copy(update={"warm_exec": not request.param.endswith("-cold")})
    if "unshare" in request.param:
        require_isolation("unshare")
        config.local_isolation = "unshare"
    sandbox = open_sandbox(backend, workspace, config)  # type: ignore[arg-type]
    yield sandbox
    sandbox.close()


def py(box: Sandbox, code: str, timeout_s: float = 5) -> ExecResult:
    return box.exec(python_command(code), timeout_s=timeout_s)


def assert_healthy(box: Sandbox) -> None:
    result = py(box, "print('still here')")
    assert result.ok and result.stdout == "still here\n", result


def host_processes_with(marker: str, settle_s: float = 2.0) -> list[int]:
    """Host pids whose command line contains `marker` (a sandbox's processes are visible from the host),
    allowing `settle_s` for killed processes to finish exiting."""
    deadline = time.monotonic() + settle_s
    while (found := _scan_processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def _scan_processes(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmdline:
                found.append(int(entry))
    return found


# -- network ---------------------------------------------------------------------------------------------


def test_network_to_the_internet_is_unreachable(box: Sandbox) -> None:
    result = py(box, "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)\n"
                     "print('CONNECTED')")
    assert not result.ok and "CONNECTED" not in result.stdout
    assert "Network is unreachable" in result.stderr or "timed out" in result.stderr
    assert_healthy(box)


def test_network_to_a_server_on_host_loopback_is_unreachable(box: Sandbox) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)
    port = server.getsockname()[1]
    accepted: list[object] = []
    threading.Thread(target=lambda: accepted.append(_accept_once(server)), daemon=True).start()
    result = py(box, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                     "print('CONNECTED')")
    server.close()
    assert not result.ok and "CONNECTED" not in result.stdout
    assert accepted in ([], [None])
    assert_healthy(box)


def _accept_once(server: socket.socket) -> object:
    try:
        return server.accept()
    except OSError:
        return None


# -- host secrets and the host filesystem ---------------------------------------------------------------


def test_reading_host_secrets_fails(box: Sandbox, tmp_path: Path) -> None:
    host_shadow = Path("/etc/shadow").read_text() if Path("/etc/shadow").exists() else "no shadow"
    canary = Path("/root") / f"autogpt-canary-{uuid.uuid4().hex}"
    canary.write_text("root secret")
    try:
        result = py(box, "import os\nfor f in ('/etc/shadow',):\n    try: print(open(f).read())\n"
                         "    except OSError as e: print('denied', e)\nprint(os.listdir('/root') "
                         "if os.path.isdir('/root') else 'no /root')")
    finally:
        canary.unlink()
    assert host_shadow not in result.stdout
    assert canary.name not in result.stdout
    assert_healthy(box)


def test_writing_outside_the_workspace_leaves_the_host_untouched(box: Sandbox) -> None:
    outside = box.workspace.parent / f"escaped-{uuid.uuid4().hex}.txt"
    targets = [str(outside), "/etc/autogpt-escape", "/usr/autogpt-escape", "/root/autogpt-escape",
               "/autogpt-escape", "../" + outside.name]
    code = (f"for t in {targets!r}:\n    try:\n        open(t, 'w').write('x'); print('wrote', t)\n"
            "    except OSError as e: print('refused', t, e.strerror)")
    py(box, code)
    for target in targets[:-1]:
        assert not Path(target).exists(), f"{target} was written on the host"
    assert not outside.exists()
    assert_healthy(box)


def test_symlinks_in_the_workspace_do_not_reach_the_host(box: Sandbox, tmp_path: Path) -> None:
    secret = box.workspace.parent / "secret.txt"
    secret.write_text("HOST-SECRET")
    (box.workspace / "planted").unlink(missing_ok=True)
    (box.workspace / "planted").symlink_to(secret)  # made on the host before the call
    escape_dir = f"escape-{uuid.uuid4().hex}"
    code = (
        "import os\n"
        "for name, target in (('s', '/etc/shadow'), ('up', '..'), ('root', '/')):\n"
        "    if os.path.lexists(name): os.unlink(name)\n"
        "    os.symlink(target, name)\n"
        "for path in ('planted', 'up/secret.txt', 's'):\n"
        "    try: print(path, open(path).read()[:40])\n"
        "    except OSError as e: print(path, 'refused', e.strerror)\n"
        f"try: open('up/{escape_dir}', 'w').write('x')\n"
        "except OSError as e: print('write refused', e.strerror)\n"
    )
    result = py(box, code)
    assert "HOST-SECRET" not in result.stdout
    assert not (box.workspace.parent / escape_dir).exists()
    assert_healthy(box)


# -- exhaustion -------------------------------------------------------------------------------------------


def test_fork_bomb_is_capped_and_cleaned_up(box: Sandbox) -> None:
    marker = f"forkbomb-{uuid.uuid4().hex[:8]}"
    code = (f"import os, time  # {marker}\nwhile True:\n    try: os.fork()\n"
            "    except OSError: time.sleep(0.01)")
    before = len(os.listdir("/proc"))
    result = py(box, code, timeout_s=3)
    assert result.failure == "timeout" and result.timed_out
    assert host_processes_with(marker) == []
    assert len(os.listdir("/proc")) < before + 50
    assert_healthy(box)


def test_memory_bomb_is_reported_as_memory(box: Sandbox) -> None:
    result = py(box, "x = b'x' * (4 * 1024 ** 3)")
    assert result.failure == "memory" and not result.ok
    result = py(box, "chunks = []\nwhile True:\n    chunks.append(b'x' * 10_000_000)", timeout_s=10)
    assert result.failure == "memory"
    assert_healthy(box)


def test_infinite_loop_is_stopped_at_the_timeout(box: Sandbox) -> None:
    result = py(box, "while True: pass", timeout_s=1.5)
    assert result.timed_out and result.failure == "timeout"
    assert result.duration_s < 5
    assert_healthy(box)


def test_sleep_past_the_timeout_is_stopped(box: Sandbox) -> None:
    result = box.exec(["sleep", "60"], timeout_s=1)
    assert result.timed_out and result.failure == "timeout" and result.exit_code != 0
    assert result.duration_s < 4
    assert_healthy(box)


def test_100_mb_of_output_is_cut_and_stopped(box: Sandbox) -> None:
    result = py(box, "import sys\nfor _ in range(1600): sys.stdout.write('x' * 65536)", timeout_s=20)
    assert result.truncated and result.failure == "output_limit"
    assert len(result.stdout) < CONFIG.output_bytes + 200
    assert "output truncated" in result.stdout
    assert_healthy(box)


def test_a_background_process_does_not_outlive_its_call(box: Sandbox) -> None:
    token = str(3000 + uuid.uuid4().int % 5000)
    result = box.exec(["sh", "-c", f"sleep {token} & setsid sleep {token} >/dev/null 2>&1 & echo started"],
                      timeout_s=5)
    assert result.ok and result.stdout == "started\n"
    assert result.duration_s < 4
    assert host_processes_with(f"sleep {token}") == []
    assert_healthy(box)


def test_killing_the_calls_parent_does_not_leave_a_process_behind(box: Sandbox) -> None:
    token = str(3000 + uuid.uuid4().int % 5000)
    box.exec(["sh", "-c", f"sleep {token} >/dev/null 2>&1 & kill -9 $PPID; sleep 1"], timeout_s=5)
    assert host_processes_with(f"sleep {token}") == []
    assert_healthy(box)


# -- an agent run ---------------------------------------------------------------------------------------

ATTACKS = {
    "network": "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)",
    "fork bomb": "import os, time\nwhile True:\n    try: os.fork()\n    except OSError: time.sleep(0.01)",
    "memory bomb": "x = b'x' * (4 * 1024 ** 3)",
    "output flood": "import sys\nfor _ in range(1600): sys.stdout.write('x' * 65536)",
    "sleep": "import time\ntime.sleep(60)",
}


def test_an_agent_run_survives_attacking_code_and_records_it(tmp_path: Path) -> None:
    from agent.config import AgentConfig
    from agent.loop import Agent
    from agent.store import RunStore
    from agent.testing import ScriptedModel, act
    from sandbox.factory import sandbox_factory

    workspace = tmp_path / "workspace"
    workspace.mkdir()
    replies = [act("run_python", code=code) for code in ATTACKS.values()]
    replies += [act("run_python", code="print(6 * 7)"), act("finish", answer="42")]
    model = ScriptedModel(replies)
    config = AgentConfig(workspace=workspace, plan=False, loop_strikes=99,
                         sandbox_config=SandboxConfig(timeout_s=3, memory_mb=256))
    agent = Agent(model, config=config, store=RunStore(tmp_path / "runs"),
                  sandbox_factory=sandbox_factory("local", workspace, config.sandbox_config))
    events = list(agent.stream("attack the sandbox, then compute 6*7"))
    model.assert_complete()
    observations = [e for e in events if getattr(e, "type", "") == "observation"]
    assert [o.ok for o in observations] == [False] * len(ATTACKS) + [True, True]
    reasons = [o.output for o in observations[: len(ATTACKS)]]
    assert "Network is unreachable" in reasons[0]
    assert "time limit" in reasons[1] and "time limit" in reasons[4]
    assert "out of memory" in reasons[2] and "output went past the limit" in reasons[3]
    assert observations[-2].output == "42"
    assert agent.result is not None and agent.result.status == "done"
