"""A limited-memory BFGS minimiser written as a one-evaluation-per-iteration state machine.

Each iteration of the loop evaluates the objective and its gradient exactly once, at a trial
point ``x + t d``.  If the trial point satisfies the Armijo condition
``f(x + t d) <= f(x) + c1 t g.d`` it is accepted, the curvature pair ``(s, y)`` enters the
history (skipped when ``s.y <= 0``) and a new direction comes from the two-loop recursion
(Nocedal & Wright 2006, *Numerical Optimization*, Algorithm 7.4); otherwise the step is shrunk
by safeguarded quadratic interpolation (ibid. Sec. 3.5) and tried again.

Because every start does the same work per iteration, ``jax.vmap`` of :func:`run` over many
starting points (and bootstrap resamples) keeps all lanes busy: there is no nested line-search
loop whose length differs between lanes.  :func:`init` and :func:`run` are split so a caller can
run a fixed number of iterations, drop the finished lanes and continue with the rest.

The stopping rules follow scipy's L-BFGS-B (``pgtol`` on the largest gradient component and
``factr * eps`` on the relative decrease with ``max(|f|, |f_new|, 1)`` in the denominator), so a
result is comparable to a scipy run from the same start.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

C1 = 1e-4  # Armijo sufficient-decrease constant (Nocedal & Wright, Sec. 3.1)


class State(NamedTuple):
    x: jax.Array        # accepted point (n,)
    f: jax.Array        # objective at x
    g: jax.Array        # gradient at x (n,)
    d: jax.Array        # search direction (n,)
    t: jax.Array        # trial step length
    s_hist: jax.Array   # (m, n) accepted steps, ring buffer
    y_hist: jax.Array   # (m, n) gradient changes, ring buffer
    count: jax.Array    # number of stored pairs (<= m)
    head: jax.Array     # slot the next pair goes to
    evals: jax.Array    # objective evaluations so far
    iters: jax.Array    # accepted steps so far
    done: jax.Array     # converged or stopped
    converged: jax.Array  # stopped by a convergence test (not by the budget or a failed search)


def _two_loop(g, s_hist, y_hist, count, head):
    """Return ``-H g`` with H the L-BFGS inverse-Hessian approximation (Algorithm 7.4)."""
    m = s_hist.shape[0]
    order = (head - 1 - jnp.arange(m)) % m          # newest first
    valid = jnp.arange(m) < count

    def backward(q, i):
        j = order[i]
        s, y = s_hist[j], y_hist[j]
        rho = 1.0 / jnp.where(valid[i], jnp.dot(s, y), 1.0)
        a = jnp.where(valid[i], rho * jnp.dot(s, q), 0.0)
        return q - a * y, (a, rho)

    q, (alphas, rhos) = jax.lax.scan(backward, g, jnp.arange(m))
    newest = order[0]
    sy, yy = jnp.dot(s_hist[newest], y_hist[newest]), jnp.dot(y_hist[newest], y_hist[newest])
    gamma = jnp.where(count > 0, sy / jnp.where(yy > 0, yy, 1.0), 1.0)
    r = gamma * q

    def forward(r, i):
        j = order[i]
        b = rhos[i] * jnp.dot(y_hist[j], r)
        return r + jnp.where(valid[i], alphas[i] - b, 0.0) * s_hist[j], None

    r, _ = jax.lax.scan(forward, r, jnp.arange(m)[::-1])
    return -r


def init(value_and_grad: Callable, x0, *args, memory: int = 10) -> State:
    """Start state at ``x0``: one evaluation, steepest-descent direction, step ``min(1, 1/|g|)``."""
    f, g = value_and_grad(x0, *args)
    n = x0.shape[0]
    gnorm = jnp.linalg.norm(g)
    finite = jnp.isfinite(f) & jnp.all(jnp.isfinite(g))
    return State(
        x=x0, f=f, g=g, d=-g, t=jnp.minimum(1.0, 1.0 / jnp.maximum(gnorm, 1e-300)),
        s_hist=jnp.zeros((memory, n), x0.dtype), y_hist=jnp.zeros((memory, n), x0.dtype),
        count=jnp.array(0), head=jnp.array(0), evals=jnp.array(1), iters=jnp.array(0),
        done=~finite | (jnp.max(jnp.abs(g)) <= 0.0), converged=finite & (jnp.max(jnp.abs(g)) <= 0.0),
    )


def _step(value_and_grad, args, gtol, ftol, max_evals, st: State) -> State:
    x_try = st.x + st.t * st.d
    f_try, g_try = value_and_grad(x_try, *args)
    gtd = jnp.dot(st.g, st.d)
    ok = jnp.isfinite(f_try) & jnp.all(jnp.isfinite(g_try)) & (f_try <= st.f + C1 * st.t * gtd)

    # accepted: store the curvature pair and compute the next direction
    s, y = x_try - st.x, g_try - st.g
    sy = jnp.dot(s, y)
    store = ok & (sy > 1e-10 * jnp.dot(y, y))
    s_hist = jnp.where(store, st.s_hist.at[st.head].set(s), st.s_hist)
    y_hist = jnp.where(store, st.y_hist.at[st.head].set(y), st.y_hist)
    count = jnp.where(store, jnp.minimum(st.count + 1, st.s_hist.shape[0]), st.count)
    head = jnp.where(store, (st.head + 1) % st.s_hist.shape[0], st.head)
    d_new = _two_loop(g_try, s_hist, y_hist, count, head)
    d_new = jnp.where(jnp.dot(d_new, g_try) < 0, d_new, -g_try)   # not a descent direction: reset
    t_new = jnp.where(count > 0, 1.0, jnp.minimum(1.0, 1.0 / jnp.maximum(jnp.linalg.norm(g_try), 1e-300)))
    small_g = jnp.max(jnp.abs(g_try)) <= gtol
    small_df = (st.f - f_try) <= ftol * jnp.maximum(jnp.maximum(jnp.abs(st.f), jnp.abs(f_try)), 1.0)
    conv_ok = small_g | small_df

    # rejected: shrink the step by safeguarded quadratic interpolation
    denom = 2.0 * (f_try - st.f - gtd * st.t)
    t_quad = jnp.where(jnp.isfinite(f_try) & (denom > 0), -gtd * st.t ** 2 / denom, 0.1 * st.t)
    t_back = jnp.clip(t_quad, 0.1 * st.t, 0.5 * st.t)
    search_failed = t_back * jnp.max(jnp.abs(st.d)) < 1e-16 * (1.0 + jnp.max(jnp.abs(st.x)))

    evals = st.evals + 1
    out_of_budget = evals >= max_evals
    keep = st.done
    new = State(
        x=jnp.where(ok, x_try, st.x), f=jnp.where(ok, f_try, st.f), g=jnp.where(ok, g_try, st.g),
        d=jnp.where(ok, d_new, st.d), t=jnp.where(ok, t_new, t_back),
        s_hist=s_hist, y_hist=y_hist, count=count, head=head, evals=evals,
        iters=st.iters + ok.astype(st.iters.dtype),
        done=(ok & conv_ok) | (~ok & search_failed) | out_of_budget,
        converged=(ok & conv_ok) | (~ok & search_failed & (jnp.max(jnp.abs(st.g)) <= 1e3 * gtol)),
    )
    return jax.tree_util.tree_map(lambda old, nw: jnp.where(keep, old, nw), st, new)


def run(value_and_grad: Callable, state: State, *args, n_evals: int, gtol: float = 1e-5,
        ftol: float = 2.2e-9, max_evals: int = 15000) -> State:
    """Advance ``state`` by up to ``n_evals`` evaluations (fewer once it is done)."""
    def cond(carry):
        i, st = carry
        return (i < n_evals) & ~st.done

    def body(carry):
        i, st = carry
        return i + 1, _step(value_and_grad, args, gtol, ftol, max_evals, st)

    return jax.lax.while_loop(cond, body, (jnp.array(0), state))[1]
