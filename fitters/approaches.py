"""Compute-optimal scaling from the runs themselves: Hoffmann et al. 2022 Approaches 1 and 2.

Both approaches estimate, for a training budget of C FLOPs, the loss-minimising model size N_opt(C)
and token count D_opt(C), then fit power laws in C (Hoffmann et al. 2022, arXiv:2203.15556,
Sec. 3.1 and 3.2, their Eq. 4 and Table 2)::

    log N_opt = log k_N + a log C        log D_opt = log k_D + b log C

by ordinary least squares (statsmodels ``OLS``), so that ``a``, ``b``, their standard errors and
confidence intervals (``conf_int``) and the prediction intervals (``get_prediction``, on the log
scale, back-transformed) are the textbook ones. Logs are natural; C is ``flops`` when the table
has it and 6ND otherwise. Under a Chinchilla law L = E + A/N^alpha + B/D^beta with C = 6ND the
exact exponents are a = beta/(alpha+beta) and b = alpha/(alpha+beta).

- :func:`approach1` (Sec. 3.1): the minimum-loss envelope over FLOPs. Rows are binned by log C
  and the lowest-loss row of each bin is that budget's (C, N_opt, D_opt).
- :func:`approach2` (Sec. 3.2): isoFLOP profiles. For each budget a parabola in log N is fitted
  to the loss and its vertex is N_opt(C). Porian et al. 2024 (arXiv:2406.19146, Sec. 2) use the
  same recipe with an Akima interpolant in place of the parabola and an unweighted least-squares
  power law (their "basic" fit); a parabola restricted to the sizes near the minimum
  (``loss_window``) reproduces their exponents within 0.03 (``tests/test_approaches.py``).

Pure numpy/pandas/statsmodels: nothing here imports ``scaling`` or ``ladders``.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm


@dataclass(frozen=True)
class PowerLawInC:
    """``y = coef * C**exponent``, fitted as ``log y = log coef + exponent * log C`` by OLS.

    ``se`` and the intervals are NaN when the fit has no residual degrees of freedom (2 budgets).
    """

    exponent: float
    se: float
    ci: tuple[float, float]
    coef: float
    coef_ci: tuple[float, float]
    level: float
    results: Any = field(repr=False, compare=False)  # the statsmodels RegressionResults

    def predict(self, flops) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(value, lo, hi) at ``flops``: the fitted line and its confidence interval at ``level``
        (statsmodels ``get_prediction(...).summary_frame``, mean_ci, on the log scale)."""
        x = sm.add_constant(np.log(np.atleast_1d(np.asarray(flops, dtype=float))), has_constant="add")
        with np.errstate(all="ignore"):
            frame = self.results.get_prediction(x).summary_frame(alpha=1 - self.level)
        return tuple(np.exp(frame[col].to_numpy()) for col in ("mean", "mean_ci_lower", "mean_ci_upper"))

    def to_dict(self) -> dict:
        return {"exponent": _num(self.exponent), "se": _num(self.se), "ci": [_num(v) for v in self.ci],
                "coef": _num(self.coef), "coef_ci": [_num(v) for v in self.coef_ci]}


def fit_power_law_in_c(flops, y, level: float = 0.95) -> PowerLawInC:
    """OLS of log y on log C (the one power-law fit both approaches use)."""
    x = sm.add_constant(np.log(np.asarray(flops, dtype=float)), has_constant="add")
    with np.errstate(all="ignore"):
        res = sm.OLS(np.log(np.asarray(y, dtype=float)), x).fit()
        ci = res.conf_int(alpha=1 - level) if res.df_resid > 0 else np.full((2, 2), np.nan)
    se = float(res.bse[1]) if res.df_resid > 0 else math.nan
    return PowerLawInC(exponent=float(res.params[1]), se=se, ci=(float(ci[1, 0]), float(ci[1, 1])),
                       coef=float(np.exp(res.params[0])), coef_ci=(float(np.exp(ci[0, 0])), float(np.exp(ci[0, 1]))),
                       level=level, results=res)


