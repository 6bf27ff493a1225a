"""Base vs tuned on held-out suites, through the real `autogpt bench`: one bench per suite and arm, one table.

An arm is a name and the `autogpt bench` options that make it, e.g. `base` = `--model base` and `tuned` =
`--model default`, or `mine` = `--model default --adapter DIR`. Every bench runs as its own process (and
starts one `autogpt run` process per task, as bench does), so the arms share nothing but the machine; they
run one after the other, each suite's arms back to back, so that a busy spell of the machine falls on both.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from agent.bench import PROJECT_ROOT, BenchReport


class EvaluationError(RuntimeError):
    """A bench that could not run (bad options, a missing model); the message says which and why."""


@dataclass(frozen=True)
class Arm:
    name: str
    bench_args: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Arm:
        """`NAME=OPTIONS`, e.g. `tuned=--model default --adapter out/adapter`."""
        name, sep, options = text.partition("=")
        name = name.strip()
        if not sep or not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"arm {text!r}: write NAME=BENCH_OPTIONS, e.g. base='--model base'")
        return cls(name, tuple(shlex.split(options)))


DEFAULT_ARMS = (Arm("default", ("--model", "default")),)


@dataclass(frozen=True)
class EvalSettings:
    suites: tuple[Path, ...]
    arms: tuple[Arm, ...] = DEFAULT_ARMS
    out_dir: Path = Path("tune-eval")
    workers: int = 1
    only: str = ""
    limit: int = 0
    bench_args: tuple[str, ...] = ()  # for every arm, e.g. ("--sandbox", "local")
    side_by_side: bool = False  # a suite's arms run at the same time (so they share the machine's load alike)


@dataclass(frozen=True)
class Row:
    suite: str
    arm: str
    tasks: int
    passed: int
    pass_rate: float
    median_steps: float
    median_seconds: float
    crashed: int
    timed_out: int
    complete: bool
    report: str  # the bench's JSON report


@dataclass
class Evaluation:
    settings: EvalSettings
    started: str
    rows: list[Row] = field(default_factory=list)
    wall_seconds: float = 0.0

    def flips(self, suite: str, first: str, second: str) -> dict[str, list[str]]:
        """Task ids that pass under one arm and not the other."""
        a, b = (_passes(self._row(suite, arm)) for arm in (first, second))
        return {f"{first} only": sorted(a - b), f"{second} only": sorted(b - a)}

    def _row(self, suite: str, arm: str) -> Row:
        return next(r for r in self.rows if r.suite == suite and r.arm == arm)

    def to_json(self) -> dict:
        s = self.settings
        arms = [a.name for a in s.arms]
        flips = {suite: self.flips(suite, arms[0], arm) for suite in map(str, s.suites) for arm in arms[1:]
                 if all(any(r.suite == suite and r.arm == x for r in self.rows) for x in (arms[0], arm))}
        return {"started": self.started, "wall_seconds": round(self.wall_seconds, 1),
                "suites": [str(p) for p in s.suites], "arms": [{"name": a.name, "bench_args": list(a.bench_args)}
                                                               for a in s.arms],
                "rows": [asdict(r) for r in self.rows], "flips": flips}


def _passes(row: Row) -> set[str]:
    report = BenchReport.model_validate_json(Path(row.report).read_text(encoding="utf-8"))
    return {t.id for t in report.tasks if t.passed}


def bench_command(suite: Path, arm: Arm, report: Path, settings: EvalSettings) -> list[str]:
    # the bench runs in the project's root: paths given relative to the caller's folder are made absolute
    command = [sys.executable, "-m", "agent.cli", "bench", str(suite.resolve()), "--out", str(report.resolve()),
               "--workers", str(settings.workers), *settings.bench_args, *arm.bench_args]
    command += ["--only", settings.only] if settings.only else []
    command += ["--limit", str(settings.limit)] if settings.limit else []
    return command


RunBench = Callable[[list[str], Path], int]  # command, log file -> exit code


def run_bench_process(command: list[str], log: Path) -> int:
    """The real bench, its output kept in `log` (the table and totals at its end)."""
    with log.open("w", encoding="utf-8") as out:
        return subprocess.run(command, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "160"}).returncode


def evaluate(settings: EvalSettings, on_row: Callable[[Row], None] | None = None,
             run_bench: RunBench = run_bench_process) -> Evaluation:
    """Every suite under every arm; each suite's arms back to back, or at the same time (`side_by_side`)."""
    started = datetime.now(UTC)
    evaluation = Evaluation(settings, started.isoformat(timespec="seconds"))
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    for suite in settings.suites:
        stems = [f"{suite.stem}-{arm.name}" for arm in settings.arms]
        jobs = [(bench_command(suite, arm, settings.out_dir / f"{stem}.json", settings), settings.out_dir /
                 f"{stem}.log") for arm, stem in zip(settings.arms, stems, strict=True)]
        for command, _ in jobs:
            Path(command[command.index("--out") + 1]).unlink(missing_ok=True)
        with ThreadPoolExecutor(max_workers=len(jobs) if settings.side_by_side else 1) as pool:
            codes = list(pool.map(lambda job: run_bench(*job), jobs))
        for arm, stem, code in zip(settings.arms, stems, codes, strict=True):
            report, log = settings.out_dir / f"{stem}.json", settings.out_dir / f"{stem}.log"
            if code not in (0, 130) or not report.is_file():
                raise EvaluationError(f"arm {arm.name} on {suite}: `autogpt bench` exited {code}: {_tail(log)}")
            row = _row(str(suite), arm.name, report)
            evaluation.rows.append(row)
            if on_row is not None:
                on_row(row)
        if 130 in codes:
            raise KeyboardInterrupt
    evaluation.wall_seconds = (datetime.now(UTC) - started).total_seconds()
    return evaluation


def _tail(log: Path) -> str:
    """The end of a bench's output as one line, without the boxes its error messages are drawn in."""
    text = log.read_text(encoding="utf-8", errors="replace")
    return " ".join(text.translate({ord(c): " " for c in "╭╮╰╯─│"}).split())[-400:]


def _row(suite: str, arm: str, report_path: Path) -> Row:
    report = BenchReport.model_validate_json(report_path.read_text(encoding="utf-8"))
    t = report.totals
    return Row(suite, arm, t.tasks, t.passed, t.pass_rate, t.median_steps, t.median_seconds, t.crashed,
               t.timed_out, report.complete, str(report_path))


def write_evaluation(evaluation: Evaluation, path: Path) -> None:
    path.write_text(json.dumps(evaluation.to_json(), indent=2) + "\n", encoding="utf-8")
