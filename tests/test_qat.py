"""The QAT law (Dremov et al. 2025): synthetic recovery from data-drawn starts, the closed form of the
optimal fraction, grid optima, bad input."""
import numpy as np
import pandas as pd
import pytest

import scaling
from fitters import qat
from fitters.predict import predict_many
from scaling.errors import InputError

CHINCHILLA = dict(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)   # Besiroglu et al. 2024
# penalties of our own choosing (at N0 = 1e8, b0 = 4, S0 = 100): f* rises with S, from about 0.15 at
# S = 30 to 0.4 at S = 1e4, and 1-bit QAT costs 0.1-0.5 nats, 6-bit a few thousandths
PENALTY = dict(theta0=0.0125, kappa=1.0, phi0=0.008, chi=0.9, psi=0.15, omega=0.4,
               lambda0=0.03, mu=0.9, nu=0.12, xi=0.8, rho=0.1)
TRUE = {**qat.chinchilla_reference(CHINCHILLA), **PENALTY}
SIZES = (86e6, 160e6, 300e6, 550e6, 760e6)
RATIOS = (20, 40, 80, 160, 320, 640, 1280)          # D/N
BITS = (1, 2, 4, 6)
FRACTIONS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def true_loss(table: pd.DataFrame, params=TRUE) -> np.ndarray:
    return predict_many(qat.LAW, qat.LAW.theta_from_dict(params), qat.prepare(table))[0]


def synthetic_runs(sizes=SIZES, seed=0, noise=0.005, ratios=RATIOS, bits=BITS, fractions=FRACTIONS, fp=True):
    """One FP run and one QAT run per (bits, fraction) for every (N, D/N); loss + N(0, noise^2)."""
    rows = []
    for n in sizes:
        for r in ratios:
            if fp:
                rows.append((f"fp-{n:.0e}-{r}", n, r * n, 16, 0.0))
            rows += [(f"q-{n:.0e}-{r}-{b}-{f}", n, r * n, b, f) for b in bits for f in fractions]
    t = pd.DataFrame(rows, columns=["run", "params", "tokens", "bits", "qat_fraction"])
    t["loss_true"] = true_loss(t)
    t["loss"] = t["loss_true"] + np.random.default_rng(seed).normal(0, noise, len(t))
    return t


def optimal_fraction(params, n, d, b):
    f = np.linspace(0.002, 0.998, 999)
    t = pd.DataFrame({"params": n, "tokens": d, "bits": b, "qat_fraction": f})
    return f[np.argmin(true_loss(t, params))]


@pytest.fixture(scope="module")
def train():
    return synthetic_runs()


@pytest.fixture(scope="module")
def fit(train):
    return scaling.fit("qat", train.drop(columns="loss_true"))


def test_synthetic_recovery(fit, record_property):
    """Acceptance: from data-drawn (truth-blind) starts, the held-out 2.2B model's losses within
    0.0075 (mean absolute error), f* within 0.06 over a grid of (N, b, S), E, alpha, beta within 5 %."""
    held = synthetic_runs(sizes=(2.2e9,), seed=1)
    pred = fit.predict(held)
    mae = float(np.mean(np.abs(pred["loss_pred"] - held["loss"])))
    mae_true = float(np.mean(np.abs(pred["loss_pred"] - held["loss_true"])))
    errors = [abs(optimal_fraction(fit.params, n, S * n * b / 8, b) - optimal_fraction(TRUE, n, S * n * b / 8, b))
              for n in (86e6, 300e6, 760e6, 2.2e9) for b in (1, 2, 4, 6) for S in (50, 200, 1000, 5000)]
    rel = {k: fit.params[k] / TRUE[k] - 1 for k in ("E", "alpha", "beta")}
    record_property("heldout_mae", mae)
    record_property("heldout_mae_vs_noise_free", mae_true)
    record_property("f_opt_error_max", max(errors))
    record_property("relative_error", rel)
    print(f"\nheld-out 2.2B MAE {mae:.4f} (vs noise-free {mae_true:.4f}); f* error mean {np.mean(errors):.3f} max "
          f"{max(errors):.3f}; " + ", ".join(f"{k} {100 * v:+.2f}%" for k, v in rel.items())
          + f"; {fit.n_starts} starts, condition number {fit.diagnostics['condition_number']:.3g}")
    assert mae <= 0.0075
    assert max(errors) <= 0.06
    assert all(abs(v) <= 0.05 for v in rel.values()), rel
    # the raw-form coefficients are derived with intervals covering the truth's
    raw = qat.derived(TRUE)
    for k in ("A", "B", "theta", "phi", "lambda"):
        lo, hi = fit.derived_ci[k]
        assert lo * 0.8 <= raw[k] <= hi * 1.25, (k, raw[k], fit.derived_ci[k])


