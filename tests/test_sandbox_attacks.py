"""Escape and exhaustion attacks, run against both backends, as code the model wrote would try them.

Each attack must be contained (the host is untouched), reported clearly (the result says why it failed), and
leave the sandbox usable: every test ends by checking that the next call in the same sandbox works. After
every test the host is checked for what an attack could leave: changed kernel knobs, kernel keys of root or
of the sandbox's uid, processes left in the sandbox, files or ACLs of the sandbox's uid outside the workspace.

The agent runs as root on our machines and in CI, as an attacker would wish: that is where these matter.
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import require_docker
from sandbox_support import (
    HostState,
    RawTerminal,
    acl_uids,
    foreign_traces_outside,
    require_isolation,
    wait_for_no_leftovers,
)

from sandbox.base import ExecResult, Sandbox, SandboxConfig, SandboxUnavailable, python_command
from sandbox.factory import open_sandbox
from tools.base import ToolContext, ToolError
from tools.execute import run_python
from tools.files import read_file, write_file

CONFIG = SandboxConfig(timeout_s=10, memory_mb=256, pids=64, output_bytes=10_000)
BACKENDS = ["local", "local-cold", "local-unshare", "local-unshare-cold",
            pytest.param("docker", marks=pytest.mark.docker), pytest.param("docker-cold", marks=pytest.mark.docker)]


def _docker_or_skip() -> None:
    require_docker(CONFIG.image)


def open_box(param: str, workspace: Path, **config: object) -> Sandbox:
    """A sandbox of the kind `param` names (see `box`), with CONFIG changed by `config`."""
    backend = param.split("-")[0]
    if backend == "docker":
        _docker_or_skip()
    settings = CONFIG.model_copy(update={"warm_exec": not param.endswith("-cold"), **config})
    if "unshare" in param:
        require_isolation("unshare")
        settings.local_isolation = "unshare"
    return open_sandbox(backend, workspace, settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=BACKENDS)
def box(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One sandbox per backend, reused by every attack (as an agent run reuses its sandbox). -cold: without
    the warm executor (Docker: one `docker exec` per call; local: a fresh sandbox per call). local-unshare:
    the local backend as it runs where bubblewrap is missing."""
    workspace = tmp_path_factory.mktemp(f"attack-{request.param}") / "workspace"
    workspace.mkdir()
    sandbox = open_box(request.param, workspace)
    yield sandbox
    sandbox.close()


@pytest.fixture
def fresh_box(request: pytest.FixtureRequest, box: Sandbox) -> Iterator[Callable[..., Sandbox]]:
    """Opens more sandboxes of the current backend (own workspace, own config); all closed afterwards."""
    opened: list[Sandbox] = []

    def start(workspace: Path, **config: object) -> Sandbox:
        opened.append(open_box(request.node.callspec.params["box"], workspace, **config))
        return opened[-1]

    yield start
    for sandbox in opened:
        sandbox.close()


def _code_uid(box: Sandbox | None) -> int:
    user = getattr(box, "sandbox_user", None)
    return user.uid if user is not None else CONFIG.sandbox_uid


@pytest.fixture(autouse=True)
def host_is_left_clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each attack: the same kernel knobs and kernel keys, no process left in the sandbox, no file
    or ACL of the sandbox's uid next to its workspace."""
    sandbox = request.getfixturevalue("box") if "box" in request.fixturenames else None
    before = HostState.now(_code_uid(sandbox))
    yield
    after = HostState.now(_code_uid(sandbox))
    assert after.sysctls == before.sysctls, "a kernel knob of the host changed"
    assert after.user_keys <= before.user_keys, "kernel keys were added on the host"
    assert after.sandbox_uid_keys == before.sandbox_uid_keys, "the sandbox's uid holds new kernel keys"
    if sandbox is not None:
        assert wait_for_no_leftovers(sandbox) == set(), "processes were left in the sandbox"
        assert foreign_traces_outside(sandbox.workspace, _code_uid(sandbox)) == []


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
    result = py(box, code, timeout_s=3)
    assert result.failure == "timeout" and result.timed_out
    assert host_processes_with(marker) == []
    assert wait_for_no_leftovers(box) == set()  # (counting the host's processes would count other jobs')
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


# -- root, the kernel's knobs, its keyring --------------------------------------------------------------


