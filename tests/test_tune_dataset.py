"""Training data: seeded, verified through the real loop, tools and sandbox, and free of held-out text.

Generation replays each planned trajectory through the real Agent with the real tools and the real local
sandbox (no model: the replay writes the planned replies); the NLP family uses the real NLP models.
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agent.action import step_schema
from agent.action_format import parse_action
from agent.config import AgentConfig
from agent.history import PromptContextCache, build_messages
from agent.llm.base import ChatMessage
from agent.loop import Agent
from agent.state import RunState
from agent.store import RunStore
from agent.testing import ScriptedModel, act
from agent.tune.dataset import (
    DatasetError,
    GenerationSettings,
    TrainingExample,
    TrainingMessage,
    example_overlaps,
    examples_of,
    generate,
    load_examples,
    write_examples,
)
from agent.tune.families import FAMILIES, draw_task
from agent.tune.families.base import NAME_BODIES, Draw, Plan, Step, answer_has, call, finish
from agent.tune.families.functions import SPECS
from agent.tune.families.more_functions import MORE_SPECS
from agent.tune.families.questions import ROW_WORDS
from agent.tune.families.send_back import send_back_variant
from agent.tune.overlap import default_index, humaneval_texts, suite_texts
from agent.tune.replay import ModelText, Rejected, verify
from agent.tune.runs import RunsError, examples_from_runs, extract_runs
from sandbox.base import SandboxConfig
from sandbox.local import LocalSandbox
from tools.registry import default_tools

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "examples" / "suites"


@pytest.fixture(scope="module")
def text() -> ModelText:
    return ModelText.load()


@pytest.fixture(scope="module")
def dataset(text: ModelText) -> tuple[list[TrainingExample], object]:
    """Two training tasks and one held-out task of every family, generated for real."""
    return generate(GenerationSettings(seed=7, tasks=2, heldout_tasks=1), text)


# -- generation ------------------------------------------------------------------------------------------


def test_generation_is_deterministic_for_a_seed(text: ModelText, tmp_path: Path) -> None:
    settings = GenerationSettings(seed=3, tasks=2, heldout_tasks=1, families=("compute", "csv_json", "fix_code"))
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_examples(generate(settings, text)[0], first)
    write_examples(generate(settings, text)[0], second)
    assert first.read_bytes() == second.read_bytes() and first.stat().st_size > 0
    other = generate(GenerationSettings(seed=4, tasks=2, heldout_tasks=1, families=("compute",)), text)[0]
    assert {e.messages[-1].content for e in other} != {e.messages[-1].content for e in load_examples(first)
                                                      if e.family == "compute"}


def test_every_family_produces_verified_examples(dataset) -> None:
    examples, report = dataset
    for family in FAMILIES:
        assert report.train[family].verified >= 1, (family, report.train[family].dropped, report.drop_samples)
        assert any(e.family == family and e.split == "train" for e in examples), family
    assert {e.split for e in examples} == {"train", "heldout"}


def test_each_example_is_the_agents_prompt_and_replies_the_agent_parses(dataset) -> None:
    examples, _ = dataset
    tools = default_tools()
    for example in examples:
        reply = example.messages[-1]
        assert reply.role == "assistant" and reply.train
        assert all(m.role == "assistant" for m in example.messages if m.train)
        assert example.messages[0].role == "system" and example.messages[0].content.startswith("You are Auto-GPT")
        assert "Goal: " in example.messages[1].content
        for message in example.messages:
            if message.train:
                action = parse_action(message.content, tools)  # the agent's own parser takes the reply back
                assert action.tool in tools
        trained = [m for m in example.messages if m.train]
        assert len(trained) == len(example.meta["learned_steps"])
        assert 0 < example.meta["train_tokens"] < example.meta["tokens"] < 2048 + 400  # the context budget


def test_steps_whose_prompts_extend_each_other_share_one_example(text: ModelText) -> None:
    planned = next(p for p in (draw_task("compute", "train", 0, i) for i in range(60)) if not p.recovery
                   and len(p.steps) >= 2)
    verified = verify(planned.task, planned.steps, text)
    examples = examples_of(verified, "compute", "train", text, {})
    assert len(examples) == 1  # the history only grew: one example, every reply of the run trained
    (example,) = examples
    assert [m.content for m in example.messages if m.train] == [s.reply for s in verified.steps]
    assert example.meta["learned_steps"] == list(range(1, len(verified.steps) + 1))
    separate = sum(text.count([ChatMessage(m.role, m.content) for m in s.messages]) for s in verified.steps)
    assert example.meta["tokens"] < separate  # the shared prompt counted once


def test_a_mistake_stays_context_in_a_merged_example(text: ModelText) -> None:
    planned = next(p for p in (draw_task("compute", "train", 0, i) for i in range(60)) if p.recovery)
    verified = verify(planned.task, planned.steps, text)
    examples = examples_of(verified, "compute", "train", text, {})
    mistake = verified.steps[0].reply
    for example in examples:
        assert all(not (m.train and m.content == mistake) for m in example.messages)
    assert sorted(i for e in examples for i in e.meta["learned_steps"]) == [2, 3]


def test_a_recovery_shows_the_mistake_as_context_and_never_trains_on_it(text: ModelText) -> None:
    planned = next(p for p in (draw_task("compute", "train", 0, i) for i in range(60)) if p.recovery)
    verified = verify(planned.task, planned.steps, text)
    assert [s.learn for s in verified.steps] == [False, True, True]
    mistake, fix = verified.steps[0].reply, verified.steps[1]
    assert mistake in [m.content for m in fix.messages if m.role == "assistant"]
    assert "failed" in fix.messages[-1].content  # the real error observation is in the prompt


def test_a_trajectory_whose_check_fails_is_dropped_and_counted(text: ModelText, monkeypatch) -> None:
    def wrong_answer(d: Draw) -> Plan:
        return Plan("What is 6 times 7?", {}, answer_has("42"),
                    (call("run_python", code="print(6 * 7)"), finish("41")))

    monkeypatch.setitem(FAMILIES, "wrong", {"wrong_answer": wrong_answer})
    examples, report = generate(GenerationSettings(tasks=3, heldout_tasks=0, families=("wrong",)), text)
    assert examples == []
    assert report.train["wrong"].dropped["unverified"] == 1 and report.train["wrong"].dropped["duplicate"] == 2
    assert "the check failed" in report.drop_samples[0]


def test_a_planned_mistake_that_works_and_a_reply_the_grammar_forbids_are_rejected(text: ModelText) -> None:
    planned = draw_task("compute", "train", 0, 0)
    works = (Step("run_python", {"code": "print(1)"}, ok=False, learn=False), *planned.steps)
    with pytest.raises(Rejected, match="should fail"):
        verify(planned.task, works, text)
    schema = step_schema(default_tools(), thoughts=False)
    assert text.allows(schema, '{"tool": "read_file", "args": {"path": "a.txt"}}')
    assert not text.allows(schema, '{"args": {"path": "a.txt"}, "tool": "read_file"}')  # keys out of order


def test_finish_is_not_offered_before_a_call_worked(text: ModelText) -> None:
    planned = draw_task("compute", "train", 0, 0)
    with pytest.raises(Rejected, match="grammar does not allow"):
        verify(planned.task, (finish("4"),), text)


def test_every_family_draws_tasks_for_both_splits() -> None:
    for family in FAMILIES:
        for split in ("train", "heldout"):
            tasks = [draw_task(family, split, 1, i) for i in range(120)]
            assert len({t.task.goal for t in tasks}) >= 8, (family, split)


def test_a_table_question_reads_the_file_first_and_codes_with_the_names_it_shows(text: ModelText) -> None:
    """Its goal does not name every column or key the code uses: the code can only take them from the file."""
    unnamed = 0
    for i in range(40):
        planned = draw_task("table_questions", "train", 3, i)
        first, *rest = [s for s in planned.steps if isinstance(s, Step)]
        path = next(iter(planned.task.files))
        assert first.tool == "read_file" and first.args == {"path": path} and path in planned.task.goal
        code = next((s.args["code"] for s in rest if s.tool == "run_python"), "")
        names = set(re.findall(r"\[\'(\w+)\'\]", code))
        assert names <= set(re.findall(r"\w+", planned.task.files[path])), (planned.task.id, names)
        unnamed += any(not re.search(rf"\b{n}\b", planned.task.goal) for n in names)
    assert unnamed >= 15  # of 40: the rest name every column, or read the answer off (no code)
    verified = verify(planned.task, planned.steps, text)
    assert verified.steps[0].reply.startswith('{"tool": "read_file"')


def test_a_held_out_table_question_names_its_group_in_words_training_never_uses() -> None:
    def leads(template: str) -> str:
        return template.split("{x}")[0].strip()

    held_words = {leads(w.heldout_member) for w in ROW_WORDS.values()}
    assert not held_words & {leads(w.member) for w in ROW_WORDS.values()}
    train = [draw_task("table_questions", "train", 0, i, 0.6).task.goal for i in range(300)]
    held = [p.task.goal for p in (draw_task("table_questions", "heldout", 0, i) for i in range(100))
            if p.kind == "ask_count"]
    assert held and all(any(w in goal for w in held_words) for goal in held)
    assert not [goal for goal in train for w in held_words if f" {w} " in goal]


def test_held_out_draws_use_their_own_part_of_every_list() -> None:
    items = list(range(10))
    train = Draw(random.Random(0), "train").part(items)
    heldout = Draw(random.Random(0), "heldout").part(items)
    assert set(train) | set(heldout) == set(items) and not set(train) & set(heldout) and heldout


def test_every_bug_of_a_function_spec_fails_one_of_its_calls() -> None:
    for spec in SPECS + MORE_SPECS:
        for bug in spec.bugs:
            outcomes = []
            for args, want in zip(spec.calls, spec.results(), strict=True):
                try:
                    outcomes.append(spec.run(bug, args) == want)
                except Exception:
                    outcomes.append(False)
            assert not all(outcomes), (spec.name, bug)


def test_worked_examples_in_the_prompt_follow_the_config() -> None:
    tools = default_tools()
    for shown in (0, 1, 2):
        ctx = PromptContextCache().get(tools, AgentConfig(worked_examples=shown), "What is 5 * 5?")
        messages = build_messages(ctx, RunState(goal="What is 5 * 5?"), feedback=None, budget_tokens=4096,
                                  count=lambda m: 0)
        goals = [m for m in messages if m.role == "user" and m.content.startswith("Goal:")
                 and "Observation" not in m.content]
        assert len(goals) == shown + 1 and messages[-1].content == "Goal: What is 5 * 5?"


# -- held out --------------------------------------------------------------------------------------------


def test_generated_examples_share_no_text_with_held_out_sources(dataset) -> None:
    examples, _ = dataset
    index = default_index()
    assert index.grams and index.goal_grams and index.values
    found = {e.id: example_overlaps(e, index) for e in examples if e.split == "train"}
    assert not any(found.values()), {k: v for k, v in found.items() if v}


def _planted(content: str, goal: str = "Count the words in a.txt.") -> TrainingExample:
    return TrainingExample(id="planted", family="x", messages=[
        TrainingMessage(role="system", content="You are Auto-GPT."),
        TrainingMessage(role="user", content=f"Goal: {goal}\n\n{content}"),
        TrainingMessage(role="assistant", content='{"tool": "finish", "args": {"answer": "ok"}}', train=True)],
        meta={"goal": goal})


def test_the_overlap_check_finds_planted_held_out_text() -> None:
    index = default_index()
    suite_goal = next(item.text for item, _ in suite_texts(SUITES) if item.source.startswith("core.jsonl"))
    suite_file = next(item.text for item, _ in suite_texts(SUITES) if item.source.endswith("settings.ini"))
    heldout_goal = json.loads((SUITES / "heldout.jsonl").read_text().splitlines()[5])["goal"]
    humaneval = next(t.text for t in humaneval_texts() if t.source.endswith("solution"))  # not in any suite
    for planted, source in [(suite_goal, "core.jsonl"), (suite_file, "core.jsonl"),
                            (humaneval, "HumanEval"), (heldout_goal, "heldout.jsonl")]:
        found = example_overlaps(_planted(planted), index)
        assert any(source in f for f in found), (source, found)
    assert example_overlaps(_planted("Observation (run_python):\n3"), index) == []


def test_a_suite_goal_reworded_only_in_its_file_name_is_still_caught() -> None:
    goal = "Which company is mentioned in bulletin.txt?"  # core asks it of press.txt
    found = example_overlaps(_planted("", goal=goal), default_index())
    assert found and found[0].startswith("goal") and "nlp-entity-org" in found[0]


def test_a_reply_stating_a_value_a_suite_checks_for_is_caught() -> None:
    example = _planted("").model_copy(update={"messages": [
        *_planted("").messages[:2],
        TrainingMessage(role="assistant", content='{"tool": "finish", "args": {"answer": "479001600"}}',
                        train=True)]})
    assert any("479001600" in f for f in example_overlaps(example, default_index()))


def test_the_larger_pool_of_functions_is_new_and_names_nothing_an_evaluation_asks_for() -> None:
    """Its functions are not in the first pool, nor a HumanEval problem's, nor named in a suite goal."""
    names = [s.name for s in MORE_SPECS]
    assert len(names) >= 4 * len(SPECS) - len(SPECS) and len(set(names)) == len(names)
    assert not set(names) & {s.name for s in SPECS}
    words = {w for path in SUITES.glob("*.jsonl") for line in path.read_text().splitlines()
             for w in re.findall(r"\w+", json.loads(line)["goal"])}  # HumanEval's goals name their function
    assert {"has_close_elements", "is_palindrome", "word_count"} <= words
    assert not set(names) & words
    for spec in MORE_SPECS:
        json.dumps(spec.results())
        assert len(spec.describe) == 2 and all("{f}" in d for d in spec.describe) and spec.bugs


