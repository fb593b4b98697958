"""What a shipped ``refactor`` label calls behaviour-preserving is: record 20 applies the sliding window
by truncating record 19's document-causal kv-block lists (ordered most recent first) instead of
masking the dense block grid, and for every window of at least one block the two give the same
blocks, full and partial alike (replay/importer/labels/nanogpt/r20/labels.toml).

Both constructions are written here from the records' formulas on random document layouts, so the
check needs no checkout of the speedrun and no GPU.
"""

from __future__ import annotations

import torch

BLOCK = 8  # tokens per attention block (the speedrun's 128, smaller for speed)


def _document_blocks(docs: torch.Tensor, n: int):
    """Record 19's and 20's causal and document block grids: (any visible, wholly visible)."""
    q, kv = torch.arange(n)[:, None], torch.arange(n)
    low, high = docs.view(-1, BLOCK)[:, 0], docs.view(-1, BLOCK)[:, -1]
    document = (low[:, None] <= high) & (low <= high[:, None])
    whole_document = (low[:, None] == high) & (low == high[:, None])
    return (q >= kv) & document, (q > kv) & whole_document, q - kv


def dense_window(docs: torch.Tensor, n: int, window: int):
    """Record 19: the window masks the dense grid; (partial blocks, full blocks)."""
    visible, whole, distance = _document_blocks(docs, n)
    in_window = distance < window
    full = whole & in_window
    return visible & in_window & ~full, full


def truncated_lists(docs: torch.Tensor, n: int, window: int):
    """Record 20: each query block's kv-block lists, most recent first, cut to the window (full
    blocks to window - 1, partial ones to what is left of it, at least one)."""
    visible, full, _ = _document_blocks(docs, n)

    def ordered(dense):
        order = dense.to(torch.int8).argsort(dim=-1, descending=False, stable=True).flip(-1)
        return dense.sum(-1), order

    partial_count, partial_order = ordered(visible & ~full)
    full_count, full_order = ordered(full)
    keep_partial = torch.clamp_max(partial_count, torch.clamp_min(window - full_count, 1))
    keep_full = torch.clamp_max(full_count, window - 1)

    def first(order, keep):  # each row's first ``keep`` blocks of its list, back on the grid
        kept = torch.arange(n)[None, :] < keep[:, None]
        return torch.zeros(n, n, dtype=torch.bool).scatter(1, order, kept)

    return first(partial_order, keep_partial), first(full_order, keep_full)


def test_record_20s_truncated_lists_give_record_19s_dense_window():
    generator = torch.Generator().manual_seed(20)
    for _ in range(3000):
        n = int(torch.randint(2, 32, (), generator=generator))
        boundary_rate = float(torch.rand((), generator=generator)) * 0.3
        starts = torch.rand(n * BLOCK, generator=generator) < boundary_rate
        starts[0] = False
        docs = starts.cumsum(0)
        window = int(torch.randint(1, n + 2, (), generator=generator))
        dense, truncated = dense_window(docs, n, window), truncated_lists(docs, n, window)
        assert torch.equal(dense[0], truncated[0]) and torch.equal(dense[1], truncated[1]), (n, window)


def test_the_check_tells_a_different_window_apart():
    docs = torch.zeros(16 * BLOCK, dtype=torch.long)
    assert not torch.equal(dense_window(docs, 16, 4)[1], truncated_lists(docs, 16, 3)[1])
