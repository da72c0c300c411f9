"""Figures of mixture-law fits: predicted vs actual per mixture, the loss along a segment between two
mixtures, and for three domains a ternary heat map of the predicted loss with the runs and the optimum.

Conventions as in :mod:`scaling.plots`: each function draws into ``ax`` when given (else a new
figure) and returns the matplotlib Figure; bands and error bars are the fit's percentile intervals
at its ``level`` (none for a fit without samples); losses in nats per token.  The ternary map uses
mpltern's ternary projection (``projection="ternary"``; its axes are the three domains' weights).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fitters.mixture import PREFIX, split_inputs

from .errors import InputError
from .plots import _axes, _styled
from .result import FitResult

__all__ = ["plot_mixture_fit", "plot_mixture_segment", "plot_mixture_ternary"]


def _domains(fit: FitResult):
    try:
        return split_inputs(fit.law.inputs)
    except ValueError:
        raise InputError(f"law {fit.law.name!r} is not a mixture law (no mix.<domain> inputs)") from None


def _rows(fit: FitResult, W: np.ndarray, params=None, tokens=None) -> pd.DataFrame:
    """Rows to predict: mixtures W (n, K) at the given (or fitted) params and tokens."""
    domains, scale = _domains(fit)
    rows = pd.DataFrame({PREFIX + d: W[:, j] for j, d in enumerate(domains)})
    for c, v in (("params", params), ("tokens", tokens)):
        if c in scale:
            if v is None:
                raise InputError(f"this {fit.law.name} fit depends on {c}: give {c}=")
            rows[c] = float(v)
    return rows


def _weights(fit: FitResult, mixture: Mapping[str, float], name: str) -> np.ndarray:
    domains, _ = _domains(fit)
    unknown = sorted(set(mixture) - set(domains))
    if unknown:
        raise InputError(f"{name}: unknown domain(s) {unknown}; the fit's domains are {list(domains)}")
    w = np.array([float(mixture.get(d, 0.0)) for d in domains])
    if np.any(w < 0) or abs(w.sum() - 1) > 1e-2:
        raise InputError(f"{name} = {dict(mixture)}: weights are non-negative and sum to 1")
    return w / w.sum()


def target_label(target) -> str:
    """What a fit's target loss is: ``loss on val``, or ``weighted loss over 3 datasets`` for a weighted mapping."""
    if isinstance(target, Mapping):
        names = [str(k) for k, v in target.items() if v]
        return f"loss on {names[0]}" if len(names) == 1 else f"weighted loss over {len(names)} datasets"
    return "loss" if target is None else f"loss on {target}"


@_styled
def plot_mixture_fit(fit: FitResult, others: Mapping[str, pd.DataFrame] | None = None, ax=None) -> Figure:
    """Predicted against actual target loss, one point per mixture (fitted runs, plus ``others``).

    others: ``{label: rows}`` with the fit's ``mix.`` columns (and params/tokens where the law reads
    them) and ``loss`` the actual target loss, e.g. held-out mixtures.
    """
    if fit.data is None:
        raise InputError("plot_mixture_fit needs the fit's data (fits saved with to_json keep it)")
    _domains(fit)
    fig, ax = _axes(ax)
    lows, highs = [], []
    for i, (label, rows) in enumerate([("fitted runs", fit.data), *dict(others or {}).items()]):
        if "loss" not in rows.columns:
            raise InputError(f"plot_mixture_fit: the {label!r} rows need a 'loss' column (the actual target loss)")
        pred = fit.predict(rows)
        y, p = pred["loss"].to_numpy(float), pred["loss_pred"].to_numpy(float)
        err = None
        if np.all(np.isfinite(pred["loss_lo"])):
            err = np.vstack([p - pred["loss_lo"].to_numpy(float), pred["loss_hi"].to_numpy(float) - p])
        bars = f" (bars: {100 * fit.level:g}% interval)" if err is not None else ""
        ax.errorbar(y, p, yerr=err, fmt="o" if i == 0 else "s", ms=3.5, alpha=0.8, elinewidth=0.6, label=label + bars)
        lows.append(min(y.min(), p.min()))
        highs.append(max(y.max(), p.max()))
    lo, hi = min(lows), max(highs)
    ax.plot([lo, hi], [lo, hi], color="0.4", lw=0.8, ls="--", label="predicted = actual")
    target = target_label((fit.options.get("law_options") or {}).get("target"))
    ax.set_xlabel(f"actual {target} (nats / token)")
    ax.set_ylabel(f"predicted {target} (nats / token)")
    ax.set_title(f"{fit.law.name}: one point per mixture")
    ax.legend(loc="upper left")         # the points lie along the diagonal: its upper-left side is empty
    return fig


