"""The shipped mixture ladder (data/mixture_ladder.parquet) and the mixture laws on it.

Target: the uniform-weighted mean of the three domains' validation losses (code, prose, comments).
Its optimum is interior: every single-domain model is far worse on the other two domains.
These tests measure the figures of the README's mixture section.
"""
from pathlib import Path

import numpy as np
import pytest

import scaling
from ladders.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = ["code", "prose", "comments"]
MIX = [f"mix.{d}" for d in DOMAINS]
TARGET = {d: 1 / 3 for d in DOMAINS}
WIDTHS = (48, 64)


@pytest.fixture(scope="module")
def runs():
    return scaling.mixture_ladder()


def final(runs, **where):
    rows = runs[runs.step == runs.steps_total]
    for column, value in where.items():
        rows = rows[rows[column].isin(value if isinstance(value, (list, tuple)) else [value])]
    return rows


def target_loss(rows):
    """One row per run (its ``code`` row) with the target loss ``avg`` added."""
    out = rows[rows.dataset == "code"].copy()
    wide = rows.pivot_table(index="run", columns="dataset", values="loss")
    out["avg"] = wide[DOMAINS].mean(axis=1).loc[out.run].to_numpy()
    return out.reset_index(drop=True)


def test_design_matches_the_shipped_specs(runs):
    spec = load_spec(ROOT / "data" / "mixture_ladder.toml")
    assert len(spec.mixtures) == 41 and len(spec.runs()) == 82
    ladder = final(runs, role=["fit", "held-out"])
    assert set(ladder.run) == {r.run for r in spec.runs()}
    counts = ladder.groupby(["role", "width"]).run.nunique().to_dict()
    assert counts == {("fit", 48): 30, ("fit", 64): 30, ("held-out", 48): 11, ("held-out", 64): 11}
    optimum = load_spec(ROOT / "data" / "mixture_ladder_optimum.toml")
    assert set(final(runs, role=["optimum", "repeat"]).run) < {r.run for r in optimum.runs()}
    # every evaluation logs the mixture and every domain's validation loss
    assert (runs.groupby(["run", "step"]).dataset.apply(frozenset) ==
            frozenset(DOMAINS + ["train", "validation"])).all()
    np.testing.assert_allclose(runs[MIX].sum(axis=1), 1.0, atol=1e-12)
    assert (runs.status == "done").all() and not runs.duplicated(["run", "step", "dataset"]).any()


def test_domains_have_distinct_statistics(runs):
    """A model trained mostly on one domain is best on that domain and far worse on the others."""
    rows = final(runs, role=["fit", "held-out"], width=64)
    wide = rows.pivot_table(index=MIX, columns="dataset", values="loss").reset_index()
    for d in DOMAINS:
        heavy = wide[wide[f"mix.{d}"] > 0.6]
        light = wide[wide[f"mix.{d}"] < 0.05]
        assert len(heavy) and len(light)
        assert heavy[d].mean() < light[d].mean() * 0.93, d


def test_additive_law_predicts_held_out_mixtures_within_1_percent(runs, record_property):
    """Fit on 30 mixtures of each size, predict the other 11 (10 Dirichlet draws and the uniform mixture)."""
    errors = {}
    for width in WIDTHS:
        fit = scaling.fit("mixture-additive", final(runs, role="fit", width=width), target=TARGET)
        held = target_loss(final(runs, role="held-out", width=width))
        rel = np.abs(np.asarray(fit.predict(held)["loss_pred"], float) / held.avg - 1)
        linear = scaling.fit("mixture-linear", final(runs, role="fit", width=width), target=TARGET)
        rel_linear = np.abs(np.asarray(linear.predict(held)["loss_pred"], float) / held.avg - 1)
        record_property(f"w{width}_held_out_mean_rel_error_pct", round(float(rel.mean()) * 100, 3))
        record_property(f"w{width}_held_out_max_rel_error_pct", round(float(rel.max()) * 100, 3))
        record_property(f"w{width}_linear_held_out_mean_rel_error_pct", round(float(rel_linear.mean()) * 100, 3))
        assert rel.mean() < 0.0125 and rel.mean() < 0.6 * rel_linear.mean(), width
        errors[width] = rel
    pooled = np.concatenate(list(errors.values())).mean()
    record_property("held_out_mean_rel_error_pct", round(float(pooled) * 100, 3))
    assert pooled < 0.01


