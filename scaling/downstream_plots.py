"""Figures of loss-to-loss and downstream fits: the loss-loss line, the sigmoid through checkpoints,
a chained prediction with its interval.

Conventions as in :mod:`scaling.plots`: each function draws into ``ax`` when given (else a new
figure) and returns the matplotlib Figure; bands are the fit's percentile intervals at its
``level`` (none for a fit without samples); losses in nats per token.
"""
from __future__ import annotations

from typing import Mapping

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from .chain import ChainedFit
from .errors import InputError
from .plots import RUNS_CMAP, _axes, _colorbar, _styled, focus_ylim
from .result import FitResult, percentile_interval
from .runs import FLOPS_PER_PARAM_TOKEN

__all__ = ["plot_loss2loss", "plot_sigmoid", "plot_chain"]


def _band(fit: FitResult, X: dict):
    samples = fit.loss_samples(X)
    if samples is None:
        return None
    with np.errstate(invalid="ignore"):
        return percentile_interval(samples[np.all(np.isfinite(samples), axis=1)], fit.level)


@_styled
def plot_loss2loss(fit: FitResult, others: Mapping[str, tuple] | None = None, ax=None) -> Figure:
    """The fitted shifted power law L_y(L_x) with its interval band and the pairs it was fitted to.

    others: extra point sets ``{label: (loss_x, loss_y)}`` drawn against the line (e.g. models of
    another architecture or tokenizer).
    """
    if fit.law.name != "loss2loss" or fit.data is None or "loss_x" not in fit.data:
        raise InputError("plot_loss2loss draws a loss2loss fit (with its data)")
    fig, ax = _axes(ax)
    opts = fit.options.get("law_options", {})
    lx, ly = fit.data["loss_x"].to_numpy(float), fit.data["loss_y"].to_numpy(float)
    xs = [lx] + [np.asarray(v[0], float) for v in (others or {}).values()]
    lo_x = max(min(float(np.min(x)) for x in xs), fit.params["E_x"] + 1e-3)
    hi_x = max(float(np.max(x)) for x in xs)
    pad = 0.05 * (hi_x - lo_x)
    grid = np.linspace(max(lo_x - pad, fit.params["E_x"] + 1e-3), hi_x + pad, 200)
    line = fit.point_loss({"loss": grid})
    band = _band(fit, {"loss": grid})
    if band is not None:
        ax.fill_between(grid, band[0], band[1], color="C0", alpha=0.2, lw=0,
                        label=f"{100 * fit.level:g}% interval")
    p = fit.params
    ax.plot(grid, line, color="C0", label=f"K={p['K']:.3g}, kappa={p['kappa']:.3g}, E_x={p['E_x']:.3g}, E_y={p['E_y']:.3g}")
    ax.scatter(lx, ly, s=18, color="0.15", edgecolor="white", lw=0.5, zorder=3, label=f"fitted pairs ({len(lx)})")
    for i, (label, (ox, oy)) in enumerate((others or {}).items(), start=1):
        ax.scatter(ox, oy, s=22, marker="^", color=f"C{i}", zorder=3, label=label)
    focus_ylim(ax, ly, line, *[v[1] for v in (others or {}).values()], pad=0.1)
    ax.set_xlabel(f"loss on {opts.get('x', 'x')} (nats/token)")
    ax.set_ylabel(f"loss on {opts.get('y', 'y')} (nats/token)")
    ax.set_title(f"loss-to-loss: {fit.law.formula}")
    ax.legend()
    return fig


def _sigmoid_stage(fit) -> FitResult:
    stage = fit.stages[-1] if isinstance(fit, ChainedFit) else fit
    if stage.law.name not in ("sigmoid", "error"):
        raise InputError("plot_sigmoid draws a sigmoid or error-law fit (or a task chain, whose step 2 it is)")
    return stage


