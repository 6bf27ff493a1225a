"""The in-process chat model: a local causal LM with a hand-written decode loop.

What makes it fast on a small CPU (figures in the README, "The local model path"):
- the engine (`LlamaEngine` for llama-architecture models, else `HFEngine` over transformers) keeps one
  KV cache between calls; an agent's prompt is a growing prefix (system prompt, tools, history), so each
  call only prefills the tokens after the longest common prefix with what the cache holds;
- the model's own earlier replies are given back to it as the token ids it generated, not re-tokenized
  text (which can split differently and would end the common prefix inside the reply);
- under a JSON schema or a reply grammar, tokens the grammar forces are fed in one forward pass, and the final forward
  for a stop token is skipped when nothing else may follow;
- greedy decoding feeds a guess of the next tokens (`_Lookahead`, `drafts.py`) in the same pass and keeps
  the part the model confirms.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.llm.base import GREEDY, ChatMessage, DecodingParams, Generation
from agent.llm.drafts import PromptLookup
from agent.llm.grammar import Constraint, JsonGrammar
from agent.llm.loading import (
    DEFAULT_MODEL,
    load_local_model,
    model_cache_root,
    pick_device,
    pick_dtype,
    resolve_model,
)
from agent.llm.lora import adapter_for
from agent.llm.prompt_store import PromptKVStore
from agent.llm.reply_grammar import ReplyGrammar
from agent.llm.steering import AvoidedReplies, TokenTexts, steering_targets, token_probabilities
from agent.llm.string_guard import StringGuard

REMEMBERED_REPLIES = 64  # recent outputs whose token ids are reused when they come back as history
PREFILL_CHUNK = 512  # long prompts are prefilled in pieces to bound attention-mask memory


class TransformersChatModel:
    def __init__(self, spec: str = DEFAULT_MODEL, *, device: str | None = None, dtype: str = "auto",
                 engine: str = "auto", adapter: Path | None = None) -> None:
        """`engine="hf"` forces the general transformers path (for comparisons and unusual models).
        `adapter`: a LoRA adapter directory merged into the weights (`default` has the shipped one)."""
        source = resolve_model(spec)
        tuned = adapter_for(spec, adapter)
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device, dtype)
        started = time.monotonic()
        loaded = load_local_model(source, self.device, self.dtype, engine, tuned)
        self.load_seconds = time.monotonic() - started
        self.engine, self.tokenizer = loaded.engine, loaded.tokenizer
        self.name = source.name if tuned is None else f"{source.name}+{tuned.name}"
        self.context_window = loaded.context_window
        self.vocab_size = loaded.vocab_size
        self._grammar: JsonGrammar | None = None
        self._string_guard: StringGuard | None = None
        self._token_texts: TokenTexts | None = None
        self._cached_ids: list[int] = []  # what the engine's KV cache holds, position by position
        self._replies: OrderedDict[str, list[int]] = OrderedDict()
        self._lock = threading.Lock()  # one KV cache: one generation at a time
        store_path = model_cache_root().parent / "prompt-kv" / f"{loaded.identity}.safetensors"
        self._prompt_store = PromptKVStore(store_path)
        self._fresh_process = True  # the first call may start from the stored prompt KV, and stores its own
        self.drafting = True  # greedy decoding feeds prompt-lookup guesses (off: one token per pass, same text)

    # -- public -------------------------------------------------------------------------------------

    def count_tokens(self, messages: list[ChatMessage]) -> int:
        return len(self._encode(messages))

    def generate(
        self,
        messages: list[ChatMessage],
        *,
        json_schema: dict[str, Any] | None = None,
        grammar: ReplyGrammar | None = None,
        params: DecodingParams = GREEDY,
        on_text: Callable[[str], None] | None = None,
    ) -> Generation:
        import torch

        constraint: Constraint | None = grammar if grammar is not None else json_schema
        with self._lock, torch.inference_mode():
            started = time.monotonic()
            prompt_ids = self._encode(messages)
            prefill_started = time.monotonic()
            logits, prefilled = self._prefill(prompt_ids)
            prefill_seconds = time.monotonic() - prefill_started
            stream = _Stream(self.tokenizer.decode, on_text)
            out_ids, finished = self._decode(logits, prompt_ids, constraint, params, stream)
            text = self.tokenizer.decode(out_ids)
            if self._fresh_process:
                self._fresh_process = False
                exported = self.engine.export_kv(len(prompt_ids))
                if exported is not None:
                    self._prompt_store.save(prompt_ids, *exported)
            if self.tokenizer.backend.decode(out_ids, skip_special_tokens=False) == text:
                self._remember(text, out_ids)
            return Generation(text=text, tokens_in=len(prompt_ids), tokens_out=len(out_ids) + int(finished),
                              prefilled_tokens=prefilled, seconds=time.monotonic() - started,
                              finished=finished, prefill_seconds=prefill_seconds)

    def _decode(self, logits: Any, prompt_ids: list[int], constraint: Constraint | None,
                params: DecodingParams, stream: _Stream) -> tuple[list[int], bool]:
        """Sample until a stop token, the grammar's end, or max_new_tokens; (ids, finished)."""
        grammar = matcher = bitmask = guard = None
        if constraint is not None:
            grammar, guard = self.grammar, self.string_guard
            matcher, bitmask = grammar.matcher(constraint), grammar.new_bitmask()
            guard.reset()
        generator = _generator(params.seed) if params.temperature > 0 else None
        avoided = self._score_avoided(logits, prompt_ids, params.avoid, constraint)
        ahead = _Lookahead(self, logits, prompt_ids, drafting=self.drafting and generator is None)
        out_ids: list[int] = []
        try:
            while len(out_ids) < params.max_new_tokens:
                logits = ahead.logits()
                if grammar is not None:
                    guard.apply(logits)
                    grammar.apply(matcher, logits, bitmask)
                if avoided:
                    avoided.apply(logits, self.tokenizer.decode(out_ids))
                token = _choose(logits, params, generator)
                if matcher is not None and not matcher.accept_token(token):
                    return out_ids, False
                if token in self.tokenizer.stop_ids or (matcher is not None and matcher.is_terminated()):
                    return out_ids, True
                step = [token]
                if grammar is not None:  # tokens the grammar forces ride along in the same forward pass
                    step += grammar.forced_tokens(matcher, params.max_new_tokens - len(out_ids) - 1)
                out_ids += step
                if guard is not None:
                    guard.feed(self.tokenizer.decode(step))
                stream.push(out_ids)
                if grammar is not None and grammar.only_stop_left(matcher, bitmask):
                    return out_ids, True  # skip the forward pass whose only possible outcome is a stop token
                if len(out_ids) >= params.max_new_tokens:
                    break
                ahead.advance(step, out_ids, params.max_new_tokens - len(out_ids) - 1)
            return out_ids, False
        finally:  # drafted tokens left in the cache are not part of the conversation
            del self._cached_ids[_common_prefix(self._cached_ids, prompt_ids + out_ids):]

    def _score_avoided(self, logits: Any, prompt_ids: list[int], texts: tuple[str, ...],
                       constraint: Constraint | None) -> AvoidedReplies:
        """Each reply to avoid, with the places the model (under the grammar) was least sure of it: one
        forward pass per reply."""
        import torch

        scored = []
        for text in texts:
            ids = self._replies.get(text) or list(self.tokenizer.encode(text).ids)
            ids = ids[: self.context_window - len(prompt_ids) - 1]
            if len(ids) < 2:
                continue
            later = self._forward(ids[:-1], keep=len(ids) - 1)
            del self._cached_ids[len(prompt_ids):]
            rows = torch.cat([logits[-1:], later]).float()
            if constraint is not None:
                matcher, bitmask = self.grammar.matcher(constraint), self.grammar.new_bitmask()
                for i, token in enumerate(ids):
                    self.grammar.apply(matcher, rows[i:i + 1], bitmask)
                    if not matcher.accept_token(token):
                        ids = ids[:i]
                        break
            offsets = [len(self.tokenizer.decode(ids[:i])) for i in range(len(ids))]
            targets = steering_targets(text, offsets, self.tokenizer.token_texts(ids),
                                       token_probabilities(rows, ids))
            scored.append((text, targets))
        return AvoidedReplies(scored, self.token_texts) if scored else AvoidedReplies([], TokenTexts([]))

    @property
    def token_texts(self) -> TokenTexts:
        if self._token_texts is None:
            self._token_texts = TokenTexts(self.tokenizer.token_texts(list(range(self.vocab_size))))
        return self._token_texts

    def reset_cache(self) -> None:
        """Forget the KV cache (the next call prefills its whole prompt)."""
        with self._lock:
            self._cached_ids = []

    @property
    def string_guard(self) -> StringGuard:
        if self._string_guard is None:
            self._string_guard = StringGuard.for_tokenizer(self.tokenizer, self.vocab_size)
        return self._string_guard

    @property
    def grammar(self) -> JsonGrammar:
        if self._grammar is None:
            self._grammar = JsonGrammar(self.tokenizer, self.vocab_size)
        return self._grammar

    # -- internals ----------------------------------------------------------------------------------

    def _encode(self, messages: list[ChatMessage]) -> list[int]:
        """Token ids of the chat prompt; assistant turns this model wrote keep the ids it generated."""
        text = self.tokenizer.render(messages)
        encoding = self.tokenizer.encode(text)
        ids, offsets = list(encoding.ids), list(encoding.offsets)
        spans = _content_spans(text, messages)
        for message, (begin, end) in reversed(list(zip(messages, spans, strict=True))):
            reply = self._replies.get(message.content) if message.role == "assistant" else None
            if reply is None or begin < 0:
                continue
            starts = [i for i, (a, _) in enumerate(offsets) if a == begin]
            ends = [i for i, (_, b) in enumerate(offsets) if b == end]
            if starts and ends and starts[0] <= ends[-1]:
                first, last = starts[0], ends[-1]
                ids[first:last + 1] = reply
                offsets[first:last + 1] = [(begin, end)] * len(reply)
        return ids

    def _remember(self, text: str, ids: list[int]) -> None:
        self._replies[text] = list(ids)
        self._replies.move_to_end(text)
        while len(self._replies) > REMEMBERED_REPLIES:
            self._replies.popitem(last=False)

    def _prefill(self, prompt_ids: list[int]) -> tuple[Any, int]:
        """Bring the KV cache to `prompt_ids`, reusing the longest common prefix with what it holds."""
        if self._fresh_process and not self._cached_ids:
            stored = self._prompt_store.load(prompt_ids)
            if stored is not None:
                ids, k, v = stored
                if self.engine.import_kv(k.to(self.device), v.to(self.device)):
                    self._cached_ids = ids
        keep = _common_prefix(self._cached_ids, prompt_ids)
        keep = min(keep, len(prompt_ids) - 1)  # at least one token must run to produce the next logits
        del self._cached_ids[keep:]
        new = prompt_ids[keep:]
        for i in range(0, len(new), PREFILL_CHUNK):
            logits = self._forward(new[i:i + PREFILL_CHUNK])
        return logits, len(new)

    def _forward(self, ids: list[int], keep: int = 1) -> Any:
        logits = self.engine.forward(ids, len(self._cached_ids), keep)
        self._cached_ids.extend(ids)
        return logits


