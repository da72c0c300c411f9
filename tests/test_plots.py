"""scaling.plots draws what the fit says: data, per-N curves, residuals, isoFLOP optima, extrapolation."""
import dataclasses

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import scaling  # noqa: E402
from fitters import chinchilla  # noqa: E402
from scaling import plots  # noqa: E402
from scaling.plan import compute_optimal  # noqa: E402

TRUE = dict(E=1.8, A=480.0, B=2000.0, alpha=0.35, beta=0.37)
N_VALUES = np.array([1e7, 3e7, 1e8, 3e8])
D_VALUES = np.array([1e9, 3e9, 1e10])


def synthetic_runs(seed=0, n_values=N_VALUES, d_values=D_VALUES):
    n, d = (a.ravel() for a in np.meshgrid(n_values, d_values))
    loss = TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"]
    loss = loss * np.exp(np.random.default_rng(seed).normal(0, 0.005, loss.size))
    return pd.DataFrame({"params": n, "tokens": d, "loss": loss})


@pytest.fixture(scope="module")
def fit():
    return scaling.fit("chinchilla", synthetic_runs(), starts=chinchilla.LAW.grid()[::50], bootstrap=20, seed=0)


@pytest.fixture(scope="module")
def published():
    return scaling.published("besiroglu2024")


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def by_gid(artists, gid):
    return [a for a in artists if a.get_gid() == gid]


def test_plot_fit_draws_runs_and_one_curve_per_params(fit):
    fig = plots.plot_fit(fit)
    ax = fig.axes[0]
    assert isinstance(fig, matplotlib.figure.Figure)
    assert ax.get_xscale() == "log"
    curves = by_gid(ax.lines, "law")
    assert len(curves) == len(N_VALUES)
    (points,) = by_gid(ax.collections, "runs")
    np.testing.assert_allclose(points.get_offsets()[:, 1], fit.data["loss"])
    # each curve is the law at its N, across the data's token range
    for line, n in zip(curves, N_VALUES):
        d, y = line.get_data()
        assert d.min() < D_VALUES.min() and d.max() > D_VALUES.max()
        np.testing.assert_allclose(y, fit.point_loss({"params": np.full(d.size, n), "tokens": d}), rtol=1e-12)
    assert len(fig.axes) == 2                      # the colorbar in N
    assert "parameters N" in fig.axes[1].get_ylabel()
    assert "chinchilla" in ax.get_title() and fit.law.formula in ax.get_title()


def test_plot_fit_into_given_axes_and_representative_curves(fit):
    fig0, ax = plt.subplots()
    runs = synthetic_runs(n_values=np.logspace(7, 9, 25))
    fig = plots.plot_fit(fit, runs=runs, ax=ax, max_curves=6)
    assert fig is fig0
    assert len(by_gid(ax.lines, "law")) == 6
    assert len(by_gid(ax.collections, "runs")[0].get_offsets()) == len(runs)


def test_plot_fit_of_published_law_needs_runs(published, fit):
    with pytest.raises(scaling.InputError, match="runs="):
        plots.plot_fit(published)
    ax = plots.plot_fit(published, runs=fit.data).axes[0]
    d, y = by_gid(ax.lines, "law")[0].get_data()
    expected = published.predict({"params": np.full(d.size, N_VALUES[0]), "tokens": d})["loss_pred"]
    np.testing.assert_allclose(y, expected, rtol=1e-12)


def test_plot_residuals_with_huber_band(fit):
    ax = plots.plot_residuals(fit).axes[0]
    (points,) = by_gid(ax.collections, "residuals")
    np.testing.assert_allclose(points.get_offsets()[:, 1], fit.residuals)
    flops = 6 * fit.data["params"] * fit.data["tokens"]
    np.testing.assert_allclose(points.get_offsets()[:, 0], flops)
    assert ax.get_xscale() == "log"
    assert by_gid(ax.lines, "zero")[0].get_ydata()[0] == 0
    (band,) = by_gid(ax.patches, "huber")
    if hasattr(band, "get_height"):                # a Rectangle (matplotlib >= 3.9)
        y = np.array([band.get_y(), band.get_y() + band.get_height()])
    else:
        y = np.asarray(band.get_xy())[:, 1]
    assert np.isclose(y.min(), -fit.options["delta"]) and np.isclose(y.max(), fit.options["delta"])
    assert "log" in ax.get_ylabel()


