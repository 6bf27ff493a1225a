"""LoRA adapters at run time: reading an adapter directory, checking it belongs to the base model, and the
base's weights with the adapter merged in (for the engines that multiply float matrices).

An adapter directory is what `autogpt tune` writes: peft's `adapter_config.json` and `adapter_model.safetensors`,
plus `autogpt-adapter.json`, which names the base model (its name and a fingerprint of its weights) and how the
adapter was trained. Where the block kernels run (CPU, float32), the adapter is not merged but runs beside
them (`agent.llm.low_rank`): merged weights are no longer the GGUF's blocks. docs/tuning.md compares the two.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.llm.base import ModelSetupError

METADATA_FILE = "autogpt-adapter.json"
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
MERGE_VERSION = "1"  # names the merged checkpoint's recipe: bump when merging or rounding changes
SHIPPED = Path(__file__).with_name("adapters") / "smollm2-135m"  # the tuned default for SmolLM2-135M-Instruct
_PEFT_PREFIX = "base_model.model."


@dataclass(frozen=True)
class Adapter:
    """A LoRA adapter read from `directory`: which base it belongs to and how its weights scale."""

    directory: Path
    name: str
    base_name: str
    base_fingerprint: str
    rank: int
    scale: float  # lora_alpha / rank (or / sqrt(rank) with rsLoRA)

    def digest(self) -> str:
        """Names the adapter's content (config and weights), for caches derived from it."""
        h = hashlib.sha256(MERGE_VERSION.encode())
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            with (self.directory / name).open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        return h.hexdigest()[:12]


def adapter_for(spec: str, directory: Path | None) -> Adapter | None:
    """The adapter a model spec runs with: `directory` when given, else the shipped one for `default`."""
    from agent.llm.loading import DEFAULT_MODEL

    if directory is not None:
        return read_adapter(directory)
    return shipped_adapter() if spec == DEFAULT_MODEL else None


def shipped_adapter() -> Adapter | None:
    """The tuned default's adapter, when this installation has one."""
    return read_adapter(SHIPPED) if (SHIPPED / WEIGHTS_FILE).is_file() else None


