"""`autogpt tune` end to end as a user runs it (a tiny llama, so it takes seconds): it writes an adapter and its loss
curve, a run killed mid-way resumes with --resume, and bad input gets one clear message and exit 2. Also the
GPU check script's answer on a machine without CUDA.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tiny_llama
import tune_fixture

from agent.cli.tune import with_optional_values

ROOT = Path(__file__).resolve().parents[1]


def autogpt(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "AUTOGPT_SCRIPTED_MODEL"}
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_llama.make_tiny_llama(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def data(tmp_path) -> Path:
    return tune_fixture.write_jsonl(tmp_path / "train.jsonl", tune_fixture.short_conversations(8))


def _fails_clearly(done: subprocess.CompletedProcess, words: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert words in " ".join(done.stderr.split()), done.stderr
    assert "Traceback" not in done.stderr


def test_tune_writes_an_adapter_with_its_loss_curve_and_a_json_summary(tiny, data, tmp_path):
    out = tmp_path / "adapter"
    done = autogpt("tune", "--model", str(tiny), "--data", str(data), "--epochs", "2", "--batch-size", "4",
                   "--rank", "4", "--learning-rate", "0.05", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["adapter"] == str(out) and summary["examples"] == 8 and summary["steps"] == 4
    assert summary["tokens"] > 0 and summary["tokens_per_second"] > 0 and summary["device"] == "cpu"
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"
    meta = json.loads((out / "autogpt-adapter.json").read_text())
    assert meta["base"]["name"] == tiny.name and meta["settings"]["rank"] == 4 and len(meta["losses"]) == 4
    assert "adapter written to" in done.stderr and "tok/s" in done.stderr


def test_a_killed_tuning_run_resumes_from_its_checkpoint(tiny, tmp_path):
    data = tune_fixture.write_jsonl(tmp_path / "train.jsonl", tune_fixture.short_conversations(10) * 2)
    out = tmp_path / "adapter"
    args = ["tune", "--model", str(tiny), "--data", str(data), "--epochs", "3", "--batch-size", "2", "--rank", "4",
            "--checkpoint-every", "2", "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if k != "AUTOGPT_SCRIPTED_MODEL"}
    process = subprocess.Popen([sys.executable, "-m", "agent.cli", *args], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = out / "checkpoint" / "state.json"
    deadline = time.monotonic() + 240
    while not state.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert state.is_file() and not (out / "adapter_model.safetensors").exists()
    step = json.loads(state.read_text())["step"]
    other_rank = [a if a != "4" else "8" for a in args]
    _fails_clearly(autogpt(*other_rank, "--resume"), "was made with other data, settings or base model")
    done = autogpt(*args, "--resume", "--json")
    assert done.returncode == 0, done.stderr
    assert f"resumed at step {step}" in " ".join(done.stderr.split())
    assert json.loads(done.stdout.strip().splitlines()[-1])["steps"] == 30
    assert len(json.loads((out / "autogpt-adapter.json").read_text())["losses"]) == 30


def test_tune_without_data_says_what_to_give():
    _fails_clearly(autogpt("tune"), "give training data: --data FILE.jsonl and/or --from-runs")


def test_tune_with_a_missing_or_broken_data_file_names_the_problem(tiny, tmp_path):
    _fails_clearly(autogpt("tune", "--model", str(tiny), "--data", str(tmp_path / "none.jsonl")),
                   "cannot read training data")
    short = tmp_path / "short.jsonl"
    short.write_text('{"id": "a", "family": "f", "messages": [{"role": "user", "content": "hi"}]}\n')
    _fails_clearly(autogpt("tune", "--model", str(tiny), "--data", str(short)), "line 1: messages")
    torn = tune_fixture.write_jsonl(tmp_path / "torn.jsonl", tune_fixture.short_conversations(2))
    with torn.open("a") as f:
        f.write('{"id": "x", "messages": [\n')
    _fails_clearly(autogpt("tune", "--model", str(tiny), "--data", str(torn)), "line 3")


def _record_run(store, workspace: Path, replies: list, goal: str) -> str:
    from agent.config import AgentConfig
    from agent.loop import Agent
    from agent.testing import ScriptedModel
    from sandbox.base import SandboxConfig
    from sandbox.local import LocalSandbox

    agent = Agent(ScriptedModel(replies), config=AgentConfig(workspace=workspace), store=store,
                  sandbox_factory=lambda: LocalSandbox(workspace, SandboxConfig()))
    return agent.run(goal).run_id


def test_tune_from_runs_learns_the_successful_runs_and_names_the_skipped_ones(tiny, tmp_path):
    from agent.store import RunStore
    from agent.testing import act

    workspace = tmp_path / "ws"
    workspace.mkdir()
    store = RunStore(tmp_path / "runs")
    _record_run(store, workspace, [act("run_python", code="print(3 ** 7)"), act("finish", answer="2187")],
                "What is three to the seventh power?")
    corrupt = _record_run(store, workspace, [act("list_dir"), act("finish", answer="ok")], "List the files.")
    with open(store.folder(corrupt) / "events.jsonl", "a") as log:
        log.write("{torn\n")
    out = tmp_path / "adapter"
    done = autogpt("tune", "--model", str(tiny), "--from-runs", str(store.runs_dir), "--epochs", "1",
                   "--rank", "2", "--max-tokens", "4096", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stderr.split())
    assert f"run {corrupt}: cannot read the run" in said
    assert "1 example from 1 of 2 runs" in said  # its two steps share one example
    assert json.loads(done.stdout.strip().splitlines()[-1])["examples"] == 1
    assert (out / "adapter_model.safetensors").is_file()


def test_tune_from_a_run_store_without_successful_runs_says_so(tiny, tmp_path):
    runs = tmp_path / "runs"
    (runs / "20261201-000000-abcdef").mkdir(parents=True)
    (runs / "20261201-000000-abcdef" / "events.jsonl").write_text("{torn")
    done = autogpt("tune", "--model", str(tiny), "--from-runs", str(runs), "--out", str(tmp_path / "a"))
    _fails_clearly(done, "no usable successful runs")
    _fails_clearly(autogpt("tune", "--model", str(tiny), "--from-runs", str(tmp_path / "nowhere")), "no run store")


def test_tune_does_not_overwrite_an_adapter_of_another_model(tiny, data, tmp_path):
    other = tiny_llama.make_tiny_llama(tmp_path / "other", seed=1)
    out = tmp_path / "adapter"
    args = ["--data", str(data), "--epochs", "1", "--rank", "2", "--out", str(out)]
    assert autogpt("tune", "--model", str(other), *args).returncode == 0
    before = (out / "adapter_model.safetensors").read_bytes()
    _fails_clearly(autogpt("tune", "--model", str(tiny), *args), "holds an adapter for another model (other)")
    assert (out / "adapter_model.safetensors").read_bytes() == before


def test_tuning_can_start_from_an_adapter_and_refuses_one_that_does_not_fit(tiny, data, tmp_path):
    from safetensors.torch import load_file

    first, second = tmp_path / "first", tmp_path / "second"
    args = ["--model", str(tiny), "--data", str(data), "--epochs", "1", "--rank", "2"]
    assert autogpt("tune", *args, "--learning-rate", "0.05", "--out", str(first)).returncode == 0
    done = autogpt("tune", *args, "--learning-rate", "0", "--from-adapter", str(first), "--out", str(second))
    assert done.returncode == 0, done.stderr
    assert "starting from the adapter in" in " ".join(done.stdout.split())
    assert f"adapterin{first}" in "".join(done.stdout.split())  # the terminal may fold a long path
    weights = "adapter_model.safetensors"
    trained, kept = load_file(str(first / weights)), load_file(str(second / weights))
    assert trained.keys() == kept.keys() and all((trained[k] == kept[k]).all() for k in trained)  # lr 0: unchanged
    assert autogpt("tune", *args, "--learning-rate", "0", "--out", str(tmp_path / "fresh")).returncode == 0
    fresh = load_file(str(tmp_path / "fresh" / weights))
    assert any(not (fresh[k] == trained[k]).all() for k in trained)  # without it, training starts elsewhere
    assert json.loads((second / "autogpt-adapter.json").read_text())["started_from"]["name"] == "first"
    _fails_clearly(autogpt("tune", *args[:-1], "4", "--from-adapter", str(first), "--out", str(tmp_path / "r")),
                   "has rank 2: give --rank 2")
    other = tiny_llama.make_tiny_llama(tmp_path / "other", seed=1)
    _fails_clearly(autogpt("tune", "--model", str(other), *args[2:], "--from-adapter", str(first), "--out",
                           str(tmp_path / "o")), "was trained on another model")
    _fails_clearly(autogpt("tune", *args, "--from-adapter", str(tmp_path / "nowhere")),
                   "--from-adapter: adapter")


def test_resume_without_a_checkpoint_and_a_missing_model_are_clear_errors(tiny, data, tmp_path):
    _fails_clearly(autogpt("tune", "--model", str(tiny), "--data", str(data), "--out", str(tmp_path / "new"),
                           "--resume"), "nothing to resume")
    _fails_clearly(autogpt("tune", "--model", str(tmp_path / "nowhere"), "--data", str(data)), "cannot use model")
    _fails_clearly(autogpt("tune", "--model", "openai:http://127.0.0.1:9/v1#m", "--data", str(data)),
                   "tune trains a local model")


def test_from_runs_takes_an_optional_folder():
    assert with_optional_values(["tune", "--from-runs"]) == ["tune", "--from-runs="]
    assert with_optional_values(["tune", "--from-runs", "--epochs", "1"]) == ["tune", "--from-runs=", "--epochs", "1"]
    assert with_optional_values(["tune", "--from-runs", "runs"]) == ["tune", "--from-runs", "runs"]
    assert with_optional_values(["tune-data", "--from-runs"]) == ["tune-data", "--from-runs"]  # a flag there


def test_the_gpu_check_says_clearly_when_there_is_no_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the check would run everything")
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 3
    assert json.loads(done.stdout.strip().splitlines()[-1])["cuda"] is False
    assert "no CUDA device" in done.stderr