def _syscall_numbers(*names: str) -> dict[str, int]:
    """This machine's numbers for system calls the C library may not wrap (for code sent to a sandbox)."""
    import pyseccomp

    return {name: pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name) for name in names}


def test_code_is_not_root_and_cannot_write_the_kernels_knobs(box: Sandbox) -> None:
    knobs = [knob for knob in ("/proc/sys/fs/lease-break-time", "/proc/sys/kernel/core_pattern",
                               "/proc/sys/kernel/modprobe") if os.path.exists(knob)]
    code = ("import os\nprint('uid', os.getuid(), os.geteuid())\n"
            f"for knob in {knobs!r}:\n"
            "    value = open(knob).read()\n"  # the same value back: on a host that lets it, nothing changes
            "    try:\n        open(knob, 'w').write(value); print('WROTE', knob)\n"
            "    except OSError as e: print('refused', knob, e.errno)")
    result = py(box, code)
    assert result.ok, result
    uid_line = result.stdout.splitlines()[0].split()
    assert uid_line[0] == "uid" and "0" not in uid_line[1:], "the sandbox's code runs as root"
    assert "WROTE" not in result.stdout
    assert result.stdout.count("refused") == len(knobs)
    assert_healthy(box)


def test_the_kernel_keyring_is_out_of_reach(box: Sandbox) -> None:
    description = f"autogpt-attack-{uuid.uuid4().hex[:12]}"
    code = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        f"n = {_syscall_numbers('add_key', 'request_key', 'keyctl')!r}\n"
        f"key = libc.syscall(n['add_key'], b'user', b'{description}', b'secret', 6, -4)\n"  # to @u
        "print('add_key', key, ctypes.get_errno())\n"
        f"found = libc.syscall(n['request_key'], b'user', b'{description}', None, 0)\n"
        "print('request_key', found, ctypes.get_errno())\n"
        "print('keyctl', libc.syscall(n['keyctl'], 0, -4, 0), ctypes.get_errno())\n"  # KEYCTL_GET_KEYRING_ID
    )
    result = py(box, code)
    assert result.ok, result
    outcome = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()}
    assert outcome == {"add_key": ["-1", str(errno.EPERM)], "request_key": ["-1", str(errno.EPERM)],
                       "keyctl": ["-1", str(errno.EPERM)]}
    assert description not in Path("/proc/keys").read_text()
    assert_healthy(box)


# -- PID 1 and the executor, which outlive the calls ---------------------------------------------------

TRACE_CODE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
targets = [1] + ([os.getppid()] if WARM else [])  # warm: the parent is the executor
for pid in targets:
    attached = libc.ptrace(16, pid, None, None)  # PTRACE_ATTACH
    print(pid, "ptrace", attached, ctypes.get_errno())
    if attached == 0:
        libc.ptrace(17, pid, None, None)  # PTRACE_DETACH
    for what in ("mem", "fd/0", "environ"):
        try:
            open(f"/proc/{pid}/{what}", "rb").close(); print(pid, what, "OPENED")
        except OSError as e:
            print(pid, what, "refused", e.errno)
    local = ctypes.create_string_buffer(8)
    iov = (ctypes.c_void_p * 2)(ctypes.addressof(local), 8)
    print(pid, "process_vm_writev", libc.process_vm_writev(pid, iov, 1, iov, 1, 0), ctypes.get_errno())
