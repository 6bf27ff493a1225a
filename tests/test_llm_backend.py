"""The in-process backend on the real default model (SmolLM2-135M): the fast engine computes what
transformers computes, constrained output always parses, and KV-cache reuse (in memory and across
processes) never changes what greedy decoding produces."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field, TypeAdapter

from agent.llm.base import ChatMessage, DecodingParams
from agent.llm.prompt_store import PromptKVStore

pytestmark = pytest.mark.real_model


class City(BaseModel):
    name: Annotated[str, Field(max_length=40)]
    country: Literal["France", "Germany", "Italy", "Spain"]
    population_millions: Annotated[int, Field(ge=0, le=99)]


class Shopping(BaseModel):
    items: Annotated[list[Annotated[str, Field(max_length=20)]], Field(min_length=1, max_length=3)]
    urgent: bool


class RunPython(BaseModel):
    thought: Annotated[str, Field(max_length=80)]
    tool: Literal["run_python"]
    args: dict[Literal["code"], Annotated[str, Field(max_length=60)]]


class Finish(BaseModel):
    thought: Annotated[str, Field(max_length=80)]
    tool: Literal["finish"]
    args: dict[Literal["answer"], Annotated[str, Field(max_length=40)]]


Action = RunPython | Finish
SYSTEM = ChatMessage("system", "You are a careful assistant. Reply with JSON only.")
CASES: list[tuple[str, Any]] = [
    ("Tell me about the capital of France.", City),
    ("I need milk and eggs today.", Shopping),
    ("What is 17 * 23? Compute it.", Action),
    ("Say hello, then finish.", Action),
]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from agent.llm.loading import _cached_or_convert, resolve_model
    from agent.llm.transformers_backend import TransformersChatModel

    _cached_or_convert(resolve_model())  # on an empty cache this converts the GGUF (~45 s): not what is timed
    m = TransformersChatModel("base")  # the engine as published: compared with transformers
    m._prompt_store = PromptKVStore(tmp_path_factory.mktemp("kv") / "prompt.safetensors")
    return m


def ask(text: str) -> list[ChatMessage]:
    return [SYSTEM, ChatMessage("user", text)]


def test_default_model_loads_into_the_fast_engine_from_the_weight_cache(model: Any) -> None:
    from agent.llm.llama_engine import LlamaEngine
    from agent.llm.loading import _cached_or_convert, resolve_model

    directory, gguf = _cached_or_convert(resolve_model())
    assert gguf is None and (directory / "complete").is_file()
    assert "quantization_config" not in json.loads((directory / "config.json").read_text())
    assert isinstance(model.engine, LlamaEngine)
    assert model.load_seconds < 15


def test_fast_engine_computes_the_same_logits_as_transformers(model: Any) -> None:
    import torch

    from agent.llm.loading import load_model_and_tokenizer, resolve_model

    hf, _ = load_model_and_tokenizer(resolve_model(), "cpu", torch.float32)
    ids = model._encode(ask("Name three colours."))
    with torch.inference_mode():
        expected = hf(input_ids=torch.tensor([ids])).logits[0, -1]
        whole = model.engine.forward(ids, 0)[0]
        model.engine.forward(ids[:5], 0)
        in_two_parts = model.engine.forward(ids[5:], 5)[0]  # prefix from the cache, like a reused prompt
        model.engine.forward(ids[:-3], 0)
        for position in range(len(ids) - 3, len(ids)):  # one-token steps: the block kernels' path
            by_steps = model.engine.forward([ids[position]], position)[0]
    model.reset_cache()  # the engine's cache no longer matches what the model object believes it holds
    assert torch.allclose(whole, expected, atol=1e-3)
    assert torch.allclose(in_two_parts, expected, atol=1e-3)
    assert torch.allclose(by_steps, expected, atol=1e-3)


def test_decode_multiplies_the_ggufs_own_blocks_and_writes_what_float32_writes(
        model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default model's layers are Q4_1 and its embedding Q8_0: the engine keeps them as blocks (5-8x fewer
    bytes per token) and greedy text is the one the dense float32 engine writes."""
    import os

    from agent.llm.block_kernels import BlockMatrix
    from agent.llm.transformers_backend import TransformersChatModel

    if not model.engine.uses_blocks:
        assert not os.environ.get("CI"), "the block kernel must build in CI"
        pytest.skip("no C compiler or no AVX2 + FMA here")
    assert isinstance(model.engine.head, BlockMatrix) and model.engine.head.kind == "q8_0"
    assert all(isinstance(m, BlockMatrix) and m.kind == "q4_1" for m in model.engine.layers[0][1:3])
    monkeypatch.setenv("AUTOGPT_BLOCK_KERNELS", "0")
    dense = TransformersChatModel("base")
    assert not dense.engine.uses_blocks
    schema = TypeAdapter(Action).json_schema()
    for messages, case_schema in [([AGENT_SYSTEM, ChatMessage("user", "Goal: what is 2 to the power of 20?")],
                                   schema), (ask("Write two sentences about rivers."), None)]:
        texts = [m.generate(messages, json_schema=case_schema, params=DecodingParams(max_new_tokens=60)).text
                 for m in (model, dense)]
        assert texts[0] == texts[1]


