"""LoRA training (agent/tune/model.py): loss masks, a few real steps, checkpoints and resume.

The mechanics run on a tiny llama (random weights, the default model's tokenizer) so they take seconds; the
loss masks are checked with the default model's own tokenizer and chat template. The real model's tuning run
is in test_adapters.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tiny_llama
import tune_fixture

from agent.llm.base import ChatMessage
from agent.llm.chat_tokenizer import ChatTokenizer
from agent.tune.encoding import IGNORED, encode_all, encode_conversation, epoch_batches
from agent.tune.model import BaseCheckpoint, TuneError, TuneSettings, learning_rate, train
from agent.tune.shared_prefix import shared_prefix_length, shared_prefix_loss


@pytest.fixture(scope="module")
def tokenizer() -> ChatTokenizer:
    tok = ChatTokenizer.from_directory(tiny_llama.default_float_checkpoint(), set())
    assert tok is not None
    return tok


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> BaseCheckpoint:
    directory = tiny_llama.make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))
    return BaseCheckpoint("tiny-llama", directory, str(directory))


def test_loss_falls_on_the_trained_replies_and_their_end_of_turn_only(tokenizer):
    conversation = tune_fixture.arithmetic(17, 23)
    encoded = encode_conversation(tokenizer, conversation.messages)
    trained = [label for label in encoded.labels if label != IGNORED]
    replies = [m.content for m in conversation.messages if m.train]
    assert len(replies) == 2
    assert tokenizer.backend.decode(trained, skip_special_tokens=False) == "".join(r + "<|im_end|>" for r in replies)
    # every labelled token is the token at its own position (no shift here: transformers shifts)
    assert all(label in (IGNORED, token) for token, label in zip(encoded.ids, encoded.labels, strict=True))


def test_each_reply_is_trained_in_the_context_the_agent_sends_at_run_time(tokenizer):
    """The tokens before a trained reply are exactly the prompt `generate` encodes for that step."""
    conversation = tune_fixture.arithmetic(41, 9)
    encoded = encode_conversation(tokenizer, conversation.messages)
    messages = [ChatMessage(m.role, m.content) for m in conversation.messages]
    for k, message in enumerate(conversation.messages):
        if not message.train:
            continue
        prompt = list(tokenizer.encode(tokenizer.render(messages[:k])).ids)
        assert list(encoded.ids[:len(prompt)]) == prompt
        assert encoded.labels[len(prompt) - 1] == IGNORED and encoded.labels[len(prompt)] != IGNORED


def test_examples_too_long_or_without_a_trained_reply_are_skipped_and_counted(tokenizer):
    untrained = tune_fixture.Conversation(tuple(tune_fixture.Message(m.role, m.content, False)
                                                for m in tune_fixture.arithmetic(2, 3).messages))
    data = encode_all(tokenizer, [*tune_fixture.conversations(3), untrained], max_tokens=10_000)
    assert (len(data.examples), data.skipped_untrained, data.skipped_long) == (3, 1, 0)
    assert encode_all(tokenizer, tune_fixture.conversations(3), max_tokens=50).skipped_long == 3


def test_every_example_is_in_one_batch_per_epoch_and_the_order_is_seeded():
    lengths = [5, 300, 40, 41, 200, 7, 9, 120, 33, 64, 80]
    first = epoch_batches(lengths, 4, seed=1, epoch=0)
    assert sorted(i for b in first for i in b) == list(range(len(lengths)))
    assert all(len(b) <= 4 for b in first)
    assert epoch_batches(lengths, 4, seed=1, epoch=0) == first
    assert epoch_batches(lengths, 4, seed=1, epoch=1) != first


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    rates = [learning_rate(s, 200, 1e-3) for s in range(200)]
    assert rates[0] < rates[9] == pytest.approx(1e-3)
    assert rates[-1] == pytest.approx(1e-4, rel=0.05)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:], strict=False))


def _train(data, base, out, settings, **kwargs):
    events = list(train(data, base, out, settings, device="cpu", pad_id=2, **kwargs))
    return events, events[-1]


def test_a_few_steps_lower_the_loss_and_write_an_adapter_that_names_its_base(tokenizer, tiny, tmp_path):
    data = encode_all(tokenizer, tune_fixture.short_conversations(4), 1024)
    settings = TuneSettings(epochs=10, rank=8, alpha=16, learning_rate=5e-2, batch_size=4, dropout=0.0)
    events, finished = _train(data, tiny, tmp_path / "adapter", settings)
    losses = [e.loss for e in events if e.kind == "step"]
    assert len(losses) == 10 and losses[-1] < 0.7 * losses[0], losses
    assert events[0].kind == "started" and events[0].examples == 4 and events[0].parameters > 0
    assert all(e.tokens_per_second > 0 for e in events if e.kind == "step")
    from agent.llm import lora

    adapter = lora.read_adapter(finished.adapter)
    assert (adapter.base_name, adapter.rank, adapter.scale) == ("tiny-llama", 8, 2.0)
    assert adapter.base_fingerprint == lora.base_fingerprint(tiny.directory)
    assert finished.summary.steps == 10 and len(finished.summary.losses) == 10
    assert not (finished.adapter / "checkpoint").exists()  # the finished adapter needs no checkpoint


def test_a_run_stopped_after_a_checkpoint_resumes_to_the_same_adapter(tokenizer, tiny, tmp_path):
    from safetensors.torch import load_file

    data = encode_all(tokenizer, tune_fixture.short_conversations(6), 1024)
    settings = TuneSettings(epochs=2, rank=4, alpha=8, learning_rate=5e-3, batch_size=2, checkpoint_every=2)
    _, whole = _train(data, tiny, tmp_path / "whole", settings)

    stopped = tmp_path / "stopped"
    for event in train(data, tiny, stopped, settings, device="cpu", pad_id=2):
        if event.kind == "step" and event.step == 3:
            break  # as if killed during step 4: the checkpoint of step 2 is on disk
    assert (stopped / "checkpoint" / "state.json").is_file()
    events, resumed = _train(data, tiny, stopped, settings, resume=True)
    assert events[0].first_step == 2
    assert [e.step for e in events if e.kind == "step"][0] == 3
    a, b = load_file(str(whole.adapter / "adapter_model.safetensors")), load_file(
        str(resumed.adapter / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(float((a[k] - b[k]).abs().max()) < 1e-6 for k in a)
    assert [s for s, _ in resumed.summary.losses] == list(range(1, whole.summary.steps + 1))


def test_resume_refuses_a_missing_checkpoint_or_one_made_with_other_data(tokenizer, tiny, tmp_path):
    data = encode_all(tokenizer, tune_fixture.short_conversations(4), 1024)
    settings = TuneSettings(epochs=2, rank=4, alpha=8, batch_size=2, checkpoint_every=1)
    with pytest.raises(TuneError, match="nothing to resume"):
        _train(data, tiny, tmp_path / "empty", settings, resume=True)
    for event in train(data, tiny, tmp_path / "a", settings, device="cpu", pad_id=2):
        if event.kind == "checkpoint":
            break
    other = encode_all(tokenizer, tune_fixture.short_conversations(5), 1024)
    with pytest.raises(TuneError, match="other data"):
        _train(other, tiny, tmp_path / "a", settings, resume=True)


def test_no_examples_is_a_clear_error(tiny, tmp_path):
    from agent.tune.encoding import EncodedData

    with pytest.raises(TuneError, match="no training examples"):
        _train(EncodedData((), 2, 0), tiny, tmp_path / "x", TuneSettings())


def test_the_loss_curve_is_a_png(tmp_path):
    from agent.tune.loss_curve import write_loss_curve

    path = write_loss_curve([(i, 3.0 / i) for i in range(1, 60)], tmp_path / "loss.png", "test", 20)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cuda_is_refused_clearly_where_there_is_none(tokenizer, tiny, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    data = encode_all(tokenizer, tune_fixture.conversations(1), 1024)
    with pytest.raises(TuneError, match="no CUDA device"):
        list(train(data, tiny, tmp_path / "x", TuneSettings(), device="cuda"))


def test_tuning_on_cuda_takes_a_step_where_there_is_one(tokenizer, tiny, tmp_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here (benchmarks/gpu_check.sh runs this on one)")
    data = encode_all(tokenizer, tune_fixture.short_conversations(4), 1024)
    events = list(train(data, tiny, tmp_path / "cuda", TuneSettings(epochs=2, rank=4, alpha=8, batch_size=2),
                        device="cuda", pad_id=2))
    assert events[0].device == "cuda" and events[-1].kind == "finished"
    assert Path(events[-1].adapter / "adapter_model.safetensors").is_file()


def test_the_shared_prefix_is_what_every_row_has_in_common_before_anything_is_trained():
    common = list(range(100, 140))
    rows = [common + [1, 2, 3], common + [1, 5], common + [1, 2, 9, 9]]
    untrained = [[IGNORED] * len(r) for r in rows]
    assert shared_prefix_length(rows, untrained) == 41  # the 40 common tokens and the shared 1
    trained_early = [list(u) for u in untrained]
    trained_early[1][35] = rows[1][35]
    assert shared_prefix_length(rows, trained_early) == 35  # a trained token is never in the shared part
    assert shared_prefix_length(rows[:1], untrained[:1]) == 0  # one row: nothing to share
    assert shared_prefix_length([common[:10] + [1], common[:10] + [2]], [[IGNORED] * 11] * 2) == 0  # too short
    assert shared_prefix_length([common, common], [[IGNORED] * 40] * 2) == 39  # each row keeps a token


def test_running_the_shared_prefix_once_gives_the_plain_forward_passs_loss_and_gradients(tokenizer, tiny):
    import torch

    from agent.tune.model import _batch, _peft_model

    data = encode_all(tokenizer, tune_fixture.conversations(3), 2048)  # with the system prompt: a long prefix
    ids, labels, mask, shared = _batch(data.examples, 2, "cpu")
    assert shared > 200 and len({len(e.ids) for e in data.examples}) > 1  # rows of unequal length, padded
    torch.manual_seed(0)
    model = _peft_model(tiny.directory, TuneSettings(rank=4, alpha=8, dropout=0.0), "cpu")
    for p in model.parameters():  # peft starts B at zero: give the adapter a part in the forward pass
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.05)
    plain = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    plain.backward()
    plain_grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
    model.zero_grad()
    once = shared_prefix_loss(model, ids, labels, mask, shared)
    once.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert abs(once.item() - plain.item()) < 1e-5 * plain.item()
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-7) for a, b in zip(grads, plain_grads, strict=True))
