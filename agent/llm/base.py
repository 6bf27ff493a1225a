"""The chat-model interface every backend implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from agent.llm.reply_grammar import ReplyGrammar

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class DecodingParams:
    """How to sample. temperature 0 means greedy."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    avoid: tuple[str, ...] = ()  # replies to steer away from (a failed call); backends may ignore it


GREEDY = DecodingParams()


@dataclass(frozen=True)
class Generation:
    text: str
    tokens_in: int
    tokens_out: int
    prefilled_tokens: int  # prompt tokens actually run through the model (the rest came from the KV cache)
    seconds: float
    finished: bool  # False when max_new_tokens cut the output short
    prefill_seconds: float = 0.0  # of `seconds`, the time spent prefilling (0.0 when a backend cannot tell)


class ChatModel(Protocol):
    name: str
    device: str
    context_window: int

    def generate(
        self,
        messages: list[ChatMessage],
        *,
        json_schema: dict[str, Any] | None = None,
        grammar: ReplyGrammar | None = None,
        params: DecodingParams = DecodingParams(),
        on_text: Callable[[str], None] | None = None,
    ) -> Generation:
        """Complete the chat; with `json_schema` (or `grammar`: JSON, then maybe a fenced block), the output
        is constrained to match it. A backend that cannot constrain to a grammar asks for it in words."""
        ...

    def count_tokens(self, messages: list[ChatMessage]) -> int:
        """Prompt length in tokens, as `generate` would see it."""
        ...


class ModelSetupError(RuntimeError):
    """The model cannot be loaded; the message tells the user what to do."""
