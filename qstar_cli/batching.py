"""Length batching and padding: the one helper behind the QVM's and the PRM's scoring, the
transformers policy and QVM training; and batches pipelined into a streaming engine (`pipelined`).

Sequences are batched shortest first (similar lengths share a batch, so little is padding) and
padded to the batch's longest. Scoring pads on the right: real tokens keep positions 0..n-1, a
causal model never attends to the pads after them, and a sequence-classification head finds the
last real token from the first pad. Generation pads on the left, so every row ends where its new
tokens begin.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence


def by_length(seqs: Sequence[Sequence], batch_size: int, indices: Sequence[int] | None = None) -> Iterator[list[int]]:
    """Indices into `seqs` (all, or only `indices`) in batches of `batch_size`, shortest first."""
    order = sorted(range(len(seqs)) if indices is None else indices, key=lambda i: len(seqs[i]))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def padded(seqs: Sequence[list[int]], pad: int, left: bool = False) -> tuple[list[list[int]], list[list[int]]]:
    """(ids, attention mask) of `seqs` padded with `pad` to the longest: on the right, or the left."""
    width = max(len(s) for s in seqs)
    if left:
        return (
            [[pad] * (width - len(s)) + list(s) for s in seqs],
            [[0] * (width - len(s)) + [1] * len(s) for s in seqs],
        )
    return ([list(s) + [pad] * (width - len(s)) for s in seqs], [[1] * len(s) + [0] * (width - len(s)) for s in seqs])


def pipelined(
    batches: Iterable, submit: Callable[[object], list[Hashable]], collect: Callable[[], dict]
) -> Iterator[list]:
    """Each batch's results, in its order, batch by batch: `submit(batch)` sends a batch's requests
    and returns their tickets, `collect()` returns {ticket: result} of the requests finished since.
    The next batch is submitted before this one is waited for, so a streaming engine never drains
    to one batch's longest sequence between batches."""
    done: dict = {}

    def wait(tickets: list) -> list:
        while any(t not in done for t in tickets):
            done.update(collect())
        return [done.pop(t) for t in tickets]

    pending = None
    for batch in batches:
        tickets = submit(batch)
        if pending is not None:
            yield wait(pending)
        pending = tickets
    if pending is not None:
        yield wait(pending)
