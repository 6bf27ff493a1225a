"""Model backends. `load_chat_model` turns a model spec into a ChatModel:

- `default` (the embedded model with its shipped tuned adapter), `base` (the same model untuned), or a local
  path (HF model directory or .gguf file): the in-process transformers backend, optionally with a LoRA
  `adapter` directory (`autogpt tune` writes one) merged in;
- `openai:URL#MODEL`: an OpenAI-compatible server (vLLM, llama.cpp, Ollama).
"""

from __future__ import annotations

from pathlib import Path

from agent.llm.base import ChatModel, ModelSetupError

OPENAI_PREFIX = "openai:"


def load_chat_model(spec: str = "default", *, device: str | None = None, dtype: str = "auto",
                    adapter: Path | None = None) -> ChatModel:
    if spec.startswith(OPENAI_PREFIX):
        if adapter is not None:
            raise ModelSetupError("--adapter applies to local models; an OpenAI-compatible server loads its own")
        from agent.llm.openai_backend import OpenAIChatModel, parse_openai_spec

        base_url, model = parse_openai_spec(spec)
        return OpenAIChatModel(base_url, model)
    from agent.llm.transformers_backend import TransformersChatModel

    return TransformersChatModel(spec, device=device, dtype=dtype, adapter=adapter)
