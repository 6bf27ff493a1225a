"""Worked examples: chosen by the goal's words, shown only when their tools are registered."""

from __future__ import annotations

import subprocess

from agent.examples import select_examples
from agent.testing import act
from prompts import examples
from tools.python_source import echo_last_expression
from tools.registry import default_tools


def goals(selected):
    return [e["goal"] for e in selected]


def test_the_best_matching_example_comes_last():
    chosen = select_examples("What is the total of the cost column in orders.csv?", examples())
    assert len(chosen) == 2 and "csv" in chosen[-1]["goal"]
    chosen = select_examples("Label each review in reviews.txt as positive or negative.", examples())
    assert chosen[-1]["steps"][0]["tool"] == "classify_sentiment"
    chosen = select_examples("In a few words, what is the main topic of article.txt?", examples())
    assert chosen[-1]["steps"][0]["tool"] == "summarize_text"
    assert chosen[-1]["files"] == ["article.txt"]  # the example's file is renamed to the goal's


def test_selection_is_stable_and_ties_keep_library_order():
    library = [{"goal": "alpha", "steps": []}, {"goal": "beta", "steps": []}, {"goal": "gamma", "steps": []}]
    assert goals(select_examples("nothing shared", library)) == ["beta", "alpha"]
    assert goals(select_examples("gamma please", library)) == ["alpha", "gamma"]


def test_an_added_tool_that_matches_the_goal_better_replaces_the_examples():
    weather = ["get_weather Get the current weather report for a city."]
    assert select_examples("What is the weather in Paris right now?", examples(), added_tools=weather) == []
    # an example that matches better than the added tool stays; an added tool that does not match changes nothing
    csv_goal = "What is the total of the cost column in orders.csv?"
    assert goals(select_examples(csv_goal, examples(), added_tools=weather)) == goals(
        select_examples(csv_goal, examples()))
    chosen = select_examples("Is the review in review.txt positive or negative weather?", examples(),
                             added_tools=weather)
    assert chosen and chosen[-1]["steps"][0]["tool"] == "classify_sentiment"


def test_every_shipped_example_uses_real_tools_with_valid_arguments():
    registry = default_tools(shell=True)
    for example in examples():
        for step in example["steps"]:
            registry.get(step["tool"]).args_model.model_validate(step["args"])
            assert "observation" in step or step is example["steps"][-1]


def test_examples_with_unregistered_tools_are_not_shown(make_agent):
    from tools.registry import default_tools as tools_without_nlp

    agent, model = make_agent([act("run_python", code="print(1)"), act("finish", answer="1")])
    agent.tools = tools_without_nlp(nlp=False)
    list(agent.stream("Is the review in review.txt positive or negative?"))
    shown = " ".join(m.content for m in model.calls[0].messages)
    assert "classify_sentiment\", \"args\"" not in shown and "feedback.txt" not in shown


def run(code: str) -> str:
    return subprocess.run(["python3", "-c", echo_last_expression(code)], capture_output=True, text=True,
                          timeout=30).stdout


def test_a_trailing_expression_is_printed():
    assert run("2 ** 20") == "1048576\n"
    assert run("a = 1; a + 1") == "2\n"
    assert run("import math\nmath.sqrt(98596)  # root") == "314.0\n"
    assert run("len([1,\n 2,\n 3])") == "3\n"
    assert run("'héllo'.upper()") == "HÉLLO\n"


def test_code_without_a_trailing_expression_is_left_alone():
    for code in ("print(5)", "x = 1", "def f():\n    return 1", "2**2 = 4", "None"):
        changed = echo_last_expression(code)
        assert changed == code or run(code) == run(changed)
    assert echo_last_expression("print(5)") == "print(5)"
    assert echo_last_expression("2**2 = 4") == "2**2 = 4"  # a syntax error keeps the model's line numbers


def test_code_that_prints_nothing_is_told_what_to_print():
    from tools.python_source import silence_hint

    assert "print(factorial(...))" in silence_hint("def factorial(n):\n    return 1 if n < 2 else n * factorial(n - 1)")
    assert "never called" not in silence_hint("def f():\n    return 1\nx = f()")
    assert "only imports" in silence_hint("import math")
    assert "print(root)" in silence_hint("import math\nroot = math.sqrt(98596)")
    assert silence_hint("if x = 1") == "use print() to see values"


def test_a_run_that_printed_nothing_says_why(make_agent):
    agent, model = make_agent([act("run_python", code="def area(w, h):\n    return w * h"),
                               act("finish", answer="done")])
    events = list(agent.stream("a goal"))
    observation = next(e for e in events if e.type == "observation")
    assert observation.ok and observation.output.startswith("(no output; exit code 0; area() is defined")


def test_the_goal_message_lists_the_workspace_files_as_the_run_found_them(make_agent, workspace):
    (workspace / "reports").mkdir()
    (workspace / "reports" / "q3.md").write_text("budget")
    (workspace / "notes.txt").write_text("x")
    (workspace / ".hidden").write_text("x")
    agent, model = make_agent([act("write_file", path="new.txt", content="y"), act("finish", answer="ok")])
    events = list(agent.stream("Which file talks about the budget?"))
    assert events[0].files == ("notes.txt", "reports/q3.md")
    for call in model.calls:  # the listing stays the one from the start, so the prompt prefix is stable
        goal_message = next(m.content for m in call.messages if m.content.startswith("Goal: Which"))
        assert "Files in the workspace: notes.txt, reports/q3.md\n" in goal_message + "\n"


def test_a_long_listing_is_cut_with_a_count(tmp_path):
    from tools.files import workspace_files

    root = tmp_path
    for i in range(25):
        (root / f"f{i:02}.txt").write_text("x")
    listing = workspace_files(root)
    assert listing[0] == "f00.txt" and listing[-1] == "... and 5 more" and len(listing) == 21


def test_files_of_one_kind_are_renamed_in_order_when_the_counts_match():
    from agent.examples import with_goal_files

    example = {"goal": "Save a short summary of report.txt to brief.txt.", "files": ["report.txt"],
               "steps": [{"tool": "summarize_text", "args": {"input_path": "report.txt", "output_path": "brief.txt"}}]}
    renamed = with_goal_files(example, "Read article.txt and write a summary of it to summary.txt.")
    assert renamed["steps"][0]["args"] == {"input_path": "article.txt", "output_path": "summary.txt"}
    assert renamed["files"] == ["article.txt"]
    assert with_goal_files(example, "Merge a.txt and b.txt into c.txt.") == example  # 3 names against 2: kept


def test_examples_take_the_goal_s_file_names():
    from agent.examples import with_goal_files

    example = {"goal": "What is the highest price in items.csv?",
               "steps": [{"tool": "run_python", "args": {"code": "open('items.csv')"}, "observation": "1"}]}
    renamed = with_goal_files(example, "What is the total of the amount column in sales.csv?")
    assert renamed["goal"] == "What is the highest price in sales.csv?"
    assert renamed["steps"][0]["args"]["code"] == "open('sales.csv')"
    assert with_goal_files(example, "Sum a.csv and b.csv") == example  # ambiguous: left alone
    fix = {"goal": "test_prices.py fails. Fix prices.py.",
           "steps": [{"tool": "run_python", "args": {"code": "import prices\nrunpy.run_path('test_prices.py')"}}]}
    renamed = with_goal_files(fix, "Fix words.py so that test_words.py passes.")
    assert renamed["steps"][0]["args"]["code"] == "import words\nrunpy.run_path('test_words.py')"
