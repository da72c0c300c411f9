"""How well the ``qat`` law (Dremov et al. 2025, arXiv:2509.22935) describes a QAT ladder: its
optimal fractions against the grid optima, and its loss on the largest model size held out.

Per pipeline (``classic`` or ``fused``), :func:`law_on_ladder`

* takes the final ``validation`` rows of the FP runs and of the pipeline's QAT runs
  (:func:`ladder_rows`; trunk rows are not results) and holds out every row of the largest model
  size N_max (its QAT and FP runs), like the paper's held-out 2.2B models;
* fits the law to the rest (``scaling.fit("qat", ..., chinchilla_tokens=...)``);
* grid optima: per cell (N, D, b) the QAT fraction of lowest seed-mean loss among the fractions
  tried (``fitters.qat.grid_optima`` on the spec's fractions ``qat_fraction_target``, since the
  realised fractions differ by up to 0.002 between runs);
* the law's optimum per cell, both continuous (argmin over f in [1e-3, 1],
  ``scaling.plan_qat.optimal_fractions``) and restricted to the fractions tried (the argmin of the
  law's predictions over the grid); ``f_mae`` / ``f_grid_mae``: their mean absolute error against
  the grid optima over the fitted cells and over the held-out ones (the paper's level: 0.09);
* ``held_out_mae``: the mean absolute error of the law's loss on the held-out QAT runs (each
  seed's run), and ``held_out_bias`` its mean signed error (prediction - observation);
* the closed form f*(S) = exp(-a / ln S) with ``a`` fitted to all the pipeline's grid optima
  (``fitters.qat.fit_closed_form``) and with the published a = 6.7297: mean absolute error of each
  against the grid optima; for scale, ``constant_mae``: that of the best constant fraction (the
  median grid optimum).

``python benchmarks/qat_ladder.py --law`` prints it for the shipped ladder.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from fitters import qat

from .fit import fit as fit_law
from .plan_qat import _published_a, optimal_fractions

PIPELINES = ("classic", "fused")


def ladder_rows(rows: pd.DataFrame, pipeline: str, dataset: str = "validation") -> pd.DataFrame:
    """The final ``dataset`` rows of the FP runs and of ``pipeline``'s QAT runs (one row per run)."""
    if pipeline not in PIPELINES:
        raise ValueError(f"pipeline={pipeline!r}; choose one of {PIPELINES}")
    final = rows[(rows["dataset"] == dataset) & (rows["step"] == rows["steps_total"])]
    keep = (final["run_kind"] == "fp") | ((final["run_kind"] == "qat") & (final["qat_pipeline"] == pipeline))
    return final[keep].reset_index(drop=True)


def _on_grid(table: pd.DataFrame) -> pd.DataFrame:
    """QAT rows with ``qat_fraction`` set to the spec's fraction (seeds of a cell then share it)."""
    q = table[table["qat_fraction"] > 0]
    return q.assign(qat_fraction=q["qat_fraction_target"].astype(float))


def law_optima(fit, optima: pd.DataFrame, fractions) -> pd.DataFrame:
    """``optima`` (``fitters.qat.grid_optima``) with the law's ``f_law`` (continuous argmin) and
    ``f_law_grid`` (argmin over ``fractions``) at each cell."""
    n, d, b = (optima[c].to_numpy(float) for c in ("params", "tokens", "bits"))
    f_law, _, _ = optimal_fractions(fit, n, d, b)
    fr = np.asarray(sorted(fractions), float)
    grid = pd.DataFrame({"params": np.repeat(n, fr.size), "tokens": np.repeat(d, fr.size),
                         "bits": np.repeat(b, fr.size), "qat_fraction": np.tile(fr, n.size)})
    pred = fit.predict(grid)["loss_pred"].to_numpy().reshape(n.size, fr.size)
    return optima.assign(f_law=f_law, f_law_grid=fr[np.argmin(pred, axis=1)])


def law_on_ladder(rows: pd.DataFrame, pipeline: str, chinchilla_tokens: str = "total",
                  dataset: str = "validation") -> dict:
    """Fit the qat law to ``pipeline``'s rows without the largest model size and measure it (module docstring)."""
    table = ladder_rows(rows, pipeline, dataset)
    n_max = float(table["params"].max())
    held = np.isclose(table["params"], n_max)
    fit = fit_law("qat", table[~held], chinchilla_tokens=chinchilla_tokens)
    grid_rows = _on_grid(table)
    optima = law_optima(fit, qat.grid_optima(grid_rows), grid_rows["qat_fraction"].unique())
    optima["held_out"] = np.isclose(optima["params"], n_max)
    err, err_grid = (np.abs(optima[c] - optima["qat_fraction"]) for c in ("f_law", "f_law_grid"))
    out_q = table[held & (table["qat_fraction"] > 0)]
    resid = fit.predict(out_q)["loss_pred"].to_numpy() - out_q["loss"].to_numpy()
    cf = qat.fit_closed_form(optima["tokens_per_byte"], optima["qat_fraction"])
    S, f_grid = optima["tokens_per_byte"], optima["qat_fraction"]
    a_pub = _published_a()
    return {
        "pipeline": pipeline, "chinchilla_tokens": chinchilla_tokens, "fit": fit, "optima": optima,
        "held_out_params": n_max, "objective": fit.objective,
        "weakly_identified": fit.weakly_identified(), "xi": fit.params["xi"],
        "f_mae": float(err[~optima["held_out"]].mean()), "f_mae_held_out": float(err[optima["held_out"]].mean()),
        "f_grid_mae": float(err_grid[~optima["held_out"]].mean()),
        "f_grid_mae_held_out": float(err_grid[optima["held_out"]].mean()),
        "held_out_mae": float(np.mean(np.abs(resid))), "held_out_bias": float(np.mean(resid)),
        "held_out_runs": int(len(out_q)),
        "closed_form_a": cf["a"], "closed_form_a_interval": cf["interval"],
        "closed_form_mae": float(np.mean(np.abs(qat.closed_form(S, cf["a"]) - f_grid))),
        "published_a": a_pub,
        "published_mae": float(np.mean(np.abs(qat.closed_form(S, a_pub) - f_grid))),
        "constant_mae": float(np.mean(np.abs(f_grid - np.median(f_grid)))),
    }


def summary_table(results) -> pd.DataFrame:
    """One row per :func:`law_on_ladder` result, its scalar figures."""
    skip = ("fit", "optima", "closed_form_a_interval", "weakly_identified")
    return pd.DataFrame([{**{k: v for k, v in r.items() if k not in skip},
                          "n_weak": len(r["weakly_identified"])} for r in results])