class _Lookahead:
    """The logits for the next position, and (greedy only) draft tokens fed past the output.

    After each step the model runs the step's tokens plus a guess of what follows (`PromptLookup`) in
    one forward pass: `rows[i]` are the logits after the output and `drafts[:i]`. While the tokens the
    decode loop picks are the drafted ones, their logits are at hand and no pass runs; at the first
    difference the rest of the guess is dropped from the cache.
    """

    def __init__(self, model: TransformersChatModel, logits: Any, prompt_ids: list[int], drafting: bool) -> None:
        self._model, self._prompt_len = model, len(prompt_ids)
        self._lookup = PromptLookup(prompt_ids) if drafting else None
        self._rows, self._drafts, self._drafted = logits, [], 0

    def logits(self) -> Any:
        return self._rows[:1]

    def advance(self, step: list[int], out_ids: list[int], budget: int) -> None:
        """`step` (the end of `out_ids`) was chosen: move on to the logits after it."""
        model = self._model
        confirmed = _common_prefix(step, self._drafts)
        if confirmed == len(step):  # drafted, so already in the cache
            self._rows, self._drafts = self._rows[confirmed:], self._drafts[confirmed:]
            return
        rejected = len(self._drafts) - confirmed
        del model._cached_ids[len(model._cached_ids) - rejected:]
        self._drafts = []
        if self._lookup is not None:
            if self._drafted:
                self._lookup.judge(self._drafted, self._drafted - rejected)
            self._lookup.extend(out_ids[len(self._lookup) - self._prompt_len:])
            room = model.context_window - len(model._cached_ids) - (len(step) - confirmed)
            self._drafts = self._lookup.propose(min(room, budget))
        self._drafted = len(self._drafts)
        self._rows = model._forward(step[confirmed:] + self._drafts, keep=self._drafted + 1)


class _Stream:
    """Calls `on_text` with each new piece of decoded text (only whole characters)."""

    def __init__(self, decode: Callable[[list[int]], str], on_text: Callable[[str], None] | None) -> None:
        self._decode, self._on_text, self._sent = decode, on_text, ""

    def push(self, ids: list[int]) -> None:
        if self._on_text is None:
            return
        text = self._decode(ids)
        if text.endswith("\ufffd"):  # a multi-byte character is still incomplete
            return
        if len(text) > len(self._sent):
            self._on_text(text[len(self._sent):])
            self._sent = text


def _content_spans(text: str, messages: list[ChatMessage]) -> list[tuple[int, int]]:
    """Where each message's content sits in the rendered prompt ((-1, -1) if the template changed it)."""
    spans, cursor = [], 0
    for m in messages:
        at = text.find(m.content, cursor) if m.content else -1
        if at < 0:
            spans.append((-1, -1))
            continue
        spans.append((at, at + len(m.content)))
        cursor = at + len(m.content)
    return spans


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


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
