"""The batched fitting engine: many starts (and bootstrap resamples) minimised together.

Every (resample, start) pair is one *lane*: a parameter vector, a row of point weights (all ones
for the fit, multinomial counts for a bootstrap resample) and an L-BFGS state (:mod:`fitters.lbfgs`,
lanes on the last axis).  One ``jax.jit`` call runs a *pool* of K lanes in a ``lax.while_loop``: each
iteration evaluates the objective and its gradient once per lane (``jax.vmap`` of the law over the
lanes), advances every lane's L-BFGS state, and when a few lanes have finished writes their results
out and refills their slots from the queue of lanes still to run.  So every slot does useful work
until the queue is empty - a lane costs what it needs, not what the slowest lane of its batch needs -
and a whole fit is a handful of dispatches.  When the queue is empty and half the pool is idle the
call returns, and the lanes still running continue in a smaller pool (``POOL_SIZES``).  Queue, pool
and weight tables are padded to a few sizes, and the rows to :func:`_bucket` sizes with zero weight,
so only a few shapes compile.

Precision: lanes first run in float32 (twice the SIMD width on CPU, about 4x faster here) and the
lanes ending within ``POLISH_RTOL`` of their problem's best are then polished to convergence in
float64 from where float32 stopped, so reported optima are float64 optima.  The float32 run stops
on the gradient test and on a stalled line search, not on scipy's relative-decrease test: with
objective values far below 1 (1e-3 for Chinchilla) that test's threshold ``ftol * max(|f|, 1)`` lies
at the level of float32 rounding and stopped lanes on slopes that lead to the optimum.  Float64 is
enabled only inside these calls (``jax.enable_x64``), never globally.
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

POOL_SIZES = (128, 16)  # lanes per pool, largest first; a run moves to the next size when few lanes are left
LARGE_ROWS = 4096       # with more rows than this a pool is no wider than the lanes left (see _pool_size)
SHRINK = 0.5            # leave a pool once its queue is empty and at most this fraction of it is busy
SWAP_EVERY = 32         # refill once K / SWAP_EVERY slots (at least one) have finished
POLISH_RTOL = 1e-2      # float64 polishing is spent on lanes within 1 % of their problem's best float32 objective
LOG_BOUND = 700.0       # lanes stay where exp() of every log-coordinate is a finite float64 (exp(709.8) overflows)


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


@functools.lru_cache(maxsize=64)
def _linearised(law: Law, objective: Objective):
    def both(theta, X, y):
        r = functools.partial(residuals, law, objective, X=X, y=y)
        return r(theta), jax.jacfwd(r)(theta)
    return jax.jit(both)


def linearise(law: Law, objective: Objective, theta, X, y) -> tuple[np.ndarray, np.ndarray]:
    """Residuals (n,) and their Jacobian (n, P) at ``theta``, float64, in one compiled call (rows padded
    as in :func:`minimize`, so tables of similar sizes share it)."""
    n = np.asarray(y).shape[0]
    X, y, _ = _padded(X, y, np.ones((1, n)))
    with jax.enable_x64(True):
        r, J = _linearised(law, objective)(np.asarray(theta, np.float64),
                                           {k: np.asarray(v, np.float64) for k, v in X.items()},
                                           np.asarray(y, np.float64))
    return np.asarray(r)[:n], np.asarray(J)[:n]


def value(law: Law, objective: Objective, theta, X, y, w):
    return jnp.sum(w * LOSSES[objective.loss](residuals(law, objective, theta, X, y), objective.delta))


def _pow2(n: int, lo: int = 1) -> int:
    return max(lo, 1 << (int(n) - 1).bit_length())


def _load(queue, rows, memory):
    """Lanes-last states of queue ``rows``: fresh lanes from a (Q, P) array of starts, or rows of a lanes-first State."""
    if isinstance(queue, lbfgs.State):
        return jax.tree_util.tree_map(lambda a: jnp.moveaxis(jnp.take(a, rows, axis=0, mode="clip"), 0, -1), queue)
    return lbfgs.start(jnp.take(queue, rows, axis=0, mode="clip").T, memory)


RESULTS = ("x", "f", "converged", "evals", "s_hist", "y_hist", "rho")   # kept of each finished lane


def _write(res, ids, pool, mask):
    """Results (:data:`RESULTS`) of the ``mask``ed pool lanes into rows ``ids`` of the lanes-first ``res``."""
    tgt = jnp.where(mask, ids, res[1].shape[0])        # out of range: dropped
    return tuple(r.at[tgt].set(jnp.moveaxis(getattr(pool, k), -1, 0), mode="drop") for r, k in zip(res, RESULTS))


def _bounded_value(law: Law, objective: Objective, theta, X, y, w):
    """:func:`value`, infinite where a log-coordinate (the first ``law.n_log``) leaves +-LOG_BOUND.

    On data that do not pin a parameter down (a bootstrap resample of a handful of points) the
    objective can keep decreasing along a ray such as ``log B, beta -> inf``; a lane following it
    would end where its natural parameter overflows float64 (``exp(710) = inf``) and poison every
    interval computed from it.  An infinite objective there makes the line search step back.
    """
    f = value(law, objective, theta, X, y, w)
    return jnp.where(jnp.all(jnp.abs(theta[:law.n_log]) <= LOG_BOUND), f, jnp.inf)


@functools.lru_cache(maxsize=64)
def _compiled(law: Law, objective: Objective, gtol: float, ftol: float, max_evals: int):
    vg_lane = jax.value_and_grad(functools.partial(_bounded_value, law, objective))
    per_lane = jax.vmap(vg_lane, in_axes=(1, None, None, 0), out_axes=(0, 1))    # one weight row per lane
    shared = jax.vmap(vg_lane, in_axes=(1, None, None, None), out_axes=(0, 1))   # one weight row for all

    def pool_run(queue, qid, n_queue, W, lane_w, res, X, y, K: int, shrink: float):
        """Run queued lanes ``0..n_queue-1`` (global ids ``qid``) through a pool of K slots.

        Returns the results table ``res`` with every finished lane written, the pool (lanes-last)
        and each slot's global lane id, -1 where the slot holds no unfinished lane.
        """
        Q = res[1].shape[0]
        memory = lbfgs.MEMORY if not isinstance(queue, lbfgs.State) else queue.s_hist.shape[1]
        one_w = W.shape[0] == 1
        vg = shared if one_w else per_lane
        slot = jnp.arange(K, dtype=jnp.int32)
        ids = jnp.where(slot < n_queue, jnp.take(qid, slot, mode="clip"), Q)
        pool = _load(queue, slot, memory)
        pool = pool._replace(done=pool.done | (ids >= Q))
        w = W[0] if one_w else W[jnp.take(lane_w, ids, mode="clip")]
        p = jnp.minimum(K, n_queue).astype(jnp.int32)
        min_swap = max(1, K // SWAP_EVERY)

        def cond(c):
            pool, ids, w, p, res = c
            busy = jnp.sum(~pool.done)
            return (busy > 0) & ((p < n_queue) | (busy > shrink * K))

        def refill(c):
            pool, ids, w, p, res = c
            fin = pool.done & (ids < Q)
            res = _write(res, ids, pool, fin)
            pos = p + jnp.cumsum(fin, dtype=jnp.int32) - 1
            can = fin & (pos < n_queue)
            new_ids = jnp.where(can, jnp.take(qid, pos, mode="clip"), jnp.where(fin, Q, ids))
            pool = jax.tree_util.tree_map(lambda a, b: jnp.where(can, a, b), _load(queue, pos, memory), pool)
            if not one_w:
                w = jnp.where(can[:, None], W[jnp.take(lane_w, new_ids, mode="clip")], w)
            return pool, new_ids, w, p + jnp.sum(can, dtype=jnp.int32), res

        def body(c):
            pool, ids, w, p, res = c
            f, g = vg(lbfgs.trial(pool), X, y, w)
            pool = lbfgs.advance(pool, f, g, gtol, ftol, max_evals)
            n_fin = jnp.sum(pool.done & (ids < Q))
            return jax.lax.cond((p < n_queue) & (n_fin >= min_swap), refill, lambda c: c, (pool, ids, w, p, res))

        pool, ids, w, p, res = jax.lax.while_loop(cond, body, (pool, ids, w, p, res))
        fin = pool.done & (ids < Q)
        return _write(res, ids, pool, fin), pool, jnp.where(fin | (ids >= Q), -1, ids)

    run = jax.jit(pool_run, static_argnames=("K", "shrink"), donate_argnums=(5,))
    val = jax.jit(jax.vmap(lambda x, X, y, w: value(law, objective, x, X, y, w), in_axes=(0, None, None, 0)))
    return run, val


@dataclass
class Lanes:
    """Result of :func:`minimize`: one row per lane."""
    x: np.ndarray          # (K, P) final fit-space parameters
    f: np.ndarray          # (K,) final objective
    converged: np.ndarray  # (K,) bool: stopped by a convergence test
    evals: np.ndarray      # (K,) objective evaluations used (both precisions)
    exhausted: np.ndarray  # (K,) bool: stopped by the evaluation budget, not converged (else: a stalled search)


def _bucket(n: int) -> int:
    """Rows a table of ``n`` rows is padded to: the next of 64, 96, 128, 192, 256, ... (2^k or 1.5 x 2^k)."""
    k = _pow2(max(n, 64))
    return 3 * k // 4 if n <= 3 * k // 4 else k


def is_rowwise(X: dict, n: int) -> bool:
    """Whether every input of ``X`` (held-fixed values ``_fixed`` aside) holds one value per row of ``n`` rows."""
    return all(np.ndim(v) >= 1 and np.shape(v)[0] == n for k, v in X.items() if k != "_fixed")


def take_rows(X: dict, rows) -> dict:
    """The rows ``rows`` of every per-row input of ``X`` (``_fixed`` kept as is)."""
    return {k: (v if k == "_fixed" else np.asarray(v)[rows]) for k, v in X.items()}


def _padded(X: dict, y: np.ndarray, weights: np.ndarray):
    """``(X, y, weights)`` with the rows padded to :func:`_bucket` rows of zero weight (copies of the last row),
    so tables of similar sizes share compiled code; unchanged when an input is not one value per row."""
    n = np.asarray(y).shape[0]
    m = _bucket(n)
    if m == n or not is_rowwise(X, n):
        return X, y, weights
    rows = np.minimum(np.arange(m), n - 1)             # rows n .. m-1 repeat the last row
    weights = np.concatenate([weights, np.zeros((weights.shape[0], m - n))], axis=1)
    return take_rows(X, rows), np.asarray(y)[rows], weights


def _pool_size(left: int, rows: int) -> int:
    """Slots of the next pool for ``left`` lanes.  Every slot is evaluated each iteration, busy or not; on
    small tables the few ``POOL_SIZES`` keep compilation rare, on tables of more than ``LARGE_ROWS`` rows
    (a loss logged at every step) an idle slot costs more than compiling a narrower pool, so the pool
    shrinks to the next power of two above ``left``."""
    K = next((s for s in POOL_SIZES if s <= left), POOL_SIZES[-1])
    return min(K, _pow2(left)) if rows > LARGE_ROWS else K


def _run(law, objective, X, y, queue, weights, lane_w, dtype, gtol, ftol, max_evals):
    """Minimise every lane of ``queue``: an (n, P) array of starts, or a lanes-first :class:`lbfgs.State`
    of fresh lanes carrying curvature pairs.  Returns the :class:`Lanes` and each lane's pairs
    ``(s_hist, y_hist, rho)``, lanes first."""
    run, _ = _compiled(law, objective, gtol, ftol, max_evals)
    n = queue.x.shape[0] if isinstance(queue, lbfgs.State) else queue.shape[0]
    Q = _pow2(n, POOL_SIZES[0])                       # padded sizes: few shapes to compile

    # Host-side arrays are built in NumPy and moved with device_put: an eager jnp op compiles a kernel of
    # its own the first time it meets a shape, and a fit has dozens of such shapes.
    def pad(a):                                       # rows n..Q-1 repeat row 0 and are never run
        a = np.asarray(a)
        a = np.concatenate([a, np.repeat(a[:1], Q - n, axis=0)]) if Q > n else a
        return np.asarray(a, dtype if a.dtype.kind == "f" else a.dtype)

    queue = jax.tree_util.tree_map(pad, queue)
    qid = np.arange(Q, dtype=np.int32)
    W = np.zeros((_pow2(weights.shape[0]), weights.shape[1]), dtype)
    W[:weights.shape[0]] = weights
    lw = np.zeros(Q, np.int32)
    lw[:n] = lane_w
    Xd = {k: np.asarray(v, dtype) for k, v in X.items()}
    yd = np.asarray(y, dtype)
    x0 = queue.x if isinstance(queue, lbfgs.State) else queue
    P = x0.shape[1]
    M = lbfgs.MEMORY
    res = jax.device_put((x0.copy(), np.full(Q, np.inf, dtype), np.zeros(Q, bool), np.zeros(Q, np.int32),
                          np.zeros((Q, M, P), dtype), np.zeros((Q, M, P), dtype), np.zeros((Q, M), dtype)))
    W, lw, Xd, yd = jax.device_put((W, lw, Xd, yd))
    left = n
    while left:
        K = _pool_size(left, yd.shape[0])
        last = K <= POOL_SIZES[-1]
        res, pool, ids = run(queue, qid, np.int32(left), W, lw, res, Xd, yd, K=K, shrink=0.0 if last else SHRINK)
        ids = np.asarray(ids)
        keep = np.flatnonzero(ids >= 0)
        left = keep.size
        if left:                                        # unfinished lanes queue for a smaller pool
            Qn = _pow2(left, POOL_SIZES[-1])
            rows = np.concatenate([keep, np.full(Qn - left, keep[0])])
            queue = jax.tree_util.tree_map(lambda a: np.moveaxis(np.asarray(a)[..., rows], -1, 0), pool)
            qid = np.concatenate([ids[keep], np.zeros(Qn - left, np.int32)]).astype(np.int32)
    x, f, conv, ev, s_hist, y_hist, rho = (np.array(np.asarray(a)[:n]) for a in res)
    return (Lanes(x=x.astype(float), f=f.astype(float), converged=conv, evals=ev.astype(np.int64),
                  exhausted=~conv & (ev >= max_evals)), (s_hist, y_hist, rho))


_start = jax.jit(lbfgs.start, static_argnames="memory")     # one compiled call, not one per array it builds


def _resume(x, history) -> lbfgs.State:
    """Fresh float64 lanes at ``x`` (n, P), lanes first, carrying the curvature pairs of a float32 run."""
    st = jax.tree_util.tree_map(lambda a: np.moveaxis(np.asarray(a), -1, 0), _start(np.asarray(x.T, np.float64)))
    s_hist, y_hist, rho = (np.asarray(h, np.float64) for h in history)
    return st._replace(s_hist=s_hist, y_hist=y_hist, rho=rho)


def minimize(law: Law, objective: Objective, X: dict, y: np.ndarray, starts: np.ndarray,
             weights: np.ndarray | None = None, lane_weights: np.ndarray | None = None, *,
             gtol: float = 1e-5, ftol: float = 2.2e-9, max_evals: int = 15000,
             mixed_precision: bool = True) -> Lanes:
    """Minimise ``sum_i w_i rho(r_i(theta))`` from every row of ``starts`` (K, P).

    ``weights`` (R, n) holds R weight vectors (default one vector of ones) and ``lane_weights``
    (K,) says which one each lane uses.  Stopping rules follow scipy's L-BFGS-B defaults
    (``gtol`` on the largest gradient component, ``ftol`` on the relative decrease); with
    ``mixed_precision`` the float32 run stops on ``gtol`` and stalled searches only, and the float64
    polish applies both (module docstring).
    """
    starts = np.atleast_2d(np.asarray(starts, float))
    n = np.asarray(y).shape[0]
    weights = np.ones((1, n)) if weights is None else np.atleast_2d(np.asarray(weights, float))
    X, y, weights = _padded(X, y, weights)
    lane_w = np.zeros(starts.shape[0], int) if lane_weights is None else np.asarray(lane_weights, int)
    with jax.enable_x64(True):
        if not mixed_precision:
            return _run(law, objective, X, y, starts, weights, lane_w, jnp.float64, gtol, ftol, max_evals)[0]
        rough, history = _run(law, objective, X, y, starts, weights, lane_w, jnp.float32, gtol, 0.0, max_evals)
        rough.x = np.where(np.all(np.isfinite(rough.x), axis=1)[:, None], rough.x, starts)
        rough.f = np.where(np.isfinite(rough.f), rough.f, np.inf)
        best = np.full(weights.shape[0], np.inf)
        np.minimum.at(best, lane_w, rough.f)
        polish = np.flatnonzero(rough.f <= best[lane_w] * (1 + POLISH_RTOL) + 1e-30)
        # float64 resumes from where float32 stopped, with its curvature pairs (a lane whose float32
        # run failed restarts from its start without them)
        ok = np.isfinite(rough.f[polish])
        history = tuple(np.where(ok.reshape((-1,) + (1,) * (h.ndim - 1)), h[polish], 0) for h in history)
        fine = _run(law, objective, X, y, _resume(rough.x[polish], history), weights, lane_w[polish],
                    jnp.float64, gtol, ftol, max_evals)[0]
        rough.f = evaluate(law, objective, X, y, rough.x, weights[lane_w])
    for name in ("x", "f", "converged", "exhausted"):
        getattr(rough, name)[polish] = getattr(fine, name)
    rough.evals[polish] += fine.evals
    return rough


def evaluate(law: Law, objective: Objective, X: dict, y, thetas, weights=None) -> np.ndarray:
    """Objective (float64) at each row of ``thetas``; ``weights`` is (n,) or one row per theta."""
    thetas = np.atleast_2d(np.asarray(thetas, float))
    n = np.asarray(y).shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    X, y, w = _padded(X, y, np.atleast_2d(w))
    n = np.asarray(y).shape[0]
    _, val = _compiled(law, objective, 1e-5, 2.2e-9, 15000)
    with jax.enable_x64(True):
        Xd = {k: np.asarray(v, np.float64) for k, v in X.items()}
        W = np.broadcast_to(np.asarray(w, np.float64), (thetas.shape[0], n))
        out = np.asarray(val(thetas, Xd, np.asarray(y, np.float64), W))
    return np.where(np.isfinite(out), out, np.inf)
