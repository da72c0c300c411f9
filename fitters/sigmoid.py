"""Task accuracy from task loss (Bhagia et al. 2024, "Establishing Task Scaling Laws via
Compute-Efficient Model Ladders", step 2, Eq. 2):

    Acc(L) = a / (1 + exp(-k (L - L0))) + b

L is a task loss (e.g. the bits per byte, or nats per token, of the correct answer), Acc the task
accuracy; b is the accuracy at high loss (chance), a + b the ceiling, L0 the midpoint and k the
steepness (negative: accuracy rises as the loss falls); the prediction is held in [0, 1] (an accuracy),
and a fitted ceiling above 1 is warned about (the data do not show the top).  Fitted on linear residuals (the paper uses
``scipy.optimize.curve_fit``, least squares on the accuracy itself; accuracies near 0 would make a
log residual blow up), fit space ``(log a, b, k, L0)``.  The rows are task rows of the runs table:
``dataset`` = the task, ``loss`` its task loss and ``accuracy`` its accuracy; step 2 of the paper fits
them over intermediate checkpoints (``scaling.chain.fit_task`` chooses and smooths them).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .law import Law, product_grid


ACC_FLOOR = 1e-12     # the log of an accuracy: kept finite at 0


def log_predict(theta, X):
    """log Acc, the sigmoid held in [0, 1]: an accuracy cannot leave it, whatever a + b the data leave open."""
    log_a, b, k, l0 = theta[0], theta[1], theta[2], theta[3]
    rise = jnp.exp(log_a + jax.nn.log_sigmoid(k * (X["loss"] - l0)))      # a * sigmoid, no inf * 0 for a huge a
    return jnp.log(jnp.clip(rise + b, ACC_FLOOR, 1.0))


def diagnose(params) -> list[str]:
    """A ceiling a + b above 1 (or a floor b below 0): the accuracies fitted do not reach that end of the sigmoid,
    so predictions there rest on the cap at 1 (or 0), not on the data."""
    out = []
    if params["a"] + params["b"] > 1:
        out.append(f"the fitted ceiling a + b = {params['a'] + params['b']:.3g} is above 1: the accuracies do not show the "
                   "sigmoid's top, so predictions beyond them are capped at 1 and rest on no data")
    if params["b"] < 0:
        out.append(f"the fitted floor b = {params['b']:.3g} is below 0 (chance): predictions at high loss are capped at 0")
    return out


def grid() -> np.ndarray:
    return product_grid(np.log([0.2, 0.5, 0.9]), (0.0, 0.25, 0.5), (-10.0, -3.0, -1.0, 1.0),
                        (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0))


LAW = Law(
    name="sigmoid",
    formula="Acc = a / (1 + exp(-k (L - L0))) + b",
    names=("a", "b", "k", "L0"),
    fit_names=("log_a", "b", "k", "L0"),
    inputs=("loss",),
    log_predict=log_predict,
    n_log=1,
    grid=grid,
    citation="Bhagia et al. 2024, arXiv:2412.04403, Eq. 2 (step 2)",
    response="accuracy",
    defaults={"loss": "squared", "space": "linear"},
    diagnose=diagnose,
)
