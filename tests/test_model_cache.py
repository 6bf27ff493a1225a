"""The de-quantized model cache is keyed by the GGUF's content: a reinstall or a copy reuses it."""

from __future__ import annotations

import os
from pathlib import Path

from agent.llm.loading import FINGERPRINT_BYTES, ModelSource


def gguf(directory: Path, content: bytes) -> ModelSource:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "m.gguf").write_bytes(content)
    return ModelSource("m", directory, "m.gguf")


def test_a_copy_elsewhere_with_another_mtime_has_the_same_key(tmp_path: Path) -> None:
    content = os.urandom(3 * FINGERPRINT_BYTES + 123)
    first, copy = gguf(tmp_path / "venv1", content), gguf(tmp_path / "venv2", content)
    os.utime(copy.directory / "m.gguf", (1, 1))
    assert first.cache_key() == copy.cache_key() and first.cache_key().startswith("m-")


def test_other_content_has_another_key(tmp_path: Path) -> None:
    content = bytearray(os.urandom(3 * FINGERPRINT_BYTES))
    keys = {gguf(tmp_path / "a", bytes(content)).cache_key()}
    for where in (0, len(content) - 1):  # the header, and the last tensor's data
        changed = bytearray(content)
        changed[where] ^= 0xFF
        keys.add(gguf(tmp_path / f"at{where}", bytes(changed)).cache_key())
    keys.add(gguf(tmp_path / "longer", bytes(content) + b"\0").cache_key())
    keys.add(gguf(tmp_path / "small", b"GGUF tiny").cache_key())
    assert len(keys) == 5


def test_a_checkpoint_directory_has_no_cache_key(tmp_path: Path) -> None:
    assert ModelSource("m", tmp_path).cache_key() == ""
