"""File tools, confined to the run's workspace.

Code in the sandbox shares the workspace with these tools and may change it while they run, so every path
is opened beneath a descriptor of the workspace in one step, through no symbolic link (tools/beneath.py),
and what was opened is checked on its descriptor, never again by name: only regular files with a single
name (a hard link may be a file from outside the workspace), never a FIFO or a device.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import os
import posixpath
import stat
from collections.abc import Iterator
from pathlib import Path

from tools.base import ToolContext, ToolError, tool
from tools.beneath import LinkRefused, open_beneath, walk_files

MAX_READ_BYTES = 200_000
MAX_WRITE_BYTES = 1_000_000
MAX_LIST_ENTRIES = 200
HINT_FILES = 20
HINT_SCAN_ENTRIES = 20_000  # entries a "files in the workspace" hint looks at, at most
# Non-blocking, so that a FIFO planted in the workspace cannot hang a tool in open().
READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK
WRITE_FLAGS = os.O_WRONLY | os.O_NONBLOCK


def workspace_parts(path: str) -> list[str]:
    """The components of a workspace-relative path (empty for the workspace itself); refuses anything else."""
    if not path or "\x00" in path:
        raise ToolError("path is empty or contains a NUL byte")
    if path.startswith("/"):
        raise ToolError(f"absolute paths are not allowed ({path}); use a path relative to the workspace")
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        raise ToolError(f"path {path!r} is outside the workspace; only files inside it can be used")
    return [] if normal == "." else normal.split("/")


@contextlib.contextmanager
def opened(workspace: Path, path: str, flags: int, *, make_parents: bool = False) -> Iterator[int]:
    """A descriptor for `path` beneath the workspace (see the module's docstring); ToolError when refused."""
    parts = workspace_parts(path)
    root = os.open(workspace, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = open_beneath(root, parts, flags, make_parents=make_parents)
    except LinkRefused:
        raise ToolError(f"path {path!r} goes through a symbolic link (or a file); the file tools follow no "
                        "links, since one could lead outside the workspace") from None
    finally:
        os.close(root)
    try:
        yield fd
    finally:
        os.close(fd)


def check_single_file(fd: int, path: str) -> os.stat_result:
    """The opened file's stat, if it is a regular file with no other name; else ToolError."""
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        raise ToolError(f"{path} is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise ToolError(f"{path} is not a regular file")
    if info.st_nlink > 1:
        raise ToolError(f"{path} has more than one hard link (it may be a file from outside the workspace); "
                        "the file tools refuse it")
    return info


def read_workspace_bytes(workspace: Path, path: str, limit: int) -> bytes | None:
    """Up to `limit` bytes of a workspace file; None when it does not exist. ToolError when refused."""
    try:
        with opened(workspace, path, READ_FLAGS) as fd:
            check_single_file(fd, path)
            chunks, left = [], limit
            while left > 0 and (chunk := os.read(fd, min(left, 1 << 16))):
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ToolError(f"{path} is a directory") from None


def resolve_in_workspace(workspace: Path, path: str) -> Path:
    """The path of `path` inside `workspace`, for tools that open it by name later; refuses paths that leave
    the workspace or go through a symbolic link now (the file tools above do not rely on this: they open
    beneath the workspace in one step)."""
    parts = workspace_parts(path)
    root = workspace.resolve()
    if parts[:-1]:
        with contextlib.suppress(FileNotFoundError), opened(root, "/".join(parts[:-1]),
                                                            os.O_PATH | os.O_DIRECTORY):
            pass
    target = root.joinpath(*parts)
    if target.is_symlink():
        raise ToolError(f"path {path!r} is a symbolic link; the file tools follow no links, since one could "
                        "lead outside the workspace")
    return target


@tool()
def read_file(ctx: ToolContext, path: str) -> str:
    """Read a text file from the workspace.

    Args:
        path: file path relative to the workspace
    """
    data = read_workspace_bytes(ctx.workspace, path, MAX_READ_BYTES + 1)
    if data is None:
        raise ToolError(f"no such file: {path}. {workspace_files_hint(ctx.workspace)}")
    text = text_of(data[:MAX_READ_BYTES], path, cut=len(data) > MAX_READ_BYTES)
    if len(data) > MAX_READ_BYTES:
        text += f"\n[... file truncated at {MAX_READ_BYTES} bytes ...]"
    return text


def text_of(data: bytes, name: str, cut: bool = False) -> str:
    """`data` as UTF-8 text (`cut`: it may end inside a character); ToolError naming the file otherwise."""
    try:
        if b"\x00" in data:
            raise UnicodeDecodeError("utf-8", data, data.index(b"\x00"), len(data), "a NUL byte")
        return codecs.getincrementaldecoder("utf-8")().decode(data, final=not cut)
    except UnicodeDecodeError as exc:
        raise ToolError(f"{name} is not a text file (binary data, or not UTF-8, from byte {exc.start})") from None


def read_text_file(path: Path) -> str:
    """A whole file as text; ToolError naming it when it is binary or not UTF-8."""
    return text_of(path.read_bytes(), path.name)


@tool()
def list_dir(ctx: ToolContext, path: str = ".") -> str:
    """List the files and folders in a workspace directory.

    Args:
        path: directory relative to the workspace, "." for the top
    """
    try:
        with opened(ctx.workspace, path, os.O_RDONLY | os.O_DIRECTORY) as fd, os.scandir(fd) as found:
            entries = sorted(found, key=lambda e: e.name)
            lines = [_list_line(e) for e in entries[:MAX_LIST_ENTRIES] if not e.name.startswith(".autogpt")]
    except (FileNotFoundError, NotADirectoryError):
        raise ToolError(f"no such directory: {path}") from None
    except ToolError:
        if _is_regular_file(ctx.workspace, path):
            raise ToolError(f"{path} is a file, not a directory; read_file shows what it holds") from None
        raise
    if len(entries) > MAX_LIST_ENTRIES:
        lines.append(f"[... {len(entries) - MAX_LIST_ENTRIES} more entries ...]")
    return "\n".join(lines) if lines else "(empty directory)"


def _is_regular_file(workspace: Path, path: str) -> bool:
    try:
        with opened(workspace, path, READ_FLAGS) as fd:
            return stat.S_ISREG(os.fstat(fd).st_mode)
    except (ToolError, OSError):
        return False


def _list_line(entry: os.DirEntry[str]) -> str:
    try:
        info = entry.stat(follow_symlinks=False)
    except OSError:
        return f"{entry.name} (gone)"
    if stat.S_ISDIR(info.st_mode):
        return f"{entry.name}/"
    if stat.S_ISLNK(info.st_mode):
        return f"{entry.name} (symbolic link, not followed)"
    return f"{entry.name} ({info.st_size} bytes)"


@tool(side_effects=True, body="content")
def write_file(ctx: ToolContext, path: str, content: str) -> str:
    """Create or replace a text file in the workspace with the given content.

    Args:
        path: file path relative to the workspace
        content: the full new text of the file
    """
    encoded = content.encode("utf-8")
    if len(encoded) > MAX_WRITE_BYTES:
        raise ToolError(f"content is {len(encoded)} bytes; the limit is {MAX_WRITE_BYTES}")
    done = write_workspace_bytes(ctx.workspace, path, encoded)
    return f"{done} {path} ({len(encoded)} bytes)"


def write_workspace_bytes(workspace: Path, path: str, data: bytes) -> str:
    """Create or replace a workspace file, opened beneath the workspace in one step (folders made as needed);
    "created" or "replaced". ToolError when refused: a directory, a link, a second hard link, not a file."""
    if not workspace_parts(path):
        raise ToolError(f"{path} is a directory")
    try:
        with opened(workspace, path, WRITE_FLAGS | os.O_CREAT | os.O_EXCL, make_parents=True) as fd:
            _write_all(fd, data)
        return "created"
    except FileExistsError:
        pass
    except IsADirectoryError:
        raise ToolError(f"{path} is a directory") from None
    try:
        with opened(workspace, path, WRITE_FLAGS) as fd:
            check_single_file(fd, path)
            os.ftruncate(fd, 0)
            _write_all(fd, data)
    except IsADirectoryError:
        raise ToolError(f"{path} is a directory") from None
    except OSError as exc:
        if exc.errno != errno.ENXIO:  # a FIFO with no reader (O_NONBLOCK)
            raise
        raise ToolError(f"{path} is not a regular file") from None
    return "replaced"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def workspace_files(workspace: Path, limit: int = HINT_FILES) -> list[str]:
    """Up to `limit` of the workspace's files (hidden ones left out), sorted; "... and N more" if cut."""
    root = os.open(workspace, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        files = sorted(p for p in walk_files(root, HINT_SCAN_ENTRIES)
                       if not any(part.startswith(".") for part in p.split("/")))
    finally:
        os.close(root)
    return files[:limit] + ([f"... and {len(files) - limit} more"] if len(files) > limit else [])


def workspace_files_hint(workspace: Path) -> str:
    """A short list of the workspace's files, for an observation about a file that is not there."""
    files = workspace_files(workspace)
    return "Files in the workspace: " + ", ".join(files) + "." if files else "The workspace has no files."
