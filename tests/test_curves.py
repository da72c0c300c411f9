"""Whole-curve laws: inputs computed exactly from schedules, schedule sources, errors, synthetic recovery."""
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import scaling
from fitters import curves as fc
from fitters import multipower, tissue
from ladders.schedules import lr_array
from scaling import InputError
from scaling import curves as sc
from scaling.cli import main

from test_curves_recovery import _synthetic

WSD = "wsd:peak=0.001,warmup=100,decay_fraction=0.25,decay_shape=linear,floor=0.0001"


# -- inputs ---------------------------------------------------------------------------------
def test_areas_match_a_plain_loop():
    lr = lr_array(WSD, 1000)
    steps = np.array([1, 50, 100, 750, 800, 999, 1000])
    lam = 0.99
    m, d_started = 0.0, False
    S1 = np.concatenate([[0.0], np.cumsum(lr)])
    S2 = [0.0]
    for i in range(1000):
        d = lr[i - 1] - lr[i] if i > 0 else 0.0
        d_started = d_started or d > 0
        m = lam * m + (d if d_started else 0.0)
        S2.append(S2[-1] + m)
    np.testing.assert_allclose(fc.forward_area(lr, steps), S1[steps])
    np.testing.assert_allclose(fc.annealing_area(lr, steps, lam), np.array(S2)[steps], atol=1e-15)
    assert fc.warmup_end(lr) == 750           # the first update below the peak (the last 250 of 1000 decay)
    assert fc.annealing_area(lr, [750], lam)[0] == 0.0 < fc.annealing_area(lr, [751], lam)[0]


def test_warmup_at_peak_changes_only_the_forward_area():
    """Tissue et al.'s warmup convention: the warmup's updates count at the peak rate in S1; S2 and the drops stay."""
    lr = lr_array(WSD, 1000)
    assert np.all(fc.warmup_at_peak(lr)[:100] == 0.001) and np.array_equal(fc.warmup_at_peak(lr)[100:], lr[100:])
    steps = [50, 500, 900]
    for kind in ("tissue", "multipower"):
        actual = fc.curve_inputs({"a": lr}, ["a"] * 3, steps, kind)
        peak = fc.curve_inputs({"a": lr}, ["a"] * 3, steps, kind, warmup="peak")
        np.testing.assert_allclose(peak["S1"] - actual["S1"], [0.05 - lr[:50].sum()] + 2 * [0.1 - lr[:100].sum()])
        for k in set(actual) - {"S1"}:
            np.testing.assert_array_equal(peak[k], actual[k])
    with pytest.raises(ValueError, match="warmup='ramp'"):
        fc.curve_inputs({"a": lr}, ["a"], [10], "tissue", warmup="ramp")


def test_a_fit_predicts_new_schedules_with_its_own_warmup_rule():
    rng = np.random.default_rng(3)
    lrs = {"a": lr_array(WSD, 2000), "b": lr_array("cosine:peak=0.001,warmup=100,floor=0.0001", 2000)}
    truth = {"L0": 2.5, "A": 0.6, "alpha": 0.45, "C": 0.5}
    rows = pd.concat([pd.DataFrame({"run": r, "step": np.arange(300, 2001, 100)}) for r in lrs], ignore_index=True)
    X = tissue.prepare(rows, lrs, warmup="peak")
    runs = rows.assign(loss=truth["L0"] + truth["A"] * X["S1"] ** -truth["alpha"] - truth["C"] * X["S2"])
    fit = scaling.fit("tissue", runs, schedules=lrs, warmup="peak")
    assert fit.params["alpha"] == pytest.approx(0.45, rel=1e-3)
    new = pd.DataFrame({"run": "c", "step": [500, 1500]})
    sched = {"c": "wsd:peak=0.001,warmup=300,decay_fraction=0.5,decay_shape=linear,floor=0.0001,total_steps=1500"}
    Xc = tissue.prepare(new, {"c": sc.schedule_array(sched["c"])}, warmup="peak")
    expected = truth["L0"] + truth["A"] * Xc["S1"] ** -truth["alpha"] - truth["C"] * Xc["S2"]
    np.testing.assert_allclose(fit.predict(new, schedules=sched)["loss_pred"], expected, rtol=1e-4)
    # the schedule planner evaluates its candidates with the same rule: its losses are predict's
    plan = scaling.plan(fit, steps=1500, peak=0.001, warmup=300, floor=0.0001, families=("wsd",),
                        decay_fractions=[0.5])
    linear = next(r for r in plan["ranking"] if "decay_shape=linear" in r["schedule"])
    assert linear["loss"] == pytest.approx(expected[-1], rel=1e-4)


