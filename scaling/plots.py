"""Figures of a fit: data and law, residuals, isoFLOP profiles, compute-optimal extrapolation.

Every function takes a :class:`~scaling.result.FitResult` of a law of ``(params, tokens)``
(a fit or a published law), draws into ``ax`` when given (else into a new figure) and returns the
matplotlib Figure.  Nothing calls ``plt.show``; :func:`save_report_figures` writes PNG files with
the Agg canvas without touching pyplot's global state.

Conventions: N is the law's parameter count, D the tokens, C = 6 N D the training FLOPs (the
accounting of :mod:`scaling.runs`), loss in nats per token.  Runs are coloured by N on a log
colour scale (viridis), FLOP budgets on a log colour scale (plasma).  Intervals are those of the
fit (percentile intervals over its bootstrap or asymptotic samples, at ``fit.level``); a fit
without samples (a published law) draws no interval.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .errors import InputError
from .plan import compute_optimal
from .result import FitResult
from .runs import FLOPS_PER_PARAM_TOKEN, read_runs

__all__ = ["plot_fit", "plot_residuals", "plot_isoflops", "plot_extrapolation", "plot_isoflop_profiles",
           "plot_optimal_scaling", "plot_loss_curves", "save_report_figures"]

STYLE = {
    "figure.figsize": (6.4, 4.6),
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "savefig.dpi": 120,
    "savefig.bbox": "tight",
}
RUNS_CMAP, BUDGET_CMAP = "viridis", "plasma"
MAX_CURVES = 10            # plot_fit draws at most this many per-N curves (representative N beyond that)
NEAR_BUDGET_DEX = 0.1      # a run is "at" a budget C when |log10(6ND / C)| is below this (and half the spacing)
REPORT_DPI = 120


def _styled(fn):
    """Run a plotting function under the module's rc style (applies to the artists it creates)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with mpl.rc_context(STYLE):
            return fn(*args, **kwargs)
    return wrapper


