"""LoRA adapters at run time (agent/llm/lora.py, agent/llm/low_rank.py): a real tuning run on the default model
changes what it writes; the fast path with an adapter computes what peft's forward computes; an adapter for
another model, or no adapter at all, gets one clear message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tiny_llama
import tune_fixture

from agent.llm.base import ChatMessage, ModelSetupError
from agent.llm.chat_tokenizer import ChatTokenizer
from agent.tune.encoding import encode_all
from agent.tune.model import BaseCheckpoint, TuneSettings, train

ROOT = Path(__file__).resolve().parents[1]
# int8 factors beside the kernels, float32 everywhere else: measured max |difference| 0.015 over a 404-token
# conversation (docs/tuning.md)
LOGIT_TOLERANCE = 0.02
PROMPT = [ChatMessage("system", "You are a helpful assistant."), ChatMessage("user", "Multiply 12 by 7.")]


def _tokenizer(directory: Path) -> ChatTokenizer:
    tokenizer = ChatTokenizer.from_directory(directory, set())
    assert tokenizer is not None
    return tokenizer


def _tune(directory: Path, name: str, out: Path, settings: TuneSettings) -> list:
    data = encode_all(_tokenizer(directory), tune_fixture.short_conversations(2), 1024)
    return list(train(data, BaseCheckpoint(name, directory), out, settings, device="cpu", pad_id=2))


@pytest.fixture(scope="module")
def tiny_adapter(tmp_path_factory) -> tuple[Path, Path]:
    """(a tiny llama's directory, an adapter trained on it)."""
    directory = tiny_llama.make_tiny_llama(tmp_path_factory.mktemp("tiny"))
    out = tmp_path_factory.mktemp("tiny-adapter")
    _tune(directory, "tiny-llama", out, TuneSettings(epochs=2, rank=4, alpha=8, learning_rate=5e-2, batch_size=2))
    return directory, out


@pytest.fixture(scope="module")
def default_adapter(tmp_path_factory) -> tuple[Path, list]:
    """An adapter of the real default model after three steps on two short examples (and the training events)."""
    out = tmp_path_factory.mktemp("default-adapter")
    events = _tune(tiny_llama.default_float_checkpoint(), "SmolLM2-135M-Instruct", out,
                   TuneSettings(epochs=3, rank=16, alpha=32, learning_rate=5e-3, batch_size=2, dropout=0.0))
    return out, events


def _peft_logits(base_dir: Path, adapter: Path, ids: list[int]):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    with torch.inference_mode():
        return PeftModel.from_pretrained(model, str(adapter))(torch.tensor([ids])).logits[0].float()


def _fast_path_logits(model, ids: list[int]):
    """The engine's logits for every position: one prefill (torch products), and one token a step (C kernels)."""
    import torch

    with torch.inference_mode():
        prefill = model.engine.forward(ids, 0, keep=len(ids))
        steps = torch.cat([model.engine.forward(ids[:1], 0)] + [model.engine.forward([t], i)
                                                               for i, t in enumerate(ids) if i])
    model.reset_cache()
    return prefill, steps


@pytest.mark.real_model
def test_a_few_steps_on_the_default_model_lower_its_loss_and_change_what_it_writes(default_adapter):
    from agent.llm.transformers_backend import TransformersChatModel

    out, events = default_adapter
    losses = [e.loss for e in events if e.kind == "step"]
    assert len(losses) == 3 and losses[-1] < losses[0]
    base = TransformersChatModel("base")
    tuned = TransformersChatModel("base", adapter=out)
    assert tuned.name == f"SmolLM2-135M-Instruct+{out.name}" and base.name == "SmolLM2-135M-Instruct"
    assert tuned.generate(PROMPT).text != base.generate(PROMPT).text


@pytest.mark.real_model
def test_the_fast_path_with_an_adapter_matches_peft_forward(default_adapter):
    from agent.llm import low_rank
    from agent.llm.fused_step import FusedStep
    from agent.llm.transformers_backend import TransformersChatModel

    out, _ = default_adapter
    tuned = TransformersChatModel("base", adapter=out)
    assert tuned.engine.uses_blocks  # the base's Q4_1 blocks still do the work
    assert sum(isinstance(m, low_rank.WithLowRank) for layer in tuned.engine.layers for m in layer) == 30 * 4
    assert FusedStep.applies(tuned.engine)  # a decode step stays one C call, the products in it
    conversation = tune_fixture.arithmetic(57, 31)
    ids = list(tuned.tokenizer.encode(tuned.tokenizer.render_conversation(
        [ChatMessage(m.role, m.content) for m in conversation.messages])).ids)
    reference = _peft_logits(tiny_llama.default_float_checkpoint(), out, ids)
    for logits in _fast_path_logits(tuned, ids):
        assert float((logits - reference).abs().max()) < LOGIT_TOLERANCE
        assert bool((logits.argmax(-1) == reference.argmax(-1)).all())
    import torch

    with torch.inference_mode():  # a step of several tokens (a draft): one fused call, the products per row
        tuned.engine.forward(ids[:40], 0)
        drafted = tuned.engine.forward(ids[40:52], 40, keep=12)
    tuned.reset_cache()
    assert float((drafted - reference[40:52]).abs().max()) < LOGIT_TOLERANCE
    untuned = _fast_path_logits(TransformersChatModel("base"), ids)[0]
    assert float((untuned - reference).abs().max()) > 50 * LOGIT_TOLERANCE  # the adapter matters at this scale


@pytest.mark.real_model
def test_without_the_block_kernels_a_merged_checkpoint_matches_peft_and_is_reused(default_adapter, monkeypatch,
                                                                                tmp_path):
    from agent.llm.loading import model_cache_root
    from agent.llm.transformers_backend import TransformersChatModel

    out, _ = default_adapter
    monkeypatch.setenv("AUTOGPT_BLOCK_KERNELS", "0")
    merged_before = set(model_cache_root().glob("*+lora-*"))
    tuned = TransformersChatModel("base", adapter=out)
    merged = set(model_cache_root().glob("*+lora-*")) - merged_before
    assert len(merged) == 1 and not tuned.engine.uses_blocks
    ids = list(tuned.tokenizer.encode(tuned.tokenizer.render(PROMPT)).ids)
    reference = _peft_logits(tiny_llama.default_float_checkpoint(), out, ids)
    prefill, steps = _fast_path_logits(tuned, ids)
    assert float((prefill - reference).abs().max()) < 1e-3 and float((steps - reference).abs().max()) < 1e-3
    TransformersChatModel("base", adapter=out)  # the same adapter again: the same merged checkpoint
    assert set(model_cache_root().glob("*+lora-*")) - merged_before == merged
    for path in merged:
        import shutil

        shutil.rmtree(path)  # 540 MB of test output


def test_an_adapter_on_a_model_without_block_weights_runs_its_products_beside_dense_matrices(tiny_adapter):
    from agent.llm.transformers_backend import TransformersChatModel

    directory, out = tiny_adapter
    tuned = TransformersChatModel(str(directory), adapter=out)
    ids = list(tuned.tokenizer.encode(tuned.tokenizer.render(PROMPT)).ids)
    reference = _peft_logits(directory, out, ids)
    plain = _fast_path_logits(TransformersChatModel(str(directory)), ids)[0]
    effect = float((plain - reference).abs().max())  # this adapter was trained hard: a large change
    for logits in _fast_path_logits(tuned, ids):
        # the int8 factors (a scale per row) are each within 1/254 of their row's largest value
        assert float((logits - reference).abs().max()) < 0.03 * effect


def test_the_tuned_and_untuned_model_never_share_a_stored_prompt(tiny_adapter):
    from agent.llm.transformers_backend import TransformersChatModel

    directory, out = tiny_adapter
    assert TransformersChatModel(str(directory))._prompt_store.path != \
        TransformersChatModel(str(directory), adapter=out)._prompt_store.path


def test_an_adapter_for_another_model_is_refused_with_a_clear_message(tiny_adapter):
    from agent.llm import load_chat_model

    _, out = tiny_adapter
    with pytest.raises(ModelSetupError, match="trained for tiny-llama, not for SmolLM2-135M-Instruct"):
        load_chat_model("base", adapter=out)


def test_a_folder_that_is_not_an_adapter_is_refused(tmp_path):
    from agent.llm import load_chat_model

    with pytest.raises(ModelSetupError, match="is not a directory"):
        load_chat_model("base", adapter=tmp_path / "missing")
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(ModelSetupError, match="lacks autogpt-adapter.json, adapter_model.safetensors"):
        load_chat_model("base", adapter=tmp_path)
    with pytest.raises(ModelSetupError, match="applies to local models"):
        load_chat_model("openai:http://127.0.0.1:9/v1#x", adapter=tmp_path)


def test_the_command_line_refuses_an_adapter_for_another_model_with_exit_2(tiny_adapter, tmp_path):
    _, out = tiny_adapter
    env = {k: v for k, v in os.environ.items() if k != "AUTOGPT_SCRIPTED_MODEL"}
    done = subprocess.run([sys.executable, "-m", "agent.cli", "run", "--adapter", str(out), "--workspace",
                           str(tmp_path), "--sandbox", "local", "--unsafe-local", "What is 2 + 2?"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "was trained for tiny-llama, not for SmolLM2" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


def test_default_runs_untuned_until_an_adapter_is_shipped_and_base_never_takes_one(monkeypatch, tmp_path):
    from agent.llm import lora

    monkeypatch.setattr(lora, "SHIPPED", tmp_path / "none")
    assert lora.adapter_for("default", None) is None and lora.adapter_for("base", None) is None
    shipped = lora.SHIPPED.parent / "smollm2-135m"
    if (shipped / lora.WEIGHTS_FILE).is_file():
        monkeypatch.setattr(lora, "SHIPPED", shipped)
        assert lora.adapter_for("default", None).directory == shipped
        assert lora.adapter_for("base", None) is None


def test_a_shipped_adapter_fits_the_size_limit_and_names_the_default_model():
    from agent.llm import lora

    shipped = Path(lora.__file__).with_name("adapters") / "smollm2-135m"
    if not (shipped / lora.WEIGHTS_FILE).is_file():
        pytest.skip("no adapter is shipped yet")
    assert sum(p.stat().st_size for p in shipped.iterdir()) <= 25 * 2**20
    meta = json.loads((shipped / lora.METADATA_FILE).read_text())
    assert meta["base"]["name"] == "SmolLM2-135M-Instruct"


def test_a_tuned_model_runs_without_worked_examples_unless_asked(tmp_path: Path, monkeypatch) -> None:
    from agent.cli.options import worked_examples_for
    from agent.llm import lora

    monkeypatch.setattr(lora, "SHIPPED", tmp_path / "none")  # an installation without a shipped adapter
    assert worked_examples_for(None, "default") == 2 and worked_examples_for(None, "base") == 2
    assert worked_examples_for(None, "default", tmp_path) == 0  # a user's adapter
    assert worked_examples_for(3, "default", tmp_path) == 3
    (tmp_path / "shipped").mkdir()
    (tmp_path / "shipped" / lora.WEIGHTS_FILE).write_bytes(b"")
    monkeypatch.setattr(lora, "SHIPPED", tmp_path / "shipped")
    assert worked_examples_for(None, "default") == 0 and worked_examples_for(None, "base") == 2


def test_finish_is_sent_back_by_default_only_for_a_tuned_model(tmp_path: Path, monkeypatch) -> None:
    from agent.cli.options import TUNED_FINISH_CHECKS, finish_checks_for
    from agent.llm import lora

    monkeypatch.setattr(lora, "SHIPPED", tmp_path / "none")
    assert finish_checks_for(None, "default") == 0 and finish_checks_for(None, "base") == 0
    assert finish_checks_for(None, "default", tmp_path) == TUNED_FINISH_CHECKS  # a user's adapter
    assert finish_checks_for(2, "base") == 2 and finish_checks_for(0, "default", tmp_path) == 0
