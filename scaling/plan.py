"""Compute planners for laws of (params, tokens): plain numbers with intervals.

- Compute-optimal allocation (Hoffmann et al. 2022, Sec. 3): for a FLOP budget C = 6 N D,
  minimise L(N, C / (6N)) over N.  For Chinchilla this has the closed form
  N_opt = G (C/6)^(beta/(alpha+beta)); here it is found numerically, so any law of (N, D) plans.
- Inference-aware sizing (Sardana et al. 2024, "Beyond Chinchilla-Optimal", Sec. 2): reach a
  target loss at the least total cost 6 N D_train + 2 N D_inference, i.e. minimise over N with
  D_train(N) solving L(N, D_train) = target.

Each optimum is found for the point estimate and for every parameter sample of the fit
(bootstrap or asymptotic); intervals are the percentile intervals over the samples.  The search
is a coarse grid in log N over every sample at once, then a fine grid inside each sample's
bracket, then a parabola through the three best fine points.
"""
from __future__ import annotations

import numpy as np

from fitters.predict import predict_paired

from .errors import InputError
from .result import FitResult, check_level, percentile_interval
from .runs import FLOPS_PER_PARAM_TOKEN

COARSE, FINE = 801, 201
PARAMS_RANGE = (1e4, 1e16)             # where the inference-aware search looks
BISECTION_STEPS = 80


def _argmin_log(cost, lo: float, hi: float, S: int):
    """Minimise ``cost(u)`` ((S, k) -> (S, k)) over u in [lo, hi] per row; returns (u*, at_edge)."""
    u = np.broadcast_to(np.linspace(lo, hi, COARSE), (S, COARSE))
    i = np.argmin(cost(u), axis=1)
    step = (hi - lo) / (COARSE - 1)
    at_edge = (i == 0) | (i == COARSE - 1)
    centre = lo + i * step
    v = centre[:, None] + np.linspace(-step, step, FINE)[None, :]
    c = cost(v)
    j = np.clip(np.argmin(c, axis=1), 1, FINE - 2)
    rows = np.arange(S)
    c0, c1, c2 = c[rows, j - 1], c[rows, j], c[rows, j + 1]
    h = v[0, 1] - v[0, 0]
    with np.errstate(invalid="ignore"):     # inf - inf beside a sample's unreachable points: no parabola, no shift
        denom = c0 - 2 * c1 + c2
        shift = np.where(np.abs(denom) > 0, 0.5 * h * (c0 - c2) / np.where(denom == 0, 1, denom), 0.0)
    shift = np.where(np.isfinite(shift), shift, 0.0)
    return v[rows, j] + np.clip(shift, -h, h), at_edge


def _require_nd(fit: FitResult) -> None:
    if tuple(fit.law.inputs) != ("params", "tokens"):
        raise InputError(f"law {fit.law.name!r} is a law of {fit.law.inputs}; the compute planner needs a law of (params, tokens)")


def _thetas(fit: FitResult) -> np.ndarray:
    """Point estimate first, then the samples (fit space)."""
    point = fit.law.theta_from_dict(fit.params)[None, :]
    if fit.samples is None or len(fit.samples) == 0:
        return point
    return np.vstack([point, fit.law.from_natural(fit.samples)])


def _summarise(fit: FitResult, values: dict, level: float | None) -> dict:
    """Point values plus ``NAME_interval`` from the samples (None without samples)."""
    level = fit.level if level is None else level
    out = {}
    for k, v in values.items():
        out[k] = float(v[0])
        if len(v) > 1:
            out[f"{k}_interval"] = [float(e) for e in percentile_interval(v[1:], level, point=v[0])]
        else:
            out[f"{k}_interval"] = None
    out["level"] = level
    out["uncertainty"] = fit.uncertainty
    out["weakly_identified"] = fit.weakly_identified()   # parameters behind wide intervals (FitResult.summary)
    return out


def weak_note(out: dict) -> list[str]:
    """The text line a plan gets when its intervals rest on loosely identified parameters (``weakly_identified``)."""
    weak = out.get("weakly_identified")
    return [f"  (wide intervals: the data pin down {', '.join(weak)} only loosely; see the fit's summary)"] if weak else []