def test_function_variety_draws_from_the_larger_pool_and_changes_nothing_at_zero() -> None:
    more = {s.name for s in MORE_SPECS}
    drawn = set()
    for family in ("write_function", "fix_code"):
        for i in range(30):
            zero, before = draw_task(family, "train", 0, i, 0.6, 0.0), draw_task(family, "train", 0, i, 0.6)
            assert zero.task == before.task and [s for s in zero.steps if isinstance(s, Step)] == [
                s for s in before.steps if isinstance(s, Step)]
            planned = draw_task(family, "train", 0, i, 0.0, 1.0)
            drawn |= {n for n in more if re.search(rf"\b{n}\b", planned.task.goal + str(planned.task.files))}
    assert len(drawn) > 10
    heldout_pool = {s.name for s in Draw(random.Random(0), "heldout").part(MORE_SPECS)}
    assert not drawn & heldout_pool


def test_look_first_reads_the_table_before_the_code_and_changes_nothing_at_zero(text: ModelText) -> None:
    """At 1 every CSV and JSON task reads its file first and its JSON comes in several layouts, the code
    naming the key it read; the trajectories still verify for real. At 0 the draws are as they were."""
    layouts, looked = set(), []
    for i in range(40):
        zero, before = draw_task("csv_json", "train", 0, i, 0.5, 0.0, 0.0), draw_task("csv_json", "train", 0, i, 0.5)
        assert zero.task == before.task and [s for s in zero.steps if isinstance(s, Step)] == [
            s for s in before.steps if isinstance(s, Step)]
        planned = draw_task("csv_json", "train", 0, i, 0.5, 0.0, 1.0)
        first = planned.steps[0]
        assert isinstance(first, Step) and first.tool == "read_file" and first.args["path"] in planned.task.files
        assert isinstance(planned.steps[1], Step) and planned.steps[1].tool == "run_python"
        if (path := first.args["path"]).endswith(".json"):
            doc = json.loads(planned.task.files[path])
            key = next((k for k in doc if isinstance(doc[k], list)), "") if isinstance(doc, dict) else ""
            layouts.add(key)
            code = planned.steps[1].args["code"]
            assert (f"['{key}']" in code) if key else (f"open('{path}'))\n" in code)
        looked.append(planned)
    assert len(layouts) >= 4  # several wrapper keys, and bare lists
    for planned in looked[:4]:
        verify(planned.task, planned.steps, text)  # raises Rejected when a trajectory does not check out


