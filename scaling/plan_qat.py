"""QAT planners (Dremov et al. 2025, "Compute-Optimal Quantization-Aware Training", arXiv:2509.22935).

From a fit of the ``qat`` law (:mod:`fitters.qat`):

- ``plan(fit, params=N, tokens=D, bits=b)``: the QAT fraction f* in (0, 1] minimising the fitted loss
  of an N-parameter model trained on D tokens and quantized to b bits (the last f D tokens
  quantization-aware), its loss, the paper's closed form f0 = exp(-6.7297 / ln S) beside it
  (``scaling.published("dremov2025")``), and the *FP-equivalent size*: the full-precision model,
  trained on the same D tokens, whose (Chinchilla-part) loss equals the QAT model's,
  N_fp = N0 ((L - E - B0 (D/D0)^-beta) / A0)^(-1/alpha) (``fp_params``, ``fp_params_ratio`` = N_fp / N).
- ``plan(fit, memory=M, flops=C)``: for each integer bit width b (default 1..8, or ``bits=[...]``)
  the model of at most M bytes of weights (N b / 8 <= M) trained with C = 6 N D FLOPs on D tokens,
  with the N and f of lowest predicted loss; the bit width with the lowest loss wins.  ``by_bits``
  lists every candidate, ``bits_probability`` the share of parameter samples under which each wins,
  ``memory_bound`` says whether N sits at the memory cap.  (Memory-matched models, N = 8 M / b, trained
  on the same D tokens share S = D / M whatever their bit width, so they share the closed form's f0;
  under a FLOP budget the wider model gets fewer tokens, and S differs.)

From the closed form (``qat-closed-form``, e.g. ``published("dremov2025")``): only the fraction,
``qat_fraction = exp(-a / ln S)``, ``loss`` None; S <= 1 is an error.

Every quantity is computed for the point estimate and for each parameter sample of the fit
(bootstrap or asymptotic draws; the memory planner uses at most ``MEMORY_SAMPLES`` of them);
``*_interval`` are percentile intervals at the fit's level.  Searches: f over [F_MIN, 1] with the
coarse-to-fine grid of :mod:`scaling.plan`; (log N, f) over a 41 x 41 grid refined four times by
9 x 9 grids around each sample's best point.
"""
from __future__ import annotations

import numpy as np

from fitters import qat
from fitters.predict import predict_paired

from .errors import InputError
from .plan import PARAMS_RANGE, _argmin_log, _summarise, _thetas, weak_note
from .result import FitResult
from .runs import FLOPS_PER_PARAM_TOKEN

F_MIN = 1e-3                 # the search's smallest QAT fraction (f = 0 is an FP model, not a quantized one)
BITS_CHOICES = tuple(range(1, 9))
MEMORY_SAMPLES = 500         # parameter samples the memory planner searches (the first ones; intervals from them)
GRID_2D, ZOOM_POINTS, ZOOMS = 41, 9, 4


def _published_a() -> float:
    from .published import published
    return published("dremov2025").params["a"]


