"""Per-call latency of the sandbox backends, median of N calls, side by side.

    .venv/bin/python benchmarks/sandbox_latency.py [-n 30] [--fresh 8] [--command 'python3 -c pass'] [--json]
                                                   [--no-docker]

Columns: local (the run's namespace sandbox, reused, calls through its warm executor: the default; bubblewrap);
local fresh (a fresh bubblewrap sandbox per call); local unshare / local unshare fresh (the same where
bubblewrap is missing); docker warm (the run's container, reused, calls through its warm executor: the default);
docker exec (the same container, one `docker exec` per call, the fallback); docker fresh (create + call + remove
a container per call: what `autogpt sandbox exec` pays). The local backends are measured round-robin, one call
each in turn, so that a change in the machine's load hits them alike. Targets on our 2-core machines: docker
warm < 150 ms, local < 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sandbox.base import SandboxConfig, SandboxUnavailable
from sandbox.docker import DockerSandbox
from sandbox.local import LocalSandbox

TARGETS_MS = {"local": 50.0, "docker warm": 150.0}
LOCAL = {  # column: (isolation, warm executor)
    "local": ("bwrap", True), "local fresh": ("bwrap", False),
    "local unshare": ("unshare", True), "local unshare fresh": ("unshare", False),
}
Samples = list[float] | str  # milliseconds, or why the column is empty


def checked(box: LocalSandbox | DockerSandbox, command: list[str]) -> Callable[[], object]:
    def call() -> object:
        result = box.exec(command)
        if not result.ok:
            raise RuntimeError(f"{box.backend}: {command} failed: {result}")
        return result
    return call


def time_calls(call: Callable[[], object], n: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def measure_local(command: list[str], n: int, workspace: Path) -> dict[str, Samples]:
    """Every local column, round-robin: call i of each column runs before call i + 1 of any."""
    boxes: dict[str, LocalSandbox] = {}
    results: dict[str, Samples] = {}
    for name, (isolation, warm) in LOCAL.items():
        try:
            config = SandboxConfig(local_isolation=isolation, warm_exec=warm)  # type: ignore[arg-type]
            boxes[name] = LocalSandbox(workspace, config)
        except SandboxUnavailable as exc:
            results[name] = f"unavailable: {exc}"
    try:
        calls = {name: checked(box, command) for name, box in boxes.items()}
        for call in calls.values():
            time_calls(call, 0, warmup=2)
        samples: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(n):
            for name, call in calls.items():
                samples[name] += time_calls(call, 1, warmup=0)
        results.update(samples)
    finally:
        for box in boxes.values():
            box.close()
    return {name: results[name] for name in LOCAL}


def measure_docker(command: list[str], n: int, n_fresh: int, workspace: Path) -> dict[str, Samples]:
    config = SandboxConfig()
    results: dict[str, Samples] = {}
    try:
        with DockerSandbox(workspace, config) as warm:
            results["docker warm"] = time_calls(checked(warm, command), n)
        with DockerSandbox(workspace, config.model_copy(update={"warm_exec": False})) as cold:
            results["docker exec"] = time_calls(checked(cold, command), n)

        def fresh_call() -> None:
            with DockerSandbox(workspace, config) as fresh:
                checked(fresh, command)()
        results["docker fresh"] = time_calls(fresh_call, n_fresh, warmup=1)
    except SandboxUnavailable as exc:
        results["docker warm"] = results["docker exec"] = results["docker fresh"] = f"unavailable: {exc}"
    return results


def summary(samples: Samples) -> dict[str, float] | str:
    if isinstance(samples, str):
        return samples
    ordered = sorted(samples)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return {"median_ms": round(statistics.median(ordered), 1), "p90_ms": round(p90, 1),
            "min_ms": round(ordered[0], 1), "n": len(ordered)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="calls per warm backend")
    parser.add_argument("--fresh", type=int, default=8, help="calls for docker fresh (a container each)")
    parser.add_argument("--command", default="python3 -c pass", help="the command each call runs")
    parser.add_argument("--no-docker", action="store_true", help="measure the local backend only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    command = shlex.split(args.command)
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        raw = measure_local(command, args.n, Path(tmp))
        if not args.no_docker:
            raw |= measure_docker(command, args.n, args.fresh, Path(tmp))
    table = {name: summary(samples) for name, samples in raw.items()}
    load = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"command": args.command, "load_avg_1m": load, "results": table}))
        return 0
    print(f"command: {args.command!r}   load average (1 min): {load:.2f}   cores: {os.cpu_count()}")
    print(f"{'backend':<21}{'median ms':>10}{'p90 ms':>9}{'min ms':>9}{'n':>5}   target")
    for name, row in table.items():
        if isinstance(row, str):
            print(f"{name:<21}{row}")
            continue
        target = TARGETS_MS.get(name)
        met = target is not None and row["median_ms"] < target
        verdict = "" if target is None else f"< {target:.0f} ms: {'met' if met else 'MISSED'}"
        cells = f"{row['median_ms']:>10}{row['p90_ms']:>9}{row['min_ms']:>9}{row['n']:>5}"
        print(f"{name:<21}{cells}   {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
