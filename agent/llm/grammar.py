"""Grammar-constrained decoding with xgrammar: JSON schemas and reply grammars (agent/llm/reply_grammar.py)
compiled once each, masks per token.

Per token the cost is one `fill_next_token_bitmask` (microseconds to a few hundred, cached by xgrammar)
plus one in-place masking of the logits. Where the grammar leaves no choice (JSON keys, `const` tool
names, punctuation), `forced_tokens` hands the decode loop those tokens so it can feed them in one forward
pass instead of one pass each.

xgrammar is imported without transformers (`import_xgrammar`): at module level it imports transformers
(1.5-3 s on two cores) only for things this module never uses.
"""

from __future__ import annotations

import json
import sys
import types
from functools import lru_cache
from typing import Any

from agent.llm.chat_tokenizer import ChatTokenizer
from agent.llm.reply_grammar import GRAMMAR_FENCES, ReplyGrammar

Constraint = dict[str, Any] | ReplyGrammar  # a JSON schema, or a reply grammar


class JsonGrammar:
    """Compiles JSON schemas and reply grammars for one tokenizer and hands out fresh matchers."""

    def __init__(self, tokenizer: ChatTokenizer, vocab_size: int) -> None:
        self._xgr = xgr = import_xgrammar()
        self._compiler = xgr.GrammarCompiler(tokenizer_info(xgr, tokenizer, vocab_size))
        self.vocab_size = vocab_size
        self._stop_ids = sorted(tokenizer.stop_ids)
        self._compile = lru_cache(maxsize=32)(self._compile_uncached)
        self._compile_reply = lru_cache(maxsize=32)(self._compile_reply_uncached)

    def _compile_uncached(self, schema_json: str) -> Any:
        # Compact JSON (no free whitespace): fewer tokens per step, and nothing for the model to ramble in.
        return self._compiler.compile_json_schema(schema_json, any_whitespace=False)

    def _compile_reply_uncached(self, key: str) -> Any:
        """A reply grammar: the JSON-only forms as one schema, each form with a body as header + block."""
        grammar = self._xgr.Grammar
        forms = json.loads(key)
        plain = [schema for schema, language in forms if language is None]
        parts = [grammar.from_json_schema(json.dumps(plain[0] if len(plain) == 1 else {"anyOf": plain}),
                                          any_whitespace=False)] if plain else []
        for schema, language in forms:
            if language is not None:
                parts.append(grammar.concat(grammar.from_json_schema(json.dumps(schema), any_whitespace=False),
                                            grammar.from_ebnf(fenced_block_ebnf(language))))
        return self._compiler.compile_grammar(parts[0] if len(parts) == 1 else grammar.union(*parts))

    def matcher(self, constraint: Constraint) -> Any:
        if isinstance(constraint, ReplyGrammar):
            compiled = self._compile_reply(constraint.key())
        else:
            compiled = self._compile(json.dumps(constraint))  # key order is field order: never sort
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


def fenced_block_ebnf(language: str) -> str:
    """The block after a header: a newline, a fence of 3 or 4 backticks and `language`, then lines, each
    of which may start with fewer backticks than the fence (and holds anything else but a newline), then
    the fence again. A line that starts with the fence closes the block, so the grammar ends there."""
    info = json.dumps(language)  # an EBNF string literal: the same escapes as JSON
    rules, openings = [], []
    for length in GRAMMAR_FENCES:
        fence = "`" * length
        starts = " | ".join(json.dumps("`" * n) for n in range(length))
        rules.append(f'line{length} ::= ({starts}) ([^`\\n] [^\\n]*)?')
        openings.append(f'"\\n{fence}" {info} "\\n" (line{length} "\\n")+ "{fence}"')
    return "\n".join([f"root ::= {' | '.join(f'({o})' for o in openings)}", *rules])


def tokenizer_info(xgr: Any, tokenizer: ChatTokenizer, vocab_size: int) -> Any:
    """What `xgr.TokenizerInfo.from_huggingface` builds, from a `tokenizers` tokenizer (no transformers)."""
    encoded = [""] * vocab_size
    for token, index in tokenizer.vocabulary().items():
        if index < vocab_size:
            encoded[index] = token
    vocab_type, add_prefix_space = _vocab_metadata(xgr, tokenizer)
    return xgr.TokenizerInfo(encoded, vocab_type, vocab_size=vocab_size,
                             stop_token_ids=sorted(tokenizer.stop_ids), add_prefix_space=add_prefix_space)


def _vocab_metadata(xgr: Any, tokenizer: ChatTokenizer) -> tuple[Any, bool]:
    """(vocab type, add_prefix_space) as xgrammar detects them from tokenizer.json.

    A plain byte-level BPE (GPT-2 style, SmolLM2) is recognised from the tokenizer objects directly; the
    general detection serialises and re-parses the whole tokenizer (~0.1 s), so it is the fallback.
    """
    from tokenizers import decoders, pre_tokenizers

    backend = tokenizer.backend
    pre = backend.pre_tokenizer
    if (isinstance(backend.decoder, decoders.ByteLevel) and isinstance(pre, pre_tokenizers.ByteLevel)
            and backend.normalizer is None):
        return xgr.VocabType.BYTE_LEVEL, bool(pre.add_prefix_space)
    meta = xgr.TokenizerInfo._detect_metadata_from_hf(tokenizer.backend_json())
    return meta["vocab_type"], bool(meta["add_prefix_space"])


def import_xgrammar() -> Any:
    """`import xgrammar`, without importing transformers when nothing has imported it yet.

    xgrammar needs transformers only for isinstance checks in `TokenizerInfo.from_huggingface` and as the
    base class of `xgrammar.contrib.hf.LogitsProcessor`; we use neither. While xgrammar imports, its own
    modules (and only they: other threads are unaffected) get a stand-in for `transformers` whose classes
    answer isinstance/issubclass by asking the real package once something has imported it.
    `xgrammar.contrib.hf` is then forgotten, so a later `import xgrammar.contrib.hf` subclasses the real
    `transformers.LogitsProcessor`.
    """
    import builtins

    if "xgrammar" in sys.modules or "transformers" in sys.modules:
        import xgrammar

        return xgrammar
    real_import = builtins.__import__
    stand_in = _TransformersStandIn("transformers")

    def import_for_xgrammar(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (),
                            level: int = 0) -> Any:
        importer = (globals or {}).get("__name__") or ""
        if name == "transformers" and level == 0 and importer.partition(".")[0] == "xgrammar":
            return stand_in
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = import_for_xgrammar
    try:
        import xgrammar
    finally:
        builtins.__import__ = real_import
    sys.modules.pop("xgrammar.contrib.hf", None)
    for package in (xgrammar, xgrammar.contrib):
        package.__dict__.pop("hf", None)
    return xgrammar


class _RealTransformersClass(type):
    """Stands for `transformers.<name>`: checks are answered by the real class, or False before it exists."""

    def _real(cls) -> type | None:
        module = sys.modules.get("transformers")
        return None if module is None else getattr(module, cls.__name__)

    def __instancecheck__(cls, obj: Any) -> bool:
        real = cls._real()
        return real is not None and isinstance(obj, real)

    def __subclasscheck__(cls, sub: type) -> bool:
        real = cls._real()
        return real is not None and issubclass(sub, real)


class _TransformersStandIn(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        stand_in = _RealTransformersClass(name, (), {})
        setattr(self, name, stand_in)
        return stand_in
