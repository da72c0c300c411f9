"""Top-1 error from loss (Gadre et al. 2024, "Language models scale reliably with over-training and on
downstream tasks", Eq. 5):

    Err(L) = eps - k exp(-gamma L)

L is a model's loss on a validation set (C4 eval in the paper), Err the average top-1 error over a
set of downstream tasks (their 17-task subset); eps is the error at very high loss (chance), and
the error falls exponentially as the loss drops.  Fitted, as in the paper (``scipy.optimize.curve_fit``,
i.e. least squares on the error itself), on linear residuals: errors are near 0 for strong models,
where a log residual would blow up.  Fit space ``(log eps, log k, log gamma)``::

    log Err = log eps + log1p(-exp(log k - gamma L - log eps))

Observations pair each checkpoint's loss on dataset ``x`` with its accuracy on ``task`` (one task or
a list, averaged as mean(1 - accuracy)); see :mod:`fitters.pairing`.  Chained after a law of
(N, D) for that loss it predicts a large run's error (``scaling.chain``).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd

from .law import Law, Observations, product_grid
from .pairing import dataset_rows, pair_rows


def log_predict(theta, X):
    log_eps, log_k, gamma = theta[0], theta[1], jnp.exp(theta[2])
    return log_eps + jnp.log1p(-jnp.exp(log_k - gamma * X["loss"] - log_eps))


def grid() -> np.ndarray:
    return product_grid(np.log([0.5, 0.75, 1.0, 1.5]), np.log([0.3, 1.0, 3.0, 10.0, 30.0]),
                        np.log([0.1, 0.3, 0.7, 1.5, 3.0]))


def _tasks(task) -> list[str]:
    if task is None:
        raise ValueError("say which task's accuracy to fit: task=NAME, or a list of task names to average")
    tasks = [task] if isinstance(task, str) else [str(t) for t in task]
    if not tasks:
        raise ValueError("task=[] names no task")
    return tasks


def loss_rows(table: pd.DataFrame, x: str | None) -> np.ndarray:
    """The ``loss`` input of rows to predict at (rows of dataset ``x`` when the table says which dataset)."""
    if x is not None and "dataset" in table.columns:
        bad = np.flatnonzero(table["dataset"].astype(str).to_numpy() != str(x))
        if bad.size:
            raise ValueError(f"row {bad[0]} is a {table['dataset'].iloc[bad[0]]!r} row; this law predicts from "
                             f"losses on {x!r} - pass only {x!r} rows")
    loss = pd.to_numeric(table["loss"], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(loss))
    if bad.size:
        raise ValueError(f"column 'loss', row {bad[0]}: no loss to predict from")
    return loss


def observe(table: pd.DataFrame, x: str | None = None, task=None, pair: str = "checkpoint",
            unpaired: str = "error") -> Observations:
    """Loss on ``x`` and mean top-1 error on ``task`` of every checkpoint that has both."""
    if x is None:
        raise ValueError("say which dataset's loss predicts the error: x=NAME (e.g. x='c4_val')")
    tasks = _tasks(task)
    if "accuracy" not in table.columns:
        raise ValueError("the table has no 'accuracy' column (task rows: dataset=task name, accuracy in [0, 1])")
    src = dataset_rows(table, x)
    errors, common, dropped = None, None, 0
    for t in tasks:
        ix, it, d = pair_rows(table, x, t, pair, unpaired, b_column="accuracy")
        dropped += d
        err = pd.Series(1.0 - table.loc[it, "accuracy"].to_numpy(float), index=ix)
        if errors is None:
            errors = err
        else:
            missing = errors.index.difference(err.index).union(err.index.difference(errors.index))
            if missing.size and unpaired == "error":
                raise ValueError(f"row {missing[0]} (dataset {x!r}) has accuracies on some of the tasks but not on "
                                 f"{t!r}; every checkpoint needs all {len(tasks)} tasks (or unpaired='drop')")
            errors = (errors + err).dropna()
    errors = errors / len(tasks)
    rows = src.loc[errors.index]
    keep = [c for c in ("run", "params", "tokens", "step", "flops") if c in rows.columns]
    data = rows[keep].reset_index(drop=True)
    data["loss"] = rows["loss"].to_numpy(float)
    data["error"] = errors.to_numpy(float)
    notes = {"x": x, "tasks": tasks, "pair": pair, "dropped_unpaired": dropped}
    return Observations(X={"loss": data["loss"].to_numpy(float)}, y=data["error"].to_numpy(float), data=data,
                        notes=notes)


def prepare(table: pd.DataFrame, x: str | None = None, **_) -> dict:
    return {"loss": loss_rows(table, x)}


def validate(params, X) -> None:
    """The law predicts a positive error only above ``L* = ln(k / eps) / gamma``, where it reaches 0: a loss
    at or below it is outside what the fit can say (its log form would be NaN) - a ValueError names the row."""
    loss = np.asarray(X["loss"], float)
    floor = np.log(params["k"] / params["eps"]) / params["gamma"]
    below = np.flatnonzero(~(loss > floor))
    if below.size:
        raise ValueError(f"row {below[0]}: loss {loss[below[0]]:.4g} is not above {floor:.4g} = ln(k/eps)/gamma, where "
                         f"the fitted error law reaches 0 ({below.size} such row(s)); it would predict a negative error "
                         "- the loss is beyond what this fit can extrapolate to")


LAW = Law(
    name="error",
    formula="Err = eps - k exp(-gamma L)",
    names=("eps", "k", "gamma"),
    fit_names=("log_eps", "log_k", "log_gamma"),
    inputs=("loss",),
    log_predict=log_predict,
    n_log=3,
    grid=grid,
    citation="Gadre et al. 2024, arXiv:2403.08540, Eq. 5",
    response="error",
    requires=("loss",),
    prepare=prepare,
    observe=observe,
    validate=validate,
    defaults={"loss": "squared", "space": "linear"},
)
