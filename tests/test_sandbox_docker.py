"""The Docker backend against a real engine. Skipped without one, except in CI (CI=true), where it fails."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_docker
from pydantic import ValidationError
from typer.testing import CliRunner

from agent.cli.sandbox import sandbox_app
from sandbox import workspace_access
from sandbox.base import SandboxConfig, python_command
from sandbox.docker import LABEL, DockerSandbox, remove_orphans
from sandbox.factory import open_sandbox
from sandbox.image import docker_client

pytestmark = pytest.mark.docker
CONFIG = SandboxConfig(timeout_s=10, memory_mb=256)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def docker_engine() -> None:
    require_docker(CONFIG.image)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("docker") / "workspace"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def box(workspace: Path) -> Iterator[DockerSandbox]:
    with DockerSandbox(workspace, CONFIG) as sandbox:
        yield sandbox


def containers_of(pid: int) -> list[str]:
    found = docker_client().containers.list(all=True, filters={"label": f"{LABEL}.pid={pid}"})
    return [c.id for c in found]


def test_runs_in_the_workspace_mounted_at_a_fixed_path(box: DockerSandbox, workspace: Path) -> None:
    result = box.exec(python_command("import os\nprint(os.getcwd(), os.environ['HOME'])\n"
                                     "open('made.txt', 'w').write('hi')"))
    assert result.ok and result.backend == "docker"
    assert result.stdout.split() == ["/workspace", "/workspace"]
    assert (workspace / "made.txt").read_text() == "hi"


def test_container_is_locked_down(box: DockerSandbox) -> None:
    attrs = docker_client().api.inspect_container(box.container.id)["HostConfig"]
    assert attrs["NetworkMode"] == "none" and attrs["ReadonlyRootfs"] is True
    assert attrs["CapDrop"] == ["ALL"] and "no-new-privileges" in attrs["SecurityOpt"]
    assert attrs["Memory"] == 256 * 1024 * 1024 and attrs["PidsLimit"] == CONFIG.pids
    status = box.exec(["cat", "/proc/self/status"]).stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert int(fields["CapEff"], 16) == 0 and fields["NoNewPrivs"].strip() == "1"
    assert fields["Uid"].split()[0] != "0" and fields["Gid"].split()[0] != "0"
    assert box.exec(["touch", "/etc/escape"]).exit_code != 0
    assert box.exec(["sh", "-c", "echo x > /tmp/scratch && cat /tmp/scratch"]).stdout == "x\n"


def test_code_runs_as_the_workspace_owner_not_root(tmp_path: Path) -> None:
    workspace = tmp_path / "owned"
    workspace.mkdir()
    if os.geteuid() == 0:
        os.chown(workspace, 1000, 1000)
    with DockerSandbox(workspace, CONFIG) as box:
        result = box.exec(["sh", "-c", "id -u; id -g; touch /workspace/mine && echo wrote"])
    owner = workspace.stat()
    assert result.stdout.split() == [str(owner.st_uid), str(owner.st_gid), "wrote"]
    assert owner.st_uid != 0


@pytest.mark.parametrize("acl", [True, False], ids=["acl", "chown-fallback"])
def test_a_root_owned_workspace_runs_code_as_an_unprivileged_user(tmp_path: Path, acl: bool,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = tmp_path / "root-owned"
    (workspace / "sub").mkdir(parents=True)
    (workspace / "sub" / "given.txt").write_text("from the host\n")
    if workspace.stat().st_uid != 0:
        pytest.skip("needs a root-owned workspace: run the tests as root")
    if not acl:  # as on a filesystem without ACLs, or a host without setfacl
        monkeypatch.setattr(workspace_access.shutil, "which", lambda name: None)
    with DockerSandbox(workspace, CONFIG) as box:
        assert box.sandbox_user.access == ("acl" if acl else "chown")
        (workspace / "later.txt").write_text("written by the agent during the run\n")
        made = box.exec(["sh", "-c", "id -u; id -g; echo more >> sub/given.txt; echo more >> later.txt; "
                                     "mkdir -p made/deeper && echo new > made/deeper/new.txt && echo wrote"])
    assert made.stdout.split() == [str(CONFIG.sandbox_uid), str(CONFIG.sandbox_gid), "wrote"], made
    # Afterwards the host owns everything again: its own files and the sandbox's.
    assert {path.stat().st_uid for path in [workspace, *workspace.rglob("*")]} == {0}
    assert (workspace / "sub" / "given.txt").read_text() == "from the host\nmore\n"
    assert (workspace / "made" / "deeper" / "new.txt").read_text() == "new\n"
    with DockerSandbox(workspace, CONFIG.model_copy(update={"warm_exec": False})) as box:  # docker exec path
        again = box.exec(["sh", "-c", "id -u; cat made/deeper/new.txt; rm later.txt && echo removed"])
    assert again.stdout.split() == [str(CONFIG.sandbox_uid), "new", "removed"], again
    shutil.rmtree(workspace / "made")  # the host can delete what the sandbox made
    assert sorted(path.name for path in workspace.rglob("*")) == ["given.txt", "sub"]


def test_handing_the_workspace_back_does_not_follow_the_sandboxs_symlinks(tmp_path: Path) -> None:
    workspace, outside = tmp_path / "workspace", tmp_path / "outside.txt"
    workspace.mkdir()
    outside.write_text("not the workspace's")
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    os.chown(outside, CONFIG.sandbox_uid, CONFIG.sandbox_gid)  # a host file the sandbox uid happens to own
    with DockerSandbox(workspace, CONFIG) as box:
        assert box.exec(["ln", "-s", str(outside), "link"]).ok
    assert outside.stat().st_uid == CONFIG.sandbox_uid  # untouched
    assert (workspace / "link").lstat().st_uid == 0


def test_the_sandbox_user_is_never_root() -> None:
    for spec in ("0", "0:1000", "1000:0", "root"):
        with pytest.raises(ValidationError):
            SandboxConfig(user=spec)
    assert workspace_access.parse_user("1000") == (1000, 1000)  # not Docker's default group 0


def test_one_container_is_reused_across_calls(box: DockerSandbox) -> None:
    box.exec(["sh", "-c", "echo kept > /tmp/state"])
    assert box.exec(["cat", "/tmp/state"]).stdout == "kept\n"


def test_a_timeout_kills_the_call_but_not_the_container(box: DockerSandbox) -> None:
    box.exec(["sh", "-c", "echo before > /tmp/before"])
    result = box.exec(["sleep", "30"], timeout_s=1)
    assert result.timed_out and result.failure == "timeout" and result.duration_s < 5
    assert box.container.reload() is None and box.container.status == "running"
    assert box.exec(["cat", "/tmp/before"]).stdout == "before\n"


def test_calls_go_through_the_warm_executor_and_it_comes_back_when_killed(box: DockerSandbox) -> None:
    assert box.exec(["true"]).ok and box._executor is not None
    killed = box.exec(["sh", "-c", "kill -9 $PPID; sleep 30"])  # $PPID: the executor
    assert killed.failure == "killed" and killed.duration_s < 10
    assert box.exec(["echo", "back"]).stdout == "back\n" and box._executor is not None


def test_an_oom_kill_is_reported_as_memory(box: DockerSandbox) -> None:
    # Shared memory is not held by the data rlimit, so this one reaches the cgroup's OOM killer.
    code = ("import mmap\nm = mmap.mmap(-1, 1 << 30, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)\n"
            "for i in range(8): m[i << 27:(i + 1) << 27] = b'y' * (1 << 27)")
    result = box.exec(python_command(code), timeout_s=20)
    assert result.failure == "memory" and result.exit_code == 137
    assert box.exec(["true"]).ok


def test_close_removes_the_container(workspace: Path) -> None:
    box = DockerSandbox(workspace, CONFIG)
    container_id = box.container.id
    box.close()
    box.close()  # idempotent
    assert container_id not in containers_of(os.getpid())


@pytest.mark.parametrize("ending", ["exit", "sigterm"])
def test_the_container_is_removed_when_the_agent_exits(workspace: Path, ending: str) -> None:
    end = "sys.exit(0)" if ending == "exit" else "os.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(30)"
    script = (f"import os, signal, sys, time\nfrom sandbox.docker import DockerSandbox\n"
              f"box = DockerSandbox({str(workspace)!r})\nprint(box.container.id, flush=True)\n{end}")
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.strip(), proc.stderr
    assert not _container_exists(proc.stdout.strip())


def test_a_container_left_by_a_killed_agent_is_removed_by_the_next_sandbox(workspace: Path) -> None:
    script = (f"import time\nfrom sandbox.docker import DockerSandbox\n"
              f"box = DockerSandbox({str(workspace)!r})\nprint(box.container.id, flush=True)\ntime.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    container_id = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _container_exists(container_id)  # SIGKILL gives no chance to clean up ...
    remove_orphans(docker_client())  # ... so the next sandbox does it
    assert not _container_exists(container_id)


def test_open_sandbox_auto_prefers_docker(workspace: Path) -> None:
    sandbox = open_sandbox("auto", workspace, CONFIG)
    try:
        assert sandbox.backend == "docker"
    finally:
        sandbox.close()


def test_cli_exec_on_docker_prints_one_json_line(workspace: Path) -> None:
    started = time.monotonic()
    result = CliRunner().invoke(sandbox_app, ["exec", "--backend", "docker", "--workspace", str(workspace),
                                              "--", "python3", "-c", "print('from docker')"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip())
    assert payload["stdout"] == "from docker\n" and payload["backend"] == "docker"
    assert time.monotonic() - started < 30


def _container_exists(container_id: str) -> bool:
    return any(c.id == container_id for c in docker_client().containers.list(all=True))