def test_fp_rows_evaluate_the_chinchilla_part_only(fit):
    fp = pd.DataFrame({"params": [1e8, 1e9], "tokens": [2e9, 2e10], "bits": [16, 16], "qat_fraction": [0.0, 0.0]})
    p = fit.params
    chin = p["E"] + p["A0"] * (fp["params"] / 1e8) ** -p["alpha"] + p["B0"] * (fp["tokens"] / 1e10) ** -p["beta"]
    np.testing.assert_allclose(fit.predict(fp)["loss_pred"], chin, rtol=1e-12)
    quantized = fp.assign(bits=4, qat_fraction=0.3)
    assert np.all(fit.predict(quantized)["loss_pred"] > chin)


def test_given_chinchilla_part_is_held_fixed(train):
    """QAT rows alone with chinchilla= (a published law or a mapping): the Chinchilla part is held."""
    rows = train[train["qat_fraction"] > 0].drop(columns="loss_true")
    with pytest.raises(InputError, match="FP rows"):
        scaling.fit("qat", rows)
    fit = scaling.fit("qat", rows, chinchilla=scaling.published("besiroglu2024"), n_starts=32,
                      bootstrap=8, bootstrap_starts="warm")
    assert fit.params["E"] == CHINCHILLA["E"] and fit.se["E"] is None and fit.ci["alpha"] is None
    plan = scaling.plan(fit, params=3e8, tokens=6e10, bits=4)      # intervals from the bootstrap samples
    assert plan["uncertainty"] == "bootstrap" and plan["qat_fraction_interval"][0] <= plan["qat_fraction"]
    assert fit.derived["A"] == pytest.approx(CHINCHILLA["A"], rel=1e-12)
    for n, b, S in ((3e8, 2, 300), (7e8, 4, 2000)):
        d = S * n * b / 8
        assert abs(optimal_fraction(fit.params, n, d, b) - optimal_fraction(TRUE, n, d, b)) < 0.06


def test_chinchilla_tokens_and_the_limit_at_f_1():
    """chinchilla_tokens='fp': the Chinchilla part sees D_fp; at f = 1 the interaction term is its limit."""
    n, d, f = np.array([1e8, 1e8]), np.array([1e10, 1e10]), np.array([0.25, 1.0])
    total, fp = qat.design(n, d, 4, f), qat.design(n[:1], d[:1], 4, f[:1], chinchilla_tokens="fp")
    np.testing.assert_allclose(total["log_tokens_c"], 0.0, atol=1e-15)
    assert fp["log_tokens_c"][0] == pytest.approx(np.log(0.75))
    t = pd.DataFrame({"params": n, "tokens": d, "bits": 4, "qat_fraction": f})
    assert np.isinf(true_loss(t)[1])                                   # xi = 0.8 > 0: diverges
    assert np.isfinite(true_loss(t, {**TRUE, "xi": -0.3})).all()       # xi < 0: the term vanishes
    with pytest.raises(ValueError, match="no FP tokens"):
        qat.prepare(t, chinchilla_tokens="fp")
    X = qat.design(1e8, 1e10, 4, [0.5, 1.0], chinchilla_tokens="fp")     # the planner's search reaches f = 1
    loss = predict_many(qat.LAW, qat.LAW.theta_from_dict({**TRUE, "xi": -0.3}), X)[0]
    assert np.isfinite(loss[0]) and np.isinf(loss[1])