@pytest.mark.parametrize("desc,T", [
    ("cosine:peak=3e-4,warmup=2160,floor=3e-5", 72000),
    ("wsd:peak=3e-4,warmup=2160,decay_fraction=0.1666667,decay_shape=exponential,floor=3e-5", 24000),
    ("multistep:peak=3e-4,warmup=2160,milestones=8000,gamma=0.3", 16000),
])
def test_grouped_drops_match_the_exact_sum(desc, T):
    """The binned loss reduction is within 1e-4 (in loss) of the exact sum for paper-like and degenerate parameters."""
    lr = lr_array(desc, T)
    steps = np.arange(2176, T + 1, 640)
    b = fc.drop_bins(lr, steps)
    for C, beta, gamma, B in [(2.066, 0.583, 0.641, 363.8), (0.5, 0.15, 0.85, 650.0), (1.9, 0.002, 0.9, 22161.0)]:
        approx = (b["D"] * (1 - (1 + C * np.exp(-gamma * b["log_eta"]) * b["S"]) ** (-beta))).sum(1)
        exact = fc.loss_drop_exact(lr, steps, C, beta, gamma)
        assert B * np.max(np.abs(approx - exact)) < 1e-4


def _cosine(a, b, n):
    return b + 0.5 * (a - b) * (1 + np.cos(np.pi * np.arange(n) / n))


