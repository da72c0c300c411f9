"""RegMix (Liu et al. 2024): fit on the 512 train mixtures of the 1M models, rank the unseen mixtures at 1M,
60M and 1B by the predicted Pile-CC loss (the issue's acceptance bar; ../shared/checks/mixture-regmix-spearman)."""
import numpy as np
import pytest
from scipy.stats import spearmanr

import scaling
from conftest import shared_file
from scaling.mixture_data import read_regmix

BAR = {"mixture-additive": (0.99, 0.985, 0.97), "mixture-ye": (0.94, 0.94, 0.94)}


@pytest.fixture(scope="module")
def regmix():
    root = shared_file("regmix2024", "train_mixture_1m.csv").parent
    tests = {s: read_regmix(root, "test", s) for s in ("1m", "60m", "1B")}
    return read_regmix(root, "train", "1m"), {s: t[t.dataset == "pile_cc"] for s, t in tests.items()}


def spearman(fit, tests):
    return [spearmanr(fit.predict(t)["loss_pred"], t["loss"]).statistic for t in tests.values()]


@pytest.mark.slow
@pytest.mark.parametrize("law", list(BAR))
def test_unseen_mixtures_are_ranked_at_every_size(regmix, law, record_property):
    train, tests = regmix
    fit = scaling.fit(law, train, target="pile_cc")
    rho = spearman(fit, tests)
    record_property("spearman_1m_60m_1B", [round(float(r), 4) for r in rho])
    assert fit.n_points == 512 and len(fit.params) == {"mixture-additive": 35, "mixture-ye": 18}[law]
    assert "absorbed in E" in fit.summary() or law == "mixture-ye"
    assert np.all(np.array(rho) >= BAR[law]), rho


def test_linear_baseline_ranks_worse_than_the_laws(regmix):
    train, tests = regmix
    fit = scaling.fit("mixture-linear", train, target="pile_cc")
    rho = spearman(fit, tests)
    assert 0.8 < rho[0] < 0.95          # measured 0.902 / 0.893 / 0.879: the laws' margin over a linear model