def test_a_fused_step_computes_what_the_kernels_compute_one_matrix_at_a_time(model: Any) -> None:
    """decode_step (all layers in one C call) against BlockMatrix calls + the attention kernel from Python."""
    import torch

    engine = model.engine
    if engine._fused is None:
        pytest.skip("no block kernels here")
    ids = model._encode(ask("Name three colours."))
    with torch.inference_mode():
        engine.forward(ids[:-4], 0)
        fused = engine.forward(ids[-4:], len(ids) - 4, keep=4)
        step, engine._fused = engine._fused, None
        try:
            per_matrix = engine.forward(ids[-4:], len(ids) - 4, keep=4)
        finally:
            engine._fused = step
    model.reset_cache()
    torch.testing.assert_close(fused, per_matrix, rtol=0, atol=1e-5)
    assert torch.equal(fused.argmax(-1), per_matrix.argmax(-1))


def test_a_replaced_matrix_takes_steps_off_the_fused_path_until_it_is_back(model: Any) -> None:
    """An adapter (any callable in place of a BlockMatrix) is called, matrix by matrix, with the same result."""
    import torch

    engine = model.engine
    if engine._fused is None:
        pytest.skip("no block kernels here")
    ids = model._encode(ask("Name three colours."))
    original, calls = engine.layers[0], []

    def adapted(x: Any, **kwargs: Any) -> Any:
        calls.append(x.shape)
        return original[1](x, **kwargs)

    with torch.inference_mode():
        engine.forward(ids[:-1], 0)
        fused = engine.forward(ids[-1:], len(ids) - 1)
        engine.layers[0] = (original[0], adapted, *original[2:])
        engine.matrices_changed()
        try:
            assert engine._fused is None
            by_matrix = engine.forward(ids[-1:], len(ids) - 1)
        finally:
            engine.layers[0] = original
            engine.matrices_changed()
    model.reset_cache()
    assert calls and engine._fused is not None
    torch.testing.assert_close(by_matrix, fused, rtol=0, atol=1e-5)


@pytest.mark.parametrize(("prompt", "shape"), CASES)
def test_constrained_output_always_parses(model: Any, prompt: str, shape: Any) -> None:
    schema = TypeAdapter(shape).json_schema()
    pieces: list[str] = []
    g = model.generate(ask(prompt), json_schema=schema, params=DecodingParams(max_new_tokens=160),
                       on_text=pieces.append)
    assert g.finished, g.text
    TypeAdapter(shape).validate_json(g.text)
    assert "".join(pieces) == g.text


def test_a_reply_to_avoid_is_not_written_again_and_leaves_later_calls_unchanged(model: Any) -> None:
    from agent.action import step_schema
    from agent.action_format import parse_action
    from tools.registry import default_tools

    tools = default_tools(nlp=False)
    schema = step_schema(tools, thoughts=False)
    prompt = ask("Goal: what is the sum of the numbers in data.txt? Tools: run_python(code), read_file(path).")
    first = model.generate(prompt, json_schema=schema, params=DecodingParams(max_new_tokens=200))
    steered = model.generate(prompt, json_schema=schema, params=DecodingParams(max_new_tokens=200,
                                                                                  avoid=(first.text,)))
    assert steered.finished and steered.text != first.text
    parse_action(steered.text, tools)
    again = model.generate(prompt, json_schema=schema, params=DecodingParams(max_new_tokens=200))
    assert again.text == first.text


def test_kv_reuse_gives_the_same_greedy_output_as_a_cold_cache(model: Any) -> None:
    question = ask("Give me one tip for writing tests.")
    first = model.generate(question, params=DecodingParams(max_new_tokens=24))
    history = question + [
        ChatMessage("assistant", first.text), ChatMessage("user", "And one more?")]
    warm = model.generate(history, params=DecodingParams(max_new_tokens=24))
    model.reset_cache()
    cold = model.generate(history, params=DecodingParams(max_new_tokens=24))
    assert cold.prefilled_tokens == cold.tokens_in
    assert warm.prefilled_tokens < warm.tokens_in // 2
    assert warm.text == cold.text


