"""Helpers shared by the sandbox test modules."""

from __future__ import annotations

import pytest
from conftest import in_ci

from sandbox import isolation
from sandbox.base import IsolationName


def require_isolation(name: IsolationName) -> None:
    """Skip unless `name` (bwrap, unshare, auto) makes namespaces here; in CI (CI=true), which installs both,
    fail instead."""
    if isolation.choose(name) is not None:
        return
    reason = f"{name}: Linux namespaces are not available (apt-get install -y bubblewrap util-linux)"
    if in_ci():
        pytest.fail(reason)
    pytest.skip(reason)
