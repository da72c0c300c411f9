"""The optimal training mixture of a mixture-law fit, under the constraints real corpora have.

``plan(fit, params=N, tokens=D)`` minimises the fit's predicted target loss over the mixtures h
(``sum_j h_j = 1``) within per-domain bounds ``lo_j <= h_j <= hi_j``:

- ``floors={domain: w}``: ``lo_j = w`` (default 0);
- ``caps={domain: w}``: ``hi_j = w`` (default 1);
- ``unique_tokens={domain: U}`` with ``max_epochs=E`` (default 1, no repetition): domain j's tokens
  ``h_j D`` may not exceed ``E U_j``, so ``hi_j <= E U_j / D``.

Every constraint is a bound on one weight, so the feasible set is the simplex cut by a box, and the
Euclidean projection onto it is ``clip(v - tau, lo, hi)`` with the scalar ``tau`` making the sum 1
(found by bisection, then solved exactly on the free coordinates).  The minimiser is the spectral
projected gradient method (Birgin, Martinez & Raydan 2000: Barzilai-Borwein steps, projection,
Armijo backtracking) on ``log L(h)``, run in float64 from many starts at once (``jax.vmap``: the
uniform mixture, each vertex, the best fitted mixture and random ones, all projected) and for every
bootstrap sample of the fit.  Weights may not go below ``LOWER = 1e-12`` inside the solver (the
mixture laws' ``h^gamma`` has an infinite slope at 0 for ``gamma < 1``); weights that end within
``SNAP`` of a bound are set to it exactly, so caps, floors and unique-token limits hold exactly.

With ``flops=C`` and a fit that has N and D terms, N and D come from the foundation's
compute-optimal planner (:func:`scaling.plan.compute_optimal`, C = 6ND) applied to the fitted law
at the mixture; for the joint law (whose N and D terms depend on the mixture) mixture and (N, D)
are optimised in turn until the mixture stops moving.  :func:`mixture_over_compute` tabulates the
optimum over a range of budgets.

The result: ``mixture`` (domain -> weight), ``loss`` and its ``interval`` (over the fit's parameter
samples, at the planned mixture), ``mixture_interval`` (domain -> percentile interval of the
optimal weight over the bootstrap samples, each solved at the planned N and D; None without
bootstrap samples), ``binding`` (the
constraints that hold with equality), ``at_vertex`` / ``at_edge`` (the optimum is a pure domain /
has a domain at weight 0 that no cap forced: a mixture law extrapolates badly there, and a warning
says so), ``loss_uniform`` (the uniform mixture's predicted loss, for comparison).
"""
from __future__ import annotations

import functools
import warnings
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from fitters.mixture import PREFIX, split_inputs
from fitters.predict import predict_many

from .errors import InputError
from .plan import _thetas, compute_optimal, weak_note
from .runs import FLOPS_PER_PARAM_TOKEN
from .result import FitResult, percentile_interval

LOWER = 1e-12           # smallest weight inside the solver (finite slopes of h^gamma)
SNAP = 1e-9             # a weight this close to a bound is set to it
MAX_ITER = 3000         # spectral projected-gradient iterations per start
TOL = 1e-13             # stop when the projected-gradient step moves no weight by more than this
N_RANDOM = 8            # random starts (Dirichlet(1)) besides the uniform mixture, the vertices and the best run
BISECTION = 100         # bisection steps of the projection
MAX_ROUNDS = 20         # alternations of mixture and (N, D) for a joint law under a FLOP budget
SPLIT_SEARCH = np.log(100.0)   # with unique-token caps, N is searched within this (log) of the alternation's


