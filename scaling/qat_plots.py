"""Figures of the QAT law (Dremov et al. 2025): loss against the QAT fraction per bit width, and the
optimal fraction against tokens per parameter byte with the paper's closed form.

Same conventions as :mod:`scaling.plots` (style, returns the Figure, never calls ``plt.show``).
Bit widths are coloured in order (C0, C1, ...); a band is the fit's interval (percentile interval over
its parameter samples at ``fit.level``); observed losses are dots.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fitters import qat

from .errors import InputError
from .plan_qat import F_MIN, _published_a, optimal_fractions
from .plots import _axes, _styled, focus_ylim
from .result import FitResult

__all__ = ["plot_qat_fraction", "plot_optimal_fraction"]
DEFAULT_BITS = (2.0, 4.0, 6.0)      # drawn for a fit that carries no QAT rows
F_MAX_DRAWN = 0.995      # the interaction term diverges at f = 1 when xi > 0


def _require_qat(fit: FitResult, what: str) -> None:
    if fit.law.name != "qat":
        raise InputError(f"{what} draws a fit of the qat law (it needs the loss); this is a {fit.law.name!r} law")


def _fitted_bits(fit: FitResult) -> list[float]:
    """The bit widths of the fit's quantization-aware rows (default curves of :func:`plot_qat_fraction`)."""
    data = fit.data
    if data is None or not {"bits", "qat_fraction"} <= set(data.columns):
        return list(DEFAULT_BITS)
    return sorted(float(b) for b in data.loc[data["qat_fraction"] > 0, "bits"].unique()) or list(DEFAULT_BITS)