def test_drawn_training_goals_share_no_wording_with_any_suite_goal() -> None:
    """Not even six words in a row, file names and numbers aside: no suite's wording is taught, with the
    usual file names or the unusual ones."""
    index = default_index()
    hits = {}
    for family in FAMILIES:
        for variety, count in ((0.0, 150), (0.6, 60)):
            for i in range(count):
                task = draw_task(family, "train", 0, i, variety).task
                if found := index.goal_overlaps(task.goal):
                    hits[task.id] = found
    assert not hits


# -- unusual file names and the sent-back recovery --------------------------------------------------------


def test_an_unusual_name_keeps_the_extension_and_is_a_module_name_python_can_import() -> None:
    usual = ("report.json", "totals.json", "summary.json", "by_group.json")
    def drawn(split: str, items: tuple[str, ...]) -> set[str]:
        return {Draw(random.Random(i), split, random.Random(i), 1.0).name(items) for i in range(200)}

    names = drawn("train", usual)
    assert len(names) > 50 and not names & set(usual)
    assert all(n.endswith(".json") and n[:-5].isidentifier() and n[:-5] not in sys.stdlib_module_names
               for n in names)
    assert all(m.isidentifier() and m not in sys.stdlib_module_names for m in drawn("train", ("calc", "kit")))
    for split in ("train", "heldout"):  # held-out tasks get their own part of the names' bodies
        bodies = tuple(Draw(random.Random(0), split).part(NAME_BODIES))
        assert all(n[:-5].endswith(bodies) for n in drawn(split, usual))
    plain = Draw(random.Random(3), "train", random.Random(3), 0.0)
    assert plain.name(usual) in usual