@pytest.mark.parametrize("width", WIDTHS)
def test_trained_optimum_is_the_plan_of_the_ladder(runs, width, record_property):
    """The optimum runs are plan() of an additive fit to all 41 ladder mixtures, rounded to 1e-4.

    The target is flat near its optimum (the bootstrap interval of each weight is about +-0.05), so a
    later engine may move the planned weights by more than their rounding: the tolerance is 0.01.
    """
    ladder = final(runs, role=["fit", "held-out"], width=width)
    fit = scaling.fit("mixture-additive", ladder, target=TARGET)
    plan = scaling.plan(fit, params=float(ladder.params.iloc[0]), tokens=float(ladder.tokens.iloc[0]))
    assert not plan["at_vertex"] and not plan["at_edge"] and plan["binding"] == []
    optimum = target_loss(final(runs, role="optimum", width=width))
    assert sorted(optimum.seed) == [0, 1, 2]
    np.testing.assert_allclose(optimum[MIX].iloc[0], [plan["mixture"][d] for d in DOMAINS], atol=0.01)

    # measured: the optimum, the uniform mixture and the best ladder mixture, each at seeds 0, 1, 2
    pool = target_loss(final(runs, width=width))
    ladder_rows = pool[pool.role.isin(["fit", "held-out"])]
    best = ladder_rows.loc[ladder_rows.avg.idxmin(), MIX].to_numpy(float)
    same = lambda h: np.abs(pool[MIX].to_numpy(float) - h).max(axis=1) < 1e-9
    measured = {"optimum": pool[same(optimum[MIX].iloc[0].to_numpy(float))],
                "uniform": pool[same(np.full(3, 1 / 3))], "best_trained": pool[same(best)]}
    for name, rows in measured.items():
        assert sorted(rows.seed) == [0, 1, 2], name
        record_property(f"{name}_mean", round(float(rows.avg.mean()), 4))
        record_property(f"{name}_std", round(float(rows.avg.std()), 4))
    record_property("optimum_predicted", round(float(plan["loss"]), 4))
    record_property("uniform_predicted", round(float(plan["loss_uniform"]), 4))
    # the law predicts the trained optimum's mean loss (over 3 seeds) within 0.5 %
    assert abs(plan["loss"] / measured["optimum"].avg.mean() - 1) < 0.005


def test_a_multi_step_table_is_fitted_at_each_runs_final_row(runs):
    """The ladder logs 4 evaluation steps per run: by default only each run's final row is fitted."""
    rows = runs[(runs.role == "fit") & (runs.width == 48)]
    assert rows.groupby("run").step.nunique().min() == 4
    fit = scaling.fit("mixture-additive", rows, target=TARGET)
    final_only = scaling.fit("mixture-additive", final(runs, role="fit", width=48), target=TARGET)
    assert fit.n_points == final_only.n_points == 30
    np.testing.assert_allclose(list(fit.params.values()), list(final_only.params.values()), rtol=1e-9)
    notes = fit.diagnostics["observations"]
    assert notes["rows"] == "final" and notes["scale_terms"] == []
    assert "each run's final row (highest step) fitted" in notes["note"] and "30 run(s)" in notes["note"]
    assert "each run's final row" in fit.summary()
    # rows="all": every evaluation, so the tokens vary and the D term is kept
    every = scaling.fit("mixture-additive", rows, target=TARGET, rows="all")
    assert every.n_points == 120 and every.diagnostics["observations"]["scale_terms"] == ["tokens"]
    assert "rows='all'" in every.diagnostics["observations"]["note"]
    with pytest.raises(scaling.InputError, match="4 distinct tokens"):
        scaling.fit("mixture-ye", rows, target="code", rows="all")
    with pytest.raises(scaling.InputError, match="rows='last'; choose 'final'"):
        scaling.fit("mixture-ye", rows, target="code", rows="last")
    by_tokens = scaling.fit("mixture-ye", rows[rows.dataset == "code"].drop(columns=["step"]))
    assert by_tokens.n_points == 30 and "highest tokens" in by_tokens.diagnostics["observations"]["note"]
