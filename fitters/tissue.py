"""LR-annealing law (Tissue et al. 2024, "Scaling Law with Learning Rate Annealing", arXiv:2408.11029, Eq. 1):

    L(s) = L0 + A * S1(s)^-alpha - C * S2(s)

the validation loss at step ``s`` of a run from its whole learning-rate history: ``S1`` the forward
area (sum of the learning rates of every update before ``s``, warmup included), ``S2`` the
annealing area with momentum, ``m_i = lam m_{i-1} + (lr[i-1] - lr[i])`` after warmup and
``S2 = sum_i m_i`` (``lam`` = 0.999 as in the paper; the ``lam=`` option changes it).  Both are
computed exactly from the per-step schedule by :mod:`fitters.curves` (conventions, warmup rule).

Fitted, like Chinchilla, by the summed Huber loss (delta 1e-3) of log residuals; ``L0, A, alpha, C``
are fitted as logs (all positive).  The law's inputs come from ``prepare(table, schedules=...)``
(rows with ``run`` and ``step``; see :func:`fitters.curves.prepare`).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from . import curves
from .law import Law, product_grid


def log_predict(theta, X):
    L0, A, alpha, C = (jnp.exp(theta[i]) for i in range(4))
    return jnp.log(L0 + A * X["S1"] ** (-alpha) - C * X["S2"])


def grid() -> np.ndarray:
    """Starts in (log L0, log A, log alpha, log C): L0 in 0.5..4 nats, A 0.1..3, alpha 0.2..0.8, C 1e-2..1e2."""
    return product_grid(np.log([0.5, 1.0, 2.0, 4.0]), np.log([0.1, 0.5, 3.0]), np.log([0.2, 0.45, 0.8]),
                        np.log([1e-2, 1e-1, 1.0, 10.0, 100.0]))


def prepare(table, schedules=None, lam: float = curves.TISSUE_DECAY, warmup: str = "actual"):
    """``S1``, ``S2`` for each row (run, step) of ``table`` from per-step learning rates (see :func:`fitters.curves.prepare`;
    ``warmup="peak"`` counts warmup updates at the peak rate, as Tissue et al. do - :mod:`fitters.curves`)."""
    return curves.prepare(table, schedules, kind="tissue", lam=lam, warmup=warmup)


prepare.takes_learning_rates = True


LAW = Law(
    name="tissue",
    formula="L(s) = L0 + A*S1^-alpha - C*S2",
    names=("L0", "A", "alpha", "C"),
    fit_names=("log_L0", "log_A", "log_alpha", "log_C"),
    inputs=("S1", "S2"),
    log_predict=log_predict,
    n_log=4,
    grid=grid,
    citation="Tissue et al. 2024, arXiv:2408.11029, Eq. 1 (S2 with momentum, lambda = 0.999)",
    requires=("run", "step"),
    prepare=prepare,
    defaults=curves.FIT_DEFAULTS,
)
