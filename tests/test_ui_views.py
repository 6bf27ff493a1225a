"""What the web page is given to show: escaped, control characters made visible, code highlighted, writes
shown as diffs, long output folded (agent/cli/web/display.py and views.py; pure, no server)."""

from __future__ import annotations

import re

from agent.cli.web.display import code_css, code_html, text_html
from agent.cli.web.views import HEAD_LINES, RunViewer, matches
from agent.events import ActionChosen, Observation, RunStarted

CTL = re.compile(r'<span class="ctl"[^>]*>(.*?)</span>')


def test_text_is_escaped_and_every_control_character_is_shown_as_an_escape():
    text = "<script>alert(1)</script> \x1b[31mred\x1b[0m a\rb \x00 \x7f \u202egnp.exe \u200b tab\tnewline\n"
    out = text_html(text)
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert CTL.findall(out) == ["\\x1b", "\\x1b", "\\x0d", "\\x00", "\\x7f", "\\u202e", "\\u200b"]
    assert "\t" in out and "\n" in out  # layout characters stay
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202e\u200b]", CTL.sub("", out))


def test_crlf_line_ends_are_plain_newlines():
    assert text_html("a\r\nb") == "a\nb"


def test_code_is_highlighted_escaped_and_neutralised():
    out = code_html("print('<b>')\nx = '\x1b[2J'\n", "python")
    assert '<span class="nb">print</span>' in out
    assert "&lt;b&gt;" in out and "<b>" not in out
    assert CTL.findall(out) == ["\\x1b"]
    assert ".code .nb" in code_css()


def test_a_file_name_picks_the_highlighter():
    assert '<span class="nt">' in code_html('{"a": 1}', filename="data.json")
    assert code_html("plain words", filename="notes.unknownext") == "plain words"


def test_a_new_file_shows_as_a_diff_from_nothing_and_a_second_write_as_a_diff_from_the_first():
    viewer = RunViewer()
    viewer.view(RunStarted("r", "goal", "m", "cpu", "/ws", {}, files=("old.txt",)))
    first = viewer.view(ActionChosen(1, "", "write_file", {"path": "a.py", "content": "x = 1\n"}))
    assert first["code_label"] == "diff" and "/dev/null" in first["code_html"]
    written = viewer.view(Observation(1, "write_file", "created a.py (6 bytes)", True))
    assert written["file_written"]["path"] == "a.py" and written["file_written"]["bytes"] == 6
    second = viewer.view(ActionChosen(2, "", "write_file", {"path": "a.py", "content": "x = 2\n"}))
    assert "a/a.py" in second["code_html"] and "x = 1" in second["code_html"] and "x = 2" in second["code_html"]
    before = viewer.view(ActionChosen(3, "", "write_file", {"path": "old.txt", "content": "new\n"}))
    assert before["code_label"].startswith("new text")


def test_a_failed_write_is_not_listed_as_a_file_written():
    viewer = RunViewer()
    viewer.view(ActionChosen(1, "", "write_file", {"path": "../x", "content": "y"}))
    assert "file_written" not in viewer.view(Observation(1, "write_file", "path escapes the workspace", False))


def test_long_output_is_folded_to_its_first_lines():
    view = RunViewer().view(Observation(1, "run_python", "\n".join(f"line {i}" for i in range(100)), True))
    assert view["lines"] == 100
    assert view["head_html"].count("\n") == HEAD_LINES - 1 and "line 99" in view["output_html"]
    assert "head_html" not in RunViewer().view(Observation(1, "run_python", "short", True))


def test_code_and_arguments_get_their_own_highlighting():
    viewer = RunViewer()
    python = viewer.view(ActionChosen(1, "", "run_python", {"code": "print(1)"}, seconds=2.0, prefill_seconds=0.5))
    assert python["code_label"] == "Python" and python["decode_seconds"] == 1.5
    shell = viewer.view(ActionChosen(2, "", "run_shell", {"command": "ls -la"}))
    assert shell["code_label"] == "shell"
    other = viewer.view(ActionChosen(3, "", "finish", {"answer": "<42>"}))
    assert other["code_label"] == "arguments" and "&lt;42&gt;" in other["code_html"]


def test_search_needs_every_word_somewhere_in_the_row():
    row = {"id": "20261201-120000-abc123", "goal": "Write primes.py", "status": "done", "model": "smol",
           "answer": "2, 3, 5"}
    assert matches(row, "primes DONE")
    assert matches(row, "abc123")
    assert not matches(row, "primes failed")


def test_a_list_row_shows_the_goals_first_line_neutralised(tmp_path):
    from agent.cli.web.views import summary_row
    from agent.store import RunLog

    log = RunLog("r1", {"goal": "Rename \u202etxt.exe <now>\nthen more", "started": 1.0}, [], None, False, [])
    row = summary_row(log)
    assert row["goal"] == "Rename \u202etxt.exe <now>\nthen more" and row["status"] == "interrupted"
    assert row["goal_html"] == 'Rename <span class="ctl" title="control character">\\u202e</span>txt.exe &lt;now&gt;'
    assert summary_row(log, live_status="running")["live"] is True
