"""Which files a goal asks the run to write (agent/deliverables.py)."""

from __future__ import annotations

import pytest

from agent.deliverables import missing_files, requested_files


@pytest.mark.parametrize("goal,present,expected", [
    ("Write fizz.py with a function fizzbuzz(n).", [], ("fizz.py",)),
    ("Read article.txt and write a short summary of it (one to three sentences) to summary.txt.", ["article.txt"],
     ("summary.txt",)),
    ("Convert people.csv into people.json: a JSON list.", ["people.csv"], ("people.json",)),
    ("Label every review in reviews.txt and save the labels to labels.csv.", ["reviews.txt"], ("labels.csv",)),
    ("Write src/app.py and tests/test_app.py; then save it as OUT.JSON", ["src/app.py"],
     ("tests/test_app.py", "OUT.JSON")),
    ("Read notes.txt and write the answer.", [], ()),  # named before the verb: read, not written
    ("Is there a config.yaml in this folder? e.g. look around.", [], ()),  # no verb of writing
    ("Copy ../outside.txt into this workspace as copy.txt.", [], ("copy.txt",)),  # never a path outside
    ("What is 2 to the power of 20? Compute it with Python.", [], ()),
    ("How many Python (.py) files are in src?", [], ()),
])
def test_requested_files(goal, present, expected):
    assert requested_files(goal, present) == expected


def test_missing_files_are_the_requested_ones_not_on_disk(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b.json").write_text("{}")
    assert missing_files(["a.txt", "d/b.json", "c.csv", "d"], tmp_path) == ["c.csv", "d"]
