"""Training conversations to token ids and loss masks, and the order they are trained in.

A conversation is rendered by the model's own chat template (`ChatTokenizer.render_conversation`, the same
template and tokenizer the agent's prompts go through), so the context of each reply is token for token what
the agent sends at run time. Loss falls on the tokens of messages marked `train` and on the end-of-turn token
after each of them (the model must learn to stop); every other token is context only.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from agent.llm.base import ChatMessage
from agent.llm.chat_tokenizer import ChatTokenizer

IGNORED = -100  # the label of a token without loss (transformers' convention)
SORT_WINDOW = 16  # batches are cut from windows of this many batches sorted by length: less padding


class TrainingMessage(Protocol):
    role: str
    content: str
    train: bool


class TrainingConversation(Protocol):
    """What training reads from each example (`agent.tune.dataset.TrainingExample` is one)."""

    @property
    def messages(self) -> Sequence[TrainingMessage]: ...


@dataclass(frozen=True)
class EncodedExample:
    ids: tuple[int, ...]
    labels: tuple[int, ...]  # the id where the token is trained on, else IGNORED

    @property
    def trained_tokens(self) -> int:
        return sum(label != IGNORED for label in self.labels)


def encode_conversation(tokenizer: ChatTokenizer, messages: Sequence[TrainingMessage]) -> EncodedExample:
    """Token ids of the rendered conversation, with labels on the trained messages' tokens only."""
    chat = [ChatMessage(m.role, m.content) for m in messages]  # type: ignore[arg-type]
    text = tokenizer.render_conversation(chat)
    spans = _trained_spans(text, messages, tokenizer.special.get("eos_token", ""))
    encoding = tokenizer.encode(text)
    labels = []
    for token, (begin, end) in zip(encoding.ids, encoding.offsets, strict=True):
        inside = any(a <= begin and end <= b for a, b in spans)
        labels.append(token if inside else IGNORED)
    return EncodedExample(tuple(encoding.ids), tuple(labels))


def _trained_spans(text: str, messages: Sequence[TrainingMessage], end_of_turn: str) -> list[tuple[int, int]]:
    """Character spans of the trained messages' contents in `text`, each with the end-of-turn mark after it."""
    spans, cursor = [], 0
    for m in messages:
        at = text.find(m.content, cursor) if m.content else -1
        if at < 0:
            continue
        end = at + len(m.content)
        cursor = end
        if not m.train:
            continue
        if end_of_turn and text.startswith(end_of_turn, end):
            end += len(end_of_turn)
        spans.append((at, end))
    return spans


@dataclass(frozen=True)
class EncodedData:
    examples: tuple[EncodedExample, ...]
    skipped_long: int  # longer than the token limit
    skipped_untrained: int  # no token to learn from

    @property
    def tokens(self) -> int:
        return sum(len(e.ids) for e in self.examples)

    @property
    def trained_tokens(self) -> int:
        return sum(e.trained_tokens for e in self.examples)

    def fingerprint(self) -> str:
        """Names the encoded data (ids and labels, in order), so a checkpoint is only resumed on the same data."""
        h = hashlib.sha256()
        for e in self.examples:
            h.update(repr((e.ids, e.labels)).encode())
        return h.hexdigest()[:16]


def encode_all(tokenizer: ChatTokenizer, conversations: Sequence[TrainingConversation], max_tokens: int) -> EncodedData:
    kept, long, untrained = [], 0, 0
    for conversation in conversations:
        encoded = encode_conversation(tokenizer, conversation.messages)
        if len(encoded.ids) > max_tokens:
            long += 1
        elif encoded.trained_tokens == 0:
            untrained += 1
        else:
            kept.append(encoded)
    return EncodedData(tuple(kept), long, untrained)


def epoch_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Example indices of each batch of one epoch: shuffled by (seed, epoch), similar lengths batched together."""
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * SORT_WINDOW
    batches = []
    for first in range(0, len(order), window):
        chunk = sorted(order[first:first + window], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches
