"""Batches: random windows of ``context + 1`` tokens drawn from a mixture of domains.

Sampling is *counter-based*: the batch of optimizer step ``i`` is a pure function of
``(seed, i)`` (a NumPy ``PCG64`` generator seeded with ``[seed, i]``), so the data stream needs
no saved state: a resumed run sees exactly the batches an uninterrupted run would, and the
checkpointed "data RNG state" is just the step.  For each of the ``batch_size`` rows, a domain is
drawn with probability equal to its mixture weight, then a window start uniformly from that
domain's train split.  Over a run each domain thus supplies a share of tokens equal to its weight
(the ``mix.<domain>`` columns of the runs table).

Validation batches are fixed: ``n`` windows per domain drawn once from the validation split with
a seed independent of the run seed, so every run of a ladder is evaluated on the same tokens.
"""
from __future__ import annotations

import math

import numpy as np

EVAL_SEED = 20261122


def normalize_mixture(mixture: dict, domains) -> dict:
    """Weights over ``domains`` that sum to 1 (missing domains get 0); errors name the bad entry."""
    unknown = sorted(set(mixture) - set(domains))
    if unknown:
        raise ValueError(f"mixture names unknown domain(s) {unknown}; corpus domains: {list(domains)}")
    weights = {d: float(mixture.get(d, 0.0)) for d in domains}
    for d, w in weights.items():
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"mixture weight of {d!r} must be a finite number >= 0, got {w!r}")
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"mixture {mixture!r} has no positive weight")
    return {d: w / total for d, w in weights.items()}


def windows(array: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Rows ``array[s : s + length]`` for each start ``s`` (int32, shape ``(len(starts), length)``)."""
    index = starts[:, None] + np.arange(length)[None, :]
    return np.asarray(array[index.ravel()], dtype=np.int32).reshape(len(starts), length)


def _check_length(array, length, what):
    if len(array) < length + 1:
        raise ValueError(f"{what} has {len(array)} tokens, fewer than one window of {length} (+1)")


def train_batch(corpus, mixture: dict, step: int, seed: int, batch_size: int, context: int) -> np.ndarray:
    """The ``(batch_size, context + 1)`` int32 batch of optimizer step ``step`` (module docstring)."""
    rng = np.random.default_rng([int(seed), int(step)])
    domains = list(mixture)
    weights = np.array([mixture[d] for d in domains])
    choice = rng.choice(len(domains), size=batch_size, p=weights)
    out = np.empty((batch_size, context + 1), dtype=np.int32)
    for j, domain in enumerate(domains):
        rows = np.flatnonzero(choice == j)
        if len(rows):
            array = corpus.split(domain, "train")
            _check_length(array, context + 1, f"the train split of {domain!r}")
            starts = rng.integers(0, len(array) - context, size=len(rows))
            out[rows] = windows(array, starts, context + 1)
    return out


def train_batches(corpus, mixture: dict, first_step: int, count: int, seed: int,
                  batch_size: int, context: int) -> np.ndarray:
    """Batches of steps ``first_step .. first_step + count - 1`` stacked: ``(count, B, context + 1)``."""
    return np.stack([train_batch(corpus, mixture, first_step + i, seed, batch_size, context)
                     for i in range(count)])


def validation_windows(corpus, domain: str, count: int, context: int) -> np.ndarray:
    """``count`` fixed validation windows ``(count, context + 1)`` of ``domain`` (same for every run)."""
    array = corpus.split(domain, "validation")
    _check_length(array, context + 1, f"the validation split of {domain!r}")
    rng = np.random.default_rng([EVAL_SEED, context, count])
    starts = rng.integers(0, len(array) - context, size=count)
    return windows(array, starts, context + 1)
