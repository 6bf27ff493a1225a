"""Grammar-constrained decoding with xgrammar: JSON schemas compiled once per schema, masks per token."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any


class JsonGrammar:
    """Compiles JSON schemas for one tokenizer and hands out fresh matchers."""

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        import xgrammar as xgr

        self._xgr = xgr
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
        self._compiler = xgr.GrammarCompiler(info)
        self.vocab_size = vocab_size
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
