"""Speed of the whole-curve fits (tissue, multipower) against a scipy reference, in one process.

On Luo et al. 2025's curves (../shared/data/multipower_luo2025, default the 100M model) it times

* ``scaling.fit`` on the authors' three training curves and on the six test curves, cold (first
  call in the process: JAX compilation, or a load from the persistent compilation cache) and warm;
* the scipy reference: ``scipy.optimize.minimize(method="L-BFGS-B")`` from the same starts, on the
  same inputs ``X`` (built once by :mod:`fitters.curves`), with a NumPy objective and its analytic
  gradient (summed Huber, delta 1e-3, on log residuals), scipy's default tolerances;

and prints the best objective of each and the ratio scipy / ours (warm).  ``--dense T`` adds a loss
logged at *every* step: three synthetic runs (cosine, constant, WSD) of ``T`` steps each, drawn
from the multi-power law with 0.2 % noise - above ``scaling.fit.COARSE_ROWS`` rows, where the grid
runs on a thinned table and the best basins are polished on every row - against the same scipy
reference on every row (``--no-scipy`` skips it, for large ``T``: its cost grows with the rows).  Run:

    python benchmarks/curve_fit_speed.py [--size 100] [--root ../shared/data/multipower_luo2025] [--dense 4000 [--no-scipy]]
"""
from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

import scaling
from fitters import get_law
from scaling import curves as sc

DELTA = 1e-3


def _huber_terms(r):
    a = np.abs(r)
    c = np.minimum(a, DELTA)
    return c * (a - 0.5 * c), np.clip(r, -DELTA, DELTA)     # rho(r), rho'(r)


def tissue_objective(theta, X, y):
    L0, A, alpha, C = np.exp(theta)
    p = A * X["S1"] ** -alpha
    L = L0 + p - C * X["S2"]
    if np.any(L <= 0):
        return np.inf, np.zeros_like(theta)
    rho, psi = _huber_terms(np.log(L) - np.log(y))
    dL = np.stack([L0 * np.ones_like(L), p, -alpha * p * np.log(X["S1"]), -C * X["S2"]])   # d L / d log-param
    return rho.sum(), dL @ (psi / L)


def multipower_objective(theta, X, y):
    L0, A, alpha, B, C, beta, gamma = np.exp(theta)
    D, le, S = X["D"], X["log_eta"], X["S"]
    x = C * np.exp(-gamma * le) * S
    u = 1.0 + x
    upow = u ** -beta
    G = 1.0 - upow
    ld = np.sum(D * G, axis=1)
    p = A * X["S1"] ** -alpha
    L = L0 + p - B * ld
    if np.any(L <= 0) or not np.all(np.isfinite(L)):
        return np.inf, np.zeros_like(theta)
    rho, psi = _huber_terms(np.log(L) - np.log(y))
    dGdx = beta * upow / u
    dL = np.stack([
        L0 * np.ones_like(L), p, -alpha * p * np.log(X["S1"]), -B * ld,
        -B * np.sum(D * dGdx * x, axis=1),                       # C dL/dC
        -B * np.sum(D * upow * np.log(u), axis=1) * beta,        # beta dL/dbeta
        -B * np.sum(D * dGdx * (-le * x), axis=1) * gamma,      # gamma dL/dgamma
    ])
    return rho.sum(), dL @ (psi / L)


OBJECTIVES = {"tissue": tissue_objective, "multipower": multipower_objective}


def scipy_fit(law_name, X, y, starts):
    """Best (objective, theta) of L-BFGS-B from every start, scipy defaults."""
    fun = OBJECTIVES[law_name]
    best = (np.inf, None)
    for s in starts:
        r = minimize(fun, s, args=(X, y), jac=True, method="L-BFGS-B")
        if r.fun < best[0]:
            best = (float(r.fun), r.x)
    return best


def dense_runs(T: int):
    """Three runs of ``T`` steps with the loss at every step (multi-power law, 0.2 % noise) and their schedules."""
    law = get_law("multipower")
    scheds = {"cosine": f"cosine:peak=3e-4,warmup=200,floor=3e-5,total_steps={T}",
              "constant": f"constant:peak=3e-4,warmup=200,total_steps={T}",
              "wsd": f"wsd:peak=3e-4,warmup=200,decay_fraction=0.2,floor=3e-5,total_steps={T}"}
    steps = np.arange(250, T + 1)
    table = pd.DataFrame({"run": np.repeat(list(scheds), steps.size), "step": np.tile(steps, len(scheds))})
    X = law.prepare(table, sc.learning_rates(table, scheds))
    truth = np.log([2.5, 0.6, 0.45, 500.0, 2.0, 0.6, 0.6])
    noise = np.random.default_rng(0).normal(0.0, 2e-3, len(table))
    return table.assign(loss=np.exp(np.asarray(law.log_predict(truth, X)) + noise)), scheds


def timed_row(law_name, label, table, schedules, reference: bool = True):
    """Time ``scaling.fit`` (cold, warm) and the scipy reference (unless ``reference`` is false) on ``table``."""
    law = get_law(law_name)
    t0 = time.perf_counter()
    fit = scaling.fit(law_name, table, schedules=schedules)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit = scaling.fit(law_name, table, schedules=schedules)
    warm = time.perf_counter() - t0
    X = law.prepare(table, sc.learning_rates(table, schedules))
    y = table["loss"].to_numpy(float)
    t0 = time.perf_counter()
    f_ref, _ = scipy_fit(law_name, X, y, law.grid()) if reference else (np.nan, None)
    ref = time.perf_counter() - t0 if reference else np.nan
    print(f"{law_name:<11}{label:<19}{len(y):>6}{cold:>11.2f}{warm:>11.2f}{ref:>9.2f}{ref / warm:>8.1f}"
          f"{fit.objective:>13.6e}{f_ref:>13.6e}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=100, choices=(25, 100, 400))
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "multipower_luo2025"))
    ap.add_argument("--dense", type=int, default=0, metavar="T",
                    help="also time a loss logged at every step of three synthetic T-step runs (e.g. 4000)")
    ap.add_argument("--no-scipy", action="store_true", help="skip the scipy reference on the --dense table")
    args = ap.parse_args(argv)
    runs = sc.read_luo2025(args.root, args.size)
    splits = {"3 training curves": sc.LUO2025_TRAIN, "6 test curves": sc.LUO2025_TEST}
    print(f"Luo et al. 2025, {args.size}M model; times in seconds")
    print(f"{'law':<11}{'curves':<19}{'rows':>6}{'ours cold':>11}{'ours warm':>11}{'scipy':>9}{'ratio':>8}"
          f"{'obj ours':>13}{'obj scipy':>13}")
    warnings.simplefilter("ignore")
    for law_name in ("tissue", "multipower"):
        for label, names in splits.items():
            timed_row(law_name, label, runs[runs["run"].isin(names)].reset_index(drop=True), sc.LUO2025_SCHEDULES)
    if args.dense:
        table, schedules = dense_runs(args.dense)
        timed_row("multipower", f"3 x {args.dense} steps", table, schedules, reference=not args.no_scipy)


if __name__ == "__main__":
    main()
