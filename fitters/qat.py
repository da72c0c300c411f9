"""Compute-optimal quantization-aware training (Dremov, Grangier, Katharopoulos & Hannun 2025,
"Compute-Optimal Quantization-Aware Training", arXiv:2509.22935): the loss of a model trained in
full precision (FP) for D_fp tokens, then quantization-aware (QAT) at b bits for D_qat tokens.

With N parameters, the bit width b and the *tokens per parameter byte* of each phase,

    S = D / (N b / 8),   S_fp = D_fp / (N b / 8),   S_qat = D_qat / (N b / 8),
    D_fp = (1 - f) D,    D_qat = f D                (f: the QAT fraction, column ``qat_fraction``)

the law (the issue's form; B is Chinchilla's data coefficient, called B_c there) is a Chinchilla
part plus three quantization penalties::

    L = E + A/N^alpha + B/D^beta                                   (Hoffmann et al. 2022, Eq. 2)
        + theta 2^(-kappa b)                                       (what QAT cannot recover)
        + phi 2^(-chi b) / (N^psi S_qat^omega)                     (adaptation to the quantized grid)
        + lambda 2^(-mu b) / (N^nu S_fp^xi S_qat^rho)              (interaction of the two phases)

Every exponent is a free real.  D in the Chinchilla part is D_fp + D_qat
(``chinchilla_tokens="total"``, default) or D_fp alone (``"fp"``).

Parameters.  The law is fitted, and its parameters reported, relative to a reference point
(:data:`REFERENCE`: N0 = 1e8 parameters, D0 = 1e10 tokens, b0 = 4 bits, S0 = 100 tokens per byte)::

    L = E + A0 (N/N0)^-alpha + B0 (D/D0)^-beta + theta0 2^(-kappa (b - b0))
        + phi0 2^(-chi (b - b0)) / ((N/N0)^psi (S_qat/S0)^omega)
        + lambda0 2^(-mu (b - b0)) / ((N/N0)^nu (S_fp/S0)^xi (S_qat/S0)^rho)

the same law, so ``A0`` is the A-term's loss at N0, ``phi0`` the phi-term's at (N0, b0, S0), and
so on.  The raw coefficients of the first form (A, B, theta, phi, lambda) are derived quantities,
reported with their intervals.  Why: with raw coefficients every log-coefficient is strongly
coupled to its exponents (log N is about 19 at 1e8), the normal matrix's condition number was
7e7 on the synthetic acceptance data against 1.6e6 here, and L-BFGS lanes stopped on the flat
valleys (the best of 64 starts ended 27 % above the true optimum's objective; here most of them
reach it).

FP rows (``qat_fraction`` 0) are models that were never quantized: they evaluate the Chinchilla
part only (no penalty term), so they pin E, A, B, alpha, beta in the same fit as the QAT rows
(``bits`` of an FP row, e.g. 16, is not used).  A QAT fit needs FP rows with at least two distinct
``params`` and two distinct ``tokens``, or the Chinchilla part given (``chinchilla=`` a fitted or
published Chinchilla law, or a mapping of E, A, B, alpha, beta), which is then held fixed.
At ``qat_fraction`` 1 (QAT from scratch, S_fp = 0) the interaction term is its limit: 0 for
xi < 0, infinite for xi > 0, so such rows restrict a fit to xi <= 0.

Fit space: logs of E, A0, B0, theta0, phi0, lambda0, then the ten exponents; ``log L`` is the
log-sum-exp of the six terms' logs (penalties at ``-inf`` on FP rows).  Starts are drawn from the
data, not from a grid (a product grid over 16 coordinates is out of reach): the Chinchilla part
from an engine fit to the FP rows (Hoffmann's 4,500-start grid), the eight penalty exponents at
random over wide ranges (:data:`EXPONENT_RANGES`), and for each draw the three penalty
coefficients by non-negative least squares on what the QAT rows lose against that Chinchilla part
(the penalties are linear in theta0, phi0, lambda0 once the exponents are set).  The engine solves
all starts together.

The optimal QAT fraction has the paper's closed form in S alone, ``f*(S) = exp(-a / ln S)``
(a = 6.7297, their fit): the law ``qat-closed-form`` (``scaling.published("dremov2025")``),
:func:`fit_closed_form`, which fits ``a`` to grid optima, and :func:`grid_optima`, which finds them.
"""
from __future__ import annotations

