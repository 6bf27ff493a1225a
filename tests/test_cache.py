"""`autogpt cache list|prune` against a cache laid out as the loaders lay it out, in a temporary
$AUTOGPT_CACHE (a test never prunes the real cache), and `cache list` reading the real one after a load."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.llm.block_kernels import library_name
from agent.llm.cache_index import IN_USE, PARTIAL, STALE, UNKNOWN, WRITING, cache_entries
from agent.llm.llama_engine import WEIGHTS_FORMAT
from agent.llm.loading import CACHE_VERSION, COMPLETE_FILE, ModelSource, model_identity

AUTOGPT = shutil.which("autogpt", path=os.path.dirname(sys.executable)) or "autogpt"
ENGINE = f"llama{WEIGHTS_FORMAT}"
DEAD_PID = 4_194_305  # above the largest pid Linux allows (2**22): no process has it


def write(path: Path, data: bytes | str = b"x" * 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def converted(cache: Path, gguf: Path, version: str | None = CACHE_VERSION) -> Path:
    """A models/ entry as `loading.py` writes it for `gguf`."""
    key = ModelSource(gguf.stem, gguf.parent, gguf.name).cache_key()
    marker: dict[str, Any] = {"source": str(gguf), "model": gguf.stem}
    if version is not None:
        marker["version"] = version
    folder = cache / "models" / key
    write(folder / "config.json", "{}")
    write(folder / "model.safetensors", b"w" * 1000)
    write(folder / COMPLETE_FILE, json.dumps(marker))
    return folder


@pytest.fixture
def cache(tmp_path: Path) -> dict[str, Path]:
    """A cache with one of everything: what is in use, what is stale, what is half-written, what is foreign."""
    root, sources = tmp_path / "cache", tmp_path / "gguf"
    gguf = write(sources / "tiny.gguf", b"GGUF" + os.urandom(3000))
    model = converted(root, gguf)
    hf = write(tmp_path / "my-model" / "config.json", "{}").parent
    hf_identity = model_identity("my-model", hf, "cpu", "torch.float32", ENGINE)
    write(root / "engine" / f"{hf_identity}.json", json.dumps(
        {"model": "my-model", "directory": str(hf), "device": "cpu", "dtype": "torch.float32", "engine": ENGINE,
         "version": CACHE_VERSION}))
    identity = model_identity("tiny", model, "cpu", "torch.float32", ENGINE)
    paths = {
        "model": model,
        "old model": converted(root, write(sources / "old.gguf", b"GGUF" + os.urandom(2000)), version="1"),
        "dead conversion": write(root / "models" / f"tiny-0123456789ab.tmp{DEAD_PID}" / "model.safetensors").parent,
        "live conversion": write(root / "models" / f"tiny-ba9876543210.tmp{os.getpid()}" / "x").parent,
        "engine": write(root / "engine" / f"{identity}.safetensors", b"e" * 5000),
        "hf engine": write(root / "engine" / f"{hf_identity}.safetensors", b"h" * 3000),
        "hf record": root / "engine" / f"{hf_identity}.json",
        "old engine": write(root / "engine" / "tiny-aaaaaaaaaaaa.safetensors", b"o" * 7000),
        "prompt kv": write(root / "prompt-kv" / f"{identity}.safetensors"),
        "old prompt kv": write(root / "prompt-kv" / "tiny-bbbbbbbbbbbb.safetensors"),
        "torn prompt kv": write(root / "prompt-kv" / f"{identity}.safetensors.tmp{DEAD_PID}"),
        "kernels": write(root / "kernels" / library_name(os.environ.get("CC") or "cc", "avx2")),
        "old kernels": write(root / "kernels" / "block_kernels-000000000000.so"),
        "foreign kernels": write(root / "kernels" / "low_rank-123456789abc.so"),
        "foreign prompt kv": write(root / "prompt-kv" / f"{identity}+lora-0c12b3fa1a08.safetensors"),
        "foreign file": write(root / "notes.txt"),
        "hf dir": hf,
    }
    return paths


def cli(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AUTOGPT_CACHE": str(root), "COLUMNS": "100"}
    return subprocess.run([AUTOGPT, "cache", *argv], env=env, capture_output=True, text=True, timeout=60)


def states(root: Path) -> dict[str, str]:
    listed = json.loads(cli(root, "list", "--json").stdout)
    assert listed["root"] == str(root)
    return {e["path"]: e["state"] for e in listed["entries"]}


def test_cache_list_says_what_each_entry_is_and_whether_it_is_used(cache: dict[str, Path]) -> None:
    root = cache["model"].parents[1]
    expected = {
        "model": IN_USE, "old model": STALE, "dead conversion": PARTIAL, "live conversion": WRITING,
        "engine": IN_USE, "hf engine": IN_USE, "hf record": IN_USE, "old engine": STALE, "prompt kv": IN_USE,
        "old prompt kv": STALE, "torn prompt kv": PARTIAL, "kernels": IN_USE, "old kernels": STALE,
        "foreign kernels": UNKNOWN, "foreign prompt kv": UNKNOWN, "foreign file": UNKNOWN,
    }
    assert states(root) == {str(cache[name]): state for name, state in expected.items()}
    table = cli(root, "list").stdout
    assert "tiny on cpu, float32" in table and "an older format (version 1)" in table
    entries = cache_entries(root)
    assert sum(e.size for e in entries if e.prunable) == sum(
        e.size for e in entries if str(e.path) in {str(cache[n]) for n, s in expected.items() if s in (STALE, PARTIAL)})


def test_cache_prune_removes_only_what_no_current_format_uses(cache: dict[str, Path]) -> None:
    root = cache["model"].parents[1]
    before = states(root)
    dry = cli(root, "prune", "--dry-run")
    assert dry.returncode == 0 and "would remove engine/tiny-aaaaaaaaaaaa.safetensors" in dry.stdout
    assert states(root) == before, "a dry run removes nothing"

    pruned = json.loads(cli(root, "prune", "--json").stdout)
    removed = {e["path"] for e in pruned["removed"]}
    assert removed == {p for p, s in before.items() if s in (STALE, PARTIAL)}
    assert pruned["freed_bytes"] == sum(e["bytes"] for e in pruned["removed"]) > 0
    assert all(not Path(p).exists() for p in removed)
    assert set(states(root).values()) <= {IN_USE, WRITING, UNKNOWN}
    assert cli(root, "prune").stdout.strip() == "nothing to prune"


def test_an_engine_made_from_a_model_folder_that_changed_is_stale(cache: dict[str, Path]) -> None:
    root = cache["model"].parents[1]
    write(cache["hf dir"] / "model.safetensors", b"new weights")  # the identity names the files as they were
    assert states(root)[str(cache["hf engine"])] == STALE
    shutil.rmtree(cache["hf dir"])
    listed = json.loads(cli(root, "list", "--json").stdout)["entries"]
    gone = next(e for e in listed if e["path"] == str(cache["hf engine"]))
    assert gone["state"] == STALE and "which is gone" in gone["what"]


def test_an_empty_or_missing_cache_lists_nothing(tmp_path: Path) -> None:
    result = cli(tmp_path / "none", "list")
    assert result.returncode == 0 and "is empty" in result.stdout
    assert cli(tmp_path / "none", "prune").stdout.strip() == "nothing to prune"


@pytest.mark.real_model
def test_the_loaded_default_models_entries_are_in_use(real_model: Any) -> None:
    """Read-only on the real cache: what loading the default model wrote is listed as in use."""
    from agent.llm.loading import cache_root

    identity = real_model._prompt_store.path.name.removesuffix(".safetensors").split("+lora-")[0]  # the base's
    entries = {e.path: e for e in cache_entries(cache_root())}
    engine = cache_root() / "engine" / f"{identity}.safetensors"
    assert entries[engine].state == IN_USE and "SmolLM2-135M-Instruct" in entries[engine].what
    assert entries[cache_root() / "engine" / f"{identity}.json"].state == IN_USE
    converted_dirs = [e for e in entries.values() if e.kind == "models" and e.state == IN_USE]
    assert converted_dirs, "the de-quantized default model is in use"
