"""Two-step task prediction of model ladders (Bhagia et al. 2024): the sigmoid step, the chained
fit('task') with intervals from both steps, its JSON, and coverage on synthetic ladders."""
import numpy as np
import pandas as pd
import pytest

import scaling
from scaling.chain import ChainedFit, step2_rows

TASK_LOSS = {"E": 0.9, "A": 250.0, "B": 900.0, "alpha": 0.33, "beta": 0.33}
SIGMOID = {"a": 0.55, "b": 0.25, "k": -4.0, "L0": 1.6}
TARGET = {"params": [7e9], "tokens": [1.4e12]}


def task_loss(N, D):
    p = TASK_LOSS
    return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]


def accuracy(L, p=SIGMOID):
    return p["a"] / (1 + np.exp(-p["k"] * (L - p["L0"]))) + p["b"]


def ladder(seed, noise_loss=0.01, noise_acc=0.01, checkpoints=40):
    """5 sizes x 3 token multipliers, each run logging task loss and accuracy at 40 checkpoints.

    (With sparse checkpoints the moving average of step 2 mixes distant points of the sigmoid and
    biases it: at 12 checkpoints per run the fitted k is about -3.5 against the true -4.)
    """
    rng = np.random.default_rng(seed)
    rows = []
    for N in np.geomspace(2e7, 1e9, 5):
        for mult in (10, 20, 40):
            for step, D in enumerate(np.linspace(0.05, 1, checkpoints) * mult * N):
                L = task_loss(N, D) * np.exp(noise_loss * rng.standard_normal())
                acc = np.clip(accuracy(L) + noise_acc * rng.standard_normal(), 0, 1)
                rows.append(dict(run=f"{N:.0f}x{mult}", step=step, params=N, tokens=D, dataset="hellaswag",
                                 loss=L, accuracy=acc))
    return pd.DataFrame(rows)


def test_task_fit_recovers_the_sigmoid_on_a_dense_ladder():
    f = scaling.fit("task", ladder(3), task="hellaswag")
    for k, v in SIGMOID.items():
        lo, hi = f.stages[1].ci[k]
        assert lo <= v <= hi or f.stages[1].params[k] == pytest.approx(v, rel=0.03), (k, f.stages[1].params, f.stages[1].ci)


def test_sigmoid_recovers_its_parameters():
    L = np.linspace(0.8, 3.0, 40)
    f = scaling.fit("sigmoid", pd.DataFrame({"loss": L, "accuracy": accuracy(L)}))
    assert f.options["space"] == "linear"
    for k, v in SIGMOID.items():
        assert f.params[k] == pytest.approx(v, rel=1e-3, abs=1e-4), (k, f.params)
    pred = f.predict({"loss": [1.6]})
    assert pred["accuracy_pred"][0] == pytest.approx(0.25 + 0.55 / 2, rel=1e-4)


def test_task_fit_chains_both_steps_and_round_trips(tmp_path):
    runs = ladder(0)
    f = scaling.fit("task", runs, task="hellaswag")
    assert isinstance(f, ChainedFit) and [s.law.name for s in f.stages] == ["chinchilla", "sigmoid"]
    assert f.options["step1_points"] == 15            # each run's final checkpoint
    assert f.options["step2_points"] == 15 * 37       # checkpoints from 10 % of the run on
    pred = f.predict(pd.DataFrame(TARGET))
    for stem in ("loss", "accuracy"):
        assert pred[f"{stem}_lo"][0] < pred[f"{stem}_pred"][0] < pred[f"{stem}_hi"][0]
    assert pred["accuracy_pred"][0] == pytest.approx(accuracy(task_loss(7e9, 1.4e12)), abs=0.05)
    path = tmp_path / "task.json"
    f.to_json(path)
    again = scaling.load_fit(path)
    assert isinstance(again, ChainedFit) and again.labels == f.labels
    pd.testing.assert_frame_equal(again.predict(pd.DataFrame(TARGET)), pred)
    assert "step 2 (hellaswag accuracy)" in f.summary() and "sigmoid law" in f.summary()
    assert set(f.params) >= {"hellaswag loss.E", "hellaswag accuracy.L0"}


def test_step2_points_skip_the_first_tenth_and_are_smoothed():
    runs = ladder(1)
    rows = step2_rows(runs, skip=0.1, window=5)
    one = runs[runs.run == runs.run.iloc[0]].sort_values("tokens")
    mine = rows[rows.run == one.run.iloc[0]]
    assert len(mine) == 37 and mine["tokens"].min() >= 0.1 * one["tokens"].max()
    assert mine["loss"].iloc[-1] == pytest.approx(one["loss"].iloc[-5:].mean())
    assert len(step2_rows(runs, checkpoints="final")) == 15


