"""File tools, confined to the run's workspace."""

from __future__ import annotations

from pathlib import Path

from tools.base import ToolContext, ToolError, tool

MAX_READ_BYTES = 200_000
MAX_WRITE_BYTES = 1_000_000
MAX_LIST_ENTRIES = 200
HINT_FILES = 20


def resolve_in_workspace(workspace: Path, path: str) -> Path:
    """The real path of `path` inside `workspace`; refuses anything that would leave it."""
    if not path or "\x00" in path:
        raise ToolError("path is empty or contains a NUL byte")
    candidate = Path(path)
    if candidate.is_absolute():
        raise ToolError(f"absolute paths are not allowed ({path}); use a path relative to the workspace")
    root = workspace.resolve()
    resolved = (root / candidate).resolve()  # follows symlinks, so a link pointing outside is caught too
    if resolved != root and root not in resolved.parents:
        raise ToolError(f"path {path!r} is outside the workspace; only files inside it can be used")
    return resolved


@tool()
def read_file(ctx: ToolContext, path: str) -> str:
    """Read a text file from the workspace.

    Args:
        path: file path relative to the workspace
    """
    target = resolve_in_workspace(ctx.workspace, path)
    if not target.is_file():
        raise ToolError(f"no such file: {path}. {workspace_files_hint(ctx.workspace)}")
    data = target.read_bytes()[: MAX_READ_BYTES + 1]
    text = data[:MAX_READ_BYTES].decode("utf-8", errors="replace")
    if len(data) > MAX_READ_BYTES:
        text += f"\n[... file truncated at {MAX_READ_BYTES} bytes ...]"
    return text


@tool()
def list_dir(ctx: ToolContext, path: str = ".") -> str:
    """List the files and folders in a workspace directory.

    Args:
        path: directory relative to the workspace, "." for the top
    """
    target = resolve_in_workspace(ctx.workspace, path)
    if not target.is_dir():
        raise ToolError(f"no such directory: {path}")
    entries = sorted(target.iterdir(), key=lambda p: p.name)
    lines = [f"{p.name}/" if p.is_dir() else f"{p.name} ({p.stat().st_size} bytes)"
             for p in entries[:MAX_LIST_ENTRIES] if not p.name.startswith(".autogpt")]
    if len(entries) > MAX_LIST_ENTRIES:
        lines.append(f"[... {len(entries) - MAX_LIST_ENTRIES} more entries ...]")
    return "\n".join(lines) if lines else "(empty directory)"


@tool(side_effects=True, body="content")
def write_file(ctx: ToolContext, path: str, content: str) -> str:
    """Create or replace a text file in the workspace with the given content.

    Args:
        path: file path relative to the workspace
        content: the full new text of the file
    """
    target = resolve_in_workspace(ctx.workspace, path)
    encoded = content.encode("utf-8")
    if len(encoded) > MAX_WRITE_BYTES:
        raise ToolError(f"content is {len(encoded)} bytes; the limit is {MAX_WRITE_BYTES}")
    if target.is_dir():
        raise ToolError(f"{path} is a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    existed = target.exists()
    target.write_bytes(encoded)
    return f"{'replaced' if existed else 'created'} {path} ({len(encoded)} bytes)"


def workspace_files(workspace: Path, limit: int = HINT_FILES) -> list[str]:
    """Up to `limit` of the workspace's files (hidden ones left out), sorted; "... and N more" if cut."""
    files = sorted(str(p.relative_to(workspace)) for p in workspace.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(workspace).parts))
    return files[:limit] + ([f"... and {len(files) - limit} more"] if len(files) > limit else [])


def workspace_files_hint(workspace: Path) -> str:
    """A short list of the workspace's files, for an observation about a file that is not there."""
    files = workspace_files(workspace)
    return "Files in the workspace: " + ", ".join(files) + "." if files else "The workspace has no files."
