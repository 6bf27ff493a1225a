"""The local backend (bubblewrap namespaces + rlimits + cgroup), the backend factory and the sandbox CLI."""

from __future__ import annotations

import ast
import json
import os
import socket
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sandbox import local
from sandbox.base import SandboxConfig, SandboxUnavailable, python_command
from sandbox.cli import sandbox_app
from sandbox.factory import open_sandbox
from sandbox.local import LocalSandbox
from sandbox.output import OutputCapture
from tools.execute import describe_result


@pytest.fixture(scope="module", autouse=True)
def namespaces() -> None:
    """bubblewrap must work here; CI (CI=true) installs it, so there its absence is a failure."""
    if local.bwrap_works():
        return
    reason = "bubblewrap / Linux namespaces are not available (apt-get install -y bubblewrap)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def box(workspace: Path):
    with LocalSandbox(workspace, SandboxConfig(timeout_s=10)) as sandbox:
        yield sandbox


def test_runs_in_the_workspace_with_it_as_home(box: LocalSandbox, workspace: Path) -> None:
    result = box.exec(python_command("import os\nprint(os.getcwd(), os.environ['HOME'])\n"
                                     "open('made.txt', 'w').write('hi')"))
    assert result.ok and result.backend == "local"
    assert result.stdout.split() == [str(workspace), str(workspace)]
    assert (workspace / "made.txt").read_text() == "hi"


