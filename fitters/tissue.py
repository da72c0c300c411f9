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


# The scales :func:`grid` was written for (Luo et al.'s 100M runs: peak LR 3e-4, 24k steps): the smallest
# loss, the median forward area S1 and the largest annealing area S2 of the three training curves.
REFERENCE = {"loss": 3.0, "S1": 2.65, "S2": 0.267}


def data_grid(X, y) -> np.ndarray:
    """:func:`grid` moved to the data's scales by the law's symmetries: scaling the loss by ``l`` scales
    ``L0, A, C`` by ``l``; ``A S1^-alpha`` keeps its size when ``A`` moves with ``S1^alpha``, ``C S2`` when
    ``C`` moves against the largest ``S2``.  The fixed grid had no start with a positive loss for runs at a
    peak rate near 1 (a schedule logged as a multiple of its peak), where S2 reaches hundreds."""
    y = np.asarray(y, float)
    S1, S2 = np.asarray(X["S1"], float), np.asarray(X["S2"], float)
    log_l = np.log(y.min() / REFERENCE["loss"])
    g = grid()
    shift = np.zeros_like(g)
    shift[:, 0] = log_l                                                                # L0
    shift[:, 1] = log_l + np.exp(g[:, 2]) * np.log(np.median(S1) / REFERENCE["S1"])    # A, with each start's alpha
    shift[:, 3] = log_l - (np.log(S2.max() / REFERENCE["S2"]) if S2.max() > 0 else 0.0)  # C
    return g + shift


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
    data_grid=data_grid,
    citation="Tissue et al. 2024, arXiv:2408.11029, Eq. 1 (S2 with momentum, lambda = 0.999)",
    requires=("run", "step"),
    prepare=prepare,
    defaults=curves.FIT_DEFAULTS,
)
