"""The web app's routes through Starlette's test client: lists, a run's page, its events in order, runs
started, stopped, resumed and approved from the page, and everything a request may not do.

The runs are real: the Agent over a scripted model, the real local sandbox, the real run store.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from ui_support import AUTOGPT, parse_sse, primes_replies, record_run, wait_until

from agent.cli.web.app import create_app
from agent.cli.web.live import UiSettings
from agent.events import ActionChosen, Observation
from agent.store import EVENTS_FILE, RunStore
from agent.testing import SCRIPTED_MODEL_ENV, PacedScriptedModel, act
from sandbox.base import SandboxKind

BASE = "http://127.0.0.1:8765"
LOCAL = frozenset({"127.0.0.1", "localhost", "::1"})


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"


def make_client(tmp_path: Path, runs_dir: Path, workspace: Path, replies: list[Any] | None = None,
                **settings: Any) -> tuple[TestClient, list[PacedScriptedModel]]:
    """A test client over the app; the model it loads replies with `replies` (one model per load)."""
    loaded: list[PacedScriptedModel] = []

    def load(spec: str) -> PacedScriptedModel:
        loaded.append(PacedScriptedModel(list(replies or [])))
        return loaded[-1]

    ui = UiSettings(runs_dir=runs_dir, workspace=workspace, sandbox=SandboxKind.LOCAL, unsafe_local=True,
                    allowed_hosts=LOCAL, **settings)
    return TestClient(create_app(ui, load), base_url=BASE), loaded


def events_of(client: TestClient, run_id: str, **headers: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/runs/{run_id}/events", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    return parse_sse(response.text)


def wait_for_state(client: TestClient, run_id: str, *states: str, timeout: float = 30.0) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        run = client.get(f"/api/runs/{run_id}").json()
        here = run.get("here") or {}
        return run if here.get("state") in states or (not here and run["status"] in states) else None

    return wait_until(reached, timeout, f"run {run_id} to reach {states}")


def post(client: TestClient, path: str, body: dict[str, Any] | None = None, **kwargs: Any):
    return client.post(path, json=body if body is not None else {}, **kwargs)


# -- reading ---------------------------------------------------------------------------------------------

def test_the_list_is_newest_first_with_the_fields_of_runs_list_and_searchable(tmp_path, runs_dir, workspace):
    first = record_run(runs_dir, workspace, [act("list_dir"), act("finish", answer="empty")], "Look around")
    time.sleep(0.02)
    second = record_run(runs_dir, workspace, primes_replies(), "Write primes.py and run it")
    client, _ = make_client(tmp_path, runs_dir, workspace)
    rows = client.get("/api/runs").json()
    assert [r["id"] for r in rows] == [second, first]
    assert set(rows[0]) >= {"id", "goal", "status", "steps", "duration_s", "started", "answer", "model"}
    assert rows[0]["status"] == "done" and rows[0]["steps"] == 3 and rows[0]["goal"] == "Write primes.py and run it"
    assert [r["id"] for r in client.get("/api/runs", params={"q": "primes done"}).json()] == [second]
    assert client.get("/api/runs", params={"q": "no such words"}).json() == []
    page = client.get("/")
    assert page.status_code == 200 and "/static/list.js" in page.text


def test_a_run_page_and_its_summary(tmp_path, runs_dir, workspace):
    run_id = record_run(runs_dir, workspace, primes_replies(), "Write primes.py and run it")
    client, _ = make_client(tmp_path, runs_dir, workspace)
    page = client.get(f"/runs/{run_id}")
    assert page.status_code == 200 and "/static/run.js" in page.text
    run = client.get(f"/api/runs/{run_id}").json()
    assert run["id"] == run_id and run["status"] == "done" and run["result"]["answer"].startswith("The primes")
    assert run["config"]["budget"]["max_steps"] == 12 and run["torn_tail"] is False and run["here"] is None


def test_events_arrive_in_log_order_with_their_views_then_the_end(tmp_path, runs_dir, workspace):
    run_id = record_run(runs_dir, workspace, primes_replies(), "Write primes.py and run it")
    client, _ = make_client(tmp_path, runs_dir, workspace)
    messages = events_of(client, run_id)
    logged = [json.loads(line) for line in (runs_dir / run_id / EVENTS_FILE).read_text().splitlines()]
    events = [m for m in messages if m["event"] == "event"]
    assert [m["data"]["event"]["type"] for m in events] == [r["type"] for r in logged]
    assert [int(m["id"]) for m in events] == list(range(1, len(logged) + 1))
    assert [m["data"]["ts"] for m in events] == [r["ts"] for r in logged]
    assert [m["event"] for m in messages[-2:]] == ["status", "end"]
    assert messages[-2]["data"]["state"] == "ended"
    output = next(m["data"] for m in events if m["data"]["event"]["type"] == "observation"
                  and m["data"]["event"]["tool"] == "run_python")
    assert "\x1b" in output["event"]["output"]  # the raw event is the log's
    assert "\x1b" not in output["view"]["output_html"] and '<span class="ctl"' in output["view"]["output_html"]
    assert "&lt;b&gt;not html&lt;/b&gt;" in output["view"]["output_html"]


def test_a_reconnecting_page_gets_only_the_events_after_the_last_it_saw(tmp_path, runs_dir, workspace):
    run_id = record_run(runs_dir, workspace, primes_replies(), "Write primes.py and run it")
    client, _ = make_client(tmp_path, runs_dir, workspace)
    events = [m for m in events_of(client, run_id, **{"Last-Event-ID": "5"}) if m["event"] == "event"]
    assert [int(m["id"]) for m in events] == [6, 7, 8]
    assert client.get(f"/api/runs/{run_id}/events", params={"after": "x"}).status_code == 400


def test_a_damaged_log_line_is_reported_and_skipped(tmp_path, runs_dir, workspace):
    run_id = record_run(runs_dir, workspace, primes_replies(), "Write primes.py and run it")
    log = runs_dir / run_id / EVENTS_FILE
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:2]) + "{not json\n" + "".join(lines[2:]))
    client, _ = make_client(tmp_path, runs_dir, workspace)
    messages = events_of(client, run_id)
    assert [m["event"] for m in messages[:4]] == ["event", "event", "damaged", "event"]
    assert messages[-1]["event"] == "end"


# -- refusals -------------------------------------------------------------------------------------------

def test_bad_ids_and_paths_outside_the_runs_dir_are_refused(tmp_path, runs_dir, workspace):
    run_id = record_run(runs_dir, workspace, primes_replies(), "Write primes.py and run it")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "run.json").write_text('{"goal": "secret"}')
    os.symlink(secret, runs_dir / "linked-out")
    (runs_dir / "leaky").mkdir()
    (runs_dir / "leaky" / "run.json").write_text('{"goal": "x"}')
    os.symlink(secret / "run.json", runs_dir / "leaky" / EVENTS_FILE)
    client, _ = make_client(tmp_path, runs_dir, workspace)
    for path in ["/api/runs/bad$id", "/api/runs/.hidden", "/api/runs/a..b/events", "/runs/bad$id"]:
        assert client.get(path).status_code == 400, path
    for path in ["/api/runs/nope", "/api/runs/nope/events", "/runs/nope", "/api/runs/linked-out",
                 "/api/runs/linked-out/events", "/api/runs/..%2F..%2Fsecret", "/static/..%2F..%2Fapp.py",
                 "/static/../../../../pyproject.toml", "/api/nothing"]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert "secret" not in response.text
    assert client.get("/api/runs/leaky/events").status_code == 403
    assert client.get("/runs/nope").headers["content-type"].startswith("text/html")
    assert client.get("/api/runs/nope").json()["error"] == "no run nope"
    assert "linked-out" not in [r["id"] for r in client.get("/api/runs").json()]
    assert client.get(f"/api/runs/{run_id}").status_code == 200


def test_another_host_name_a_foreign_origin_a_non_json_or_oversized_body_are_refused(tmp_path, runs_dir,
                                                                                     workspace):
    client, _ = make_client(tmp_path, runs_dir, workspace)
    assert client.get("/api/runs", headers={"Host": "attacker.example"}).status_code == 400
    assert client.get("/api/runs", headers={"Host": "localhost:8765"}).status_code == 200
    foreign = post(client, "/api/runs", {"goal": "x"}, headers={"Origin": "http://attacker.example"})
    assert foreign.status_code == 403
    form = client.post("/api/runs", content="goal=x", headers={"Content-Type": "text/plain"})
    assert form.status_code == 415
    big = post(client, "/api/runs", {"goal": "x" * 70_000})
    assert big.status_code == 413
    chunked = client.post("/api/runs", content=iter([b'{"goal": "', b"x" * 70_000, b'"}']),
                          headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413
    assert list(RunStore(runs_dir).list_ids()) == []
    response = client.get("/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_requests_are_validated(tmp_path, runs_dir, workspace):
    client, _ = make_client(tmp_path, runs_dir, workspace)
    assert post(client, "/api/runs", {"goal": ""}).status_code == 422
    assert post(client, "/api/runs", {"goal": "x", "max_steps": 0}).status_code == 422
    assert post(client, "/api/runs", {"goal": "x", "workspace": "/etc"}).status_code == 422
    assert post(client, "/api/runs", {"goal": "x", "sandbox": "nowhere"}).status_code == 422
    bad_json = client.post("/api/runs", content="{", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and "JSON" in bad_json.json()["error"]
    not_offered = post(client, "/api/runs", {"goal": "x", "model": "/etc/passwd"})
    assert not_offered.status_code == 400 and "not offered" in not_offered.json()["error"]
    assert list(RunStore(runs_dir).list_ids()) == []


def test_the_token_is_needed_as_bearer_cookie_or_once_in_the_address(tmp_path, runs_dir, workspace):
    client, _ = make_client(tmp_path, runs_dir, workspace, token="s3cret-token")
    assert client.get("/api/runs").status_code == 401
    assert client.get("/").status_code == 401
    assert client.get("/api/runs", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    assert client.get("/api/runs", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert post(client, "/api/runs?token=s3cret-token", {"goal": "x"}).status_code == 401
    moved = client.get("/?token=s3cret-token", follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == "/"
    assert "HttpOnly" in moved.headers["set-cookie"] and "SameSite=Strict" in moved.headers["set-cookie"]
    assert client.get("/api/runs").status_code == 200  # the cookie it set
    client.cookies.clear()
    client.cookies.set("autogpt_ui_token", "wrong-token")
    assert client.get("/api/runs").status_code == 401


# -- steering -------------------------------------------------------------------------------------------

def test_a_run_started_from_the_page_is_recorded_like_any_other(tmp_path, runs_dir, workspace):
    client, models = make_client(tmp_path, runs_dir, workspace, replies=primes_replies())
    with client:
        started = post(client, "/api/runs", {"goal": "Write primes.py and run it", "max_steps": 5})
        assert started.status_code == 201
        run_id = started.json()["run_id"]
        run = wait_for_state(client, run_id, "ended", "done")
    assert run["status"] == "done" and run["steps"] == 3
    models[0].assert_complete()
    log = RunStore(runs_dir).load(run_id)
    assert log.meta["config"]["budget"]["max_steps"] == 5 and log.result["status"] == "done"
    assert (workspace / "primes.py").is_file()
    assert "[2, 3, 5, 7" in next(e.output for e in log.events if isinstance(e, Observation) and e.tool == "run_python")


def test_approval_from_the_page_allows_denies_and_remembers_always(tmp_path, runs_dir, workspace):
    replies = [act("write_file", path="a.txt", content="one\n"), act("write_file", path="b.txt", content="two\n"),
               act("run_python", code="print('hi')"), act("run_python", code="print('again')"),
               act("finish", answer="done")]
    client, _ = make_client(tmp_path, runs_dir, workspace, replies=replies, approve=True)
    with client:
        run_id = post(client, "/api/runs", {"goal": "Write two files and run code"}).json()["run_id"]
        first = wait_for_state(client, run_id, "awaiting_approval")["here"]["approval"]
        assert first["tool"] == "write_file" and "write_file will create a.txt" in first["title_html"]
        assert "+one" in first["body_html"]
        assert post(client, f"/api/runs/{run_id}/approval", {"approval_id": "stale", "decision": "yes"}
                    ).status_code == 409
        assert post(client, f"/api/runs/{run_id}/approval", {"approval_id": first["id"], "decision": "maybe"}
                    ).status_code == 409
        time.sleep(0.6)  # the user takes a moment: not the tool's time
        assert post(client, f"/api/runs/{run_id}/approval", {"approval_id": first["id"], "decision": "yes"}
                    ).status_code == 200
        second = wait_until(lambda: _approval_other_than(client, run_id, first["id"]), what="a second ask")
        assert second["tool"] == "write_file"
        post(client, f"/api/runs/{run_id}/approval", {"approval_id": second["id"], "decision": "no",
                                                      "detail": "not that file"})
        third = wait_until(lambda: _approval_other_than(client, run_id, second["id"]), what="a third ask")
        assert third["tool"] == "run_python" and "print" in third["body_html"]
        post(client, f"/api/runs/{run_id}/approval", {"approval_id": third["id"], "decision": "always"})
        run = wait_for_state(client, run_id, "ended")
    assert run["status"] == "done"
    assert (workspace / "a.txt").read_text() == "one\n" and not (workspace / "b.txt").exists()
    outputs = [e for e in RunStore(runs_dir).load(run_id).events if isinstance(e, Observation)]
    assert outputs[0].seconds < 0.5
    assert outputs[1].output == "The user did not allow this call: not that file" and not outputs[1].ok
    assert [o.output for o in outputs[2:4]] == ["hi", "again"]  # "always": the second run_python was not asked


def _approval_other_than(client: TestClient, run_id: str, seen: str) -> dict[str, Any] | None:
    here = client.get(f"/api/runs/{run_id}").json()["here"] or {}
    approval = here.get("approval")
    return approval if approval and approval["id"] != seen else None


def test_stop_leaves_an_interrupted_run_that_resumes_without_repeating_a_call(tmp_path, runs_dir, workspace):
    replies = [act("write_file", path="a.txt", content="one\n"), act("run_python", code="print(open('a.txt').read())"),
               act("finish", answer="one")]
    client, models = make_client(tmp_path, runs_dir, workspace, replies=replies, approve=True)
    with client:
        run_id = post(client, "/api/runs", {"goal": "Write a.txt and read it"}).json()["run_id"]
        approval = wait_for_state(client, run_id, "awaiting_approval")["here"]["approval"]
        post(client, f"/api/runs/{run_id}/approval", {"approval_id": approval["id"], "decision": "yes"})
        wait_until(lambda: _approval_other_than(client, run_id, approval["id"]), what="the run_python ask")
        second = post(client, "/api/runs", {"goal": "another"})
        assert second.status_code == 409 and "in progress" in second.json()["error"]
        assert post(client, f"/api/runs/{run_id}/stop").status_code == 202
        run = wait_for_state(client, run_id, "interrupted")
        assert run["status"] == "interrupted"
        assert post(client, f"/api/runs/{run_id}/stop").status_code == 409
        log = RunStore(runs_dir).load(run_id)
        assert isinstance(log.events[-1], ActionChosen) and log.events[-1].tool == "run_python"
        assert post(client, f"/api/runs/{run_id}/resume", {"approve": False}).status_code == 202
        run = wait_for_state(client, run_id, "ended")
    assert run["status"] == "done"
    models[0].assert_complete()  # one model for both: the resumed run went on with the replies left
    observations = [e for e in RunStore(runs_dir).load(run_id).events if isinstance(e, Observation)]
    assert [(o.tool, o.interrupted) for o in observations] == [("write_file", False), ("run_python", True),
                                                                ("finish", False)]


def test_resume_refuses_an_ended_run_and_a_log_another_process_just_wrote(tmp_path, runs_dir, workspace):
    done = record_run(runs_dir, workspace, primes_replies(), "Write primes.py and run it")
    unfinished = record_run(runs_dir, workspace, [act("list_dir")], "Look around", max_steps=1)
    log = runs_dir / unfinished / EVENTS_FILE
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(line for line in lines if '"type": "final"' not in line))
    (runs_dir / unfinished / "result.json").unlink()
    client, _ = make_client(tmp_path, runs_dir, workspace)
    assert post(client, f"/api/runs/{done}/resume").status_code == 409
    busy = post(client, f"/api/runs/{unfinished}/resume")
    assert busy.status_code == 409 and "another process" in busy.json()["error"]
    assert post(client, "/api/runs/nope/resume").status_code == 404
    assert post(client, f"/api/runs/{done}/stop").status_code == 409


def test_a_run_another_process_drives_streams_live_from_its_log(tmp_path, runs_dir, workspace):
    script = tmp_path / "replies.json"
    script.write_text(json.dumps(primes_replies(delay_s=0.7)))
    env = {**os.environ, SCRIPTED_MODEL_ENV: str(script), "AUTOGPT_HOME": str(tmp_path / "home")}
    process = subprocess.Popen([AUTOGPT, "run", "Write primes.py and run it", "--workspace", str(workspace),
                                "--runs-dir", str(runs_dir), "--sandbox", "local", "--unsafe-local"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run_id = wait_until(lambda: RunStore(runs_dir).list_ids(), what="the run's folder")[0]
        client, _ = make_client(tmp_path, runs_dir, workspace)
        seen: list[tuple[str, bool]] = []  # (message, was the other process still running)
        with client.stream("GET", f"/api/runs/{run_id}/events") as response:
            buffer = ""
            for chunk in response.iter_text():
                buffer += chunk
                *blocks, buffer = re.split(r"\r?\n\r?\n", buffer)
                for block in blocks:
                    for message in parse_sse(block):
                        kind = message["data"]["event"]["type"] if message["event"] == "event" else message["event"]
                        seen.append((kind, process.poll() is None))
                if seen and seen[-1][0] == "end":
                    break
    finally:
        process.wait(timeout=60)
    kinds = [k for k, _ in seen]
    assert kinds[:2] == ["run_started", "status"] and kinds[-3:] == ["final", "status", "end"]
    assert kinds.count("action") == 3 and kinds.count("observation") == 3
    assert [alive for kind, alive in seen if kind == "action"][:2] == [True, True]  # seen as it went
