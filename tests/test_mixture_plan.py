"""The optimal-mixture planner against brute force over the simplex, its constraints and its errors.

Laws with known parameters are planned directly (a FitResult built from the parameters, no fitting),
so every test here runs in seconds.
"""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import scaling
from fitters import get_law
from scaling.plan import compute_optimal
from scaling.plan_mixture import mixture_over_compute, project
from scaling.result import FitResult

DOM3 = ("web", "code", "books")
DOM5 = ("web", "code", "books", "math", "wiki")


def known_fit(name: str, domains, scale, params: dict) -> FitResult:
    law = get_law(name).specialize(tuple("mix." + d for d in domains) + tuple(scale))
    return FitResult(law=law, params={n: float(params[n]) for n in law.names}, se={}, ci={})


def additive3():
    p = {"E": 1.9, "A": 210.0, "B": 900.0, "alpha": 0.33, "beta": 0.3}
    p.update({f"C_{d}": c for d, c in zip(DOM3, (0.9, 1.6, 0.5))})
    p.update({f"gamma_{d}": g for d, g in zip(DOM3, (0.45, 0.3, 0.6))})
    return known_fit("mixture-additive", DOM3, ("params", "tokens"), p)


def joint(domains):
    K = len(domains)
    rng = np.random.default_rng(3)
    p = {"E": 1.7, "alpha": 0.32, "beta": 0.29, "gamma_A": 1.3, "gamma_B": 0.8}
    for d, c, g, ca, cb in zip(domains, rng.uniform(0.4, 1.8, K), rng.uniform(0.25, 0.7, K),
                               rng.uniform(50, 400, K), rng.uniform(300, 3000, K)):
        p.update({f"C_{d}": c, f"gamma_{d}": g, f"CA_{d}": ca, f"CB_{d}": cb})
    return known_fit("mixture-joint", domains, ("params", "tokens"), p)


def simplex_grid(K, step, centre=None, radius=None, lo=None, hi=None):
    """Points of the simplex on a grid of ``step`` (within ``radius`` of ``centre`` when given), inside [lo, hi]."""
    if centre is None:
        n = int(round(1 / step))
        pts = np.array([c for c in itertools.product(range(n + 1), repeat=K - 1) if sum(c) <= n], float) * step
    else:
        r = int(round(radius / step))
        offs = np.array(list(itertools.product(range(-r, r + 1), repeat=K - 1)), float) * step
        pts = centre[None, :K - 1] + offs
    G = np.column_stack([pts, 1 - pts.sum(1)])
    ok = np.all(G >= -1e-12, axis=1)
    if lo is not None:
        ok &= np.all(G >= lo - 1e-12, axis=1) & np.all(G <= hi + 1e-12, axis=1)
    return np.clip(G[ok], 0, 1)


def brute_force(fit, domains, N, D, lo=None, hi=None, steps=(0.02, 0.004, 0.001, 0.0002)):
    """Grid search with successive refinement around the best point: returns (weights, loss)."""
    K = len(domains)

    def losses(G):
        X = {f"mix.{d}": G[:, j] for j, d in enumerate(domains)}
        X.update({"params": np.full(len(G), N), "tokens": np.full(len(G), D)})
        return fit.point_loss(X)

    G = simplex_grid(K, steps[0], lo=lo, hi=hi)
    best = G[np.argmin(losses(G))]
    for prev, step in zip(steps, steps[1:]):
        G = simplex_grid(K, step, centre=best, radius=2 * prev, lo=lo, hi=hi)
        best = G[np.argmin(losses(G))]
    return best, float(losses(best[None, :])[0])


def test_projection_onto_the_capped_simplex_is_exact():
    import jax
    rng = np.random.default_rng(0)
    lo, hi = np.array([0.0, 0.1, 0.0, 0.2]), np.array([0.5, 1.0, 0.3, 1.0])
    with jax.enable_x64(True):
        for v in rng.normal(0, 1, (20, 4)):
            w = np.asarray(project(v, lo, hi))
            assert abs(w.sum() - 1) < 1e-14 and np.all(w >= lo) and np.all(w <= hi)
            # the projection is the closest feasible point: no feasible grid point is closer
            G = simplex_grid(4, 0.02, lo=lo, hi=hi)
            assert np.linalg.norm(w - v) <= np.min(np.linalg.norm(G - v, axis=1)) + 1e-12


