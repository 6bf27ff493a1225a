"""The real `autogpt ui` process: it serves, refuses bad options with one message, warns off loopback, and
ends cleanly on Ctrl-C, leaving a run it was driving resumable from the command line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from ui_support import AUTOGPT, primes_replies, start_ui, wait_until

from agent.events import Observation
from agent.store import RunStore
from agent.testing import SCRIPTED_MODEL_ENV


def call(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_ctrl_c_ends_the_server_cleanly_and_the_run_it_stopped_resumes_from_the_cli(tmp_path: Path, workspace):
    runs = tmp_path / "runs"
    server = start_ui(tmp_path, primes_replies(), "--approve", runs_dir=runs, workspace=workspace)
    try:
        run_id = call(server.url + "api/runs", {"goal": "Write primes.py and run it"})["run_id"]
        wait_until(lambda: (call(f"{server.url}api/runs/{run_id}")["here"] or {}).get("approval"),
                   what="the write_file approval")
        page = urllib.request.urlopen(f"{server.url}api/runs/{run_id}/events", timeout=30)  # a page watching
        assert b"event: event" in page.read1(65536)
        server.process.send_signal(signal.SIGINT)
        code = server.process.wait(timeout=20)
    finally:
        output = server.stop()
    assert code == 0, output
    assert "Traceback" not in output and "ERROR" not in output
    page.read()  # the stream was ended by the server, not cut
    assert f"stopped run {run_id}; `autogpt resume {run_id}` continues it" in output
    assert RunStore(runs).load(run_id).result is None  # interrupted: no result, log intact

    script = tmp_path / "resume.json"
    script.write_text(json.dumps(primes_replies()))
    env = {**os.environ, SCRIPTED_MODEL_ENV: str(script), "AUTOGPT_HOME": str(tmp_path / "home")}
    resumed = subprocess.run([AUTOGPT, "resume", run_id, "--runs-dir", str(runs)], env=env, text=True,
                             capture_output=True, timeout=60)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    log = RunStore(runs).load(run_id)
    assert log.result is not None and log.result["status"] == "done"
    first = next(e for e in log.events if isinstance(e, Observation))
    assert first.interrupted and first.tool == "write_file"  # the call that waited was never run twice


def test_a_taken_port_is_one_clear_message(tmp_path: Path, workspace):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run([AUTOGPT, "ui", "--port", str(port), "--workspace", str(workspace),
                                 "--runs-dir", str(tmp_path / "runs")], text=True, capture_output=True, timeout=60)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr


def test_bad_options_are_one_clear_message(tmp_path: Path, workspace):
    for argv, message in [(["--workspace", str(tmp_path / "missing")], "is not a directory"),
                          (["--workspace", str(workspace), "--token", "short"], "--token must be"),
                          (["--workspace", str(workspace), "--host", "no.such.host.invalid"], "cannot listen on")]:
        result = subprocess.run([AUTOGPT, "ui", "--port", "0", *argv], text=True, capture_output=True, timeout=60)
        said = " ".join(result.stderr.split())  # the message is wrapped to the terminal's width
        assert result.returncode == 2, argv
        assert message in said and "Traceback" not in said, said


def test_another_address_than_loopback_prints_a_warning(tmp_path: Path, workspace):
    server = start_ui(tmp_path, [], "--host", "0.0.0.0", runs_dir=tmp_path / "runs", workspace=workspace)
    output = server.stop()
    assert "warning: serving on 0.0.0.0" in output and "add --token" in output
    assert server.process.returncode == 0


def test_the_printed_address_carries_the_token_and_works(tmp_path: Path, workspace):
    server = start_ui(tmp_path, [], "--token", "a-long-token", runs_dir=tmp_path / "runs", workspace=workspace)
    try:
        assert server.url.endswith("/?token=a-long-token")
        base = server.url.split("?")[0]
        try:
            urllib.request.urlopen(base + "api/runs", timeout=10)
            raise AssertionError("served without the token")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
        request = urllib.request.Request(base + "api/runs", headers={"Authorization": "Bearer a-long-token"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read()) == []
    finally:
        server.stop()