def test_plot_residuals_squared_linear_and_against_prediction(fit):
    squared = dataclasses.replace(fit, options={**fit.options, "loss": "squared", "space": "linear"})
    ax = plots.plot_residuals(squared, x="predicted").axes[0]
    assert not by_gid(ax.patches, "huber")
    assert "log" not in ax.get_ylabel() and ax.get_xscale() == "linear"
    x = by_gid(ax.collections, "residuals")[0].get_offsets()[:, 0]
    np.testing.assert_allclose(x, fit.point_loss({k: fit.data[k].to_numpy() for k in ("params", "tokens")}))


def test_plot_residuals_of_published_law_is_an_error(published):
    with pytest.raises(scaling.InputError, match="no residuals"):
        plots.plot_residuals(published)


def test_isoflops_marks_plans_optimum_with_its_interval(fit):
    budgets = [1e17, 1e18, 1e19]
    ax = plots.plot_isoflops(fit, flops=budgets).axes[0]
    assert ax.get_xscale() == "log"
    assert len(by_gid(ax.lines, "isoflop")) == 3
    optima = by_gid(ax.lines, "optimum")
    assert len(optima) == 3
    for line, c in zip(optima, budgets):
        plan = scaling.plan(fit, flops=c)
        assert line.get_xdata()[0] == pytest.approx(plan["params"], rel=1e-12)
        assert line.get_ydata()[0] == pytest.approx(plan["loss"], rel=1e-12)
    bars = [b for b in ax.containers if getattr(b, "has_xerr", False)]
    assert len(bars) == 3
    segment = bars[-1].lines[2][0].get_segments()[0]
    lo, hi = scaling.plan(fit, flops=budgets[-1])["params_interval"]
    assert sorted(segment[:, 0]) == pytest.approx([lo, hi], rel=1e-9)
    frontier = by_gid(ax.lines, "frontier")[0]
    np.testing.assert_allclose(frontier.get_xdata(), [o.get_xdata()[0] for o in optima])
    # each isoFLOP curve lies on C = 6ND: its minimum is at the marked optimum
    for curve, opt in zip(by_gid(ax.lines, "isoflop"), optima):
        n, y = curve.get_data()
        assert y.min() >= opt.get_ydata()[0] - 1e-9
        assert abs(np.log(n[np.argmin(y)] / opt.get_xdata()[0])) < 0.05


def test_isoflops_default_budgets_and_runs_near_them(fit):
    ax = plots.plot_isoflops(fit).axes[0]
    c = 6 * fit.data["params"] * fit.data["tokens"]
    curves = by_gid(ax.lines, "isoflop")
    assert len(curves) == 5
    assert curves[0].get_label() == f"C = {c.min():.2g} FLOPs" and curves[-1].get_label() == f"C = {c.max():.2g} FLOPs"
    near = sum(len(s.get_offsets()) for s in by_gid(ax.collections, "runs"))
    assert 2 <= near < len(c)            # the smallest and largest runs at least; not every run


def test_isoflops_of_published_law_has_no_error_bars(published):
    ax = plots.plot_isoflops(published, flops=[1e20, 1e22]).axes[0]
    assert len(by_gid(ax.lines, "optimum")) == 2
    assert not any(getattr(b, "has_xerr", False) for b in ax.containers)
    assert by_gid(ax.lines, "optimum")[1].get_xdata()[0] == pytest.approx(compute_optimal(published, 1e22)["params"])


