"""Model backends. `load_chat_model` turns a model spec into a ChatModel:

- `default` or a local path (HF model directory or .gguf file): the in-process transformers backend;
- `openai:URL#MODEL`: an OpenAI-compatible server (vLLM, llama.cpp, Ollama).
"""

from __future__ import annotations

from agent.llm.base import ChatModel

OPENAI_PREFIX = "openai:"


def load_chat_model(spec: str = "default", *, device: str | None = None, dtype: str = "auto") -> ChatModel:
    if spec.startswith(OPENAI_PREFIX):
        from agent.llm.openai_backend import OpenAIChatModel, parse_openai_spec

        base_url, model = parse_openai_spec(spec)
        return OpenAIChatModel(base_url, model)
    from agent.llm.transformers_backend import TransformersChatModel

    return TransformersChatModel(spec, device=device, dtype=dtype)
