"""How often a fit's 95 % intervals hold the truth (calibration, not speed): each parameter's, and the
predicted loss of a run 10x larger than the largest fitted (at 40 tokens per parameter).

Synthetic Chinchilla runs from a known law, refitted ``--reps`` times with new log-normal noise; prints
the share of fits whose interval (``fit.ci``, ``fit.predict``) holds the truth, for the asymptotic
intervals (default) or a row bootstrap (``--bootstrap B``).  ``--design grid``: 8 sizes x 5 token ratios
(40 runs); ``--design ladder``: 5 sizes from 1.9e8 to 1.3e9 x 4 token ratios (20 runs, a Bhagia et al.
2024-style ladder, where the law is far from linear in the parameters it pins down least).

    python benchmarks/interval_coverage.py --reps 80 --noise 0.005
    python benchmarks/interval_coverage.py --reps 80 --noise 0.01 --design ladder
    python benchmarks/interval_coverage.py --reps 20 --bootstrap 50
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

import scaling

TRUTH = {"E": 1.9, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.3}


DESIGNS = {"grid": (np.geomspace(1e7, 3e9, 8), (5, 10, 20, 40, 80)),
           "ladder": (np.geomspace(1.9e8, 1.3e9, 5), (20, 40, 100, 200))}


def law(n, d):
    return TRUTH["E"] + TRUTH["A"] / n ** TRUTH["alpha"] + TRUTH["B"] / d ** TRUTH["beta"]


def runs(noise: float, seed: int, design: str = "grid") -> pd.DataFrame:
    sizes, ratios = DESIGNS[design]
    n = sizes.repeat(len(ratios))
    d = n * np.tile(ratios, len(sizes))
    return pd.DataFrame({"params": n, "tokens": d,
                         "loss": law(n, d) * np.exp(np.random.default_rng(seed).normal(0, noise, n.size))})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=80)
    p.add_argument("--noise", type=float, default=0.005)
    p.add_argument("--bootstrap", type=int, default=0)
    p.add_argument("--design", choices=sorted(DESIGNS), default="grid")
    args = p.parse_args()
    big = 10 * DESIGNS[args.design][0].max()
    target = pd.DataFrame({"params": [big], "tokens": [40 * big]})
    inside = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(args.reps):
            fit = scaling.fit("chinchilla", runs(args.noise, seed, args.design), bootstrap=args.bootstrap, seed=seed,
                              progress=False)
            row = fit.predict(target).iloc[0]
            inside.append([fit.ci[k][0] <= v <= fit.ci[k][1] for k, v in TRUTH.items()]
                          + [row.loss_lo <= law(big, 40 * big) <= row.loss_hi])
    share = np.mean(inside, axis=0)
    kind = f"bootstrap {args.bootstrap}" if args.bootstrap else "asymptotic"
    print(f"{kind} 95% intervals, {args.design} design, {args.reps} fits, noise {args.noise}: "
          + ", ".join(f"{k} {100 * s:.0f}%" for k, s in zip([*TRUTH, "loss at 10x N"], share))
          + f" (binomial se about {100 * np.sqrt(0.95 * 0.05 / args.reps):.1f} points)")


if __name__ == "__main__":
    main()
