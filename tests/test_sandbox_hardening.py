"""The parts the sandbox's defences are made of, each on its own: text made safe to print, opening beneath
the workspace (openat2 and the fallback walk), the workspace walk, the quota, the seccomp filter."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from agent.cli.terminal_text import printable, safe_json
from sandbox import seccomp
from sandbox.base import SandboxUnavailable
from sandbox.quota import WorkspaceQuota
from sandbox.workspace_scan import MAX_DEPTH, scan
from tools import beneath
from tools.base import ToolContext, ToolError
from tools.files import list_dir, read_file, workspace_files, workspace_parts, write_file

# -- text for the terminal ------------------------------------------------------------------------------


def test_control_characters_are_shown_as_visible_escapes() -> None:
    assert printable("a\x1b[2Kb\x1bMc\x9b1Ad\x07e\x7ff\u202eg") == "a\\x1b[2Kb\\x1bMc\\x9b1Ad\\x07e\\x7ff\\u202eg"


def test_newlines_tabs_and_crlf_line_ends_stay_and_a_lone_carriage_return_does_not() -> None:
    assert printable("one\ttwo\r\nthree\rfour\n") == "one\ttwo\nthree\\x0dfour\n"
    assert printable("naïve — 日本語 ✓") == "naïve — 日本語 ✓"


def test_json_output_escapes_c1_and_del_too_and_still_parses_to_the_same_text() -> None:
    value = {"out": "x\x1b]0;t\x07y\x85z\x7f\u202e", "plain": "é"}
    for ascii_only in (True, False):
        text = safe_json(value, ensure_ascii=ascii_only)
        assert not [c for c in text if ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c == "\u202e"]
        assert json.loads(text) == value
    assert "é" in safe_json(value, ensure_ascii=False)


# -- opening beneath the workspace ------------------------------------------------------------------------


@pytest.fixture(params=["openat2", "walk"])
def resolution(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of resolving a path: the kernel's openat2, and the O_NOFOLLOW walk used without it."""
    monkeypatch.setattr(beneath, "_fallback", request.param == "walk")
    return request.param


@pytest.fixture
def ctx(workspace: Path) -> ToolContext:
    return ToolContext(workspace)


