"""`scaling fit loss2loss|error|task` and `scaling predict` chaining fit files (exit codes, JSON)."""
import json

import numpy as np
import pandas as pd
import pytest

from scaling.cli import main
from test_loss2loss import checkpoints
from test_task import TARGET, accuracy, ladder, task_loss


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_task_fit_and_chained_predict(capsys, tmp_path):
    data = tmp_path / "ladder.csv"
    ladder(5).to_csv(data, index=False)
    fit_path = tmp_path / "task.json"
    code, out, err = run(capsys, "fit", "task", data, "--task", "hellaswag", "--json", "--out", fit_path)
    assert code == 0, err
    d = json.loads(out)
    assert d["kind"] == "chain" and [s["law"] for s in d["stages"]] == ["chinchilla", "sigmoid"]
    code, out, err = run(capsys, "predict", fit_path, "--params", TARGET["params"][0], "--tokens", TARGET["tokens"][0],
                         "--json")
    assert code == 0, err
    p = json.loads(out)
    assert p["interval"][0] < p["accuracy"] < p["interval"][1]
    assert p["loss_interval"][0] < p["loss"] < p["loss_interval"][1]
    assert p["accuracy"] == pytest.approx(accuracy(task_loss(7e9, 1.4e12)), abs=0.05)
    code, out, _ = run(capsys, "predict", fit_path, "--params", 7e9, "--tokens", 1.4e12)
    assert code == 0 and "predicted accuracy" in out and "predicted loss" in out
    code, _, err = run(capsys, "plan", fit_path, "--flops", 1e22)
    assert code == 2 and "plan takes one fit" in err


def test_loss_fit_then_loss2loss_chained_from_two_files(capsys, tmp_path):
    data = tmp_path / "pairs.csv"
    runs = checkpoints(0.002, seed=4)
    runs.to_csv(data, index=False)
    train, l2l = tmp_path / "train.json", tmp_path / "l2l.json"
    code, _, err = run(capsys, "fit", "chinchilla", data, "--dataset", "train", "--out", train)
    assert code == 0, err
    code, out, err = run(capsys, "fit", "loss2loss", data, "--x", "train", "--y", "c4", "--shifts", "E_x=1.8,E_y=2.2",
                         "--json", "--out", l2l)
    assert code == 0, err
    assert json.loads(out)["options"]["fixed"] == {"E_x": 1.8, "E_y": 2.2}
    code, out, err = run(capsys, "predict", train, l2l, "--params", 1e10, "--tokens", 2e11, "--json")
    assert code == 0, err
    p = json.loads(out)
    assert set(p) >= {"loss", "interval", "loss_train", "loss_train_interval"}
    code, out, err = run(capsys, "predict", l2l, "--loss", 2.5, "--json")
    assert code == 0, err
    assert json.loads(out)["loss"] > 2.2
    # bad input: exit 2 with the reason
    code, _, err = run(capsys, "predict", l2l, "--loss", 1.5)
    assert code == 2 and "not above the fitted shift E_x" in err
    code, _, err = run(capsys, "predict", l2l, train, "--loss", 2.5)
    assert code == 2 and "cannot chain" in err
    code, _, err = run(capsys, "fit", "loss2loss", data, "--x", "train", "--y", "c4", "--shifts", "E_x:1.8")
    assert code == 2 and "NAME=VALUE" in err
    code, _, err = run(capsys, "fit", "loss2loss", data, "--x", "train", "--y", "wiki")
    assert code == 2 and "dataset 'wiki' not in the table" in err


def test_error_fit_with_accuracy_out_of_range_is_bad_input(capsys, tmp_path):
    rows = [dict(run=f"r{i}", params=1e8 * (i + 1), tokens=2e9, dataset="val", loss=l) for i, l in enumerate(np.linspace(2.5, 5, 6))]
    rows += [dict(run=f"r{i}", params=1e8 * (i + 1), tokens=2e9, dataset="avg", accuracy=a)
             for i, a in enumerate([0.5, 0.45, 0.4, 0.37, 0.33, 30.0])]
    data = tmp_path / "err.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    code, _, err = run(capsys, "fit", "error", data, "--x", "val", "--task", "avg")
    assert code == 2 and "column 'accuracy', row 11" in err