@dataclass(frozen=True, eq=False)  # compared by identity: the table is a DataFrame
class _ComputeOptimal:
    """N_opt = k_N C^a and D_opt = k_D C^b with the per-budget table they were fitted to."""

    table: pd.DataFrame
    params_law: PowerLawInC
    tokens_law: PowerLawInC
    level: float

    title = ""

    a = property(lambda self: self.params_law.exponent, doc="exponent of N_opt in C")
    a_se = property(lambda self: self.params_law.se)
    a_ci = property(lambda self: self.params_law.ci)
    k_N = property(lambda self: self.params_law.coef, doc="N_opt = k_N C^a")
    b = property(lambda self: self.tokens_law.exponent, doc="exponent of D_opt in C")
    b_se = property(lambda self: self.tokens_law.se)
    b_ci = property(lambda self: self.tokens_law.ci)
    k_D = property(lambda self: self.tokens_law.coef, doc="D_opt = k_D C^b")

    def predict(self, flops) -> pd.DataFrame:
        """N_opt and D_opt at ``flops`` with confidence intervals of the fitted lines at ``level``:
        columns flops, params_opt, params_lo, params_hi, tokens_opt, tokens_lo, tokens_hi."""
        out = {"flops": np.atleast_1d(np.asarray(flops, dtype=float))}
        for name, law in (("params", self.params_law), ("tokens", self.tokens_law)):
            out[f"{name}_opt"], out[f"{name}_lo"], out[f"{name}_hi"] = law.predict(out["flops"])
        return pd.DataFrame(out)

    def _notes(self) -> list[str]:
        return []

    def summary(self) -> str:
        pct = f"{100 * self.level:g}%"
        lines = [f"{self.title}: {len(self.table)} FLOP budgets, {self.params_law.results.nobs:.0f} in the fit"]
        for sym, law, what in (("a", self.params_law, "N_opt = k_N C^a"), ("b", self.tokens_law, "D_opt = k_D C^b")):
            lines.append(f"  {what}: {sym} = {law.exponent:.4f} (se {law.se:.4f}, {pct} CI {law.ci[0]:.4f} .. "
                         f"{law.ci[1]:.4f}), k = {law.coef:.4g} "
                         f"({pct} CI {law.coef_ci[0]:.4g} .. {law.coef_ci[1]:.4g})")
        return "\n".join(lines + self._notes())

    def to_dict(self) -> dict:
        """JSON-safe: plain floats, NaN as None, the table as a list of records."""
        return {"approach": self.title, "level": self.level, "a": self.params_law.to_dict(),
                "b": self.tokens_law.to_dict(),
                "table": [{k: _num(v) for k, v in row.items()} for row in self.table.to_dict("records")]}


@dataclass(frozen=True, eq=False)
class Approach1Result(_ComputeOptimal):
    """Approach 1. ``table``: one row per non-empty log-FLOP bin, the bin's lowest-loss row:
    flops, params_opt, tokens_opt, loss_opt, rows_in_bin (and run when the table has it)."""

    title = "Hoffmann et al. 2022 Approach 1 (minimum-loss envelope)"


@dataclass(frozen=True, eq=False)
class Approach2Result(_ComputeOptimal):
    """Approach 2. ``table``: one row per FLOP budget: flops, sizes (distinct N), params_opt,
    log_params_opt_se (delta-method SE of ln N_opt), tokens_opt, loss_opt, c0, c1, c2
    (loss ~ c0 + c1 ln N + c2 ln N^2 over the fitted points), flag ("" when used) and used."""

    title = "Hoffmann et al. 2022 Approach 2 (isoFLOP parabolas)"

    @property
    def flagged(self) -> pd.DataFrame:
        """Budgets left out of the power-law fit, with the reason in ``flag``."""
        return self.table[~self.table["used"]]

    def _notes(self) -> list[str]:
        return [f"  excluded C = {r.flops:.4g}: {r.flag}" for r in self.flagged.itertuples()]


