"""Prompt lookup: what it guesses and how its guesses grow and shrink (no model needed)."""

from __future__ import annotations

from agent.llm import drafts
from agent.llm.drafts import PromptLookup


def test_guess_is_what_followed_the_latest_earlier_occurrence_of_the_last_tokens() -> None:
    lookup = PromptLookup([1, 2, 3, 4, 5, 9, 1, 2, 3, 7, 8, 6])
    lookup.extend([1, 2, 3])
    lookup.length = 3
    assert lookup.propose(10) == [7, 8, 6]  # the later of the two earlier [1, 2, 3] runs
    assert lookup.propose(2) == [7, 8]


def test_no_guess_without_a_repeated_run() -> None:
    lookup = PromptLookup([1, 2, 3, 4])
    assert lookup.propose(4) == []
    lookup.extend([2, 3])  # only MATCH - 1 tokens repeat
    assert lookup.propose(4) == []
    assert PromptLookup([]).propose(4) == []


def test_guess_length_grows_on_hits_and_drops_to_one_after_a_miss() -> None:
    lookup = PromptLookup([])
    assert lookup.length == drafts.FIRST
    for _ in range(10):
        lookup.judge(drafted=lookup.length, confirmed=lookup.length)
    assert lookup.length == drafts.MOST
    lookup.judge(drafted=6, confirmed=2)
    assert lookup.length == drafts.MOST - 1
    lookup.judge(drafted=5, confirmed=0)
    assert lookup.length == 1
