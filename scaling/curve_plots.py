"""Figures of the whole-curve laws: loss curves over data with the learning-rate schedule beneath,
and the schedule planner's WSD decay-fraction scan.

Same conventions as :mod:`scaling.plots` (style, returns the Figure, never calls ``plt.show``).
Runs the fit saw are drawn as ``fitted`` (solid), the others as ``predicted`` (dashed, with the
fit's interval as a band); observed losses are dots.  The interval is the fit's parameter
interval only (curve residuals are correlated in time, so it is a lower bound on the error).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import curves
from .errors import InputError
from .plots import STYLE, _styled

__all__ = ["plot_curves", "plot_wsd_scan"]


@_styled
def plot_curves(fit, runs, schedules=None, fitted=None, axes=None, log_x: bool = False, ylim=None) -> Figure:
    """Observed and predicted loss vs step for every run of ``runs`` (top), learning rate vs step (bottom).

    runs: a runs table (``run``, ``step``, ``loss``; ``lr`` when ``schedules`` is None).
    schedules: as for ``fit.predict`` (default: the fit's own).  fitted: the runs drawn as fitted
    (default: the runs in ``fit.data``).  axes: two axes (loss, lr) to draw into.
    """
    if not curves.is_curve_law(fit.law):
        raise InputError(f"plot_curves draws whole-curve laws; law {fit.law.name!r} is not one")
    table = pd.DataFrame(runs).copy()
    options = {} if schedules is None else {"schedules": schedules}
    pred = fit.predict(table, **options)
    stored = (fit.options.get("law_options") or {}).get("schedules")
    if isinstance(stored, str) and stored.startswith("<"):        # not stored (e.g. arrays)
        stored = None
    lrs = curves.learning_rates(table, schedules if schedules is not None else stored)
    if fitted is None:
        fitted = set() if fit.data is None or "run" not in fit.data else set(fit.data["run"].astype(str))
    if axes is None:
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(2, 1, sharex=True, figsize=(STYLE["figure.figsize"][0], 5.6),
                                 gridspec_kw={"height_ratios": [3, 1]}, layout="constrained")
    ax, ax_lr = axes
    fig = ax.figure
    colors = {r: f"C{i % 10}" for i, r in enumerate(dict.fromkeys(pred["run"].astype(str)))}
    for run, g in pred.groupby(pred["run"].astype(str), sort=False):
        g = g.sort_values("step")
        c = colors[run]
        seen = run in fitted
        ax.plot(g["step"], g["loss"], ".", color=c, ms=2.5, alpha=0.5)
        ax.plot(g["step"], g["loss_pred"], "-" if seen else "--", color=c, lw=1.3,
                label=f"{run} ({'fitted' if seen else 'predicted'})")
        if not seen and np.isfinite(g["loss_lo"]).all():
            ax.fill_between(g["step"], g["loss_lo"], g["loss_hi"], color=c, alpha=0.2, lw=0)
        lr = lrs[run]
        step = np.arange(len(lr))
        every = max(1, len(lr) // 2000)
        ax_lr.plot(step[::every], lr[::every], color=c, lw=1.1, ls="-" if seen else "--")
    ax.set_ylabel("loss (nats / token)")
    ax.set_title(f"{fit.law.name}: {fit.law.formula}", fontsize=8)
    ax.legend(loc="upper right", ncol=2 if len(colors) > 4 else 1)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("step")
    if log_x:
        ax.set_xscale("log")
    return fig


@_styled
def plot_wsd_scan(plan: dict, ax=None) -> Figure:
    """Predicted final loss vs WSD decay fraction for each decay shape (``plan`` from the schedule planner)."""
    if "wsd" not in plan:
        raise InputError("plot_wsd_scan needs a schedule plan with the wsd family")
    if ax is None:
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(layout="constrained")
    fig = ax.figure
    for shape, s in plan["wsd"]["scan"].items():
        ax.plot(s["decay_fractions"], s["loss"], marker="o", ms=3, label=f"WSD, {shape} decay")
    for r in plan["ranking"]:
        if r["family"] not in ("wsd", "candidate"):
            ax.axhline(r["loss"], lw=0.8, ls=":", color="gray")
            ax.annotate(r["family"], (1.0, r["loss"]), fontsize=7, color="gray", ha="right", va="bottom")
    w = plan["wsd"]
    ax.plot([w["decay_fraction"]], [w["loss"]], "k*", ms=10, label=f"best: {w['decay_fraction']:g} ({w['decay_shape']})")
    ax.set_xlabel("decay fraction")
    ax.set_ylabel("predicted final loss")
    ax.set_title(f"{plan['law']}: {plan['steps']} steps, peak {plan['peak']:g}")
    ax.legend(loc="upper center")
    return fig
