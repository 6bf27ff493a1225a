"""Grammar-constrained decoding with xgrammar: JSON schemas compiled once per schema, masks per token.

Per token the cost is one `fill_next_token_bitmask` (microseconds to a few hundred, cached by xgrammar)
plus one in-place masking of the logits. Where the grammar leaves no choice (JSON keys, `const` tool
names, punctuation), `forced_tokens` hands the decode loop those tokens so it can feed them in one forward
pass instead of one pass each.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from agent.llm.chat_tokenizer import ChatTokenizer


class JsonGrammar:
    """Compiles JSON schemas for one tokenizer and hands out fresh matchers."""

    def __init__(self, tokenizer: ChatTokenizer, vocab_size: int) -> None:
        import xgrammar as xgr

        self._xgr = xgr
        vocab = tokenizer.vocabulary()
        encoded = [""] * vocab_size
        for token, index in vocab.items():
            if index < vocab_size:
                encoded[index] = token
        # What from_huggingface does, minus needing a transformers tokenizer object.
        meta = xgr.TokenizerInfo._detect_metadata_from_hf(tokenizer.backend_json())
        info = xgr.TokenizerInfo(encoded, meta["vocab_type"], vocab_size=vocab_size,
                                 stop_token_ids=sorted(tokenizer.stop_ids),
                                 add_prefix_space=meta["add_prefix_space"])
        self._compiler = xgr.GrammarCompiler(info)
        self.vocab_size = vocab_size
        self._stop_ids = sorted(tokenizer.stop_ids)
        self._compile = lru_cache(maxsize=32)(self._compile_uncached)

    def _compile_uncached(self, schema_json: str) -> Any:
        # Compact JSON (no free whitespace): fewer tokens per step, and nothing for the model to ramble in.
        return self._compiler.compile_json_schema(schema_json, any_whitespace=False)

    def matcher(self, schema: dict[str, Any]) -> Any:
        compiled = self._compile(json.dumps(schema))  # key order is field order: never sort
        return self._xgr.GrammarMatcher(compiled)

    def new_bitmask(self) -> Any:
        return self._xgr.allocate_token_bitmask(1, self.vocab_size)

    def apply(self, matcher: Any, logits: Any, bitmask: Any) -> None:
        """Mask `logits` (shape [1, vocab]) in place so only tokens the grammar allows can be chosen."""
        matcher.fill_next_token_bitmask(bitmask)
        self._xgr.apply_token_bitmask_inplace(logits, bitmask.to(logits.device))

    def forced_tokens(self, matcher: Any, limit: int) -> list[int]:
        """Tokens the grammar forces next (accepted into `matcher`); the last one is left to the model
        when a longer token could extend it, so forcing never changes what the model may write."""
        tokens = matcher.find_jump_forward_tokens()
        accepted = []
        for token in tokens[:limit]:
            if not matcher.accept_token(token):
                break
            accepted.append(token)
        return accepted

    def only_stop_left(self, matcher: Any, bitmask: Any) -> bool:
        """True when the output is complete and nothing but a stop token may follow (skip that forward)."""
        if not matcher.is_completed():
            return False
        matcher.fill_next_token_bitmask(bitmask)
        words = bitmask[0].clone()
        for token in self._stop_ids:
            words[token // 32] &= ~(1 << (token % 32)) if token % 32 != 31 else 0x7FFFFFFF
        return not bool(words.any())