def test_chained_intervals_cover_the_truth_on_synthetic_ladders():
    """95 % intervals of the chained accuracy prediction at a 7B / 1.4T-token target (far beyond the
    ladder: largest run 1B / 40B tokens) contain the noise-free truth in most of 20 replicate ladders."""
    truth_loss = task_loss(7e9, 1.4e12)
    truth = accuracy(truth_loss)
    hits, hits_loss = [], []
    for seed in range(20):
        pred = scaling.fit("task", ladder(100 + seed), task="hellaswag", seed=seed).predict(TARGET)
        hits.append(pred["accuracy_lo"][0] <= truth <= pred["accuracy_hi"][0])
        hits_loss.append(pred["loss_lo"][0] <= truth_loss <= pred["loss_hi"][0])
    assert 0.8 <= np.mean(hits) <= 1.0 and 0.8 <= np.mean(hits_loss) <= 1.0, (np.mean(hits), np.mean(hits_loss))


def test_bad_task_input():
    runs = ladder(2)
    with pytest.raises(scaling.InputError, match="task=NAME"):
        scaling.fit("task", runs)
    with pytest.raises(scaling.InputError, match="dataset 'mmlu' not in the table"):
        scaling.fit("task", runs, task="mmlu")
    bad = runs.copy()
    bad.loc[7, "accuracy"] = 47.0
    with pytest.raises(scaling.InputError, match="column 'accuracy', row 7 \\(run '20000000x10', step 7\\): value 47.0 is not an accuracy in \\[0, 1\\]"):
        scaling.fit("task", bad, task="hellaswag")
    with pytest.raises(scaling.InputError, match="missing column\\(s\\) \\['accuracy'\\]"):
        scaling.fit("task", runs.drop(columns="accuracy"), task="hellaswag")
    with pytest.raises(scaling.InputError, match="unknown option"):
        scaling.fit("task", runs, task="hellaswag", smoothing=3)


def test_accuracy_stays_an_accuracy_when_the_data_miss_the_sigmoids_top():
    """A fit to checkpoints near chance can leave the ceiling a + b far above 1 (an audit's chain predicted 2.2, with
    an interval up to 5): the law's accuracy is held in [0, 1] - also for a coefficient drawn to overflow - and such
    a fit is warned about."""
    from fitters import sigmoid
    theta = sigmoid.LAW.theta_from_dict({"a": 1.8e3, "b": 0.25, "k": -3.8, "L0": -1.0})
    acc = np.exp(np.asarray(sigmoid.LAW.log_predict(theta, {"loss": np.array([6.0, 2.0, 1.0, 0.5])})))
    assert np.all((acc >= 0) & (acc <= 1)) and acc[-1] == 1.0
    huge = np.array([np.inf, 0.25, -3.8, -1.0])                     # log a overflowed: still 1, not NaN
    assert np.exp(float(sigmoid.LAW.log_predict(huge, {"loss": np.array([30.0])})[0])) == 1.0
    assert any("ceiling a + b = 1.8e+03 is above 1" in w for w in sigmoid.diagnose({"a": 1.8e3, "b": 0.25}))
    assert sigmoid.diagnose({"a": 0.5, "b": 0.25}) == []


def test_a_chain_of_mismatched_datasets_is_refused_when_the_table_held_one():
    """A scaling law fitted to a table already filtered to one dataset records it, so chaining it into a loss-to-loss
    law of another source dataset is refused as when dataset= is passed (it predicted silently)."""
    from conftest import chinchilla_grid_runs
    runs = chinchilla_grid_runs({"E": 1.8, "A": 500.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37}, 0.003, seed=0)
    pile = scaling.fit("chinchilla", runs.assign(dataset="pile_val"))
    assert pile.options["dataset"] == "pile_val"
    rows = pd.concat([runs.assign(run=[f"r{i}" for i in range(len(runs))], dataset=d, loss=runs["loss"] * f)
                      for d, f in (("web_train", 1.0), ("c4", 1.1))], ignore_index=True)
    l2l = scaling.fit("loss2loss", rows, x="web_train", y="c4", shifts={"E_x": 1.0, "E_y": 1.1})
    with pytest.raises(scaling.InputError, match="pile_val"):
        scaling.chain(pile, l2l)
