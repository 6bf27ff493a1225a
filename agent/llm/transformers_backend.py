"""The in-process chat model: a transformers causal LM with a hand-written decode loop.

The loop keeps the KV cache between calls: an agent's prompt is a growing prefix (system prompt, tools,
history), so each call only prefills the tokens that differ from the previous call's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from agent.llm.base import ChatMessage, DecodingParams, Generation
from agent.llm.grammar import JsonGrammar
from agent.llm.loading import DEFAULT_MODEL, load_model_and_tokenizer, pick_device, pick_dtype, resolve_model


class TransformersChatModel:
    def __init__(self, spec: str = DEFAULT_MODEL, *, device: str | None = None, dtype: str = "auto") -> None:
        import torch

        self._torch = torch
        source = resolve_model(spec)
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device, dtype)
        started = time.monotonic()
        self.model, self.tokenizer = load_model_and_tokenizer(source, self.device, self.dtype)
        self.load_seconds = time.monotonic() - started
        self.name = source.name
        self.context_window = int(getattr(self.model.config, "max_position_embeddings", 2048))
        self.vocab_size = int(self.model.config.vocab_size)
        self._grammar: JsonGrammar | None = None
        self._stop_ids = _stop_token_ids(self.tokenizer, self.model)
        self._cache: Any = None
        self._cached_ids: list[int] = []

    # -- public -------------------------------------------------------------------------------------

    def count_tokens(self, messages: list[ChatMessage]) -> int:
        return len(self._encode(messages))

    def generate(
        self,
        messages: list[ChatMessage],
        *,
        json_schema: dict[str, Any] | None = None,
        params: DecodingParams = DecodingParams(),
        on_text: Callable[[str], None] | None = None,
    ) -> Generation:
        torch = self._torch
        started = time.monotonic()
        prompt_ids = self._encode(messages)
        matcher = self.grammar.matcher(json_schema) if json_schema is not None else None
        bitmask = self.grammar.new_bitmask() if matcher is not None else None
        generator = _generator(params.seed) if params.temperature > 0 else None
        with torch.inference_mode():
            logits, prefilled = self._prefill(prompt_ids)
            out_ids: list[int] = []
            streamed = ""
            finished = False
            while len(out_ids) < params.max_new_tokens:
                if matcher is not None:
                    self.grammar.apply(matcher, logits, bitmask)
                token = _choose(logits, params, generator)
                if matcher is not None and not matcher.accept_token(token):
                    break
                if token in self._stop_ids or (matcher is not None and matcher.is_terminated()):
                    finished = True
                    break
                out_ids.append(token)
                if on_text is not None:
                    text = self.tokenizer.decode(out_ids, skip_special_tokens=True)
                    on_text(text[len(streamed):])
                    streamed = text
                logits = self._forward([token])
        text = self.tokenizer.decode(out_ids, skip_special_tokens=True)
        return Generation(text=text, tokens_in=len(prompt_ids), tokens_out=len(out_ids) + int(finished),
                          prefilled_tokens=prefilled, seconds=time.monotonic() - started, finished=finished)

    def reset_cache(self) -> None:
        self._cache, self._cached_ids = None, []

    @property
    def grammar(self) -> JsonGrammar:
        if self._grammar is None:
            self._grammar = JsonGrammar(self.tokenizer, self.vocab_size)
        return self._grammar

    # -- internals ----------------------------------------------------------------------------------

    def _encode(self, messages: list[ChatMessage]) -> list[int]:
        encoded = self.tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in messages], add_generation_prompt=True,
            tokenize=True,
        )
        if isinstance(encoded, dict) or hasattr(encoded, "input_ids"):
            encoded = encoded["input_ids"]
        return list(encoded)

    def _prefill(self, prompt_ids: list[int]) -> tuple[Any, int]:
        """Bring the KV cache to `prompt_ids`, reusing the longest common prefix with the previous call."""
        from transformers import DynamicCache

        keep = _common_prefix(self._cached_ids, prompt_ids)
        keep = min(keep, len(prompt_ids) - 1)  # at least one token must run to produce the next logits
        if self._cache is None or keep == 0:
            self._cache, self._cached_ids = DynamicCache(config=self.model.config), []
            keep = 0
        elif keep < len(self._cached_ids):
            self._cache.crop(keep - len(self._cached_ids))  # negative: tokens to drop from the end
            self._cached_ids = self._cached_ids[:keep]
        new = prompt_ids[keep:]
        return self._forward(new), len(new)

    def _forward(self, ids: list[int]) -> Any:
        torch = self._torch
        input_ids = torch.tensor([ids], dtype=torch.long, device=self.device)
        out = self.model(input_ids=input_ids, past_key_values=self._cache, use_cache=True, logits_to_keep=1)
        self._cached_ids.extend(ids)
        return out.logits[:, -1, :].float()


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _stop_token_ids(tokenizer: Any, model: Any) -> set[int]:
    ids: set[int] = set()
    for candidate in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
        if isinstance(candidate, int):
            ids.add(candidate)
        elif isinstance(candidate, list):
            ids.update(candidate)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(im_end, int) and im_end != tokenizer.unk_token_id:
        ids.add(im_end)
    return ids


def _generator(seed: int | None) -> Any:
    import torch

    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else int(time.time_ns() % 2**31))
    return generator


def _choose(logits: Any, params: DecodingParams, generator: Any) -> int:
    import torch

    if params.temperature <= 0:
        return int(torch.argmax(logits, dim=-1)[0])
    probs = torch.softmax(logits[0] / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < params.top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs.cpu(), 1, generator=generator)[0])