def compute_optimal(fit: FitResult, flops: float, level: float | None = None) -> dict:
    """Compute-optimal params, tokens, loss and tokens per parameter for a budget of ``flops`` (C = 6ND)."""
    _require_nd(fit)
    flops = float(flops)
    if not np.isfinite(flops) or flops <= 0:
        raise InputError(f"flops={flops}: a FLOP budget is a positive number, e.g. 1e23")
    thetas = _thetas(fit)
    log_c6 = np.log(flops / FLOPS_PER_PARAM_TOKEN)

    def loss_at(u):
        n = np.exp(u)
        return predict_paired(fit.law, thetas, {"params": n, "tokens": np.exp(log_c6 - u)})

    if log_c6 <= 0:
        raise InputError(f"flops={flops:g}: below {FLOPS_PER_PARAM_TOKEN:g} FLOPs, one parameter trained on one token")
    # the whole split: N from 1 parameter (D = C/6 tokens) to C/6 parameters (one token) - log N in [0, log C/6]
    u, at_edge = _argmin_log(loss_at, 0.0, log_c6, len(thetas))
    if at_edge[0]:
        side = "more" if u[0] < 1.0 else "fewer"
        raise InputError(f"law {fit.law.name!r}: no compute-optimal size at C={flops:g}; the fitted law keeps improving "
                         f"with {side} tokens per parameter down to {'one parameter' if side == 'more' else 'one token'} "
                         f"(check its exponents: {', '.join(f'{k}={v:.3g}' for k, v in fit.params.items())})")
    n = np.exp(u)
    d = flops / (FLOPS_PER_PARAM_TOKEN * n)
    loss = loss_at(u[:, None])[:, 0]
    n, d, loss = (np.where(at_edge, np.nan, a) for a in (n, d, loss))
    out = {"law": fit.law.name, "flops": flops, "accounting": "C = 6 N D"}
    out.update(_summarise(fit, {"params": n, "tokens": d, "loss": loss, "tokens_per_param": d / n}, level))
    out["interval"] = out["loss_interval"]
    return out


def _tokens_for_loss(law, thetas, log_n, target):
    """Log D solving L(N, D) = target per (sample, N), by bisection (L falls with D); NaN when unreachable."""
    lo = np.zeros_like(log_n)
    hi = np.full_like(log_n, np.log(1e30))
    n = np.exp(log_n)
    reachable = predict_paired(law, thetas, {"params": n, "tokens": np.exp(hi)}) < target
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        above = predict_paired(law, thetas, {"params": n, "tokens": np.exp(mid)}) > target
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return np.where(reachable, 0.5 * (lo + hi), np.nan)


def inference_optimal(fit: FitResult, loss: float, inference_tokens: float, level: float | None = None) -> dict:
    """Least total-cost model reaching ``loss`` when it will serve ``inference_tokens`` (Sardana et al. 2024).

    Cost = 6 N D_train + 2 N D_inference FLOPs.  Also reports the training-only optimum for the
    same loss (``inference_tokens = 0``) for comparison.
    """
    _require_nd(fit)
    loss, inference_tokens = float(loss), float(inference_tokens)
    if not np.isfinite(inference_tokens) or inference_tokens < 0:
        raise InputError(f"inference_tokens={inference_tokens}: give a non-negative number of tokens served")
    floor = fit.point_loss({"params": np.array([1e30]), "tokens": np.array([1e30])})[0]
    if not loss > floor:
        raise InputError(f"target loss {loss} is not above what law {fit.law.name!r} reaches at any size ({floor:.4f})")
    thetas = _thetas(fit)

    def solve(d_inf):
        def log_cost(u):
            log_d = _tokens_for_loss(fit.law, thetas, u, loss)
            total = FLOPS_PER_PARAM_TOKEN * np.exp(u + log_d) + 2.0 * np.exp(u) * d_inf
            return np.where(np.isfinite(log_d), np.log(total), np.inf)

        u, at_edge = _argmin_log(log_cost, np.log(PARAMS_RANGE[0]), np.log(PARAMS_RANGE[1]), len(thetas))
        if at_edge[0]:
            raise InputError(f"law {fit.law.name!r}: the cheapest model for loss {loss} lies outside params {PARAMS_RANGE}")
        log_d = _tokens_for_loss(fit.law, thetas, u[:, None], loss)[:, 0]
        log_d = np.where(at_edge, np.nan, log_d)
        return np.exp(u), np.exp(log_d)

    n, d = solve(inference_tokens)
    train, infer = FLOPS_PER_PARAM_TOKEN * n * d, 2.0 * n * inference_tokens
    out = {"law": fit.law.name, "loss": loss, "inference_tokens": inference_tokens,
           "accounting": "training 6 N D, inference 2 N per token"}
    out.update(_summarise(fit, {"params": n, "tokens": d, "tokens_per_param": d / n, "flops_train": train,
                                "flops_inference": infer, "flops_total": train + infer}, level))
    n0, d0 = solve(0.0)
    out["training_only"] = {"params": float(n0[0]), "tokens": float(d0[0]),
                            "flops_total": float(FLOPS_PER_PARAM_TOKEN * n0[0] * d0[0] + 2.0 * n0[0] * inference_tokens)}
    return out


