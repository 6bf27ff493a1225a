"""The local backend (bubblewrap or unshare namespaces + rlimits + cgroup, warm executor or a fresh sandbox per
call), the backend factory and the sandbox CLI."""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from sandbox_support import require_isolation
from typer.testing import CliRunner

from agent.cli.sandbox import sandbox_app
from sandbox import cgroup, isolation, local
from sandbox.base import SandboxConfig, SandboxUnavailable, python_command
from sandbox.factory import open_sandbox, unavailable_reason
from sandbox.local import LocalSandbox
from sandbox.output import OutputCapture
from tools.execute import describe_result

MINIMAL_DEV = {"core", "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty",
               "urandom", "zero"}


@pytest.fixture(scope="module", autouse=True)
def namespaces() -> None:
    require_isolation("bwrap")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture(params=["bwrap", "bwrap-cold", "unshare", "unshare-cold"])
def box(request: pytest.FixtureRequest, workspace: Path):
    """Each isolation, through the warm executor (the default) and with a fresh sandbox per call."""
    name = request.param.removesuffix("-cold")
    require_isolation(name)
    config = SandboxConfig(timeout_s=10, local_isolation=name, warm_exec=not request.param.endswith("-cold"))
    with LocalSandbox(workspace, config) as sandbox:
        assert sandbox.isolation is not None and sandbox.isolation.name == name
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


@pytest.mark.parametrize("warm", [True, False])
def test_rlimits_are_applied(workspace: Path, warm: bool) -> None:
    config = SandboxConfig(open_files=100, file_size_mb=2, cpu_seconds=7, memory_mb=300, warm_exec=warm)
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
    assert box.exec(["sh", "-c", "cat /etc/shadow; ls /etc/ssh"]).stdout == ""
    devices = set(box.exec(["ls", "/dev"]).stdout.split())  # a minimal /dev: no disks, no kmsg, no kvm
    assert {"null", "zero", "urandom", "shm", "fd"} <= devices <= MINIMAL_DEV


@pytest.mark.parametrize("name", ["bwrap", "unshare"])
def test_network_flag_shares_the_host_network(workspace: Path, name: str) -> None:
    require_isolation(name)
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)
    threading.Thread(target=lambda: server.accept()[0].sendall(b"pong"), daemon=True).start()
    code = f"import socket\nprint(socket.create_connection(('127.0.0.1', {server.getsockname()[1]})).recv(4))"
    with LocalSandbox(workspace, SandboxConfig(network=True, local_isolation=name)) as box:
        assert box.exec(python_command(code)).stdout == "b'pong'\n"
    server.close()


def test_without_namespaces_it_refuses_unless_unsafe(workspace: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation, "_bwrap_works", lambda: False)
    monkeypatch.setattr(isolation, "_unshare_works", lambda: False)
    with pytest.raises(SandboxUnavailable, match="--unsafe-local"):
        LocalSandbox(workspace)
    assert "--unsafe-local" in (unavailable_reason("local", SandboxConfig()) or "")
    with LocalSandbox(workspace, SandboxConfig(unsafe_local=True)) as box:
        assert "namespaces" not in box.limits and box.isolation is None
        result = box.exec(["sh", "-c", "echo $HOME; id -u"])
        assert result.ok and result.stdout.split()[0] == str(workspace)
        assert result.stdout.split()[1] != "0"  # not even then as root
        assert box._executor is None  # never the executor without a PID namespace: it kills what it sees