# -- constraints ----------------------------------------------------------------------------------
def bounds(domains, caps=None, floors=None, unique_tokens=None, max_epochs=None, tokens=None):
    """Per-domain (lo, hi) and where each upper bound comes from; infeasible sets are InputErrors."""
    K = len(domains)
    lo, hi, why = np.zeros(K), np.ones(K), [None] * K

    def read(name, mapping, positive=False, upper=1.0):
        if mapping is not None and not isinstance(mapping, Mapping):
            raise InputError(f"{name} takes a mapping domain -> value, e.g. {name}={{{domains[0]!r}: 0.3}}")
        out = {}
        for d, v in dict(mapping or {}).items():
            if d not in domains:
                raise InputError(f"{name}: unknown domain {d!r}; the fit's domains are {list(domains)}")
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise InputError(f"{name}[{d!r}] = {v!r} is not a number") from None
            ok = np.isfinite(v) and (v > 0 if positive else 0 <= v <= upper)
            if not ok:
                raise InputError(f"{name}[{d!r}] = {v}: " + ("give a positive number of tokens" if positive else
                                                             "a mixture weight lies in [0, 1]"))
            out[d] = v
        return out

    for d, v in read("caps", caps).items():
        j = domains.index(d)
        hi[j], why[j] = v, "cap"
    for d, v in read("floors", floors).items():
        lo[domains.index(d)] = v
    if unique_tokens:
        epochs = 1.0 if max_epochs is None else float(max_epochs)
        if not (np.isfinite(epochs) and epochs > 0):
            raise InputError(f"max_epochs={max_epochs}: give a positive number of passes over a domain's unique tokens")
        if tokens is None:
            raise InputError("unique_tokens needs the training tokens D (tokens=, or flops= for a law with N and D terms)")
        for d, u in read("unique_tokens", unique_tokens, positive=True).items():
            j = domains.index(d)
            limit = epochs * u / float(tokens)
            if limit < hi[j]:
                hi[j], why[j] = limit, "unique_tokens"
    elif max_epochs is not None:
        raise InputError("max_epochs limits repetition of a domain's unique tokens: give unique_tokens={domain: T} too")
    bad = np.flatnonzero(lo > hi)
    if bad.size:
        j = bad[0]
        raise InputError(f"domain {domains[j]!r}: floor {lo[j]:g} is above its upper limit {hi[j]:g} ({why[j]}); "
                         f"no mixture satisfies both")
    if lo.sum() > 1 + 1e-12:
        raise InputError(f"the floors sum to {lo.sum():.6g} > 1: no mixture satisfies them; lower some floors")
    if hi.sum() < 1 - 1e-12:
        limits = ", ".join(f"{d} <= {h:.4g} ({w})" for d, h, w in zip(domains, hi, why) if w)
        raise InputError(f"the upper limits sum to {hi.sum():.6g} < 1 ({limits}): no mixture satisfies them; "
                         f"raise a cap, give more unique tokens or allow more epochs")
    return lo, hi, why


def project(v, lo, hi):
    """Euclidean projection of ``v`` onto ``{w: sum w = 1, lo <= w <= hi}`` (feasible bounds)."""
    def total(tau):
        return jnp.sum(jnp.clip(v - tau, lo, hi))

    def step(_, bracket):
        a, b = bracket
        mid = 0.5 * (a + b)
        above = total(mid) > 1.0
        return jnp.where(above, mid, a), jnp.where(above, b, mid)

    a, b = jax.lax.fori_loop(0, BISECTION, step, (jnp.min(v - hi) - 1.0, jnp.max(v - lo) + 1.0))
    tau = 0.5 * (a + b)
    w = jnp.clip(v - tau, lo, hi)
    free = (v - tau > lo) & (v - tau < hi)
    n_free = jnp.sum(free)
    fixed = jnp.sum(jnp.where(free, 0.0, w))
    exact = (jnp.sum(jnp.where(free, v, 0.0)) - (1.0 - fixed)) / jnp.maximum(n_free, 1)
    return jnp.where(free & (n_free > 0), jnp.clip(v - exact, lo, hi), w)