import warnings
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import optimize, stats

from . import engine
from .chinchilla import LAW as CHINCHILLA_LAW
from .law import Law, Observations

LN2 = float(np.log(2.0))
BITS_RANGE = (1.0, 16.0)
FP_BITS_MAX = 64.0       # an FP row's bits (not used): an fp32 or fp64 baseline is fine
CHINCHILLA = ("E", "A", "B", "alpha", "beta")
REFERENCE = {"params": 1e8, "tokens": 1e10, "bits": 4.0, "tokens_per_byte": 100.0}   # where theta0, phi0, lambda0 are the terms' values
NAMES = ("E", "A0", "B0", "theta0", "phi0", "lambda0", "alpha", "beta", "kappa", "chi", "psi", "omega", "mu", "nu", "xi", "rho")
N_LOG = 6
TOKEN_MODES = ("total", "fp")
N_STARTS = 1024          # the landscape is rugged (16 parameters, most weakly identified): 128 starts left the
                         # shipped QAT ladder's fits up to 6 % above what 2,048 reach
# ranges of the random starting exponents (wide; truth-blind): bit exponents >= 0 (more bits, less penalty)
EXPONENT_RANGES = {"kappa": (0.0, 2.0), "chi": (0.0, 2.0), "mu": (0.0, 2.0), "psi": (-0.5, 1.0), "nu": (-0.5, 1.0),
                   "omega": (-1.0, 2.0), "xi": (-1.0, 2.0), "rho": (-1.0, 2.0)}


def log_predict(theta, X):
    """``log L``: a stable log-sum-exp of the six terms (the shift held constant for differentiation)."""
    (e, a, b, t, p, lam, alpha, beta, kappa, chi, psi, omega, mu, nu, xi, rho) = (theta[i] for i in range(16))
    qat = X["qat"] > 0
    bc, nc, sq = X["bits_c"], X["log_params_c"], X["log_s_qat_c"]
    fp_term = jnp.where(X["no_fp"] > 0, jnp.where(xi < 0, -jnp.inf, jnp.where(xi > 0, jnp.inf, 0.0)),
                        -xi * X["log_s_fp_c"])
    terms = [a - alpha * nc, b - beta * X["log_tokens_c"], jnp.broadcast_to(e, nc.shape),
             jnp.where(qat, t - kappa * bc, -jnp.inf),
             jnp.where(qat, p - chi * bc - psi * nc - omega * sq, -jnp.inf),
             jnp.where(qat, lam - mu * bc - nu * nc - rho * sq + fp_term, -jnp.inf)]
    m = terms[0]
    for u in terms[1:]:
        m = jnp.maximum(m, u)
    m = jax.lax.stop_gradient(m)
    m = jnp.where(jnp.isfinite(m), m, 0.0)
    return m + jnp.log(sum(jnp.exp(u - m) for u in terms))


def tokens_per_byte(params, tokens, bits):
    """S = D / (N B / 8): training tokens per byte of the B-bit weights (Dremov et al. 2025)."""
    return np.asarray(tokens, float) / (np.asarray(params, float) * np.asarray(bits, float) / 8.0)


def _column(table: pd.DataFrame, name: str) -> np.ndarray:
    if name not in table.columns:
        raise ValueError(f"missing column {name!r}: the QAT law reads params, tokens, bits and qat_fraction "
                         f"(0 for FP runs); columns are {list(table.columns)}")
    return pd.to_numeric(table[name], errors="coerce").to_numpy(float)


