"""The batched fitting engine: many starts (and bootstrap resamples) minimised together.

Every (resample, start) pair is one *lane*: a parameter vector, a row of point weights
(all ones for the fit, multinomial counts for a bootstrap resample) and an L-BFGS state
(:mod:`fitters.lbfgs`).  Lanes advance together under ``jax.vmap`` inside one ``jax.jit`` call
for ``ROUND_EVALS`` evaluations; between rounds the finished lanes are dropped and the rest are
packed into dispatches of at most ``MAX_BUCKET`` lanes, each padded to a power of two (so only a
handful of shapes ever compile).
Every lane therefore costs what it needs, not what the slowest lane needs.

Precision: lanes first run in float32 (twice the SIMD width on CPU, 4x faster here) and are
then polished to convergence in float64 from where float32 stopped, so reported optima are
float64 optima.  float64 is enabled only inside these calls (``jax.enable_x64``), never globally.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from . import lbfgs
from .law import Law
from .objectives import HUBER_DELTA, LOSSES, SPACES

ROUND_EVALS = 24      # evaluations per lane per dispatch
MIN_BUCKET = 8
MAX_BUCKET = 1024     # lanes per dispatch; larger sets run as several dispatches
POLISH_RTOL = 1e-2    # float64 polishing is spent on lanes within 1 % of their problem's best float32 objective


@dataclass(frozen=True)
class Objective:
    """Which residual and which loss: ``sum_i w_i rho(r_i)``."""
    loss: str = "huber"
    space: str = "log"
    delta: float = HUBER_DELTA

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {sorted(LOSSES)}")
        if self.space not in SPACES:
            raise ValueError(f"unknown residual space {self.space!r}; choose one of {SPACES}")
        if not self.delta > 0:
            raise ValueError(f"Huber delta must be positive, got {self.delta}")


def residuals(law: Law, objective: Objective, theta, X, y):
    """Residuals of ``law`` at ``theta`` against responses ``y``, in the objective's space."""
    log_pred = law.log_predict(theta, X)
    if objective.space == "log":
        return log_pred - jnp.log(y)
    return jnp.exp(log_pred) - y


def value(law: Law, objective: Objective, theta, X, y, w):
    return jnp.sum(w * LOSSES[objective.loss](residuals(law, objective, theta, X, y), objective.delta))


@functools.lru_cache(maxsize=64)
def _compiled(law: Law, objective: Objective, gtol: float, ftol: float, max_evals: int):
    vg = jax.value_and_grad(functools.partial(value, law, objective))
    lanes = (0, None, None, 0)
    init = jax.jit(jax.vmap(lambda x0, X, y, w: lbfgs.init(vg, x0, X, y, w), in_axes=lanes))
    step = jax.jit(jax.vmap(
        lambda st, X, y, w: lbfgs.run(vg, st, X, y, w, n_evals=ROUND_EVALS, gtol=gtol, ftol=ftol, max_evals=max_evals),
        in_axes=lanes))
    val = jax.jit(jax.vmap(lambda x, X, y, w: value(law, objective, x, X, y, w), in_axes=lanes))
    return init, step, val


def _batches(idx: np.ndarray):
    """Split lane indices into dispatches of at most MAX_BUCKET lanes, each padded to a power of two."""
    for lo in range(0, idx.size, MAX_BUCKET):
        part = idx[lo:lo + MAX_BUCKET]
        size = max(MIN_BUCKET, 1 << (int(part.size) - 1).bit_length())
        yield part, np.concatenate([part, np.full(size - part.size, part[-1])])


@dataclass
class Lanes:
    """Result of :func:`minimize`: one row per lane."""
    x: np.ndarray          # (K, P) final fit-space parameters
    f: np.ndarray          # (K,) final objective
    converged: np.ndarray  # (K,) bool: stopped by a convergence test
    evals: np.ndarray      # (K,) objective evaluations used (both precisions)