@pytest.mark.parametrize("lr", [
    np.r_[np.linspace(0, 1e-3, 200), _cosine(1e-3, 1e-4, 3000), _cosine(1e-3, 1e-4, 3000), _cosine(1e-3, 1e-4, 3000)],
    np.r_[np.linspace(0, 1e-3, 200), np.full(4000, 1e-3), np.linspace(1e-3, 1e-4, 1000), np.linspace(1e-4, 5e-4, 300),
          np.full(2000, 5e-4), np.linspace(5e-4, 0, 800)],
    np.r_[np.linspace(0, 1e-3, 200), np.full(3000, 1e-3), np.full(1000, 1e-4), np.linspace(1e-4, 1e-3, 500),
          _cosine(1e-3, 0, 3000)],
], ids=["restarts", "rewarm", "step-then-ramp"])
def test_rates_that_rise_again_bin_falls_and_rises_apart(lr):
    """Restarts and re-warming: falls and rises get bins of their own (2K columns), which keeps the loss reduction
    within 2e-4 nats of the exact sum (B * peak = 0.1); netted in one bin, restarts were off by 4e-3."""
    steps = np.arange(300, len(lr) + 1, 97)
    K = fc.n_bins(int(steps.max()))
    split, mixed = fc.drop_bins(lr, steps), fc.drop_bins(lr, steps, split_signs=False)
    assert fc.rises(lr) and split["D"].shape == (len(steps), 2 * K) and mixed["D"].shape == (len(steps), K)
    err = {}
    for name, b in (("split", split), ("mixed", mixed)):
        err[name] = max(0.1 / lr.max() * np.max(np.abs(
            (b["D"] * (1 - (1 + C * np.exp(-gamma * b["log_eta"]) * b["S"]) ** (-beta))).sum(1)
            - fc.loss_drop_exact(lr, steps, C, beta, gamma))) for C, beta, gamma in [(2.0, 0.6, 0.6), (0.5, 0.15, 0.85)])
    assert err["split"] < 2e-4 and err["split"] < err["mixed"]
    X = fc.curve_inputs({"a": lr, "b": lr_array("cosine:peak=1e-3,warmup=200", 5000)}, ["a", "b"], [5000, 5000], "multipower")
    assert X["D"].shape[1] == 2 * 8 * -(-fc.n_bins(5000) // 8)      # every run gets the split columns


def test_rounding_wiggles_and_noisy_rates():
    """A rate that wiggles by one ulp gives finite inputs (bins below the prefix sums' rounding are left out);
    a rate that jumps up and down at every step is warned about (the grouped sum cannot net such swings)."""
    lr = np.r_[np.linspace(0, 1e-3, 100), np.full(3000, 1e-3) * (1 + 1e-16 * (np.arange(3000) % 2)), _cosine(1e-3, 0, 2000)]
    b = fc.drop_bins(lr, np.arange(200, len(lr) + 1, 50))
    assert all(np.isfinite(v).all() for v in b.values())
    noisy = np.abs(1e-3 + 2e-4 * np.random.default_rng(0).standard_normal(3000))
    with pytest.warns(UserWarning, match="rises and falls by .*x its peak"):
        fc.curve_inputs({"a": noisy}, ["a"], [3000], "multipower")


@pytest.mark.parametrize("lr", [
    lr_array("wsd:peak=1e-3,warmup=200,decay_fraction=0.3,decay_shape=linear,floor=0", 4000),
    np.r_[np.linspace(0, 1e-3, 200), np.full(2000, 1e-3), np.linspace(1e-3, 0, 1000), np.zeros(20)],
    np.r_[np.linspace(0, 1e-3, 200), np.full(1000, 1e-3), np.zeros(200), np.full(1000, 5e-4), _cosine(5e-4, 0, 500), [0.0]],
], ids=["wsd-to-zero", "zero-then-idle", "zero-then-restart"])
def test_rates_decayed_to_zero(lr):
    """A drop to a zero rate with no update since has share G(0) = 0 (the exact sum's, and the limit of a rate
    decayed to eps -> 0); binned with eta = 0 against a rounded area of 1e-12, it made the law NaN."""
    steps = np.unique(np.r_[np.arange(300, len(lr) + 1, 37), len(lr)])
    b = fc.drop_bins(lr, steps)
    assert all(np.isfinite(v).all() for v in b.values()) and (b["S"] >= 0).all()
    for C, beta, gamma in [(2.0, 0.6, 0.6), (0.5, 0.15, 0.85)]:
        approx = (b["D"] * (1 - (1 + C * np.exp(-gamma * b["log_eta"]) * b["S"]) ** (-beta))).sum(1)
        assert np.isfinite(approx).all()
        assert 0.1 / lr.max() * np.max(np.abs(approx - fc.loss_drop_exact(lr, steps, C, beta, gamma))) < 2e-4


def _bins_row_by_row(lr, steps, K):
    """Drop bins the plain way (each row's drops grouped one row at a time): the reference for drop_bins."""
    d, a, out = fc.drops(lr), fc.area(lr), {k: np.zeros((len(steps), K)) for k in ("D", "log_eta", "S")}
    for r, s in enumerate(steps):
        i = np.flatnonzero(d[:s])
        b = fc._bin_of_distance(s - i, fc.EXACT, fc.RATIO)
        for k in np.unique(b):
            j, w = i[b == k], np.abs(d[i[b == k]])
            out["D"][r, k] = d[j].sum()
            out["log_eta"][r, k] = np.sum(w * np.log(lr[j])) / w.sum()
            out["S"][r, k] = np.sum(w * (a[s] - a[j])) / w.sum()
    return out


@pytest.mark.parametrize("lr", [
    lr_array("cosine:peak=3e-4,warmup=2160,floor=3e-5", 30000),
    np.r_[np.linspace(1e-4, 1e-3, 50), np.full(100, 1e-3), np.full(30, 1e-5), np.full(100, 5e-4), np.geomspace(5e-4, 1e-5, 200)],
    np.abs(np.random.default_rng(0).normal(1e-3, 5e-4, 3000)),          # rises and falls at every step
])
def test_drop_bins_from_prefix_sums_match_a_row_by_row_grouping(lr):
    """The prefix-sum bins give the loss reduction of the plain grouping to 1e-8 nats (B = 1000)."""
    steps = np.unique(np.r_[1, np.random.default_rng(1).integers(1, len(lr) + 1, 200), len(lr)])
    got = fc.drop_bins(lr, steps, split_signs=False)       # the plain grouping nets rises against falls
    want = _bins_row_by_row(lr, steps, got["D"].shape[1])
    np.testing.assert_allclose(got["D"], want["D"], rtol=1e-6, atol=1e-12)
    for C, beta, gamma in [(2.066, 0.583, 0.641), (0.5, 0.15, 0.85), (0.07, 0.02, 1.3)]:
        ld = [(b["D"] * (1 - (1 + C * np.exp(-gamma * b["log_eta"]) * b["S"]) ** (-beta))).sum(1) for b in (got, want)]
        assert 1000 * np.max(np.abs(ld[0] - ld[1])) < 1e-8
    with pytest.raises(ValueError, match="needs .* bins, have 2"):
        fc.drop_bins(lr, steps, K=2)


def test_schedule_sources_agree():
    T = 600
    lr = lr_array(WSD, T)
    rows = pd.DataFrame({"run": "a", "step": [100, 300, 590]})
    want = tissue.prepare(rows, {"a": lr})
    for schedules in ({"a": WSD + f",total_steps={T}"}, {"a": (WSD, T)}, {"a": {**{"kind": "wsd", "peak": 0.001, "warmup": 100,
                      "decay_fraction": 0.25, "decay_shape": "linear", "floor": 0.0001}, "total_steps": T}},
                      WSD + f",total_steps={T}", pd.DataFrame({"run": "a", "step": np.arange(T), "lr": lr})):
        got = sc.resolve_options(tissue.LAW, rows, {"schedules": schedules})["schedules"]
        np.testing.assert_array_equal(got["a"], lr)
    full = rows.assign(lr=0.0).iloc[:0]
    log = pd.DataFrame({"run": "a", "step": np.arange(T), "lr": lr, "loss": 3.0})
    got = sc.learning_rates(log)
    np.testing.assert_array_equal(got["a"], lr)
    X = tissue.prepare(rows, sc.learning_rates(rows, {"a": lr}))
    np.testing.assert_allclose(X["S1"], want["S1"])
    assert full.empty


def test_sparse_lr_log_is_expanded_with_a_warning():
    lr = lr_array("linear:peak=0.001,warmup=100,floor=0", 1000)
    log = pd.DataFrame({"run": "a", "step": np.arange(100, 1000, 50), "lr": lr[100:1000:50]})
    with pytest.warns(UserWarning, match="linear interpolation"):
        got = sc.learning_rates(log)["a"]
    assert len(got) == 951 and np.allclose(got[100:951], lr[100:951])     # linear decay: exact between logs
    np.testing.assert_allclose(got[:100], lr[:100], rtol=0.02)              # the linear warmup rule (to lr[100])


def test_predict_curve_and_final_losses_from_a_fit():
    fit = scaling.FitResult(law=tissue.LAW, params={"L0": 2.0, "A": 0.5, "alpha": 0.5, "C": 0.3}, se={}, ci={})
    curve = sc.predict_curve(fit, "cosine:peak=1e-3,warmup=10,floor=1e-4", 500)
    assert list(curve.columns) == ["step", "lr", "loss_pred", "loss_lo", "loss_hi"] and len(curve) == 200
    assert np.all(np.diff(curve["loss_pred"]) < 0) and curve["step"].iloc[-1] == 500
    lr = lr_array("cosine:peak=1e-3,warmup=10,floor=1e-4", 500)
    S1, S2 = fc.forward_area(lr, [500])[0], fc.annealing_area(lr, [500])[0]
    assert curve["loss_pred"].iloc[-1] == pytest.approx(2.0 + 0.5 * S1 ** -0.5 - 0.3 * S2, rel=1e-12)
    final = sc.final_losses(fit, {"cos": "cosine:peak=1e-3,warmup=10,floor=1e-4,total_steps=500", "arr": lr[:400]})
    assert final["step"].tolist() == [500, 400]
    assert final["loss_pred"].iloc[0] == pytest.approx(curve["loss_pred"].iloc[-1], rel=1e-12)


def test_schedules_decayed_to_zero_are_planned_with_the_exact_final_loss():
    """The planner predicts the loss after the last update, which a floor of 0 (the default) puts at rate 0: each
    candidate's final loss is the law's exact-sum value to the grouping's accuracy (was NaN for a linear WSD
    decay to zero).  Short decays to zero are the grouping's hardest case: within 3.3e-4 nats here (B * peak =
    0.12; G is concave, so a bin's mean argument over-states its share)."""
    p = {"L0": 2.5, "A": 0.5, "alpha": 0.5, "B": 400.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}
    fit = scaling.FitResult(law=multipower.LAW, params=p, se={}, ci={})
    plan = scaling.plan(fit, steps=4000, peak=3e-4, warmup=200, floor=0.0)
    assert plan["floor"] == 0.0 and plan["ranking"]
    assert all(np.isfinite(v).all() for scan in plan["wsd"]["scan"].values() for v in scan["loss"])
    for row in plan["ranking"]:
        lr = sc.schedule_array(row["schedule"], 4000)
        exact = p["L0"] + p["A"] * fc.forward_area(lr, [4000])[0] ** -p["alpha"] - p["B"] * fc.loss_drop_exact(
            lr, [4000], p["C"], p["beta"], p["gamma"])[0]
        assert row["loss"] == pytest.approx(exact, abs=4e-4), row["schedule"]


@pytest.mark.parametrize("options, match", [
    ({"peak": 0.0}, "peak=0.0: the peak learning rate is a number > 0"),
    ({"floor": 1e-2}, r"floor=0.01: the final learning rate lies in \[0, peak=0.001\)"),
    ({"warmup": 5000}, "warmup=5000: as long as the budget of 4000 steps"),
    ({"warmup": float("nan")}, "warmup=nan"),
    ({"level": 2}, "level=2"),
])
def test_the_schedule_planner_names_impossible_settings(options, match):
    fit = scaling.FitResult(law=tissue.LAW, params={"L0": 2.0, "A": 0.5, "alpha": 0.5, "C": 0.3}, se={}, ci={})
    with pytest.raises(InputError, match=match):
        scaling.plan(fit, **{"steps": 4000, "peak": 1e-3, "warmup": 100, **options})


def test_the_schedule_planners_budget_is_its_candidates_length_when_they_share_one():
    fit = scaling.FitResult(law=tissue.LAW, params={"L0": 2.0, "A": 0.5, "alpha": 0.5, "C": 0.3}, se={}, ci={})
    plan = scaling.plan(fit, candidates=["cosine:peak=1e-3,warmup=100,total_steps=3000"], peak=1e-3, warmup=100)
    assert plan["steps"] == 3000 and {r["steps"] for r in plan["ranking"]} == {3000}
    with pytest.raises(InputError, match="give the step budget"):      # two lengths: no budget to infer
        scaling.plan(fit, candidates=["cosine:peak=1e-3,total_steps=3000", "constant:peak=1e-3,total_steps=2000"],
                     peak=1e-3)


# -- errors ---------------------------------------------------------------------------------
def _curve_rows(lr, steps, run="a"):
    return pd.DataFrame({"run": run, "step": steps, "lr": lr[steps], "loss": 3.0 - 0.1 * np.log1p(steps)})


@pytest.mark.parametrize("mutate,schedules,match", [
    (lambda d: d.drop(columns=["lr"]), None, "no 'lr' column"),
    (lambda d: d.assign(lr=np.nan), None, "run 'a': no learning rate in any of its 5 row"),
    (lambda d: d.assign(lr=np.where(d.index == 3, -1e-4, d["lr"])), None, "negative learning rate"),
    (lambda d: d.iloc[[0, 1, 1, 3, 4]].reset_index(drop=True), None, "duplicates an earlier row"),
    (lambda d: d, {"a": WSD + ",total_steps=300"}, "shorter than the data"),
    (lambda d: d, {"b": WSD}, "no schedule"),
    (lambda d: d, {"a": "cosine:peak=-1"}, "peak must be a positive"),
    (lambda d: d, {"a": np.full(1000, -1e-3)}, "learning rate at step 0"),
])
def test_bad_input_is_an_input_error(mutate, schedules, match):
    lr = lr_array(WSD, 1000)
    table = mutate(_curve_rows(lr, np.array([100, 200, 400, 600, 900])))
    with pytest.raises(InputError, match=match), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scaling.fit("tissue", table, **({} if schedules is None else {"schedules": schedules}))


def test_rows_in_any_order_and_an_evaluation_after_the_last_logged_rate():
    """A log's row order does not matter (the rows are a set of (run, step)); an evaluation at the end of a run
    whose last rate was logged a few steps earlier holds that rate (said in a warning), not an error."""
    lr = lr_array(WSD, 1000)
    table = _curve_rows(lr, np.array([100, 200, 400, 600, 900]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        in_order = sc.learning_rates(table)["a"]
        shuffled = sc.learning_rates(table.iloc[[3, 0, 4, 2, 1]])["a"]
    np.testing.assert_array_equal(in_order, shuffled)
    evaluation = pd.concat([table.assign(dataset="train"),
                            pd.DataFrame({"run": ["a"], "step": [1000], "dataset": ["val"], "loss": [2.2]})], ignore_index=True)
    with pytest.warns(UserWarning, match="the rate is held at that value"):
        held = sc.learning_rates(evaluation)["a"]
    assert len(held) == 1000 and np.all(held[900:] == lr[900])


def test_rates_logged_on_another_datasets_rows_serve_a_fit_to_the_evaluation_rows():
    """A run's rate at a step is the run's, whichever dataset a row measures: an export whose training rows carry
    ``lr`` (every 10 steps) and whose evaluation rows do not (every 200) fits its evaluation loss from the table
    alone, and a single row without a rate is a sparse log's gap (interpolated, with the warning), not an error."""
    truth = {"L0": 2.5, "A": 0.6, "alpha": 0.45, "C": 0.5}
    lrs = {r: lr_array(d, 5000) for r, d in {"cos": "cosine:peak=1e-3,warmup=200,floor=1e-4", "wsd": WSD,
                                            "const": "constant:peak=1e-3,warmup=200"}.items()}
    rows = pd.concat([pd.DataFrame({"run": r, "step": s, "dataset": d, "lr": lr[s - 1] if d == "train" else np.nan})
                      for r, lr in lrs.items() for d, s in (("train", np.arange(10, 5001, 10)), ("val", np.arange(200, 5001, 200)))],
                     ignore_index=True)
    X = tissue.prepare(rows, lrs)
    rows["loss"] = truth["L0"] + truth["A"] * X["S1"] ** -truth["alpha"] - truth["C"] * X["S2"]
    with pytest.warns(UserWarning, match="not logged at every step"):
        f = scaling.fit("tissue", rows, dataset="val")
    assert f.n_points == 3 * 25
    for k, v in truth.items():
        assert f.params[k] == pytest.approx(v, rel=0.02), k
    with pytest.raises(InputError, match="run 'cos': no learning rate in any of its 25 row"):
        f.predict(rows[rows["dataset"] == "val"])            # prediction rows need rates of their own (or schedules=)
    assert f.data["lr"].notna().all()                         # the rates it was fitted with stay with the fit:
    assert len(scaling.load_fit(f.to_json()).data) == 75      # its figure redraws from the fit alone (JSON too)
    assert len(scaling.plot(scaling.load_fit(f.to_json())).axes) == 2
    train = rows[rows["dataset"] == "train"]
    clash = pd.concat([train, train.assign(dataset="copy", lr=train["lr"] * 2)], ignore_index=True)
    with pytest.raises(InputError, match="run 'cos', step 10: its rows give learning rates 5e-05 and 0.0001"):
        scaling.fit("tissue", clash, dataset="train")
    gap = train.assign(lr=np.where(np.arange(len(train)) == 7, np.nan, train["lr"]))
    with pytest.warns(UserWarning, match="not logged at every step"):
        assert scaling.fit("tissue", gap).params["alpha"] == pytest.approx(truth["alpha"], rel=0.02)


def test_step_zero_row_is_an_error():
    lr = lr_array(WSD, 1000)
    with pytest.raises(InputError, match="no learning-rate area"):
        scaling.fit("tissue", _curve_rows(lr, np.array([0, 100, 200, 400, 600])), schedules={"a": lr})


# -- command line ---------------------------------------------------------------------------------
def test_cli_fit_predict_plan(tmp_path, capsys):
    rng = np.random.default_rng(2)
    truth = {"L0": 2.5, "A": 0.6, "alpha": 0.45, "C": 0.5}
    descs = {"a": "cosine:peak=0.001,warmup=200,floor=0.0001,total_steps=6000",
             "b": "wsd:peak=0.001,warmup=200,decay_fraction=0.3,total_steps=8000",
             "c": "constant:peak=0.001,warmup=200,total_steps=5000"}
    lrs = {k: sc.schedule_array(v) for k, v in descs.items()}
    runs = _synthetic(tissue.LAW, truth, lrs, 5e-4, rng)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    (tmp_path / "s.json").write_text(json.dumps(descs))
    fit_json = tmp_path / "fit.json"
    assert main(["fit", "tissue", str(tmp_path / "runs.csv"), "--schedules", str(tmp_path / "s.json"),
                 "--out", str(fit_json), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["law"] == "tissue"
    # the same curves as a folder of per-run files (run = file name), schedules given one by one
    (tmp_path / "curves").mkdir()
    for run, g in runs.groupby("run"):
        g.drop(columns="run").to_csv(tmp_path / "curves" / f"{run}.csv", index=False)
    assert main(["fit", "tissue", str(tmp_path / "curves"), "--schedule", f"a={descs['a']}", "--schedule",
                 f"b={descs['b']}", "--schedule", f"c={descs['c']}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == pytest.approx(first["params"], rel=1e-6)
    assert main(["fit", "tissue", str(tmp_path / "runs.csv"), "--schedules", str(tmp_path / "s.json"),
                 "--warmup", "peak", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["options"]["law_options"]["warmup"] == "peak"
    assert main(["predict", str(fit_json), "--schedule", "wsd:peak=0.001,warmup=200,decay_fraction=0.2",
                 "--steps", "10000", "--points", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 10000 and len(out["curve"]["loss"]) == 20 and out["interval"][0] < out["loss"] < out["interval"][1]
    assert main(["predict", str(fit_json), "--data", str(tmp_path / "runs.csv"), "--schedules",
                 str(tmp_path / "s.json"), "--out", str(tmp_path / "pred.csv")]) == 0
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert np.max(np.abs(pred["loss_pred"] / pred["loss"] - 1)) < 5e-3
    assert main(["plan", str(fit_json), "--steps", "10000", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["peak"] == 0.001 and plan["warmup"] == 200 and 0 < plan["wsd"]["decay_fraction"] <= 1
    assert plan["ranking"][0]["loss"] == plan["loss"] and len(plan["wsd"]["scan"]["linear"]["loss"]) == 20
    # bad input: exit code 2 with a message
    short = ["--schedule", "a=cosine:peak=0.001,total_steps=100", "--schedule", f"b={descs['b']}", "--schedule", f"c={descs['c']}"]
    assert main(["fit", "tissue", str(tmp_path / "runs.csv"), *short]) == 2
    assert "shorter than the data" in capsys.readouterr().err
    assert main(["predict", str(fit_json), "--schedule", "wsd:peak=0.001"]) == 2
    assert "total_steps" in capsys.readouterr().err
    assert main(["predict", str(fit_json), "--schedule", "wsd:peak=0.001,total_steps=8000", "--steps", "10000"]) == 2
    assert "disagree on the run's length" in capsys.readouterr().err
    assert main(["predict", str(fit_json), "--params", "1e9", "--tokens", "1e10"]) == 2
    assert "predicts a loss curve from a learning-rate schedule: --schedule" in capsys.readouterr().err


def test_model_error_from_held_out_runs_widens_every_interval(tmp_path, capsys):
    """Curves of the multi-power law fitted by the Tissue law: the law's own error, which parameter intervals
    miss, is measured by refitting without each run; the widened intervals cover the unseen curve."""
    rng = np.random.default_rng(5)
    truth = {"L0": 2.5, "A": 0.6, "alpha": 0.45, "B": 400.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}
    descs = {"a": "cosine:peak=0.001,warmup=200,floor=0.0001,total_steps=6000",
             "b": "wsd:peak=0.001,warmup=200,decay_fraction=0.3,total_steps=8000",
             "c": "multistep:peak=0.001,warmup=200,milestones=0.5,gamma=0.3,total_steps=5000",
             "d": "constant:peak=0.001,warmup=200,total_steps=5000"}
    lrs = {k: sc.schedule_array(v) for k, v in descs.items()}
    runs = _synthetic(multipower.LAW, truth, lrs, 3e-4, rng)
    train, test = runs[runs.run != "a"], runs[runs.run == "a"].reset_index(drop=True)
    plain = scaling.fit("tissue", train, schedules=lrs)
    fit = sc.add_model_error(plain, train, schedules=lrs)
    me = fit.diagnostics["model_error"]
    assert set(me["per_run"]) == {"b", "c", "d"} and 3e-4 < me["sigma"] < 0.05
    assert fit.params == plain.params and "model error" in fit.summary()
    before, after = plain.predict(test, schedules=lrs), fit.predict(test, schedules=lrs)
    np.testing.assert_array_equal(before["loss_pred"], after["loss_pred"])
    assert np.all(after["loss_lo"] < before["loss_lo"]) and np.all(after["loss_hi"] > before["loss_hi"])
    inside = lambda p: np.mean((p["loss"] >= p["loss_lo"]) & (p["loss"] <= p["loss_hi"]))
    assert inside(after) >= 0.9 > inside(before)
    fit.to_json(tmp_path / "fit.json")
    loaded = scaling.load_fit(tmp_path / "fit.json")
    np.testing.assert_allclose(loaded.predict(test, schedules=lrs)["loss_hi"], after["loss_hi"], rtol=1e-3)
    with pytest.raises(InputError, match="two runs or more"):
        sc.add_model_error(plain, train[train.run == "b"], schedules=lrs)
    # the command line: --model-error
    train.to_csv(tmp_path / "runs.csv", index=False)
    (tmp_path / "s.json").write_text(json.dumps({k: v for k, v in descs.items() if k != "a"}))
    assert main(["fit", "tissue", str(tmp_path / "runs.csv"), "--schedules", str(tmp_path / "s.json"),
                 "--model-error", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["diagnostics"]["model_error"]["sigma"] == pytest.approx(me["sigma"], rel=1e-3)


def test_plots_draw_curves_and_the_wsd_scan():
    import matplotlib
    matplotlib.use("Agg")
    from scaling.curve_plots import plot_curves, plot_wsd_scan
    rng = np.random.default_rng(3)
    truth = {"L0": 2.5, "A": 0.6, "alpha": 0.45, "C": 0.5}
    descs = {"a": "cosine:peak=0.001,warmup=200,floor=0.0001,total_steps=6000",
             "b": "wsd:peak=0.001,warmup=200,decay_fraction=0.3,total_steps=8000"}
    lrs = {k: sc.schedule_array(v) for k, v in descs.items()}
    runs = _synthetic(tissue.LAW, truth, lrs, 5e-4, rng)
    fit = scaling.fit("tissue", runs[runs["run"] == "a"], schedules=descs)
    fig = plot_curves(fit, runs, schedules=descs)
    ax, ax_lr = fig.axes[:2]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["a (fitted)", "b (predicted)", "observed loss", "law, fitted run", "law, predicted run"]
    assert len(ax_lr.lines) == 2
    late = runs[runs["step"] >= 0.25 * runs.groupby("run")["step"].transform("max")]["loss"]
    lo, hi = ax.get_ylim()              # the y-range follows the runs after their early descent
    assert lo < late.min() and late.max() < hi < runs["loss"].max()
    scan = scaling.plan(fit, steps=5000, decay_fractions=[0.1, 0.5, 1.0])
    assert scan["weakly_identified"] == fit.weakly_identified()
    assert all(r["interval"][0] <= r["loss"] <= r["interval"][1] for r in scan["ranking"])
    fig = plot_wsd_scan(scan)
    assert len(fig.axes[0].lines) >= 4


def test_a_schedule_without_its_length_takes_the_last_row_and_says_so():
    """A cosine's shape depends on its length: a run logged part way would silently get a compressed one."""
    rows = pd.DataFrame({"run": "cos", "step": [1000, 2500]})
    with pytest.warns(UserWarning, match=r"no total_steps, so its length is taken from its last row \(step 2500\)"):
        lr = sc.learning_rates(rows, {"cos": "cosine:peak=3e-4,warmup=200,floor=3e-5"})["cos"]
    assert len(lr) == 2500 and lr[-1] == pytest.approx(3e-5, rel=1e-2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # a constant rate is the same at any length; a given length is used
        sc.learning_rates(rows, {"cos": "constant:peak=3e-4,warmup=200"})
        sc.learning_rates(rows, {"cos": "cosine:peak=3e-4,warmup=200,floor=3e-5,total_steps=5000"})


def test_the_trainers_rows_give_their_exact_schedule():
    """The ladder trainer logs each run's schedule and length beside a sparse lr: that is read, not the
    interpolated lr (which the trainer logs as the rate of the update before the row)."""
    desc = "cosine:peak=0.006,warmup=0.05,floor=0.0006"
    lr = sc.schedule_array(desc, 774)
    steps = np.arange(104, 775, 96)
    rows = pd.DataFrame({"run": "r", "step": steps, "lr": lr[steps - 1], "schedule": desc, "steps_total": 774,
                         "loss": 3.0 - 0.1 * np.log(steps)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no sparse-log warning: nothing is interpolated
        got = sc.learning_rates(rows)["r"]
    np.testing.assert_array_equal(got, lr)
    other = rows.assign(schedule="cosine")             # another export's column of that name: the lr column serves
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(sc.learning_rates(other)["r"]) >= int(steps.max())


# -- stress-audit findings (2026-11-29) ----------------------------------------------------------------------
TISSUE_TRUTH = {"L0": 2.0, "A": 0.5, "alpha": 0.5, "C": 0.3}


def _tissue_rows(lrs, every=100, p=TISSUE_TRUTH):
    rows = pd.concat([pd.DataFrame({"run": r, "step": np.arange(every, len(lr) + 1, every)}) for r, lr in lrs.items()],
                     ignore_index=True)
    X = tissue.prepare(rows, lrs)
    return rows.assign(loss=p["L0"] + p["A"] * X["S1"] ** -p["alpha"] - p["C"] * X["S2"])


def test_tissue_fits_rates_given_as_multiples_of_the_peak():
    """The start grid follows the data's areas: a schedule logged as multiples of its peak (peak 1, S2 in the
    hundreds) had no start with a positive loss."""
    lrs = {r: lr_array(d, 20000) for r, d in {"cos": "cosine:peak=1,warmup=0,floor=0.1",
                                             "const": "constant:peak=1,warmup=0",
                                             "step": "multistep:peak=1,warmup=0,milestones=0.5,gamma=0.3"}.items()}
    truth = {"L0": 2.0, "A": 50.0, "alpha": 0.5, "C": 3e-4}      # TISSUE_TRUTH's curves at a peak of 1e-3
    fit = scaling.fit("tissue", _tissue_rows(lrs, p=truth), schedules=lrs, progress=False)
    for k, v in truth.items():
        assert fit.params[k] == pytest.approx(v, rel=1e-6), k


def test_a_sparse_log_without_warmup_holds_its_first_rate():
    """A log every k steps from step k of a run without warmup: the rate before it is held, not ramped from 0;
    a log that starts later than one interval (kept from the end of warmup) still gets the warmup ramp."""
    lr = lr_array("cosine:peak=1e-3,warmup=0,floor=1e-4", 2000)
    log = pd.DataFrame({"run": "a", "step": np.arange(100, 2000, 100), "lr": lr[100:2000:100]})
    with pytest.warns(UserWarning, match="linear interpolation"):
        got = sc.learning_rates(log)["a"]
    np.testing.assert_allclose(got[:100], lr[100])
    late = log[log["step"] >= 500]
    with pytest.warns(UserWarning, match="linear interpolation"):
        ramp = sc.learning_rates(late)["a"]
    np.testing.assert_allclose(ramp[:500], lr[500] * np.arange(1, 501) / 501)


def test_rows_without_a_loss_give_their_learning_rate():
    """A W&B export: lr at every step, the loss every 100th. The fit reads the rates of every row and fits the rows
    with a loss (it refused the table, and dropping the empty rows left a sparse log 2-11 % off)."""
    lrs = {"cos": lr_array("cosine:peak=1e-3,warmup=0,floor=1e-4", 4000),
           "step": lr_array("multistep:peak=1e-3,warmup=0,milestones=0.5,gamma=0.3", 4000),
           "const": lr_array("constant:peak=1e-3,warmup=0", 4000)}
    measured = _tissue_rows(lrs)
    every = pd.concat([pd.DataFrame({"run": r, "step": np.arange(len(lr)), "lr": lr}) for r, lr in lrs.items()])
    table = every.merge(measured, on=["run", "step"], how="outer")
    table["lr"] = table.groupby("run")["lr"].ffill()
    with pytest.warns(UserWarning, match="without a loss are read for their learning rate only"):
        fit = scaling.fit("tissue", table, progress=False)
    for k, v in TISSUE_TRUTH.items():
        assert fit.params[k] == pytest.approx(v, rel=1e-6), k
    with pytest.raises(InputError, match="no loss and no learning rate"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scaling.fit("tissue", table.assign(lr=np.where(table["step"] == 7, np.nan, table["lr"])))


def test_a_logged_rate_that_contradicts_the_schedules_given_is_named():
    lr = lr_array(WSD, 1000)
    table = _curve_rows(lr, np.array([100, 200, 400, 600, 900]))
    with pytest.warns(UserWarning, match="the table's lr column gives .* schedules= is used"):
        sc.learning_rates(table, {"a": 10 * lr})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sc.learning_rates(table, {"a": np.r_[lr[1:], lr[-1]]})      # logged one update apart: agrees


def test_the_default_wsd_scan_is_refined_around_its_best_fraction():
    fit = scaling.FitResult(law=tissue.LAW, params=TISSUE_TRUTH, se={}, ci={})
    out = scaling.plan(fit, steps=8000, peak=1e-3, warmup=0, families=["wsd"])
    scan = out["wsd"]["scan"][out["wsd"]["decay_shape"]]
    f = out["wsd"]["decay_fraction"]
    fine = [x for x in scan["decay_fractions"] if abs(x - f) < 0.05]
    assert len(fine) >= 5 and scan["decay_fractions"] == sorted(scan["decay_fractions"])
    dense = scaling.plan(fit, steps=8000, peak=1e-3, warmup=0, families=["wsd"],
                         decay_fractions=np.round(np.arange(0.005, 1.0, 0.005), 3))
    assert dense["wsd"]["decay_shape"] == out["wsd"]["decay_shape"]
    assert abs(dense["wsd"]["decay_fraction"] - f) <= 0.01
    assert out["wsd"]["loss"] == pytest.approx(dense["wsd"]["loss"], abs=2e-5)
