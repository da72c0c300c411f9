"""Gadre et al. 2024 Eq. 5, Err = eps - k exp(-gamma L): reproduction of the paper's top-1 error
predictions from the raw JSONs, recovery, chaining and task rows in the runs table."""
import glob
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scaling
from conftest import shared_file
from fitters import error

# the paper's 17-task subset (scaling/constants.py SUBSET of github.com/mlfoundations/scaling)
SUBSET = ["bigbench_operators", "pubmed_qa_labeled", "hellaswag_zeroshot", "boolq", "arc_easy", "coqa",
          "bigbench_dyck_languages", "lambada_openai", "bigbench_novel_concepts", "winograd",
          "bigbench_cs_algorithms", "commonsense_qa", "bigbench_qa_wikidata", "hellaswag", "copa", "squad", "piqa"]
SMALL = ["d=96_l=8_h=4", "d=512_l=8_h=4", "d=576_l=24_h=8", "d=1024_l=24_h=8"]
LOSS_RUNS = [f"rpj-{m}-1.0" for m in SMALL] + ["rpj-d=96_l=8_h=4-16.0"]      # 4 sizes at M=20 + d=96 at M=320
TARGETS = ["rpj-open_lm_1b-32.0", "rpj-open_lm_7b-1.0"]                        # 1.4B at M=640, 6.9B at M=20


def gadre_runs(root: Path, train: str = "rpj") -> pd.DataFrame:
    """Long runs table from the raw JSONs: a 'c4_val' loss row and one accuracy row per task per model."""
    rows = []
    for path in sorted(glob.glob(str(root / "models" / f"{train}-*.json"))):
        d = json.loads(Path(path).read_text())
        h, name = d["hyperparameters"], d["name"]
        base = dict(run=name, params=h["params"], tokens=h["tokens"])
        loss = {r["val_data"][0].split("/")[-2]: r["loss"] for r in d["results"]}
        rows.append({**base, "dataset": "c4_val", "loss": loss["c4_val"]})
        icl = json.loads((root / "evals" / f"evaluation_{name}_heavy.json").read_text())["eval_metrics"]["icl"]
        rows += [{**base, "dataset": t, "accuracy": icl[t]} for t in SUBSET]
    return scaling.read_runs(pd.DataFrame(rows))


@pytest.fixture(scope="module")
def runs():
    return gadre_runs(shared_file("gadre2024", "raw", "exp_data"))


def relative_errors(runs, error_runs):
    """The paper's protocol: Eq. 4 by least squares on 5 runs, Eq. 5 on ``error_runs``, chained."""
    loss_fit = scaling.fit("overtrain", runs[runs.run.isin(LOSS_RUNS)], dataset="c4_val", loss="squared", space="linear")
    err_fit = scaling.fit("error", runs[runs.run.isin(error_runs)], x="c4_val", task=SUBSET)
    targets = runs[runs.run.isin(TARGETS) & (runs.dataset == "c4_val")].set_index("run").loc[TARGETS].reset_index()
    pred = scaling.chain(loss_fit, err_fit).predict(targets)
    actual = 1 - runs[runs.run.isin(TARGETS) & runs.dataset.isin(SUBSET)].groupby("run")["accuracy"].mean().loc[TARGETS]
    assert (pred["error_lo"] <= pred["error_pred"]).all() and (pred["error_pred"] <= pred["error_hi"]).all()
    return err_fit, 100 * np.abs(pred["error_pred"].to_numpy() / actual.to_numpy() - 1)


def test_gadre_top1_error_predictions_match_the_paper(runs):
    """Paper (Sec. 3, Table 1): 0.05 % at 6.9B and 3.64 % at 1.4B with the 1.4B M=20 run in the error fit;
    10.64 % at 6.9B without it.  Fitted eps 0.857, k 2.206, gamma 0.715."""
    err_fit, (at_1b, at_7b) = relative_errors(runs, LOSS_RUNS + ["rpj-open_lm_1b-1.0"])
    assert err_fit.n_points == 6
    assert err_fit.params["eps"] == pytest.approx(0.857, abs=0.001)
    assert err_fit.params["k"] == pytest.approx(2.206, abs=0.002)
    assert err_fit.params["gamma"] == pytest.approx(0.715, abs=0.001)
    assert at_7b == pytest.approx(0.05, abs=0.05) and at_1b == pytest.approx(3.64, abs=0.1)
    _, (_, at_7b_without) = relative_errors(runs, LOSS_RUNS)
    assert at_7b_without == pytest.approx(10.64, abs=0.2)


