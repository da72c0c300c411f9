"""Data mixing law (Ye et al. 2024, "Data Mixing Laws: Optimizing Data Mixtures by Predicting Language
Modeling Performance", arXiv:2403.16952): at a fixed model size and token count,

    L(h) = c + k exp(sum_j t_j h_j)

Identifiability: on the simplex (sum_j h_j = 1) a common shift s of every t_j is the factor e^s on
k, so (k, t) are determined only up to that shift.  Here the *first* domain (the first ``mix.``
column) is the reference with ``t_ref = 0``: the reported k is ``L(pure reference domain) - c``
and each ``t_j`` is domain j's effect relative to the reference.  Fit space
``(log c, log k, t_j for j != ref)`` (c, k > 0), Huber on log residuals::

    log L = logaddexp(log c, log k + sum_{j != ref} t_j h_j)

Starts: for c at fractions of the smallest loss, ``log(L - c)`` is linear in h, so least squares
gives (log k, t) exactly for that c; then random perturbations of those.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .mixture import FIT_DEFAULTS, MAX_STARTS, Family, family, stack

C_FRACTIONS = (1e-3, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)


def params(domains, scale):
    names = ["c", "k"] + [f"t_{d}" for d in domains[1:]]
    return names, ["log_c", "log_k"] + names[2:], 2


def log_predict(domains, scale):
    def f(theta, X):
        H = stack(X, domains)
        return jnp.logaddexp(theta[0], theta[1] + H[:, 1:] @ theta[2:])
    return f


def starts(H, y, S, law, rng):
    rows = []
    for fc in C_FRACTIONS:
        c = fc * np.min(y)
        u = np.linalg.lstsq(H, np.log(y - c), rcond=None)[0]      # log(L - c) = sum_j u_j h_j, u_j = log k + t_j
        rows.append(np.concatenate([[np.log(c), u[0]], u[1:] - u[0]]))
    base = np.array(rows)
    n_new = max(0, MAX_STARTS // 2 - len(base))
    pick = base[rng.integers(0, len(base), n_new)].copy()
    pick[:, 2:] += rng.normal(0, 0.5, (n_new, base.shape[1] - 2))
    return np.vstack([base, pick])


SPEC = Family(
    name="mixture-ye",
    formula="L = c + k exp(sum_j t_j h_j)   (t of the first domain = 0)",
    citation="Ye et al. 2024, arXiv:2403.16952 (data mixing law at fixed N, D)",
    params=params, log_predict=log_predict, starts=starts, defaults=FIT_DEFAULTS, scale="none",
)
LAW = family(SPEC)