def approach1(runs: pd.DataFrame, n_bins: int = 30, level: float = 0.95) -> Approach1Result:
    """Hoffmann et al. 2022 Approach 1 (Sec. 3.1): the minimum over runs of loss at fixed FLOPs.

    The rows (every logged evaluation counts, so training curves trace the envelope) are put into
    ``n_bins`` equal-width bins of log C between the smallest and largest C; in each non-empty bin
    the row with the lowest loss gives (C, N_opt, D_opt) = that row's (flops, params, tokens).
    Then log N_opt = log k_N + a log C and log D_opt = log k_D + b log C by OLS.

    Hoffmann interpolate every run's curve at 1,500 FLOP values; bins stand in for that. A bin's
    rows differ in C and the lowest loss leans to its high-C end, so wide bins bias the envelope
    (a dense ladder of training curves gives a = 0.534 with 30 bins and 0.513 with 100, true
    0.514), while narrow bins on sparse data hold a single, not necessarily optimal, run
    (``rows_in_bin`` in the table says how many competed).  A table without a run's logged curve (no
    ``run`` column, or one row per run) is warned about: each bin's minimum is then one of the few sizes
    trained, and N_opt(C) moves in steps (Approach 2 suits one final loss per run).
    """
    df = _prepare(runs, "approach1")
    if n_bins < 2:
        raise ValueError(f"approach1: n_bins must be at least 2, got {n_bins}")
    logc = np.log(df["flops"].to_numpy())
    edges = np.linspace(logc.min(), logc.max(), n_bins + 1)
    df["bin"] = np.clip(np.searchsorted(edges, logc, side="right") - 1, 0, n_bins - 1)
    bins = df.groupby("bin")
    best = df.loc[bins["loss"].idxmin()]
    table = pd.DataFrame({"flops": best["flops"], "params_opt": best["params"], "tokens_opt": best["tokens"],
                          "loss_opt": best["loss"], "rows_in_bin": bins.size().loc[best["bin"]].to_numpy()})
    if "run" in df:
        table["run"] = best["run"].astype(str)
    table = table.reset_index(drop=True)
    if len(table) < 2:
        raise ValueError(f"approach1: only {len(table)} FLOP bin has rows; need rows at 2 or more FLOP values")
    if "run" not in df or df.groupby("run").size().max() == 1:
        warnings.warn("approach1: every run has one row (no training curve), so each FLOP bin's minimum is one of the "
                      "few sizes trained and N_opt(C) moves in steps - the exponents and their intervals can be far off "
                      "(a lattice of sizes fits a line exactly). Approach 1 needs each run's logged curve; for one final "
                      "loss per run use approach2 (isoFLOP profiles)", stacklevel=2)
    return Approach1Result(table=table, params_law=fit_power_law_in_c(table["flops"], table["params_opt"], level),
                           tokens_law=fit_power_law_in_c(table["flops"], table["tokens_opt"], level), level=level)


def approach2(runs: pd.DataFrame, budget_rtol: float | None = 1e-6, loss_window: float | None = None,
              level: float = 0.95) -> Approach2Result:
    """Hoffmann et al. 2022 Approach 2 (Sec. 3.2): parabolas through isoFLOP profiles.

    Budgets: rows with the same ``flops`` form one budget (equal up to ``budget_rtol`` = 1e-6 by
    default, so FLOPs computed as 6ND in floating point still group; None: bit-exact). With ``budget_rtol`` = r, FLOP values
    are sorted and a budget takes every value up to (1 + r) times its smallest, the next value
    starting the next budget; its C is the geometric mean of its rows' FLOPs (for data such as
    the Epoch reconstruction, whose FLOPs scatter around Hoffmann's nominal budgets).

    Per budget with at least 3 distinct N, OLS of loss = c0 + c1 x + c2 x^2, x = ln N, gives
    ln N_opt = x* = -c1 / (2 c2), with the delta-method standard error
    se(x*)^2 = g' Cov(c) g, g = (0, -1/(2 c2), c1/(2 c2^2)); loss_opt is the parabola at x*, and
    D_opt = C / (k N_opt) with k = C/(ND) of the budget's rows (median; 6 without ``flops``).
    ``loss_window`` = w fits each parabola to the rows whose loss is within a factor (1 + w) of
    the budget's lowest: a parabola only approximates the profile near its minimum, and wide
    grids (Porian et al. 2024 span two decades of N per budget) otherwise bias the vertex;
    w = 0.1 reproduces Porian et al.'s exponents. The default fits every row, as Hoffmann did.

    Budgets with fewer than 3 distinct N, a parabola that opens downward (c2 <= 0), or a vertex
    outside the fitted N range are flagged in the table and left out of the power-law fits with a
    warning naming them. The power laws are then fitted by OLS as in Porian et al.'s "basic" fit.
    """
    df = _prepare(runs, "approach2")
    if budget_rtol is not None and budget_rtol < 0:
        raise ValueError(f"approach2: budget_rtol must be >= 0, got {budget_rtol}")
    if loss_window is not None and loss_window < 0:
        raise ValueError(f"approach2: loss_window must be >= 0, got {loss_window}")
    df["budget"] = _budgets(df["flops"].to_numpy(), budget_rtol)
    table = pd.DataFrame([_isoflop_minimum(g, loss_window) for _, g in df.groupby("budget")])
    used, flagged = table[table["used"]], table[~table["used"]]
    reasons = "; ".join(f"C = {r.flops:.4g} ({r.flag})" for r in flagged.itertuples())
    if len(used) < 2:
        raise ValueError(f"approach2: only {len(used)} FLOP budget has >= 3 distinct params and a parabola with a "
                         f"minimum inside the fitted params range; need at least 2 budgets. Flagged: {reasons}")
    if len(flagged):
        warnings.warn(f"approach2: left out of the power-law fit: {reasons}", stacklevel=2)
    return Approach2Result(table=table, params_law=fit_power_law_in_c(used["flops"], used["params_opt"], level),
                           tokens_law=fit_power_law_in_c(used["flops"], used["tokens_opt"], level), level=level)


