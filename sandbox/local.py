"""Local backend: a subprocess in its own session with rlimits, a scrubbed environment and a timeout."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from pathlib import Path

from sandbox.base import ExecResult, SandboxConfig, truncate_output


def _limits_setter(config: SandboxConfig):
    def apply_limits() -> None:
        mb = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_CPU, (config.cpu_seconds, config.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_AS, (config.memory_mb * mb, config.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_FSIZE, (config.file_size_mb * mb, config.file_size_mb * mb))
        resource.setrlimit(resource.RLIMIT_NOFILE, (config.open_files, config.open_files))

    return apply_limits


class LocalSandbox:
    backend = "local"

    def __init__(self, workspace: Path, config: SandboxConfig | None = None) -> None:
        self.workspace = Path(workspace).resolve()
        self.config = config or SandboxConfig()

    def exec(self, command: list[str], *, timeout_s: float | None = None) -> ExecResult:
        timeout = timeout_s or self.config.timeout_s
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(self.workspace), "LANG": "C.UTF-8",
               "PYTHONDONTWRITEBYTECODE": "1"}
        started = time.monotonic()
        proc = subprocess.Popen(
            command, cwd=self.workspace, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=_limits_setter(self.config),
        )
        timed_out = False
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        stdout, cut_out = truncate_output(out, self.config.output_bytes)
        stderr, cut_err = truncate_output(err, self.config.output_bytes)
        return ExecResult(
            exit_code=proc.returncode, stdout=stdout, stderr=stderr, timed_out=timed_out,
            truncated=cut_out or cut_err, duration_s=round(time.monotonic() - started, 4), backend=self.backend,
            failure="timeout" if timed_out else None,
        )

    def close(self) -> None:
        return None

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