def read_adapter(directory: Path) -> Adapter:
    """The adapter in `directory`, or a ModelSetupError that says what is wrong with it."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise ModelSetupError(f"adapter {directory} is not a directory (give the folder `autogpt tune --out` wrote)")
    missing = [n for n in (METADATA_FILE, CONFIG_FILE, WEIGHTS_FILE) if not (directory / n).is_file()]
    if missing:
        raise ModelSetupError(f"adapter {directory} lacks {', '.join(missing)}: is it a folder `autogpt tune` "
                              "wrote?")
    try:
        meta = json.loads((directory / METADATA_FILE).read_text())
        config = json.loads((directory / CONFIG_FILE).read_text())
        base = meta["base"]
        rank, alpha = int(config["r"]), float(config["lora_alpha"])
        base_name, fingerprint = str(base["name"]), str(base["fingerprint"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelSetupError(f"adapter {directory} has an unreadable {METADATA_FILE} or {CONFIG_FILE}: "
                              f"{exc}") from exc
    unsupported = [k for k in ("use_dora", "rank_pattern", "alpha_pattern", "fan_in_fan_out") if config.get(k)]
    if config.get("peft_type", "LORA") != "LORA" or unsupported:
        raise ModelSetupError(f"adapter {directory} uses {unsupported or config.get('peft_type')}, which cannot "
                              "be merged here; only plain LoRA adapters are supported")
    scale = alpha / (rank ** 0.5 if config.get("use_rslora") else rank)
    return Adapter(directory, str(meta.get("name") or directory.name), base_name, fingerprint, rank, scale)


def base_fingerprint(directory: Path) -> str:
    """Names a base model's weights: its shape and samples of its first and last matrices (a few ms, memory-mapped).

    Computed on the float checkpoint both training and loading read, so a model from a GGUF file and its
    de-quantized cache have the same fingerprint."""
    from agent.llm.weights import SafetensorsFile, checkpoint_files

    files = checkpoint_files(directory)
    if files is None:
        raise ModelSetupError(f"model {directory} has no safetensors weights; an adapter cannot be checked "
                              "against it")
    config = json.loads((directory / "config.json").read_text())
    shape = {k: config.get(k) for k in ("model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
                                         "num_attention_heads", "num_key_value_heads", "vocab_size")}
    h = hashlib.sha256(json.dumps(shape, sort_keys=True).encode())
    tensors = {name: f for f in map(SafetensorsFile, files) for name in f.entries}
    last = int(config.get("num_hidden_layers", 1)) - 1
    for name in ("model.embed_tokens.weight", f"model.layers.{last}.mlp.down_proj.weight"):
        if name in tensors:
            h.update(tensors[name].tensor(name).flatten()[:4096].numpy().tobytes())
    return h.hexdigest()[:16]


def check_base(adapter: Adapter, base_directory: Path, base_name: str) -> None:
    """Refuse an adapter trained on another model (its weights would be noise here)."""
    if base_fingerprint(base_directory) != adapter.base_fingerprint:
        raise ModelSetupError(f"adapter {adapter.directory} was trained for {adapter.base_name}, not for "
                              f"{base_name}; use it with that model, or train one for this model with "
                              "`autogpt tune`")


def merged_checkpoint(base_directory: Path, adapter: Adapter, cache_root: Path) -> Path:
    """A checkpoint directory of the base with the adapter merged in (float32), built once under `cache_root`:
    for the engines without the block kernels (CUDA, bfloat16, other architectures)."""
    key = hashlib.sha256(f"{base_directory.resolve()}|{adapter.digest()}".encode()).hexdigest()[:12]
    target = cache_root / f"{base_directory.name}+lora-{key}"
    if (target / "complete").is_file():
        return target
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        _write_merged(base_directory, adapter, tmp)
        (tmp / "complete").write_text(json.dumps({"base": str(base_directory), "adapter": str(adapter.directory)}))
        os.replace(tmp, target)
    except FileExistsError:
        pass  # another process finished first; theirs is the same
    except OSError as exc:
        raise ModelSetupError(f"cannot write the merged model under {cache_root}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _write_merged(base_directory: Path, adapter: Adapter, out: Path) -> None:
    from safetensors.torch import save_file

    from agent.llm.weights import SafetensorsFile, checkpoint_files

    files = checkpoint_files(base_directory)
    if files is None:
        raise ModelSetupError(f"model {base_directory} has no safetensors weights to merge an adapter into")
    deltas = low_rank_pairs(adapter)
    merged: dict[str, Any] = {}
    for stored in map(SafetensorsFile, files):
        for name in stored.entries:
            weight = stored.tensor(name)
            if name in deltas:
                weight = merge_matrix(weight, *deltas.pop(name), adapter.scale)
            merged[name] = weight.contiguous()
    if deltas:
        raise ModelSetupError(f"adapter {adapter.directory} changes weights the model lacks "
                              f"({', '.join(sorted(deltas)[:3])}): it belongs to another model")
    save_file(merged, str(out / "model.safetensors"), metadata={"format": "pt"})
    for item in base_directory.iterdir():
        if item.is_file() and item.suffix != ".safetensors" and item.name not in ("complete",) \
                and not item.name.startswith("model.safetensors"):
            shutil.copy2(item, out / item.name)


def low_rank_pairs(adapter: Adapter) -> dict[str, tuple[Any, Any]]:
    """{base weight name: (A [r, in], B [out, r])} from the adapter's peft weights."""
    from safetensors.torch import load_file

    pairs: dict[str, dict[str, Any]] = {}
    for key, tensor in load_file(str(adapter.directory / WEIGHTS_FILE)).items():
        for part in ("lora_A", "lora_B"):
            marker = f".{part}."
            if marker in key:
                module = key.split(marker)[0].removeprefix(_PEFT_PREFIX)
                pairs.setdefault(f"{module}.weight", {})[part] = tensor.float()
    incomplete = [n for n, p in pairs.items() if len(p) != 2]
    if incomplete or not pairs:
        raise ModelSetupError(f"adapter {adapter.directory} has no complete LoRA weights"
                              + (f" ({incomplete[0]})" if incomplete else ""))
    return {name: (p["lora_A"], p["lora_B"]) for name, p in pairs.items()}


def merge_matrix(weight: Any, a: Any, b: Any, scale: float) -> Any:
    """weight + scale * B A, computed in float32, in the weight's dtype."""
    return (weight.float() + scale * (b.float() @ a.float())).to(weight.dtype)
