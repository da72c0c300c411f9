"""Measurements of the CPU QAT ladder (data/qat_ladder.parquet), no training: grid-optimal QAT
fractions against S, and what the fused pipeline saves over the classic one.

Definitions (final validation loss of each run; ``S = D / (N B / 8)`` tokens per parameter
byte, Dremov et al. 2025, with ``N`` the non-embedding parameters and ``D`` all tokens):

* a *cell* is (N, D, bits, pipeline); its loss at each QAT fraction is the mean over seeds; the
  *grid optimum* ``f*`` is the fraction with the lowest mean loss (also per seed, to show the
  seed noise); ``f_parab`` refines it with the vertex of a parabola in ``ln f`` through the
  grid minimum and its two neighbours (kept between them; the grid value at an edge);
* trend: Spearman's rank correlation of ``f*`` (and ``f_parab``) with ``S`` over the cells, per
  pipeline and pooled (scipy.stats.spearmanr; its p-value ignores that cells share sizes);
* fused saving at ``(N, D, B)``: ``dL = min_f L_classic - min_f L_fused`` (each pipeline at its
  own best fraction), turned into tokens with the FP runs of the same N (the ladder has FP runs
  at ``(1 - f) D`` for every ``f`` and at ``D``): ``slope = dL_fp / d ln D`` (least squares over
  them), ``saving = 1 - exp(-dL / |slope|)``, the share of tokens the fused pipeline needs less
  to reach the classic pipeline's best loss if the QAT loss falls with ``ln D`` as the FP loss
  does.  For reference, ``d (1 - f*) D`` of the classic run's tokens are its FP cooldown
  (``d`` = the schedule's decay fraction), which the fused pipeline does not spend.

With ``--law``, also the qat law on the ladder (``scaling.qat_measure.law_on_ladder``: per pipeline
and ``chinchilla_tokens`` option, fitted without the largest model size): its f* against the grid
optima, its held-out loss error, and the closed form with ``a`` fitted vs published.

Run:  ``python benchmarks/qat_ladder.py [--law] [RUNS.parquet]`` (default: the shipped data).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

DEFAULT = Path(__file__).resolve().parents[1] / "data" / "qat_ladder.parquet"


def final_losses(rows: pd.DataFrame) -> pd.DataFrame:
    """The final validation row of every finished FP and QAT run (trunks left out)."""
    v = rows[(rows.dataset == "validation") & (rows.step == rows.steps_total) & (rows.run_kind != "trunk")]
    return v.assign(S=v.tokens / (v.params * v.bits / 8))


def parabola_optimum(curve: pd.Series) -> float:
    """The vertex (in ``ln f``) of the parabola through the grid minimum of ``curve`` (loss indexed
    by fraction) and its neighbours, kept between the neighbours; the grid minimum at an edge."""
    curve = curve.sort_index()
    i = int(np.argmin(curve.to_numpy()))
    if i == 0 or i == len(curve) - 1:
        return float(curve.index[i])
    x, y = np.log(curve.index[i - 1:i + 2].to_numpy(float)), curve.to_numpy()[i - 1:i + 2]
    a, b, _ = np.polyfit(x, y, 2)
    return float(np.exp(np.clip(-b / (2 * a), x[0], x[2])))


def grid_optima(final: pd.DataFrame) -> pd.DataFrame:
    """One row per cell (N, D, bits, pipeline): ``f_star`` of the seed-mean losses, the per-seed
    optima, the best loss and ``S``."""
    qat = final[final.run_kind == "qat"]
    mean = qat.groupby(["params", "tokens", "bits", "qat_pipeline", "qat_fraction_target"]).loss.mean()
    per_seed = qat.loc[qat.groupby(["params", "tokens", "bits", "qat_pipeline", "seed"]).loss.idxmin()]
    out = []
    for key, curve in mean.groupby(level=[0, 1, 2, 3]):
        n, d, b, pipe = key
        curve = curve.droplevel([0, 1, 2, 3])
        seeds = per_seed[(per_seed.params == n) & (per_seed.tokens == d) & (per_seed.bits == b)
                         & (per_seed.qat_pipeline == pipe)].sort_values("seed")
        out.append({"params": n, "tokens": d, "bits": b, "pipeline": pipe, "S": d / (n * b / 8),
                    "f_star": float(curve.idxmin()), "f_parab": parabola_optimum(curve), "loss_star": float(curve.min()),
                    "f_star_seeds": seeds.qat_fraction_target.tolist()})
    return pd.DataFrame(out).sort_values(["pipeline", "S"]).reset_index(drop=True)


def fused_saving(final: pd.DataFrame, optima: pd.DataFrame, decay_fraction: float) -> pd.DataFrame:
    """Per (N, D, bits): the best classic and fused losses, their difference and its token value."""
    fp = final[final.run_kind == "fp"].groupby(["params", "tokens"]).loss.mean().reset_index()
    out = []
    for (n, d, b), cell in optima.groupby(["params", "tokens", "bits"]):
        if set(cell.pipeline) != {"classic", "fused"}:
            continue
        c, f = (cell[cell.pipeline == p].iloc[0] for p in ("classic", "fused"))
        # FP runs of this N up to D (the classic prefixes of this cell and the reference)
        pts = fp[(fp.params == n) & (fp.tokens <= d) & (fp.tokens >= d * (1 - 0.75))]
        slope = np.polyfit(np.log(pts.tokens), pts.loss, 1)[0]
        dl = c.loss_star - f.loss_star
        out.append({"params": n, "tokens": d, "bits": b, "S": c.S, "classic": c.loss_star, "fused": f.loss_star,
                    "dL": dl, "fp_slope": slope, "saving": 1 - np.exp(-dl / abs(slope)),
                    "classic_cooldown_share": decay_fraction * (1 - c.f_star)})
    return pd.DataFrame(out)


def law_report(rows: pd.DataFrame) -> None:
    """The qat law fitted to each pipeline without the largest model size (scaling.qat_measure)."""
    from scaling import qat_measure
    results = [qat_measure.law_on_ladder(rows, p, c) for p in qat_measure.PIPELINES for c in ("total", "fp")]
    print("\nqat law per pipeline and chinchilla_tokens, fitted without the largest N (held out):")
    print(qat_measure.summary_table(results).T.to_string(float_format=lambda x: f"{x:.4g}"))
    for r in results:
        print(f"{r['pipeline']}, chinchilla_tokens={r['chinchilla_tokens']}: weakly identified {r['weakly_identified']}")


def main(argv=None) -> None:
    args = list(argv if argv is not None else sys.argv[1:])
    law = "--law" in args
    args = [a for a in args if a != "--law"]
    path = Path((args or [DEFAULT])[0])
    rows = pd.read_parquet(path)
    final = final_losses(rows)
    decay = float(final[final.run_kind == "fp"].schedule.iloc[0].split("decay_fraction=")[1].split(",")[0])
    optima = grid_optima(final)
    pd.set_option("display.width", 160)
    print(f"{path.name}: {final.run.nunique()} finished runs, seeds {sorted(int(s) for s in final.seed.unique())}\n")
    print("grid optima (seed-mean losses):")
    print(optima.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print()
    for name, part in [("classic", optima[optima.pipeline == "classic"]), ("fused", optima[optima.pipeline == "fused"]),
                       ("pooled", optima)]:
        rho, p = spearmanr(part.S, part.f_star)
        rho_p, p_p = spearmanr(part.S, part.f_parab)
        print(f"f* against S, {name}: Spearman rho {rho:+.3f} (p {p:.3g}, {len(part)} cells; refined f: "
              f"{rho_p:+.3f}, p {p_p:.3g}); f* {part.f_star.min():g}..{part.f_star.max():g}")
    saving = fused_saving(final, optima, decay)
    print("\nfused vs classic, each at its best fraction:")
    print(saving.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    for b, part in saving.groupby("bits"):
        print(f"{b} bits: fused better in {int((part.dL > 0).sum())} of {len(part)} cells; mean dL {part.dL.mean():+.4f} "
              f"nats; mean token saving {100 * part.saving.mean():+.1f} % (median {100 * part.saving.median():+.1f} %)")
    part = saving[saving.bits.isin([4, 6])]
    print(f"4 and 6 bits together: mean dL {part.dL.mean():+.4f} nats, mean token saving {100 * part.saving.mean():+.1f} %")
    if law:
        law_report(rows)


if __name__ == "__main__":
    main()