# -- the solver -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _solver(law):
    """jit(vmap) of the spectral projected gradient for ``law``: (thetas, scale, starts, lo, hi) -> (w, f)."""
    domains, scale_cols = split_inputs(law.inputs)

    def objective(theta, scale, w):
        X = {PREFIX + d: w[j][None] for j, d in enumerate(domains)}
        X.update({c: scale[i][None] for i, c in enumerate(scale_cols)})
        return law.log_predict(theta, X)[0]

    def one(theta, scale, w0, lo, hi):
        vg = jax.value_and_grad(lambda w: objective(theta, scale, w))
        w = project(w0, lo, hi)
        f, g = vg(w)
        alpha = 1.0 / jnp.maximum(jnp.max(jnp.abs(g)), 1e-12)

        def cond(c):
            i, w, f, g, alpha, moved = c
            return (i < MAX_ITER) & (moved > TOL)

        def body(c):
            i, w, f, g, alpha, _ = c
            d = project(w - alpha * g, lo, hi) - w
            gd = jnp.dot(g, d)

            def ls_cond(s):
                lam, f_new = s
                return (f_new > f + 1e-4 * lam * gd) & (lam > 1e-20)

            def ls_body(s):
                lam, _ = s
                lam = 0.5 * lam
                return lam, objective(theta, scale, w + lam * d)

            lam, _ = jax.lax.while_loop(ls_cond, ls_body, (1.0, objective(theta, scale, w + d)))
            w_new = project(w + lam * d, lo, hi)
            f_new, g_new = vg(w_new)
            s, y = w_new - w, g_new - g
            sy = jnp.dot(s, y)
            alpha = jnp.where(sy > 0, jnp.clip(jnp.dot(s, s) / jnp.where(sy > 0, sy, 1.0), 1e-12, 1e12), 1e3 * alpha)
            better = f_new <= f
            moved = jnp.max(jnp.abs(project(w - g, lo, hi) - w))
            return (i + 1, jnp.where(better, w_new, w), jnp.where(better, f_new, f), jnp.where(better, g_new, g),
                    alpha, jnp.where(better, moved, 0.0))

        _, w, f, _, _, _ = jax.lax.while_loop(cond, body, (0, w, f, g, alpha, jnp.inf))
        return w, f

    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, None, None)))


def _starts(K, best_run, rng):
    """Solver starts (projected by the solver): the uniform mixture, each vertex, random ones, the best fitted run."""
    rows = [np.full(K, 1.0 / K), *np.eye(K), *rng.dirichlet(np.ones(K), N_RANDOM)]
    if best_run is not None:
        rows.append(best_run)
    return np.asarray(rows, float)


def solve(law, thetas, scale, lo, hi, starts) -> tuple[np.ndarray, np.ndarray]:
    """Best mixture (T, K) and its log loss (T,) for each fit-space theta (T, P) from every start (M, K).

    ``scale`` is (T, k): each theta's params/tokens values, in the law's order.
    """
    thetas = np.atleast_2d(thetas)
    T, M = len(thetas), len(starts)
    lo_s = np.minimum(np.maximum(lo, LOWER), hi)
    with jax.enable_x64(True):
        w, f = _solver(law)(jnp.asarray(np.repeat(thetas, M, axis=0)), jnp.asarray(np.repeat(scale, M, axis=0), jnp.float64),
                            jnp.asarray(np.tile(starts, (T, 1))), jnp.asarray(lo_s), jnp.asarray(hi))
    w, f = np.asarray(w).reshape(T, M, -1), np.asarray(f).reshape(T, M)
    f = np.where(np.isfinite(f), f, np.inf)
    best = np.argmin(f, axis=1)
    return np.array([snap(w[t, best[t]], lo, hi) for t in range(T)]), f[np.arange(T), best]


def snap(w, lo, hi):
    """Weights within ``SNAP`` (or ``LOWER``) of a bound set to it; the free weights absorb the rounding."""
    w = np.array(w, float)
    at_lo = w <= np.maximum(lo, LOWER) + SNAP
    at_hi = w >= hi - SNAP
    w = np.where(at_lo, lo, np.where(at_hi, hi, w))
    free = ~(at_lo | at_hi)
    if free.any():
        w[free] += (1.0 - w.sum()) * w[free] / w[free].sum()
    return w


