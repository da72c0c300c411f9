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


def predict_many(law: Law, thetas, X: dict) -> np.ndarray:
    """``L`` (not log) at every row of ``X`` for every fit-space row of ``thetas``: shape (S, n), float64."""
    thetas = np.atleast_2d(np.asarray(thetas, float))
    with jax.enable_x64(True):
        Xd = {k: jnp.asarray(np.asarray(v, float), jnp.float64) for k, v in X.items()}
        out = _batched(law)(jnp.asarray(thetas, jnp.float64), Xd)
        return np.exp(np.asarray(out))


@functools.lru_cache(maxsize=32)
def _paired(law: Law):
    return jax.jit(jax.vmap(law.log_predict, in_axes=(0, 0)))


def predict_paired(law: Law, thetas, X: dict) -> np.ndarray:
    """``L`` at row s of every ``X[k]`` (shape (S, m)) for fit-space ``thetas[s]``: shape (S, m), float64."""
    thetas = np.atleast_2d(np.asarray(thetas, float))
    with jax.enable_x64(True):
        Xd = {k: jnp.asarray(np.asarray(v, float), jnp.float64) for k, v in X.items()}
        return np.exp(np.asarray(_paired(law)(jnp.asarray(thetas, jnp.float64), Xd)))
