"""Linear regression of the loss on the mixture weights: the baseline a mixture law must beat.

RegMix (Liu et al. 2024, "RegMix: Data Mixture as Regression for Language Model Pre-training",
arXiv:2407.01492) regresses the target loss on the domain weights of small proxy runs; its linear
variant, at a fixed model size and token count, is

    L(h) = sum_j b_j h_j

with no intercept (on the simplex an intercept is the same as adding it to every b_j): ``b_j`` is
the predicted loss of training on domain j alone.  Fitted by ordinary least squares with
statsmodels (``sm.OLS``); the fit's record keeps statsmodels' R^2, AIC and the condition number of
the design.  The statsmodels estimate is the start of the usual engine fit on squared linear
residuals - the same objective, so the engine stops where it starts (to rounding) and the
result is an ordinary :class:`scaling.FitResult` (predict, intervals from the Gauss-Newton
covariance, which here is OLS's ``s^2 (H^T H)^-1``, bootstrap, summary, JSON).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .mixture import Family, family, stack


def params(domains, scale):
    names = [f"b_{d}" for d in domains]
    return names, names, 0


def log_predict(domains, scale):
    def f(theta, X):
        return jnp.log(stack(X, domains) @ theta)
    return f


def _ols(H, y):
    import statsmodels.api as sm
    return sm.OLS(y, H).fit()


def starts(H, y, S, law, rng):
    return np.asarray(_ols(H, y).params, float)[None, :]


def notes(H, y, law) -> dict:
    res = _ols(H, y)
    return {"ols": {"r2": float(res.rsquared), "aic": float(res.aic), "condition_number": float(res.condition_number),
                    "params": dict(zip(law.names, map(float, res.params))),
                    "bse": dict(zip(law.names, map(float, res.bse)))}}


SPEC = Family(
    name="mixture-linear",
    formula="L = sum_j b_j h_j",
    citation="RegMix linear baseline (Liu et al. 2024, arXiv:2407.01492), OLS with statsmodels",
    params=params, log_predict=log_predict, starts=starts, scale="none",
    defaults={"loss": "squared", "space": "linear", "gtol": 1e-11, "ftol": 0.0}, notes=notes,
)
LAW = family(SPEC)