@_styled
def plot_sigmoid(fit, ax=None) -> Figure:
    """Step 2 of a task chain, a sigmoid fit (accuracy against task loss) or an error-law fit (top-1 error
    against loss, Gadre et al. 2024): the law with its band, checkpoints coloured by model size N (when
    the data carry ``params``)."""
    stage = _sigmoid_stage(fit)
    response = stage.law.response
    fig, ax = _axes(ax)
    data = stage.data
    L = data["loss"].to_numpy(float)
    grid = np.linspace(L.min() - 0.15 * np.ptp(L), L.max() + 0.15 * np.ptp(L), 200)
    band = _band(stage, {"loss": grid})
    if band is not None:
        ax.fill_between(grid, band[0], band[1], color="k", alpha=0.15, lw=0, label=f"{100 * stage.level:g}% interval")
    ax.plot(grid, stage.point_loss({"loss": grid}), color="k",
            label=", ".join(f"{k}={v:.3g}" for k, v in stage.params.items()))
    if "params" in data.columns and data["params"].nunique() > 1:
        n = data["params"].to_numpy(float)
        norm = LogNorm(n.min(), n.max())
        ax.scatter(L, data[response], s=12, c=n, cmap=RUNS_CMAP, norm=norm, alpha=0.85, zorder=3,
                   label=f"checkpoints ({data['run'].nunique() if 'run' in data else len(data)} runs)")
        _colorbar(fig, ax, norm, mpl.colormaps[RUNS_CMAP], "parameters N")
    else:
        ax.scatter(L, data[response], s=12, color="C0", zorder=3, label="checkpoints")
    x = "task loss" if response == "accuracy" else f"loss on {stage.stored_law_options().get('x', 'x')}"
    ax.set_xlabel(f"{x} (nats/token)")
    ax.set_ylabel("accuracy" if response == "accuracy" else "top-1 error")
    what = "step 2" if stage is not fit else ("error law (Gadre et al. 2024)" if response != "accuracy" else "sigmoid")
    ax.set_title(f"{what}: {stage.law.formula}")
    ax.legend()
    return fig


@_styled
def plot_chain(fit: ChainedFit, target, held_out=None, n: int = 60, ax=None) -> Figure:
    """The chain's final prediction with its interval along compute, up to ``target`` (rows of params, tokens).

    The curve follows the target's tokens per parameter from the smallest fitted run's compute;
    the ladder's own final points (the last step's data) and ``held_out`` (rows with the actual
    response, e.g. ``accuracy`` or ``error``) are drawn with it.
    """
    if not isinstance(fit, ChainedFit) or tuple(fit.law.inputs) != ("params", "tokens"):
        raise InputError("plot_chain draws a chain that starts from (params, tokens), e.g. fit('task', ...)")
    target = pd.DataFrame(target).reset_index(drop=True)
    first = fit.stages[0].data
    c_lo = float(np.min(FLOPS_PER_PARAM_TOKEN * first["params"] * first["tokens"]))
    ratio = float(target["tokens"].iloc[0] / target["params"].iloc[0])
    c_hi = float(np.max(FLOPS_PER_PARAM_TOKEN * target["params"] * target["tokens"]))
    C = np.geomspace(c_lo, c_hi, n)
    N = np.sqrt(C / (FLOPS_PER_PARAM_TOKEN * ratio))
    path = fit.predict(pd.DataFrame({"params": N, "tokens": ratio * N}))
    stem, name = fit.columns()[-1], fit.response
    fig, ax = _axes(ax)
    ax.fill_between(C, path[f"{stem}_lo"], path[f"{stem}_hi"], color="C0", alpha=0.2, lw=0,
                    label=f"{100 * fit.level:g}% interval (both steps)")
    ax.plot(C, path[f"{stem}_pred"], color="C0", label=f"chained prediction ({ratio:.3g} tokens/param)")
    last = fit.stages[-1].data
    if last is not None and name in last and {"params", "tokens"} <= set(last.columns):
        ends = last.loc[last.groupby("run")["tokens"].idxmax()] if "run" in last else last
        ax.scatter(FLOPS_PER_PARAM_TOKEN * ends["params"] * ends["tokens"], ends[name], s=14, color="k",
                   zorder=3, label="ladder runs (final checkpoints)")
    pred = fit.predict(target)
    Ct = FLOPS_PER_PARAM_TOKEN * target["params"] * target["tokens"]
    ax.errorbar(Ct, pred[f"{stem}_pred"], yerr=[pred[f"{stem}_pred"] - pred[f"{stem}_lo"],
                                                 pred[f"{stem}_hi"] - pred[f"{stem}_pred"]],
                fmt="o", color="C3", capsize=3, zorder=4, label="target: predicted")
    if held_out is not None:
        h = pd.DataFrame(held_out)
        ax.scatter(FLOPS_PER_PARAM_TOKEN * h["params"] * h["tokens"], h[name], marker="*", s=150, facecolor="none",
                   edgecolor="C2", lw=1.4, zorder=5, label="target: actual")
    ax.set_xscale("log")
    ax.set_xlabel("training compute C = 6ND (FLOPs)")
    ax.set_ylabel({"error": "top-1 error", "accuracy": "accuracy"}.get(name, name))
    ax.set_title(f"{fit.name}: " + " -> ".join(s.law.name for s in fit.stages))
    ax.legend()
    return fig