def test_error_law_recovers_synthetic_parameters_and_names_bad_tasks():
    truth = {"eps": 0.85, "k": 2.5, "gamma": 0.7}
    loss = np.linspace(2.3, 5.5, 12)
    err = truth["eps"] - truth["k"] * np.exp(-truth["gamma"] * loss)
    rows = [dict(run=f"r{i}", params=1e8 * (i + 1), tokens=2e9, dataset="val", loss=l) for i, l in enumerate(loss)]
    rows += [dict(run=f"r{i}", params=1e8 * (i + 1), tokens=2e9, dataset="avg", accuracy=1 - e) for i, e in enumerate(err)]
    table = pd.DataFrame(rows)
    f = scaling.fit("error", table, x="val", task="avg")
    assert f.options["loss"] == "squared" and f.options["space"] == "linear"     # the law's defaults
    for k, v in truth.items():
        assert f.params[k] == pytest.approx(v, rel=1e-3)
    pred = f.predict({"loss": [3.0]})
    assert pred["error_pred"][0] == pytest.approx(truth["eps"] - truth["k"] * np.exp(-2.1), rel=1e-4)
    zero = np.log(f.params["k"] / f.params["eps"]) / f.params["gamma"]     # ~1.56: the law's error reaches 0 there
    with pytest.raises(scaling.InputError, match=r"row 1: loss 1.2 is not above 1.5\d* = ln\(k/eps\)/gamma"):
        f.predict({"loss": [3.0, 1.2]})
    assert zero == pytest.approx(np.log(2.5 / 0.85) / 0.7, rel=1e-3)
    with pytest.raises(scaling.InputError, match="dataset 'mmlu' not in the table"):
        scaling.fit("error", table, x="val", task=["avg", "mmlu"])
    with pytest.raises(scaling.InputError, match="task=NAME"):
        scaling.fit("error", table, x="val")
    bad = table.copy()
    bad.loc[13, "accuracy"] = 1.2
    with pytest.raises(scaling.InputError, match="column 'accuracy', row 13"):
        scaling.fit("error", bad, x="val", task="avg")
    nan_loss = table.copy()
    nan_loss.loc[3, "loss"] = np.nan          # a loss row without a loss (no accuracy either): still an error
    with pytest.raises(scaling.InputError, match="column 'loss', row 3"):
        scaling.read_runs(nan_loss)


def test_chain_checks_that_the_steps_connect(runs):
    loss_fit = scaling.fit("overtrain", runs[runs.run.isin(LOSS_RUNS)], dataset="c4_val", loss="squared", space="linear")
    other = runs.replace({"dataset": {"c4_val": "paloma"}})
    err_fit = scaling.fit("error", other[other.run.isin(LOSS_RUNS + ["rpj-open_lm_1b-1.0"])], x="paloma", task=SUBSET)
    with pytest.raises(scaling.InputError, match="predicts the loss on 'c4_val' but step 2 .* losses on 'paloma'"):
        scaling.chain(loss_fit, err_fit)
    with pytest.raises(scaling.InputError, match="reads \\['params', 'tokens'\\]"):
        scaling.chain(err_fit, loss_fit)
    with pytest.raises(scaling.InputError, match="column 'loss', row 0: no value to fit"):
        scaling.fit("overtrain", runs[runs.run.isin(LOSS_RUNS)], dataset="hellaswag")


def test_formula():
    theta = error.LAW.theta_from_dict({"eps": 0.9, "k": 2.0, "gamma": 0.5})
    loss = np.array([2.0, 3.0])
    np.testing.assert_allclose(np.exp(error.log_predict(theta, {"loss": loss})), 0.9 - 2.0 * np.exp(-0.5 * loss), rtol=1e-5)
