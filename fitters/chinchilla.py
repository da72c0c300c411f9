"""Chinchilla law (Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", Eq. 2):

    L(N, D) = E + A / N^alpha + B / D^beta

fitted, as in their Appendix D.2 (Approach 3), in log-sum-exp form with ``a = log A``,
``b = log B``, ``e = log E``::

    log L = LSE(a - alpha log N, b - beta log D, e)

from Hoffmann's grid of 4,500 starts (alpha, beta in {0, 0.5, ..., 2}, e in {-1, -0.5, ..., 1},
a, b in {0, 5, ..., 25}).  Compute-optimal allocation under C = 6ND (their Eq. 4):

    N_opt(C) = G (C/6)^a,  D_opt(C) = G^-1 (C/6)^b,  G = (alpha A / (beta B))^(1/(alpha+beta)),
    a = beta / (alpha + beta),  b = alpha / (alpha + beta).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .law import Law, falling_exponents, product_grid


def log_predict(theta, X):
    """``log L`` = LSE(a - alpha log N, b - beta log D, e), a stable log-sum-exp of the three terms.

    Written out (shift by the largest term, three ``exp`` and one ``log``) rather than as two nested
    ``logaddexp``: the fit evaluates it millions of times and this form was 1.4x faster under XLA
    on CPU.  The shift is held constant for differentiation (``stop_gradient``): the value does not
    depend on it, so the gradient is the exact softmax of the terms either way.
    """
    e, a, b, alpha, beta = theta[0], theta[1], theta[2], theta[3], theta[4]
    u = a - alpha * jnp.log(X["params"])
    v = b - beta * jnp.log(X["tokens"])
    m = jax.lax.stop_gradient(jnp.maximum(jnp.maximum(u, v), e))
    m = jnp.where(jnp.isfinite(m), m, 0.0)              # an infinite term (N or D at 0 or inf) stays infinite
    return m + jnp.log(jnp.exp(u - m) + jnp.exp(v - m) + jnp.exp(e - m))


def hoffmann_grid() -> np.ndarray:
    """Hoffmann et al. 2022 App. D.2 initialisation grid, 4,500 starts, in (e, a, b, alpha, beta)."""
    return product_grid(np.arange(-1, 1.01, 0.5), np.arange(0, 26, 5), np.arange(0, 26, 5),
                        np.arange(0, 2.01, 0.5), np.arange(0, 2.01, 0.5))


def derived(p) -> dict:
    """Compute-optimal exponents a = beta/(alpha+beta) (N_opt ~ C^a), b = alpha/(alpha+beta) (D_opt ~ C^b), and G."""
    s = p["alpha"] + p["beta"]
    return {"a": p["beta"] / s, "b": p["alpha"] / s,
            "G": (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1.0 / s)}


LAW = Law(
    name="chinchilla",
    formula="L = E + A/N^alpha + B/D^beta",
    names=("E", "A", "B", "alpha", "beta"),
    fit_names=("log_E", "log_A", "log_B", "alpha", "beta"),
    inputs=("params", "tokens"),
    log_predict=log_predict,
    n_log=3,
    grid=hoffmann_grid,
    derived=derived,
    citation="Hoffmann et al. 2022, arXiv:2203.15556, Eq. 2 and App. D.2",
    min_distinct={"params": 2, "tokens": 2},
    diagnose=falling_exponents("alpha", "beta"),
)
