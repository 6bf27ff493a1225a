"""`autogpt batch --ray` on real Ray: a local instance with two actors, an actor killed mid-goal (restarted
by Ray, or replaced when it cannot be), and a two-node cluster started with `ray start` on this machine.

The actors' model is scripted ($AUTOGPT_SCRIPTED_MODEL, read by each actor when it starts); Ray, the actor
processes, the tools, the local sandbox and the run store are real. In CI (which installs the `ray` extra)
a missing Ray is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from batch_support import (
    AUTOGPT,
    check_every_step_once,
    observed_step,
    record,
    runs_show,
    upper_then_finish,
    wait_until,
    write_goals,
    write_json,
)
from conftest import in_ci

from agent.batch import Batch, BatchGoal, BatchSettings
from agent.scale.executor import WorkerOptions
from agent.scale.runner import GoalRunner
from agent.store import RunStore
from agent.testing import SCRIPTED_MODEL_ENV, act
from sandbox.base import SandboxKind

if in_ci():
    import ray
else:
    ray = pytest.importorskip("ray")

from agent.scale.ray_pool import RaySettings, open_ray_pool  # noqa: E402 - needs Ray, after the skip

SMALL = {"object_store_memory": 80 * 1024 * 1024, "include_dashboard": False, "log_to_driver": False}


@pytest.fixture(scope="module")
def replies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A local Ray instance whose actors read their scripted replies from the file this yields."""
    path = tmp_path_factory.mktemp("ray") / "replies.json"
    write_json(path, [])
    saved = os.environ.get(SCRIPTED_MODEL_ENV)
    os.environ[SCRIPTED_MODEL_ENV] = str(path)  # the raylet, and so every actor, inherits it
    ray.init(address="local", num_cpus=2, **SMALL)
    yield path
    ray.shutdown()
    if saved is None:
        os.environ.pop(SCRIPTED_MODEL_ENV, None)
    else:
        os.environ[SCRIPTED_MODEL_ENV] = saved


def batch_settings(tmp_path: Path) -> BatchSettings:
    return BatchSettings(workspaces=tmp_path / "workspaces", base_dir=tmp_path, sandbox=SandboxKind.LOCAL,
                         unsafe_local=True)


def test_two_actors_share_the_goals_and_load_the_model_once_each(tmp_path: Path, replies: Path) -> None:
    write_json(replies, upper_then_finish(4))
    pool = open_ray_pool(2, WorkerOptions(), RaySettings(worker_cpus=1))
    store = RunStore(tmp_path / "runs")
    goals = [BatchGoal(id=f"g{i}", goal="upper", files={"in.txt": f"doc {i}"}) for i in range(4)]
    try:
        results = Batch(GoalRunner(pool, store), batch_settings(tmp_path)).run(goals)
    finally:
        pool.close()
    assert ray.is_initialized(), "a driver's own Ray connection is left to it"
    assert [(r.id, r.status, r.steps, r.retried) for r in results] == [(f"g{i}", "done", 2, 0) for i in range(4)]
    assert len({r.worker for r in results}) == 2 and all("Ray node" in r.worker for r in results)
    assert pool.loads == 2
    for i, r in enumerate(results):
        assert (Path(r.workspace) / "out.txt").read_text() == f"DOC {i}"
        assert runs_show(store.runs_dir, r.run_id)["status"] == "done"


def test_an_actor_killed_mid_goal_is_restarted_and_the_goal_resumes(tmp_path: Path, replies: Path) -> None:
    """SIGKILL each actor's process while its model "thinks" about step 2. Ray restarts the actors (their
    constructors load the model again) and each goal resumes from its recorded events."""
    write_json(replies, [record(1), {"delay_s": 60, "reply": record(2)}, act("finish", answer="1, 2")])
    pool = open_ray_pool(2, WorkerOptions(), RaySettings(worker_cpus=1))
    store = RunStore(tmp_path / "runs")
    retried: list = []
    runner = GoalRunner(pool, store, on_retry=retried.append)
    killed = [worker.info.pid for worker in pool.workers]
    results = _run_and_kill(runner, tmp_path, replies, lambda: [os.kill(pid, signal.SIGKILL) for pid in killed])
    assert [(r.id, r.status, r.retried) for r in results] == [("k0", "done", 1), ("k1", "done", 1)]
    assert sorted((r.goal_id, r.resume_step) for r in retried) == [("k0", 1), ("k1", 1)]
    assert pool.loads == 4 and not {w.info.pid for w in pool.workers} & set(killed)
    for r in results:
        check_every_step_once(store, r.run_id, steps=3)
        assert (Path(r.workspace) / "steps.txt").read_text() == "1\n2\n", "no step lost or repeated"


