"""Loss-to-loss shifted power law (Brandfonbrener et al. 2024, "Loss-to-Loss Prediction: Scaling Laws
for All Datasets", Eq. 3-5):

    L_y = K (L_x - E_x)^kappa + E_y

L_x is a model's loss on a source dataset x, L_y its (or a paired model's) loss on a target dataset
y; E_x and E_y are the irreducible losses of the two.  The paper's three pairings, all rows of a
long runs table (``dataset`` says where each loss was measured; :mod:`fitters.pairing`):

- train-to-test / test-to-test: one model's losses on two datasets, ``pair="checkpoint"`` (default);
- train-to-train: two models trained on x and on y with the same N and D (``pair="size"``) or the
  same training compute (``pair="compute"``), each evaluated on its own training set.

The shifts, ``shifts=``:

- ``"scaling"`` (as the paper): E_x and E_y are the irreducible terms ``E`` of a per-dataset
  scaling law (``shift_law="chinchilla"``, Hoffmann et al.'s form and start grid, Huber on log
  residuals; any law with a parameter ``E``, e.g. ``"kaplan-e"``, :mod:`fitters.kaplan_e`) fitted to all rows of x and of y; then only K and
  kappa are fitted (the intervals are conditional on the shifts);
- default (``None``): ``"scaling"`` when each dataset's rows have the distinct N and D such a fit
  needs, else ``"fit"`` with a warning saying why (e.g. every model saw the same number of tokens);
- ``"fit"``: all four parameters fitted (needs enough pairs; weakly identified on few points);
- a mapping ``{"E_x": ..., "E_y": ...}``: the shifts given.

Fitted on log residuals (Huber, as every loss law here) in fit space ``(log K, kappa, E_x, E_y)``::

    log L_y = log(exp(log K + kappa log(L_x - E_x)) + E_y)

The law is undefined where L_x <= E_x: predicting there is an error naming the row.
"""
from __future__ import annotations

from typing import Mapping

import warnings

import jax.numpy as jnp
import numpy as np
import pandas as pd

from .law import Law, Observations, product_grid
from .pairing import dataset_rows, pair_rows

SHIFT_MODES = ("scaling", "fit")


def log_predict(theta, X):
    log_k, kappa, e_x, e_y = theta[0], theta[1], theta[2], theta[3]
    return jnp.log(jnp.exp(log_k + kappa * jnp.log(X["loss"] - e_x)) + e_y)


def grid() -> np.ndarray:
    """Data-free starts (observe() gives data-dependent ones): shifts at 0 and 1.5 nats."""
    return product_grid(np.log([0.3, 1.0, 3.0]), (0.5, 1.0, 2.0), (0.0, 1.5), (0.0, 1.5))


def data_starts(lx: np.ndarray, ly: np.ndarray, e_x=None, e_y=None) -> np.ndarray:
    """Starts (log K, kappa, E_x, E_y) with every source loss above E_x, K matching the medians."""
    mx, my = float(np.min(lx)), float(np.min(ly))
    ex_grid = [e_x] if e_x is not None else [mx - d for d in (0.05, 0.3, 1.0, 2.0)] + [0.0]
    ey_grid = [e_y] if e_y is not None else [my - d for d in (0.05, 0.3, 1.0, 2.0)] + [0.0]
    starts = []
    for ex in ex_grid:
        if not ex < mx:
            continue
        for ey in ey_grid:
            for kappa in (0.5, 1.0, 1.5, 2.5):
                gap = float(np.median(ly)) - ey
                if gap <= 0:
                    continue
                log_k = np.log(gap) - kappa * np.log(float(np.median(lx)) - ex)
                starts.append((log_k, kappa, ex, ey))
    return np.asarray(starts, float)


