"""One training step's loss with the batch's common prefix run once, not once a row.

Every training conversation starts with the same system prompt (the tools, the rules): about 560 of a
typical example's 700 tokens. A batch's rows share that prefix token for token, and nothing is trained on
it, so the step runs the prefix once (a batch of one, keeping its keys and values), shows every row the same
keys and values (a broadcast view: the backward pass adds the rows' gradients into the one prefix), and runs
only the rows' own tokens on top. The loss and its gradients are those of the plain forward pass over the
padded batch, to float rounding (tests/test_tune_model.py); the step does about a third of the work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.tune.encoding import IGNORED

MIN_SHARED = 32  # a shorter common prefix is not worth a second forward call


def shared_prefix_length(rows: Sequence[Sequence[int]], labels: Sequence[Sequence[int]]) -> int:
    """How many leading tokens every row has in common and none trains on (0: not worth sharing)."""
    if len(rows) < 2:
        return 0
    first, limit = rows[0], min(len(r) for r in rows) - 1  # each row keeps a token of its own
    length = 0
    while length < limit and all(r[length] == first[length] for r in rows[1:]):
        length += 1
    trained_from = min(next((i for i, t in enumerate(row) if t != IGNORED), len(row)) for row in labels)
    length = min(length, trained_from)
    return length if length >= MIN_SHARED else 0


def shared_prefix_loss(model: Any, ids: Any, labels: Any, mask: Any, shared: int) -> Any:
    """The mean token loss over `labels` ([B, T], IGNORED where nothing is trained), with ids[:, :shared]
    (the same in every row, right-padded batch) run once."""
    import torch
    from transformers import DynamicCache

    rows = ids.shape[0]
    prefix = model(input_ids=ids[:1, :shared], use_cache=True, logits_to_keep=1)
    cache = DynamicCache()
    for index, layer in enumerate(prefix.cache.layers):
        cache.update(layer.keys.expand(rows, -1, -1, -1), layer.values.expand(rows, -1, -1, -1), index)
    positions = torch.arange(shared, ids.shape[1], device=ids.device).unsqueeze(0).expand(rows, -1)
    rest = model(input_ids=ids[:, shared:], attention_mask=mask, cache=cache, position_ids=positions)
    # the logit at position t predicts token t + 1: the prefix's last logit predicts the first own token
    logits = torch.cat([prefix.logits[:, -1:].expand(rows, -1, -1), rest.logits[:, :-1]], dim=1)
    targets = labels[:, shared:]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                                             ignore_index=IGNORED)