def test_an_actor_that_cannot_be_restarted_is_replaced(tmp_path: Path, replies: Path) -> None:
    write_json(replies, [record(1), {"delay_s": 60, "reply": record(2)}, act("finish", answer="1, 2")])
    pool = open_ray_pool(2, WorkerOptions(), RaySettings(worker_cpus=1))
    store = RunStore(tmp_path / "runs")
    actors = [worker.actor for worker in pool.workers]
    results = _run_and_kill(GoalRunner(pool, store), tmp_path, replies,
                            lambda: [ray.kill(actor, no_restart=True) for actor in actors])
    assert [(r.status, r.retried) for r in results] == [("done", 1), ("done", 1)]
    assert all(worker.actor is not actor for worker, actor in zip(pool.workers, actors, strict=True))
    for r in results:
        check_every_step_once(store, r.run_id, steps=3)
        assert (Path(r.workspace) / "steps.txt").read_text() == "1\n2\n"


def _run_and_kill(runner: GoalRunner, tmp_path: Path, replies: Path, kill) -> list:
    """Run two goals; once both recorded step 1, point the script at what comes next, then `kill()`."""
    results: list = []
    goals = [BatchGoal(id=f"k{i}", goal="record") for i in range(2)]
    batch = Batch(runner, batch_settings(tmp_path))
    thread = threading.Thread(target=lambda: results.extend(batch.run(goals)))
    thread.start()
    try:
        wait_until(lambda: len(observed_step(runner.store, 1)()) == 2, 60, "step 1 of both goals")
        write_json(replies, [record(2), act("finish", answer="1, 2")])  # what a new actor process loads
        kill()
        thread.join(timeout=120)
    finally:
        runner.pool.close()
    assert not thread.is_alive()
    return results