def _axes(ax):
    """``(figure, ax)``: the given axes' figure, or a new pyplot figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(layout="constrained")
    return fig, ax


def _require_nd(fit: FitResult, what: str) -> None:
    if tuple(fit.law.inputs) != ("params", "tokens"):
        raise InputError(f"{what} draws laws of (params, tokens); law {fit.law.name!r} is a law of {fit.law.inputs}")


def _table(fit: FitResult, runs, required=("params", "tokens", "loss")) -> pd.DataFrame | None:
    """``runs`` (validated, the fit's dataset selected) or the fit's own data; None when neither exists."""
    if runs is None:
        if fit.data is None:
            return None
        table = fit.data.copy()
    else:
        table = read_runs(runs, required=required, check_duplicates=False)
        dataset = fit.options.get("dataset")
        if dataset is not None and "dataset" in table.columns:
            table = table[table["dataset"].astype(str) == dataset]
    if "flops" not in table.columns:
        table["flops"] = FLOPS_PER_PARAM_TOKEN * table["params"] * table["tokens"]
    return table.reset_index(drop=True)


def _loss(fit: FitResult, params, tokens) -> np.ndarray:
    params, tokens = np.broadcast_arrays(np.asarray(params, float), np.asarray(tokens, float))
    return fit.point_loss({"params": params.ravel(), "tokens": tokens.ravel()}).reshape(params.shape)


def _title(fit: FitResult, what: str) -> str:
    p = ", ".join(f"{k}={v:.4g}" for k, v in fit.params.items())
    name = fit.options.get("published")
    source = f"published {name} (no interval: no covariance published)" if name else f"{fit.law.name} law"
    return f"{what}: {source}  {fit.law.formula}\n{p}"


def focus_ylim(ax, *values, pad: float = 0.08) -> None:
    """Set ``ax``'s y-limits to span the finite ``values`` (point curves, data), padded by ``pad`` of the
    span: an interval band of a weakly identified fit can be orders of magnitude wider than the curve it
    surrounds, and must not set the scale (the band is then clipped at the axes' edges)."""
    v = np.concatenate([np.ravel(np.asarray(x, float)) for x in values])
    v = v[np.isfinite(v)]
    if v.size == 0:
        return
    lo, hi = float(v.min()), float(v.max())
    span = (hi - lo) or 0.05 * abs(hi) or 1.0
    ax.set_ylim(lo - pad * span, hi + pad * span)


def _representative(values: np.ndarray, k: int) -> np.ndarray:
    """All distinct ``values`` when there are at most ``k``, else ``k`` of them spread evenly in log."""
    distinct = np.unique(values)
    if distinct.size <= k:
        return distinct
    targets = np.logspace(np.log10(distinct[0]), np.log10(distinct[-1]), k)
    return np.unique(distinct[np.argmin(np.abs(np.log(distinct)[None, :] - np.log(targets)[:, None]), axis=1)])


def _colorbar(fig, ax, norm, cmap, label):
    sm = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
    sm.set_array([])
    cb = fig.colorbar(sm, ax=ax, pad=0.02)
    cb.set_label(label)
    return cb


@_styled
def plot_fit(fit: FitResult, runs=None, ax=None, max_curves: int = MAX_CURVES) -> Figure:
    """Loss vs tokens D (log x) with the fitted law.

    Draws the runs (``runs``, read with :func:`scaling.read_runs`, else ``fit.data``) as points
    coloured by N (log colour scale, colorbar in N), and for each distinct N the law's curve
    L(N, D) across the data's token range in the same colour (at most ``max_curves`` curves: with
    more distinct N, representative N spread evenly in log N).  The title gives the law's name,
    formula and fitted parameters.
    """
    _require_nd(fit, "plot_fit")
    table = _table(fit, runs)
    if table is None or table.empty:
        raise InputError(f"plot_fit: the {fit.law.name} result carries no data (e.g. a published law); pass runs=")
    fig, ax = _axes(ax)
    n, d, y = (table[c].to_numpy(float) for c in ("params", "tokens", "loss"))
    norm, cmap = LogNorm(n.min(), n.max() if n.max() > n.min() else n.min() * 10), mpl.colormaps[RUNS_CMAP]
    d_grid = np.logspace(np.log10(d.min()) - 0.05, np.log10(d.max()) + 0.05, 200)
    curves = _representative(n, max_curves)
    losses = _loss(fit, curves[:, None], d_grid[None, :])
    for n_i, l_i in zip(curves, losses):
        ax.plot(d_grid, l_i, color=cmap(norm(n_i)), lw=1.4, alpha=0.9, gid="law")
    ax.scatter(d, y, c=n, cmap=cmap, norm=norm, s=22, edgecolors="white", linewidths=0.4, zorder=3, gid="runs")
    ax.set_xscale("log")
    ax.set_xlabel("tokens D")
    ax.set_ylabel("loss (nats / token)")
    ax.set_title(_title(fit, "fit"))
    _colorbar(fig, ax, norm, cmap, "parameters N")
    note = "law at each N" if len(curves) == np.unique(n).size else f"law at {len(curves)} representative N"
    ax.legend(handles=[Line2D([], [], ls="", marker="o", color="0.4", label=f"runs ({len(y)})"),
                       Line2D([], [], color="0.4", label=note)], loc="upper right")
    return fig


@_styled
def plot_residuals(fit: FitResult, ax=None, x: str = "flops") -> Figure:
    """Residuals of the fit (``fit.residuals``, predicted minus observed, in the objective's space).

    With the default objective these are log residuals log L_pred - log L (``fit.options["space"]``
    says which).  Plotted against compute C = 6ND (``x="flops"``, log x) or against the predicted
    loss (``x="predicted"``), coloured by N, with a zero line and, for a Huber objective, the band
    |r| <= delta where the objective is quadratic (outside it, linear: those points are down-weighted).
    """
    if fit.residuals is None or fit.data is None:
        raise InputError(f"plot_residuals: the {fit.law.name} result has no residuals (a published law, or a fit "
                         "saved without data); residuals come from scaling.fit")
    if x not in ("flops", "predicted"):
        raise InputError(f"plot_residuals: x={x!r}; choose 'flops' or 'predicted'")
    fig, ax = _axes(ax)
    table = _table(fit, None)
    r = np.asarray(fit.residuals, float)
    space = fit.options.get("space", "log")
    if x == "flops":
        xs = table["flops"].to_numpy(float)
        ax.set_xscale("log")
        ax.set_xlabel("training compute C = 6ND (FLOPs)")
    else:
        xs = fit.point_loss({k: table[k].to_numpy(float) for k in fit.law.inputs})
        ax.set_xlabel("predicted loss (nats / token)")
    if "params" in table.columns:
        n = table["params"].to_numpy(float)
        norm = LogNorm(n.min(), n.max() if n.max() > n.min() else n.min() * 10)
        ax.scatter(xs, r, c=n, cmap=RUNS_CMAP, norm=norm, s=22, edgecolors="white", linewidths=0.4, zorder=3, gid="residuals")
        _colorbar(fig, ax, norm, mpl.colormaps[RUNS_CMAP], "parameters N")
    else:
        ax.scatter(xs, r, s=22, zorder=3, gid="residuals")
    ax.axhline(0.0, color="0.2", lw=1.0, gid="zero")
    loss = fit.options.get("loss", "huber")
    if loss == "huber":
        delta = float(fit.options.get("delta", 1e-3))
        ax.axhspan(-delta, delta, color="tab:orange", alpha=0.18, lw=0, gid="huber", label=f"Huber delta = {delta:g}")
        ax.legend(loc="best")
    ax.set_ylabel("log residual  log L_pred - log L" if space == "log" else "residual  L_pred - L (nats / token)")
    ax.set_title(f"residuals of the {fit.law.name} fit ({loss} on {space} residuals; {len(r)} points)")
    return fig


def _budgets(fit: FitResult, flops, table: pd.DataFrame | None, n: int) -> np.ndarray:
    if flops is not None:
        budgets = np.atleast_1d(np.asarray(flops, float))
    elif table is not None and not table.empty:
        c = table["flops"].to_numpy(float)
        budgets = np.logspace(np.log10(c.min()), np.log10(c.max()), n) if c.max() > c.min() else c[:1]
    else:
        budgets = np.logspace(19, 23, n)    # a published law without data: Chinchilla's range and beyond
    if not np.all(np.isfinite(budgets) & (budgets > 0)):
        raise InputError(f"flops={flops}: FLOP budgets are positive numbers, e.g. [1e19, 1e21]")
    return np.sort(budgets)


@_styled
def plot_isoflops(fit: FitResult, flops=None, runs=None, ax=None, n_budgets: int = 5) -> Figure:
    """IsoFLOP profiles: the law's loss vs N (log x) along C = 6ND for a few FLOP budgets.

    Budgets: ``flops`` (a number or a sequence), else ``n_budgets`` log-spaced across the data's
    6ND range (``runs`` or ``fit.data``; 1e19..1e23 for a law without data).  Each budget's curve
    spans N_opt/30..30 N_opt (widened to its runs); the compute-optimal point of each budget from
    :func:`scaling.plan.compute_optimal` is marked (gid ``"optimum"``) with the interval of N at the
    optimum as a horizontal error bar when the fit has samples; a dashed line joins the optima.
    Runs within ``NEAR_BUDGET_DEX`` decades of a budget (and nearer it than any other) are drawn
    in its colour.
    """
    _require_nd(fit, "plot_isoflops")
    table = _table(fit, runs)
    budgets = _budgets(fit, flops, table, n_budgets)
    fig, ax = _axes(ax)
    norm = LogNorm(budgets[0], budgets[-1] if budgets[-1] > budgets[0] else budgets[0] * 10)
    cmap = mpl.colormaps[BUDGET_CMAP]
    colour = lambda c: cmap(0.85 * norm(c))     # noqa: E731 - keep away from plasma's pale yellow end
    tol = NEAR_BUDGET_DEX
    if budgets.size > 1:
        tol = min(tol, 0.5 * float(np.min(np.diff(np.log10(budgets)))))
    near = np.full(0 if table is None else len(table), -1)
    if table is not None and len(table):
        dist = np.abs(np.log10(table["flops"].to_numpy(float))[:, None] - np.log10(budgets)[None, :])
        near = np.where(dist.min(axis=1) < tol, dist.argmin(axis=1), -1)
    optima = []
    for i, c in enumerate(budgets):
        opt = compute_optimal(fit, c)
        optima.append(opt)
        lo_n, hi_n = opt["params"] / 30, opt["params"] * 30
        mine = table[near == i] if table is not None else None
        if mine is not None and len(mine):
            lo_n, hi_n = min(lo_n, mine["params"].min() / 1.5), max(hi_n, mine["params"].max() * 1.5)
        n_grid = np.logspace(np.log10(lo_n), np.log10(hi_n), 200)
        ax.plot(n_grid, _loss(fit, n_grid, c / (FLOPS_PER_PARAM_TOKEN * n_grid)), color=colour(c),
                label=f"C = {c:.2g} FLOPs", gid="isoflop")
        if mine is not None and len(mine):
            ax.scatter(mine["params"], mine["loss"], color=colour(c), s=20, edgecolors="white", linewidths=0.4,
                       zorder=3, gid="runs")
        interval = opt.get("params_interval")
        xerr = None
        if interval is not None:
            xerr = np.array([[max(opt["params"] - interval[0], 0.0)], [max(interval[1] - opt["params"], 0.0)]])
        container = ax.errorbar([opt["params"]], [opt["loss"]], xerr=xerr, fmt="*", ms=12, color=colour(c),
                                mec="black", mew=0.6, ecolor="black", capsize=4, elinewidth=1.6, zorder=4)
        container.lines[0].set_gid("optimum")
    if len(optima) > 1:
        ax.plot([o["params"] for o in optima], [o["loss"] for o in optima], ls="--", color="0.35", lw=1.0,
                gid="frontier", label="compute-optimal N")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N  (tokens D = C / 6N)")
    ax.set_ylabel("loss (nats / token)")
    pct = f"{100 * fit.level:g}%"
    extra = f"; black bars: {pct} interval of N_opt" if fit.samples is not None and len(fit.samples) else ""
    ax.set_title(f"isoFLOP profiles of the {fit.law.name} law\n(stars: optimum{extra})")
    ax.legend(loc="upper right")
    return fig


@_styled
def plot_extrapolation(fit: FitResult, flops: Sequence[float] | None = None, runs=None, held_out=None,
                       ax=None, n: int = 30) -> Figure:
    """Compute-optimal loss vs FLOPs (log x): what the law extrapolates to, with its interval.

    The frontier is the loss at the compute-optimal N of :func:`scaling.plan.compute_optimal` at
    ``n`` log-spaced budgets (solid up to the largest fitted run's compute, dashed beyond) over ``flops=(lo, hi)`` (default: from the data's smallest 6ND to
    100x the largest, held-out runs included), with its ``loss_interval`` as a band (gid
    ``"interval"``; none when the fit has no samples).  The runs (``runs`` or ``fit.data``) are
    drawn at their 6ND; ``held_out`` rows (a DataFrame or anything :func:`scaling.read_runs` reads,
    with params, tokens, loss) as red diamonds with the fit's prediction for them (``fit.predict``)
    and its interval as black error bars beside them.
    """
    _require_nd(fit, "plot_extrapolation")
    table = _table(fit, runs)
    held = None if held_out is None else read_runs(held_out, required=("params", "tokens", "loss"), check_duplicates=False)
    if flops is None:
        known = [t["params"].to_numpy(float) * t["tokens"].to_numpy(float) * FLOPS_PER_PARAM_TOKEN
                 for t in (table, held) if t is not None and len(t)]
        if not known:
            raise InputError(f"plot_extrapolation: the {fit.law.name} result carries no data; pass flops=(lo, hi)")
        c = np.concatenate(known)
        flops = (c.min(), 100 * c.max())
    lo, hi = (float(v) for v in flops)
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        raise InputError(f"flops={flops}: give a range (lo, hi) of FLOPs with 0 < lo < hi")
    fig, ax = _axes(ax)
    budgets = np.logspace(np.log10(lo), np.log10(hi), n)
    optima = [compute_optimal(fit, c) for c in budgets]
    loss = np.array([o["loss"] for o in optima])
    c_fit = float(table["flops"].max()) if table is not None and len(table) else np.inf
    inside = budgets <= c_fit
    ax.plot(budgets[inside], loss[inside], color="tab:blue", gid="frontier", label=f"{fit.law.name}: compute-optimal loss")
    if not inside.all():              # beyond the largest fitted run: extrapolated, dashed
        k = max(int(inside.sum()) - 1, 0)
        ax.plot(budgets[k:], loss[k:], color="tab:blue", ls="--", gid="extrapolated",
                label="extrapolated beyond the largest fitted run" if inside.any() else "extrapolated")
    bands = [o["loss_interval"] for o in optima]
    if all(b is not None for b in bands):
        band = np.array(bands, float)
        ax.fill_between(budgets, band[:, 0], band[:, 1], color="tab:blue", alpha=0.2, lw=0, gid="interval",
                        label=f"{100 * fit.level:g}% interval ({fit.uncertainty})")
    if table is not None and len(table):
        ax.scatter(table["flops"], table["loss"], s=16, color="0.55", alpha=0.8, zorder=3, gid="runs",
                   label=f"runs ({len(table)})")
    if held is not None and len(held):
        pred = fit.predict(held)
        c_held = FLOPS_PER_PARAM_TOKEN * held["params"].to_numpy(float) * held["tokens"].to_numpy(float)
        ax.scatter(c_held, held["loss"], marker="D", s=40, color="tab:red", edgecolors="black", linewidths=0.6,
                   zorder=5, gid="held_out", label=f"held out ({len(held)})")
        p, plo, phi = (pred[k].to_numpy(float) for k in ("loss_pred", "loss_lo", "loss_hi"))
        yerr = None
        if np.all(np.isfinite(plo) & np.isfinite(phi)):
            yerr = np.vstack([np.maximum(p - plo, 0.0), np.maximum(phi - p, 0.0)])
        container = ax.errorbar(c_held * 1.15, p, yerr=yerr, fmt="o", mfc="white", color="black", ms=6, capsize=3,
                                zorder=4, label="prediction" + (" + interval" if yerr is not None else ""))
        container.lines[0].set_gid("prediction")
    ax.set_xscale("log")
    ax.set_xlabel("training compute C = 6ND (FLOPs)")
    ax.set_ylabel("loss (nats / token)")
    ax.set_title(_title(fit, "extrapolation"))
    ax.legend(loc="upper right")
    return fig


@_styled
def plot_isoflop_profiles(result, runs, ax=None) -> Figure:
    """Approach 2 (Hoffmann et al. 2022 Fig. 3, left): loss vs N of the runs at each FLOP budget,
    the budget's parabola in log N over the sizes it was fitted to, and its vertex N_opt (a cross);
    runs outside a parabola's fit (``loss_window``) are hollow; budgets left out of the power-law fit
    (``result.flagged``) are drawn dashed.  A run belongs to the nearest budget within
    half the log-spacing of the budgets."""
    table = read_runs(runs, required=("params", "tokens", "loss"), check_duplicates=False)
    budgets = result.table.sort_values("flops").reset_index(drop=True)
    log_b = np.log(budgets["flops"].to_numpy(float))
    half = 0.5 * np.min(np.diff(log_b)) if len(log_b) > 1 else np.inf
    log_c = np.log(table["flops"].to_numpy(float))
    nearest = np.argmin(np.abs(log_c[:, None] - log_b[None, :]), axis=1)
    member = np.abs(log_c - log_b[nearest]) <= half
    fig, ax = _axes(ax)
    norm = LogNorm(budgets["flops"].min(), budgets["flops"].max() * (1 + 1e-9))
    cmap = mpl.colormaps[BUDGET_CMAP]
    for i, b in budgets.iterrows():
        colour = cmap(norm(b["flops"]))
        rows = table[member & (nearest == i)]
        fitted = (rows["loss"] <= b["loss_cut"]) & rows["params"].between(b["params_min"], b["params_max"])
        ax.scatter(rows["params"][fitted], rows["loss"][fitted], s=14, color=colour, zorder=3)
        ax.scatter(rows["params"][~fitted], rows["loss"][~fitted], s=14, facecolor="none", edgecolor=colour, zorder=3)
        if len(rows) >= 3 and np.isfinite(b["c2"]):
            n = np.geomspace(b["params_min"], b["params_max"], 60)       # the parabola where it was fitted
            u = np.log(n)
            ax.plot(n, b["c0"] + b["c1"] * u + b["c2"] * u ** 2, color=colour, ls="-" if b["used"] else "--", lw=1.2)
        if b["used"]:
            ax.plot(b["params_opt"], b["loss_opt"], marker="x", color="black", ms=7, mew=1.6, zorder=4)
    _colorbar(fig, ax, norm, BUDGET_CMAP, "FLOP budget C")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("loss (nats / token)")
    ax.set_title(f"isoFLOP profiles: {len(budgets)} budgets, {int(budgets['used'].sum())} used (x = N_opt)")
    ax.legend(handles=[Line2D([], [], ls="", marker="o", color="0.4", label="run in its parabola's fit"),
                       Line2D([], [], ls="", marker="o", mfc="none", color="0.4", label="run outside it (loss_window)"),
                       Line2D([], [], color="0.4", label="parabola in log N (dashed: budget left out)")],
              loc="upper right")
    return fig


@_styled
def plot_optimal_scaling(result, ax=None) -> Figure:
    """Approach 1 or 2 (Hoffmann et al. 2022 Fig. 2/3, right): N_opt and D_opt per budget against C
    (log-log) with the fitted power laws and their confidence bands at ``result.level``."""
    fig, ax = _axes(ax)
    t = result.table[result.table["used"]] if "used" in result.table.columns else result.table
    c = np.geomspace(t["flops"].min(), t["flops"].max() * 10, 50)
    pred = result.predict(c)
    for name, colour, exponent in (("params", "tab:blue", result.a), ("tokens", "tab:orange", result.b)):
        ax.scatter(t["flops"], t[f"{name}_opt"], color=colour, s=18, zorder=3)
        ax.plot(c, pred[f"{name}_opt"], color=colour, label=f"{name} ~ C^{exponent:.3f}")
        lo, hi = pred[f"{name}_lo"].to_numpy(), pred[f"{name}_hi"].to_numpy()
        if np.all(np.isfinite(lo) & np.isfinite(hi)):
            ax.fill_between(c, lo, hi, color=colour, alpha=0.2, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel("compute-optimal N or D")
    ax.set_title(result.title)
    ax.legend(loc="upper left")
    return fig


@_styled
def plot_loss_curves(runs, dataset: str | None = "validation", highlight=(), ax=None) -> Figure:
    """Loss vs tokens (log x) of every run in a runs table with ``run`` and ``step`` columns (e.g.
    a ladder's rows), one line per run coloured by N with its final point marked (what a law of
    (N, D) fits); runs named in ``highlight`` (e.g. a held-out run) in red - a mapping
    ``{run: label}`` names them in the legend.  ``dataset`` picks the evaluation rows (None: the
    table has one dataset)."""
    table = read_runs(runs, required=("run", "step", "params", "tokens", "loss"), check_duplicates=False)
    if dataset is not None and "dataset" in table.columns:
        table = table[table["dataset"].astype(str) == dataset]
    if table.empty:
        raise InputError(f"plot_loss_curves: no rows for dataset {dataset!r}")
    fig, ax = _axes(ax)
    marked = table["run"].isin(list(highlight))
    plain = table[~marked]
    if len(plain):
        n = plain["params"].to_numpy(float)
        norm = LogNorm(n.min(), n.max() if n.max() > n.min() else n.min() * 10)
        cmap = mpl.colormaps[RUNS_CMAP]
        for _, r in plain.sort_values("step").groupby("run"):
            colour = cmap(norm(r["params"].iloc[0]))
            ax.plot(r["tokens"], r["loss"], color=colour, lw=1.2, marker="o", ms=2.0)
            ax.plot(r["tokens"].iloc[-1:], r["loss"].iloc[-1:], "o", color=colour, ms=6, mec="black", mew=0.6, zorder=4)
        _colorbar(fig, ax, norm, RUNS_CMAP, "parameters N")
        ax.plot([], [], "o", color="0.6", ms=6, mec="black", mew=0.6, label="final point of each run")
    names = highlight if isinstance(highlight, Mapping) else {}
    for run, r in table[marked].sort_values("step").groupby("run"):
        ax.plot(r["tokens"], r["loss"], color="tab:red", lw=1.6, marker="D", ms=3,
                label=f"{names.get(run, run)} (N={r['params'].iloc[0]:.3g})")
    ax.legend(loc="upper right")
    ax.set_xscale("log")
    ax.set_xlabel("tokens D")
    ax.set_ylabel(f"{dataset or 'loss'} loss (nats / token)")
    ax.set_title(f"loss curves of {table['run'].nunique()} runs")
    return fig


def save_report_figures(fit: FitResult, out_dir, runs=None, held_out=None, dpi: int = REPORT_DPI) -> dict[str, Path]:
    """Write fit.png, residuals.png, isoflops.png, extrapolation.png into ``out_dir``; return name -> path.

    Figures are drawn on the Agg canvas (no pyplot, no global backend change).  ``residuals.png``
    is left out when the result has no residuals (a published law); the others need data
    (``runs`` or ``fit.data``).  The extrapolation spans the data and ``held_out`` rows to 100x
    their largest 6ND.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = {"fit": lambda ax: plot_fit(fit, runs=runs, ax=ax),
            "residuals": lambda ax: plot_residuals(fit, ax=ax),
            "isoflops": lambda ax: plot_isoflops(fit, runs=runs, ax=ax),
            "extrapolation": lambda ax: plot_extrapolation(fit, runs=runs, held_out=held_out, ax=ax)}
    if fit.residuals is None or fit.data is None:
        del jobs["residuals"]
    written = {}
    for name, draw in jobs.items():
        with mpl.rc_context(STYLE):
            fig = Figure(layout="constrained")
            FigureCanvasAgg(fig)
            draw(fig.add_subplot())
            path = out / f"{name}.png"
            fig.savefig(path, dpi=dpi)
        written[name] = path
    return written
