"""The figure of a fit: the plot a person looks at first, chosen by the law's family.

``scaling.plot(fit)`` (``scaling plot FIT.json --out FIG.png`` on the command line) draws the fit over the
data it was fitted to (a fit file keeps them) or over ``runs``:

=====================================  ===========================================================
law                                    kinds (the first is the default)
=====================================  ===========================================================
laws of (N, D): chinchilla, kaplan...  ``fit`` (loss vs D, one curve per N), ``residuals``,
                                       ``isoflops``, ``extrapolation`` (:mod:`scaling.plots`)
whole-curve: tissue, multipower        ``curves`` (loss and learning rate vs step,
                                       :func:`scaling.curve_plots.plot_curves`)
loss2loss                              ``loss2loss`` (:func:`scaling.downstream_plots.plot_loss2loss`)
sigmoid, a task chain                  ``sigmoid`` (:func:`scaling.downstream_plots.plot_sigmoid`)
error                                  ``error`` (top-1 error vs loss, the same function)
mixture laws                           ``mixture`` (predicted vs actual,
                                       :func:`scaling.mixture_plots.plot_mixture_fit`)
qat                                    ``qat`` (loss vs QAT fraction at the largest fitted (N, D),
                                       :func:`scaling.qat_plots.plot_qat_fraction`)
=====================================  ===========================================================

Other laws (``qat-closed-form``) and published laws without data have their own
functions in those modules; asking for a kind a law has not gets an ``InputError`` naming the kinds
it has.  ``runs`` replaces the fitted rows where the figure draws runs (``fit``, ``isoflops``,
``extrapolation``, ``curves``, ``qat``); the others draw the fitted rows only.
"""
from __future__ import annotations

import pandas as pd

from .curves import is_curve_law
from .errors import InputError

ND_KINDS = ("fit", "residuals", "isoflops", "extrapolation")
OWN_DATA = ("loss2loss", "sigmoid", "error", "mixture", "residuals")       # kinds drawn from the fitted rows only


def kinds(fit) -> tuple[str, ...]:
    """The figure kinds of ``fit``'s law, the default first (module docstring)."""
    from .chain import ChainedFit
    if isinstance(fit, ChainedFit):
        return ("sigmoid",) if fit.stages[-1].law.name == "sigmoid" else ()
    law = fit.law
    if is_curve_law(law):
        return ("curves",)
    if law.name in ("loss2loss", "sigmoid", "error", "qat"):
        return (law.name,)
    if law.name.startswith("mixture"):
        return ("mixture",)
    if set(law.columns) == {"params", "tokens"} and law.response == "loss":
        return ND_KINDS
    return ()


def plot(fit, runs=None, kind: str | None = None, schedules=None):
    """A matplotlib Figure of ``fit`` over ``runs`` (a runs table; default: the fit's own data).

    kind: one of :func:`kinds` (default: its first).  schedules: for the whole-curve laws, as for
    ``fit.predict`` (default: the schedules the fit was made with, when it stored them).
    """
    have = kinds(fit)
    name = getattr(getattr(fit, "law", None), "name", None) or getattr(fit, "name", "this fit")
    if not have:
        raise InputError(f"no default figure for a {name!r} fit; see the plot functions of scaling.plots, "
                         "scaling.downstream_plots, scaling.qat_plots and scaling.mixture_plots")
    kind = have[0] if kind is None else kind
    if kind not in have:
        raise InputError(f"figure kind {kind!r} is not one of a {name!r} fit's: {', '.join(have)}")
    table = None if runs is None else pd.DataFrame(runs)
    if table is not None and kind in OWN_DATA:
        raise InputError(f"the {kind} figure draws the rows the fit was made from, not other runs (to set other "
                         "rows against the law: others= of plot_loss2loss and plot_mixture_fit)")
    if kind == "curves":
        from .curve_plots import plot_curves
        table = fit.data if table is None else table
        if table is None:
            raise InputError("a whole-curve figure needs the runs: the fit carries no data; give runs (--data RUNS)")
        return plot_curves(fit, table, schedules=schedules)
    if kind == "loss2loss":
        from .downstream_plots import plot_loss2loss
        return plot_loss2loss(fit)
    if kind in ("sigmoid", "error"):
        from .downstream_plots import plot_sigmoid
        return plot_sigmoid(fit)
    if kind == "mixture":
        from .mixture_plots import plot_mixture_fit
        return plot_mixture_fit(fit)
    if kind == "qat":
        from .qat_plots import plot_qat_fraction
        data = fit.data if table is None else table
        if data is None or data.empty:
            raise InputError("a QAT figure is drawn at the largest fitted (N, D): the fit carries no data; give runs")
        top = data.sort_values(["params", "tokens"]).iloc[-1]
        return plot_qat_fraction(fit, float(top["params"]), float(top["tokens"]), runs=table)
    from . import plots
    if kind == "fit":
        return plots.plot_fit(fit, runs=table)
    if kind == "residuals":
        return plots.plot_residuals(fit)
    if kind == "isoflops":
        return plots.plot_isoflops(fit, runs=table)
    return plots.plot_extrapolation(fit, runs=table)
