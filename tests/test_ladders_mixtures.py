"""Mixture ladders: the [mixtures] generator table of a ladder spec (lattice, Dirichlet, ...)."""
from math import comb

import numpy as np
import pytest

from ladders.mixtures import dirichlet, generate_mixtures, lattice, quantize
from ladders.spec import SpecError, expand_spec, load_spec

DOMAINS = ["code", "prose", "comments"]

TOML = """
name = "mix"
sizes = [{width = 32, depth = 1, heads = 2}, {width = 32, depth = 2, heads = 2}]
[budget]
tokens = [20000]
[mixtures]
include = [{code = 3, prose = 1}]
uniform = true
lattice = 3
random = {count = 6, seed = 1, alpha = 1.0}
"""


def as_array(mixtures):
    return np.array([[m[d] for d in DOMAINS] for m in mixtures])


@pytest.mark.parametrize("k,m", [(3, 1), (3, 4), (3, 10), (5, 3)])
def test_lattice_is_the_whole_simplex_lattice(k, m):
    pts = lattice(k, m)
    assert pts.shape == (comb(m + k - 1, k - 1), k)
    np.testing.assert_allclose(pts.sum(1), 1.0)
    np.testing.assert_allclose(pts * m, np.rint(pts * m), atol=1e-12)
    assert len({tuple(p) for p in pts}) == len(pts)


def test_quantize_keeps_the_simplex_on_a_1e4_grid():
    rng = np.random.default_rng(0)
    for w in rng.dirichlet(np.full(5, 0.3), 200):
        q = quantize(w)
        units = q * 10_000
        np.testing.assert_allclose(units, np.rint(units), atol=1e-9)
        assert int(np.rint(units).sum()) == 10_000 and (q >= 0).all()
        assert np.abs(q - w).max() <= 1e-4


def test_dirichlet_draws_are_prefix_stable_and_follow_alpha():
    np.testing.assert_array_equal(dirichlet(3, 5, 7, 1.0), dirichlet(3, 20, 7, 1.0)[:5])
    assert not np.allclose(dirichlet(3, 5, 7, 1.0), dirichlet(3, 5, 8, 1.0))
    # Dirichlet(alpha) has mean alpha / sum(alpha); a small alpha puts the draws near the vertices
    draws = dirichlet(3, 2000, 0, [8.0, 1.0, 1.0])
    np.testing.assert_allclose(draws.mean(0), [0.8, 0.1, 0.1], atol=0.01)
    assert dirichlet(3, 500, 0, 0.1).max(1).mean() > 0.85 > dirichlet(3, 500, 0, 20.0).max(1).mean()


def test_generator_table_order_and_duplicates():
    mixtures = generate_mixtures({"include": [{"code": 3, "prose": 1}], "uniform": True, "vertices": True,
                                  "lattice": 3, "random": {"count": 6, "seed": 1}}, DOMAINS)
    h = as_array(mixtures)
    np.testing.assert_allclose(h.sum(1), 1.0)
    assert mixtures[0] == {"code": 0.75, "prose": 0.25, "comments": 0.0}
    assert mixtures[1] == {d: 1 / 3 for d in DOMAINS}
    np.testing.assert_array_equal(h[2:5], np.eye(3))
    # lattice 3 has 10 points; its 3 vertices and its centre are already in: 6 new ones
    assert len(mixtures) == 2 + 3 + 6 + 6
    np.testing.assert_allclose(h[-6:], [quantize(w) for w in dirichlet(3, 6, 1, 1.0)])


def test_spec_with_a_mixture_table_expands_sizes_x_mixtures():
    spec = load_spec(TOML)
    runs = spec.runs()
    # include 1 + uniform 1 + lattice 3 (10 points, the centre already in) 9 + random 6
    assert len(spec.mixtures) == 17 and len(runs) == 2 * 17
    assert [r.mixture for r in runs[:17]] == [r.mixture for r in runs[17:]]
    assert runs[0].mixture == {"code": 0.75, "prose": 0.25, "comments": 0.0}
    for r in runs:
        assert sum(r.mixture.values()) == pytest.approx(1.0, abs=1e-12)
    # more random mixtures keep the runs (ids) of the first ones
    grown = {r.run for r in expand_spec(TOML.replace("count = 6", "count = 10"))}
    assert {r.run for r in runs} < grown and len(grown) == 2 * 21


