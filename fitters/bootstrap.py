"""Bootstrap by resampling rows, every resample refitted by the batched engine.

A resample is a vector of multinomial counts ``w`` (n draws with replacement from n rows), so its
objective is ``sum_i w_i rho(r_i)`` on the original rows (Efron & Tibshirani 1993, ch. 6; the
Chinchilla refit of Besiroglu et al. 2024 bootstraps Approach 3 this way).  Each resample is
refitted from a set of starts, all resamples at once (one engine lane per resample x start):

- ``"grid"``: the law's full start grid for every resample (what a scipy notebook would do; costs
  ``len(grid)`` lanes per resample);
- ``"basins"`` (default): the distinct end points that the full-grid fit of the original data
  reached, best first (at most ``max_basins``).  Every grid start ended in one of these basins, so
  a resample - a small reweighting of the same points - is refitted from each basin's optimum;
  the tests check it finds the same best objective as the full grid;
- ``"warm"``: the original fit's optimum only.
"""
from __future__ import annotations

import numpy as np

from . import engine
from .law import Law

MODES = ("basins", "grid", "warm")
MAX_LANES_PER_CALL = 65536   # bounds the engine's memory: resamples are refitted in chunks of this many lanes


def resample_weights(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n) multinomial counts: row i of the data is drawn ``w[b, i]`` times in resample b."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples).astype(float)


def basin_starts(x: np.ndarray, f: np.ndarray, max_basins: int = 32, decimals: int = 1) -> np.ndarray:
    """Distinct end points of a multistart fit, best objective first.

    Lanes whose fit-space end points agree to ``decimals`` decimals are one basin; the
    best lane of each basin represents it.
    """
    ok = np.all(np.isfinite(x), axis=1) & np.isfinite(f)
    x, f = x[ok], f[ok]
    order = np.argsort(f, kind="stable")
    _, first = np.unique(np.round(x[order], decimals), axis=0, return_index=True)
    return x[order[np.sort(first)[:max_basins]]]


def refit(law: Law, objective: engine.Objective, X: dict, y: np.ndarray, weights: np.ndarray,
          starts: np.ndarray, progress=None, **engine_options):
    """Best fit of each weight row from every start: returns (theta (B, P), f (B,), converged (B,)).

    ``progress`` is an optional callable receiving the number of resamples finished per chunk.
    Convergence is judged on the gradient alone (``ftol=0``, ``gtol=1e-7``) unless told otherwise:
    from a start that is already near the optimum, the first steps decrease the objective by less
    than the relative-decrease test allows and would stop a lane before it reached the resample's
    optimum; at ``gtol=1e-7`` the basin starts reach the full grid's optimum of every resample
    tested (to 1e-11 relative on the Epoch data; at the fit's 1e-5 some stop 1e-5 short).
    """
    engine_options.setdefault("ftol", 0.0)
    engine_options.setdefault("gtol", 1e-7)
    starts = np.atleast_2d(starts)
    B, S = weights.shape[0], starts.shape[0]
    per_call = max(1, MAX_LANES_PER_CALL // S)
    theta = np.empty((B, starts.shape[1]))
    f = np.empty(B)
    converged = np.empty(B, bool)
    for lo in range(0, B, per_call):
        w = weights[lo:lo + per_call]
        b = w.shape[0]
        lanes = engine.minimize(law, objective, X, y, np.tile(starts, (b, 1)), w,
                                np.repeat(np.arange(b), S), **engine_options)
        fb = lanes.f.reshape(b, S)
        best = np.argmin(fb, axis=1)
        pick = np.arange(b) * S + best
        theta[lo:lo + b], f[lo:lo + b], converged[lo:lo + b] = lanes.x[pick], lanes.f[pick], lanes.converged[pick]
        if progress is not None:
            progress(b)
    return theta, f, converged
