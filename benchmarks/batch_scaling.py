"""A task suite on one machine, side by side in one run: `autogpt bench --workers N` (one `autogpt run`
process per task, each loading the model) vs `--ray` (N Ray actors on a local instance, each loading the
model once): wall time, median seconds per task, model loads, peak memory, pass rate.

    .venv/bin/python benchmarks/batch_scaling.py [--suite examples/suites/core.jsonl] [--workers 2]
        [--limit N] [--modes processes,ray] [--sandbox auto] [--out results.json]

It prints a table, then one JSON line: the date, the command, each mode's figures and Ray's over the
processes' (`ratios`). Progress goes to stderr.

Peak memory is the largest sum, over the benchmark process and everything it started (the `autogpt run`
processes and their sandboxes; Ray's processes and actors), of each process's PSS (its private memory plus
its share of pages it shares, such as the memory-mapped weights), sampled twice a second.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import psutil

from agent.bench import Bench, BenchSettings, TaskResult, load_suite, pool_run_task, totals
from agent.cli.bench import actor_run_config
from agent.cli.options import action_format_for
from agent.scale.executor import WorkerOptions
from agent.scale.runner import GoalRunner
from agent.store import RunStore
from sandbox.base import SandboxKind

ROOT = Path(__file__).resolve().parent.parent


class PeakMemory:
    """Samples the PSS of this process tree in a thread; `peak_mib` is the largest sum seen."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s, self.peak_mib = every_s, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(self.every_s):
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
            self.peak_mib = max(self.peak_mib, total / 2**20)


@dataclass(frozen=True)
class ModeResult:
    mode: str
    workers: int
    tasks: int
    passed: int
    wall_s: float
    startup_s: float  # before the first task could start: Ray and the actors' model loads
    median_task_s: float
    model_loads: int
    peak_pss_mib: float
    crashed: int
    load_average: tuple[float, float]  # the machine's 1-minute load average when the mode started and ended
    per_task: list[dict]  # id, passed, status, steps, seconds, tokens out


def run_processes(tasks: list, settings: BenchSettings, workers: int) -> tuple[list[TaskResult], int, float]:
    results = Bench(settings, workers=workers).run(tasks)
    return results, len(tasks), 0.0  # each task is one `autogpt run` process, and each loads the model


def run_ray(tasks: list, settings: BenchSettings, workers: int) -> tuple[list[TaskResult], int, float]:
    from agent.scale.ray_pool import RaySettings, open_ray_pool

    started = time.monotonic()
    pool = open_ray_pool(workers, WorkerOptions(settings.model), RaySettings(worker_cpus=1))
    startup = time.monotonic() - started
    try:
        runner = GoalRunner(pool, RunStore(settings.runs_dir))
        # what `autogpt run` does without options, as in the processes mode
        base = actor_run_config(settings.sandbox, False, ([], None), action_format_for(None, settings.model), True,
                                None)
        results = Bench(settings, run_task=pool_run_task(runner.run, base), workers=workers).run(tasks)
        return results, pool.loads, startup
    finally:
        pool.close()


MODES = {"processes": run_processes, "ray": run_ray}


def measure(mode: str, tasks: list, settings: BenchSettings, workers: int) -> ModeResult:
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    with PeakMemory() as memory:
        results, loads, startup = MODES[mode](tasks, settings, workers)
    wall = time.monotonic() - started
    t = totals(results)
    return ModeResult(mode, workers, t.tasks, t.passed, round(wall, 1), round(startup, 1),
                      round(statistics.median(r.seconds for r in results), 2), loads, round(memory.peak_mib),
                      t.crashed, (round(load_before, 1), round(os.getloadavg()[0], 1)),
                      [{"id": r.id, "passed": r.passed, "status": r.status, "steps": r.steps, "seconds": r.seconds,
                        "tokens_out": r.tokens_out} for r in results])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=ROOT / "examples" / "suites" / "core.jsonl")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="the first N tasks only (0: all)")
    parser.add_argument("--modes", default="processes,ray")
    parser.add_argument("--sandbox", default="auto", choices=[k.value for k in SandboxKind])
    parser.add_argument("--runs-dir", type=Path, default=Path("/tmp/batch-scaling-runs"))
    parser.add_argument("--out", type=Path, default=None, help="write the figures, per task too, here as JSON")
    args = parser.parse_args()
    tasks = load_suite(args.suite)
    tasks = tasks[:args.limit] if args.limit else tasks
    settings = BenchSettings(sandbox=SandboxKind(args.sandbox), runs_dir=args.runs_dir.resolve())
    rows = []
    for mode in args.modes.split(","):
        print(f"{mode}: {len(tasks)} tasks, {args.workers} workers ...", file=sys.stderr, flush=True)
        rows.append(measure(mode, tasks, settings, args.workers))
    print_table(rows)
    summary = {"date": date.today().isoformat(), "command": " ".join(["benchmarks/batch_scaling.py", *sys.argv[1:]]),
               "suite": str(args.suite), "modes": [{k: v for k, v in asdict(r).items() if k != "per_task"}
                                                   for r in rows], "ratios": ratios(rows)}
    if args.out is not None:
        args.out.write_text(json.dumps({**summary, "modes": [asdict(r) for r in rows]}, indent=2) + "\n")
    print(json.dumps(summary), flush=True)


def print_table(rows: list[ModeResult]) -> None:
    print(f"{'mode':<10} {'passed':>7} {'wall s':>8} {'startup s':>10} {'median s/task':>14} "
          f"{'model loads':>12} {'peak PSS MiB':>13} {'crashed':>8}")
    for r in rows:
        print(f"{r.mode:<10} {f'{r.passed}/{r.tasks}':>7} {r.wall_s:>8} {r.startup_s:>10} {r.median_task_s:>14} "
              f"{r.model_loads:>12} {r.peak_pss_mib:>13} {r.crashed:>8}")


def ratios(rows: list[ModeResult]) -> dict[str, float]:
    """Ray's figures over the processes' (below 1: Ray took less), when both modes ran."""
    by_mode = {r.mode: r for r in rows}
    if not {"processes", "ray"} <= by_mode.keys():
        return {}
    ray, processes = by_mode["ray"], by_mode["processes"]
    pairs = {"wall": (ray.wall_s, processes.wall_s), "median_task": (ray.median_task_s, processes.median_task_s),
             "peak_pss": (ray.peak_pss_mib, processes.peak_pss_mib)}
    return {name: round(a / b, 2) for name, (a, b) in pairs.items() if b}


if __name__ == "__main__":
    main()