@_styled
def plot_mixture_segment(fit: FitResult, a: Mapping[str, float], b: Mapping[str, float], params=None, tokens=None,
                         points: int = 101, ax=None) -> Figure:
    """Predicted loss (with its band) along the mixtures ``(1 - s) a + s b``, s from 0 to 1."""
    wa, wb = _weights(fit, a, "a"), _weights(fit, b, "b")
    s = np.linspace(0, 1, points)
    rows = _rows(fit, (1 - s)[:, None] * wa + s[:, None] * wb, params, tokens)
    pred = fit.predict(rows)
    fig, ax = _axes(ax)
    ax.plot(s, pred["loss_pred"], color="C0", label="predicted")
    if np.all(np.isfinite(pred["loss_lo"])):
        ax.fill_between(s, pred["loss_lo"], pred["loss_hi"], color="C0", alpha=0.2, lw=0,
                        label=f"{100 * fit.level:g}% interval")
    best = int(np.argmin(pred["loss_pred"]))
    ax.plot(s[best], pred["loss_pred"][best], "v", color="C3", label=f"best on the segment (s = {s[best]:.2f})")
    ax.set_xlabel("s: mixture (1 - s) a + s b")
    ax.set_ylabel("predicted loss (nats / token)")
    at = f" at N={params:.3g}, D={tokens:.3g}" if params and tokens else ""
    ax.set_title(f"{fit.law.name}{at}\na = {_short(a)}\nb = {_short(b)}")
    ax.legend()
    return fig


def _short(m: Mapping[str, float]) -> str:
    return "{" + ", ".join(f"{k} {float(v):.2g}" for k, v in m.items() if float(v) > 0) + "}"


@_styled
def plot_mixture_ternary(fit: FitResult, params=None, tokens=None, plan: Mapping | None = None, resolution: int = 60,
                         ax=None) -> Figure:
    """For a three-domain fit: the predicted loss over the simplex, the fitted mixtures and the optimum.

    plan: a result of ``scaling.plan`` to mark (default: planned here at ``params``, ``tokens``).
    ``ax``, when given, must be a ternary axes (``fig.add_subplot(projection="ternary")``).
    """
    import mpltern  # noqa: F401  registers the "ternary" projection
    domains, _ = _domains(fit)
    if len(domains) != 3:
        raise InputError(f"a ternary map draws three domains; this fit has {len(domains)} ({list(domains)})")
    if plan is None:
        from .plan import plan as make_plan
        plan = make_plan(fit, **{k: v for k, v in (("params", params), ("tokens", tokens)) if v is not None})
    n = int(resolution)
    ij = np.array([(i, j) for i in range(n + 1) for j in range(n + 1 - i)], float)
    W = np.column_stack([ij[:, 0], ij[:, 1], n - ij.sum(axis=1)]) / n
    loss = fit.predict(_rows(fit, W, params, tokens))["loss_pred"].to_numpy(float)
    if ax is None:
        import matplotlib.pyplot as plt
        fig = plt.figure(layout="constrained")
        ax = fig.add_subplot(projection="ternary")
    elif getattr(ax, "name", "") != "ternary":
        raise InputError("plot_mixture_ternary draws into a ternary axes: fig.add_subplot(projection='ternary')")
    fig = ax.figure
    top = float(np.quantile(loss, 0.9))         # the loss climbs steeply at the edges: colour the interior
    shading = ax.tripcolor(W[:, 0], W[:, 1], W[:, 2], np.minimum(loss, top), shading="gouraud", cmap="viridis_r",
                           vmin=float(loss.min()), vmax=top)
    fig.colorbar(shading, ax=ax, label="predicted loss", shrink=0.8, extend="max")
    if fit.data is not None and all(PREFIX + d in fit.data.columns for d in domains):
        H = fit.data[[PREFIX + d for d in domains]].to_numpy(float)
        ax.scatter(H[:, 0], H[:, 1], H[:, 2], s=10, c="white", edgecolors="k", linewidths=0.5, label="fitted runs")
    w = [plan["mixture"][d] for d in domains]
    ax.scatter([w[0]], [w[1]], [w[2]], marker="*", s=220, c="C3", edgecolors="k", clip_on=False, zorder=5,
               label=f"optimum ({plan['loss']:.4g})")      # drawn whole at a vertex too
    ax.set_tlabel(domains[0])
    ax.set_llabel(domains[1])
    ax.set_rlabel(domains[2])
    ax.set_title(f"{fit.law.name}" + (f" at N={params:.3g}, D={tokens:.3g}" if params and tokens else ""), pad=24)
    ax.legend(loc="upper left", bbox_to_anchor=(-0.1, 1.1), fontsize="small")
    return fig
