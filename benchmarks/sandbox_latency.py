"""Per-call latency of the sandbox backends, median of N calls, side by side.

    .venv/bin/python benchmarks/sandbox_latency.py [-n 30] [--command 'python3 -c pass'] [--json]

Columns: local (a fresh bubblewrap sandbox per call); docker warm (the run's container, reused, calls through
its warm executor: the default); docker exec (the same container, one `docker exec` per call, the fallback);
docker fresh (create + call + remove a container per call: what `autogpt sandbox exec` pays). Targets on our
2-core machines: docker warm < 150 ms, local < 50 ms.
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


def time_calls(call: Callable[[], object], n: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def measure(command: list[str], n: int, n_fresh: int, workspace: Path) -> dict[str, list[float] | str]:
    config = SandboxConfig()
    results: dict[str, list[float] | str] = {}

    def checked(box: LocalSandbox | DockerSandbox) -> Callable[[], object]:
        def call() -> object:
            result = box.exec(command)
            if not result.ok:
                raise RuntimeError(f"{box.backend}: {command} failed: {result}")
            return result
        return call

    try:
        with LocalSandbox(workspace, config) as local:
            results["local"] = time_calls(checked(local), n)
    except SandboxUnavailable as exc:
        results["local"] = f"unavailable: {exc}"
    try:
        with DockerSandbox(workspace, config) as warm:
            results["docker warm"] = time_calls(checked(warm), n)
        with DockerSandbox(workspace, config.model_copy(update={"warm_exec": False})) as cold:
            results["docker exec"] = time_calls(checked(cold), n)

        def fresh_call() -> None:
            with DockerSandbox(workspace, config) as fresh:
                checked(fresh)()
        results["docker fresh"] = time_calls(fresh_call, n_fresh, warmup=1)
    except SandboxUnavailable as exc:
        results["docker warm"] = results["docker exec"] = results["docker fresh"] = f"unavailable: {exc}"
    return results


def summary(samples: list[float] | str) -> dict[str, float] | str:
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
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        raw = measure(shlex.split(args.command), args.n, args.fresh, Path(tmp))
    table = {name: summary(samples) for name, samples in raw.items()}
    if args.json:
        print(json.dumps({"command": args.command, "load_avg_1m": os.getloadavg()[0], "results": table}))
        return 0
    load = os.getloadavg()[0]
    print(f"command: {args.command!r}   load average (1 min): {load:.2f}   cores: {os.cpu_count()}")
    print(f"{'backend':<14}{'median ms':>11}{'p90 ms':>9}{'min ms':>9}{'n':>5}   target")
    for name, row in table.items():
        if isinstance(row, str):
            print(f"{name:<14}{row}")
            continue
        target = TARGETS_MS.get(name)
        met = target is not None and row["median_ms"] < target
        verdict = "" if target is None else f"< {target:.0f} ms: {'met' if met else 'MISSED'}"
        cells = f"{row['median_ms']:>11}{row['p90_ms']:>9}{row['min_ms']:>9}{row['n']:>5}"
        print(f"{name:<14}{cells}   {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
