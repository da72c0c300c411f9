"""Robust and plain objectives on residuals, summed with per-point weights.

Hoffmann et al. 2022 (App. D.2) fit the Chinchilla law by minimising the *sum* of Huber losses
(delta = 1e-3) of log residuals ``log L_pred - log L``.  Besiroglu et al. 2024 (arXiv:2404.10102)
note that the *mean* makes L-BFGS stop early at a worse point, so the sum is used throughout.

    huber_delta(r) = r^2 / 2                 if |r| <= delta
                     delta (|r| - delta / 2)  otherwise
                   = c (|r| - c / 2),  c = min(|r|, delta)      (the form computed here)
"""
from __future__ import annotations

import jax.numpy as jnp

HUBER_DELTA = 1e-3


def huber(r, delta: float = HUBER_DELTA):
    a = jnp.abs(r)
    c = jnp.minimum(a, delta)
    return c * (a - 0.5 * c)


def squared(r, delta: float = HUBER_DELTA):
    """Half squared residual (``delta`` is ignored; present so every objective has one signature)."""
    return 0.5 * r * r


LOSSES = {"huber": huber, "squared": squared}
SPACES = ("log", "linear")  # residual log(pred) - log(y), or pred - y
