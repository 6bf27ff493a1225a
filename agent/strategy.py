"""How decoding adapts: greedy while things go well; after a failure, feedback, a low temperature, and a
repeated action forbidden. A small model that repeats a call which worked usually means "done" but copies
its last turn; the next decode then leaves that tool out, so finishing (or another tool) is what remains.

The temperature never climbs: raised after each failure, the 135M default model wrote noise until the
step budget ran out. A rejected reply is decoded again from the same prompt at the low temperature with
another seed instead (`params(attempt=...)`), so the retries are different calls, not noisier ones.
Pure: the loop asks for the next strategy given what just happened."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from agent.llm.base import DecodingParams

Signal = Literal["ok", "tool_failed", "invalid_output", "repeated_action"]

RETRY_TEMPERATURE = 0.3
RETRY_TOP_P = 0.95
ATTEMPT_SEED_STRIDE = 7919  # another seed for each attempt of one step


@dataclass(frozen=True)
class Strategy:
    temperature: float = 0.0
    top_p: float = 1.0
    feedback_kind: Signal | None = None
    feedback_detail: str = ""
    forbidden: frozenset[str] = frozenset()  # Action.key() values the model may not choose again
    just_failed: str | None = None  # the call that just failed: not to be re-run unchanged right away
    avoided_tools: frozenset[str] = frozenset()  # left out of the next decode: the model just repeated them
    escalations: int = 0

    def params(self, max_new_tokens: int, seed: int, avoid: tuple[str, ...] = (), attempt: int = 0,
               floor: float = 0.0) -> DecodingParams:
        """`avoid`: the replies that wrote the forbidden and just-failed calls, for the decoder to steer from;
        `attempt`: how many replies of this step were rejected (each further one is sampled, seeded anew);
        `floor`: the run's own temperature, the least any decode samples at."""
        temperature, top_p = max(self.temperature, floor), self.top_p
        if attempt:
            temperature, top_p = max(temperature, RETRY_TEMPERATURE), min(top_p, RETRY_TOP_P)
        return DecodingParams(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                              seed=seed + self.escalations + ATTEMPT_SEED_STRIDE * attempt, avoid=avoid)

    def avoids(self, key: str) -> bool:
        return key == self.just_failed or key in self.forbidden

    def rejection(self, key: str, tool: str) -> tuple[str, str] | None:
        """(error kind, message) when a decoded call may not run now: it just failed, or it is forbidden."""
        if key == self.just_failed:
            return "unchanged_retry", f"{tool} with exactly these arguments just failed; change the call"
        if key in self.forbidden:
            return "repeated_action", f"{tool} with these arguments was already tried"
        return None

    def after(self, signal: Signal, detail: str = "", forbid: str | None = None, failed: str | None = None,
              avoid_tool: str | None = None) -> Strategy:
        if signal == "ok":
            return replace(self, temperature=0.0, top_p=1.0, feedback_kind=None, feedback_detail="",
                           just_failed=None, avoided_tools=frozenset())
        forbidden = self.forbidden | {forbid} if forbid else self.forbidden
        return Strategy(temperature=RETRY_TEMPERATURE, top_p=RETRY_TOP_P, feedback_kind=signal, feedback_detail=detail,
                        forbidden=forbidden, just_failed=failed or self.just_failed,
                        avoided_tools=frozenset({avoid_tool}) if avoid_tool else frozenset(),
                        escalations=self.escalations + 1)