def test_random_alpha_per_domain_in_a_spec():
    spec = load_spec(TOML.replace("alpha = 1.0", "alpha = {code = 50, prose = 1, comments = 1}")
                     .replace("count = 6", "count = 40"))
    h = as_array(spec.mixtures[-40:])
    assert h[:, 0].mean() > 0.9


@pytest.mark.parametrize("table,match", [
    ({"randum": {"count": 3}}, r"\[mixtures\]: unknown key\(s\) \['randum'\]; allowed: \['include'"),
    ({}, r"\[mixtures\] is empty; give one of"),
    ({"random": {"count": 0}}, r"random.count must be an integer >= 1"),
    ({"random": {"seed": 0}}, "needs count"),
    ({"random": {"count": 3, "alpha": -1}}, "alpha must be positive"),
    ({"random": {"count": 3, "alpha": {"code": 1, "prose": 1}}}, r"alpha lacks domain\(s\) \['comments'\]"),
    ({"random": {"count": 3, "alpha": {"code": 1, "prose": 1, "comments": 1, "web": 1}}}, r"unknown domain\(s\) \['web'\]"),
    ({"random": {"count": 3, "beta": 1}}, r"random: unknown key\(s\) \['beta'\]"),
    ({"random": 5}, "must be a table"),
    ({"lattice": 0}, r"lattice must be an integer >= 1"),
    ({"lattice": 2.5}, r"lattice must be an integer"),
    ({"uniform": "yes"}, "uniform must be true or false"),
    ({"include": [{"klingon": 1}]}, r"include\[0\]: unknown domain"),
    ({"include": [{"code": 1}, {"code": 0, "prose": 0}]}, r"include\[1\]: weights must be"),
])
def test_bad_mixture_tables_are_spec_errors_naming_the_key(table, match):
    d = {"sizes": [{"width": 32, "depth": 2, "heads": 2}], "budget": {"tokens": [1000]}, "mixtures": table}
    with pytest.raises(SpecError, match=match):
        load_spec(d)


@pytest.mark.slow
def test_a_mixture_ladder_logs_every_domain_and_the_weights(tmp_path):
    """Runs of a [mixtures] table log mix.<domain> (0 for unused domains) and every domain's loss (which
    domain wins where is tested on the shipped ladder, tests/test_mixture_ladder.py)."""
    from ladders import read_ladder_runs, run_ladder
    spec = {"name": "vertices", "sizes": [{"width": 32, "depth": 1, "heads": 2}], "budget": {"tokens": [32 * 8 * 32]},
            "model": {"context": 32}, "train": {"batch_size": 8, "evals": 2, "eval_windows": 32, "steps_per_dispatch": 8},
            "schedules": [{"kind": "cosine", "peak": 1e-2, "warmup": 0.1, "floor": 1e-3}],
            "mixtures": {"vertices": True}}
    status = run_ladder(spec, tmp_path, max_workers=1, progress=False)
    assert (status.status == "done").all() and len(status) == 3
    rows = read_ladder_runs(tmp_path)
    assert set(rows.dataset) == set(DOMAINS) | {"train", "validation"}
    assert rows.groupby(["run", "step"]).size().eq(5).all()
    final = rows[rows.step == rows.steps_total]
    for d in DOMAINS:
        own = final[final[f"mix.{d}"] == 1.0]
        others = final[final[f"mix.{d}"] == 0.0]
        assert len(own.run.unique()) == 1 and len(others.run.unique()) == 2
        assert (own[[f"mix.{e}" for e in DOMAINS if e != d]] == 0.0).all().all()
        # the validation loss of a single-domain run is its own domain's
        assert own[own.dataset == "validation"].loss.item() == pytest.approx(own[own.dataset == d].loss.item())