def _run(law, objective, X, y, starts, weights, lane_w, dtype, gtol, ftol, max_evals) -> Lanes:
    init, step, _ = _compiled(law, objective, gtol, ftol, max_evals)
    Xd = {k: jnp.asarray(v, dtype) for k, v in X.items()}
    yd = jnp.asarray(y, dtype)
    wd = jnp.asarray(weights, dtype)
    K = starts.shape[0]
    out = None
    active = np.arange(K)
    while active.size:
        for part, idx in _batches(active):
            w = wd[lane_w[idx]]
            if out is None or not out.evals[part[0]]:
                st = init(jnp.asarray(starts[idx], dtype), Xd, yd, w)
            else:
                st = jax.tree_util.tree_map(lambda a: jnp.asarray(a[idx]), out)
            st = jax.tree_util.tree_map(np.asarray, step(st, Xd, yd, w))
            if out is None:
                out = jax.tree_util.tree_map(lambda a: np.zeros((K,) + a.shape[1:], a.dtype), st)
            for name, a in zip(out._fields, out):
                a[part] = getattr(st, name)[:part.size]
        active = active[~out.done[active]]
    return Lanes(x=out.x.astype(float), f=out.f.astype(float), converged=out.converged, evals=out.evals)


def minimize(law: Law, objective: Objective, X: dict, y: np.ndarray, starts: np.ndarray,
             weights: np.ndarray | None = None, lane_weights: np.ndarray | None = None, *,
             gtol: float = 1e-5, ftol: float = 2.2e-9, max_evals: int = 15000,
             mixed_precision: bool = True) -> Lanes:
    """Minimise ``sum_i w_i rho(r_i(theta))`` from every row of ``starts`` (K, P).

    ``weights`` (R, n) holds R weight vectors (default one vector of ones) and ``lane_weights``
    (K,) says which one each lane uses.  Stopping rules follow scipy's L-BFGS-B defaults
    (``gtol`` on the largest gradient component, ``ftol`` on the relative decrease).
    """
    starts = np.atleast_2d(np.asarray(starts, float))
    n = np.asarray(y).shape[0]
    weights = np.ones((1, n)) if weights is None else np.atleast_2d(np.asarray(weights, float))
    lane_w = np.zeros(starts.shape[0], int) if lane_weights is None else np.asarray(lane_weights, int)
    with jax.enable_x64(True):
        if not mixed_precision:
            return _run(law, objective, X, y, starts, weights, lane_w, jnp.float64, gtol, ftol, max_evals)
        rough = _run(law, objective, X, y, starts, weights, lane_w, jnp.float32, gtol, ftol, max_evals)
        rough.x = np.where(np.all(np.isfinite(rough.x), axis=1)[:, None], rough.x, starts)
        rough.f = np.where(np.isfinite(rough.f), rough.f, np.inf)
        best = np.full(weights.shape[0], np.inf)
        np.minimum.at(best, lane_w, rough.f)
        polish = np.flatnonzero(rough.f <= best[lane_w] * (1 + POLISH_RTOL) + 1e-30)
        fine = _run(law, objective, X, y, rough.x[polish], weights, lane_w[polish], jnp.float64, gtol, ftol, max_evals)
        rough.f = evaluate(law, objective, X, y, rough.x, weights[lane_w])
    for name in ("x", "f", "converged"):
        getattr(rough, name)[polish] = getattr(fine, name)
    rough.evals[polish] += fine.evals
    return rough


def evaluate(law: Law, objective: Objective, X: dict, y, thetas, weights=None) -> np.ndarray:
    """Objective (float64) at each row of ``thetas``; ``weights`` is (n,) or one row per theta."""
    thetas = np.atleast_2d(np.asarray(thetas, float))
    n = np.asarray(y).shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    _, _, val = _compiled(law, objective, 1e-5, 2.2e-9, 15000)
    with jax.enable_x64(True):
        Xd = {k: jnp.asarray(v, jnp.float64) for k, v in X.items()}
        W = jnp.broadcast_to(jnp.asarray(w, jnp.float64), (thetas.shape[0], n))
        out = np.asarray(val(jnp.asarray(thetas), Xd, jnp.asarray(y, jnp.float64), W))
    return np.where(np.isfinite(out), out, np.inf)