PLANNERS: dict = {}   # law name -> planner(fit, **options); families without an entry use the compute planner
from .plan_schedule import plan_schedule  # noqa: E402  schedules for the whole-curve laws

PLANNERS.update({"tissue": plan_schedule, "multipower": plan_schedule})
from .plan_qat import plan_closed_form, plan_qat  # noqa: E402  QAT fraction and bit width (Dremov et al. 2025)

PLANNERS.update({"qat": plan_qat, "qat-closed-form": plan_closed_form})
from .plan_mixture import plan_mixture  # noqa: E402  the optimal training mixture for the mixture laws

PLANNERS.update({name: plan_mixture for name in ("mixture-ye", "mixture-additive", "mixture-joint", "mixture-linear")})


def plan(fit: FitResult, flops: float | None = None, **options) -> dict:
    """Plan from a fit (or a published law); returns plain numbers in a dict.

    Laws of (N, D) (Chinchilla, Kaplan forms):

    - ``plan(fit, flops=C)``: the compute-optimal model for C training FLOPs (C = 6 N D): ``params``,
      ``tokens``, ``loss`` (nats per token), ``tokens_per_param``, each with ``NAME_interval`` [lo, hi]
      (percentile interval over the fit's samples at ``level``, holding the point; None for a
      published law, which has no samples), ``interval`` (the loss's), ``accounting``, ``level``,
      ``uncertainty``, ``weakly_identified`` (:func:`compute_optimal`).
    - ``plan(fit, loss=L, inference_tokens=T)``: the cheapest model reaching loss L when it will also
      serve T tokens of inference at 2 N FLOPs per token (Sardana et al. 2024): ``params``, ``tokens``,
      FLOPs of training and inference, with intervals (:func:`inference_optimal`).

    Families with their own planner (``PLANNERS``), each documented there:

    - tissue, multipower: ``plan(fit, steps=T, peak=, warmup=, floor=, families=, decay_fractions=,
      candidates={name: schedule})`` - the best schedule family and WSD decay fraction for T steps,
      ranked by predicted final loss (:func:`scaling.plan_schedule.plan_schedule`);
    - mixture laws: ``plan(fit, params=N, tokens=D, caps=, floors=, unique_tokens=, max_epochs=)`` - the
      optimal mixture on the simplex (:func:`scaling.plan_mixture.plan_mixture`);
    - qat: ``plan(fit, params=N, tokens=D, bits=b)`` - the optimal QAT fraction, or ``plan(fit,
      memory=M, flops=C)`` - bit width, N, D, f under a weight-memory budget
      (:func:`scaling.plan_qat.plan_qat`).
    """
    if not isinstance(fit, FitResult):          # e.g. a ChainedFit (loss -> accuracy)
        raise InputError(f"plan takes one fit; got a {type(fit).__name__}: plan with its first step (fit.stages[0]), "
                         "then predict the chain at the planned params and tokens")
    check_level(options.get("level"))
    planner = PLANNERS.get(fit.law.name)
    if planner is not None:
        return planner(fit, flops=flops, **{k: v for k, v in options.items() if v is not None})
    loss, inference_tokens, level = (options.pop(k, None) for k in ("loss", "inference_tokens", "level"))
    if options:
        raise InputError(f"plan for law {fit.law.name!r}: unknown option(s) {sorted(options)}; "
                         "use flops=C, or loss=L with inference_tokens=T")
    if flops is not None and loss is None:
        return compute_optimal(fit, flops, level)
    if loss is not None and flops is None:
        return inference_optimal(fit, loss, 0.0 if inference_tokens is None else inference_tokens, level)
    raise InputError("plan needs either flops=C (compute-optimal) or loss=L with inference_tokens=T (inference-aware)")
