"""Kaplan form plus an irreducible term (fitters.kaplan_e): parameter recovery, and as the per-dataset
law giving loss2loss its shifts (Brandfonbrener et al. 2024), from Python and from the CLI."""
import json

import numpy as np
import pandas as pd
import pytest

import scaling
from scaling.cli import main

TRUE = {"E": 1.8, "A": 3e8, "B": 2e9, "alpha": 0.35, "beta": 0.4}
SHIFT = {"K": 1.3, "kappa": 1.0, "E_x": 1.8, "E_y": 2.2}


def kaplan_e(p, N, D):
    return p["E"] + ((p["A"] / N) ** (p["alpha"] / p["beta"]) + p["B"] / D) ** p["beta"]


def grid_rows(noise, seed=0):
    rng = np.random.default_rng(seed)
    return [(N, D, np.exp(noise * rng.standard_normal())) for N in np.geomspace(2e7, 1e9, 5)
            for D in np.geomspace(4e8, 4e10, 8)]


def test_recovers_parameters():
    runs = pd.DataFrame([dict(params=N, tokens=D, loss=kaplan_e(TRUE, N, D) * z) for N, D, z in grid_rows(0.002)])
    f = scaling.fit("kaplan-e", runs)
    assert f.params["E"] == pytest.approx(TRUE["E"], rel=0.03), f.params
    assert f.params["alpha"] == pytest.approx(TRUE["alpha"], rel=0.05), f.params
    assert f.params["beta"] == pytest.approx(TRUE["beta"], rel=0.05), f.params
    assert f.derived["data_exponent"] == pytest.approx(TRUE["alpha"] / TRUE["beta"], rel=0.05)


def two_datasets(noise=0.002, seed=1):
    """Each checkpoint on 'train' (Kaplan form, E = 1.8) and 'c4' = 1.3 (L_train - 1.8) + 2.2, itself Kaplan-form."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, (N, D, _) in enumerate(grid_rows(0.0)):
        lx = kaplan_e(TRUE, N, D)
        ly = SHIFT["K"] * (lx - SHIFT["E_x"]) ** SHIFT["kappa"] + SHIFT["E_y"]
        for name, loss in (("train", lx), ("c4", ly)):
            rows.append(dict(run=f"n{N:.0f}", step=i, params=N, tokens=D, dataset=name,
                             loss=loss * np.exp(noise * rng.standard_normal())))
    return pd.DataFrame(rows)


def test_loss2loss_shifts_from_kaplan_e_fits(tmp_path, capsys):
    runs = two_datasets()
    f = scaling.fit("loss2loss", runs, x="train", y="c4", shift_law="kaplan-e")
    assert f.diagnostics["observations"]["shifts"] == "scaling: E of a kaplan-e fit to each dataset's rows"
    assert f.params["E_x"] == pytest.approx(SHIFT["E_x"], rel=0.03), f.params
    assert f.params["E_y"] == pytest.approx(SHIFT["E_y"], rel=0.03), f.params
    assert f.params["kappa"] == pytest.approx(1.0, abs=0.05) and f.params["K"] == pytest.approx(1.3, rel=0.1)
    # the same from the CLI
    data = tmp_path / "pairs.csv"
    runs.to_csv(data, index=False)
    code = main(["fit", "loss2loss", str(data), "--x", "train", "--y", "c4", "--shift-law", "kaplan-e", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    got = json.loads(out)
    assert got["options"]["law_options"]["shift_law"] == "kaplan-e"
    assert got["params"]["E_x"] == pytest.approx(f.params["E_x"], rel=1e-6)
    # a law without an irreducible term is refused by name
    with pytest.raises(ValueError, match="no irreducible term E"):
        scaling.fit("loss2loss", runs, x="train", y="c4", shifts="scaling", shift_law="kaplan")