@pytest.mark.parametrize("column, value, word", [("bits", 0.5, "bits"), ("bits", 17, "bits"),
                                                 ("qat_fraction", 1.2, "qat_fraction"),
                                                 ("qat_fraction", -0.1, "qat_fraction")])
def test_bad_input_names_the_column(train, column, value, word):
    rows = train.drop(columns="loss_true").astype({"bits": float})
    rows.loc[40, column] = value
    with pytest.raises(InputError, match=word):
        scaling.fit("qat", rows)


def test_fp_rows_may_log_fp32_as_their_bits(train):
    """An FP row's bits are not used: an fp32 baseline's 32 fits the same as 16 (it was refused)."""
    rows = train.drop(columns="loss_true").astype({"bits": float})
    fp = rows["qat_fraction"] == 0
    a = scaling.fit("qat", rows, n_starts=64)
    b = scaling.fit("qat", rows.assign(bits=np.where(fp, 32.0, rows["bits"])), n_starts=64)
    assert b.objective == pytest.approx(a.objective, rel=1e-9)
    with pytest.raises(InputError, match="bits"):
        scaling.fit("qat", rows.assign(bits=np.where(fp, 128.0, rows["bits"])), n_starts=64)


def test_too_few_fp_runs_or_several_rows_per_run(train):
    rows = train.drop(columns="loss_true")
    one_size = rows[(rows["qat_fraction"] > 0) | (rows["params"] == SIZES[0])]
    with pytest.raises(InputError, match="two distinct params"):
        scaling.fit("qat", one_size)
    with pytest.raises(InputError, match="several rows"):
        scaling.fit("qat", pd.concat([rows, rows.iloc[:1].assign(tokens=1e9)]))
    two_sizes = rows[(rows["qat_fraction"] > 0) | rows["params"].isin(SIZES[1:3])]
    with pytest.warns(UserWarning, match="FP rows .* have 2 model sizes"):      # every start begins from their fit
        qat.LAW.observe(two_sizes)


# -- closed form ----------------------------------------------------------------------------

def test_published_closed_form_values():
    pub = scaling.published("dremov2025")
    assert pub.params["a"] == 6.7297 and "2509.22935" in pub.source
    S = np.array([1e2, 1e3, 1e4, 1e5])
    np.testing.assert_allclose(qat.closed_form(S, 6.7297), [0.232, 0.377, 0.482, 0.557], atol=1e-3)
    rows = pd.DataFrame({"params": 1e8, "tokens": S * 1e8 * 4 / 8, "bits": 4})
    np.testing.assert_allclose(pub.predict(rows)["qat_fraction_pred"], qat.closed_form(S, 6.7297), rtol=1e-12)
    with pytest.raises(InputError, match="S > 1"):
        pub.predict(pd.DataFrame({"params": [1e9], "tokens": [1e8], "bits": [4]}))


