"""`scaling fit/predict/plan` for mixture laws: targets, the --mixture planner, exit code 2 on bad input."""
import json

import pandas as pd
import pytest

from scaling.cli import main
from test_mixture_laws import synthetic


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """Runs of a known additive law (two datasets) and a bootstrap fit of the weighted target, saved."""
    d = tmp_path_factory.mktemp("mix")
    a = synthetic("mixture-additive", 100, 1e-3, 11)
    runs = pd.concat([a, a.assign(dataset="other", loss=a.loss * 1.1)], ignore_index=True)
    runs.to_csv(d / "runs.csv", index=False)
    code = main(["fit", "mixture-additive", str(d / "runs.csv"), "--target", "val=0.5", "--target", "other=0.5",
                 "--bootstrap", "20", "--out", str(d / "fit.json"), "--json"])
    assert code == 0
    return d


def test_fit_predict_and_plan_from_the_file(capsys, fitted):
    d = json.loads((fitted / "fit.json").read_text())
    assert d["law"] == "mixture-additive" and d["options"]["law_options"]["target"] == {"val": 0.5, "other": 0.5}
    code, out, err = run(capsys, "predict", fitted / "fit.json", "--data", fitted / "runs.csv", "--json")
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert len(rows) == 200 and all(r["loss_lo"] <= r["loss_pred"] <= r["loss_hi"] for r in rows)
    code, out, err = run(capsys, "plan", fitted / "fit.json", "--mixture", "--params", 4e8, "--tokens", 8e9,
                         "--cap", "code=0.3", "--floor", "books=0.2", "--json")
    assert code == 0, err
    p = json.loads(out)
    assert p["mixture"]["code"] == 0.3 and p["mixture"]["books"] == 0.2
    assert {(b["domain"], b["constraint"]) for b in p["binding"]} == {("code", "cap"), ("books", "floor")}
    assert len(p["interval"]) == 2 and set(p["mixture_interval"]) == {"web", "code", "books"}
    code, out, err = run(capsys, "plan", fitted / "fit.json", "--mixture", "--flops", 1e21,
                         "--unique-tokens", "code=1e10", "--max-epochs", 4)
    assert code == 0, err
    assert "optimal mixture from mixture-additive" in out and "predicted loss" in out


@pytest.mark.parametrize("argv, message", [
    (["--mixture", "--params", 4e8, "--tokens", 8e9, "--cap", "code=0.2", "--cap", "web=0.2", "--cap", "books=0.2"],
     "sum to 0.6 < 1"),
    (["--mixture", "--params", 4e8], "give tokens="),
    (["--mixture", "--params", 4e8, "--tokens", 8e9, "--cap", "code"], "--cap 'code': write DOMAIN=W"),
    (["--mixture", "--params", 4e8, "--tokens", 8e9, "--max-epochs", 2], "give unique_tokens"),
    (["--mixture", "--params", 4e8, "--tokens", 8e9, "--floor", "news=0.1"], "unknown domain 'news'"),
])
def test_bad_plan_input_exits_2(capsys, fitted, argv, message):
    code, out, err = run(capsys, "plan", fitted / "fit.json", *argv)
    assert code == 2 and message in err and out == ""


def test_bad_fit_input_exits_2(capsys, fitted):
    code, _, err = run(capsys, "fit", "mixture-additive", fitted / "runs.csv", "--target", "c4")
    assert code == 2 and "dataset 'c4' not in the table" in err
    code, _, err = run(capsys, "fit", "mixture-additive", fitted / "runs.csv")
    assert code == 2 and "several datasets" in err


def test_rows_of_a_multi_step_table(tmp_path, capsys):
    """A run logged at two steps: its final row by default, every row with --rows all (then 2 token counts)."""
    a = synthetic("mixture-ye", 40, 1e-3, 5).assign(step=2, tokens=2e9)
    runs = pd.concat([a, a.assign(step=1, tokens=1e9, loss=a.loss * 1.2)], ignore_index=True)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    code, out, err = run(capsys, "fit", "mixture-ye", tmp_path / "runs.csv", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["n_points"] == 40 and "each run's final row" in d["diagnostics"]["observations"]["note"]
    code, _, err = run(capsys, "fit", "mixture-ye", tmp_path / "runs.csv", "--rows", "all")
    assert code == 2 and "2 distinct tokens" in err


def test_floor_still_sets_the_final_learning_rate_of_the_schedule_planner(tmp_path, capsys):
    import numpy as np

    from fitters import tissue
    from scaling import curves as sc
    from test_curves import _synthetic
    descs = {"a": "cosine:peak=0.001,warmup=200,floor=0.0001,total_steps=6000",
             "b": "wsd:peak=0.001,warmup=200,decay_fraction=0.3,total_steps=8000"}
    runs = _synthetic(tissue.LAW, {"L0": 2.5, "A": 0.6, "alpha": 0.45, "C": 0.5},
                      {k: sc.schedule_array(v) for k, v in descs.items()}, 5e-4, np.random.default_rng(2))
    runs.to_csv(tmp_path / "runs.csv", index=False)
    (tmp_path / "s.json").write_text(json.dumps(descs))
    assert main(["fit", "tissue", str(tmp_path / "runs.csv"), "--schedules", str(tmp_path / "s.json"),
                 "--out", str(tmp_path / "fit.json")]) == 0
    capsys.readouterr()
    code, out, err = run(capsys, "plan", tmp_path / "fit.json", "--steps", 10000, "--floor", 2e-5, "--json")
    assert code == 0, err
    assert json.loads(out)["floor"] == 2e-5
    code, out, err = run(capsys, "plan", tmp_path / "fit.json", "--steps", 10000, "--floor", "code=0.1")
    assert code == 2 and "--floor DOMAIN=W is for --mixture" in err
