"""Every random stream of a run (start noise, the sliced-Wasserstein directions of each style
image, layer and step) comes from the run's seed through one function, so streams never
depend on batching, sharding or resuming, and never collide."""

from __future__ import annotations

MIX = 1_000_003  # a prime above any count of pairs, styles, layers or steps in one stream


def derive_seed(seed: int, *path: int) -> int:
    """The seed of the stream at ``path`` (e.g. style index, layer index, step) under ``seed``."""
    for part in path:
        seed = (seed * MIX + part) % 2**63
    return seed
