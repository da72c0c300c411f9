"""Asymptotic (no-bootstrap) uncertainty of a fit: the Gauss-Newton covariance.

For residuals ``r(theta)`` with Jacobian ``J`` at the optimum, the nonlinear least-squares
covariance is ``s^2 (J^T J)^-1`` with ``s^2 = sum r_i^2 / (n - p)`` (Seber & Wild 1989, Sec. 2.1).
For a Huber fit this is the least-squares approximation around the robust optimum; the bootstrap
(:mod:`fitters.bootstrap`) is the honest interval there and the result says which was used.
The condition number of the column-scaled ``J^T J`` is the identifiability diagnostic: a large
value means some combination of parameters is not pinned down by the data.
"""
from __future__ import annotations

import numpy as np

from . import engine
from .law import Law

ILL_CONDITIONED = 1e12     # a scaled normal matrix this ill-conditioned: some parameter the data do not pin down


def gauss_newton(law: Law, objective: engine.Objective, X: dict, y, theta) -> tuple[np.ndarray, float, np.ndarray]:
    """Fit-space covariance (P, P), the condition number of the scaled normal matrix, and the residuals (n,)
    at ``theta`` it was computed from."""
    r, J = engine.linearise(law, objective, theta, X, y)
    n, p = J.shape
    scale = np.linalg.norm(J, axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    Js = J / scale
    normal = Js.T @ Js
    cond = float(np.linalg.cond(normal))
    s2 = float(r @ r) / max(n - p, 1)
    cov = s2 * np.linalg.pinv(normal) / np.outer(scale, scale)
    return cov, cond, r
