"""Figures of the whole-curve laws: loss curves over data with the learning-rate schedule beneath,
and the schedule planner's WSD decay-fraction scan.

Same conventions as :mod:`scaling.plots` (style, returns the Figure, never calls ``plt.show``).
Runs the fit saw are drawn as ``fitted`` (solid, on top), the others as ``predicted`` (dashed, with the
fit's interval as a band); observed losses are faint dots in the run's colour (a key says so).  The interval is the fit's parameter
interval only (curve residuals are correlated in time, so it is a lower bound on the error).
"""
from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from . import curves
from .errors import InputError
from .plots import STYLE, _styled, focus_ylim

__all__ = ["plot_curves", "plot_wsd_scan"]


EARLY = 0.25       # default y-range: each run's rows after this share of its last logged step


@_styled
def plot_curves(fit, runs, schedules=None, fitted=None, axes=None, log_x: bool = False, ylim=None) -> Figure:
    """Observed and predicted loss vs step for every run of ``runs`` (top), learning rate vs step (bottom).

    runs: a runs table (``run``, ``step``, ``loss``; ``lr`` when ``schedules`` is None).
    schedules: as for ``fit.predict`` (default: the fit's own).  fitted: the runs drawn as fitted
    (default: the runs in ``fit.data``).  axes: two axes (loss, lr) to draw into.  ylim: the loss
    axis' range (default: the losses and predictions after the first quarter of each run's steps - the
    early descent runs off the top - so the differences between schedules are visible).
    Colours follow the sorted run names (the same run keeps its colour across figures of one set).
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
        fig, axes = plt.subplots(2, 1, sharex=True, figsize=(STYLE["figure.figsize"][0], 6.0),
                                 gridspec_kw={"height_ratios": [3, 1]}, layout="constrained")
    ax, ax_lr = axes
    fig = ax.figure
    names = pred["run"].astype(str)
    colors = {r: f"C{i % 10}" for i, r in enumerate(sorted(set(names)))}
    late = pred["step"] >= EARLY * pred.groupby(names)["step"].transform("max")
    for run, g in pred.groupby(names, sort=True):
        g = g.sort_values("step")
        c = colors[run]
        seen = run in fitted
        ax.plot(g["step"], g["loss"], ".", color=c, ms=3, alpha=0.35, zorder=2)
        ax.plot(g["step"], g["loss_pred"], "-" if seen else "--", color=c, lw=1.6 if seen else 1.3,
                zorder=4 if seen else 3, label=f"{run} ({'fitted' if seen else 'predicted'})")
        if not seen and np.isfinite(g["loss_lo"]).all():
            ax.fill_between(g["step"], g["loss_lo"], g["loss_hi"], color=c, alpha=0.2, lw=0, zorder=1)
        lr = lrs[run]
        step = np.arange(len(lr))
        every = max(1, len(lr) // 2000)
        ax_lr.plot(step[::every], lr[::every], color=c, lw=1.1, ls="-" if seen else "--")
    key = [Line2D([], [], ls="", marker=".", ms=6, color="0.45", label="observed loss"),
           Line2D([], [], color="0.45", label="law, fitted run"), Line2D([], [], ls="--", color="0.45", label="law, predicted run")]
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles + key, loc="upper right", ncol=2 if len(colors) > 4 else 1)
    ax.set_ylabel("loss (nats / token)")
    params = ", ".join(f"{k}={v:.3g}" for k, v in fit.params.items())
    ax.set_title(textwrap.fill(f"{fit.law.name}: {fit.law.formula}", 100) + "\n" + params, fontsize=8)
    if ylim is not None:
        ax.set_ylim(*ylim)
    else:
        focus_ylim(ax, pred["loss"][late], pred["loss_pred"][late], pad=0.05)
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("step")
    if log_x:
        ax.set_xscale("log")
        ax.set_xlim(left=max(1.0, float(pred["step"].min()) / 1.5))
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
    markers = "os^vDP"
    for i, (shape, scan) in enumerate(plan["wsd"]["scan"].items()):
        ax.plot(scan["decay_fractions"], scan["loss"], marker=markers[i % len(markers)], ms=4, lw=1.2, alpha=0.85,
                mfc="none" if i % 2 else None, label=f"WSD, {shape} decay")
    styles = [":", "-.", (0, (5, 2)), (0, (1, 3))]
    others = [r for r in plan["ranking"] if r["family"] not in ("wsd", "candidate")]
    for i, r in enumerate(others):
        ax.axhline(r["loss"], lw=1.0, ls=styles[i % len(styles)], color="0.35",
                   label=f"{r['family']} (best of its family): {r['loss']:.4f}")
    w = plan["wsd"]
    ax.plot([w["decay_fraction"]], [w["loss"]], "k*", ms=11, zorder=5,
            label=f"best WSD: decay fraction {w['decay_fraction']:g} ({w['decay_shape']}), {w['loss']:.4f}")
    ax.set_xlabel("decay fraction (share of the steps in the decay)")
    ax.set_ylabel("predicted final loss (nats / token)")
    ax.set_title(f"{plan['law']}: {plan['steps']} steps, peak {plan['peak']:g}; best overall: {plan['ranking'][0]['family']}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)     # below: lines span the whole width
    return fig
