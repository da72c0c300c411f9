"""Evaluate a law for many parameter vectors at once (bootstrap samples -> prediction intervals)."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .law import Law


@functools.lru_cache(maxsize=32)
def _batched(law: Law):
    return jax.jit(jax.vmap(law.log_predict, in_axes=(0, None)))


CHUNK_ELEMENTS = 1 << 24     # predict_many evaluates at most about this many input numbers x samples at once


def predict_many(law: Law, thetas, X: dict) -> np.ndarray:
    """``L`` (not log) at every row of ``X`` for every fit-space row of ``thetas``: shape (S, n), float64.

    Samples go through in chunks of one padded size, so inputs with a second axis (whole-curve
    laws: rows x drop bins) never hold more than about ``CHUNK_ELEMENTS`` intermediates at once.
    """
    thetas = np.atleast_2d(np.asarray(thetas, float))
    per_sample = max(1, sum(int(np.size(v)) for v in X.values()))
    chunk = max(1, min(len(thetas), CHUNK_ELEMENTS // per_sample))
    with jax.enable_x64(True):
        Xd = {k: jnp.asarray(np.asarray(v, float), jnp.float64) for k, v in X.items()}
        if chunk >= len(thetas):
            return np.exp(np.asarray(_batched(law)(jnp.asarray(thetas, jnp.float64), Xd)))
        out = []
        for lo in range(0, len(thetas), chunk):
            part = thetas[lo:lo + chunk]
            padded = np.concatenate([part, np.repeat(part[-1:], chunk - len(part), axis=0)])
            out.append(np.asarray(_batched(law)(jnp.asarray(padded, jnp.float64), Xd))[:len(part)])
        return np.exp(np.concatenate(out))


@functools.lru_cache(maxsize=32)
def _paired(law: Law):
    return jax.jit(jax.vmap(law.log_predict, in_axes=(0, 0)))


def predict_paired(law: Law, thetas, X: dict) -> np.ndarray:
    """``L`` at row s of every ``X[k]`` (shape (S, m)) for fit-space ``thetas[s]``: shape (S, m), float64."""
    thetas = np.atleast_2d(np.asarray(thetas, float))
    with jax.enable_x64(True):
        Xd = {k: jnp.asarray(np.asarray(v, float), jnp.float64) for k, v in X.items()}
        return np.exp(np.asarray(_paired(law)(jnp.asarray(thetas, jnp.float64), Xd)))