def test_own_reply_in_history_is_not_prefilled_again(model: Any) -> None:
    """The reply comes back as the ids generated (not re-tokenized text), so only the new turn prefills."""
    schema = TypeAdapter(Action).json_schema()
    step = model.generate(ask("What is 2 + 2? Compute it."), json_schema=schema,
                          params=DecodingParams(max_new_tokens=120))
    cached = len(model._cached_ids)
    history = ask("What is 2 + 2? Compute it.") + [ChatMessage("assistant", step.text),
                                                   ChatMessage("user", "Observation: 4")]
    follow = model.generate(history, json_schema=schema, params=DecodingParams(max_new_tokens=120))
    assert follow.prefilled_tokens == follow.tokens_in - cached


def test_cache_is_invalidated_where_the_prefix_changes(model: Any) -> None:
    base = [SYSTEM, ChatMessage("user", "Summary of earlier steps: none."), ChatMessage("assistant", "ok"),
            ChatMessage("user", "List two fruits.")]
    model.generate(base, params=DecodingParams(max_new_tokens=8))
    compacted = [SYSTEM, ChatMessage("user", "Summary of earlier steps: read data.csv (ok)."),
                 ChatMessage("user", "List two fruits.")]
    warm = model.generate(compacted, params=DecodingParams(max_new_tokens=16))
    old, new = model._encode(base), model._encode(compacted)
    same = next(i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b)
    assert len(model._encode([SYSTEM])) < same  # the system turn survives the change ...
    assert warm.prefilled_tokens == warm.tokens_in - same  # ... and everything from the change on runs
    other_system = [ChatMessage("system", "You answer in French.")] + compacted[1:]
    changed = model.generate(other_system, params=DecodingParams(max_new_tokens=16))
    assert changed.prefilled_tokens >= changed.tokens_in - 4  # only "<|im_start|>system\n" can match
    model.reset_cache()
    assert model.generate(compacted, params=DecodingParams(max_new_tokens=16)).text == warm.text
    assert model.generate(other_system, params=DecodingParams(max_new_tokens=16)).text == changed.text


def test_sampling_with_a_seed_is_reproducible(model: Any) -> None:
    params = DecodingParams(max_new_tokens=20, temperature=0.9, top_p=0.95, seed=7)
    messages = ask("Invent a name for a cat.")
    first = model.generate(messages, params=params)
    again = model.generate(messages, params=params)  # this one reuses the cache
    model.reset_cache()
    cold = model.generate(messages, params=params)
    assert first.text == again.text == cold.text


def test_a_new_process_starts_from_the_stored_prompt_prefill(model: Any, tmp_path: Any) -> None:
    from agent.llm.transformers_backend import TransformersChatModel

    store = PromptKVStore(tmp_path / "prompt.safetensors")
    messages = [ChatMessage("system", "You are Auto-GPT. Tools: run_python(code), read_file(path), "
                                      "finish(answer). Reply with one JSON object per step."),
                ChatMessage("user", "What is 6 * 7?")]
    model._prompt_store, model._fresh_process = store, True
    model.reset_cache()
    reference = model.generate(messages, params=DecodingParams(max_new_tokens=16))
    assert store.path.is_file() and reference.prefilled_tokens == reference.tokens_in
    restarted = TransformersChatModel("base")  # stands in for the next process
    restarted._prompt_store = store
    again = restarted.generate(messages, params=DecodingParams(max_new_tokens=16))
    assert again.prefilled_tokens == 1 and again.text == reference.text


AGENT_SYSTEM = ChatMessage("system", (
    "You are an agent. Tools: run_python(code), read_file(path), finish(answer). Reply with one JSON object.\n"
    'Example: {"thought": "Read the data first.", "tool": "read_file", "args": {"path": "sales.csv"}}'))


