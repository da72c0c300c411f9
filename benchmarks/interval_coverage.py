"""How often a fit's 95 % parameter intervals hold the true parameters (calibration, not speed).

Synthetic Chinchilla runs from a known law (8 sizes x 5 token ratios, log-normal noise), refitted
``--reps`` times with new noise; prints the share of fits whose interval (``fit.ci``) holds each true
parameter, for the asymptotic intervals (default) or a row bootstrap (``--bootstrap B``).

    python benchmarks/interval_coverage.py --reps 80 --noise 0.005
    python benchmarks/interval_coverage.py --reps 20 --bootstrap 50
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

import scaling

TRUTH = {"E": 1.9, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.3}


def runs(noise: float, seed: int) -> pd.DataFrame:
    n = np.geomspace(1e7, 3e9, 8).repeat(5)
    d = n * np.tile([5, 10, 20, 40, 80], 8)
    loss = TRUTH["E"] + TRUTH["A"] / n ** TRUTH["alpha"] + TRUTH["B"] / d ** TRUTH["beta"]
    return pd.DataFrame({"params": n, "tokens": d,
                         "loss": loss * np.exp(np.random.default_rng(seed).normal(0, noise, n.size))})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=80)
    p.add_argument("--noise", type=float, default=0.005)
    p.add_argument("--bootstrap", type=int, default=0)
    args = p.parse_args()
    inside = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(args.reps):
            fit = scaling.fit("chinchilla", runs(args.noise, seed), bootstrap=args.bootstrap, seed=seed)
            inside.append([fit.ci[k][0] <= v <= fit.ci[k][1] for k, v in TRUTH.items()])
    share = np.mean(inside, axis=0)
    kind = f"bootstrap {args.bootstrap}" if args.bootstrap else "asymptotic"
    print(f"{kind} 95% intervals, {args.reps} fits, noise {args.noise}: "
          + ", ".join(f"{k} {100 * s:.0f}%" for k, s in zip(TRUTH, share))
          + f" (binomial se about {100 * np.sqrt(0.95 * 0.05 / args.reps):.1f} points)")


if __name__ == "__main__":
    main()
