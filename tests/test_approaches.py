"""Hoffmann et al. 2022 Approaches 1 and 2 (fitters.approaches): synthetic recovery, Porian et al.
2024's stored isoFLOP exponents, the Epoch reconstruction of Hoffmann's runs, bad input."""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fitters.approaches import approach1, approach2, fit_power_law_in_c

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LAW = dict(E=1.8172, A=477.8, B=2143.0, alpha=0.3473, beta=0.3672)  # Besiroglu et al. 2024's refit
A_TRUE = LAW["beta"] / (LAW["alpha"] + LAW["beta"])
B_TRUE = LAW["alpha"] / (LAW["alpha"] + LAW["beta"])


def data_file(*parts) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data folder not found: {path} (../shared/data beside the checkout)")
    return path


def chinchilla_loss(n, d):
    return LAW["E"] + LAW["A"] / n ** LAW["alpha"] + LAW["B"] / d ** LAW["beta"]


def n_opt_true(c):
    """Analytic minimiser of the law at C = 6ND: N_opt = G (C/6)^a, G = (alpha A / (beta B))^(1/(alpha+beta))."""
    g = (LAW["alpha"] * LAW["A"] / (LAW["beta"] * LAW["B"])) ** (1 / (LAW["alpha"] + LAW["beta"]))
    return g * (c / 6) ** A_TRUE


def isoflop_runs(budgets, noise=0.0, seed=0):
    """Hoffmann-style isoFLOP grids: one fixed ladder of sizes; each budget trains the sizes within
    a factor 4 of its optimum, so the grid sits differently around each minimum."""
    rng = np.random.default_rng(seed)
    sizes = np.geomspace(1e7, 3e10, 36)
    rows = [(n, c / (6 * n), c) for c in budgets for n in sizes if 0.25 < n / n_opt_true(c) < 4]
    n, d, c = map(np.array, zip(*rows))
    loss = chinchilla_loss(n, d) * np.exp(noise * rng.standard_normal(n.size))
    return pd.DataFrame({"params": n, "tokens": d, "flops": c, "loss": loss})


def test_approach2_recovers_chinchilla_exponents():
    fit = approach2(isoflop_runs(np.geomspace(1e18, 1e22, 9)))
    assert fit.table["used"].all()
    assert fit.a == pytest.approx(A_TRUE, abs=2e-3) and fit.b == pytest.approx(B_TRUE, abs=2e-3)
    pred = fit.predict(1e21)
    assert pred["params_opt"][0] == pytest.approx(n_opt_true(1e21), rel=0.03)
    noisy = approach2(isoflop_runs(np.geomspace(1e18, 1e22, 9), noise=0.005, seed=1))
    assert noisy.a_ci[0] < A_TRUE < noisy.a_ci[1]


