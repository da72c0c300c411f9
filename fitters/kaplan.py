"""Kaplan law L(N, D) (Kaplan et al. 2020, "Scaling Laws for Neural Language Models", Eq. 1.5 / 4.1):

    L(N, D) = [ (N_c / N)^(alpha_N / alpha_D) + D_c / D ]^alpha_D

fitted in log form with ``n_c = log N_c`` and ``d_c = log D_c``::

    log L = alpha_D * logaddexp((alpha_N / alpha_D) (n_c - log N), d_c - log D)

N is the non-embedding parameter count in Kaplan et al.; their Table 2 fit is
alpha_N = 0.076, alpha_D = 0.103, N_c = 6.4e13, D_c = 1.8e13.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .law import Law, falling_exponents, product_grid


def log_predict(theta, X):
    n_c, d_c, alpha_n, alpha_d = theta[0], theta[1], theta[2], theta[3]
    u = (alpha_n / alpha_d) * (n_c - jnp.log(X["params"]))
    v = d_c - jnp.log(X["tokens"])
    return alpha_d * jnp.logaddexp(u, v)


def grid() -> np.ndarray:
    return product_grid(np.arange(20.0, 41.0, 5.0), np.arange(20.0, 41.0, 5.0),
                        (0.03, 0.08, 0.2, 0.5), (0.03, 0.1, 0.3, 0.6))


def derived(p) -> dict:
    """Kaplan's data requirement D ~ N^(alpha_N/alpha_D) to keep the overfitting penalty fixed (Eq. 1.6)."""
    return {"data_exponent": p["alpha_N"] / p["alpha_D"]}


LAW = Law(
    name="kaplan",
    formula="L = ((N_c/N)^(alpha_N/alpha_D) + D_c/D)^alpha_D",
    names=("N_c", "D_c", "alpha_N", "alpha_D"),
    fit_names=("log_N_c", "log_D_c", "alpha_N", "alpha_D"),
    inputs=("params", "tokens"),
    log_predict=log_predict,
    n_log=2,
    grid=grid,
    derived=derived,
    citation="Kaplan et al. 2020, arXiv:2001.08361, Eq. 1.5 and Table 2",
    min_distinct={"params": 2, "tokens": 2},
    diagnose=falling_exponents("alpha_N", "alpha_D"),
)
