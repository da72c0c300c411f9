"""Speed of the mixture-additive fit (Shukor et al. 2025) against a scipy reference, in one process.

On the RegMix train runs (512 mixtures x 17 Pile domains, target Pile-CC; ../shared/data/regmix2024)
every row shares one (N, D), so the law is ``L = E + 1 / sum_j C_j h_j^gamma_j`` with 35 parameters.
From the same ``--starts`` data-dependent starts (the law's heuristic starts and random
perturbations, :func:`fitters.mixture_additive.starts`) it times

* ``scaling.fit`` (the batched JAX engine: all starts together), cold (first call in the process:
  compilation, or a load from the persistent compilation cache) and warm;
* the scipy reference: ``scipy.optimize.minimize(method="L-BFGS-B")`` one start after another, on a
  NumPy objective with its analytic gradient (summed Huber, delta 1e-3, on log residuals), with
  scipy's default tolerances (``--scipy-tol engine``: the engine's for this law, gtol 1e-8 and ftol
  1e-13, which makes scipy far slower: starts creep along flat valleys up to the 15000-evaluation limit);

and prints the best objective of each, how many starts reached it (within 1e-5 relative), the
objective evaluations, and the ratio scipy / ours (warm).

    python benchmarks/mixture_fit_speed.py [--starts 128] [--scipy-tol default|engine] [--root ../shared/data/regmix2024]
"""
from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

import scaling
from fitters import get_law, mixture_additive
from fitters.mixture import FIT_DEFAULTS, weights
from scaling.mixture_data import read_regmix

DELTA = 1e-3


def objective(theta, H, log_h, pos, log_y):
    """Summed Huber of ``log L - log y``, L = E + 1/S, S = sum_j C_j h_j^gamma_j; gradient in (log E, log C, log gamma)."""
    K = H.shape[1]
    log_e, log_c, gamma = theta[0], theta[1:1 + K], np.exp(theta[1 + K:])
    z = np.where(pos, log_c + gamma * log_h, -np.inf)
    m = z.max(axis=1, keepdims=True)
    ez = np.exp(z - m)
    s = ez.sum(axis=1)
    log_s = m[:, 0] + np.log(s)
    p = ez / s[:, None]                                   # softmax over domains: d log S / d z_j
    hi = np.maximum(log_e, -log_s)
    log_l = hi + np.log(np.exp(log_e - hi) + np.exp(-log_s - hi))
    r = log_l - log_y
    a = np.abs(r)
    c = np.minimum(a, DELTA)
    psi = np.clip(r, -DELTA, DELTA)
    w_e = np.exp(log_e - log_l)                           # d log L / d log E; 1 - w_e = d log L / d(-log S)
    q = -psi * (1.0 - w_e)
    g = np.concatenate([[psi @ w_e], q @ p, (q[:, None] * p * np.where(pos, log_h, 0.0)).sum(axis=0) * gamma])
    return float((c * (a - 0.5 * c)).sum()), g


def scipy_fit(H, y, starts, tol: str = "default"):
    """Objective reached and evaluations used from each start."""
    pos = H > 0
    args = (H, np.log(np.where(pos, H, 1.0)), pos, np.log(y))
    options = {"maxfun": 15000, "maxiter": 15000}
    if tol == "engine":
        options.update(gtol=FIT_DEFAULTS["gtol"], ftol=FIT_DEFAULTS["ftol"])
    res = [minimize(objective, s, args=args, jac=True, method="L-BFGS-B", options=options) for s in starts]
    return np.array([r.fun for r in res]), np.array([r.nfev for r in res])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--starts", type=int, default=128)
    ap.add_argument("--scipy-tol", choices=("default", "engine"), default="default")
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "regmix2024"))
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    runs = read_regmix(args.root, "train", "1m")
    table = runs[runs.dataset == "pile_cc"].reset_index(drop=True)
    obs = get_law("mixture-additive").observe(table, target="pile_cc")
    H, y = weights(table, obs.notes["domains"]), obs.y
    starts = mixture_additive.starts(H, y, np.empty((len(y), 0)), obs.law, np.random.default_rng(0), total=args.starts)
    print(f"mixture-additive on RegMix: {len(y)} mixtures x {H.shape[1]} domains, {obs.law.n_params} parameters, "
          f"{len(starts)} starts; times in seconds")
    t0 = time.perf_counter()
    scaling.fit("mixture-additive", table, target="pile_cc", starts=starts)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit = scaling.fit("mixture-additive", table, target="pile_cc", starts=starts)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    f_ref, nfev = scipy_fit(H, y, starts, args.scipy_tol)
    ref = time.perf_counter() - t0
    best = min(fit.objective, f_ref.min())
    reached = int(np.sum(f_ref <= best * (1 + 1e-5)))
    ours_reached = int(fit.objective <= best * (1 + 1e-5)) and fit.n_converged
    print(f"{'':<8}{'seconds':>9}{'best objective':>17}{'starts at best':>16}{'evaluations':>13}")
    print(f"{'ours':<8}{warm:>9.2f}{fit.objective:>17.8e}{ours_reached:>16}{fit.diagnostics['evaluations']:>13}"
          f"   (cold, with compilation: {cold:.2f} s)")
    print(f"{'scipy':<8}{ref:>9.2f}{f_ref.min():>17.8e}{reached:>16}{int(nfev.sum()):>13}   (tolerances: {args.scipy_tol})")
    print(f"ratio scipy / ours (warm): {ref / warm:.1f}x")


if __name__ == "__main__":
    main()