def test_stdout_stderr_and_exit_code_are_separate(box: LocalSandbox) -> None:
    result = box.exec(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.ok and result.failure is None
    assert "[exit code 3]" in describe_result(result)


def test_environment_is_scrubbed(box: LocalSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    result = box.exec(["env"])
    assert "sk-secret" not in result.stdout
    assert {line.split("=")[0] for line in result.stdout.splitlines()} <= {
        "PATH", "HOME", "LANG", "TMPDIR", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PWD"}


def test_no_capabilities_and_no_new_privileges(box: LocalSandbox) -> None:
    status = box.exec(["cat", "/proc/self/status"]).stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert int(fields["CapEff"], 16) == 0 and int(fields["CapBnd"], 16) == 0
    assert fields["NoNewPrivs"].strip() == "1"


def test_rlimits_are_applied(workspace: Path) -> None:
    config = SandboxConfig(open_files=100, file_size_mb=2, cpu_seconds=7, memory_mb=300)
    with LocalSandbox(workspace, config) as box:
        code = ("import resource as r\nprint(*(r.getrlimit(getattr(r, n))[0] for n in "
                "('RLIMIT_NOFILE', 'RLIMIT_FSIZE', 'RLIMIT_CPU', 'RLIMIT_AS')))")
        values = [int(v) for v in box.exec(python_command(code)).stdout.split()]
        assert values == [100, 2 * 1024 * 1024, 7, 300 * 1024 * 1024]
        big = box.exec(python_command("open('big', 'wb').write(b'x' * 3 * 1024 * 1024)"))
        assert not big.ok  # SIGXFSZ / EFBIG past the file-size cap


def test_only_system_directories_are_visible_and_read_only(box: LocalSandbox) -> None:
    result = box.exec(python_command("import os\nprint(sorted(os.listdir('/')))"))
    visible = set(ast.literal_eval(result.stdout))
    assert not visible & {"root", "home", "work", "srv", "mnt", "run"}
    assert box.exec(["touch", "/usr/escape"]).exit_code != 0
    assert box.exec(["sh", "-c", "echo x > /tmp/scratch && cat /tmp/scratch"]).stdout == "x\n"


def test_network_flag_shares_the_host_network(workspace: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)
    threading.Thread(target=lambda: server.accept()[0].sendall(b"pong"), daemon=True).start()
    code = f"import socket\nprint(socket.create_connection(('127.0.0.1', {server.getsockname()[1]})).recv(4))"
    with LocalSandbox(workspace, SandboxConfig(network=True)) as box:
        assert box.exec(python_command(code)).stdout == "b'pong'\n"
    server.close()


def test_without_namespaces_it_refuses_unless_unsafe(workspace: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "bwrap_works", lambda: False)
    with pytest.raises(SandboxUnavailable, match="--unsafe-local"):
        LocalSandbox(workspace)
    with LocalSandbox(workspace, SandboxConfig(unsafe_local=True)) as box:
        assert "namespaces" not in box.limits
        result = box.exec(["sh", "-c", "echo $HOME"])
        assert result.ok and result.stdout == f"{workspace}\n"


def test_a_missing_command_is_an_error_result(box: LocalSandbox) -> None:
    result = box.exec(["no-such-program-xyz"])
    assert not result.ok and "no-such-program-xyz" in result.stderr


def test_output_over_the_cap_is_truncated_with_a_marker(workspace: Path) -> None:
    with LocalSandbox(workspace, SandboxConfig(output_bytes=1000)) as box:
        result = box.exec(python_command("print('y' * 5000)"))
    assert result.ok and result.truncated and result.failure is None
    assert result.stdout.startswith("y" * 1000) and "output truncated" in result.stdout


def test_output_capture_counts_what_it_drops() -> None:
    capture = OutputCapture(limit=4, flood_limit=10)
    assert not capture.add(1, b"abcdef")
    assert capture.add(2, b"123456")  # 12 bytes in all: past the flood limit
    assert capture.text(1).startswith("abcd\n[... output truncated")
    assert capture.truncated and capture.flooded


def test_cgroup_is_removed_on_close(workspace: Path) -> None:
    box = LocalSandbox(workspace)
    group = box._cgroup
    box.close()
    if group is not None:
        assert not any(d.exists() for d in group.dirs)


def test_describe_result_says_why_a_call_failed(box: LocalSandbox) -> None:
    result = box.exec(["sleep", "5"], timeout_s=0.5)
    assert "time limit" in describe_result(result)


def test_open_sandbox_picks_a_backend(workspace: Path) -> None:
    sandbox = open_sandbox("local", workspace)
    assert sandbox.backend == "local"
    sandbox.close()
    auto = open_sandbox("auto", workspace)
    assert auto.backend in ("docker", "local")
    auto.close()
    with pytest.raises(SandboxUnavailable, match="unknown sandbox backend"):
        open_sandbox("vm", workspace)  # type: ignore[arg-type]


def test_cli_exec_prints_one_json_line(workspace: Path) -> None:
    result = CliRunner().invoke(sandbox_app, ["exec", "--backend", "local", "--timeout", "5", "--workspace",
                                              str(workspace), "--", "python3", "-c", "print(6 * 7)"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    payload = json.loads(lines[0])
    required = {"exit_code", "stdout", "stderr", "timed_out", "truncated", "duration_s", "backend"}
    assert required <= set(payload)
    assert payload["stdout"] == "42\n" and payload["backend"] == "local" and payload["exit_code"] == 0


def test_cli_exec_reports_a_timeout(workspace: Path) -> None:
    result = CliRunner().invoke(sandbox_app, ["exec", "--backend", "local", "--timeout", "0.5", "--workspace",
                                              str(workspace), "--", "sleep", "10"])
    payload = json.loads(result.stdout)
    assert payload["timed_out"] is True and payload["failure"] == "timeout"


def test_cli_exec_rejects_an_unknown_backend(workspace: Path) -> None:
    result = CliRunner().invoke(sandbox_app, ["exec", "--backend", "vm", "--", "true"])
    assert result.exit_code == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="as root, code runs as uid 0 without capabilities")
def test_runs_as_the_calling_user(box: LocalSandbox) -> None:
    assert box.exec(["id", "-u"]).stdout.strip() == str(os.geteuid())


@pytest.mark.skipif(os.geteuid() != 0, reason="cgroups are writable by root only")
def test_as_root_a_pids_cgroup_holds_the_processes(box: LocalSandbox) -> None:
    assert "cgroup" in box.limits  # RLIMIT_NPROC does not bind root; this does


def test_without_dash_the_limits_are_set_between_fork_and_exec(workspace: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "DASH", None)
    with LocalSandbox(workspace, SandboxConfig(file_size_mb=2, open_files=100)) as box:
        code = "import resource as r\nprint(r.getrlimit(r.RLIMIT_FSIZE)[0], r.getrlimit(r.RLIMIT_NOFILE)[0])"
        assert box.exec(python_command(code)).stdout == f"{2 * 1024 * 1024} 100\n"
        assert box.exec(["sleep", "5"], timeout_s=0.5).failure == "timeout"