def inputs(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(N, D, bits, f) of a table's rows, validated; errors name the row and column."""
    n, d, bits, f = (_column(table, c) for c in ("params", "tokens", "bits", "qat_fraction"))
    for col, v in (("params", n), ("tokens", d)):
        bad = np.flatnonzero(~(np.isfinite(v) & (v > 0)))
        if bad.size:
            raise ValueError(f"column {col!r}, row {table.index[bad[0]]}: {table[col].iloc[bad[0]]} is not a positive number")
    bad = np.flatnonzero(~((f >= 0) & (f <= 1)))
    if bad.size:
        raise ValueError(f"column 'qat_fraction', row {table.index[bad[0]]}: {table['qat_fraction'].iloc[bad[0]]} is "
                         f"not a fraction in [0, 1] (the share of the tokens trained quantization-aware; 0 for FP runs; "
                         f"{bad.size} such row(s))")
    qat = f > 0
    bad = np.flatnonzero(qat & ~((bits >= BITS_RANGE[0]) & (bits <= BITS_RANGE[1])))
    if bad.size:
        raise ValueError(f"column 'bits', row {table.index[bad[0]]}: {table['bits'].iloc[bad[0]]} is not a bit width "
                         f"in 1..16 ({bad.size} such row(s))")
    bad = np.flatnonzero(~qat & np.isfinite(bits) & ~((bits >= BITS_RANGE[0]) & (bits <= FP_BITS_MAX)))
    if bad.size:
        raise ValueError(f"column 'bits', row {table.index[bad[0]]}: {table['bits'].iloc[bad[0]]} is not a bit width "
                         f"in 1..{FP_BITS_MAX:g} (an FP row's bits are not used: 16, 32, or leave it empty)")
    return n, d, bits, f


def _check_chinchilla_tokens(f, mode: str, index) -> None:
    """D of the Chinchilla part is D_fp + D_qat (``"total"``) or D_fp (``"fp"``, undefined at f = 1)."""
    if mode not in TOKEN_MODES:
        raise ValueError(f"chinchilla_tokens={mode!r}; choose one of {TOKEN_MODES}")
    if mode == "fp" and np.any(f >= 1):
        raise ValueError(f"row {index[int(np.flatnonzero(f >= 1)[0])]}: qat_fraction 1 leaves no FP tokens for the "
                         f"Chinchilla part (chinchilla_tokens='fp'); use chinchilla_tokens='total'")


def prepare(table: pd.DataFrame, chinchilla_tokens: str = "total", **_options) -> dict:
    """The law's inputs for a table's rows (validated; errors name the row and column)."""
    n, d, bits, f = inputs(table)
    _check_chinchilla_tokens(f, chinchilla_tokens, table.index)
    return design(n, d, bits, f, chinchilla_tokens)


def design(n, d, bits, f, chinchilla_tokens: str = "total") -> dict:
    """The law's inputs for arrays (any broadcastable shapes) of N, D, bits and f: logs relative to
    :data:`REFERENCE` and masks (FP entries get placeholder 0s where a penalty input is unused)."""
    n, d, bits, f = np.broadcast_arrays(*(np.asarray(v, float) for v in (n, d, bits, f)))
    qat, no_fp = f > 0, f >= 1
    d_chin = d if chinchilla_tokens == "total" else (1 - f) * d     # "fp" at f = 1: D_fp = 0, an infinite B-term
    s = tokens_per_byte(n, d, np.where(qat, bits, 8.0))
    ref = REFERENCE
    with np.errstate(divide="ignore"):
        log_tokens_c = np.log(d_chin / ref["tokens"])
    return {"log_params_c": np.log(n / ref["params"]), "log_tokens_c": log_tokens_c,
            "bits_c": np.where(qat, (bits - ref["bits"]) * LN2, 0.0),
            "log_s_qat_c": np.where(qat, np.log(np.where(qat, f * s, 1.0) / ref["tokens_per_byte"]), 0.0),
            "log_s_fp_c": np.where(no_fp, 0.0, np.log(np.where(no_fp, 1.0, (1 - f) * s) / ref["tokens_per_byte"])),
            "qat": qat.astype(float), "no_fp": no_fp.astype(float)}


def chinchilla_reference(p: Mapping[str, float]) -> dict:
    """A Chinchilla law (E, A, B, alpha, beta) in this law's parameters: A0 = A / N0^alpha, B0 = B / D0^beta."""
    return {"E": p["E"], "A0": p["A"] * REFERENCE["params"] ** -p["alpha"],
            "B0": p["B"] * REFERENCE["tokens"] ** -p["beta"], "alpha": p["alpha"], "beta": p["beta"]}


def _chinchilla_params(chinchilla_law) -> dict:
    """E, A, B, alpha, beta from a fit result (anything with ``.params``) or a mapping."""
    p = getattr(chinchilla_law, "params", chinchilla_law)
    if not isinstance(p, Mapping):
        raise ValueError(f"chinchilla= takes a fitted or published Chinchilla law (scaling.published('besiroglu2024')) "
                         f"or a mapping of {list(CHINCHILLA)}; got {type(chinchilla_law).__name__}")
    missing = [k for k in CHINCHILLA if k not in p]
    if missing:
        raise ValueError(f"chinchilla=: the Chinchilla part needs {list(CHINCHILLA)}; missing {missing}")
    return {k: float(p[k]) for k in CHINCHILLA}


def observe(table: pd.DataFrame, chinchilla_tokens: str = "total", chinchilla=None,
            n_starts: int = N_STARTS) -> Observations:
    """Validated rows, the Chinchilla part (fixed when ``chinchilla=`` is given) and data-drawn starts."""
    if "dataset" in table.columns and table["dataset"].nunique() > 1:
        raise ValueError(f"the table holds losses on several datasets {sorted(map(str, table['dataset'].unique()))}; "
                         f"choose one (dataset=NAME, --dataset NAME)")
    if "run" in table.columns and table["run"].duplicated().any():
        run = table["run"][table["run"].duplicated()].iloc[0]
        raise ValueError(f"run {run!r} has several rows: the QAT law fits each run's final loss; pass one row per run "
                         f"(scaling.runs.final_rows(table))")
    n, d, bits, f = inputs(table)
    _check_chinchilla_tokens(f, chinchilla_tokens, table.index)
    X = design(n, d, bits, f, chinchilla_tokens)
    y = _column(table, "loss")
    fp, qat = f == 0, f > 0
    if not qat.any():
        raise ValueError("no QAT rows (qat_fraction > 0): fit the FP rows with the chinchilla law")
    notes = {"rows_fp": int(fp.sum()), "rows_qat": int(qat.sum()), "chinchilla_tokens": chinchilla_tokens}
    if chinchilla is not None:
        chin = _chinchilla_params(chinchilla)
        fixed = chinchilla_reference(chin)
        notes["chinchilla"] = "given, held fixed"
    else:
        few = [c for c, v in (("params", n[fp]), ("tokens", d[fp])) if np.unique(v).size < 2]
        if few:
            raise ValueError(f"the FP rows (qat_fraction 0) pin the Chinchilla part of the QAT law and need at least two "
                             f"distinct {' and '.join(few)} ({int(fp.sum())} FP row(s) given); add FP runs, or give the "
                             f"Chinchilla part: chinchilla=scaling.published('besiroglu2024') or a fitted chinchilla law")
        if np.unique(n[fp]).size < 3:       # E, A0 and alpha from two sizes: the FP sub-fit that seeds every start is loose
            warnings.warn(f"the FP rows (qat_fraction 0) have {np.unique(n[fp]).size} model sizes: the Chinchilla part's "
                          "E, A0 and alpha are not pinned down by them, and every start of the QAT fit begins from their "
                          "fit (one such table ended at E = 0); add FP runs at a third size, or give the Chinchilla part: "
                          "chinchilla=scaling.published('besiroglu2024') or a fitted chinchilla law", stacklevel=4)
        lanes = engine.minimize(CHINCHILLA_LAW, engine.Objective(), {"params": n[fp], "tokens": d[fp]}, y[fp],
                                CHINCHILLA_LAW.grid())
        chin = CHINCHILLA_LAW.natural_dict(lanes.x[int(np.argmin(lanes.f))])
        fixed = {}
        notes["chinchilla"] = "fitted with the QAT rows (FP rows evaluate it alone)"
    starts = data_starts(X, y, chinchilla_reference(chin), n_starts, np.random.default_rng(0))
    keep = [c for c in ("run", "dataset", "params", "tokens", "bits", "qat_fraction") if c in table.columns]
    data = table[keep].reset_index(drop=True)
    data["loss"] = y
    return Observations(X=X, y=y, data=data, fixed=fixed, starts=starts, notes=notes)


def data_starts(X: dict, y: np.ndarray, chin: Mapping[str, float], n_starts: int, rng) -> np.ndarray:
    """(n_starts, 16) fit-space starts: Chinchilla part ``chin`` (E, A0, B0, alpha, beta), random penalty exponents, and the
    penalty coefficients by non-negative least squares on the QAT rows' excess over ``chin``."""
    qat = X["qat"] > 0
    base = (chin["E"] + chin["A0"] * np.exp(-chin["alpha"] * X["log_params_c"])
            + chin["B0"] * np.exp(-chin["beta"] * X["log_tokens_c"]))
    excess = (y - base)[qat]
    floor = max(float(np.median(np.abs(excess))), 1e-6) * 1e-3      # a coefficient NNLS leaves at 0 starts here
    bc, nc, sq, sf, no_fp = (X[k][qat] for k in ("bits_c", "log_params_c", "log_s_qat_c", "log_s_fp_c", "no_fp"))
    out = np.empty((n_starts, len(NAMES)))
    for i in range(n_starts):
        ex = {k: rng.uniform(*r) for k, r in EXPONENT_RANGES.items()}
        if no_fp.any():         # rows without FP tokens: the interaction term is finite there only for xi <= 0
            ex["xi"] = -abs(ex["xi"])
        logs = np.column_stack([-ex["kappa"] * bc, -ex["chi"] * bc - ex["psi"] * nc - ex["omega"] * sq,
                                -ex["mu"] * bc - ex["nu"] * nc - ex["rho"] * sq + np.where(no_fp > 0, 0.0, -ex["xi"] * sf)])
        shift = logs.max(axis=0)                  # columns scaled to a largest value of 1 for the NNLS
        coef, _ = optimize.nnls(np.exp(logs - shift), excess)
        out[i] = ([np.log(chin[k]) for k in ("E", "A0", "B0")] + list(np.log(np.maximum(coef, floor)) - shift)
                  + [chin["alpha"], chin["beta"]] + [ex[k] for k in NAMES[N_LOG + 2:]])
    return out


def grid() -> np.ndarray:
    """One neutral start; fits draw theirs from the data (``observe``: a product grid over 16
    coordinates is out of reach)."""
    return np.array([[np.log(1.8), np.log(1.0), np.log(0.5), np.log(0.01), np.log(0.01), np.log(0.01),
                      0.3, 0.3, 1.0, 1.0, 0.0, 0.5, 1.0, 0.0, 0.5, 0.0]])


def derived(p) -> dict:
    """The penalty coefficients in the raw form of the formula (N, S, b not divided by the reference
    point): theta = theta0 2^(4 kappa), phi = phi0 2^(4 chi) 1e8^psi 100^omega,
    lambda = lambda0 2^(4 mu) 1e8^nu 100^(xi + rho); and Chinchilla's a = beta/(alpha+beta)."""
    n0, b0, s0 = REFERENCE["params"], REFERENCE["bits"], REFERENCE["tokens_per_byte"]
    return {"A": p["A0"] * n0 ** p["alpha"], "B": p["B0"] * REFERENCE["tokens"] ** p["beta"],
            "theta": p["theta0"] * 2.0 ** (b0 * p["kappa"]),
            "phi": p["phi0"] * 2.0 ** (b0 * p["chi"]) * n0 ** p["psi"] * s0 ** p["omega"],
            "lambda": p["lambda0"] * 2.0 ** (b0 * p["mu"]) * n0 ** p["nu"] * s0 ** (p["xi"] + p["rho"]),
            "a": p["beta"] / (p["alpha"] + p["beta"])}


LAW = Law(
    name="qat",
    formula=("L = E + A0/n^alpha + B0/d^beta + theta0 2^(-kappa (b-4)) + phi0 2^(-chi (b-4))/(n^psi s_qat^omega) "
             "+ lambda0 2^(-mu (b-4))/(n^nu s_fp^xi s_qat^rho),  n = N/1e8, d = D/1e10, s = S/100, S = D/(N b/8)"),
    names=NAMES,
    fit_names=tuple(f"log_{n}" for n in NAMES[:N_LOG]) + NAMES[N_LOG:],
    inputs=("params", "tokens", "bits", "qat_fraction"),
    log_predict=log_predict,
    n_log=N_LOG,
    grid=grid,
    derived=derived,
    citation="Dremov et al. 2025, arXiv:2509.22935 (loss law over FP/QAT tokens and bit width)",
    prepare=prepare,
    observe=observe,
)


# -- the closed form of the optimal fraction ------------------------------------------------------

def closed_form(S, a: float):
    """f*(S) = exp(-a / ln S) (Dremov et al. 2025); S <= 1 is a ValueError (the form needs ln S > 0)."""
    S = np.asarray(S, float)
    bad = np.flatnonzero(~(S > 1))
    if bad.size:
        raise ValueError(f"tokens per parameter byte S = {S.ravel()[bad[0]]:.6g} (point {bad[0]}): the closed form "
                         f"f*(S) = exp(-a / ln S) needs S > 1 (more training tokens than bytes of weights)")
    return np.exp(-a / np.log(S))


def _closed_form_inputs(table: pd.DataFrame, **_options) -> dict:
    """``log S`` from params, tokens and bits; S <= 1 is an error naming the row."""
    n, d, b = (_column(table, c) for c in ("params", "tokens", "bits"))
    bad = np.flatnonzero(~((b >= BITS_RANGE[0]) & (b <= BITS_RANGE[1])))
    if bad.size:
        raise ValueError(f"column 'bits', row {table.index[bad[0]]}: {table['bits'].iloc[bad[0]]} is not a bit width in 1..16")
    S = tokens_per_byte(n, d, b)
    bad = np.flatnonzero(~(S > 1))
    if bad.size:
        raise ValueError(f"row {table.index[bad[0]]}: tokens per parameter byte S = D/(N b/8) = {S[bad[0]]:.6g}; the "
                         f"closed form f*(S) = exp(-a / ln S) needs S > 1 ({bad.size} such row(s))")
    return {"log_s": np.log(S)}


CLOSED_FORM = Law(
    name="qat-closed-form",
    formula="f*(S) = exp(-a / ln S),  S = D/(N b/8)",
    names=("a",),
    fit_names=("log_a",),
    inputs=("params", "tokens", "bits"),
    log_predict=lambda theta, X: -jnp.exp(theta[0]) / X["log_s"],
    n_log=1,
    grid=lambda: np.log([[1.0], [3.0], [10.0], [30.0]]),
    citation="Dremov et al. 2025, arXiv:2509.22935 (optimal QAT fraction against tokens per parameter byte)",
    response="qat_fraction",
    prepare=_closed_form_inputs,
    defaults={"loss": "squared"},
)


def fit_closed_form(S, f_opt, level: float = 0.95) -> dict:
    """Least-squares ``a`` of f*(S) = exp(-a / ln S) on log residuals, with its t interval.

    ``log f* = -a x`` with ``x = 1 / ln S`` is linear in a, so the fit is exact:
    ``a = sum(x y) / sum(x^2)`` with ``y = -log f*``, standard error ``s / sqrt(sum x^2)``,
    ``s^2 = sum (y - a x)^2 / (n - 1)`` (the objective ``scaling.fit("qat-closed-form", ...)``
    minimises).  Returns ``{"a", "se", "interval", "level", "n", "rmse_log"}`` (no interval from
    one point).
    """
    S, f = np.asarray(S, float).ravel(), np.asarray(f_opt, float).ravel()
    if S.shape != f.shape or S.size == 0:
        raise ValueError(f"fit_closed_form needs one optimal fraction per S; got {S.size} S and {f.size} fractions")
    closed_form(S, 1.0)
    bad = np.flatnonzero(~((f > 0) & (f < 1)))
    if bad.size:
        raise ValueError(f"optimal fraction {f[bad[0]]!r} (point {bad[0]}) is not in (0, 1): the closed form lies "
                         f"strictly between 0 and 1")
    x, y = 1.0 / np.log(S), -np.log(f)
    a = float(x @ y / (x @ x))
    n = S.size
    resid = y - a * x
    out = {"a": a, "se": None, "interval": None, "level": level, "n": n,
           "rmse_log": float(np.sqrt(np.mean(resid ** 2)))}
    if n > 1:
        se = float(np.sqrt(resid @ resid / (n - 1) / (x @ x)))
        t = float(stats.t.ppf(0.5 + level / 2, n - 1))
        out.update(se=se, interval=[a - t * se, a + t * se])
    return out


def grid_optima(table: pd.DataFrame, by=("params", "tokens", "bits")) -> pd.DataFrame:
    """The best QAT fraction of every cell of a QAT grid: one row per cell (``by``, plus
    ``qat_pipeline`` and ``dataset`` where the table has them) with ``qat_fraction`` (the fraction of
    lowest loss, losses of repeated runs - seeds - averaged first), its ``loss``, ``tokens_per_byte``,
    ``n_fractions`` and ``at_edge`` (the optimum is the smallest or largest fraction tried, so the
    true optimum may lie beyond).  FP rows (``qat_fraction`` 0) are not candidates."""
    keys = [c for c in (*by, "qat_pipeline", "dataset") if c in table.columns]
    missing = [c for c in (*by, "qat_fraction", "loss") if c not in table.columns]
    if missing:
        raise ValueError(f"grid_optima needs columns {missing}; columns are {list(table.columns)}")
    rows = table[pd.to_numeric(table["qat_fraction"], errors="coerce") > 0]
    if rows.empty:
        raise ValueError("no QAT rows (qat_fraction > 0) to take optima from")
    mean = rows.groupby(keys + ["qat_fraction"], as_index=False, dropna=False)["loss"].mean()
    out = []
    for key, cell in mean.groupby(keys, dropna=False, sort=True):
        cell = cell.sort_values("qat_fraction")
        best = cell.loc[cell["loss"].idxmin()]
        fr = cell["qat_fraction"].to_numpy(float)
        out.append({**dict(zip(keys, key if isinstance(key, tuple) else (key,))),
                    "qat_fraction": float(best["qat_fraction"]), "loss": float(best["loss"]),
                    "n_fractions": int(fr.size), "at_edge": bool(best["qat_fraction"] in (fr[0], fr[-1]))})
    out = pd.DataFrame(out)
    if {"params", "tokens", "bits"} <= set(out.columns):
        out["tokens_per_byte"] = tokens_per_byte(out["params"], out["tokens"], out["bits"])
    return out
