"""Mistakes users make, made against the real `autogpt` process: each one is one clear line and exit code 2
(or a run that ends with a record of why), and nothing is lost.

The model is scripted (AUTOGPT_SCRIPTED_MODEL) wherever the model is not what is being tested; a scripted
reply can wait for a file the test writes, so an interruption lands exactly where the test wants it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agent.events import ErrorEvent
from agent.goal import MAX_GOAL_CHARS
from agent.store import EVENTS_FILE, RunStore, read_records
from agent.testing import SCRIPTED_MODEL_ENV, act

AUTOGPT = shutil.which("autogpt", path=os.path.dirname(sys.executable)) or "autogpt"
LOCAL = ["--sandbox", "local", "--unsafe-local"]


class Cli:
    """`autogpt` in a temporary home, with a scripted model; runs are kept in `runs`."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp, self.workspace, self.runs = tmp_path, tmp_path / "ws", tmp_path / "runs"
        self.workspace.mkdir()
        self.store = RunStore(self.runs)

    def env(self, replies: list[Any] | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != SCRIPTED_MODEL_ENV}
        env.update(AUTOGPT_HOME=str(self.tmp / "home"), COLUMNS="80")
        if replies is not None:
            script = self.tmp / f"replies-{len(list(self.tmp.glob('replies-*')))}.json"
            script.write_text(json.dumps(replies))
            env[SCRIPTED_MODEL_ENV] = str(script)
        return env

    def __call__(self, *argv: str, replies: list[Any] | None = None, cwd: Path | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:
        runs = [] if argv[0] == "classify" else ["--runs-dir", str(self.runs)]
        return subprocess.run([AUTOGPT, *argv, *runs], env=self.env(replies), text=True,
                              capture_output=True, cwd=cwd or self.tmp, timeout=timeout)

    def start(self, *argv: str, replies: list[Any], cwd: Path | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen([AUTOGPT, *argv, "--runs-dir", str(self.runs)], env=self.env(replies), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd or self.tmp)

    def wait_for_event(self, kind: str, step: int, timeout: float = 60) -> str:
        """Poll the run logs until one holds an event of `kind` at `step`; returns that run's id."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for folder in self.runs.glob("*"):
                records, _ = read_records(folder / EVENTS_FILE)
                if any(r["type"] == kind and r["step"] == step for r in records):
                    return folder.name
            time.sleep(0.02)
        raise AssertionError(f"no {kind} event at step {step}")


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def one_error_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, one `error:` line on stderr holding every needle, nothing on stdout, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def interrupted_run(cli: Cli, replies: list[Any]) -> tuple[str, subprocess.CompletedProcess[str]]:
    """A run from inside its workspace (`--workspace .`), stopped by SIGINT while the model 'thinks'."""
    gated = [*replies[:-1], {"after_file": str(cli.tmp / "never"), "reply": replies[-1]}]
    proc = cli.start("run", "keep a note", "--workspace", ".", *LOCAL, replies=gated, cwd=cli.workspace)
    run_id = cli.wait_for_event("observation", len(replies) - 1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return run_id, subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# -- goals, devices, dtypes: refused before anything is loaded ---------------------------------------------

@pytest.mark.parametrize("goal", ["", "   \n"])
def test_an_empty_goal_is_refused(cli: Cli, goal: str) -> None:
    one_error_line(cli("run", goal, *LOCAL, replies=[act("finish", answer="391")]), "the goal is empty")
    assert cli.store.list_ids() == []


def test_a_goal_too_long_is_refused_before_the_model_loads_and_says_why(cli: Cli) -> None:
    goal = "count the words: " + "lorem ipsum " * 2000
    # no scripted model and a model path that does not exist: had anything been loaded, this would say so
    result = cli("run", goal, "--json", "--model", str(cli.tmp / "missing.gguf"), *LOCAL)
    one_error_line(result, f"{len(goal):,} characters", f"at most {MAX_GOAL_CHARS:,}", "put the long text in a file")
    assert cli.store.list_ids() == []
    ok = cli("run", "x" * MAX_GOAL_CHARS, *LOCAL, "--json", replies=[act("list_dir"), act("finish", answer="ok")])
    assert ok.returncode == 0 and json.loads(ok.stdout.splitlines()[-1])["status"] == "done"


@pytest.mark.parametrize(("option", "needle"), [(["--device", "tpu"], "unknown device 'tpu'"),
                                                (["--dtype", "int8"], "unknown dtype 'int8'")])
def test_an_unknown_device_or_dtype_is_one_line(cli: Cli, option: list[str], needle: str) -> None:
    one_error_line(cli("run", "hi", *option, *LOCAL, replies=[]), needle)
    one_error_line(cli("chat", *option, *LOCAL, replies=[]), needle)


def test_a_missing_workspace_is_one_line(cli: Cli) -> None:
    one_error_line(cli("run", "hi", "--workspace", str(cli.tmp / "nope"), *LOCAL, replies=[]), "not a directory")


# -- Ctrl-C, a closed stdout, resume ------------------------------------------------------------------------

def test_ctrl_c_records_why_the_run_stopped_and_names_the_run_to_resume(cli: Cli) -> None:
    run_id, result = interrupted_run(cli, [act("write_file", path="note.txt", content="kept\n"),
                                           act("finish", answer="never")])
    assert result.returncode == 130 and "Traceback" not in result.stderr
    assert f"autogpt resume {run_id}`" in result.stderr and "RUN_ID" not in result.stderr
    last = cli.store.load(run_id).events[-1]
    assert isinstance(last, ErrorEvent) and (last.kind, last.message, last.step) == ("interrupted",
                                                                                     "stopped by Ctrl-C", 1)
    listed = json.loads(cli("runs", "list", "--json").stdout)
    assert [(r["id"], r["status"]) for r in listed] == [(run_id, "interrupted")]


def test_resume_works_in_the_runs_own_workspace_from_any_folder(cli: Cli) -> None:
    run_id, _ = interrupted_run(cli, [act("write_file", path="note.txt", content="kept\n"),
                                      act("finish", answer="never")])
    elsewhere = cli.tmp / "elsewhere"
    elsewhere.mkdir()
    meta = json.loads((cli.runs / run_id / "run.json").read_text())
    assert meta["config"]["workspace"] == str(cli.workspace), "the workspace is recorded as an absolute path"

    result = cli("resume", run_id[:-3], "--json", replies=[act("read_file", path="note.txt"),
                                                           act("finish", answer="note says kept")], cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert (outcome["run_id"], outcome["status"], outcome["answer"]) == (run_id, "done", "note says kept")
    reads = [e for e in cli.store.load(run_id).events if getattr(e, "tool", "") == "read_file"]
    assert reads[-1].output == "kept\n" and list(elsewhere.iterdir()) == []


def test_resume_refuses_when_the_runs_workspace_is_gone(cli: Cli) -> None:
    run_id, _ = interrupted_run(cli, [act("list_dir"), act("finish", answer="never")])
    shutil.rmtree(cli.workspace)
    one_error_line(cli("resume", run_id, replies=[]), f"run {run_id} worked in {cli.workspace}",
                   "not there any more")


def test_resume_takes_max_steps_for_the_whole_run(cli: Cli) -> None:
    run_id, _ = interrupted_run(cli, [act("write_file", path="a.txt", content="a"),
                                      act("write_file", path="b.txt", content="b"), act("finish", answer="x")])
    result = cli("resume", run_id, "--max-steps", "2", "--json", replies=[])
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert (outcome["status"], outcome["steps"]) == ("budget_exhausted", 2) and "step limit (2)" in outcome["reason"]


def test_resume_of_a_finished_run_refuses_without_loading_a_model(cli: Cli) -> None:
    done = cli("run", "list", "--json", *LOCAL, replies=[act("list_dir"), act("finish", answer="ok")])
    run_id = json.loads(done.stdout.splitlines()[-1])["run_id"]
    # the model path does not exist: loading it would fail differently, so the refusal comes first
    one_error_line(cli("resume", run_id, "--model", str(cli.tmp / "missing.gguf")), "already ended (done)")


def test_a_closed_stdout_ends_the_run_as_interrupted_with_a_last_record(cli: Cli) -> None:
    go = cli.tmp / "go"
    replies = [act("write_file", path="a.txt", content="a"),
               {"after_file": str(go), "reply": act("write_file", path="b.txt", content="b")},
               act("finish", answer="ab")]
    proc = cli.start("run", "write a and b", "--workspace", str(cli.workspace), *LOCAL, replies=replies)
    assert proc.stdout is not None
    while "ok created a.txt" not in proc.stdout.readline():  # like `| head`: read a little, then go away
        pass
    proc.stdout.close()
    go.touch()  # the run goes on, and its next line meets the closed pipe
    assert proc.wait(timeout=60) == 141
    err = proc.stderr.read() if proc.stderr else ""
    run_id = cli.store.list_ids()[0]
    assert "Traceback" not in err and "the output was closed" in err and f"autogpt resume {run_id}" in err
    last = cli.store.load(run_id).events[-1]
    assert isinstance(last, ErrorEvent) and (last.kind, last.message) == ("interrupted", "the output was closed")
    assert not (cli.workspace / "b.txt").exists()


# -- run ids: whole, and by prefix ---------------------------------------------------------------------------

def test_runs_list_keeps_every_id_whole_at_80_columns_when_piped(cli: Cli) -> None:
    for n in range(3):
        cli("run", f"goal {n} " + "with a long description of what to do " * 3, *LOCAL,
            replies=[act("list_dir"), act("finish", answer="ok")])
    ids = cli.store.list_ids()
    table = cli("runs", "list").stdout
    assert len(ids) == 3 and all(run_id in table for run_id in ids), table
    assert max(len(line) for line in table.splitlines()) <= 80


def test_a_unique_id_prefix_is_accepted_and_an_ambiguous_one_refused(cli: Cli) -> None:
    for name in ("20261201-101010-aaaaaa", "20261201-101010-abbbbb"):
        cli.store.create(name, {"goal": name, "config": {}}).close()
    shown = cli("runs", "show", "20261201-101010-ab", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["id"] == "20261201-101010-abbbbb"
    one_error_line(cli("runs", "show", "20261201"), "matches 2 runs", "give more of the id")
    one_error_line(cli("runs", "replay", "zzz"), "no run 'zzz'")
    one_error_line(cli("resume", "zzz", replies=[]), "no run 'zzz'")


def test_runs_rm_removes_runs_by_id_or_prefix_and_refuses_unknown_ones_first(cli: Cli) -> None:
    for name in ("20261201-101010-aaaaaa", "20261201-101010-abbbbb", "20261202-090000-cccccc"):
        cli.store.create(name, {"goal": name, "config": {}}).close()
    one_error_line(cli("runs", "rm", "20261202", "zzz"), "no run 'zzz'")
    assert len(cli.store.list_ids()) == 3, "nothing is removed when one id is wrong"
    removed = cli("runs", "rm", "20261202", "20261201-101010-ab")
    assert removed.returncode == 0 and removed.stdout.split() == ["removed", "20261202-090000-cccccc", "removed",
                                                                  "20261201-101010-abbbbb"]
    assert cli.store.list_ids() == ["20261201-101010-aaaaaa"]


def test_runs_rm_refuses_a_run_in_progress(cli: Cli) -> None:
    replies = [act("list_dir"), {"after_file": str(cli.tmp / "go"), "reply": act("finish", answer="ok")}]
    proc = cli.start("run", "wait", "--workspace", str(cli.workspace), *LOCAL, replies=replies)
    run_id = cli.wait_for_event("observation", 1)
    assert json.loads(cli("runs", "list", "--json").stdout)[0]["status"] == "running"
    one_error_line(cli("runs", "rm", run_id), f"run {run_id} is in progress", "nothing was removed")
    (cli.tmp / "go").touch()
    assert proc.wait(timeout=60) == 0 and cli.store.exists(run_id)


# -- damaged logs, binary files, broken models -------------------------------------------------------------

def test_a_corrupt_middle_line_is_reported_the_run_stays_listed_and_its_other_events_shown(cli: Cli) -> None:
    done = cli("run", "list", "--json", *LOCAL, replies=[act("list_dir"), act("write_file", path="a", content="a"),
                                                         act("finish", answer="ok")])
    run_id = json.loads(done.stdout.splitlines()[-1])["run_id"]
    log = cli.runs / run_id / EVENTS_FILE
    lines = log.read_text().splitlines()
    lines[2] = lines[2][: len(lines[2]) // 2]  # a line cut in half in the middle of the file
    log.write_text("\n".join(lines) + "\n")

    listed = json.loads(cli("runs", "list", "--json").stdout)
    assert [(r["id"], r["status"], r["damaged"]) for r in listed] == [(run_id, "done", True)]
    assert "done (damaged)" in cli("runs", "list").stdout
    shown = cli("runs", "show", run_id)
    assert shown.returncode == 0 and "Traceback" not in shown.stderr
    assert "events.jsonl line 3 is not a valid event" in shown.stdout
    assert "step 2 write_file" in shown.stdout and "answer ok" in shown.stdout  # the rest is still shown
    assert json.loads(cli("runs", "show", run_id, "--json").stdout)["problems"] == [
        "events.jsonl line 3 is not a valid event (skipped)"]


def test_a_damaged_interrupted_run_is_not_resumed(cli: Cli) -> None:
    run_id, _ = interrupted_run(cli, [act("list_dir"), act("finish", answer="x")])
    log = cli.runs / run_id / EVENTS_FILE
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n")
    one_error_line(cli("resume", run_id, replies=[]), "line 2 is not a valid event", f"autogpt runs show {run_id}")


def test_classify_refuses_a_binary_file_naming_it(cli: Cli) -> None:
    noise = cli.tmp / "noise.txt"
    noise.write_bytes(bytes(range(256)) * 8)
    one_error_line(cli("classify", "sentiment", "--file", str(noise)), "noise.txt is not a text file")
    latin = cli.tmp / "latin.csv"
    latin.write_bytes("text\ncaf\xe9 au lait\n".encode("latin-1"))
    one_error_line(cli("classify", "topic", "--labels", "food,sport", "--file", str(latin)),
                   "latin.csv is not a text file")


def test_a_text_file_named_gguf_is_one_line(cli: Cli) -> None:
    fake = cli.tmp / "model.gguf"
    fake.write_text("this is not a model\n")
    env_cache = {"AUTOGPT_CACHE": str(cli.tmp / "cache")}
    result = subprocess.run([AUTOGPT, "run", "hi", "--model", str(fake), *LOCAL, "--runs-dir", str(cli.runs)],
                            env={**cli.env(None), **env_cache}, capture_output=True, text=True, timeout=300)
    one_error_line(result, f"{fake} is not a GGUF file")


@pytest.mark.real_model
def test_a_truncated_gguf_is_one_line(cli: Cli) -> None:
    from agent.llm.loading import resolve_model

    source = resolve_model("default")
    truncated = cli.tmp / "cut.gguf"
    with open(source.directory / source.gguf_file, "rb") as f:
        truncated.write_bytes(f.read(30 << 20))
    env = {**cli.env(None), "AUTOGPT_CACHE": str(cli.tmp / "cache")}  # never the shared cache
    result = subprocess.run([AUTOGPT, "run", "hi", "--model", str(truncated), *LOCAL, "--runs-dir", str(cli.runs)],
                            env=env, capture_output=True, text=True, timeout=600)
    one_error_line(result, f"{truncated} is truncated or damaged")
    assert not list((cli.tmp / "cache").glob("models/*")), "nothing half-made is left in the cache"


def test_a_crash_mid_run_is_one_line_a_last_record_and_a_json_line(cli: Cli) -> None:
    # the scripted model has one reply: asked for a second, it raises, as a broken part would
    result = cli("run", "write a", "--json", "--workspace", str(cli.workspace), *LOCAL,
                 replies=[act("write_file", path="a.txt", content="a")])
    run_id = cli.store.list_ids()[0]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "crashed: AssertionError: the model was called 2 times" in result.stderr
    assert f"resume with `autogpt resume {run_id}`" in result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert (outcome["run_id"], outcome["status"], outcome["steps"]) == (run_id, "crashed", 1)
    last = cli.store.load(run_id).events[-1]
    assert isinstance(last, ErrorEvent) and last.kind == "crashed" and "AssertionError" in last.message
    assert "Traceback" in (cli.runs / run_id / "crash.txt").read_text()