def test_extrapolation_band_frontier_and_held_out(fit):
    held = pd.DataFrame({"params": [1e9, 2e9], "tokens": [2e10, 4e10], "loss": [2.4, 2.3]})
    ax = plots.plot_extrapolation(fit, flops=(1e17, 1e21), held_out=held).axes[0]
    assert ax.get_xscale() == "log"
    (frontier,) = by_gid(ax.lines, "frontier")              # solid over the fitted compute, dashed beyond
    (beyond,) = by_gid(ax.lines, "extrapolated")
    c_fit = (6 * fit.data["params"] * fit.data["tokens"]).max()
    assert frontier.get_xdata()[-1] <= c_fit < beyond.get_xdata()[1] and frontier.get_xdata()[-1] == beyond.get_xdata()[0]
    c, y = np.r_[frontier.get_xdata(), beyond.get_xdata()[1:]], np.r_[frontier.get_ydata(), beyond.get_ydata()[1:]]
    assert len(c) == 30 and c[0] == pytest.approx(1e17) and c[-1] == pytest.approx(1e21)
    assert y[-1] == pytest.approx(compute_optimal(fit, 1e21)["loss"], rel=1e-12)
    (band,) = by_gid(ax.collections, "interval")
    lo, hi = compute_optimal(fit, 1e21)["loss_interval"]
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() <= lo + 1e-9 and ys.max() >= hi - 1e-9
    assert len(by_gid(ax.collections, "runs")[0].get_offsets()) == fit.n_points
    (observed,) = by_gid(ax.collections, "held_out")
    np.testing.assert_allclose(observed.get_offsets()[:, 1], held["loss"])
    np.testing.assert_allclose(observed.get_offsets()[:, 0], 6 * held["params"] * held["tokens"])
    (pred,) = by_gid(ax.lines, "prediction")
    np.testing.assert_allclose(pred.get_ydata(), fit.predict(held)["loss_pred"], rtol=1e-12)
    assert any(getattr(b, "has_yerr", False) for b in ax.containers)


def test_extrapolation_of_published_law_has_no_band(published):
    with pytest.raises(scaling.InputError, match="flops="):
        plots.plot_extrapolation(published)
    ax = plots.plot_extrapolation(published, flops=(1e18, 1e24), n=12).axes[0]
    assert len(by_gid(ax.lines, "frontier")[0].get_xdata()) == 12
    assert not by_gid(ax.collections, "interval")


def test_save_report_figures_writes_pngs(fit, published, tmp_path):
    held = pd.DataFrame({"params": [1e9], "tokens": [2e10], "loss": [2.4]})
    paths = plots.save_report_figures(fit, tmp_path / "report", held_out=held)
    assert set(paths) == {"fit", "residuals", "isoflops", "extrapolation"}
    for name, path in paths.items():
        assert path.name == f"{name}.png"
        head = path.read_bytes()[:8]
        assert head == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    assert plt.get_fignums() == []                 # drawn without pyplot
    paths = plots.save_report_figures(published, tmp_path / "pub", runs=fit.data)
    assert set(paths) == {"fit", "isoflops", "extrapolation"}   # a published law has no residuals


def test_approach2_figures_mark_each_vertex():
    import pandas as pd
    import scaling
    from scaling.plots import plot_isoflop_profiles, plot_optimal_scaling
    truth = {"E": 1.8, "A": 500.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37}
    rows = []
    for c in np.geomspace(1e18, 1e21, 4):
        for n in np.geomspace(1e7, 1e10, 9):
            d = c / (6 * n)
            rows.append({"params": n, "tokens": d, "loss": truth["E"] + truth["A"] / n ** 0.35 + truth["B"] / d ** 0.37})
    runs = pd.DataFrame(rows)
    result = scaling.approach2(runs)
    fig = plot_isoflop_profiles(result, runs)
    ax = fig.axes[0]
    crosses = [l for l in ax.lines if l.get_marker() == "x"]
    assert len(crosses) == 4
    np.testing.assert_allclose(sorted(l.get_xdata()[0] for l in crosses), np.sort(result.table["params_opt"]))
    assert ax.get_xscale() == "log"
    fig = plot_optimal_scaling(result)
    assert fig.axes[0].get_yscale() == "log" and "C^" in fig.axes[0].get_legend().get_texts()[0].get_text()


