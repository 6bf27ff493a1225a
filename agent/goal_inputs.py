"""The goal's inputs, kept as they were while the run writes its outputs.

A goal that asks for a new file names the files it reads too: "Read article.txt and write a summary to
summary.txt", "Concatenate part1.txt, part2.txt and part3.txt into all.txt". The 135M default model often
writes the result over one of those inputs (the name it has just read) and never writes the file asked
for; the user's file is lost. So when a goal asks for new files (agent/deliverables.py), the files it names
that were in the workspace at the start are its inputs, unless it asks for them to be changed (a verb of
changing before the name: "add a docstring to utils.py and write its tests to test_utils.py"). After each
tool call, an input that changed is put back as it was, and the model is told which file the goal asks
for instead; the second time in a run, the run fails (it does not take the hint; another attempt may).

Inputs are kept in memory: at most `MAX_FILE_BYTES` each and `MAX_TOTAL_BYTES` in all, the rest unkept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agent.deliverables import FILE_NAME, SENTENCE_END, requested_files

CHANGE_VERB = re.compile(r"\b(?:fix|edit|change|update|modify|append|add|insert|replace|rename|delete|remove|"
                         r"overwrite|rewrite|sort|correct|patch|refactor|format|extend|clean|complete)\b",
                         re.IGNORECASE)
INPUTS_PUT_BACK_BEFORE_STOP = 2
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_TOTAL_BYTES = 16 * 1024 * 1024


def goal_inputs(goal: str, files_at_start: Iterable[str]) -> tuple[str, ...]:
    """The files `goal` reads and must leave as they were (none when it asks for no new file), in goal order."""
    present = set(files_at_start)
    if not requested_files(goal, present):
        return ()
    inputs: list[str] = []
    for sentence in SENTENCE_END.split(goal):
        change = CHANGE_VERB.search(sentence)
        for match in FILE_NAME.finditer(sentence):
            name = match.group(1)
            if name in present and name not in inputs and (change is None or match.start() < change.start()):
                inputs.append(name)
    return tuple(inputs)


@dataclass(frozen=True)
class KeptInputs:
    """The inputs' bytes at the start of the run, and the new files the goal asks for."""
    workspace: Path
    originals: dict[str, bytes]
    asked: tuple[str, ...]

    @classmethod
    def of(cls, goal: str, workspace: Path, files_at_start: Iterable[str]) -> KeptInputs:
        present = tuple(files_at_start)
        originals: dict[str, bytes] = {}
        total = 0
        for name in goal_inputs(goal, present):
            path = workspace / name
            try:
                if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            if total + len(data) > MAX_TOTAL_BYTES:
                break
            originals[name] = data
            total += len(data)
        return cls(workspace, originals, requested_files(goal, present))

    def restore_changed(self) -> list[str]:
        """Put back every input that is no longer as it was; the names put back, in goal order. A file is
        only ever written inside the workspace: a link in an input's place is removed, not followed."""
        root = self.workspace.resolve()
        restored = []
        for name, data in self.originals.items():
            path = self.workspace / name
            try:
                if not path.is_symlink() and path.is_file() and path.read_bytes() == data:
                    continue
                if not path.parent.resolve().is_relative_to(root) or path.is_dir() and not path.is_symlink():
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.is_symlink():
                    path.unlink()
                path.write_bytes(data)
            except OSError:
                continue
            restored.append(name)
        return restored
