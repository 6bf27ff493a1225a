#!/usr/bin/env bash
# Make a Docker engine and the sandbox image available (idempotent; safe to run again).
#   - installs docker.io, debootstrap, bubblewrap, acl (setfacl: how a root-owned workspace is given to
#     the sandbox's unprivileged uid) and libseccomp2 (the local sandbox's seccomp filter) when missing
#     (Debian/Ubuntu, as root)
#   - starts dockerd in the background when no engine answers (log: $DOCKERD_LOG)
#   - waits up to $DOCKER_WAIT_S seconds for `docker info`
#   - builds the sandbox image with `python -m sandbox.image` (skipped when the tag exists)
# Env: PYTHON (default .venv/bin/python or python3), SANDBOX_IMAGE, DOCKERD_LOG, DOCKER_WAIT_S.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
DOCKERD_LOG="${DOCKERD_LOG:-/tmp/dockerd.log}"
DOCKER_WAIT_S="${DOCKER_WAIT_S:-60}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v setfacl >/dev/null || missing+=(acl)
ldconfig -p | grep -q libseccomp.so.2 || missing+=(libseccomp2)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    # A dockerd killed earlier (a session's end, a crash) can leave pid files that stop a new one.
    for pidfile in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
        if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then $SUDO rm -f "$pidfile"; fi
    done
    echo "starting dockerd (log: $DOCKERD_LOG)"
    $SUDO sh -c "nohup dockerd >'$DOCKERD_LOG' 2>&1 &"
    for _ in $(seq "$DOCKER_WAIT_S"); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
        echo "dockerd did not answer within ${DOCKER_WAIT_S}s; last lines of $DOCKERD_LOG:" >&2
        tail -n 20 "$DOCKERD_LOG" >&2 || true
        exit 1
    fi
fi
echo "docker engine: $(docker info --format '{{.ServerVersion}}')"

image_args=()
[ -n "${SANDBOX_IMAGE:-}" ] && image_args=(--tag "$SANDBOX_IMAGE")
"$PYTHON" -m sandbox.image "${image_args[@]}"
