"""LoRA (peft) on a local model, trained on chat trajectories with loss on the trained messages only.

`train(...)` is a generator of events (started, one per step with loss and tokens/s, checkpoints, finished):
the command line prints them, tests read them. Every `checkpoint_every` steps the adapter, the optimizer and
the random state are written to OUT/checkpoint, so a killed run continues with `resume=True` exactly where
the checkpoint left it (same batches, same result as a run never stopped). The finished adapter directory
holds peft's files and `autogpt-adapter.json` (the base model's fingerprint, the settings, the loss history),
which `agent.llm.lora` reads at run time.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent.llm import lora
from agent.tune.encoding import IGNORED, EncodedData, epoch_batches
from agent.tune.shared_prefix import shared_prefix_length, shared_prefix_loss

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
CHECKPOINT = "checkpoint"
METADATA_FORMAT = 1


class TuneError(Exception):
    """Training cannot start or continue; the message says what the user can do."""


@dataclass(frozen=True)
class TuneSettings:
    epochs: int = 2
    rank: int = 16
    alpha: int = 32  # LoRA's scale is alpha / rank
    dropout: float = 0.05
    learning_rate: float = 3e-4
    batch_size: int = 8
    max_tokens: int = 512  # longer examples are skipped (and counted)
    seed: int = 0
    checkpoint_every: int = 25  # steps
    targets: tuple[str, ...] = TARGETS

    def identity(self) -> dict[str, Any]:
        """What a resumed run must share with the checkpoint (not how often it is saved)."""
        return {k: v for k, v in asdict(self).items() if k != "checkpoint_every"}


@dataclass(frozen=True)
class BaseCheckpoint:
    """The model being tuned: its name, the directory of its float weights, and its fingerprint."""

    name: str
    directory: Path
    spec: str = ""  # as given on the command line, recorded in the adapter's metadata


@dataclass(frozen=True)
class TuneStarted:
    examples: int
    skipped: int
    tokens: int
    trained_tokens: int
    steps: int
    first_step: int  # > 0 when resumed from a checkpoint
    parameters: int  # trainable
    device: str
    kind: Literal["started"] = "started"


@dataclass(frozen=True)
class TuneStep:
    step: int  # 1-based
    steps: int
    epoch: int  # 1-based
    loss: float
    learning_rate: float
    tokens: int  # in this step's batch (padding not counted)
    seconds: float  # this step's
    kind: Literal["step"] = "step"

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class CheckpointSaved:
    step: int
    path: Path
    kind: Literal["checkpoint"] = "checkpoint"


@dataclass(frozen=True)
class TuneSummary:
    examples: int
    skipped: int
    tokens: int  # per epoch
    trained_tokens: int  # per epoch
    epochs: int
    steps: int
    seconds: float  # of this process's training (a resumed run counts its own part)
    tokens_per_second: float
    final_loss: float
    device: str
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss) for every step


@dataclass(frozen=True)
class TuneFinished:
    adapter: Path
    summary: TuneSummary
    kind: Literal["finished"] = "finished"


TuneEvent = TuneStarted | TuneStep | CheckpointSaved | TuneFinished


def train(data: EncodedData, base: BaseCheckpoint, out: Path, settings: TuneSettings = TuneSettings(),
          device: str = "auto", resume: bool = False, pad_id: int = 0,
          start_from: lora.Adapter | None = None) -> Iterator[TuneEvent]:
    """Train a LoRA adapter of `base` on `data` and write it to `out` (see the module's docstring).

    `start_from`: an adapter of the same base and rank whose weights the training starts from (tuning it
    further on new data) instead of a fresh initialization."""
    import torch

    if not data.examples:
        raise TuneError("no training examples (none had a trained message that fits in "
                        f"{settings.max_tokens} tokens)")
    device = _pick_device(device)
    _set_threads(device)
    fingerprint = lora.base_fingerprint(base.directory)
    started_from = None
    if start_from is not None:
        _check_start(start_from, fingerprint, settings)
        started_from = {"name": start_from.name, "digest": start_from.digest()}
    identity = json.loads(json.dumps({"settings": settings.identity(), "data": data.fingerprint(),
                                      "base": fingerprint,  # as the checkpoint's JSON holds it
                                      "start_from": started_from}))
    schedule = [b for epoch in range(settings.epochs)
                for b in epoch_batches([len(e.ids) for e in data.examples], settings.batch_size, settings.seed, epoch)]
    per_epoch = len(schedule) // settings.epochs
    torch.manual_seed(settings.seed)
    model = _peft_model(base.directory, settings, device)
    if start_from is not None:
        _load_weights(model, start_from.directory / lora.WEIGHTS_FILE)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=settings.learning_rate, weight_decay=0.0)
    losses: list[tuple[int, float]] = []
    start = _resume(out / CHECKPOINT, identity, model, optimizer, losses) if resume else 0
    if not resume and (out / CHECKPOINT).exists():
        shutil.rmtree(out / CHECKPOINT)
    yield TuneStarted(len(data.examples), data.skipped_long + data.skipped_untrained, data.tokens,
                      data.trained_tokens, len(schedule), start, sum(p.numel() for p in parameters), device)
    model.train()
    began, processed = time.monotonic(), 0
    for step in range(start, len(schedule)):
        lr = learning_rate(step, len(schedule), settings.learning_rate)
        t0 = time.monotonic()
        value, tokens = _step(model, optimizer, parameters, lr,
                              _batch([data.examples[i] for i in schedule[step]], pad_id, device), device)
        processed += tokens
        losses.append((step + 1, round(value, 5)))
        yield TuneStep(step + 1, len(schedule), step // per_epoch + 1, value, lr, tokens, time.monotonic() - t0)
        if (step + 1) % settings.checkpoint_every == 0 and step + 1 < len(schedule):
            _save_checkpoint(out / CHECKPOINT, identity, model, optimizer, losses, step + 1)
            yield CheckpointSaved(step + 1, out / CHECKPOINT)
    seconds = time.monotonic() - began
    summary = TuneSummary(len(data.examples), data.skipped_long + data.skipped_untrained, data.tokens,
                          data.trained_tokens, settings.epochs, len(schedule), round(seconds, 1),
                          round(processed / seconds, 1) if seconds > 0 else 0.0,
                          _mean_tail(losses), device, losses)
    _save_adapter(out, model, base, fingerprint, settings, summary, data.fingerprint(), started_from)
    shutil.rmtree(out / CHECKPOINT, ignore_errors=True)
    yield TuneFinished(out, summary)


def _step(model: Any, optimizer: Any, parameters: list[Any], lr: float, batch: tuple[Any, Any, Any, int],
          device: str) -> tuple[float, int]:
    """One optimizer step on one batch: (its loss, its tokens without padding)."""
    import torch

    for group in optimizer.param_groups:
        group["lr"] = lr
    ids, labels, mask, shared = batch
    with _autocast(device):
        if shared:
            loss = shared_prefix_loss(model, ids, labels, mask, shared)
        else:
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(parameters, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach()), int(mask.sum())


def learning_rate(step: int, steps: int, peak: float) -> float:
    """Linear warm-up over the first 5% of steps (at most 20), then cosine decay to a tenth of the peak."""
    warmup = max(1, min(20, steps // 20))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _pick_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise TuneError("--device cuda: no CUDA device is available to torch here (use --device cpu)")
    if requested not in ("cpu", "cuda"):
        raise TuneError(f"--device must be auto, cpu or cuda, not {requested!r}")
    return requested


def _set_threads(device: str) -> None:
    """Training is compute-bound: every core helps (unlike decode), unless AUTOGPT_THREADS says otherwise."""
    import torch

    if device == "cpu":
        torch.set_num_threads(int(os.environ.get("AUTOGPT_THREADS") or os.cpu_count() or 1))


def _autocast(device: str) -> Any:
    import contextlib

    import torch

    if device == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _check_start(adapter: lora.Adapter, fingerprint: str, settings: TuneSettings) -> None:
    if adapter.base_fingerprint != fingerprint:
        raise TuneError(f"--from-adapter {adapter.directory} was trained on another model ({adapter.base_name}); "
                        "give an adapter of the model being tuned")
    if adapter.rank != settings.rank or abs(adapter.scale - settings.alpha / settings.rank) > 1e-6:
        raise TuneError(f"--from-adapter {adapter.directory} has rank {adapter.rank}: give --rank {adapter.rank}")


def _load_weights(model: Any, weights_file: Path) -> None:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    try:
        weights = load_file(str(weights_file))
    except (OSError, ValueError) as exc:
        raise TuneError(f"cannot read the adapter's weights {weights_file} ({exc})") from exc
    result = set_peft_model_state_dict(model, weights)
    if getattr(result, "unexpected_keys", None):
        raise TuneError(f"the adapter's weights {weights_file} do not fit this model's LoRA layers "
                        f"({len(result.unexpected_keys)} unknown, e.g. {result.unexpected_keys[0]})")


def _peft_model(directory: Path, settings: TuneSettings, device: str) -> Any:
    import warnings

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # the command line shows its own progress
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=list(settings.targets), bias="none", task_type="CAUSAL_LM")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft asks transformers a deprecated question
        return get_peft_model(model, config).to(device)


def _batch(examples: Sequence[Any], pad_id: int, device: str) -> tuple[Any, Any, Any, int]:
    """Right-padded ids, labels (IGNORED on padding) and attention mask [B, T] for one step, and the length
    of the prefix all rows share (agent/tune/shared_prefix.py; 0: none worth running once)."""
    import torch

    width = max(len(e.ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORED, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.ids)
        ids[row, :n] = torch.tensor(e.ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    shared = shared_prefix_length([e.ids for e in examples], [e.labels for e in examples])
    return ids.to(device), labels.to(device), mask.to(device), shared


def _mean_tail(losses: list[tuple[int, float]], last: int = 10) -> float:
    tail = [loss for _, loss in losses[-last:]]
    return round(sum(tail) / len(tail), 4) if tail else float("nan")


def _save_checkpoint(path: Path, identity: dict[str, Any], model: Any, optimizer: Any,
                     losses: list[tuple[int, float]], step: int) -> None:
    """Written beside the old checkpoint and swapped in, so a kill at any moment leaves one whole checkpoint."""
    import torch

    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    torch.save({"optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
               tmp / "trainer.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, "identity": identity, "losses": losses}))
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def _resume(path: Path, identity: dict[str, Any], model: Any, optimizer: Any,
            losses: list[tuple[int, float]]) -> int:
    """Load the checkpoint at `path` into model and optimizer; the step to continue from."""
    import torch
    from safetensors.torch import load_file

    if not path.is_dir() and path.with_name(path.name + ".old").is_dir():
        path = path.with_name(path.name + ".old")  # killed between the two renames
    state_file = path / "state.json"
    if not state_file.is_file():
        raise TuneError(f"nothing to resume: {path} holds no checkpoint (run without --resume to start)")
    try:
        state = json.loads(state_file.read_text())
        trainer = torch.load(path / "trainer.pt", weights_only=False)
        weights = load_file(str(path / lora.WEIGHTS_FILE))
    except (OSError, ValueError, RuntimeError) as exc:
        raise TuneError(f"the checkpoint in {path} is damaged ({exc}); run without --resume to start over") from exc
    if state.get("identity") != identity:
        raise TuneError(f"the checkpoint in {path} was made with other data, settings or base model; run "
                        "without --resume to start over, or give the same --data and options")
    from peft import set_peft_model_state_dict

    set_peft_model_state_dict(model, weights)
    optimizer.load_state_dict(trainer["optimizer"])
    torch.set_rng_state(trainer["rng"])
    if trainer.get("cuda_rng") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(trainer["cuda_rng"])
    losses.extend((int(s), float(v)) for s, v in state["losses"])
    return int(state["step"])


def _save_adapter(out: Path, model: Any, base: BaseCheckpoint, fingerprint: str, settings: TuneSettings,
                  summary: TuneSummary, data_fingerprint: str, started_from: dict[str, str] | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    meta = {"format": METADATA_FORMAT, "name": out.resolve().name,
            "base": {"name": base.name, "fingerprint": fingerprint, "spec": base.spec},
            "settings": asdict(settings), "data": data_fingerprint,
            "started_from": started_from,
            "training": {k: v for k, v in asdict(summary).items() if k != "losses"},
            "losses": summary.losses}
    (out / lora.METADATA_FILE).write_text(json.dumps(meta, indent=1) + "\n")