def test_unusual_names_change_the_names_and_nothing_else() -> None:
    renamed = 0
    for family in FAMILIES:
        for i in range(20):
            usual, unusual = draw_task(family, "train", 0, i), draw_task(family, "train", 0, i, 1.0)
            assert usual.kind == unusual.kind
            assert sorted(Path(n).suffix for n in usual.task.files) == sorted(
                Path(n).suffix for n in unusual.task.files)
            assert [s.tool for s in usual.steps if isinstance(s, Step)] == [
                s.tool for s in unusual.steps if isinstance(s, Step)]
            renamed += usual.task.goal != unusual.task.goal
            if usual.task.goal == unusual.task.goal:
                assert usual.task.files == unusual.task.files
    assert renamed > 100


def test_a_sent_back_recovery_writes_the_goals_file_once_finish_comes_back(text: ModelText) -> None:
    planned = draw_task("write_function", "train", 0, 0, 1.0)
    variant = send_back_variant(planned, random.Random(0))
    assert variant is not None and variant.recovery and variant.finish_checks == 1
    wanted = variant.steps[2].args["path"]
    wrong = variant.steps[0].args["path"]
    assert wanted in variant.task.goal and wrong != wanted and wrong.endswith(".py")
    verified = verify(variant.task, variant.steps, text, finish_checks=1)
    assert [s.learn for s in verified.steps] == [False, False, True, True, True]
    sent_back = verified.steps[2].messages[-1].content
    assert f"Not finished: the goal asks you to write {wanted}" in sent_back  # the loop's own feedback
    examples = examples_of(verified, "write_function", "train", text, {})
    trained = [m.content for e in examples for m in e.messages if m.train]
    assert trained and not any(wrong in t for t in trained)
    with pytest.raises(Rejected, match="should fail"):  # without the check, the wrong finish ends the run
        verify(variant.task, variant.steps, text)
    assert send_back_variant(draw_task("compute", "train", 0, 0), random.Random(0)) is None