def test_links_anywhere_in_a_path_are_refused_and_nothing_is_written_through_them(
        resolution: str, ctx: ToolContext, workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("SECRET")
    (workspace / "inner").mkdir()
    (workspace / "inner" / "up").symlink_to(outside)
    (workspace / "file-link").symlink_to(outside / "secret")
    (workspace / "dangling").symlink_to(outside / "new-file")
    (workspace / "local-link").symlink_to("inner")
    for path in ("inner/up/secret", "file-link", "local-link/x"):
        with pytest.raises(ToolError, match="symbolic link"):
            read_file.invoke(ctx, {"path": path})
    for path in ("inner/up/made", "dangling", "local-link/made"):
        with pytest.raises(ToolError, match="symbolic link"):
            write_file.invoke(ctx, {"path": path, "content": "x"})
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert "file-link (symbolic link, not followed)" in list_dir.invoke(ctx, {"path": "."})


def test_parents_are_made_and_files_replaced_beneath_the_workspace(resolution: str, ctx: ToolContext,
                                                                   workspace: Path) -> None:
    assert write_file.invoke(ctx, {"path": "a/b/c.txt", "content": "one"}).startswith("created")
    assert write_file.invoke(ctx, {"path": "a/./b/c.txt", "content": "two"}).startswith("replaced")
    assert read_file.invoke(ctx, {"path": "a/b/../b/c.txt"}) == "two"
    assert (workspace / "a" / "b" / "c.txt").read_text() == "two"
    with pytest.raises(ToolError, match="is a directory"):
        write_file.invoke(ctx, {"path": "a/b", "content": "x"})
    with pytest.raises(ToolError, match="is a directory"):
        read_file.invoke(ctx, {"path": "a"})


def test_a_fifo_or_a_hard_link_in_the_workspace_is_refused_at_once(resolution: str, ctx: ToolContext,
                                                                    workspace: Path, tmp_path: Path) -> None:
    os.mkfifo(workspace / "pipe")
    started = time.monotonic()
    with pytest.raises(ToolError, match="not a regular file"):
        read_file.invoke(ctx, {"path": "pipe"})
    with pytest.raises(ToolError, match="not a regular file"):
        write_file.invoke(ctx, {"path": "pipe", "content": "x"})
    assert time.monotonic() - started < 2  # nobody opened the other end: it must not block
    (tmp_path / "elsewhere").write_text("x")
    os.link(tmp_path / "elsewhere", workspace / "linked")
    with pytest.raises(ToolError, match="hard link"):
        read_file.invoke(ctx, {"path": "linked"})


def test_paths_are_normalised_and_never_climb_out() -> None:
    assert workspace_parts("a//b/./c") == ["a", "b", "c"]
    assert workspace_parts(".") == [] and workspace_parts("a/..") == []
    for path in ("..", "../x", "a/../../x", "/etc/passwd", "", "a\x00b"):
        with pytest.raises(ToolError):
            workspace_parts(path)


def test_the_files_hint_walks_no_links_and_stops_early(workspace: Path, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "host.txt").write_text("x")
    (workspace / "link").symlink_to(tmp_path / "outside")
    (workspace / "sub").mkdir()
    (workspace / "sub" / "a.txt").write_text("a")
    (workspace / ".hidden").write_text("h")
    assert workspace_files(workspace) == ["sub/a.txt"]


# -- the workspace walk and the quota ---------------------------------------------------------------------


def test_the_walk_counts_names_hard_links_and_stops_at_its_limits(workspace: Path, tmp_path: Path) -> None:
    for n in range(50):
        (workspace / f"{n}.txt").write_bytes(b"x" * 5000)
    (tmp_path / "outside").write_text("x")
    os.link(tmp_path / "outside", workspace / "planted")
    (workspace / "link").symlink_to(tmp_path)
    usage = scan(workspace)
    assert (usage.entries, usage.complete, usage.hard_links) == (52, True, ("planted",))
    assert usage.bytes >= 50 * 5000
    cut = scan(workspace, max_entries=10)
    assert not cut.complete and cut.entries == 11 and cut.over(1 << 30, 10)


def test_a_workspace_nested_past_the_walks_depth_counts_as_over_any_quota(workspace: Path) -> None:
    fd = os.open(workspace, os.O_RDONLY)
    for _ in range(MAX_DEPTH + 2):  # deeper than any path a name can hold, made from descriptors
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
    usage = scan(workspace)
    assert usage.too_deep and usage.over(1 << 40, 1 << 40)


def test_a_workspace_past_its_quota_or_with_a_hard_link_is_refused_before_a_sandbox_starts(
        workspace: Path, tmp_path: Path) -> None:
    (workspace / "big").write_bytes(os.urandom(2 << 20))
    with pytest.raises(SandboxUnavailable, match="more than its quota"):
        WorkspaceQuota.check_before_start(workspace, 1 << 20, 100)
    (workspace / "big").unlink()
    (tmp_path / "x").write_text("x")
    os.link(tmp_path / "x", workspace / "x")
    with pytest.raises(SandboxUnavailable, match="hard link"):
        WorkspaceQuota.check_before_start(workspace, 1 << 20, 100)


def test_the_watch_stops_a_writer_soon_after_the_workspace_passes_its_quota(workspace: Path) -> None:
    quota = WorkspaceQuota.check_before_start(workspace, 4 << 20, 1000)
    stopped = threading.Event()
    with quota.watch(stopped.set) as watch:
        for n in range(64):
            if stopped.is_set():
                break
            with open(workspace / f"{n}.bin", "wb") as f:
                f.write(os.urandom(1 << 20))
                f.flush()
                os.fsync(f.fileno())
            time.sleep(0.01)
    assert stopped.is_set() and watch.exceeded is not None and watch.exceeded.bytes > 4 << 20
    assert len(list(workspace.iterdir())) < 64
    assert "went past its quota" in quota.describe(watch.exceeded)
    for path in workspace.iterdir():
        path.unlink()
    with quota.watch(stopped.set) as calm:  # shrunk back: the next call is within the quota again
        (workspace / "small").write_text("x")
    assert calm.exceeded is None


# -- the seccomp filter -----------------------------------------------------------------------------------


def test_the_filter_compiles_to_bpf_and_to_a_docker_profile_with_the_same_rules() -> None:
    program = seccomp.bpf_program()
    assert program and len(program) % 8 == 0  # struct sock_filter[]
    profile = json.loads(seccomp.docker_profile())
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW" and profile["architectures"]
    denied = {name for rule in profile["syscalls"] if "args" not in rule for name in rule["names"]}
    assert denied == set(seccomp.DENIED) | set(seccomp.ENOSYS_CALLS)
    assert {"ptrace", "keyctl", "add_key", "request_key", "mount", "unshare", "setns", "bpf",
            "perf_event_open", "kexec_load", "init_module", "process_vm_writev"} <= denied
    conditional = [rule for rule in profile["syscalls"] if "args" in rule]
    assert {rule["names"][0] for rule in conditional} == {"clone", "ioctl"}


def test_the_program_fd_holds_the_program_for_the_sandbox_to_read() -> None:
    fd = seccomp.program_fd()
    try:
        assert os.read(fd, 1 << 16) == seccomp.bpf_program()
        assert os.get_inheritable(fd)  # passed to bwrap / the loader through exec
    finally:
        os.close(fd)
