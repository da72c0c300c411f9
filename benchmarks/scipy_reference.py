"""The hand-written notebook way of fitting Chinchilla Approach 3: scipy L-BFGS-B, one start at a time.

Same objective as the engine (summed Huber, delta 1e-3, on log residuals of the log-sum-exp form,
Hoffmann et al. 2022 App. D.2) with an analytic gradient, the way Besiroglu et al. 2024 refit it.
Used by the benchmarks and by the tests that check the engine is never worse than scipy.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

DELTA = 1e-3


def objective_and_gradient(theta, log_n, log_d, log_l, w):
    e, a, b, alpha, beta = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    lse = logsumexp(terms, axis=0)
    r = lse - log_l
    c = np.minimum(np.abs(r), DELTA)
    f = np.sum(w * c * (np.abs(r) - 0.5 * c))
    psi = w * np.clip(r, -DELTA, DELTA)
    soft = np.exp(terms - lse)
    g = np.array([psi @ soft[2], psi @ soft[0], psi @ soft[1], -psi @ (soft[0] * log_n), -psi @ (soft[1] * log_d)])
    return f, g


def fit_grid(params, tokens, loss, starts, weights=None):
    """Run scipy L-BFGS-B from every start; returns (x (S, 5), f (S,)) in (log E, log A, log B, alpha, beta)."""
    args = (np.log(params), np.log(tokens), np.log(loss), np.ones(len(loss)) if weights is None else weights)
    xs, fs = [], []
    for x0 in starts:
        res = minimize(objective_and_gradient, x0, args=args, jac=True, method="L-BFGS-B")
        xs.append(res.x)
        fs.append(res.fun)
    return np.array(xs), np.array(fs)
