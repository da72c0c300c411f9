"""Limited-memory BFGS for many lanes at once, written as a one-evaluation-per-iteration state machine.

Every array of a :class:`State` holds all lanes on its *last* axis (``x`` is ``(P, K)``), so one call of
:func:`advance` moves K independent minimisations forward with whole-array operations (no ``vmap``
of the optimiser; only the objective is mapped over lanes).  Each iteration evaluates the objective
and its gradient exactly once per lane, at :func:`trial` - the start point for a lane that has not
been evaluated yet, ``x + t d`` otherwise - and :func:`advance` digests that evaluation:

- a *fresh* lane takes it as its first point: steepest descent, step ``min(1, 1/|g|)``;
- a running lane is in a line search along ``d`` for a step meeting the strong Wolfe conditions
  ``f(x + t d) <= f(x) + c1 t g.d`` and ``|g(x + t d).d| <= c2 |g.d|`` (c1 = 1e-4, c2 = 0.9;
  Nocedal & Wright 2006, *Numerical Optimization*, Sec. 3.1).  The search brackets a minimiser and
  shrinks the bracket by safeguarded cubic interpolation, extrapolating (up to 4x) while the slope is
  still steep (ibid. Algorithms 3.5 and 3.6; the safeguards follow More & Thuente 1994).  An
  accepted step stores the curvature pair ``(s, y)`` (always ``s.y > 0`` under the Wolfe conditions)
  and the next direction comes from the two-loop recursion (ibid. Algorithm 7.4).

A curvature condition matters here: with Armijo backtracking alone, the steps L-BFGS accepted on the
Chinchilla objective were too short to learn the curvature along its flat valleys, and some starts
took thousands of evaluations where scipy's L-BFGS-B (also a Wolfe search) takes a hundred.

Stopping rules follow scipy's L-BFGS-B (``pgtol`` on the largest gradient component, ``factr * eps``
on the relative decrease with ``max(|f|, |f_new|, 1)`` in the denominator), so a result is
comparable to a scipy run from the same start.  A line search also stops - the lane is *done*, and
*converged* when its gradient is small - when the bracket is below the resolution of ``x`` or when
the objective values it compares agree to a few units of rounding of the working precision (in
float32 that is where a search stops making measurable progress).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

C1 = 1e-4           # sufficient decrease (Armijo)
C2 = 0.9            # curvature (strong Wolfe), as in scipy's L-BFGS-B
LS_MAX = 20         # evaluations in one line search before it settles for its best point so far
EXTRAP = 4.0        # largest extrapolation factor of the bracketing phase
NOISE_ULPS = 4.0    # a search whose objective values agree to this many units of rounding has stalled
MEMORY = 10         # stored curvature pairs (scipy's default maxcor)


class State(NamedTuple):
    """L-BFGS state of K lanes; (P, K) arrays are vectors, (K,) arrays one number per lane."""
    x: jax.Array          # (P, K) accepted point (the start while ``fresh``)
    f: jax.Array          # objective at x
    g: jax.Array          # (P, K) gradient at x
    d: jax.Array          # (P, K) search direction
    gtd: jax.Array        # g.d, negative
    t: jax.Array          # step of the next trial point x + t d
    lo_t: jax.Array       # best step of this line search so far (0: x itself) ...
    lo_f: jax.Array       # ... its objective,
    lo_dg: jax.Array      # ... its slope g(x + lo_t d).d
    lo_g: jax.Array       # (P, K) ... and its gradient
    hi_t: jax.Array       # other end of the bracket, once ``bracketed``
    hi_f: jax.Array
    hi_dg: jax.Array
    bracketed: jax.Array  # a minimiser along d is known to lie between lo_t and hi_t
    ls_n: jax.Array       # evaluations spent in this line search
    s_hist: jax.Array     # (M, P, K) accepted steps, oldest first
    y_hist: jax.Array     # (M, P, K) gradient changes, oldest first
    rho: jax.Array        # (M, K) 1 / s.y of each stored pair, 0 for an empty slot
    evals: jax.Array      # objective evaluations so far
    iters: jax.Array      # accepted steps so far
    fresh: jax.Array      # not evaluated yet
    done: jax.Array       # stopped: converged, search failed or out of budget
    converged: jax.Array  # stopped by a convergence test


def start(x0, memory: int = MEMORY) -> State:
    """Fresh lanes at the columns of ``x0`` (P, K); nothing is evaluated until :func:`advance`."""
    x0 = jnp.asarray(x0)
    P, K = x0.shape
    z = jnp.zeros((K,), x0.dtype)
    zp = jnp.zeros((P, K), x0.dtype)
    zi = jnp.zeros((K,), jnp.int32)
    no = jnp.zeros((K,), bool)
    return State(x=x0, f=z, g=zp, d=zp, gtd=z, t=z, lo_t=z, lo_f=z, lo_dg=z, lo_g=zp, hi_t=z, hi_f=z, hi_dg=z,
                 bracketed=no, ls_n=zi, s_hist=jnp.zeros((memory, P, K), x0.dtype),
                 y_hist=jnp.zeros((memory, P, K), x0.dtype), rho=jnp.zeros((memory, K), x0.dtype),
                 evals=zi, iters=zi, fresh=~no, done=no, converged=no)


def trial(st: State):
    """Where each lane evaluates next: its start while fresh, else ``x + t d``."""
    return jnp.where(st.fresh, st.x, st.x + st.t * st.d)


def _dot(a, b):
    return jnp.sum(a * b, axis=0)


def _two_loop(g, s_hist, y_hist, rho, gamma):
    """``-H g`` with H the L-BFGS inverse-Hessian approximation (Algorithm 7.4).

    A ``lax.scan`` over the stored pairs, not an unrolled loop: unrolled, XLA fused the chain of
    dot products into kernels that recomputed it (twice as slow here) and compiled slower.
    Empty slots have ``rho = 0`` and zero vectors, so they contribute nothing.
    """
    def newest_first(q, pair):
        s, y, r = pair
        a = r * _dot(s, q)
        return q - a * y, a

    q, alphas = jax.lax.scan(newest_first, g, (s_hist, y_hist, rho), reverse=True)

    def oldest_first(r, pair):
        s, y, rh, a = pair
        return r + (a - rh * _dot(y, r)) * s, None

    r, _ = jax.lax.scan(oldest_first, gamma * q, (s_hist, y_hist, rho, alphas))
    return -r


def _cubic_min(t0, f0, d0, t1, f1, d1):
    """Minimiser of the cubic through (t0, f0, slope d0) and (t1, f1, slope d1) (N&W eq. 3.59); nan if none."""
    dt = jnp.where(t0 == t1, 1.0, t0 - t1)
    z1 = d0 + d1 - 3.0 * (f0 - f1) / dt
    disc = z1 * z1 - d0 * d1
    z2 = jnp.sign(t1 - t0) * jnp.sqrt(jnp.where(disc >= 0, disc, jnp.nan))
    den = d1 - d0 + 2.0 * z2
    return t1 - (t1 - t0) * (d1 + z2 - z1) / jnp.where(den == 0, jnp.nan, den)


def advance(st: State, f_try, g_try, gtol: float, ftol: float, max_evals: int) -> State:
    """Digest the evaluation ``f_try`` (K,), ``g_try`` (P, K) at :func:`trial` (st); done lanes stay as they are."""
    eps = jnp.finfo(st.x.dtype).eps
    finite = jnp.isfinite(f_try) & jnp.all(jnp.isfinite(g_try), axis=0)
    gg_try = _dot(g_try, g_try)
    gmax_try = jnp.max(jnp.abs(g_try), axis=0)
    z = jnp.zeros_like(st.t)

    # running lanes: the evaluation was at x + t d
    dg = _dot(g_try, st.d)
    armijo = finite & (f_try <= st.f + C1 * st.t * st.gtd)
    lower = armijo & (f_try < st.lo_f)                 # the best point of this search so far
    wolfe = armijo & (jnp.abs(dg) <= -C2 * st.gtd)
    ls_n = st.ls_n + 1
    give_up = ~wolfe & (ls_n >= LS_MAX)
    ok = wolfe | (give_up & (st.lo_t > 0))             # accept the trial, or settle for the best point
    x_acc = st.x + jnp.where(wolfe, st.t, st.lo_t) * st.d
    f_acc = jnp.where(wolfe, f_try, st.lo_f)
    g_acc = jnp.where(wolfe, g_try, st.lo_g)
    g_acc = jnp.where(st.fresh, g_try, g_acc)           # a fresh lane's next direction starts from its start

    # accepted: store the curvature pair, next direction, convergence tests
    s, y = x_acc - st.x, g_acc - st.g
    sy = _dot(s, y)
    store = ok & ~st.fresh & (sy > 1e-10 * _dot(y, y))
    shift = lambda hist, new: jnp.where(store, jnp.concatenate([hist[1:], new[None]]), hist)
    s_hist, y_hist = shift(st.s_hist, s), shift(st.y_hist, y)
    rho = shift(st.rho, 1.0 / jnp.where(store, sy, 1.0))
    has = rho[-1] != 0
    yy = _dot(y_hist[-1], y_hist[-1])
    gamma = jnp.where(has, 1.0 / (jnp.where(has, rho[-1], 1.0) * jnp.where(yy > 0, yy, 1.0)), 1.0)  # s.y / y.y
    d_new = _two_loop(g_acc, s_hist, y_hist, rho, gamma)
    gtd_new = _dot(d_new, g_acc)
    gg = _dot(g_acc, g_acc)
    descent = gtd_new < 0
    d_new = jnp.where(descent, d_new, -g_acc)          # not a descent direction: restart along -g
    gtd_new = jnp.where(descent, gtd_new, -gg)
    t_new = jnp.where(has, 1.0, jnp.minimum(1.0, 1.0 / jnp.sqrt(jnp.maximum(gg, 1e-30))))
    small_g = jnp.max(jnp.abs(g_acc), axis=0) <= gtol
    small_df = (st.f - f_acc) <= ftol * jnp.maximum(jnp.maximum(jnp.abs(st.f), jnp.abs(f_acc)), 1.0)

    # not accepted: update the bracket and choose the next trial step
    too_far = ~lower                                   # no sufficient decrease: a minimiser lies in [lo, t]
    overshot = lower & (dg >= 0)                       # lower, slope turned positive: in [lo_old, t]
    hi_t = jnp.where(too_far, st.t, jnp.where(overshot, st.lo_t, st.hi_t))
    hi_f = jnp.where(too_far, jnp.where(finite, f_try, jnp.inf), jnp.where(overshot, st.lo_f, st.hi_f))
    hi_dg = jnp.where(too_far, jnp.where(finite, dg, 0.0), jnp.where(overshot, st.lo_dg, st.hi_dg))
    bracketed = st.bracketed | too_far | overshot
    lo_t = jnp.where(lower, st.t, st.lo_t)
    lo_f = jnp.where(lower, f_try, st.lo_f)
    lo_dg = jnp.where(lower, dg, st.lo_dg)
    lo_g = jnp.where(lower, g_try, st.lo_g)
    a, b = jnp.minimum(lo_t, hi_t), jnp.maximum(lo_t, hi_t)
    width = b - a
    t_cub = _cubic_min(lo_t, lo_f, lo_dg, hi_t, hi_f, hi_dg)
    t_in = jnp.where(jnp.isfinite(t_cub), jnp.clip(t_cub, a + 0.1 * width, b - 0.1 * width),
                     jnp.where(jnp.isfinite(hi_f), 0.5 * (a + b), lo_t + 0.1 * (hi_t - lo_t)))
    span = st.t - st.lo_t
    t_ext = _cubic_min(st.lo_t, st.lo_f, st.lo_dg, st.t, f_try, dg)
    t_out = jnp.where(jnp.isfinite(t_ext), jnp.clip(t_ext, st.t + 1.1 * span, st.t + EXTRAP * span),
                      st.t + EXTRAP * span)
    noise = NOISE_ULPS * eps * jnp.abs(st.f)
    stalled = bracketed & ((width * jnp.max(jnp.abs(st.d), axis=0) < 1e-16 * (1.0 + jnp.max(jnp.abs(st.x), axis=0)))
                           | ((jnp.abs(hi_f - lo_f) <= noise) & (jnp.abs(st.f - lo_f) <= noise)))
    failed = ~ok & (give_up | stalled)

    running = State(
        x=jnp.where(ok, x_acc, st.x), f=jnp.where(ok, f_acc, st.f), g=jnp.where(ok, g_acc, st.g),
        d=jnp.where(ok, d_new, st.d), gtd=jnp.where(ok, gtd_new, st.gtd),
        t=jnp.where(ok, t_new, jnp.where(bracketed, t_in, t_out)),
        lo_t=jnp.where(ok, z, lo_t), lo_f=jnp.where(ok, f_acc, lo_f), lo_dg=jnp.where(ok, gtd_new, lo_dg),
        lo_g=jnp.where(ok, g_acc, lo_g), hi_t=jnp.where(ok, z, hi_t), hi_f=jnp.where(ok, z, hi_f),
        hi_dg=jnp.where(ok, z, hi_dg), bracketed=bracketed & ~ok, ls_n=jnp.where(ok, 0, ls_n),
        s_hist=s_hist, y_hist=y_hist, rho=rho, evals=st.evals, iters=st.iters + ok.astype(st.iters.dtype),
        fresh=st.fresh, done=(ok & (small_g | small_df)) | failed,
        converged=(ok & (small_g | small_df)) | (failed & (jnp.max(jnp.abs(st.g), axis=0) <= 1e3 * gtol)),
    )
    # fresh lanes: the evaluation was at the start.  Without stored pairs they go down the gradient
    # with step min(1, 1/|g|); a lane resumed with its history (the float64 polish of a float32 run)
    # takes the quasi-Newton direction with step 1 at once.
    first = st._replace(
        f=f_try, g=g_try, d=d_new, gtd=gtd_new, t=t_new, lo_t=z, lo_f=f_try, lo_dg=gtd_new, lo_g=g_try,
        hi_t=z, hi_f=z, hi_dg=z, bracketed=jnp.zeros_like(st.bracketed), ls_n=jnp.zeros_like(st.ls_n),
        fresh=jnp.zeros_like(st.fresh), done=~finite | (gmax_try <= gtol), converged=finite & (gmax_try <= gtol))
    new = jax.tree_util.tree_map(lambda a0, a1: jnp.where(st.fresh, a0, a1), first, running)
    new = new._replace(evals=st.evals + 1)
    new = new._replace(done=new.done | (new.evals >= max_evals))
    return jax.tree_util.tree_map(lambda old, nw: jnp.where(st.done, old, nw), st, new)
