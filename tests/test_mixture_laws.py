"""Mixture laws: synthetic recovery, the linear baseline against statsmodels, targets, bad input, JSON."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import scaling
from fitters import get_law

DOM = ("web", "code", "books")
TRUTH = {
    "mixture-ye": ((), {"c": 2.0, "k": 1.5, "t_code": -1.0, "t_books": 0.6}),
    "mixture-linear": ((), {"b_web": 3.2, "b_code": 2.6, "b_books": 3.5}),
    "mixture-additive": (("params", "tokens"), {
        "E": 1.9, "C_web": 0.9, "C_code": 1.6, "C_books": 0.5, "A": 210.0, "B": 900.0,
        "gamma_web": 0.45, "gamma_code": 0.3, "gamma_books": 0.6, "alpha": 0.33, "beta": 0.3}),
    "mixture-joint": (("params", "tokens"), {
        "E": 1.8, "C_web": 0.9, "C_code": 1.6, "C_books": 0.5, "CA_web": 100.0, "CA_code": 300.0, "CA_books": 60.0,
        "CB_web": 800.0, "CB_code": 2000.0, "CB_books": 500.0, "gamma_web": 0.45, "gamma_code": 0.3,
        "gamma_books": 0.6, "gamma_A": 1.0, "alpha": 0.33, "gamma_B": 1.0, "beta": 0.3}),
}
SIZES, RATIOS = (2e7, 6e7, 2e8, 6e8), (10, 30, 100)


def law_for(name):
    scale, truth = TRUTH[name]
    return get_law(name).specialize(tuple("mix." + d for d in DOM) + scale), truth


def synthetic(name, n, noise, seed, sizes=SIZES, ratios=RATIOS):
    """Runs of a law with known parameters: Dirichlet mixtures, sizes x token ratios, log-normal noise."""
    law, truth = law_for(name)
    rng = np.random.default_rng(seed)
    H = rng.dirichlet(np.ones(len(DOM)) * 0.8, n)
    df = pd.DataFrame({"run": [f"r{seed}-{i}" for i in range(n)], "dataset": "val"})
    if "params" in law.inputs:
        df["params"] = rng.choice(sizes, n)
        df["tokens"] = df.params * rng.choice(ratios, n)
    for j, d in enumerate(DOM):
        df[f"mix.{d}"] = H[:, j]
    X = {c: df[c].to_numpy(float) for c in law.inputs}
    df["loss"] = np.exp(np.asarray(law.log_predict(law.theta_from_dict(truth), X))) * np.exp(rng.normal(0, noise, n))
    return df


# (law, runs): parameter tolerance (relative), held-out tolerance (relative); noise 0.1 % in every case.
# Held-out rows: new mixtures at 2e9 parameters x 20 tokens/parameter, 3x beyond the largest fitted size.
RECOVERY = {"mixture-ye": (40, 0.01, 2e-3), "mixture-linear": (40, 0.005, 2e-3),
            "mixture-additive": (120, 0.15, 3e-3), "mixture-joint": (160, 0.15, 3e-3)}


@pytest.mark.parametrize("name", list(RECOVERY))
def test_synthetic_recovery(name):
    n, tol_p, tol_pred = RECOVERY[name]
    truth = TRUTH[name][1]
    fit = scaling.fit(name, synthetic(name, n, 1e-3, 0), target="val")
    held = synthetic(name, 50, 0.0, 1, sizes=(2e9,), ratios=(20,))
    assert np.max(np.abs(fit.predict(held)["loss_pred"] / held.loss - 1)) < tol_pred
    if name == "mixture-joint":
        # the amplitudes A_h = (sum CA_j h_j)^gamma_A, B_h are identified, not CA_j and gamma_A apart
        # (scaling every CA_j trades against gamma_A): compare them where the runs are (not at the vertices)
        for h in [*(0.2 + 0.4 * np.eye(3)), np.full(3, 1 / 3)]:
            for big in ("A", "B"):
                amp = lambda p: sum(p[f"C{big}_{d}"] * x for d, x in zip(DOM, h)) ** p[f"gamma_{big}"]
                assert amp(fit.params) == pytest.approx(amp(truth), rel=tol_p), (big, h)
        truth = {k: v for k, v in truth.items() if not k.startswith(("CA_", "CB_", "gamma_A", "gamma_B"))}
    for k, v in truth.items():
        assert fit.params[k] == pytest.approx(v, rel=tol_p), k


def test_linear_baseline_is_statsmodels_ols():
    import statsmodels.api as sm
    runs = synthetic("mixture-linear", 40, 1e-2, 2)
    fit = scaling.fit("mixture-linear", runs, target="val")
    ols = sm.OLS(runs.loss.to_numpy(), runs[[f"mix.{d}" for d in DOM]].to_numpy()).fit()
    assert [fit.params[f"b_{d}"] for d in DOM] == pytest.approx(list(ols.params), rel=1e-8)
    assert [fit.se[f"b_{d}"] for d in DOM] == pytest.approx(list(ols.bse), rel=0.1)   # Gauss-Newton = OLS covariance (sampled)
    assert fit.diagnostics["observations"]["ols"]["r2"] == pytest.approx(ols.rsquared)
    assert "b_code" in fit.summary()


def test_fixed_scale_drops_the_n_and_d_terms_and_says_so():
    runs = synthetic("mixture-ye", 40, 1e-3, 3).assign(params=1e8, tokens=2e9)
    fit = scaling.fit("mixture-additive", runs, target="val")
    assert set(fit.params) == {"E"} | {f"{p}_{d}" for p in ("C", "gamma") for d in DOM}
    assert fit.law.inputs == tuple(f"mix.{d}" for d in DOM)
    assert "absorbed in E" in fit.summary() and "params=1e+08" in fit.summary()
    with pytest.raises(scaling.InputError, match="mixture-additive"):
        scaling.fit("mixture-joint", runs, target="val")
    varied = synthetic("mixture-additive", 60, 1e-3, 4)
    with pytest.raises(scaling.InputError, match="one \\(params, tokens\\) at a time"):
        scaling.fit("mixture-ye", varied, target="val")


def test_weighted_target_is_the_weighted_mean_of_paired_rows():
    a = synthetic("mixture-ye", 40, 1e-3, 5)
    b = a.assign(dataset="other", loss=a.loss * 1.2)
    runs = pd.concat([a, b], ignore_index=True)
    fit = scaling.fit("mixture-ye", runs, target={"val": 1, "other": 3})
    assert fit.data.loss.to_numpy() == pytest.approx(a.loss.to_numpy() * (0.25 + 0.75 * 1.2))
    assert fit.diagnostics["observations"]["target"] == {"val": 0.25, "other": 0.75}
    with pytest.raises(scaling.InputError, match="several datasets"):
        scaling.fit("mixture-ye", runs)
    with pytest.raises(scaling.InputError, match="lacks rows|no 'other' row"):
        scaling.fit("mixture-ye", pd.concat([a, b.iloc[:-1]], ignore_index=True), target={"val": 1, "other": 1})


def bad(runs, **changes):
    runs = runs.copy()
    for (row, col), v in changes.get("cells", {}).items():
        runs.loc[row, col] = v
    return runs


@pytest.mark.parametrize("edit, target, message", [
    (lambda r: r.assign(**{"mix.web": r["mix.web"] + 0.05}), "val", r"row 0: the weights .* sum to 1.05"),
    (lambda r: r.assign(**{c: 100 * r[c] for c in ("mix.web", "mix.code", "mix.books")}), "val",
     r"sum to 100, not 1 .* percentages\? divide them by 100"),
    (lambda r: bad(r, cells={(3, "mix.code"): -0.1, (3, "mix.web"): r.loc[3, "mix.web"] + 0.1}), "val",
     r"row 3, column 'mix.code': weight -0.1 is negative"),
    (lambda r: bad(r, cells={(2, "mix.books"): np.nan}), "val", r"row 2, column 'mix.books'"),
    (lambda r: r.assign(**{"mix.news": 0.0}), "val", r"\['mix.news'\]: weight 0 in every fitted row"),
    (lambda r: r.drop(columns=["mix.web", "mix.code", "mix.books"]), "val", "no mixture weights"),
    (lambda r: r, "c4", r"dataset 'c4' not in the table; it has \['val'\]"),
    (lambda r: r.iloc[:15], "val", r"only 15 distinct mixtures and sizes for the 17 parameters"),
])
def test_bad_input_names_the_row_or_column(edit, target, message):
    runs = synthetic("mixture-joint", 60, 1e-3, 6)
    with pytest.raises(scaling.InputError, match=message):
        scaling.fit("mixture-joint" if "17 param" in message else "mixture-additive", edit(runs), target=target)


def test_weights_rounded_to_two_decimals_are_within_the_tolerance():
    runs = synthetic("mixture-additive", 60, 1e-3, 6)
    cols = ["mix.web", "mix.code", "mix.books"]
    rounded = runs.assign(**{c: runs[c].round(2) for c in cols})
    assert (np.abs(rounded[cols].sum(axis=1) - 1) > 0.01).any()      # 1.0100000000000002 in floating point
    scaling.fit("mixture-additive", rounded, target="val")


def test_predict_checks_the_columns_and_the_weights():
    fit = scaling.fit("mixture-linear", synthetic("mixture-linear", 30, 1e-3, 7), target="val")
    with pytest.raises(scaling.InputError, match=r"missing column\(s\) \['mix.books'\]"):
        fit.predict(pd.DataFrame({"mix.web": [0.5], "mix.code": [0.5]}))
    with pytest.raises(scaling.InputError, match="sum to 0.9"):
        fit.predict(pd.DataFrame({"mix.web": [0.5], "mix.code": [0.3], "mix.books": [0.1]}))


def test_json_round_trip_and_bootstrap_weight_intervals(tmp_path):
    runs = synthetic("mixture-additive", 120, 1e-3, 8)
    fit = scaling.fit("mixture-additive", runs, target="val", bootstrap=40, seed=1)
    fit.to_json(tmp_path / "fit.json")
    back = scaling.load_fit(tmp_path / "fit.json")
    assert json.loads((tmp_path / "fit.json").read_text())["inputs"] == [*(f"mix.{d}" for d in DOM), "params", "tokens"]
    assert back.law is fit.law       # rebuilt from its inputs: the same cached law, compiled once
    pd.testing.assert_frame_equal(back.predict(runs.iloc[:5]), fit.predict(runs.iloc[:5]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = scaling.plan(back, params=4e8, tokens=8e9)
    lo, hi = p["interval"]
    assert lo < p["loss"] < hi
    for d in DOM:
        a, b = p["mixture_interval"][d]
        assert a <= p["mixture"][d] <= b and b - a < 0.2
