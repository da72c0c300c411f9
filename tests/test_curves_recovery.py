"""Whole-curve laws recover their parameters from curves generated under random schedules."""
import numpy as np
import pandas as pd
import pytest

import scaling
from fitters import curves as fc
from fitters import multipower, tissue
from ladders.schedules import lr_array


def _random_schedules(rng, n, T, peak=1e-3):
    out = {}
    for i in range(n):
        kind = ["cosine", "wsd", "multistep", "wsd", "constant"][i % 5]
        if kind == "cosine":
            d = f"cosine:peak={peak},warmup=200,floor={peak * rng.uniform(0, 0.2):.3g}"
        elif kind == "wsd":
            d = (f"wsd:peak={peak},warmup=200,decay_fraction={rng.uniform(0.1, 0.5):.3f},"
                 f"decay_shape={rng.choice(['linear', 'cosine', 'sqrt'])},floor=0")
        elif kind == "multistep":
            d = f"multistep:peak={peak},warmup=200,milestones={rng.uniform(0.3, 0.7):.3f},gamma={rng.uniform(0.1, 0.5):.3f}"
        else:
            d = f"constant:peak={peak},warmup=200"
        out[f"r{i}"] = lr_array(d, int(T * rng.uniform(0.6, 1.0)))
    return out


def _synthetic(law, truth, lrs, noise, rng, every=100):
    rows = pd.concat([pd.DataFrame({"run": r, "step": np.arange(300, len(lr) + 1, every)}) for r, lr in lrs.items()],
                     ignore_index=True)
    if law is tissue.LAW:
        X = tissue.prepare(rows, lrs)
        y = truth["L0"] + truth["A"] * X["S1"] ** -truth["alpha"] - truth["C"] * X["S2"]
    else:           # the exact loss reduction (no grouping of drops), so the test also checks the grouping
        y = np.zeros(len(rows))
        for r, lr in lrs.items():
            m = (rows["run"] == r).to_numpy()
            st = rows.loc[m, "step"].to_numpy()
            ld = fc.loss_drop_exact(lr, st, truth["C"], truth["beta"], truth["gamma"])
            y[m] = truth["L0"] + truth["A"] * fc.forward_area(lr, st) ** -truth["alpha"] - truth["B"] * ld
    return rows.assign(loss=y * np.exp(noise * rng.standard_normal(len(y))))


def test_tissue_recovers_its_parameters_from_random_schedules():
    rng = np.random.default_rng(0)
    truth = {"L0": 2.5, "A": 0.6, "alpha": 0.45, "C": 0.5}
    lrs = _random_schedules(rng, 3, 10000)
    runs = _synthetic(tissue.LAW, truth, lrs, 5e-4, rng)
    fit = scaling.fit("tissue", runs, schedules=lrs)
    for k, v in truth.items():
        assert fit.params[k] == pytest.approx(v, rel=0.05), k
        lo, hi = fit.ci[k]
        assert lo < v < hi or abs(fit.params[k] / v - 1) < 0.01, k


def test_multipower_recovers_its_parameters_from_random_schedules():
    rng = np.random.default_rng(1)
    truth = {"L0": 3.0, "A": 0.5, "alpha": 0.5, "B": 400.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}
    lrs = _random_schedules(rng, 4, 10000)
    runs = _synthetic(multipower.LAW, truth, lrs, 1e-4, rng)
    fit = scaling.fit("multipower", runs, schedules=lrs)
    tol = {"L0": 0.01, "A": 0.05, "alpha": 0.05, "B": 0.2, "C": 0.3, "beta": 0.2, "gamma": 0.1}
    for k, v in truth.items():
        assert fit.params[k] == pytest.approx(v, rel=tol[k]), (k, fit.params)
    # and the whole curve of a schedule it never saw
    new = lr_array("wsd:peak=1e-3,warmup=200,decay_fraction=0.3,decay_shape=sqrt,floor=0", 12000)
    true_curve = _synthetic(multipower.LAW, truth, {"new": new}, 0.0, rng, every=1000)
    pred = fit.predict(true_curve, schedules={"new": new})
    assert np.max(np.abs(pred["loss_pred"] / pred["loss"] - 1)) < 2e-3




