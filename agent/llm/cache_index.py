"""What the cache directory holds, entry by entry, and which entries no current format uses.

`$AUTOGPT_CACHE` (default `~/.cache/autogpt`) holds only things that can be made again:

- `models/<gguf name>-<key>/`: a GGUF file de-quantized once (`loading.py`); the key names the file's
  content and `CACHE_VERSION`, and the `complete` file inside says what it came from;
- `engine/<identity>.safetensors`: the engine's prepared weights (`llama_engine.py`), with
  `<identity>.json` saying what they were made from (model, directory, device, dtype, engine format);
- `prompt-kv/<identity>.safetensors`: the first prompt's prefilled KV (`prompt_store.py`), same identity;
- `kernels/block_kernels-<isa>-<digest>.so`: the compiled block kernels (`block_kernels.py`).

An entry is in use when the current code would read it; stale when it was made by an older format or
from weights that are gone (nothing will read it again); partial when a write never finished (a name
ending in `.tmp<pid>` of a process that is gone). Nothing here imports torch.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.llm import block_kernels, llama_engine
from agent.llm.base import ModelSetupError
from agent.llm.loading import (
    CACHE_VERSION,
    COMPLETE_FILE,
    DEFAULT_MODEL,
    ModelSource,
    cache_root,
    model_identity,
    resolve_model,
)

IN_USE, STALE, PARTIAL, WRITING, UNKNOWN = "in use", "stale", "partial", "writing", "unknown"
PRUNABLE = (STALE, PARTIAL)
TMP_NAME = re.compile(r"\.tmp(\d+)$")
# The names this version writes; anything else (a format of a newer version, say) is left alone.
KEYED_NAME = re.compile(r"^[^+/]+-[0-9a-f]{12}$")  # a model's cache key, a model identity
KERNEL_NAME = re.compile(r"^block_kernels-(avx2-|avx512-)?[0-9a-f]{12}\.so$")
DEVICES = ("cpu", "cuda")
DTYPES = ("torch.float32", "torch.bfloat16", "torch.float16")


@dataclass(frozen=True)
class CacheEntry:
    kind: str  # models, engine, prompt-kv, kernels, or the folder an unknown file is in
    path: Path
    size: int  # bytes
    state: str
    what: str  # what it is, or why it is stale, in a few words

    @property
    def prunable(self) -> bool:
        return self.state in PRUNABLE

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.path.name, "path": str(self.path), "bytes": self.size,
                "state": self.state, "what": self.what, "prunable": self.prunable}


def cache_entries(root: Path | None = None) -> list[CacheEntry]:
    """Every entry under the cache root, biggest first."""
    root = root or cache_root()
    if not root.is_dir():
        return []
    models = [_model_entry(p) for p in _children(root / "models")]
    identities = _identities([e for e in models if e.state == IN_USE])
    entries = [*models, *_identity_entries(root, identities), *_kernel_entries(root / "kernels")]
    known = {"models", "engine", "prompt-kv", "kernels"}
    entries += [CacheEntry(root.name, p, _size(p), UNKNOWN, "not made by this version") for p in _children(root)
                if p.name not in known]
    return sorted(entries, key=lambda e: e.size, reverse=True)


def prune(entries: list[CacheEntry]) -> list[CacheEntry]:
    """Delete the prunable entries; returns those that were deleted."""
    removed = []
    for entry in entries:
        if not entry.prunable:
            continue
        try:
            shutil.rmtree(entry.path) if entry.path.is_dir() and not entry.path.is_symlink() else entry.path.unlink()
        except FileNotFoundError:
            pass  # another prune got there first
        removed.append(entry)
    return removed


# -- models/: de-quantized GGUF files -------------------------------------------------------------------

def _model_entry(path: Path) -> CacheEntry:
    size = _size(path)
    if (partial := _unfinished(path)) is not None:
        return CacheEntry("models", path, size, partial, "a conversion that never finished")
    if not KEYED_NAME.match(path.name):
        return CacheEntry("models", path, size, UNKNOWN, "not a format this version knows (kept)")
    marker = _json(path / COMPLETE_FILE)
    if marker is None:
        return CacheEntry("models", path, size, PARTIAL, "a conversion without its `complete` marker")
    what = f"{marker.get('model') or path.name.rsplit('-', 1)[0]}, de-quantized from {marker.get('source', '?')}"
    if "version" in marker:
        current = str(marker["version"]) == CACHE_VERSION
        return CacheEntry("models", path, size, IN_USE if current else STALE,
                          what if current else f"an older format (version {marker['version']})")
    return _unversioned_model(path, size, marker, what)


def _unversioned_model(path: Path, size: int, marker: dict[str, Any], what: str) -> CacheEntry:
    """A conversion from before the marker carried a version: current when the key still names its GGUF."""
    sources = [Path(marker["source"])] if marker.get("source") else []
    try:
        default = resolve_model(DEFAULT_MODEL)
        sources.append(default.directory / str(default.gguf_file))
    except ModelSetupError:
        pass
    existing = [s for s in sources if s.is_file()]
    if any(ModelSource(s.stem, s.parent, s.name).cache_key() == path.name for s in existing):
        return CacheEntry("models", path, size, IN_USE, what)
    if marker.get("source") and Path(marker["source"]).is_file():
        return CacheEntry("models", path, size, STALE, "an older format (its GGUF has another key now)")
    return CacheEntry("models", path, size, UNKNOWN, f"{what} (that file is gone; kept)")


# -- engine/ and prompt-kv/: files named by a model identity ------------------------------------------------

def _identities(models: list[CacheEntry]) -> dict[str, str]:
    """identity -> what it is, for every identity the in-use conversions can load as now."""
    found = {}
    engines = (f"llama{llama_engine.WEIGHTS_FORMAT}", "hf")
    for entry in models:
        names = {entry.path.name.rsplit("-", 1)[0], (_json(entry.path / COMPLETE_FILE) or {}).get("model")}
        for name in filter(None, names):
            for device in DEVICES:
                for dtype in DTYPES:
                    for engine in engines:
                        identity = model_identity(name, entry.path, device, dtype, engine)
                        found[identity] = _describe(name, device, dtype, engine)
    return found


def _identity_entries(root: Path, identities: dict[str, str]) -> list[CacheEntry]:
    entries = []
    for kind in ("engine", "prompt-kv"):
        for path in _children(root / kind):
            state, what = _unfinished(path), "a write that never finished"
            identity = path.name.removesuffix(".json").removesuffix(".safetensors")
            if state is None and not KEYED_NAME.match(identity):
                state, what = UNKNOWN, "not a format this version knows (kept)"
            elif state is None:
                state, what = _identity_state(root, identity, identities)
                what = f"what {identity} was made from" if path.suffix == ".json" else what
            entries.append(CacheEntry(kind, path, _size(path), state, what))
    return entries


def _identity_state(root: Path, identity: str, identities: dict[str, str]) -> tuple[str, str]:
    if identity in identities:
        return IN_USE, identities[identity]
    record = _json(root / "engine" / f"{identity}.json")
    if record is None:
        return STALE, "made by an older version, or from weights no longer in the cache"
    directory = Path(record.get("directory", ""))
    if not directory.is_dir():
        return STALE, f"made from {directory}, which is gone"
    current = (str(record.get("version")) == CACHE_VERSION and record.get("engine") in
               (f"llama{llama_engine.WEIGHTS_FORMAT}", "hf"))
    if current and model_identity(record["model"], directory, record["device"], record["dtype"],
                                  record["engine"]) == identity:
        return IN_USE, _describe(record["model"], record["device"], record["dtype"], record["engine"])
    return STALE, f"made from {directory} as it was before, or in an older format"


def _describe(name: str, device: str, dtype: str, engine: str) -> str:
    return f"{name} on {device}, {dtype.removeprefix('torch.')}, {engine} engine"


# -- kernels/ ------------------------------------------------------------------------------------------------

def _kernel_entries(folder: Path) -> list[CacheEntry]:
    compiler = os.environ.get("CC") or "cc"
    current = {block_kernels.library_name(compiler, isa) for isa in block_kernels.ISA_FLAGS}
    entries = []
    for path in _children(folder):
        if (partial := _unfinished(path)) is not None:
            entries.append(CacheEntry("kernels", path, _size(path), partial, "a compile that never finished"))
        elif path.name in current:
            entries.append(CacheEntry("kernels", path, _size(path), IN_USE, "block kernels, compiled"))
        elif not KERNEL_NAME.match(path.name):
            entries.append(CacheEntry("kernels", path, _size(path), UNKNOWN, "not a format this version knows "
                                      "(kept)"))
        else:
            entries.append(CacheEntry("kernels", path, _size(path), STALE, "block kernels of an older source, "
                                      "compiler or flags"))
    return entries


# -- files -------------------------------------------------------------------------------------------------

def _unfinished(path: Path) -> str | None:
    """PARTIAL for a temporary name of a process that is gone, WRITING while it lives, None otherwise."""
    match = TMP_NAME.search(path.name)
    if match is None:
        return None
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return PARTIAL
    except PermissionError:
        return WRITING
    return WRITING


def _children(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    total = 0
    for folder, _, files in os.walk(path):
        total += sum(os.lstat(os.path.join(folder, f)).st_size for f in files)
    return total


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
