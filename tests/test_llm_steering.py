"""Steering a decode away from a reply that must not come back (pure parts; the real-model test is in
test_llm_backend.py)."""

from __future__ import annotations

import torch

from agent.llm.steering import UNSURE, AvoidedReplies, TokenTexts, steering_targets, token_probabilities

VOCAB = ["a", "b", "ab", "abc", "c", "x", "{", '"']
TOKENS = TokenTexts(VOCAB)


def logits_for(probs: dict[str, float]) -> torch.Tensor:
    row = torch.full((1, len(VOCAB)), float("-inf"))
    for text, p in probs.items():
        row[0, VOCAB.index(text)] = torch.log(torch.tensor(p))
    return row


def best(logits: torch.Tensor) -> str:
    return VOCAB[int(torch.argmax(logits))]


def test_tokens_are_found_by_the_text_they_start_with():
    assert sorted(VOCAB[i] for i in TOKENS.starting_with("a")) == ["a", "ab", "abc"]
    assert [VOCAB[i] for i in TOKENS.starting_with("bc")] == []


def test_no_spelling_of_the_same_text_gets_through_the_target():
    avoided = AvoidedReplies([("abc", [1])], TOKENS)  # "b" at offset 1 may not come back after "a"
    start = logits_for({"ab": 0.5, "abc": 0.3, "a": 0.1, "x": 0.1})
    avoided.apply(start, "")
    assert best(start) == "a"  # "ab" and "abc" would write the "b"; "a" stays on the way to it
    after_a = logits_for({"b": 0.9, "c": 0.1})
    avoided.apply(after_a, "a")
    assert best(after_a) == "c"


def test_a_place_the_grammar_forces_moves_to_the_next_target():
    avoided = AvoidedReplies([("abc", [1, 2])], TOKENS)
    forced = logits_for({"b": 1.0})
    avoided.apply(forced, "a")
    assert best(forced) == "b"
    after_b = logits_for({"c": 0.8, "x": 0.2})
    avoided.apply(after_b, "ab")
    assert best(after_b) == "x"


def test_output_that_already_differs_is_left_alone():
    avoided = AvoidedReplies([("abc", [2])], TOKENS)
    elsewhere = logits_for({"c": 0.9, "x": 0.1})
    avoided.apply(elsewhere, "xb")
    assert best(elsewhere) == "c"
    assert not avoided  # the output left the reply: nothing more to check on later tokens
    assert not AvoidedReplies([], TOKENS) and not AvoidedReplies([("abc", [])], TOKENS)


def test_targets_are_unsure_tokens_with_letters_least_likely_first():
    text = '{"ab'
    targets = steering_targets(text, [0, 1, 2], ["{", '"', "ab"], [0.1, 0.2, UNSURE - 0.3])
    assert targets == [2]  # the brace and the quote are not changes worth making
    assert steering_targets("abx", [0, 2], ["ab", "x"], [0.99, 0.95]) == [2]  # the least likely, even if sure


def test_probabilities_are_read_per_position():
    rows = torch.log(torch.tensor([[0.7, 0.3], [0.2, 0.8]]))
    assert [round(p, 3) for p in token_probabilities(rows, [1, 1])] == [0.3, 0.8]