@pytest.mark.parametrize("peak,T,truth", [
    (0.1, 8000, {"L0": 0.5, "A": 3.0, "alpha": 0.4, "B": 2.0, "C": 1.0, "beta": 0.5, "gamma": 0.5}),
    (1e-5, 3000, {"L0": 6.0, "A": 0.2, "alpha": 0.6, "B": 3e4, "C": 3.0, "beta": 0.7, "gamma": 0.4}),
], ids=["peak-0.1-loss-0.5", "peak-1e-5-loss-6"])
def test_multipower_fits_runs_far_from_the_grids_scales(peak, T, truth):
    """The start grid is moved to the data's loss level, area and drop sizes (``multipower.data_grid``): every
    start predicts a positive loss, and the fit reaches the true parameters' objective (the fixed grid, written
    for Luo et al.'s peak 3e-4 and losses near 3, had no usable start on such runs)."""
    rng = np.random.default_rng(3)
    lrs = _random_schedules(rng, 4, T, peak=peak)
    runs = _synthetic(multipower.LAW, truth, lrs, 1e-3, rng, every=T // 80)
    X, y = multipower.prepare(runs, lrs), runs["loss"].to_numpy()
    starts = multipower.data_grid(X, y)
    assert starts.shape == multipower.grid().shape
    assert all(np.isfinite(np.asarray(multipower.log_predict(t, X))).all() for t in starts)
    fit = scaling.fit("multipower", runs, schedules=lrs)
    r = np.asarray(multipower.log_predict(multipower.LAW.theta_from_dict(truth), X)) - np.log(y)
    at_truth = np.sum(np.where(np.abs(r) < 1e-3, 0.5 * r ** 2, 1e-3 * (np.abs(r) - 5e-4)))
    assert fit.objective <= at_truth
    for k in ("L0", "A", "alpha", "B"):
        assert fit.params[k] == pytest.approx(truth[k], rel=0.1), (k, fit.params)


def test_a_loss_logged_at_every_step_is_fitted_from_a_thinned_table_then_polished_on_every_row():
    """Above ``COARSE_ROWS`` rows the start grid runs on a thinned table and the best basins are polished on
    all rows: the estimate is the full objective's optimum (checked against the grid run on every row)."""
    from fitters import engine
    from scaling.fit import COARSE_ROWS, MIN_ROWS_PER_RUN, thin_rows
    rng = np.random.default_rng(2)
    truth = {"L0": 2.5, "A": 0.6, "alpha": 0.45, "C": 0.5}
    lrs = _random_schedules(rng, 3, 4000)
    runs = _synthetic(tissue.LAW, truth, lrs, 2e-3, rng, every=1)
    assert len(runs) > COARSE_ROWS
    fit = scaling.fit("tissue", runs, schedules=lrs)
    assert fit.diagnostics["thinned_rows"] <= COARSE_ROWS + 3 and fit.n_points == len(runs)
    assert f"on {fit.diagnostics['thinned_rows']} thinned rows" in fit.summary()
    for k, v in truth.items():
        assert fit.params[k] == pytest.approx(v, rel=0.05), k
    X, y = tissue.prepare(runs, lrs), runs["loss"].to_numpy()
    objective = engine.Objective(loss="huber", space="log", delta=1e-3)
    full = engine.minimize(tissue.LAW, objective, X, y, tissue.LAW.grid(), **tissue.LAW.defaults)
    assert fit.objective <= full.f.min() * (1 + 1e-9)
    # every run keeps its ends and at least MIN_ROWS_PER_RUN rows, however few rows it has
    small = pd.DataFrame({"run": ["a"] * 20000 + ["b"] * 1000 + ["c"] * 100})
    keep = thin_rows(small, len(small))
    assert {0, 19999, 20000, 20999, 21000, 21099} <= set(keep)
    assert ((keep >= 20000) & (keep < 21000)).sum() == MIN_ROWS_PER_RUN and (keep >= 21000).sum() == 100
    assert abs(len(keep) - COARSE_ROWS) < 2 * MIN_ROWS_PER_RUN
