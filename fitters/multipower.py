"""Multi-power law (Luo et al. 2025, "A Multi-Power Law for Loss Curve Prediction Across Learning Rate
Schedules", ICLR 2025, arXiv:2503.12811, Eq. 5):

    L(t) = L0 + A * (S1(t) + S_W)^-alpha - LD(t)
    LD(t) = B * sum_{k} (eta_{k-1} - eta_k) * G(eta_k^-gamma * S_k(t)),   G(x) = 1 - (C x + 1)^-beta
    S_k(t) = sum_{tau=k}^{t} eta_tau

the loss at step ``t`` of a run from its whole learning-rate history: a power law in the area under
the schedule (``S1 + S_W``, warmup area included) minus a loss reduction summed over every drop of
the learning rate after warmup, each drop's benefit growing as a power law in the area since it.
With a constant rate ``LD = 0``; with a single drop it is the paper's two-stage form.

The inputs are built exactly from the per-step schedule by :mod:`fitters.curves` (conventions,
warmup rule and the grouping of drops by distance, which keeps the input at rows x ~100 numbers).
All seven parameters are positive and fitted as logs, by the summed Huber loss (delta 1e-3) of log
residuals - the paper's objective.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from . import curves
from .law import Law, product_grid


def log_predict(theta, X):
    L0, A, alpha, B, C, beta, gamma = (jnp.exp(theta[i]) for i in range(7))
    x = C * jnp.exp(-gamma * X["log_eta"]) * X["S"]
    ld = jnp.sum(X["D"] * (1.0 - (1.0 + x) ** (-beta)), axis=-1)
    return jnp.log(L0 + A * X["S1"] ** (-alpha) - B * ld)


def grid() -> np.ndarray:
    """64 starts in log space (a power of two: the engine pads lanes to one): L0 1.5 or 3 nats, A 0.3 or 1,
    alpha 0.3 or 0.6, B 1e2 or 1e3 (B * peak LR of order 0.1), C 0.5 or 3, beta 0.3 or 0.8, gamma 0.6
    (Luo et al. report C ~ 2, beta ~ 0.6, gamma ~ 0.6 for their three sizes).  Written for the scales of
    Luo et al.'s runs (:data:`REFERENCE`); :func:`data_grid` moves it to a table's own."""
    return product_grid(np.log([1.5, 3.0]), np.log([0.3, 1.0]), np.log([0.3, 0.6]), np.log([1e2, 1e3]),
                        np.log([0.5, 3.0]), np.log([0.3, 0.8]), np.log([0.6]))


# The scales :func:`grid` was written for (Luo et al.'s 100M runs: peak LR 3e-4, 24k steps): the smallest
# loss, the median forward area S1, the largest summed drop before a row, the median of eta^-0.6 * S.
REFERENCE = {"loss": 3.0, "S1": 2.65, "drop": 2.7e-4, "x": 3.2}


def data_grid(X, y) -> np.ndarray:
    """:func:`grid` moved to the data's scales by the law's symmetries, so that every start predicts a
    positive loss whatever the learning rate, length or loss level of the runs.

    Scaling the loss by ``l`` scales ``L0, A, B`` by ``l``; the forward-area term keeps its size when
    ``A`` moves with ``S1^alpha``; the loss reduction with ``B`` against the size of the drops; ``G``'s
    argument ``C eta^-gamma S`` with ``C`` against the median of ``eta^-gamma S`` (gamma = 0.6, the
    grid's).  With the smallest loss ``l``, every start's prediction is at least ``l (L0/3 - B 2.7e-4 / 3)
    >= 0.41 l`` - the fixed grid had no start with a positive loss on runs at a peak rate of 0.1 (Luo et
    al.'s: 3e-4), and stopped far from the optimum at 1e-5 (tests).
    """
    y = np.asarray(y, float)
    S1, D, log_eta, S = (np.asarray(X[k], float) for k in ("S1", "D", "log_eta", "S"))
    drop = np.abs(D).sum(axis=-1).max(initial=0.0)
    moved = D != 0
    x = np.exp(-0.6 * log_eta[moved]) * S[moved]
    x = x[x > 0]
    scale = {"loss": y.min() / REFERENCE["loss"], "S1": np.median(S1) / REFERENCE["S1"],
             "drop": drop / REFERENCE["drop"] if drop > 0 else 1.0,
             "x": np.median(x) / REFERENCE["x"] if x.size else 1.0}
    g = grid()
    log_l = np.log(scale["loss"])
    shift = np.zeros_like(g)
    shift[:, 0] = log_l                                            # L0
    shift[:, 1] = log_l + np.exp(g[:, 2]) * np.log(scale["S1"])     # A, with each start's alpha
    shift[:, 3] = log_l - np.log(scale["drop"])                    # B
    shift[:, 4] = -np.log(scale["x"])                              # C
    return g + shift


def prepare(table, schedules=None, warmup: str = "actual"):
    """``S1`` and the drop bins for each row (run, step) of ``table`` (see :func:`fitters.curves.prepare`;
    ``warmup="actual"`` is Luo et al.'s ``S_W``, the warmup's own area)."""
    return curves.prepare(table, schedules, kind="multipower", warmup=warmup)


prepare.takes_learning_rates = True


def derived(p) -> dict:
    """``B*beta``: the loss reduction per unit drop for small ``C x`` - identified even where ``beta -> 0``,
    ``B -> inf`` (the law's logarithmic limit, ``LD = B beta sum_k delta_k log(1 + C x_k)``)."""
    return {"B*beta": p["B"] * p["beta"]}


LAW = Law(
    name="multipower",
    formula="L(t) = L0 + A*(S1+S_W)^-alpha - B*sum_k (eta_{k-1}-eta_k)*(1-(1+C*eta_k^-gamma*S_k(t))^-beta)",
    names=("L0", "A", "alpha", "B", "C", "beta", "gamma"),
    fit_names=("log_L0", "log_A", "log_alpha", "log_B", "log_C", "log_beta", "log_gamma"),
    inputs=("S1", "D", "log_eta", "S"),
    log_predict=log_predict,
    n_log=7,
    grid=grid,
    data_grid=data_grid,
    derived=derived,
    citation="Luo et al. 2025, ICLR 2025, arXiv:2503.12811, Eq. 5",
    requires=("run", "step"),
    prepare=prepare,
    defaults=curves.FIT_DEFAULTS,
)