def test_without_bubblewrap_it_falls_back_to_unshare(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_isolation("unshare")
    monkeypatch.setattr(isolation, "_bwrap_works", lambda: False)
    assert unavailable_reason("local", SandboxConfig()) is None
    box = open_sandbox("local", workspace)
    try:
        assert isinstance(box, LocalSandbox) and box.isolation is not None
        assert box.isolation.name == "unshare" and "namespaces" in box.limits
        assert box.exec(["hostname"]).stdout == "sandbox\n"
    finally:
        box.close()


def test_a_forced_isolation_that_is_missing_is_refused(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation, "_unshare_works", lambda: False)
    with pytest.raises(SandboxUnavailable, match="util-linux unshare"):
        LocalSandbox(workspace, SandboxConfig(local_isolation="unshare"))


def test_the_warm_executor_keeps_one_sandbox_per_run_and_comes_back_when_killed(workspace: Path) -> None:
    with LocalSandbox(workspace) as box:
        assert box.exec(["sh", "-c", "echo kept > /tmp/state"]).ok and box._executor is not None
        assert box.exec(["cat", "/tmp/state"]).stdout == "kept\n"  # /tmp lives as long as the run
        killed = box.exec(["sh", "-c", "kill -9 $PPID; sleep 30"])  # $PPID: the executor
        assert killed.failure == "killed" and killed.duration_s < 10
        assert box.exec(["echo", "back"]).stdout == "back\n" and box._executor is not None


def test_a_fresh_sandbox_per_call_keeps_nothing(workspace: Path) -> None:
    with LocalSandbox(workspace, SandboxConfig(warm_exec=False)) as box:
        box.exec(["sh", "-c", "echo kept > /tmp/state"])
        assert box.exec(["cat", "/tmp/state"]).exit_code != 0 and box._executor is None


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


@pytest.mark.skipif(os.geteuid() != 0, reason="cgroups are writable by root only")
def test_the_cgroup_kills_everything_but_the_warm_sandboxs_own_processes() -> None:
    group = cgroup.create(pids=16, memory_bytes=64 * 1024 * 1024)
    assert group is not None
    procs = [subprocess.Popen(["sleep", "60"]) for _ in range(3)]
    try:
        for proc in procs:
            (group.dirs[0] / "cgroup.procs").write_text(str(proc.pid))
        group.kill_all(keep=frozenset({procs[0].pid}))
        assert [proc.wait(5) for proc in procs[1:]] == [-9, -9]
        assert procs[0].poll() is None and group.pids() == {procs[0].pid}
    finally:
        group.remove()
    assert procs[0].wait(5) == -9


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


@pytest.mark.skipif(os.geteuid() == 0, reason="as root, code runs as an unprivileged uid")
def test_runs_as_the_calling_user(box: LocalSandbox) -> None:
    assert box.exec(["id", "-u"]).stdout.strip() == str(os.geteuid())


@pytest.mark.skipif(os.geteuid() != 0, reason="only an agent run as root switches user")
def test_as_root_code_runs_as_the_sandbox_uid_and_its_files_come_back(box: LocalSandbox, workspace: Path) -> None:
    config = SandboxConfig()
    result = box.exec(["sh", "-c", "id -u; id -g; id -G; echo made > made.txt; mkdir sub; touch sub/x"])
    assert result.stdout.split() == [str(config.sandbox_uid), str(config.sandbox_gid), str(config.sandbox_gid)]
    assert (workspace / "made.txt").stat().st_uid == config.sandbox_uid
    box.close()
    for path in (workspace / "made.txt", workspace / "sub", workspace / "sub" / "x"):
        assert (path.stat().st_uid, path.stat().st_gid) == (0, 0), path  # handed back to the owner


@pytest.mark.skipif(os.geteuid() != 0, reason="only an agent run as root switches user")
def test_as_root_a_workspace_owned_by_a_user_is_worked_on_as_that_user(tmp_path: Path) -> None:
    workspace = tmp_path / "users-workspace"
    workspace.mkdir()
    os.chown(workspace, 4242, 4242)
    with LocalSandbox(workspace, SandboxConfig(timeout_s=10)) as box:
        assert box.exec(["sh", "-c", "id -u; touch mine"]).stdout.split() == ["4242"]
    assert (workspace / "mine").stat().st_uid == 4242


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