def test_approach1_recovers_chinchilla_exponents():
    """Training curves of a dense ladder: every (N, D) row counts, the envelope traces N_opt(C)."""
    n, d = (g.ravel() for g in np.meshgrid(np.geomspace(1e7, 3e10, 60), np.geomspace(1e8, 1e13, 200)))
    runs = pd.DataFrame({"run": [f"N={v:.3g}" for v in n], "params": n, "tokens": d, "loss": chinchilla_loss(n, d)})
    runs = runs[(runs.params * runs.tokens * 6 > 1e18) & (runs.params * runs.tokens * 6 < 1e22)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # each run's curve is there: nothing to warn about
        fit = approach1(runs, n_bins=100)
    assert fit.a == pytest.approx(A_TRUE, abs=5e-3) and fit.b == pytest.approx(B_TRUE, abs=5e-3)
    with pytest.warns(UserWarning, match="every run has one row"):             # isoFLOP runs: final losses only
        on_grids = approach1(isoflop_runs(np.geomspace(1e18, 1e22, 9)), n_bins=9)  # one budget per bin
    assert len(on_grids.table) == 9 and on_grids.a == pytest.approx(A_TRUE, abs=5e-3)


def test_porian_isoflop_exponents(record_property):
    """Every configuration Porian et al. 2024 stored: parabola minima near the bottom of each
    profile (loss_window=0.1), OLS power law as their 'basic' fit; exponents within 0.035."""
    points = pd.read_csv(data_file("porian2024", "isoflop_points_flat.csv"))
    stored = pd.read_csv(data_file("porian2024", "published_isoflop_exponents.csv")).set_index(["file", "row"])
    deviations = {}
    for (file, row), runs in points.groupby(["file", "row"]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # budgets whose minimum is at the grid's edge are flagged
            fit = approach2(runs.rename(columns={"N": "params", "D": "tokens"}), loss_window=0.1)
        ref = stored.loc[(file, row)]
        deviations[f"{file}/{row}"] = (fit.a - ref["a_n_exponent"], fit.b - ref["b_t_exponent"])
    assert len(deviations) == len(stored) == 15
    worst = max(max(abs(da), abs(db)) for da, db in deviations.values())
    record_property("porian_max_abs_deviation", worst)
    print("\n".join(f"{k}: a {da:+.4f}, b {db:+.4f}" for k, (da, db) in deviations.items()), f"\nmax {worst:.4f}")
    assert worst < 0.035, deviations


@pytest.fixture(scope="module")
def epoch_runs():
    e = pd.read_csv(data_file("chinchilla_epoch", "svg_extracted_data.csv"))
    n, c = e["Model Size"], e["Training FLOP"]
    return pd.DataFrame({"params": n, "tokens": c / (6 * n), "flops": c, "loss": e["loss"]})


def test_epoch_approaches_give_sensible_exponents(epoch_runs, record_property):
    """Hoffmann's own runs (Epoch reconstruction): Hoffmann report a = 0.50 (Approach 1), 0.49 (2)."""
    with pytest.warns(UserWarning, match="every run has one row"):  # Hoffmann's curves are not in the data
        a1 = approach1(epoch_runs)
    with pytest.warns(UserWarning, match="left out of the power-law fit"):  # sparse budgets are flagged
        a2 = approach2(epoch_runs, budget_rtol=0.3)
    record_property("epoch_approach1_a_b", (a1.a, a1.b))
    record_property("epoch_approach2_a_b", (a2.a, a2.b))
    print(f"\nEpoch: approach 1 a={a1.a:.4f} b={a1.b:.4f}; approach 2 a={a2.a:.4f} b={a2.b:.4f}")
    for fit in (a1, a2):
        assert 0.4 < fit.a < 0.6 and fit.a + fit.b == pytest.approx(1, abs=1e-9)  # D = C/(6N) exactly
        assert fit.a_ci[0] < fit.a < fit.a_ci[1]
    assert a2.table["used"].sum() >= 15 and set(a2.flagged["flag"]) <= {
        "fewer than 3 distinct params", "parabola opens downward"}


def test_results_intervals_summary_and_json():
    fit = approach2(isoflop_runs(np.geomspace(1e18, 1e22, 9), noise=0.005, seed=2), level=0.9)
    res = fit.params_law.results
    assert fit.a_se == pytest.approx(res.bse[1])
    assert fit.a_ci == pytest.approx(tuple(res.conf_int(alpha=0.1)[1]))
    assert fit.k_N == pytest.approx(np.exp(res.params[0]))
    wider = approach2(isoflop_runs(np.geomspace(1e18, 1e22, 9), noise=0.005, seed=2), level=0.99)
    assert wider.a_ci[0] < fit.a_ci[0] and fit.a_ci[1] < wider.a_ci[1]
    pred = fit.predict([1e20, 1e23])
    assert list(pred.columns) == ["flops", "params_opt", "params_lo", "params_hi",
                                  "tokens_opt", "tokens_lo", "tokens_hi"]
    assert (pred.params_lo < pred.params_opt).all() and (pred.params_opt < pred.params_hi).all()
    assert (pred.params_hi / pred.params_lo).iloc[1] > (pred.params_hi / pred.params_lo).iloc[0]  # extrapolation
    assert fit.table["log_params_opt_se"].gt(0).all()
    assert "Approach 2" in fit.summary() and "a = " in fit.summary()
    back = json.loads(json.dumps(fit.to_dict(), allow_nan=False))
    assert back["a"]["exponent"] == pytest.approx(fit.a) and len(back["table"]) == 9


def test_power_law_with_two_points_has_no_intervals():
    law = fit_power_law_in_c([1e18, 1e19], [1e8, 3e8])
    assert law.exponent == pytest.approx(np.log10(3)) and np.isnan(law.se) and np.isnan(law.ci[0])


def test_one_budget_is_an_error():
    runs = isoflop_runs([1e20])
    with pytest.raises(ValueError, match="only 1 FLOP budget .* need at least 2 budgets"):
        approach2(runs)
    with pytest.raises(ValueError, match="approach1: only 1 FLOP bin"):
        approach1(runs)  # every row at C = 1e20


def test_bad_budgets_are_flagged_and_excluded():
    good = isoflop_runs([1e18, 1e19, 1e20, 1e21])
    n = np.geomspace(1e8, 1e9, 5)
    down = pd.DataFrame({"params": n, "tokens": 3e19 / (6 * n), "flops": 3e19, "loss": [3.0, 3.2, 3.3, 3.2, 3.0]})
    edge = pd.DataFrame({"params": n, "tokens": 3e20 / (6 * n), "flops": 3e20, "loss": [3.40, 3.29, 3.19, 3.10, 3.02]})
    two = pd.DataFrame({"params": n[:2], "tokens": 3e21 / (6 * n[:2]), "flops": 3e21, "loss": [3.0, 2.9]})
    with pytest.warns(UserWarning, match=r"C = 3e\+19 \(parabola opens downward\)") as record:
        fit = approach2(pd.concat([good, down, edge, two]))
    message = str(record[0].message)
    assert "C = 3e+20 (minimum N = " in message and "outside the fitted params range" in message
    assert "C = 3e+21 (fewer than 3 distinct params)" in message
    flags = fit.table.set_index("flops")["flag"]
    assert flags[3e19] == "parabola opens downward" and flags[3e21] == "fewer than 3 distinct params"
    assert list(fit.flagged["flops"]) == [3e19, 3e20, 3e21] and fit.table["used"].sum() == 4
    assert fit.a == pytest.approx(approach2(good).a)  # the flagged budgets do not move the fit
    assert "excluded C = 3e+19: parabola opens downward" in fit.summary()


def test_input_errors_name_the_problem():
    runs = isoflop_runs([1e18, 1e19, 1e20])
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['loss'\]"):
        approach1(runs.drop(columns="loss"))
    with pytest.raises(ValueError, match="column 'params' must be finite and positive; row 3"):
        approach2(runs.assign(params=runs.params.where(runs.index != 3, -1.0)))
    with pytest.raises(ValueError, match="2 datasets"):
        approach2(runs.assign(dataset=np.where(runs.index % 2 == 0, "train", "c4")))


def test_budget_rtol_groups_nearby_flops():
    runs = isoflop_runs([1e18, 1e19, 1e20])
    jitter = runs.assign(flops=runs.flops * np.exp(np.random.default_rng(0).uniform(-0.05, 0.05, len(runs))))
    with pytest.raises(ValueError, match="only 0 FLOP budget"):  # exact grouping: every row its own budget
        approach2(jitter)
    fit = approach2(jitter, budget_rtol=0.15)
    assert len(fit.table) == 3 and fit.table["used"].all()
    assert fit.a == pytest.approx(approach2(runs).a, abs=0.01)
