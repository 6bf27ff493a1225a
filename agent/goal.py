"""What a goal may be: checked before a model is loaded, so a bad goal costs nothing."""

from __future__ import annotations

# Every prompt shows the goal twice (in the goal message, and restated before the last observation), in a
# prompt compacted to 2,048 tokens by default; 4,000 characters is about 1,000 tokens of English.
MAX_GOAL_CHARS = 4000


def goal_problem(goal: str) -> str | None:
    """Why `goal` cannot be run, in one line for the user, or None."""
    if not goal.strip():
        return "the goal is empty: say what the agent should do"
    if len(goal) > MAX_GOAL_CHARS:
        return (f"the goal is {len(goal):,} characters; at most {MAX_GOAL_CHARS:,} fit (the model reads the goal "
                "twice in every prompt): put the long text in a file in the workspace and name the file in the goal")
    return None