def _positive(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not (np.isfinite(v) and v > 0):
        raise InputError(f"{name}={value!r}: give a positive number")
    return v


def _bits(value) -> float:
    b = _positive("bits", value)
    if not qat.BITS_RANGE[0] <= b <= qat.BITS_RANGE[1]:
        raise InputError(f"bits={value!r}: a bit width is in 1..16")
    return b


def _closed_form(S: float, a: float):
    """f0 at S, or (None, why) when S <= 1."""
    try:
        return float(qat.closed_form(S, a)), None
    except ValueError as e:
        return None, str(e.args[0])


def _loss(fit: FitResult, thetas, n, d, b, f):
    """Loss (S, k) for each theta row and its row of the (S, k) (or broadcastable) inputs."""
    mode = (fit.options.get("law_options") or {}).get("chinchilla_tokens", "total")
    shape = np.broadcast_shapes(*(np.shape(v) for v in (n, d, b, f)), (len(thetas), 1))
    X = qat.design(*(np.broadcast_to(v, shape) for v in (n, d, b, f)), chinchilla_tokens=mode)
    return predict_paired(fit.law, thetas, X)


def _fp_params(fit: FitResult, thetas, d, loss):
    """N of the FP model trained on ``d`` tokens whose Chinchilla-part loss is ``loss`` (per sample)."""
    p = fit.law.to_natural(thetas)
    i = {k: fit.law.names.index(k) for k in ("E", "A0", "B0", "alpha", "beta")}
    ref = qat.REFERENCE
    rest = loss - p[:, i["E"]] - p[:, i["B0"]] * (d / ref["tokens"]) ** -p[:, i["beta"]]
    with np.errstate(all="ignore"):
        return np.where(rest > 0, ref["params"] * (rest / p[:, i["A0"]]) ** (-1.0 / p[:, i["alpha"]]), np.nan)


def plan_qat(fit: FitResult, flops=None, params=None, tokens=None, bits=None, memory=None, level=None) -> dict:
    """The QAT planner of a ``qat`` fit (module docstring)."""
    if memory is not None or flops is not None:
        if params is not None or tokens is not None or memory is None or flops is None:
            raise InputError("QAT plan: give params=N, tokens=D and bits=b (the optimal QAT fraction), or memory=M "
                             "(bytes of weights) and flops=C (the bit width, size, tokens and fraction)")
        return _plan_memory(fit, _positive("memory", memory), _positive("flops", flops), bits, level)
    if params is None or tokens is None or bits is None:
        raise InputError("QAT plan: give params=N, tokens=D and bits=b, or memory=M and flops=C")
    return _plan_fraction(fit, _positive("params", params), _positive("tokens", tokens), _bits(bits), level)


def optimal_fractions(fit: FitResult, params, tokens, bits, thetas=None):
    """f* in [F_MIN, 1] and its loss for each row: ``thetas`` (k, P) fit-space rows (default: the
    point estimate for every point) at the (k,) or scalar ``params``, ``tokens``, ``bits``.
    Returns (f, loss, at_edge), each (k,)."""
    n, d, b = (np.atleast_1d(np.asarray(v, float)) for v in (params, tokens, bits))
    k = max(len(n), len(d), len(b)) if thetas is None else len(thetas)
    if thetas is None:
        thetas = np.repeat(_thetas(fit)[:1], k, axis=0)
    n, d, b = (np.broadcast_to(v, (k,))[:, None] for v in (n, d, b))
    u, at_edge = _argmin_log(lambda f: np.minimum(_loss(fit, thetas, n, d, b, f), 1e300), F_MIN, 1.0, k)
    f = np.clip(u, F_MIN, 1.0)
    return f, _loss(fit, thetas, n, d, b, f[:, None])[:, 0], at_edge


def _plan_fraction(fit: FitResult, n: float, d: float, b: float, level) -> dict:
    thetas = _thetas(fit)
    f, loss, at_edge = optimal_fractions(fit, n, d, b, thetas)
    n_fp = _fp_params(fit, thetas, d, loss)
    S = float(qat.tokens_per_byte(n, d, b))
    out = {"law": fit.law.name, "params": n, "tokens": d, "bits": b, "tokens_per_byte": S}
    out.update(_summarise(fit, {"qat_fraction": f, "loss": loss, "fp_params": n_fp, "fp_params_ratio": n_fp / n}, level))
    out["interval"] = out["loss_interval"]
    out["qat_fraction_at_edge"] = bool(at_edge[0])
    out["qat_fraction_closed_form"], why = _closed_form(S, _published_a())
    if why:
        out["note"] = why
    return out


def _argmin_2d(cost, lo, hi, S: int):
    """Minimise ``cost(u, v)`` ((S, k) arrays -> (S, k)) over the box [lo, hi] per row: a GRID_2D^2 grid,
    then ZOOMS refinements by ZOOM_POINTS^2 grids spanning +-1 step of the last grid around the best."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)       # (S, 2)
    g = np.linspace(0.0, 1.0, GRID_2D)
    u = lo[:, :1] + (hi[:, :1] - lo[:, :1]) * np.repeat(g, GRID_2D)[None, :]
    v = lo[:, 1:] + (hi[:, 1:] - lo[:, 1:]) * np.tile(g, GRID_2D)[None, :]
    step = (hi - lo) / (GRID_2D - 1)
    rows = np.arange(S)
    for zoom in range(ZOOMS + 1):
        c = cost(u, v)
        j = np.argmin(np.where(np.isfinite(c), c, np.inf), axis=1)
        best = np.stack([u[rows, j], v[rows, j]], axis=1)
        if zoom == ZOOMS:
            return best, c[rows, j]
        z = np.linspace(-1.0, 1.0, ZOOM_POINTS)
        u = np.clip(best[:, :1] + step[:, :1] * np.repeat(z, ZOOM_POINTS)[None, :], lo[:, :1], hi[:, :1])
        v = np.clip(best[:, 1:] + step[:, 1:] * np.tile(z, ZOOM_POINTS)[None, :], lo[:, 1:], hi[:, 1:])
        step = step * 2.0 / (ZOOM_POINTS - 1)


def _plan_memory(fit: FitResult, memory: float, flops: float, bits, level) -> dict:
    choices = tuple(float(b) for b in BITS_CHOICES) if bits is None else tuple(_bits(b) for b in np.atleast_1d(bits))
    fitting = [b for b in choices if 8.0 * memory / b >= PARAMS_RANGE[0]]
    if not fitting:
        raise InputError(f"memory={memory:g} bytes holds at most {8.0 * memory / min(choices):.3g} parameters at "
                         f"{min(choices):g} bits, below the smallest model the planner considers "
                         f"({PARAMS_RANGE[0]:.0e} parameters); give a larger memory budget")
    thetas = _thetas(fit)[:MEMORY_SAMPLES + 1]
    S = len(thetas)
    log_c6 = np.log(flops / FLOPS_PER_PARAM_TOKEN)
    by_bits, losses = [], []
    for b in fitting:
        hi_n = np.log(8.0 * memory / b)
        lo = np.tile([np.log(PARAMS_RANGE[0]), F_MIN], (S, 1))
        hi = np.tile([hi_n, 1.0], (S, 1))
        best, loss = _argmin_2d(lambda u, f: _loss(fit, thetas, np.exp(u), np.exp(log_c6 - u), b, f), lo, hi, S)
        n = np.exp(best[:, 0])
        d = flops / (FLOPS_PER_PARAM_TOKEN * n)
        row = {"bits": b, "memory_bound": bool(hi_n - best[0, 0] < 1e-6)}
        row.update(_summarise(fit, {"params": n, "tokens": d, "qat_fraction": best[:, 1], "loss": loss,
                                    "tokens_per_byte": qat.tokens_per_byte(n, d, b)}, level))
        common = {k: row.pop(k) for k in ("level", "uncertainty", "weakly_identified")}   # the same for every row
        by_bits.append(row)
        losses.append(loss)
    losses = np.array(losses)                                  # (bits, S)
    k = int(np.argmin(losses[:, 0]))
    winners = np.argmin(losses[:, 1:], axis=0) if S > 1 else np.array([], int)
    out = {"law": fit.law.name, "memory": memory, "flops": flops, "accounting": "weights N b / 8 bytes, C = 6 N D",
           **{key: by_bits[k][key] for key in by_bits[k]}}
    out["interval"] = out["loss_interval"]
    out.update(common)
    out["bits_probability"] = ({f"{b:g}": float(np.mean(winners == i)) for i, b in enumerate(fitting)}
                               if winners.size else None)
    out["qat_fraction_closed_form"], why = _closed_form(out["tokens_per_byte"], _published_a())
    if why:
        out["note"] = why
    skipped = [b for b in choices if b not in fitting]
    if skipped:
        out["bits_skipped"] = skipped
    out["by_bits"] = by_bits
    return out


def plan_closed_form(fit: FitResult, flops=None, params=None, tokens=None, bits=None, memory=None, level=None) -> dict:
    """The optimal QAT fraction from the closed form f*(S) = exp(-a / ln S); no loss."""
    if memory is not None or flops is not None:
        raise InputError(f"law {fit.law.name!r} (the closed form of the optimal QAT fraction) predicts no loss, so it "
                         "cannot choose a bit width for a memory budget; plan with a fit of the qat law "
                         "(scaling.fit('qat', runs)), or give params=N, tokens=D, bits=b")
    if params is None or tokens is None or bits is None:
        raise InputError("closed-form QAT plan: give params=N, tokens=D and bits=b")
    n, d, b = _positive("params", params), _positive("tokens", tokens), _bits(bits)
    S = float(qat.tokens_per_byte(n, d, b))
    try:
        f = qat.closed_form(S, fit.law.to_natural(_thetas(fit))[:, 0])
    except ValueError as e:
        raise InputError(f"params={n:g}, tokens={d:g}, bits={b:g}: {e.args[0]}") from None
    out = {"law": fit.law.name, "params": n, "tokens": d, "bits": b, "tokens_per_byte": S}
    out.update(_summarise(fit, {"qat_fraction": f}, level))
    out["qat_fraction_closed_form"] = out["qat_fraction"]
    out["loss"], out["interval"] = None, None
    return out


def cli_plan(args, fit: FitResult, emit) -> None:
    """``scaling plan FIT.json --qat --params N --tokens D --bits B`` or ``--qat --memory M --flops C
    [--bits B,B,...]`` (``--published dremov2025``: the closed form's fraction only)."""
    from .plan import plan
    if fit.law.name not in ("qat", "qat-closed-form"):
        raise InputError(f"--qat plans from a fit of the qat law (scaling fit qat RUNS --out FIT.json) or "
                         f"--published dremov2025; this is a {fit.law.name!r} law")
    if args.loss is not None or args.steps is not None or args.mixture:
        raise InputError("--qat plans a QAT fraction or bit width; --loss, --steps and --mixture belong to other planners")
    bits = args.bits
    if bits is not None:
        try:
            bits = [float(b) for b in bits.split(",")]
        except ValueError:
            raise InputError(f"--bits {args.bits!r}: a bit width, or with --memory a list such as 2,4,6") from None
        if args.memory is None:
            if len(bits) != 1:
                raise InputError(f"--bits {args.bits!r}: one bit width with --params and --tokens")
            bits = bits[0]
    out = plan(fit, flops=args.flops, params=args.params, tokens=args.tokens, bits=bits, memory=args.memory,
               level=args.level)
    source = fit.options.get("published") or args.fit
    if "by_bits" in out:
        lines = [f"QAT plan from {fit.law.name} ({source}): memory {out['memory']:.4g} bytes, {out['flops']:.4g} FLOPs"]
        for r in out["by_bits"]:
            lines.append(f"  {r['bits']:>3g} bits: N {r['params']:.4g}  D {r['tokens']:.4g}  f {r['qat_fraction']:.3f}  "
                         f"loss {r['loss']:.5g}{_span(r['loss_interval'])}" + ("  (memory-bound)" if r["memory_bound"] else ""))
        share = (out["bits_probability"] or {}).get(f"{out['bits']:g}")
        lines.append(f"best: {out['bits']:g} bits" + (f" (best in {100 * share:.0f}% of the parameter samples)"
                                                       if share is not None else ""))
    else:
        lines = [f"QAT plan from {fit.law.name} ({source}): N {out['params']:.4g}, D {out['tokens']:.4g}, {out['bits']:g} bits, "
                 f"S = {out['tokens_per_byte']:.4g} tokens per parameter byte"]
        lines.append(f"  qat_fraction       {out['qat_fraction']:.4f}{_span(out['qat_fraction_interval'])}")
        if out["qat_fraction_closed_form"] is not None:
            lines.append(f"  closed form        {out['qat_fraction_closed_form']:.4f}   (Dremov et al. 2025, a = 6.7297)")
        if out["loss"] is not None:
            lines.append(f"  loss               {out['loss']:.6g}{_span(out['interval'])}")
            lines.append(f"  FP-equivalent N    {out['fp_params']:.4g}{_span(out['fp_params_interval'])}   "
                         f"(ratio {out['fp_params_ratio']:.3f})")
    if out.get("note"):
        lines.append(f"note: {out['note']}")
    lines += weak_note(out)
    emit(args, out, "\n".join(lines))


def _span(v) -> str:
    return f"   [{v[0]:.6g}, {v[1]:.6g}]" if v else ""
