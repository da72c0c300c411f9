"""Planners: the numeric compute optimum matches Chinchilla's closed form; Sardana sizing is consistent."""
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

import scaling
from conftest import chinchilla_grid_runs
from fitters import chinchilla


def closed_form(p, C):
    """Hoffmann et al. 2022 Eq. 4: N_opt = G (C/6)^a."""
    d = chinchilla.derived(p)
    n = d["G"] * (C / 6) ** d["a"]
    return n, C / (6 * n)


@pytest.mark.parametrize("name", ["besiroglu2024", "hoffmann2022", "hoffmann2022_unrounded"])
@pytest.mark.parametrize("flops", [1e19, 1e23, 1e26])
def test_compute_optimal_matches_the_closed_form(name, flops):
    fit = scaling.published(name)
    out = scaling.plan(fit, flops=flops)
    n, d = closed_form(fit.params, flops)
    assert out["params"] == pytest.approx(n, rel=1e-6) and out["tokens"] == pytest.approx(d, rel=1e-6)
    p = fit.params
    assert out["loss"] == pytest.approx(p["E"] + p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"], rel=1e-9)
    assert out["tokens_per_param"] == pytest.approx(d / n, rel=1e-6)
    assert out["params_interval"] is None and out["uncertainty"] == "none"


def test_besiroglu_plan_at_1e23():
    out = scaling.plan(scaling.published("besiroglu2024"), flops=1e23)
    assert out["params"] == pytest.approx(2.945e10, rel=2e-3)
    assert out["tokens"] == pytest.approx(5.660e11, rel=2e-3)
    assert out["loss"] == pytest.approx(2.0321, abs=1e-4)


def test_kaplan_optimum_is_a_true_minimum():
    fit = scaling.published("kaplan2020")
    C = 1e22
    out = scaling.plan(fit, flops=C)
    loss = lambda u: fit.point_loss({"params": np.array([np.exp(u)]), "tokens": np.array([C / 6 / np.exp(u)])})[0]
    ref = minimize_scalar(loss, bounds=(np.log(1e6), np.log(1e13)), method="bounded", options={"xatol": 1e-9})
    assert out["params"] == pytest.approx(np.exp(ref.x), rel=1e-4)


@pytest.fixture(scope="module")
def boot_fit():
    truth = {"E": 1.8, "A": 500.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37}
    runs = chinchilla_grid_runs(truth, 0.01, seed=3)
    return scaling.fit("chinchilla", runs, starts=chinchilla.LAW.grid()[::15], bootstrap=100, seed=0, progress=False)


def test_plan_intervals_come_from_the_bootstrap(boot_fit):
    out = scaling.plan(boot_fit, flops=1e22)
    for k in ("params", "tokens", "loss", "tokens_per_param"):
        lo, hi = out[f"{k}_interval"]
        assert lo < out[k] < hi
    assert out["interval"] == out["loss_interval"]
    per_sample = [closed_form(dict(zip(boot_fit.law.names, s)), 1e22)[0] for s in boot_fit.samples]
    np.testing.assert_allclose(out["params_interval"], np.percentile(per_sample, [2.5, 97.5]), rtol=1e-4)


def test_inference_aware_sizing(boot_fit):
    target = 2.3
    train_only = scaling.plan(boot_fit, loss=target, inference_tokens=0)
    heavy = scaling.plan(boot_fit, loss=target, inference_tokens=1e13)
    for out in (train_only, heavy):
        reached = boot_fit.point_loss({"params": np.array([out["params"]]), "tokens": np.array([out["tokens"]])})[0]
        assert reached == pytest.approx(target, rel=1e-6)
        assert out["flops_total"] == pytest.approx(out["flops_train"] + out["flops_inference"])
    # training-only: the cheapest way to the loss is the compute-optimal model of that budget
    co = scaling.plan(boot_fit, flops=train_only["flops_train"])
    assert co["params"] == pytest.approx(train_only["params"], rel=1e-3)
    # serving many tokens: a smaller model trained longer (Sardana et al. 2024, Fig. 1)
    assert heavy["params"] < train_only["params"] and heavy["tokens"] > train_only["tokens"]
    assert heavy["training_only"]["params"] == pytest.approx(train_only["params"], rel=1e-6)
    assert heavy["flops_total"] < heavy["training_only"]["flops_total"]
    lo, hi = heavy["params_interval"]
    assert lo < heavy["params"] < hi


def test_plan_errors_are_clear(boot_fit):
    with pytest.raises(scaling.InputError, match="not above"):
        scaling.plan(boot_fit, loss=1.0, inference_tokens=1e12)
    with pytest.raises(scaling.InputError, match="either flops"):
        scaling.plan(boot_fit)
    with pytest.raises(scaling.InputError, match="positive"):
        scaling.plan(boot_fit, flops=-1)
    with pytest.raises(scaling.InputError, match="unknown published law"):
        scaling.published("chinchilla2099")


def test_plan_names_the_loosely_identified_parameters_behind_its_intervals(boot_fit):
    """A plan carries the fit's weakly identified parameters (wide intervals say why) and its text says so."""
    from scaling.plan import weak_note
    truth = {"E": 1.8, "A": 500.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37}
    noisy = scaling.fit("chinchilla", chinchilla_grid_runs(truth, 0.05, seed=1, n_sizes=3, n_tokens=3),
                        starts=chinchilla.LAW.grid()[::15], bootstrap=50, seed=0, progress=False)
    out = scaling.plan(noisy, flops=1e22)
    assert out["weakly_identified"] == noisy.weakly_identified() != []
    assert all(name in weak_note(out)[0] for name in out["weakly_identified"])
    assert scaling.plan(boot_fit, flops=1e22)["weakly_identified"] == boot_fit.weakly_identified()


def test_a_data_hungry_law_plans_millions_of_tokens_per_parameter():
    """A small data exponent puts the optimum far from Chinchilla's 20 tokens per parameter: the search reaches it
    (brute force over N at fixed C = 6ND) instead of refusing at a narrow edge."""
    import dataclasses
    law = dict(E=1.92, A=845.0, B=2105.0, alpha=0.365, beta=0.208)
    fit = dataclasses.replace(scaling.published("besiroglu2024"), params=law)
    plan = scaling.plan(fit, flops=1e22)
    N = np.geomspace(1e3, 1e12, 400001)
    L = law["E"] + law["A"] / N ** law["alpha"] + law["B"] / (1e22 / (6 * N)) ** law["beta"]
    assert plan["params"] == pytest.approx(N[np.argmin(L)], rel=1e-3) and plan["tokens_per_param"] > 1e6


def test_compute_optimal_searches_every_split_of_the_budget():
    """A data-hungry law (optimum at 2e11 tokens per parameter, beyond any fixed search range) is planned at its
    closed-form optimum; the search spans N = 1 to C / 6."""
    p = {"E": 1.7, "A": 1e5, "B": 2500.0, "alpha": 0.6, "beta": 0.1}
    fit = scaling.FitResult(law=chinchilla.LAW, params=p, se={}, ci={})
    out = scaling.plan(fit, flops=1e26)
    n_opt = closed_form(p, 1e26)[0]
    assert out["params"] == pytest.approx(n_opt, rel=1e-4) and out["tokens_per_param"] > 1e10
