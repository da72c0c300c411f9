"""Kaplan-form law with an irreducible term, the per-dataset fit of loss-to-loss prediction
(Brandfonbrener et al. 2024, arXiv:2411.12925, their scaling-law form):

    L(N, D) = E + [ (A / N)^(alpha / beta) + B / D ]^beta

i.e. Kaplan et al. 2020 (arXiv:2001.08361) Eq. 1.5 with N_c = A, D_c = B, alpha_N = alpha,
alpha_D = beta, plus an irreducible loss E.  (The exact notation of Brandfonbrener et al. could not
be checked against the paper's text here; this is Kaplan's Eq. 1.5 plus E.)  With D -> inf it is
E + (A/N)^alpha; with N -> inf, E + (B/D)^beta.  Fitted in log form with ``e = log E``,
``a = log A``, ``b = log B``::

    log L = logaddexp(e, beta * logaddexp((alpha / beta) (a - log N), b - log D))

Its ``E`` serves as a loss2loss shift (``shift_law="kaplan-e"``, :mod:`fitters.loss2loss`).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .law import Law, falling_exponents, product_grid


def log_predict(theta, X):
    e, a, b, alpha, beta = theta[0], theta[1], theta[2], theta[3], theta[4]
    u = (alpha / beta) * (a - jnp.log(X["params"]))
    v = b - jnp.log(X["tokens"])
    return jnp.logaddexp(e, beta * jnp.logaddexp(u, v))


def grid() -> np.ndarray:
    """243 starts in (log E, log A, log B, alpha, beta)."""
    return product_grid((-1.0, 0.0, 1.0), (10.0, 20.0, 30.0), (10.0, 20.0, 30.0),
                        (0.1, 0.3, 0.6), (0.1, 0.3, 0.6))


def derived(p) -> dict:
    """Kaplan's data requirement D ~ N^(alpha/beta) at a fixed overfitting penalty (their Eq. 1.6)."""
    return {"data_exponent": p["alpha"] / p["beta"]}


LAW = Law(
    name="kaplan-e",
    formula="L = E + ((A/N)^(alpha/beta) + B/D)^beta",
    names=("E", "A", "B", "alpha", "beta"),
    fit_names=("log_E", "log_A", "log_B", "alpha", "beta"),
    inputs=("params", "tokens"),
    log_predict=log_predict,
    n_log=3,
    grid=grid,
    derived=derived,
    citation="Brandfonbrener et al. 2024, arXiv:2411.12925 (per-dataset fits); Kaplan et al. 2020, arXiv:2001.08361, Eq. 1.5",
    min_distinct={"params": 2, "tokens": 2},
    diagnose=falling_exponents("alpha", "beta"),
)
