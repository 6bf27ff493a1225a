"""Chat prompts to token ids without transformers: the `tokenizers` library plus the model's Jinja template.

`AutoTokenizer.from_pretrained` costs a second or more of imports and setup on a cold start; reading
`tokenizer.json` with `tokenizers` takes ~0.1 s and encodes identically. The chat template is rendered
the way transformers renders it (a sandboxed Jinja environment with trim_blocks/lstrip_blocks).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.llm.base import ChatMessage


class ChatTokenizer:
    def __init__(self, backend: Any, template: str, special: dict[str, str],
                 extra_stop_ids: set[int]) -> None:
        """`backend` is a `tokenizers.Tokenizer`; `special` maps bos_token/eos_token/... to their text."""
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        self.backend = backend
        self._vocabulary: dict[str, int] | None = None
        self.special = special
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise
        self._template = env.from_string(template)
        self.eos_token_id = self.token_id(special.get("eos_token"))
        self.stop_ids = {i for i in (self.eos_token_id, self.token_id("<|im_end|>")) if i is not None}
        self.stop_ids |= extra_stop_ids

    @classmethod
    def from_directory(cls, directory: Path, extra_stop_ids: set[int]) -> ChatTokenizer | None:
        """None when the directory lacks a fast tokenizer.json or a chat template."""
        from tokenizers import Tokenizer

        config_path = directory / "tokenizer_config.json"
        config = json.loads(config_path.read_text()) if config_path.is_file() else {}
        template_path = directory / "chat_template.jinja"
        template = template_path.read_text() if template_path.is_file() else config.get("chat_template")
        if not (directory / "tokenizer.json").is_file() or not isinstance(template, str):
            return None
        special = {k: _token_text(v) for k, v in config.items() if k.endswith("_token") and v}
        return cls(Tokenizer.from_file(str(directory / "tokenizer.json")), template, special, extra_stop_ids)

    @classmethod
    def from_transformers(cls, tokenizer: Any, extra_stop_ids: set[int]) -> ChatTokenizer:
        """Wrap a transformers fast tokenizer (used when loading straight from a GGUF file)."""
        special = {k: str(v) for k, v in tokenizer.special_tokens_map.items() if isinstance(v, str)}
        return cls(tokenizer.backend_tokenizer, tokenizer.chat_template, special, extra_stop_ids)

    def render(self, messages: list[ChatMessage]) -> str:
        """The prompt text; a last assistant message is the start of the reply, which the model continues."""
        prefix = ""
        if messages and messages[-1].role == "assistant":
            messages, prefix = messages[:-1], messages[-1].content
        return self._template.render(messages=[{"role": m.role, "content": m.content} for m in messages],
                                     add_generation_prompt=True, **self.special) + prefix

    def render_conversation(self, messages: list[ChatMessage]) -> str:
        """A whole conversation as the template writes it, every turn closed (what a trained model reads)."""
        return self._template.render(messages=[{"role": m.role, "content": m.content} for m in messages],
                                     add_generation_prompt=False, **self.special)

    def encode(self, text: str) -> Any:
        """A `tokenizers.Encoding` (ids and character offsets); special tokens only as written in `text`."""
        return self.backend.encode(text, add_special_tokens=False)

    def decode(self, ids: list[int]) -> str:
        return self.backend.decode(ids, skip_special_tokens=True)

    def token_texts(self, ids: list[int]) -> list[str]:
        """The text of each token in `ids` decoded alone (one call into the Rust library)."""
        return self.backend.decode_batch([[i] for i in ids], skip_special_tokens=True)

    def token_id(self, text: str | None) -> int | None:
        return None if text is None else self.backend.token_to_id(text)

    def vocabulary(self) -> dict[str, int]:
        """Token text -> id, added tokens included (built once: ~50 ms; callers must not change it)."""
        if self._vocabulary is None:
            self._vocabulary = self.backend.get_vocab(with_added_tokens=True)
        return self._vocabulary

    def backend_json(self) -> str:
        return self.backend.to_str()


def _token_text(value: Any) -> str:
    return value["content"] if isinstance(value, dict) else str(value)


def _raise(message: str) -> None:
    raise ValueError(message)