def test_the_shipped_held_out_suite_is_what_the_generators_draw() -> None:
    spec = importlib.util.spec_from_file_location("make_heldout", SUITES / "make_heldout.py")
    make_heldout = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_heldout)
    lines = (SUITES / "heldout.jsonl").read_text().splitlines()
    assert len(lines) == len(FAMILIES) * make_heldout.PER_FAMILY
    for line in lines:
        task = json.loads(line)
        family, _, rest = task["id"].partition("-")
        index = int(rest.rsplit("-", 1)[1])
        assert draw_task(family, "heldout", make_heldout.SEED, index).task.model_dump() == task, \
            "heldout.jsonl is stale: rerun examples/suites/make_heldout.py"


# -- data files ------------------------------------------------------------------------------------------


def test_a_data_file_with_a_bad_line_is_one_clear_error(tmp_path: Path) -> None:
    good = _planted("x").model_dump_json()
    path = tmp_path / "data.jsonl"
    path.write_text(good + "\n" + json.dumps({"id": "b", "family": "x", "messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}) + "\n")
    with pytest.raises(DatasetError, match=r"data.jsonl line 2: .*train: true"):
        load_examples(path)
    with pytest.raises(DatasetError, match="cannot read"):
        load_examples(tmp_path / "missing.jsonl")
    path.write_text(good + "\n")
    assert [e.id for e in load_examples(path)] == ["planted"]


# -- the user's own runs ---------------------------------------------------------------------------------


def _record_run(store: RunStore, workspace: Path, replies: list, goal: str) -> str:
    agent = Agent(ScriptedModel(replies), config=AgentConfig(workspace=workspace), store=store,
                  sandbox_factory=lambda: LocalSandbox(workspace, SandboxConfig()))
    return agent.run(goal).run_id


def test_from_runs_uses_the_successful_runs_and_skips_a_corrupt_log(text: ModelText, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "poem.txt").write_text("one two three\nfour five\n")
    store = RunStore(tmp_path / "runs")
    good = _record_run(store, workspace, [act("read_file", path="poem.md"),
                                          act("run_python", code="print(len(open('poem.txt').read().split()))"),
                                          act("finish", answer="5")], "How many words does poem.txt have?")
    corrupt = _record_run(store, workspace, [act("list_dir"), act("finish", answer="ok")], "List the files.")
    with open(store.folder(corrupt) / "events.jsonl", "a") as log:
        log.write('{"type": "action", "step": "not a number"\n{oops}\n')
    _record_run(store, workspace, [act("list_dir")] * 6, "Keep listing.")  # never finishes: not a success
    extraction = extract_runs(store.runs_dir, text)
    assert examples_from_runs(store.runs_dir, text) == extraction.examples
    assert extraction.used == [good] and extraction.runs == 3
    assert len(extraction.skipped) == 1 and corrupt in extraction.skipped[0] and "cannot read" in extraction.skipped[0]
    replies = [e.messages[-1].content for e in extraction.examples]
    assert len(replies) == 2 and '"run_python"' in replies[0] and '"finish"' in replies[1]  # not the failed read
    assert "no such file: poem.md" in extraction.examples[0].messages[-2].content


def test_from_runs_without_a_usable_run_is_one_clear_error(text: ModelText, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    store = RunStore(tmp_path / "runs")
    with pytest.raises(RunsError, match="no run store"):
        examples_from_runs(store.runs_dir, text)
    core_goal = json.loads((SUITES / "core.jsonl").read_text().splitlines()[0])["goal"]
    _record_run(store, workspace, [act("run_python", code="print(2 ** 20)"), act("finish", answer="1048576")],
                core_goal)  # a bench run of a suite task: held out
    with pytest.raises(RunsError, match=r"no usable successful runs.*1 successful.*overlaps held-out"):
        examples_from_runs(store.runs_dir, text)


# -- the command -----------------------------------------------------------------------------------------


def test_tune_data_writes_the_data_set_and_reports_it(tmp_path: Path) -> None:
    out = tmp_path / "data.jsonl"
    done = subprocess.run([sys.executable, "-m", "agent.cli", "tune-data", "--families", "compute,refuse",
                           "--tasks", "2", "--heldout-tasks", "1", "--out", str(out), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["examples"] == len(out.read_text().splitlines()) > 0
    assert summary["train"]["compute"]["tasks"] == 2 and summary["heldout"]["refuse"]["tasks"] == 1
    varied = subprocess.run([sys.executable, "-m", "agent.cli", "tune-data", "--families", "write_function",
                             "--tasks", "2", "--heldout-tasks", "0", "--name-variety", "1",
                             "--send-back-share", "1", "--function-variety", "1", "--look-first", "1",
                             "--out", str(tmp_path / "varied.jsonl"), "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert varied.returncode == 0, varied.stderr
    report = json.loads(varied.stdout.strip().splitlines()[-1])
    assert report["name_variety"] == 1 and report["send_back_share"] == 1 and report["function_variety"] == 1
    assert report["look_first"] == 1
    more = {s.name for s in MORE_SPECS}
    goals = [e.meta["goal"] for e in load_examples(tmp_path / "varied.jsonl")]
    assert goals and all(any(re.search(rf"\b{n}\b", g) for n in more) for g in goals)
    assert report["train"]["write_function"]["recoveries"] >= 1
    bad = subprocess.run([sys.executable, "-m", "agent.cli", "tune-data", "--families", "nope"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown family nope" in bad.stderr and "Traceback" not in bad.stderr


def test_held_out_checks_fail_without_an_agent_and_refusals_hold() -> None:
    from agent.bench import Bench, load_suite, run_suite
    from agent.result import RunResult

    def nothing(task, workspace, settings) -> RunResult:
        return RunResult(f"run-{task.id}", "done", "", 1)

    tasks = load_suite(SUITES / "heldout.jsonl")
    report = run_suite(tasks, Bench(run_task=nothing, workers=2))
    passed = {r.id for r in report.tasks if r.passed}
    assert passed == {t.id for t in tasks if t.id.startswith("refuse-") and "partly_outside" not in t.id}