def test_three_domain_optimum_matches_brute_force():
    fit = additive3()
    N, D = 4e8, 8e9
    p = scaling.plan(fit, params=N, tokens=D)
    w = np.array([p["mixture"][d] for d in DOM3])
    best, loss = brute_force(fit, DOM3, N, D, steps=(0.005, 0.001, 0.0002))
    assert np.max(np.abs(w - best)) < 1e-3
    assert p["loss"] <= loss + 1e-12 and abs(w.sum() - 1) < 1e-12
    assert not p["at_vertex"] and not p["at_edge"] and p["binding"] == []
    assert p["interval"] is None and p["loss_uniform"] > p["loss"]
    assert p["weakly_identified"] == fit.weakly_identified()


def test_five_domain_optimum_with_caps_floors_and_unique_tokens_matches_brute_force():
    fit = joint(DOM5)
    N, D = 1e8, 4e9
    free = scaling.plan(fit, params=N, tokens=D)
    wf = np.array([free["mixture"][d] for d in DOM5])
    bf, lf = brute_force(fit, DOM5, N, D)
    assert np.max(np.abs(wf - bf)) < 1e-3 and free["loss"] <= lf + 1e-12
    # constrain the two largest weights from above (a cap; a unique-token limit at 2 epochs) and floor the smallest
    order = np.argsort(wf)
    big, second, small = DOM5[order[-1]], DOM5[order[-2]], DOM5[order[0]]
    cap = round(wf[order[-1]] - 0.1, 3)
    unique = (wf[order[-2]] - 0.05) * D / 2
    floor = round(wf[order[0]] + 0.05, 3)
    p = scaling.plan(fit, params=N, tokens=D, caps={big: cap}, floors={small: floor},
                     unique_tokens={second: unique}, max_epochs=2)
    w = np.array([p["mixture"][d] for d in DOM5])
    lo, hi = np.zeros(5), np.ones(5)
    hi[order[-1]], hi[order[-2]], lo[order[0]] = cap, 2 * unique / D, floor
    assert np.all(w <= hi) and np.all(w >= lo) and abs(w.sum() - 1) < 1e-12     # exactly, not to a tolerance
    assert p["mixture"][big] == cap and p["mixture"][small] == floor and p["mixture"][second] == 2 * unique / D
    assert {(b["domain"], b["constraint"]) for b in p["binding"]} == {(big, "cap"), (second, "unique_tokens"), (small, "floor")}
    bc, lc = brute_force(fit, DOM5, N, D, lo=lo, hi=hi)
    assert np.max(np.abs(w - bc)) < 1e-3 and p["loss"] <= lc + 1e-12


def test_joint_optimum_moves_with_scale_and_compute_table():
    fit = joint(DOM3)
    small = scaling.plan(fit, params=1e7, tokens=2e8)["mixture"]
    large = scaling.plan(fit, params=1e10, tokens=2e11)["mixture"]
    assert max(abs(small[d] - large[d]) for d in DOM3) > 0.01
    table = mixture_over_compute(fit, [1e19, 1e21, 1e23])
    assert list(table.columns[:3]) == ["flops", "params", "tokens"] and np.all(np.diff(table.params) > 0)
    assert np.allclose(table[[f"mix.{d}" for d in DOM3]].sum(axis=1), 1)
    # the alternating optimum is the joint optimum over (N, mixture) at C = 6 N D
    C = 1e21
    row = table.iloc[1]
    assert row.tokens == pytest.approx(C / (6 * row.params))
    best = np.inf
    for n in np.geomspace(row.params / 3, row.params * 3, 61):
        best = min(best, brute_force(fit, DOM3, n, C / (6 * n), steps=(0.01, 0.002))[1])
    assert row.loss <= best + 1e-9