# -- a two-node cluster on this machine ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """A head and a worker node started with `ray start --block`, one CPU each; stopped by their process
    groups (never `ray stop`, which would stop every Ray on the machine)."""

    def __init__(self, env: dict[str, str], root: Path) -> None:
        self.env, self.root = env, root
        self.port, self.client_port = free_port(), free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[subprocess.Popen[str]] = []

    def start(self) -> None:
        ray_cli = str(Path(sys.executable).with_name("ray"))
        common = ["--block", "--num-cpus", "1", "--object-store-memory", str(80 * 1024 * 1024),
                  "--disable-usage-stats"]
        self._node([ray_cli, "start", "--head", "--port", str(self.port), "--include-dashboard", "false",
                    "--ray-client-server-port", str(self.client_port), "--temp-dir", str(self.root), *common])
        self._wait_for_nodes(1)
        self._node([ray_cli, "start", "--address", self.address, *common])
        self._wait_for_nodes(2)

    def _node(self, command: list[str]) -> None:
        ports = ["--dashboard-agent-listen-port", str(free_port()), "--runtime-env-agent-port", str(free_port()),
                 "--metrics-export-port", str(free_port())]
        log = open(self.root / f"node-{len(self.nodes)}.log", "w")  # noqa: SIM115 - the node's lifetime
        self.nodes.append(subprocess.Popen([*command, *ports], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                           text=True, start_new_session=True))

    def node_ids(self) -> list[str]:
        program = (f"import json, ray\nray.init(address={self.address!r}, log_to_driver=False)\n"
                   "print(json.dumps(sorted(n['NodeID'] for n in ray.nodes() if n['Alive'])))")
        done = subprocess.run([sys.executable, "-c", program], env=self.env, capture_output=True, text=True,
                              timeout=120)
        return json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else []

    def _wait_for_nodes(self, count: int) -> None:
        wait_until(lambda: len(self.node_ids()) == count, 180, f"{count} Ray node(s)")

    def stop(self) -> None:
        for node in reversed(self.nodes):  # the worker first, then the head
            _stop_group(node, signal.SIGTERM)
        for node in reversed(self.nodes):
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                _stop_group(node, signal.SIGKILL)
                node.wait(timeout=30)


def _stop_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    replies = write_json(tmp_path / "replies.json", upper_then_finish(4))
    env = {**os.environ, SCRIPTED_MODEL_ENV: str(replies), "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(16), "AUTOGPT_HOME": str(tmp_path / "home")}
    env.pop("RAY_ADDRESS", None)
    root = Path(tempfile.mkdtemp(prefix="rc-", dir="/tmp"))  # Ray's socket paths must stay short
    local = LocalCluster(env, root)
    try:
        local.start()
        yield local
    finally:
        local.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_a_batch_runs_on_both_nodes_of_a_two_node_cluster(tmp_path: Path, cluster: LocalCluster) -> None:
    results, stderr = _cluster_batch(tmp_path / "by-gcs", cluster, cluster.address, goals=4)
    nodes = {r["worker"].split("Ray node ")[1].rstrip(")") for r in results}
    assert len(nodes) == 2, "one actor on each node (a node has one CPU, an actor takes one)"
    assert nodes == {node[:8] for node in cluster.node_ids()}
    assert "4 goals: 4 done; nothing retried" in stderr

    # the same cluster through Ray Client, as from outside it
    results, _ = _cluster_batch(tmp_path / "by-client", cluster, f"ray://127.0.0.1:{cluster.client_port}", goals=2)
    assert all("Ray node" in r["worker"] for r in results)


def _cluster_batch(folder: Path, cluster: LocalCluster, address: str, goals: int) -> tuple[list[dict], str]:
    folder.mkdir()
    path = write_goals(folder / "goals.jsonl", [{"id": f"n{i}", "goal": "upper", "files": {"in.txt": f"n{i}"}}
                                                for i in range(goals)])
    out, runs = folder / "results.jsonl", folder / "runs"
    command = [AUTOGPT, "batch", str(path), "--ray-address", address, "--workers", "2", "--worker-cpus", "1",
               "--out", str(out), "--runs-dir", str(runs), "--sandbox", "local", "--unsafe-local",
               "--workspaces", str(folder / "ws")]
    done = subprocess.run(command, env=cluster.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["status"], r["retried"]) for r in results] == [(f"n{i}", "done", 0) for i in range(goals)]
    for i, r in enumerate(results):
        assert (Path(r["workspace"]) / "out.txt").read_text() == f"N{i}"
        assert runs_show(runs, r["run_id"], env=cluster.env)["status"] == "done"
    return results, done.stderr


def test_bench_with_ray_runs_the_suite_on_actors_and_checks_each_task(tmp_path: Path, replies: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from agent.cli.bench import bench_command

    write_json(replies, upper_then_finish(3))
    suite = tmp_path / "suite.jsonl"
    suite.write_text("".join(json.dumps({"id": f"t{i}", "goal": "upper", "files": {"in.txt": text},
                                         "check": f'test "$(cat out.txt)" = {expected}'}) + "\n"
                             for i, (text, expected) in enumerate([("ab", "AB"), ("cd", "CD"), ("ef", "XX")])))
    app = typer.Typer()
    app.command()(bench_command)
    out, runs = tmp_path / "report.json", tmp_path / "runs"
    result = CliRunner().invoke(app, [str(suite), "--ray", "--workers", "2", "--out", str(out), "--runs-dir",
                                      str(runs), "--sandbox", "local", "--unsafe-local", "--no-python-session",
                                      "--worked-examples", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert [(t["id"], t["passed"], t["status"]) for t in report["tasks"]] == [
        ("t0", True, "done"), ("t1", True, "done"), ("t2", False, "done")]
    assert "2/3 passed" in result.output and "2 model load(s) in 2 Ray actors" in result.output
    for task in report["tasks"]:
        assert runs_show(runs, task["run_id"])["status"] == "done"
        config = RunStore(runs).load(task["run_id"]).meta["config"]
        assert (config["action_format"], config["sandbox_config"]["python_session"], config["worked_examples"]) == (
            "json", False, 1), "the options an `autogpt run` of the task would get"
