"""Over-training law (Gadre et al. 2024, "Language models scale reliably with over-training and on
downstream tasks", Eq. 4):

    L(C, M) = E + (a M^eta + b M^-eta) C^-eta,   C = 6 N D,  M = D / N (tokens per parameter)

fitted in log-sum-exp form with ``log E``, ``log a``, ``log b``::

    log L = LSE(log E, log a + eta (log M - log C), log b - eta (log M + log C))

It is Chinchilla's law with alpha = beta = 2 eta, rewritten in compute and token multiplier.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .law import Law, falling_exponents, product_grid


def log_predict(theta, X):
    log_e, log_a, log_b, eta = theta[0], theta[1], theta[2], theta[3]
    log_n, log_d = jnp.log(X["params"]), jnp.log(X["tokens"])
    log_c, log_m = jnp.log(6.0) + log_n + log_d, log_d - log_n
    u = log_a + eta * (log_m - log_c)
    v = log_b - eta * (log_m + log_c)
    return jnp.logaddexp(jnp.logaddexp(u, v), log_e)


def grid() -> np.ndarray:
    return product_grid(np.arange(-1.0, 1.51, 0.5), np.arange(0.0, 21.0, 4.0), np.arange(0.0, 21.0, 4.0),
                        (0.05, 0.1, 0.2, 0.3, 0.5))


def derived(p) -> dict:
    """Equivalent Chinchilla exponents alpha = beta = 2 eta."""
    return {"alpha": 2 * p["eta"], "beta": 2 * p["eta"]}


LAW = Law(
    name="overtrain",
    formula="L = E + (a M^eta + b M^-eta) C^-eta",
    names=("E", "a", "b", "eta"),
    fit_names=("log_E", "log_a", "log_b", "eta"),
    inputs=("params", "tokens"),
    log_predict=log_predict,
    n_log=3,
    grid=grid,
    derived=derived,
    citation="Gadre et al. 2024, arXiv:2403.08540, Eq. 4",
    min_distinct={"params": 2, "tokens": 2},
    diagnose=falling_exponents("eta"),
)