@_styled
def plot_qat_fraction(fit: FitResult, params: float, tokens: float, bits=None, runs=None, ax=None,
                      points: int = 200) -> Figure:
    """Predicted loss against the QAT fraction f for an N-parameter model trained on D tokens, one
    curve per bit width (default: the bit widths the fit saw; others are extrapolations, labelled so)
    with its interval, the optimum f* of each marked, the FP model's loss (f = 0, never quantized) as a
    dotted line, and the observed losses of ``runs`` (default: the fit's data) at this (N, D).

    The y-range follows the curves over the fractions observed or optimal (outside them a curve can run off
    the top: near f = 0 the QAT terms blow up, and as f -> 1 the interaction term does when xi > 0), the data
    and the optima, never the bands: a weakly identified fit's band can be orders of magnitude wider and is
    clipped; one wider than the axes there is named in the legend, not drawn."""
    _require_qat(fit, "plot_qat_fraction")
    fig, ax = _axes(ax)
    f = np.linspace(F_MIN, F_MAX_DRAWN, points)
    table = fit.data if runs is None else pd.DataFrame(runs)
    seen_bits = _fitted_bits(fit)
    bits = seen_bits if bits is None else list(bits)
    fp = float(fit.predict(pd.DataFrame({"params": [params], "tokens": [tokens], "bits": [16],
                                         "qat_fraction": [0.0]}))["loss_pred"].iloc[0])
    ax.axhline(fp, color="0.3", ls=":", lw=1.0, label="FP model (no quantization)")
    focus, seen_f, preds = [fp], [], []
    for i, b in enumerate(bits):
        c = f"C{i % 10}"
        pred = fit.predict(pd.DataFrame({"params": params, "tokens": tokens, "bits": float(b), "qat_fraction": f}))
        preds.append((c, b, pred))
        extrapolated = "" if any(np.isclose(b, seen_bits)) else ", not fitted"
        ok = np.isfinite(pred["loss_pred"]).to_numpy()
        ax.plot(f[ok], pred["loss_pred"][ok], color=c,
                label=f"{b:g}-bit (S = {qat.tokens_per_byte(params, tokens, b):.3g}{extrapolated})")
        f_opt, loss_opt, _ = optimal_fractions(fit, params, tokens, b)
        ax.plot(f_opt, loss_opt, "*", color=c, ms=11, mec="k", mew=0.6, zorder=5)
        focus.append(loss_opt)
        seen_f.extend(np.ravel(f_opt))
        if table is not None and {"params", "tokens", "bits", "qat_fraction", "loss"} <= set(table.columns):
            seen = table[np.isclose(table["params"], params) & np.isclose(table["tokens"], tokens)
                         & np.isclose(table["bits"], b) & (table["qat_fraction"] > 0)]
            ax.plot(seen["qat_fraction"], seen["loss"], "o", color=c, ms=4, alpha=0.8)
            focus.append(seen["loss"])
            seen_f.extend(seen["qat_fraction"])
    span = (f >= min(seen_f)) & (f <= max(seen_f))      # the fractions observed or optimal: the y-range follows them
    focus_ylim(ax, *focus, *(pred["loss_pred"].to_numpy(float)[span] for _, _, pred in preds))
    lo, hi = ax.get_ylim()
    too_wide = []
    for c, b, pred in preds:
        inside = np.isfinite(pred["loss_pred"]).to_numpy()
        width = (pred["loss_hi"] - pred["loss_lo"]).to_numpy(float)[inside & span]
        if np.isnan(width).any():               # no samples (a fit without intervals): no band
            continue
        if not np.isfinite(width).all() or np.median(width) > hi - lo:    # would show only a block of colour
            too_wide.append(f"{b:g}")
            continue
        ax.fill_between(f[inside], pred["loss_lo"][inside], pred["loss_hi"][inside], color=c, alpha=0.18, lw=0)
    if too_wide:
        ax.plot([], [], ls="", label=f"intervals of {', '.join(too_wide)}-bit: wider than the axes\n(weakly identified fit), not drawn")
    ax.plot([], [], "*", color="0.5", mec="k", mew=0.6, ms=11, label="optimum f* of the fit")
    ax.set_xlabel("QAT fraction f (share of the tokens trained quantization-aware)")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(f"QAT loss against f: N = {params:.3g}, D = {tokens:.3g}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)     # below: the runs fill the axes
    return fig


@_styled
def plot_optimal_fraction(optima=None, fit: FitResult | None = None, params=None, bits=None, a: float | None = None,
                          tokens_per_byte=None, ax=None) -> Figure:
    """The optimal QAT fraction f* against tokens per parameter byte S = D / (N b / 8) (log axis):

    - the paper's closed form exp(-6.7297 / ln S) (``scaling.published("dremov2025")``), dashed;
    - ``a``: a fitted closed form (e.g. ``fitters.qat.fit_closed_form(S, f)["a"]``), solid;
    - ``optima``: grid optima (``fitters.qat.grid_optima(runs)``: ``tokens_per_byte``,
      ``qat_fraction``, ``bits``), dots coloured by bit width, hollow where the optimum is at the
      grid's edge;
    - ``fit``: a qat fit's f*(S) for each bit width of ``bits`` at N = ``params`` (default: the
      geometric mean of the fit's model sizes and its bit widths), thin lines.
    """
    fig, ax = _axes(ax)
    S_seen = [] if optima is None else list(pd.DataFrame(optima)["tokens_per_byte"])
    if tokens_per_byte is None:
        lo, hi = (min(S_seen) / 2, max(S_seen) * 2) if S_seen else (10.0, 1e5)
        tokens_per_byte = np.geomspace(max(lo, 1.5), hi, 200)
    S = np.asarray(tokens_per_byte, float)
    a_pub = _published_a()
    ax.plot(S, qat.closed_form(S, a_pub), "k--", lw=1.3, label=f"closed form, a = {a_pub:g} (Dremov et al. 2025)")
    if a is not None:
        ax.plot(S, qat.closed_form(S, a), "k-", lw=1.6, label=f"closed form fitted, a = {a:.4g}")
    bit_widths = []
    if optima is not None:
        opt = pd.DataFrame(optima)
        bit_widths = sorted(opt["bits"].unique()) if "bits" in opt.columns else []
        groups = opt.groupby("bits") if bit_widths else [(None, opt)]
        for b, g in groups:
            c = f"C{bit_widths.index(b) % 10}" if b is not None else "C0"
            edge = g["at_edge"].to_numpy(bool) if "at_edge" in g.columns else np.zeros(len(g), bool)
            ax.scatter(g["tokens_per_byte"][~edge], g["qat_fraction"][~edge], color=c, s=22, zorder=4,
                       label=f"grid optima, {b:g}-bit" if b is not None else "grid optima")
            ax.scatter(g["tokens_per_byte"][edge], g["qat_fraction"][edge], facecolor="none", edgecolor=c, s=22, zorder=4)
        if "at_edge" in opt.columns and opt["at_edge"].any():
            ax.scatter([], [], facecolor="none", edgecolor="0.4", s=22, label="optimum at the grid's edge")
    if fit is not None:
        _require_qat(fit, "plot_optimal_fraction")
        data = fit.data
        if params is None:
            params = float(np.exp(np.mean(np.log(data["params"])))) if data is not None else 1e8
        if bits is None:
            bits = _fitted_bits(fit)
        for b in bits:
            c = f"C{bit_widths.index(b) % 10}" if b in bit_widths else f"C{(len(bit_widths) + list(bits).index(b)) % 10}"
            f_opt, _, _ = optimal_fractions(fit, params, S * params * b / 8, b)
            ax.plot(S, f_opt, color=c, lw=1.0, alpha=0.9, label=f"qat fit, {b:g}-bit, N = {params:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("tokens per parameter byte S = D / (N b / 8)")
    ax.set_ylabel("optimal QAT fraction f*")
    ax.set_ylim(0, 1)
    ax.set_title("optimal QAT fraction against S")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)     # below: the curves fill the axes
    return fig