def _isoflop_minimum(g: pd.DataFrame, loss_window: float | None) -> dict:
    """One budget's row of the Approach 2 table (see :func:`approach2`)."""
    flops = float(g["flops"].iloc[0] if g["flops"].nunique() == 1 else np.exp(np.log(g["flops"]).mean()))
    k = float(np.median(g["flops"] / (g["params"] * g["tokens"])))
    loss_cut = math.inf if loss_window is None else (1 + loss_window) * float(g["loss"].min())
    g = g[g["loss"] <= loss_cut]
    row = {"flops": flops, "sizes": g["params"].nunique(), "params_opt": math.nan, "log_params_opt_se": math.nan,
           "tokens_opt": math.nan, "loss_opt": math.nan, "c0": math.nan, "c1": math.nan, "c2": math.nan,
           "params_min": float(g["params"].min()), "params_max": float(g["params"].max()), "loss_cut": loss_cut}
    if row["sizes"] < 3:
        where = " within loss_window" if loss_window is not None else ""
        return row | {"flag": f"fewer than 3 distinct params{where}", "used": False}
    x = np.log(g["params"].to_numpy())
    with np.errstate(all="ignore"):
        res = sm.OLS(g["loss"].to_numpy(), np.column_stack([np.ones_like(x), x, x * x])).fit()
    c0, c1, c2 = res.params
    row |= {"c0": c0, "c1": c1, "c2": c2}
    if c2 <= 0:
        return row | {"flag": "parabola opens downward", "used": False}
    xs = -c1 / (2 * c2)
    row |= {"params_opt": math.exp(xs), "tokens_opt": flops / (k * math.exp(xs)), "loss_opt": c0 - c1 * c1 / (4 * c2)}
    if res.df_resid > 0:
        grad = np.array([0.0, -1 / (2 * c2), c1 / (2 * c2 * c2)])
        row["log_params_opt_se"] = float(np.sqrt(grad @ res.cov_params() @ grad))
    if not x.min() <= xs <= x.max():
        return row | {"flag": f"minimum N = {math.exp(xs):.4g} outside the fitted params range "
                              f"{math.exp(x.min()):.4g} .. {math.exp(x.max()):.4g}", "used": False}
    return row | {"flag": "", "used": True}


def _budgets(flops: np.ndarray, rtol: float | None) -> np.ndarray:
    """Budget index of each row: exact FLOP values, or runs of sorted values within (1 + rtol)."""
    values, inverse = np.unique(flops, return_inverse=True)
    if rtol is None:
        return inverse
    group, start = np.zeros(len(values), dtype=int), values[0]
    for i in range(1, len(values)):
        new = values[i] > start * (1 + rtol)
        start = values[i] if new else start
        group[i] = group[i - 1] + new
    return group[inverse]


def _prepare(runs: pd.DataFrame, who: str) -> pd.DataFrame:
    """The columns both approaches use, checked: params, tokens, loss, flops (6ND when absent), run."""
    missing = [c for c in ("params", "tokens", "loss") if c not in runs]
    if missing:
        raise ValueError(f"{who}: runs lacks column(s) {missing}; it needs params, tokens, loss (flops optional)")
    if "dataset" in runs and runs["dataset"].nunique() > 1:
        raise ValueError(f"{who}: runs has losses on {runs['dataset'].nunique()} datasets "
                         f"{sorted(runs['dataset'].unique())}; select one, e.g. runs[runs.dataset == 'train']")
    df = pd.DataFrame(index=range(len(runs)))
    if "run" in runs:
        df["run"] = runs["run"].to_numpy()
    for col in ("params", "tokens", "loss", "flops"):
        if col == "flops" and col not in runs:
            df[col] = 6.0 * df["params"] * df["tokens"]
            continue
        v = pd.to_numeric(runs[col], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~(np.isfinite(v) & (v > 0)))
        if len(bad):
            raise ValueError(f"{who}: column {col!r} must be finite and positive; "
                             f"row {runs.index[bad[0]]} has {runs[col].iloc[bad[0]]!r}")
        df[col] = v
    return df


def _num(v):
    """A JSON-safe scalar: numpy numbers as Python ones, NaN/inf as None."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    return v
