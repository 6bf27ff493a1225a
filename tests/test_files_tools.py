"""File tools stay inside the workspace and respect their size caps."""

from __future__ import annotations

import pytest

from tools.base import ToolContext, ToolError
from tools.files import MAX_READ_BYTES, MAX_WRITE_BYTES, list_dir, read_file, resolve_in_workspace, write_file


@pytest.fixture
def ctx(workspace):
    return ToolContext(workspace)


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "", "a\x00b"])
def test_paths_leaving_the_workspace_are_refused(workspace, path):
    with pytest.raises(ToolError):
        resolve_in_workspace(workspace, path)


def test_symlink_out_of_the_workspace_is_refused(ctx, workspace, tmp_path):
    (tmp_path / "outside.txt").write_text("secret")
    (workspace / "inner").symlink_to(tmp_path)
    with pytest.raises(ToolError, match="outside the workspace"):
        read_file.invoke(ctx, {"path": "inner/outside.txt"})
    with pytest.raises(ToolError, match="outside the workspace"):
        write_file.invoke(ctx, {"path": "inner/new.txt", "content": "x"})
    assert not (tmp_path / "new.txt").exists()


def test_write_then_read_and_list(ctx, workspace):
    assert "created" in write_file.invoke(ctx, {"path": "src/a.py", "content": "x = 1\n"})
    assert "replaced" in write_file.invoke(ctx, {"path": "src/a.py", "content": "x = 2\n"})
    assert read_file.invoke(ctx, {"path": "src/a.py"}) == "x = 2\n"
    assert "src/" in list_dir.invoke(ctx, {"path": "."})
    assert "a.py (6 bytes)" in list_dir.invoke(ctx, {"path": "src"})


def test_listing_a_file_says_it_is_a_file_and_a_link_stays_refused(ctx, workspace, tmp_path):
    (workspace / "stats.py").write_text("x = 1\n")
    with pytest.raises(ToolError, match="stats.py is a file, not a directory; read_file"):
        list_dir.invoke(ctx, {"path": "stats.py"})
    (workspace / "out").symlink_to(tmp_path)
    with pytest.raises(ToolError, match="symbolic link"):
        list_dir.invoke(ctx, {"path": "out"})


def test_size_caps(ctx, workspace):
    (workspace / "big.txt").write_text("a" * (MAX_READ_BYTES + 10))
    assert read_file.invoke(ctx, {"path": "big.txt"}).endswith(f"truncated at {MAX_READ_BYTES} bytes ...]")
    with pytest.raises(ToolError, match="limit"):
        write_file.invoke(ctx, {"path": "huge.txt", "content": "a" * (MAX_WRITE_BYTES + 1)})


def test_missing_file_and_bad_arguments_are_clear(ctx):
    with pytest.raises(ToolError, match="no such file: nope.txt"):
        read_file.invoke(ctx, {"path": "nope.txt"})
    with pytest.raises(ToolError, match="invalid arguments for read_file"):
        read_file.invoke(ctx, {"path": 3, "extra": 1})


def test_tool_schema_comes_from_signature_and_docstring():
    schema = write_file.args_model.model_json_schema()
    assert schema["required"] == ["path", "content"]
    assert "relative to the workspace" in schema["properties"]["path"]["description"]
    assert write_file.side_effects and not read_file.side_effects
    assert write_file.signature_line() == "write_file(path: str, content: str)"


def test_a_missing_file_lists_what_is_there(ctx, workspace):
    (workspace / "sales.csv").write_text("a,b\n")
    (workspace / "sub").mkdir()
    (workspace / "sub" / "notes.txt").write_text("x")
    with pytest.raises(ToolError, match=r"Files in the workspace: sales.csv, sub/notes.txt\."):
        read_file.invoke(ctx, {"path": "items.csv"})


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "café".encode("latin-1"), b"ok\x00ok"])
def test_a_binary_or_undecodable_file_is_refused_with_its_name(ctx, workspace, data):
    (workspace / "blob.dat").write_bytes(data)
    with pytest.raises(ToolError, match=r"blob\.dat is not a text file"):
        read_file.invoke(ctx, {"path": "blob.dat"})


def test_a_text_file_cut_at_the_read_limit_inside_a_character_still_reads(ctx, workspace):
    (workspace / "long.txt").write_text("a" * (MAX_READ_BYTES - 1) + "é" * 10, encoding="utf-8")
    text = read_file.invoke(ctx, {"path": "long.txt"})
    assert text.startswith("a" * 100) and "file truncated" in text and "\ufffd" not in text