print("targets", len(targets))
"""


def test_pid_1_and_the_executor_cannot_be_traced_or_written(box: Sandbox) -> None:
    warm = box.config.warm_exec  # type: ignore[attr-defined]
    result = py(box, TRACE_CODE.replace("WARM", str(warm)))
    assert result.ok, result
    lines = result.stdout.splitlines()
    assert lines[-1] == f"targets {2 if warm else 1}", result.stdout
    assert not [line for line in lines if "OPENED" in line or line.split()[1:3] == ["ptrace", "0"]], result.stdout
    assert all(line.endswith(f"-1 {errno.EPERM}") for line in lines if "ptrace" in line or "vm_writev" in line)
    assert_healthy(box)


def test_the_seccomp_filter_denies_what_unprivileged_code_could_otherwise_do(box: Sandbox) -> None:
    numbers = _syscall_numbers("unshare", "ptrace", "io_uring_setup", "clone3", "userfaultfd", "bpf")
    code = (
        "import ctypes, subprocess, threading\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        f"n = {numbers!r}\n"
        "params = (ctypes.c_char * 120)()\n"
        "calls = {'unshare': (0x10000000,), 'ptrace': (0, 0, 0, 0), 'io_uring_setup': (4, params),\n"
        "         'clone3': (params, 88), 'userfaultfd': (0,), 'bpf': (0, params, 8)}\n"
        "for name, args in calls.items():\n"
        "    print(name, libc.syscall(n[name], *args), ctypes.get_errno())\n"
        "print('status', [l.split()[1] for l in open('/proc/self/status') if l.startswith('Seccomp:')][0])\n"
        "t = threading.Thread(target=print, args=('thread ok',)); t.start(); t.join()\n"
        "print(subprocess.run(['echo', 'child ok'], capture_output=True, text=True).stdout.strip())\n"
    )
    result = py(box, code)
    assert result.ok, result
    outcome = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()}
    for name in ("unshare", "ptrace", "io_uring_setup", "userfaultfd", "bpf"):
        assert outcome[name] == ["-1", str(errno.EPERM)], (name, result.stdout)
    assert outcome["clone3"] == ["-1", str(errno.ENOSYS)]  # so that the C library falls back to clone
    assert outcome["status"] == ["2"] and outcome["thread"] == ["ok"] and outcome["child"] == ["ok"]
    assert_healthy(box)


# -- the host's file tools against a workspace the code changes under them ----------------------------

SWAPPER = """
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
os.makedirs("race/d", exist_ok=True)
open("race/d/f", "w").write("INSIDE")
if os.path.lexists("race/l"): os.unlink("race/l")
os.symlink({outside!r}, "race/l")
open("race/ready", "w").close()
swaps, deadline = 0, time.monotonic() + {seconds}
while time.monotonic() < deadline and not os.path.exists("race/stop"):
    swaps += libc.renameat2(-100, b"race/d", -100, b"race/l", 2) == 0  # RENAME_EXCHANGE
print("swaps", swaps)
"""


def test_a_link_swapped_in_during_the_file_tools_never_leads_outside(box: Sandbox, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_text("OUTSIDE-SECRET")
    ctx = ToolContext(box.workspace)
    results: list[ExecResult] = []
    racer = threading.Thread(target=lambda: results.append(
        py(box, SWAPPER.format(outside=str(outside), seconds=8), timeout_s=15)))
    racer.start()
    ready = box.workspace / "race" / "ready"
    deadline = time.monotonic() + 10
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    reads: dict[str, int] = {}
    tries, stop_at = 0, time.monotonic() + 4
    while time.monotonic() < stop_at or tries < 2000:
        tries += 1
        for tool, args in ((read_file, {"path": "race/d/f"}),
                           (write_file, {"path": f"race/d/new-{tries}.txt", "content": "x"})):
            outcome = _attempt(tool, ctx, args)
            reads[outcome] = reads.get(outcome, 0) + 1
    (box.workspace / "race" / "stop").touch()
    racer.join()
    assert results and results[0].ok and int(results[0].stdout.split()[-1]) > 100, results
    assert "OUTSIDE-SECRET" not in reads, f"read_file returned a file outside the workspace: {reads}"
    assert sorted(p.name for p in outside.iterdir()) == ["f"], "write_file created a file outside"
    assert reads.get("refused", 0) > 0 and reads.get("INSIDE", 0) > 0, f"the race never happened: {reads}"
    py(box, "import shutil; shutil.rmtree('race')")
    assert_healthy(box)


def _attempt(tool: object, ctx: ToolContext, args: dict[str, str]) -> str:
    """What a file tool did, in a word: the text read_file returned, "created" for write_file, "refused" for
    a link it would not follow, or the start of its error."""
    try:
        text = tool.invoke(ctx, args)  # type: ignore[attr-defined]
    except ToolError as exc:
        return "refused" if "symbolic link" in str(exc) else str(exc)[:40].replace(args["path"], "PATH")
    return text.split()[0] if text.startswith(("created", "replaced")) else text


def test_a_hard_link_planted_before_the_run_is_refused(box: Sandbox, fresh_box: Callable[..., Sandbox],
                                                       tmp_path: Path) -> None:
    outside = tmp_path / "outside-secret.txt"
    outside.write_text("HOST-SECRET")
    before = outside.stat()
    workspace = tmp_path / "planted-workspace"
    workspace.mkdir()
    os.link(outside, workspace / "planted")  # a task's files may come from anywhere
    ctx = ToolContext(workspace)
    with pytest.raises(ToolError, match="hard link"):
        read_file.invoke(ctx, {"path": "planted"})
    with pytest.raises(ToolError, match="hard link"):
        write_file.invoke(ctx, {"path": "planted", "content": "overwritten"})
    with pytest.raises(SandboxUnavailable, match="hard link"):
        fresh_box(workspace)
    after = outside.stat()
    assert outside.read_text() == "HOST-SECRET"
    assert (after.st_uid, after.st_gid, after.st_mode) == (before.st_uid, before.st_gid, before.st_mode)
    assert acl_uids(outside) == set(), "an ACL was set on a file outside the workspace"
    assert_healthy(box)


# -- the workspace quota --------------------------------------------------------------------------------

FILL_BYTES = """
import os
chunk = os.urandom(1 << 20)
for n in range(256):
    with open(f"fill-{n}.bin", "wb") as f:
        f.write(chunk)