def _unfit_reason(rows: pd.DataFrame, shift_law: str) -> str | None:
    """Why ``shift_law`` cannot be fitted to a dataset's rows (None when it can)."""
    from . import get_law
    law = get_law(shift_law)
    missing = [c for c in law.inputs if c not in rows.columns or not np.all(np.isfinite(pd.to_numeric(rows[c], errors="coerce")))]
    if missing:
        return f"the rows lack {missing}"
    for c, need in law.min_distinct.items():
        if rows[c].nunique() < need:
            return f"the {rows['dataset'].iloc[0]!r} rows have {rows[c].nunique()} distinct {c} value(s), {need} needed"
    if len(rows) < law.n_params + 1:
        return f"the {rows['dataset'].iloc[0]!r} rows are {len(rows)}, too few for the {law.n_params} parameters"
    return None


def shift_fit(rows: pd.DataFrame, shift_law: str) -> dict:
    """Fit ``shift_law`` (a law with an irreducible term ``E``) to a dataset's rows: its natural parameters.

    Warns when the fit is poorly identified (the condition number of :func:`fitters.uncertainty.gauss_newton`
    above ``ILL_CONDITIONED``): its ``E`` is then not pinned down - a near-zero exponent can stand in for it
    (E -> 0) - and a shift taken from it can be far off."""
    from . import engine, get_law
    from .uncertainty import ILL_CONDITIONED, gauss_newton
    law = get_law(shift_law)
    if "E" not in law.names:
        raise ValueError(f"shift_law={shift_law!r} has no irreducible term E; use e.g. 'chinchilla'")
    missing = [c for c in law.inputs if c not in rows.columns]
    if missing:
        raise ValueError(f"shifts='scaling' fits {shift_law!r} to each dataset's rows, which needs column(s) {missing}; "
                         f"give shifts='fit' or shifts={{'E_x': ..., 'E_y': ...}} instead")
    for c, need in law.min_distinct.items():
        if rows[c].nunique() < need:
            raise ValueError(f"shifts='scaling' fits {shift_law!r} per dataset, which needs {need} distinct {c} "
                             f"values (the rows have {rows[c].nunique()}); give shifts='fit' or the shifts themselves")
    X = {k: rows[k].to_numpy(float) for k in law.inputs}
    y = rows["loss"].to_numpy(float)
    lanes = engine.minimize(law, engine.Objective(), X, y, law.grid())
    best = int(np.argmin(lanes.f))
    if not np.isfinite(lanes.f[best]):
        raise ValueError(f"the per-dataset {shift_law!r} fit failed (non-finite objective)")
    params = law.natural_dict(lanes.x[best])
    cond = gauss_newton(law, engine.Objective(), X, y, lanes.x[best])[1]
    if cond > ILL_CONDITIONED:
        warnings.warn(f"loss2loss: the {shift_law} fit to the {rows['dataset'].iloc[0]!r} rows is poorly identified "
                      f"(condition number {cond:.2g}); its E = {params['E']:.4g}, taken as the shift, is not pinned down "
                      "by those rows - check it, or pass shifts='fit' or shifts={'E_x': ..., 'E_y': ...}", stacklevel=5)
    return params