def test_flops_for_the_additive_law_use_the_compute_planner():
    fit = additive3()
    p = scaling.plan(fit, flops=1e21)
    ref = compute_optimal(FitResult(law=get_law("chinchilla"), se={}, ci={},
                                    params={k: fit.params[k] for k in ("E", "A", "B", "alpha", "beta")}), 1e21)
    assert p["params"] == pytest.approx(ref["params"], rel=1e-6) and p["tokens"] == pytest.approx(ref["tokens"], rel=1e-6)
    assert p["mixture"] == pytest.approx(scaling.plan(fit, params=p["params"], tokens=p["tokens"])["mixture"], abs=1e-8)


@pytest.mark.parametrize("make", [additive3, lambda: joint(DOM3)], ids=["additive", "joint"])
def test_a_flop_budget_with_scarce_unique_tokens_trades_model_size_for_the_cap(make):
    """The cap h_j D <= U_j loosens as D shrinks: the planner searches N with the capped mixture re-solved at each
    split (it took the unconstrained split and capped the mixture after, up to 0.04 nats worse: helper audit)."""
    fit = make()
    C = 1e21
    free = scaling.plan(fit, flops=C)
    scarce = max(free["mixture"], key=free["mixture"].get)
    U = {scarce: 0.5 * free["mixture"][scarce] * free["tokens"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = scaling.plan(fit, flops=C, unique_tokens=U)
        grid = [scaling.plan(fit, params=n, tokens=C / (6 * n), unique_tokens=U)["loss"]
                for n in free["params"] * np.geomspace(0.25, 4, 41)]
    assert out["params"] * out["tokens"] * 6 == pytest.approx(C)
    assert out["mixture"][scarce] * out["tokens"] <= U[scarce] * (1 + 1e-6)
    assert out["loss"] <= min(grid) + 1e-6 and out["params"] != pytest.approx(free["params"], rel=1e-3)


def test_ye_optimum_is_a_vertex_and_warns_until_capped():
    domains = DOM3
    fit = known_fit("mixture-ye", domains, (), {"c": 2.0, "k": 1.0, "t_code": -0.8, "t_books": 0.4})
    with pytest.warns(UserWarning, match="vertex"):
        p = scaling.plan(fit)
    assert p["at_vertex"] and p["mixture"]["code"] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.warns(UserWarning, match="edge"):
            q = scaling.plan(fit, caps={"code": 0.6})
    assert q["mixture"] == {"web": 0.4, "code": 0.6, "books": 0.0} and q["at_edge"] and q["zero_domains"] == ["books"]


@pytest.mark.parametrize("options, message", [
    ({"caps": {"web": 0.2, "code": 0.2, "books": 0.2}}, "sum to 0.6 < 1"),
    ({"floors": {"web": 0.5, "code": 0.6}}, "floors sum to 1.1 > 1"),
    ({"caps": {"web": 0.2}, "floors": {"web": 0.3}}, "floor 0.3 is above"),
    ({"caps": {"news": 0.2}}, "unknown domain 'news'"),
    ({"caps": {"web": 1.5}}, "lies in \\[0, 1\\]"),
    ({"unique_tokens": {"web": 1e9}, "max_epochs": 0}, "max_epochs=0"),
    ({"max_epochs": 2}, "give unique_tokens"),
    ({"unique_tokens": {"web": 1e8, "code": 1e8, "books": 1e8}}, "upper limits sum to 0.0375"),
])
def test_infeasible_or_bad_constraints_are_clear_errors(options, message):
    with pytest.raises(scaling.InputError, match=message):
        scaling.plan(additive3(), params=4e8, tokens=8e9, **options)


def test_missing_scale_is_a_clear_error():
    with pytest.raises(scaling.InputError, match="give tokens="):
        scaling.plan(additive3(), params=4e8)
    with pytest.raises(scaling.InputError, match="not both"):
        scaling.plan(additive3(), params=4e8, tokens=1e9, flops=1e20)
