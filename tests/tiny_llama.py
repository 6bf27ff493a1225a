"""A tiny llama model (random weights, the default model's tokenizer) for tuning tests that must take seconds."""

from __future__ import annotations

import shutil
from pathlib import Path


def default_float_checkpoint() -> Path:
    from agent.llm.loading import float_checkpoint, resolve_model

    return float_checkpoint(resolve_model("base"))


def make_tiny_llama(directory: Path, seed: int = 0) -> Path:
    """A 2-layer llama with hidden size 64 and the default model's tokenizer and chat template."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    source = default_float_checkpoint()
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2,
                         initializer_range=0.2)  # larger than usual: a random model that learns in a few steps
    LlamaForCausalLM(config).save_pretrained(directory)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (source / name).is_file():
            shutil.copy(source / name, directory / name)
    return directory