def observe(table: pd.DataFrame, x: str | None = None, y: str | None = None, pair: str = "checkpoint",
            shifts=None, shift_law: str = "chinchilla", unpaired: str = "error") -> Observations:
    if x is None or y is None:
        raise ValueError("say which losses to relate: x=SOURCE dataset, y=TARGET dataset (e.g. x='train', y='c4')")
    ix, iy, dropped = pair_rows(table, x, y, pair, unpaired)
    lx = table.loc[ix, "loss"].to_numpy(float)
    ly = table.loc[iy, "loss"].to_numpy(float)
    keep = [c for c in ("run", "params", "tokens", "step", "flops") if c in table.columns]
    data = table.loc[ix, keep].reset_index(drop=True)
    if pair != "checkpoint" and "run" in table.columns:
        data["run_y"] = table.loc[iy, "run"].to_numpy()
    data["loss_x"], data["loss_y"] = lx, ly
    notes = {"x": x, "y": y, "pair": pair, "dropped_unpaired": dropped}
    fixed = {}
    if shifts is None:                  # the paper's shifts when the data allow the per-dataset fits
        why = next((w for w in (_unfit_reason(dataset_rows(table, n), shift_law) for n in (x, y)) if w), None)
        if why is not None:
            warnings.warn(f"loss2loss: shifts fitted with K and kappa, not taken from per-dataset {shift_law} fits: "
                          f"{why} (pass shifts='fit' to say so, or shifts={{'E_x': ..., 'E_y': ...}})", stacklevel=4)
            notes["shifts_default"] = why
        shifts = "fit" if why is not None else "scaling"
    if isinstance(shifts, Mapping):
        unknown = sorted(set(shifts) - {"E_x", "E_y"})
        if unknown or not shifts:
            raise ValueError(f"shifts={dict(shifts)}: give E_x and/or E_y")
        fixed = {k: float(v) for k, v in shifts.items()}
        notes["shifts"] = "given"
    elif shifts == "scaling":
        fits = {name: shift_fit(dataset_rows(table, name), shift_law) for name in (x, y)}
        fixed = {"E_x": fits[x]["E"], "E_y": fits[y]["E"]}
        notes["shifts"] = f"scaling: E of a {shift_law} fit to each dataset's rows"
        notes["shift_fits"] = fits
    elif shifts == "fit":
        notes["shifts"] = "fitted"
    else:
        raise ValueError(f"shifts={shifts!r}; choose one of {SHIFT_MODES} or give {{'E_x': ..., 'E_y': ...}}")
    if "E_x" in fixed:
        below = np.flatnonzero(lx <= fixed["E_x"])
        if below.size:
            raise ValueError(f"row {ix[below[0]]} (dataset {x!r}): loss {lx[below[0]]:.4g} is not above the shift "
                             f"E_x = {fixed['E_x']:.4g} ({below.size} such row(s)); the shifted power law is undefined "
                             f"there - check the datasets, or fit the shifts (shifts='fit')")
    if "E_y" in fixed and not np.all(ly > fixed["E_y"]):
        i = int(np.flatnonzero(ly <= fixed["E_y"])[0])
        raise ValueError(f"row {iy[i]} (dataset {y!r}): loss {ly[i]:.4g} is not above the shift E_y = {fixed['E_y']:.4g}")
    starts = data_starts(lx, ly, fixed.get("E_x"), fixed.get("E_y"))
    return Observations(X={"loss": lx}, y=ly, data=data, fixed=fixed, starts=starts, notes=notes)


def prepare(table: pd.DataFrame, x: str | None = None, **_) -> dict:
    from .error import loss_rows
    return {"loss": loss_rows(table, x)}


def validate(params: Mapping[str, float], X: Mapping) -> None:
    lx = np.asarray(X["loss"], float)
    below = np.flatnonzero(~(lx > params["E_x"]))
    if below.size:
        raise ValueError(f"row {below[0]}: source loss {lx[below[0]]:.4g} is not above the fitted shift "
                         f"E_x = {params['E_x']:.4g} ({below.size} such row(s)); the shifted power law is undefined "
                         f"below the source dataset's irreducible loss (a shift fitted with K and kappa, shifts='fit', "
                         f"sits just below the smallest source loss it saw: to extrapolate, take the shifts from "
                         f"per-dataset fits, shifts='scaling', or give them, shifts={{'E_x': ..., 'E_y': ...}})")


LAW = Law(
    name="loss2loss",
    formula="L_y = K (L_x - E_x)^kappa + E_y",
    names=("K", "kappa", "E_x", "E_y"),
    fit_names=("log_K", "kappa", "E_x", "E_y"),
    inputs=("loss",),
    log_predict=log_predict,
    n_log=1,
    grid=grid,
    citation="Brandfonbrener et al. 2024, arXiv:2411.12925, Eq. 3-5",
    requires=("loss",),
    prepare=prepare,
    observe=observe,
    validate=validate,
)
