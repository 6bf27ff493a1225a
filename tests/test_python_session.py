"""The Python session: run_python keeps one interpreter for the run, on both backends (the real local
sandbox and the real Docker engine), within each call's limits, and says so when its state is gone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_docker
from sandbox_support import require_isolation

from agent.events import Observation
from agent.store import RunStore
from agent.testing import act
from sandbox.base import SandboxConfig
from tools.base import ToolContext
from tools.execute import run_python

CONFIG = SandboxConfig(timeout_s=3, memory_mb=256)


def open_box(backend: str, workspace: Path, config: SandboxConfig = CONFIG):
    if backend == "docker":
        require_docker(config.image)
        from sandbox.docker import DockerSandbox

        return DockerSandbox(workspace, config)
    require_isolation("auto")
    from sandbox.local import LocalSandbox

    return LocalSandbox(workspace, config)


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def backend(request) -> str:
    return request.param


@pytest.fixture
def box(backend: str, workspace: Path) -> Iterator:
    sandbox = open_box(backend, workspace)
    yield sandbox
    sandbox.close()


def test_variables_imports_and_functions_last_from_call_to_call(box) -> None:
    first = box.run_python("import math\nx = 41\ndef double(v):\n    return 2 * v")
    assert first.ok and first.python.started and first.python.kept
    second = box.run_python("print(double(x) + int(math.sqrt(4)) - 2 * 41)")
    assert (second.stdout, second.python.started, second.python.kept) == ("2\n", False, True)


def test_code_runs_as_python_c_would_run_it(box) -> None:
    assert box.run_python("print(__name__)").stdout == "__main__\n"
    failed = box.run_python("x = 1\nraise ValueError('boom')")
    assert failed.exit_code == 1 and failed.stderr.startswith("Traceback") and "ValueError: boom" in failed.stderr
    assert "python_session" not in failed.stderr  # the session's own frames are not shown
    assert box.run_python("import sys; sys.exit(3)").exit_code == 3
    assert box.run_python("import os; os.chdir('/tmp')").ok
    assert box.run_python("import os; print(os.getcwd() != '/tmp')").stdout == "True\n"  # each call starts home
    assert box.run_python("print(x)").stdout == "1\n"  # a failed call keeps what it set before failing


def test_an_infinite_loop_is_interrupted_at_the_time_limit_and_the_state_is_kept(box) -> None:
    box.run_python("kept = 'yes'")
    stopped = box.run_python("while True:\n    pass")
    assert stopped.failure == "timeout" and stopped.python.kept and "KeyboardInterrupt" in stopped.stderr
    assert box.run_python("print(kept)").stdout == "yes\n"


def test_a_loop_that_ignores_the_interrupt_is_killed_and_the_next_call_starts_afresh(box) -> None:
    box.run_python("kept = 'yes'")
    stopped = box.run_python("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(30)")
    assert stopped.failure == "timeout" and not stopped.python.kept and "signal 9" in stopped.python.detail
    after = box.run_python("print(kept)")
    assert after.python.started and "NameError" in after.stderr


def test_memory_and_output_caps_hold_for_each_call(box) -> None:
    box.run_python("kept = 7")
    flooded = box.run_python("while True:\n    print('y' * 10000)")
    assert flooded.failure == "output_limit" and flooded.python.kept
    big = box.run_python("block = bytearray(400 * 1024 * 1024)")
    assert not big.ok and big.failure == "memory"
    assert box.run_python("print(kept)").stdout == "7\n"


def test_processes_a_call_starts_still_die_with_it(box) -> None:
    started = box.run_python("import subprocess\nchild = subprocess.Popen(['sleep', '60'])\nprint(child.pid)")
    pid = started.stdout.strip()
    listing = box.run_python("import os\nprint(sorted(os.listdir('/proc')))")
    assert pid and f"'{pid}'" not in listing.stdout


def test_a_workspace_module_is_imported_afresh_once_its_file_changes(box, workspace: Path) -> None:
    (workspace / "calc.py").write_text("def f():\n    return 1\n")
    assert box.run_python("import calc\nprint(calc.f())").stdout == "1\n"
    (workspace / "calc.py").write_text("def f():\n    return 22\n")
    assert box.run_python("import calc\nprint(calc.f())").stdout == "22\n"


def test_a_new_sandbox_is_a_new_interpreter(backend: str, workspace: Path) -> None:
    with open_box(backend, workspace) as first:
        first.run_python("x = 1")
    with open_box(backend, workspace) as second:
        result = second.run_python("print(x)")
    assert result.python.started and "NameError" in result.stderr


def test_without_a_session_every_call_is_a_fresh_python(backend: str, workspace: Path) -> None:
    with open_box(backend, workspace, CONFIG.model_copy(update={"python_session": False})) as box:
        assert box.run_python("x = 1").python is None
        assert "NameError" in box.run_python("print(x)").stderr


# -- what the model is told ---------------------------------------------------------------------------


def test_the_model_is_told_when_the_state_of_earlier_calls_is_gone(backend: str, workspace: Path) -> None:
    box = open_box(backend, workspace)
    ctx = ToolContext(workspace, lambda: box)
    try:
        assert run_python.invoke(ctx, {"code": "x = 5\nprint(x)"}) == "5"
        with pytest.raises(Exception, match="ended with this call") as ended:
            run_python.invoke(ctx, {"code": "import os\nos._exit(4)"})
        assert "exited with code 4" in str(ended.value)
        with pytest.raises(Exception) as lost:  # told once, not again on the next call
            run_python.invoke(ctx, {"code": "print(x)"})
        assert "new Python interpreter" not in str(lost.value) and "NameError" in str(lost.value)
        interrupted = run_python.invoke(ctx, {"code": "y = 1"})
        assert "interpreter" not in interrupted
    finally:
        ctx.close()


def test_the_prompt_says_state_lasts_and_a_resumed_run_is_told_it_was_lost(make_agent, tmp_path) -> None:
    agent, model = make_agent([act("run_python", code="total = 6 * 7\nprint(total)"),
                               act("run_python", code="print(total + 1)"), act("finish", answer="43")])
    events = list(agent.stream("a goal"))
    model.assert_complete()
    outputs = [e.output for e in events if isinstance(e, Observation)]
    assert outputs[:2] == ["42", "43"]
    assert "keeps its variables" in model.calls[0].messages[0].content
    # a run cut short after its first call, then resumed: a new sandbox, so a new interpreter
    store = RunStore(tmp_path / "runs")
    log = store.load(agent.result.run_id)
    cut = store.create("cut", log.meta)
    for event in log.events[:3]:  # run_started, the first action, its observation
        cut.append(event)
    cut.close()
    resumed, model = make_agent([act("run_python", code="print(total + 1)"), act("finish", answer="?")])
    observation = next(e for e in list(resumed.resume("cut")) if isinstance(e, Observation))
    assert "new Python interpreter (the run was resumed)" in observation.output
    assert "NameError" in observation.output
    model.assert_complete()


def test_nothing_the_code_left_running_runs_between_calls(box, workspace: Path) -> None:
    started = box.run_python(
        "import threading, time\n"
        "def tick():\n"
        "    while True:\n"
        "        with open('ticks.txt', 'a') as f:\n"
        "            f.write('.')\n"
        "        time.sleep(0.01)\n"
        "threading.Thread(target=tick, daemon=True).start()\n"
        "time.sleep(0.2)")
    assert started.ok and started.python.kept
    ticks = workspace / "ticks.txt"
    between = ticks.stat().st_size
    time.sleep(0.5)  # the interpreter is stopped: its thread does not tick
    assert ticks.stat().st_size == between
    assert box.leftover_pids() == set()  # the stopped interpreter is the sandbox's own, not a leftover
    again = box.run_python("import time\ntime.sleep(0.3)\nprint('ok')")
    assert again.stdout == "ok\n" and not again.python.started
    assert ticks.stat().st_size > between  # it ran again during the call
