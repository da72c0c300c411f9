"""The `scaling` command: JSON contract, exit codes (0 ok, 2 bad input, 1 internal)."""
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import chinchilla_grid_runs
from scaling.cli import main

TRUTH = {"E": 1.8, "A": 500.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def runs_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "runs.csv"
    runs = chinchilla_grid_runs(TRUTH, 0.005, seed=1)
    runs.rename(columns={"params": "Model Size"}).to_csv(path, index=False)
    return path


def test_fit_json_then_predict_and_plan_from_the_file(capsys, runs_csv, tmp_path):
    fit_path = tmp_path / "fit.json"
    code, out, err = run(capsys, "fit", "chinchilla", runs_csv, "--map", "params=Model Size",
                         "--bootstrap", 50, "--seed", 2, "--json", "--out", fit_path)
    assert code == 0, err
    d = json.loads(out)
    assert {"law", "params", "se", "ci", "objective", "n_points", "n_starts", "n_converged", "derived"} <= set(d)
    assert set(d["params"]) == {"E", "A", "B", "alpha", "beta"} and len(d["ci"]["alpha"]) == 2
    assert d["params"]["alpha"] == pytest.approx(0.35, abs=0.03) and d["n_points"] == 36

    code, _, err = run(capsys, "predict", fit_path, "--params", 7e10)
    assert code == 2 and "give --tokens D (or --flops C)" in err
    summary = tmp_path / "summary.json"          # the stdout summary saved as if it were the fit file
    summary.write_text(out)
    code, out_s, err = run(capsys, "plan", summary, "--flops", 1e22, "--json")
    assert code == 0 and "holds none" in err and json.loads(out_s)["loss_interval"] is None
    assert json.loads(out_s)["uncertainty"] == "none"

    code, out, err = run(capsys, "predict", fit_path, "--params", 7e10, "--tokens", 1.4e12, "--json")
    assert code == 0, err
    p = json.loads(out)
    assert p["interval"][0] < p["loss"] < p["interval"][1]

    code, out, err = run(capsys, "plan", fit_path, "--flops", 1e22, "--json")
    assert code == 0, err
    plan = json.loads(out)
    for k in ("params", "tokens", "loss"):
        assert plan[f"{k}_interval"][0] < plan[k] < plan[f"{k}_interval"][1]

    pred_csv = tmp_path / "pred.csv"
    code, _, err = run(capsys, "predict", fit_path, "--data", runs_csv, "--map", "params=Model Size", "--out", pred_csv)
    assert code == 0, err
    assert len(pd.read_csv(pred_csv)) == 36

    bits = tmp_path / "bits.csv"                   # the same runs logged in bits per token
    pd.read_csv(runs_csv).assign(loss=lambda t: t["loss"] / np.log(2)).to_csv(bits, index=False)
    code, out, err = run(capsys, "fit", "chinchilla", bits, "--map", "params=Model Size", "--loss-unit", "bits", "--json")
    assert code == 0, err
    assert json.loads(out)["params"]["alpha"] == pytest.approx(d["params"]["alpha"], rel=1e-6)
    code, out, err = run(capsys, "fit", "chinchilla", bits, "--map", "params=Model Size", "--loss-unit", "bits_per_byte")
    assert code == 2 and "--bytes-per-token" in err

    future = tmp_path / "future.parquet"          # a run not trained yet: empty loss; a date column of the export
    pd.DataFrame({"run": ["007"], "Model Size": [7e10], "tokens": [1.4e12], "loss": [np.nan],
                  "created": pd.to_datetime(["2026-01-02"])}).to_parquet(future)
    code, out, err = run(capsys, "predict", fit_path, "--data", future, "--map", "params=Model Size", "--json")
    assert code == 0, err
    row = json.loads(out)["rows"][0]
    assert row["run"] == "007" and row["loss"] is None and row["created"].startswith("2026-01-02")
    assert row["loss_pred"] == pytest.approx(p["loss"])


def test_human_output_and_published(capsys):
    code, out, _ = run(capsys, "plan", "--published", "besiroglu2024", "--flops", 1e23)
    assert code == 0 and "params" in out and "no intervals" in out
    code, out, _ = run(capsys, "laws", "--json")
    assert code == 0 and "chinchilla" in json.loads(out)["laws"]


BAD = {
    "nan": ("params,tokens,loss\n1e7,2e8,3.1\n2e7,4e8,nan\n", "loss"),
    "negative": ("params,tokens,loss\n1e7,2e8,3.1\n-2e7,4e8,3.0\n", "params"),
    "misspelt": ("params,tokns,loss\n1e7,2e8,3.1\n", "tokens"),
    "duplicate": ("params,tokens,loss\n1e7,2e8,3.1\n1e7,2e8,3.1\n2e7,4e8,3.0\n", "duplicates"),
    "one N": ("params,tokens,loss\n" + "".join(f"1e7,{d},{3 - i / 10}\n" for i, d in enumerate([2e8, 4e8, 8e8, 1.6e9, 3.2e9, 6.4e9])), "params"),
    "too few": ("params,tokens,loss\n1e7,2e8,3.1\n2e7,4e8,3.0\n4e7,8e8,2.9\n", "parameters"),
    "empty file": ("", "No columns to parse"),
    "header only": ("params,tokens,loss\n", "holds no rows"),
    "ragged": ("params,tokens,loss\n1e7,2e8,3.1\n2e7,4e8,3.0,1,2\n", "Expected 3 fields in line 3"),
    "not utf-8": ("params,tokens,loss\n1e7,2e8,3.1\n".encode("utf-16"), "can't decode"),
    "repeated header": ("params,params,tokens,loss\n1e7,2e7,2e8,3.1\n", "'params' appears more than once"),
    "trailing comma": ("params,tokens,loss\n1e7,2e8,3.1,\n2e7,4e8,3.0,\n", "one field more than the header"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_naming_the_problem(capsys, tmp_path, case):
    text, word = BAD[case]
    path = tmp_path / "bad.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    code, out, err = run(capsys, "fit", "chinchilla", path, "--json")
    assert code == 2 and out == "" and word in err


@pytest.mark.parametrize("argv, word", [
    (["fit", "chinchila", "x.csv"], "unknown law"),
    (["fit", "chinchilla", "missing.csv"], "not found"),
    (["fit", "chinchilla", "x.csv", "--map", "params"], "COLUMN=NAME"),
    (["plan", "--published", "nope", "--flops", "1e23"], "unknown published law"),
    (["plan", "--published", "besiroglu2024"], "either flops"),
    (["predict", "no-such-fit.json", "--params", "1e9", "--tokens", "1e10"], "not found"),
])
def test_usage_errors_exit_2(capsys, argv, word):
    code, _, err = run(capsys, *argv)
    assert code == 2 and word in err


def test_bad_flags_and_hand_edited_fit_files_exit_2(capsys, runs_csv, tmp_path):
    """Checked before any work where they can be (an --out folder that does not exist, a seed, a single resample),
    and a fit file edited by hand is named for its field, not a traceback."""
    fit_path = tmp_path / "fit.json"
    mapping = ("--map", "params=Model Size")
    cases = [
        (["fit", "chinchilla", runs_csv, *mapping, "--out", tmp_path / "no" / "fit.json"], "no folder"),
        (["fit", "chinchilla", runs_csv, *mapping, "--seed", "-1"], "seed=-1"),
        (["fit", "chinchilla", runs_csv, *mapping, "--bootstrap", "1"], "at least 2 resamples"),
        (["fit", "chinchilla", runs_csv, *mapping, "--map", "loss=tokens"], "is not a cross-entropy"),
        (["fit", "approach1", runs_csv, *mapping, "--level", "2"], "level=2.0"),
    ]
    for argv, word in cases:
        code, out, err = run(capsys, *argv)
        assert code == 2 and word in err, (argv, err)
    assert run(capsys, "fit", "chinchilla", runs_csv, *mapping, "--out", fit_path)[0] == 0
    record = json.loads(fit_path.read_text())
    for argv, word in [
        (["plan", fit_path, "--flops", "1e21", "--level", "2"], "level=2.0"),
        (["predict", fit_path, "--data", runs_csv, *mapping, "--out", tmp_path / "no" / "p.csv"], "no folder"),
        (["plot", fit_path, "--dpi", "100000", "--out", tmp_path / "f.png"], "--dpi 100000"),
        (["plot", fit_path, "--out", tmp_path], "is a folder"),
        (["predict", fit_path, "--params", "1e9", "--tokens", "1e10", "--flops", "1e30"], "give two of"),
        (["predict", fit_path, "--params", "-1e9", "--tokens", "1e10"], "is not a positive"),   # not "expected one argument"
        (["predict", fit_path, "--data", runs_csv, "--params", "1e9"], "not both"),
        (["plan", fit_path, "--flops", "1e21", "--params", "1e9"], "with --mixture or --qat"),
        (["plan", fit_path, "--flops", "1e21", "--inference-tokens", "1e12"], "goes with --loss"),
    ]:
        code, out, err = run(capsys, *argv)
        assert code == 2 and word in err, (argv, err)
    for edit, word in [(lambda d: d["params"].update(E=float("nan")), "parameter E is nan"),
                       (lambda d: d["params"].update(E=-5.0), "parameter E is -5.0"),
                       (lambda d: d.update(level=5), "level 5"),
                       (lambda d: d.update(samples=[[1.0, 2.0]]), "samples have shape (1, 2)"),
                       (lambda d: d.update(n_points="many"), "a field is malformed"),
                       (lambda d: d.pop("law"), "not a fit record"),
                       (lambda d: d.update(law="approach1"), "IsoFLOP analysis")]:
        d = json.loads(json.dumps(record))
        edit(d)
        bad = tmp_path / "edited.json"
        bad.write_text(json.dumps(d))
        code, out, err = run(capsys, "predict", bad, "--params", 1e9, "--tokens", 2e10, "--json")
        assert code == 2 and out == "" and word in err, (word, err)
    code, out, _ = run(capsys, "predict", "--published", "dremov2025", "--params", 1e8, "--tokens", 2e9, "--bits", 4, "--json")
    assert code == 0 and json.loads(out)["inputs"]["bits"] == 4.0       # a QAT law's point from the flags
    code, _, _ = run(capsys, "plot", fit_path, "--out", tmp_path / "figure")
    assert code == 0 and (tmp_path / "figure.png").exists()


def test_a_ladder_whose_runs_fail_exits_1_with_its_status(capsys, tmp_path):
    """A run that raises (here: a token budget no array can hold) is recorded as failed and the ladder goes on;
    the command then says so and exits 1 - the status table is still the JSON on stdout."""
    spec = tmp_path / "huge.toml"
    spec.write_text('sizes = [{width = 32, depth = 2, heads = 2}]\n[budget]\ntokens = [1e300]\n')
    code, out, err = run(capsys, "ladder", "run", spec, "--out", tmp_path / "out", "--workers", 1, "--json")
    assert code == 1 and json.loads(out)["runs"][0]["status"] == "failed"
    assert "1 of 1 runs failed" in err and "Maximum allowed dimension" in err


def test_console_script_json_is_the_only_stdout():
    proc = subprocess.run([sys.executable, "-m", "scaling.cli", "plan", "--published", "besiroglu2024",
                           "--flops", "1e23", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["params"] == pytest.approx(2.945e10, rel=2e-3)
    bad = subprocess.run([sys.executable, "-m", "scaling.cli", "fit"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2


def test_approach2_from_the_command_line(capsys, tmp_path):
    from conftest import shared_file
    path = tmp_path / "epoch.csv"
    pd.read_csv(shared_file("chinchilla_epoch", "svg_extracted_data.csv")).to_csv(path, index=False)
    code, out, err = run(capsys, "fit", "approach2", path, "--map", "params=Model Size", "--map", "flops=Training FLOP",
                         "--budget-rtol", 0.3, "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["law"] == "approach2" and 0.45 < d["a"]["exponent"] < 0.53   # Hoffmann et al. 2022 Table 2: 0.49
    assert "parabola opens downward" in err                                # flagged budgets are named, not dropped
    code, _, err = run(capsys, "fit", "approach2", path, "--map", "params=Model Size", "--map", "flops=Training FLOP",
                       "--loss-window", -1)
    assert code == 2 and "loss_window" in err


def test_stdout_closed_early_ends_quietly(monkeypatch, capsys):
    """`scaling ... --json | head`: a closed pipe is not an internal error with a traceback."""
    import scaling.cli as cli

    def closed(args):
        raise BrokenPipeError(32, "Broken pipe")
    parser = cli.build_parser()
    parse = parser.parse_args
    monkeypatch.setattr(parser, "parse_args", lambda argv: setattr(ns := parse(argv), "func", closed) or ns)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(sys.stdout, "fileno", lambda: os.open(os.devnull, os.O_WRONLY))
    assert cli.main(["laws"]) == 141
    assert "internal error" not in capsys.readouterr().err