def test_drafted_tokens_never_change_greedy_output(model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Prompt lookup only skips forward passes: the text is what one-token-per-pass greedy decoding gives."""
    schema = TypeAdapter(Action).json_schema()
    cases = [([AGENT_SYSTEM, ChatMessage("user", "Goal: read sales.csv and report the total.")], schema),
             (ask("Repeat after me three times: the quick brown fox jumps over the lazy dog."), None)]
    passes: list[int] = []
    forward = model._forward

    def counted(ids: list[int], keep: int = 1) -> Any:
        passes.append(len(ids))
        return forward(ids, keep)

    monkeypatch.setattr(model, "_forward", counted)
    for messages, case_schema in cases:
        runs = {}
        for drafting in (False, True):
            model.drafting = drafting
            model.reset_cache()
            passes.clear()
            g = model.generate(messages, json_schema=case_schema, params=DecodingParams(max_new_tokens=48))
            runs[drafting] = (g.text, len(passes), len(model._cached_ids))
        (plain, plain_passes, plain_cached), (drafted, drafted_passes, drafted_cached) = runs.values()
        assert drafted == plain
        assert drafted_passes < plain_passes  # the guesses were used, so the comparison means something
        assert drafted_cached == plain_cached  # rejected guesses do not stay in the cache


def test_grammar_is_built_without_importing_transformers() -> None:
    import subprocess
    import sys

    code = """
import sys
from agent.llm.transformers_backend import TransformersChatModel
from agent.llm.base import ChatMessage, DecodingParams
m = TransformersChatModel("base")
m.generate([ChatMessage("user", "Hi")], json_schema={"type": "boolean"}, params=DecodingParams(max_new_tokens=2))
assert "transformers" not in sys.modules, "the fast path imported transformers"
import transformers, xgrammar.contrib.hf
assert issubclass(xgrammar.contrib.hf.LogitsProcessor, transformers.LogitsProcessor)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_grammar_vocabulary_is_what_xgrammar_builds_from_the_transformers_tokenizer(model: Any) -> None:
    from transformers import AutoTokenizer

    from agent.llm.grammar import import_xgrammar, tokenizer_info
    from agent.llm.loading import _cached_or_convert, resolve_model

    xgr = import_xgrammar()
    ours = tokenizer_info(xgr, model.tokenizer, model.vocab_size)
    directory, _ = _cached_or_convert(resolve_model())
    theirs = xgr.TokenizerInfo.from_huggingface(AutoTokenizer.from_pretrained(directory),
                                                vocab_size=model.vocab_size,
                                                stop_token_ids=sorted(model.tokenizer.stop_ids))
    assert ours.dump_metadata() == theirs.dump_metadata()
    assert ours.decoded_vocab == theirs.decoded_vocab


def test_string_guard_blocks_every_merged_closer_token(model: Any) -> None:
    from agent.llm.string_guard import _merged_closer

    every = [i for i in range(model.vocab_size) if _merged_closer(model.tokenizer.decode([i]))]
    assert model.string_guard._blocked.tolist() == every


def test_prepared_weights_are_stored_once_and_mapped_after(model: Any, tmp_path: Any) -> None:
    import torch

    from agent.llm.llama_engine import LlamaEngine
    from agent.llm.loading import _cached_or_convert, resolve_model

    directory, _ = _cached_or_convert(resolve_model())
    config = json.loads((directory / "config.json").read_text())
    stored = tmp_path / "engine.safetensors"
    ids = model._encode(ask("Name a colour."))
    with torch.inference_mode():
        built = LlamaEngine(directory, config, "cpu", torch.float32, stored).forward(ids, 0)
        assert stored.is_file()
        mapped = LlamaEngine(directory, config, "cpu", torch.float32, stored).forward(ids, 0)
        stored.write_bytes(stored.read_bytes()[:1000])  # a torn file is rebuilt, not trusted
        rebuilt = LlamaEngine(directory, config, "cpu", torch.float32, stored).forward(ids, 0)
    assert torch.equal(built, mapped) and torch.equal(built, rebuilt)


def test_general_engine_gives_the_fast_engines_text_while_rewinding_its_cache(model: Any) -> None:
    """The transformers path (other architectures) rewinds its cache for rejected drafts and changed prompts."""
    from agent.llm.transformers_backend import TransformersChatModel

    general = TransformersChatModel("base", engine="hf")
    messages = [AGENT_SYSTEM, ChatMessage("user", "Goal: read sales.csv and report the total.")]
    schema = TypeAdapter(Action).json_schema()
    params = DecodingParams(max_new_tokens=40)
    model.reset_cache()
    expected = model.generate(messages, json_schema=schema, params=params).text
    assert general.generate(messages, json_schema=schema, params=params).text == expected
    again = general.generate(messages, json_schema=schema, params=params)  # the cache is cut back to the prompt
    assert again.text == expected and again.prefilled_tokens == 1


def test_a_last_assistant_message_is_continued_not_closed(model: Any) -> None:
    question = ask("Write a function that adds two numbers.")
    opened = model.tokenizer.render([*question, ChatMessage("assistant", "```python\ndef add(")])
    assert opened == model.tokenizer.render(question) + "```python\ndef add("
    g = model.generate([*question, ChatMessage("assistant", "```python\ndef add(")],
                       params=DecodingParams(max_new_tokens=12))
    assert not g.text.startswith("```")  # it goes on inside the function it was given
