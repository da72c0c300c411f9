"""Task accuracy from task loss (Bhagia et al. 2024, "Establishing Task Scaling Laws via
Compute-Efficient Model Ladders", step 2, Eq. 2):

    Acc(L) = a / (1 + exp(-k (L - L0))) + b

L is a task loss (e.g. the bits per byte, or nats per token, of the correct answer), Acc the task
accuracy; b is the accuracy at high loss (chance), a + b the ceiling, L0 the midpoint and k the
steepness (negative: accuracy rises as the loss falls).  Fitted on linear residuals (the paper uses
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


def log_predict(theta, X):
    a, b, k, l0 = jnp.exp(theta[0]), theta[1], theta[2], theta[3]
    return jnp.log(a * jax.nn.sigmoid(k * (X["loss"] - l0)) + b)


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
)