def test_the_figure_of_a_fit_by_law_family_and_the_plot_command(fit, tmp_path, capsys):
    """``scaling.plot`` picks the family's figure; ``scaling plot FIT.json`` writes it from the fit file's data."""
    import json

    from scaling.cli import main
    from scaling.figure import kinds
    assert kinds(fit) == ("fit", "residuals", "isoflops", "extrapolation")
    for kind in kinds(fit):
        fig = scaling.plot(fit, kind=kind)
        assert fig.axes and fig.axes[0].has_data()
    path = tmp_path / "fit.json"
    fit.to_json(path)
    png = tmp_path / "fig.png"
    assert main(["plot", str(path), "--out", str(png), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"figure": str(png), "kind": "fit"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a whole-curve fit draws its curves over the learning rates
    descs = {"a": "cosine:peak=1e-3,warmup=100,total_steps=3000", "b": "constant:peak=1e-3,warmup=100,total_steps=3000"}
    lrs = {r: scaling.curves.schedule_array(d) for r, d in descs.items()}
    steps = np.arange(200, 3001, 100)
    rows = pd.concat([pd.DataFrame({"run": r, "step": steps}) for r in lrs], ignore_index=True)
    from fitters import tissue
    X = tissue.prepare(rows, lrs)
    curves_fit = scaling.fit("tissue", rows.assign(loss=2.5 + 0.6 * X["S1"] ** -0.45 - 0.5 * X["S2"]), schedules=descs)
    fig = scaling.plot(curves_fit)                                            # the schedules the fit stored
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 2          # the learning rates beneath
    # kinds the law has not, and laws with no default figure, are named errors (exit 2 on the command line)
    assert main(["plot", str(path), "--out", str(png), "--kind", "curves"]) == 2
    assert "not one of a 'chinchilla' fit's: fit, residuals" in capsys.readouterr().err
    with pytest.raises(scaling.InputError, match="no default figure for a .qat-closed-form. fit"):
        scaling.plot(dataclasses.replace(fit, law=dataclasses.replace(fit.law, name="qat-closed-form", response="qat_fraction")))
    with pytest.raises(scaling.InputError, match="draws the rows the fit was made from"):
        scaling.plot(fit, runs=synthetic_runs(1), kind="residuals")
    assert scaling.plot(fit, runs=synthetic_runs(1)).axes[0].has_data()


def test_loss_curves_mark_each_runs_final_point_and_name_the_highlighted_run():
    rows = pd.concat([pd.DataFrame({"run": f"r{i}", "step": [1, 2, 3], "params": n, "tokens": [1e8, 2e8, 4e8],
                                    "dataset": "validation", "loss": [4.0 - i / 10, 3.5 - i / 10, 3.2 - i / 10]})
                      for i, n in enumerate([1e7, 3e7, 1e8])], ignore_index=True)
    ax = plots.plot_loss_curves(rows, highlight={"r2": "held-out run"}).axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert "final point of each run" in labels and "held-out run (N=1e+08)" in labels
    finals = [l for l in ax.lines if l.get_markersize() == 6 and len(l.get_xdata()) == 1]
    assert sorted(l.get_ydata()[0] for l in finals) == pytest.approx([3.1, 3.2])     # the two plain runs' ends


def test_figure_modules_are_reachable_from_the_package():
    import importlib
    assert scaling.plots is plots and scaling.qat_plots is importlib.import_module("scaling.qat_plots")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        scaling.nope
