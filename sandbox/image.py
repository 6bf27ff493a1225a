"""Build the image the Docker backend runs code in: `python -m sandbox.image [--tag T] [--force]`.

Where a registry answers, a slim Python image is pulled and re-tagged. Offline (our machines and CI) a
Debian bookworm root filesystem is made with debootstrap and imported with `docker import`. Both images run
code as uid 65534 ("nobody", present in every Debian base); the build is skipped when the tag exists.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sandbox.base import SandboxConfig, SandboxUnavailable

if TYPE_CHECKING:
    import docker

PULL_REFERENCE = "python:3.11-slim"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# python3 (not only python3-minimal) so json, socket, subprocess and the rest of the stdlib are there.
DEBOOTSTRAP_PACKAGES = "python3"
IMAGE_CHANGES = [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "WORKDIR /workspace",
    'CMD ["/bin/sh"]',
]
BuildHow = Literal["cached", "pulled", "debootstrap"]


def docker_client(timeout_s: float = 10.0) -> docker.DockerClient:
    """A client for the local engine, or SandboxUnavailable with what to do."""
    import docker

    try:
        client = docker.from_env(timeout=int(timeout_s))
        client.ping()
    except Exception as exc:  # the SDK raises several unrelated types for "no daemon"
        raise SandboxUnavailable(
            f"no Docker engine answers ({exc.__class__.__name__}): start dockerd (see .ci/docker-engine.sh) "
            "or use the local sandbox (--sandbox local)"
        ) from exc
    return client


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    import docker

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def registry_reachable(host: str = "registry-1.docker.io", port: int = 443, timeout_s: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def build_image(tag: str = SandboxConfig().image, *, force: bool = False, pull: bool = True,
                log: Callable[[str], None] = print) -> BuildHow:
    """Make `tag` exist; returns how. Pull when a registry answers, else debootstrap + import."""
    client = docker_client()
    if not force and image_exists(client, tag):
        log(f"{tag}: present, nothing to build")
        return "cached"
    if pull and registry_reachable():
        try:
            log(f"pulling {PULL_REFERENCE} ...")
            image = client.images.pull(PULL_REFERENCE)
            repository, _, version = tag.rpartition(":") if ":" in tag else (tag, "", "latest")
            image.tag(repository, version)
            log(f"{tag}: tagged from {PULL_REFERENCE}")
            return "pulled"
        except Exception as exc:  # an unreachable or refusing registry: fall through to the offline build
            log(f"pull failed ({exc}); building offline with debootstrap")
    _debootstrap_import(tag, log)
    return "debootstrap"


def _debootstrap_import(tag: str, log: Callable[[str], None]) -> None:
    if shutil.which("debootstrap") is None:
        raise SandboxUnavailable("debootstrap is not installed: apt-get install -y debootstrap")
    with tempfile.TemporaryDirectory(prefix="autogpt-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        log(f"debootstrap {DEBIAN_SUITE} (minbase + {DEBOOTSTRAP_PACKAGES}) ...")
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={DEBOOTSTRAP_PACKAGES}", DEBIAN_SUITE,
             str(rootfs), DEBIAN_MIRROR],
            check=True, stdout=subprocess.DEVNULL,
        )
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(rootfs / junk, ignore_errors=True)
        (rootfs / "workspace").mkdir(exist_ok=True)
        changes = [arg for change in IMAGE_CHANGES for arg in ("--change", change)]
        log(f"docker import -> {tag}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", *changes, "-", tag], stdin=tar.stdout,
                                  capture_output=True, text=True)
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise RuntimeError(f"docker import failed: {imported.stderr.strip()}")
    log(f"{tag}: built")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.image", description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default=SandboxConfig().image)
    parser.add_argument("--force", action="store_true", help="rebuild even when the tag exists")
    parser.add_argument("--no-pull", action="store_true", help="skip the registry, build with debootstrap")
    args = parser.parse_args(argv)
    build_image(args.tag, force=args.force, pull=not args.no_pull)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