def test_fit_closed_form_recovers_a():
    rng = np.random.default_rng(0)
    S = np.geomspace(30, 3e4, 40)
    f = qat.closed_form(S, 5.0) * np.exp(rng.normal(0, 0.03, S.size))
    out = qat.fit_closed_form(S, f)
    assert out["interval"][0] < 5.0 < out["interval"][1] and out["se"] < 0.1
    fitted = scaling.fit("qat-closed-form", pd.DataFrame({"params": 1e8, "tokens": S * 1e8 / 2, "bits": 4,
                                                          "qat_fraction": f}))
    assert fitted.params["a"] == pytest.approx(out["a"], rel=1e-7)      # the same least squares
    with pytest.raises(ValueError, match="S > 1"):
        qat.fit_closed_form([0.5, 10], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        qat.fit_closed_form([50, 10], [0.0, 0.2])


def test_grid_optima_average_seeds_and_flag_edges():
    rows = synthetic_runs(sizes=(1e8,), ratios=(20, 1280), bits=(2,), noise=0.0)
    rows = pd.concat([rows, rows.assign(loss=rows["loss"] + 0.01, run=rows["run"] + "-seed1")])
    opt = qat.grid_optima(rows)
    assert len(opt) == 2 and list(opt["n_fractions"]) == [len(FRACTIONS)] * 2
    for _, r in opt.iterrows():
        want = optimal_fraction(TRUE, r["params"], r["tokens"], r["bits"])
        assert abs(r["qat_fraction"] - want) <= 0.1       # the grid's spacing
    assert opt["tokens_per_byte"].tolist() == [80.0, 5120.0]
    assert opt.sort_values("tokens_per_byte")["qat_fraction"].is_monotonic_increasing


def test_summary_reports_what_the_data_do_not_identify(fit):
    """The acceptance data pin every parameter; one bit width leaves the bit exponents unidentified."""
    assert fit.weakly_identified() == []
    assert "weakly identified" in fit.summary() and "condition number" in fit.summary()
    one_width = synthetic_runs(sizes=SIZES[::2], ratios=RATIOS[::2], bits=(4,)).drop(columns="loss_true")
    with pytest.warns(UserWarning, match="poorly identified"):
        weak = scaling.fit("qat", one_width, n_starts=16)
    assert {"kappa", "chi", "mu"} <= set(weak.weakly_identified())
    assert "kappa" in weak.summary().splitlines()[-1]


# -- planners -------------------------------------------------------------------------------

def test_plan_fraction_matches_the_law(fit):
    n, b, S = 4e8, 2, 600.0
    d = S * n * b / 8
    out = scaling.plan(fit, params=n, tokens=d, bits=b)
    assert out["tokens_per_byte"] == pytest.approx(S)
    assert abs(out["qat_fraction"] - optimal_fraction(TRUE, n, d, b)) < 0.02
    lo, hi = out["qat_fraction_interval"]
    assert lo <= out["qat_fraction"] <= hi and hi - lo < 0.1
    assert out["qat_fraction_closed_form"] == pytest.approx(float(qat.closed_form(S, 6.7297)))
    t = pd.DataFrame({"params": n, "tokens": d, "bits": b, "qat_fraction": [out["qat_fraction"] - 0.02,
                                                                            out["qat_fraction"], out["qat_fraction"] + 0.02]})
    losses = fit.predict(t)["loss_pred"].to_numpy()
    assert losses[1] == pytest.approx(out["loss"], rel=1e-12) and losses[1] < min(losses[0], losses[2])
    # the FP model of fp_params on the same tokens has the QAT model's loss, and is smaller
    fp = pd.DataFrame({"params": [out["fp_params"]], "tokens": [d], "bits": [16], "qat_fraction": [0.0]})
    assert fit.predict(fp)["loss_pred"].iloc[0] == pytest.approx(out["loss"], rel=1e-9)
    assert 0 < out["fp_params_ratio"] < 1


def test_memory_matched_models_share_S(fit):
    """N = 8 M / b on the same D tokens: one S = D / M for every bit width, so one closed-form fraction."""
    memory, d = 2e8, 4e11
    plans = [scaling.plan(fit, params=8 * memory / b, tokens=d, bits=b) for b in (1, 2, 4, 6, 8)]
    closed = [scaling.plan(scaling.published("dremov2025"), params=8 * memory / b, tokens=d, bits=b) for b in (1, 2, 4, 8)]
    assert {round(p["tokens_per_byte"], 9) for p in plans + closed} == {d / memory}
    assert len({round(p["qat_fraction_closed_form"], 12) for p in plans + closed}) == 1
    assert closed[0]["loss"] is None and closed[0]["qat_fraction"] == closed[0]["qat_fraction_closed_form"]


def test_plan_memory_and_flops(fit):
    memory, flops = 5e7, 3e19
    out = scaling.plan(fit, memory=memory, flops=flops, bits=[2, 4, 6])
    rows = {r["bits"]: r for r in out["by_bits"]}
    assert out["bits"] == min(rows, key=lambda b: rows[b]["loss"])
    assert sum(out["bits_probability"].values()) == pytest.approx(1.0)
    for b, r in rows.items():
        assert r["params"] * b / 8 <= memory * (1 + 1e-9)
        assert 6 * r["params"] * r["tokens"] == pytest.approx(flops)
        # brute force over (N, f) for the point estimate
        n = np.geomspace(1e6, 8 * memory / b, 300)
        f = np.linspace(0.01, 0.99, 99)
        N, F = (a.ravel() for a in np.meshgrid(n, f))
        L = fit.point_loss(qat.design(N, flops / (6 * N), b, F))
        assert r["loss"] <= L.min() + 1e-6
    with pytest.raises(InputError, match="memory"):
        scaling.plan(fit, memory=100.0, flops=1e20)
    with pytest.raises(InputError, match="params=N, tokens=D"):
        scaling.plan(fit, params=1e8, tokens=1e10)
    with pytest.raises(InputError, match="bits"):
        scaling.plan(fit, params=1e8, tokens=1e10, bits=0)


def test_closed_form_plans_no_bit_width():
    pub = scaling.published("dremov2025")
    with pytest.raises(InputError, match="no loss"):
        scaling.plan(pub, memory=1e9, flops=1e21)
    with pytest.raises(InputError, match="S > 1"):
        scaling.plan(pub, params=1e9, tokens=1e8, bits=4)


# -- command line ---------------------------------------------------------------------------

def _cli(capsys, *argv):
    from scaling.cli import main
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_fit_and_plan(capsys, fit, train, tmp_path):
    import json
    rows = train[(train["qat_fraction"] > 0) & train["params"].isin(SIZES[::2]) & train["tokens"].isin(
        [r * n for r in RATIOS[::2] for n in SIZES])].drop(columns="loss_true")
    rows.to_csv(tmp_path / "qat.csv", index=False)
    code, out, err = _cli(capsys, "fit", "qat", tmp_path / "qat.csv", "--chinchilla", "besiroglu2024", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["law"] == "qat" and d["params"]["E"] == CHINCHILLA["E"] and d["options"]["fixed"]["alpha"] == CHINCHILLA["alpha"]

    fit.to_json(tmp_path / "fit.json")
    code, out, err = _cli(capsys, "plan", tmp_path / "fit.json", "--qat", "--params", 3e8, "--tokens", 6e10, "--bits", 4, "--json")
    assert code == 0, err
    d = json.loads(out)
    want = scaling.plan(fit, params=3e8, tokens=6e10, bits=4)
    for k in ("qat_fraction", "loss", "qat_fraction_closed_form", "fp_params", "tokens_per_byte"):
        assert d[k] == pytest.approx(want[k], rel=1e-9)
    assert d["interval"] == pytest.approx(want["interval"], rel=1e-9)
    code, out, err = _cli(capsys, "predict", tmp_path / "fit.json", "--params", 3e8, "--tokens", 6e10)
    assert code == 2 and "give --bits B and --qat-fraction F" in err
    code, out, err = _cli(capsys, "plan", tmp_path / "fit.json", "--qat", "--memory", 5e7, "--flops", 3e19, "--bits", "2,4")
    assert code == 0, err
    assert "2 bits" in out and "4 bits" in out and "best:" in out
    code, out, err = _cli(capsys, "plan", "--published", "dremov2025", "--qat", "--params", 1e8, "--tokens", 1e11,
                          "--bits", 8, "--json")
    assert code == 0 and json.loads(out)["qat_fraction"] == pytest.approx(0.377, abs=1e-3) and json.loads(out)["loss"] is None


@pytest.mark.parametrize("argv, word", [
    (("plan", "--published", "dremov2025", "--qat", "--params", 1e9, "--tokens", 1e8, "--bits", 4), "S > 1"),
    (("plan", "--published", "dremov2025", "--qat", "--memory", 1e9, "--flops", 1e21), "no loss"),
    (("plan", "--published", "dremov2025", "--qat", "--params", 1e9, "--tokens", 1e11, "--bits", 20), "bits"),
    (("plan", "--published", "besiroglu2024", "--qat", "--params", 1e9, "--tokens", 1e11, "--bits", 4), "qat law"),
    (("plan", "--published", "dremov2025", "--bits", 4, "--flops", 1e21), "--qat"),
])
def test_cli_bad_input_exits_2(capsys, argv, word):
    code, out, err = _cli(capsys, *argv)
    assert code == 2 and word in err and out == ""


def test_cli_fit_bad_rows_exit_2(capsys, train, tmp_path):
    bad = train.drop(columns="loss_true").astype({"bits": float})
    bad.loc[3, "bits"] = 20
    bad.to_csv(tmp_path / "bad.csv", index=False)
    code, out, err = _cli(capsys, "fit", "qat", tmp_path / "bad.csv", "--json")
    assert code == 2 and "bits" in err and "row 3" in err
    train[train["qat_fraction"] > 0].to_csv(tmp_path / "nofp.csv", index=False)
    code, out, err = _cli(capsys, "fit", "qat", tmp_path / "nofp.csv")
    assert code == 2 and "FP rows" in err


# -- figures --------------------------------------------------------------------------------

def test_figures(fit, train):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scaling import qat_plots
    n, d = SIZES[2], SIZES[2] * 160
    fig = qat_plots.plot_qat_fraction(fit, n, d, bits=(1, 4))
    ax = fig.axes[0]
    stars = [l for l in ax.lines if l.get_marker() == "*" and len(l.get_xdata())]
    assert len(stars) == 2
    assert stars[1].get_xdata()[0] == pytest.approx(scaling.plan(fit, params=n, tokens=d, bits=4)["qat_fraction"], abs=1e-9)
    dots = [l for l in ax.lines if l.get_marker() == "o"]
    assert sum(len(l.get_xdata()) for l in dots) == 2 * len(FRACTIONS)       # the fit's own rows at this (N, D)
    assert not any("not fitted" in t for t in ax.get_legend_handles_labels()[1])
    plt.close(fig)
    fig = qat_plots.plot_qat_fraction(fit, n, d, bits=(3,))                  # 3-bit is not among the fitted widths
    assert any(t.startswith("3-bit") and "not fitted" in t for t in fig.axes[0].get_legend_handles_labels()[1])
    plt.close(fig)
    fig = qat_plots.plot_qat_fraction(fit, n, d)          # default: the bit widths the fit saw
    ax = fig.axes[0]
    assert [t.split("-bit")[0] for t in ax.get_legend_handles_labels()[1] if "-bit (S" in t] == [f"{b:g}" for b in BITS]
    seen = np.concatenate([l.get_ydata() for l in ax.lines if l.get_marker() == "o"])
    lo, hi = ax.get_ylim()                                # the range follows curves and data, not the bands
    assert lo < seen.min() and seen.max() < hi and hi - lo < 2 * (seen.max() - seen.min()) + 0.5
    plt.close(fig)
    opt = qat.grid_optima(train)
    fig = qat_plots.plot_optimal_fraction(opt, fit=fit, a=qat.fit_closed_form(opt["tokens_per_byte"], opt["qat_fraction"])["a"])
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert any("6.7297" in t for t in labels) and any("fitted" in t for t in labels)
    assert sum("grid optima" in t for t in labels) == len(BITS) and sum("qat fit" in t for t in labels) == len(BITS)
    plt.close(fig)
    with pytest.raises(InputError, match="qat law"):
        qat_plots.plot_qat_fraction(scaling.published("dremov2025"), n, d)