print("wrote 256 MiB")
"""
FILL_FILES = "import os\nos.makedirs('many', exist_ok=True)\nfor n in range(5000): open(f'many/{n}', 'w').close()"


def _usage(workspace: Path) -> tuple[int, int]:
    files = [p for p in workspace.rglob("*")]
    return sum(p.lstat().st_blocks * 512 for p in files), len(files)


def test_filling_the_workspace_is_stopped_at_its_quota(box: Sandbox, fresh_box: Callable[..., Sandbox],
                                                        tmp_path: Path) -> None:
    workspace = tmp_path / "quota-workspace"
    workspace.mkdir()
    sandbox = fresh_box(workspace, quota_mb=16, quota_files=300, timeout_s=30)
    result = py(sandbox, FILL_BYTES, timeout_s=30)
    assert result.failure == "quota" and not result.ok, result
    assert "went past its quota" in result.stderr and "16.0 MiB" in result.stderr
    used, _ = _usage(workspace)
    assert used < 128 << 20, "the call went on long after the quota was hit"
    ctx = ToolContext(workspace, sandbox_factory=lambda: sandbox)
    with pytest.raises(ToolError, match="disk quota"):  # what the model reads
        run_python.invoke(ctx, {"code": "open('more.bin', 'wb').write(b'x' * (4 << 20))"})
    assert py(sandbox, "import glob, os\nfor f in glob.glob('*.bin'): os.unlink(f)").ok  # deleting works
    result = py(sandbox, FILL_FILES, timeout_s=30)
    assert result.failure == "quota", result
    assert "files and folders" in result.stderr
    assert _usage(workspace)[1] < 5000
    cleaned = py(sandbox, "import shutil; shutil.rmtree('many'); print('clean')")
    assert cleaned.stdout == "clean\n", cleaned
    assert_healthy(sandbox)


def test_a_sandbox_does_not_start_on_a_workspace_past_its_quota(box: Sandbox, fresh_box: Callable[..., Sandbox],
                                                                tmp_path: Path) -> None:
    workspace = tmp_path / "full-workspace"
    workspace.mkdir()
    for n in range(30):
        (workspace / f"{n}.txt").write_text("x")
    with pytest.raises(SandboxUnavailable, match="more than its quota"):
        fresh_box(workspace, quota_files=20)


# -- escape sequences on the user's terminal --------------------------------------------------------------

ATTACKER_SEQUENCES = ["\x1b]0;PWNED\x07", "\x1bc", "\x1bM", "\x9b2J", "\u202e"]
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\r")


def _autogpt() -> str:
    import shutil
    import sys

    return shutil.which("autogpt", path=os.path.dirname(sys.executable)) or "autogpt"


def _scripted_run(tmp_path: Path, replies: list[object], *args: str) -> tuple[list[str], dict[str, str]]:
    from agent.testing import SCRIPTED_MODEL_ENV

    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    script = tmp_path / "replies.json"
    script.write_text(json.dumps(replies))
    env = {**os.environ, SCRIPTED_MODEL_ENV: str(script), "TERM": "xterm-256color", "COLUMNS": "200",
           "AUTOGPT_HOME": str(tmp_path / "home")}
    argv = [_autogpt(), "run", "print something", "--workspace", str(workspace), "--runs-dir",
            str(tmp_path / "runs"), "--sandbox", "local", *args]
    return argv, env


def _hostile_replies() -> list[object]:
    from agent.testing import act

    printed = "".join(ATTACKER_SEQUENCES)
    code = f"print({printed!r} + 'HOSTILE-OUTPUT')  # {ATTACKER_SEQUENCES[1]}\x1b[2K\x1b[1A"
    return [act("run_python", code=code), act("finish", answer="done " + printed)]


def test_escape_sequences_reach_neither_the_approval_prompt_nor_the_screen(tmp_path: Path) -> None:
    argv, env = _scripted_run(tmp_path, _hostile_replies(), "--approve")
    terminal = RawTerminal(argv, env, tmp_path)
    terminal.read_until(b"Allow run_python?")
    terminal.type("y\r")
    assert terminal.finish() == 0, terminal.raw[-2000:]
    shown = terminal.raw.decode("utf-8", errors="replace")
    for sequence in ATTACKER_SEQUENCES:  # (rich itself clears lines and moves the cursor: not those)
        assert sequence not in shown, f"{sequence!r} reached the terminal"
    visible = ANSI.sub("", shown)
    assert "\\x1bc" in visible and "\\x9b2J" in visible and "\\u202e" in visible  # shown as escapes
    assert "# \\x1bc\\x1b[2K\\x1b[1A" in visible  # the comment that would blank the approval line
    assert "HOSTILE-OUTPUT" in shown


def test_piped_and_json_output_carry_no_control_characters(tmp_path: Path) -> None:
    import subprocess

    argv, env = _scripted_run(tmp_path, _hostile_replies(), "--json")
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    for stream in (done.stdout, done.stderr):
        assert not [c for c in stream if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]
    result = json.loads(done.stdout)
    assert result["answer"] == "done " + "".join(ATTACKER_SEQUENCES)  # the data itself is intact
    assert "HOSTILE-OUTPUT" in done.stderr and "\\x1b]0;PWNED" in done.stderr


# -- the model server -------------------------------------------------------------------------------------


def _http(port: int, head: str, *, read_timeout: float = 3.0) -> tuple[int, dict[str, object], bytes]:
    """Send `head` (request line and headers, no body) and read one response: (status, JSON body, rest)."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as conn:
        conn.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        data = b""
        while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + _length(data):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        header, _, body = data.partition(b"\r\n\r\n")
        status = int(header.split()[1])
        conn.settimeout(0.5)
        try:
            rest = conn.recv(65536)  # b"": the server closed the connection
        except TimeoutError:
            rest = b"(open)"
        return status, json.loads(body[:_length(data)]), rest


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