# -- the planner ----------------------------------------------------------------------------------
def plan_mixture(fit: FitResult, flops=None, params=None, tokens=None, caps=None, floors=None,
                 unique_tokens=None, max_epochs=None, level=None, seed: int = 0) -> dict:
    """The mixture minimising the fit's predicted target loss (module docstring)."""
    domains, scale_cols = split_inputs(fit.law.inputs)
    level = fit.level if level is None else float(level)
    fixed_nd = _fixed_scale(fit)
    out = {"law": fit.law.name, "target": (fit.options.get("law_options") or {}).get("target"), "domains": list(domains)}
    if flops is not None:
        if params is not None or tokens is not None:
            raise InputError("give either flops=C or params=N with tokens=D, not both")
        if scale_cols != ("params", "tokens"):
            raise InputError(f"flops=C plans N and D, but this {fit.law.name} fit has "
                             f"{'no' if not scale_cols else 'only the ' + scale_cols[0]} term in N and D "
                             f"(fitted at {fixed_nd or 'one size'}); give params= and tokens= (--params, --tokens)")
    else:
        missing = [c for c in scale_cols if {"params": params, "tokens": tokens}[c] is None]
        if missing:
            raise InputError(f"this {fit.law.name} fit depends on {list(scale_cols)}: give "
                             + " and ".join(f"{c}= (--{c})" for c in missing) + " (or flops=C, --flops, for both)")
    for name, v in (("params", params), ("tokens", tokens), ("flops", flops)):
        if v is not None and not (np.isfinite(float(v)) and float(v) > 0):
            raise InputError(f"{name}={v}: give a positive number")
    thetas = _thetas(fit)
    rng = np.random.default_rng(seed)
    best_run = _best_run(fit, domains)
    D = tokens if tokens is not None else fixed_nd.get("tokens")
    if flops is not None:
        result = _compute_optimal_mixture(fit, float(flops), thetas, caps, floors, unique_tokens, max_epochs,
                                          best_run, rng, level)
        nd, w, lo, hi, why = result
        out.update(nd)
        N, D = nd["params"], nd["tokens"]
    else:
        N = params
        lo, hi, why = bounds(domains, caps, floors, unique_tokens, max_epochs, D)
        w = solve(fit.law, thetas[:1], _scale_values(scale_cols, N, D, 1), lo, hi,
                  _starts(len(domains), best_run, rng))[0][0]
        out.update({k: v for k, v in (("params", params), ("tokens", tokens)) if v is not None})
    if not scale_cols and (params is not None or tokens is not None):
        out["note"] = (f"this {fit.law.name} fit holds at the (N, D) it was fitted at ({fixed_nd or 'not recorded'}); "
                       f"the given params/tokens only set the unique-token limits")
    loss_point = _loss(fit, w[None, :], scale_cols, N, D)[0]
    out["mixture"] = {d: float(v) for d, v in zip(domains, w)}
    out["loss"] = float(loss_point)
    samples = fit.loss_samples(_design(domains, scale_cols, w[None, :], N, D))
    out["interval"] = None if samples is None else [float(v) for v in fit.interval(samples[:, 0], level, point=loss_point)]
    out["mixture_interval"] = None
    if fit.uncertainty == "bootstrap" and len(thetas) > 1:
        starts = np.vstack([w, np.full(len(domains), 1.0 / len(domains))] + ([best_run] if best_run is not None else []))
        ws = solve(fit.law, thetas[1:], _scale_values(scale_cols, N, D, len(thetas) - 1), lo, hi, starts)[0]
        lo_w, hi_w = percentile_interval(ws, level, point=w)
        out["mixture_interval"] = {d: [float(a), float(b)] for d, a, b in zip(domains, lo_w, hi_w)}
    out["binding"] = _binding(domains, w, lo, hi, why)
    out["at_vertex"] = bool(np.any(w >= 1 - SNAP))
    zero = [d for d, v, h in zip(domains, w, hi) if v <= 0 and h > 0]
    out["at_edge"] = bool(zero) and not out["at_vertex"]
    out["zero_domains"] = zero
    out["loss_uniform"] = float(_loss(fit, np.full((1, len(domains)), 1.0 / len(domains)), scale_cols, N, D)[0])
    out["bounds"] = {d: [float(a), float(b)] for d, a, b in zip(domains, lo, hi)}
    out["level"], out["uncertainty"] = level, fit.uncertainty
    out["weakly_identified"] = fit.weakly_identified()
    if out["at_vertex"] or out["at_edge"]:
        where = "a vertex (one domain only)" if out["at_vertex"] else f"an edge of the simplex ({', '.join(zero)} at 0)"
        warnings.warn(f"the optimal mixture lies on {where}: a mixture law extrapolates badly there - check it with "
                      f"a run near that mixture, or set floors", stacklevel=3)
    return out


def mixture_over_compute(fit: FitResult, flops, **constraints) -> pd.DataFrame:
    """The optimum at each FLOP budget: one row per budget with params, tokens, loss (+ interval) and each weight."""
    rows = []
    for c in np.atleast_1d(np.asarray(flops, float)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = plan_mixture(fit, flops=float(c), **constraints)
        row = {"flops": float(c), "params": p["params"], "tokens": p["tokens"], "loss": p["loss"],
               "loss_lo": (p["interval"] or [np.nan])[0], "loss_hi": (p["interval"] or [np.nan, np.nan])[1]}
        row.update({PREFIX + d: v for d, v in p["mixture"].items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _compute_optimal_mixture(fit, flops, thetas, caps, floors, unique_tokens, max_epochs, best_run, rng, level):
    """Mixture and compute-optimal (N, D) at ``flops``, alternating until the mixture stops moving.

    The alternation uses the point estimate ``thetas[0]`` only; the samples give the intervals of the final (N, D).
    With ``unique_tokens`` the caps depend on D (``h_j D <= max_epochs U_j``), so a fixed point of the
    alternation need not be the joint optimum: log N is then searched (bounded Brent, within a factor
    ``exp(SPLIT_SEARCH)`` of the alternation's N) with the capped mixture re-solved at each split - a smaller
    model trains on more tokens but may take more of a scarce domain; (N, D) intervals are then None.
    """
    domains, _ = split_inputs(fit.law.inputs)
    K = len(domains)
    w = np.full(K, 1.0 / K)
    for _ in range(MAX_ROUNDS):
        nd = compute_optimal(_chinchilla_at(fit, w, thetas[:1]), flops, level)
        lo, hi, why = bounds(domains, caps, floors, unique_tokens, max_epochs, nd["tokens"])
        new = solve(fit.law, thetas[:1], _scale_values(("params", "tokens"), nd["params"], nd["tokens"], 1), lo, hi,
                    _starts(K, best_run, rng))[0][0]
        moved = np.max(np.abs(new - w))
        w = new
        if moved < 1e-9:
            break
    nd = compute_optimal(_chinchilla_at(fit, w, thetas), flops, level)
    keep = {k: nd[k] for k in ("params", "tokens", "tokens_per_param", "params_interval", "tokens_interval", "flops")}
    if not unique_tokens:
        return keep, w, lo, hi, why
    # the caps h_j D <= E U_j loosen as D shrinks: search N with the mixture re-solved at each split
    def log_loss(u):
        n = np.exp(u)
        d = flops / (FLOPS_PER_PARAM_TOKEN * n)
        try:
            lo_u, hi_u, _ = bounds(domains, caps, floors, unique_tokens, max_epochs, d)
        except InputError:                  # no feasible mixture with this many tokens
            return np.inf
        return float(solve(fit.law, thetas[:1], _scale_values(("params", "tokens"), n, d, 1), lo_u, hi_u,
                           _starts(K, best_run, rng))[1][0])

    u0 = np.log(keep["params"])
    u = minimize_scalar(log_loss, bounds=(u0 - SPLIT_SEARCH, u0 + SPLIT_SEARCH), method="bounded",
                        options={"xatol": 1e-4}).x
    if not log_loss(u) < log_loss(u0):
        return keep, w, lo, hi, why
    n = float(np.exp(u))
    d = flops / (FLOPS_PER_PARAM_TOKEN * n)
    lo, hi, why = bounds(domains, caps, floors, unique_tokens, max_epochs, d)
    w = solve(fit.law, thetas[:1], _scale_values(("params", "tokens"), n, d, 1), lo, hi, _starts(K, best_run, rng))[0][0]
    keep = {"params": n, "tokens": d, "tokens_per_param": d / n, "params_interval": None, "tokens_interval": None,
            "flops": flops}
    return keep, w, lo, hi, why


def _chinchilla_at(fit: FitResult, w, thetas) -> FitResult:
    """The fit at mixture ``w`` as a Chinchilla law L = E' + A'/N^alpha + B'/D^beta, for the fit-space
    ``thetas`` (point first, then samples: :func:`scaling.plan._thetas`; the point alone gives no samples).

    E' = the loss at N, D -> inf; A' = (L(N=1, D->inf) - E'), B' likewise; exponents from the fit.
    """
    from fitters import get_law
    domains, scale = split_inputs(fit.law.inputs)
    law = get_law("chinchilla")
    big = 1e300

    e, at_n, at_d = (predict_many(fit.law, thetas, _design(domains, scale, w[None, :], n, d))[:, 0]
                     for n, d in ((big, big), (1.0, big), (big, 1.0)))
    fitted = fit.law.to_natural(thetas)
    nat = np.column_stack([e, at_n - e, at_d - e, fitted[:, fit.law.names.index("alpha")],
                           fitted[:, fit.law.names.index("beta")]])
    params = dict(zip(law.names, map(float, nat[0])))
    return FitResult(law=law, params=params, se={}, ci={}, level=fit.level, uncertainty=fit.uncertainty,
                     samples=nat[1:] if len(nat) > 1 else None)


def _design(domains, scale, W, N, D) -> dict:
    X = {PREFIX + d: W[:, j] for j, d in enumerate(domains)}
    for c in scale:
        X[c] = np.full(len(W), float(N if c == "params" else D))
    return X


def _scale_values(scale, N, D, T):
    return np.tile([float(N if c == "params" else D) for c in scale], (T, 1)).reshape(T, len(scale))


def _loss(fit, W, scale, N, D):
    domains, _ = split_inputs(fit.law.inputs)
    return fit.point_loss(_design(domains, scale, W, N, D))


def _fixed_scale(fit: FitResult) -> dict:
    """The params/tokens every fitted row shared (where the fit's data record them)."""
    out = {}
    if fit.data is not None:
        for c in ("params", "tokens"):
            if c in fit.data.columns and fit.data[c].nunique() == 1:
                out[c] = float(fit.data[c].iloc[0])
    return out


def _best_run(fit: FitResult, domains):
    """The fitted mixture with the lowest loss (a start for the solver), when the fit keeps its data."""
    if fit.data is None or "loss" not in fit.data.columns:
        return None
    cols = [PREFIX + d for d in domains]
    if not set(cols) <= set(fit.data.columns):
        return None
    return fit.data.loc[fit.data["loss"].idxmin(), cols].to_numpy(float)


def _binding(domains, w, lo, hi, why) -> list[dict]:
    """The constraints holding with equality: caps and unique-token limits at their bound, floors above 0 at theirs."""
    out = []
    for j, d in enumerate(domains):
        if why[j] and w[j] >= hi[j] - SNAP:
            out.append({"domain": d, "constraint": why[j], "limit": float(hi[j])})
        if lo[j] > 0 and w[j] <= lo[j] + SNAP:
            out.append({"domain": d, "constraint": "floor", "limit": float(lo[j])})
    return out


def cli_plan(args, fit, emit, pairs) -> None:
    """``scaling plan FIT.json --mixture [--params N --tokens D | --flops C] [--cap D=W] [--floor D=W]
    [--unique-tokens D=T] [--max-epochs E] [--json]``: the planned mixture, one line per domain."""
    from .plan import plan
    if args.loss is not None or args.steps is not None:
        raise InputError("--mixture plans a training mixture; --loss and --steps belong to other planners")
    options = {"params": args.params, "tokens": args.tokens, "max_epochs": args.max_epochs, "level": args.level,
               "caps": pairs(args.cap, "--cap", "DOMAIN=W") or None,
               "floors": pairs(args.floor, "--floor", "DOMAIN=W") or None,
               "unique_tokens": pairs(args.unique_tokens, "--unique-tokens", "DOMAIN=T") or None}
    out = plan(fit, flops=args.flops, **{k: v for k, v in options.items() if v is not None})
    at = ", ".join(f"{k} {out[k]:.4g}" for k in ("params", "tokens", "flops") if out.get(k) is not None)
    lines = [f"optimal mixture from {fit.law.name} (target {out['target']}){', ' + at if at else ''}:"]
    bind = {b["domain"]: b["constraint"] for b in out["binding"]}
    for d, w in out["mixture"].items():
        span = out["mixture_interval"][d] if out["mixture_interval"] else None
        lines.append(f"  {d:<24}{w:>9.4f}" + (f"   [{span[0]:.4f}, {span[1]:.4f}]" if span else "")
                     + (f"   ({bind[d]} binds)" if d in bind else ""))
    span = f"   [{out['interval'][0]:.6g}, {out['interval'][1]:.6g}]" if out["interval"] else ""
    lines.append(f"predicted loss {out['loss']:.6g}{span}   (uniform mixture: {out['loss_uniform']:.6g})")
    if out.get("note"):
        lines.append(f"note: {out['note']}")
    lines += weak_note(out)
    emit(args, out, "\n".join(lines))