POST = "POST /v1/chat/completions HTTP/1.1\nHost: x\nContent-Type: application/json\n"


def test_the_model_server_checks_content_length_bounds_connections_and_times_out_idle_ones() -> None:
    from agent.llm.openai_server import MAX_BODY_BYTES, ChatCompletionsServer
    from agent.testing import ScriptedModel

    server = ChatCompletionsServer(ScriptedModel([]), port=0, max_connections=2, idle_timeout=3.0,
                                   api_key="k3y").start()
    port = server.server_address[1]
    auth = "Authorization: Bearer k3y\n"
    try:
        for length, status in (("-1", 400), ("abc", 400), ("1e3", 400), (str(MAX_BODY_BYTES + 1), 413)):
            started = time.monotonic()
            code, body, rest = _http(port, f"{POST}{auth}Content-Length: {length}\n")
            assert (code, rest) == (status, b""), (length, code, body, rest)  # answered, closed, body unread
            assert body["error"]["type"] == "invalid_request_error" and time.monotonic() - started < 2
        code, body, _ = _http(port, f"{POST}{auth}")
        assert code == 411 and "Content-Length" in body["error"]["message"]
        assert _http(port, f"{POST}Authorization: Bearer k3z\nContent-Length: 5\n")[0] == 401
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        code, body, deadline = 0, {}, time.monotonic() + 3
        while code != 503 and time.monotonic() < deadline:  # once the server has taken both in
            code, body, _ = _http(port, "GET /health HTTP/1.1\nHost: x\n" + auth)
        assert code == 503 and body["error"]["type"] == "server_busy"  # a third connection is refused
        idle[0].settimeout(6)
        assert idle[0].recv(1) == b"", "an idle connection was not closed"
        time.sleep(0.3)
        assert _http(port, "GET /health HTTP/1.1\nHost: x\n" + auth)[:2] == (200, {"ok": True})
        for conn in idle:
            conn.close()
    finally:
        server.close()
