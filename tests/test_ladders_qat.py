"""QAT ladders: spec axes, classic vs fused learning rates, shared FP trunks (trained once, forks
equal to training from scratch), resume after a kill, rows with bits and qat_fraction."""
import copy

import numpy as np
import pandas as pd
import pytest

import ladders.train
from ladders import branches, ladder_status, read_ladder_runs, run_ladder
from ladders.config import RunConfig
from ladders.runlog import read_rows
from ladders.schedules import lr_array
from ladders.spec import SpecError, load_spec
from ladders.train import train_run

SPEC = {
    "name": "qat-test",
    "sizes": [{"width": 16, "depth": 1, "heads": 2}],
    "model": {"context": 16},
    "budget": {"tokens": [64 * 4 * 16]},                      # T = 64 updates
    "train": {"batch_size": 4, "evals": 2, "eval_windows": 8, "steps_per_dispatch": 4},
    "schedules": [{"kind": "wsd", "peak": 3e-3, "warmup": 4, "decay_fraction": 0.25, "floor": 3e-4}],
    "qat": {"bits": [2], "qat_fraction": [0.25, 0.5], "qat_pipeline": ["classic", "fused"], "qat_peak": 2e-3},
}


def with_qat(**kw):
    spec = copy.deepcopy(SPEC)
    spec["qat"].update(kw)
    return spec


def by_kind(runs):
    out = {"trunk": [], "fp": [], "classic": [], "fused": []}
    for r in runs:
        out["trunk" if r.trunk else r.quant["pipeline"] if r.quant else "fp"].append(r)
    return out


def test_spec_expansion_with_qat_axes():
    spec = with_qat(bits=[2, 4, 6], qat_fraction=[0.125, 0.25, 0.5])
    spec["seeds"] = [0, 1]
    runs = load_spec(spec).runs()
    kinds = by_kind(runs)
    # per seed: 1 trunk, the FP reference + 3 FP prefixes (classic), 3 fractions x 3 widths per pipeline
    assert {k: len(v) for k, v in kinds.items()} == {"trunk": 2, "fp": 8, "classic": 18, "fused": 18}
    assert len({r.run for r in runs}) == len(runs)
    assert [r.trunk for r in runs[:2]] == [True, True]            # parents come first
    seen = set()
    for r in runs:
        assert r.parent is None or r.parent["run"] in seen
        seen.add(r.run)
    q = kinds["fused"][0]
    assert q.quant == {"bits": 2, "embed_bits": 4, "fraction": 0.125, "pipeline": "fused"} and "-b2-f0.125-fused-" in q.run
    assert {r.quant["embed_bits"] for r in runs if r.quant} == {4, 6}   # max(B, 4) (Dremov et al. 2025)
    by_id = {r.run: r for r in runs}
    for r in kinds["classic"]:            # classic QAT starts from the end of the FP run of T1 updates
        parent = by_id[r.parent["run"]]
        assert parent.quant is None and not parent.trunk and parent.steps == r.qat_start == r.parent["step"]
    for r in kinds["fused"]:              # fused QAT starts from the trunk where the cooldown would begin
        assert by_id[r.parent["run"]].trunk and r.parent["step"] == r.qat_start == 64 - round(r.quant["fraction"] * 64)
    trunk = kinds["trunk"][0]
    assert trunk.steps == 56 and trunk.schedule["kind"] == "constant"
    assert set(trunk.forks) == {r.parent["step"] for r in runs if r.parent and r.parent["run"] == trunk.run}
    assert branches.compute(runs) == {"trained": 2 * (56 + 16 + 14 + 12 + 8 + 3 * 56 + 3 * 56), "from_scratch": 2 * (64 + 56 + 48 + 32 + 6 * 64 * 3)}
    # without trunk sharing the same runs (same ids), none forked from a trunk
    plain = load_spec({**spec, "qat": {**spec["qat"], "share_trunks": False}}).runs()
    assert {r.run for r in plain} == {r.run for r in runs if not r.trunk}
    assert all(r.parent is None for r in plain if not (r.quant and r.quant["pipeline"] == "classic"))


def test_learning_rates_of_the_two_pipelines():
    runs = by_kind(load_spec(SPEC).runs())
    fp = runs["fp"][0]
    for f in (0.25, 0.5):
        fused = next(r for r in runs["fused"] if r.quant["fraction"] == f)
        classic = next(r for r in runs["classic"] if r.quant["fraction"] == f)
        k = fused.qat_start
        assert k == classic.qat_start == 64 - int(f * 64)
        lf, lc = lr_array(fused.schedule, 64), lr_array(classic.schedule, 64)
        np.testing.assert_array_equal(lf[:4], lc[:4])                         # the same warmup
        np.testing.assert_array_equal(lf[4:k], 3e-3)                          # fused: FP at the peak ...
        assert lf[k] < 3e-3 and np.all(np.diff(lf[k:]) < 0) and lf[-1] == pytest.approx(3e-4)  # ... QAT decays
        assert lc[k - 1] == pytest.approx(3e-4)                               # classic: FP has its own cooldown,
        np.testing.assert_array_equal(lc[:k], lr_array(SPEC["schedules"][0], k))
        rewarm = int(round(0.1 * (64 - k)))
        assert lc[k + rewarm - 1] == pytest.approx(2e-3) and np.all(np.diff(lc[k:k + rewarm]) > 0)  # re-warms,
        assert np.all(np.diff(lc[k + rewarm - 1:]) < 0) and lc[-1] == pytest.approx(3e-4)       # decays
    # the FP reference is the spec's schedule over all 64 updates
    np.testing.assert_array_equal(lr_array(fp.schedule, 64), lr_array(SPEC["schedules"][0], 64))


@pytest.mark.parametrize("edit,match", [
    (lambda q: q.update(bits=[9]), "bits must be integers in 1..8"),
    (lambda q: q.update(bits=[0]), "bits must be integers in 1..8"),
    (lambda q: q.update(qat_fraction=[1.5]), r"qat_fraction must be numbers in \(0, 1\)"),
    (lambda q: q.update(qat_fraction=[0]), r"qat_fraction must be numbers in \(0, 1\)"),
    (lambda q: q.update(qat_pipeline=["sideways"]), "qat_pipeline must be among"),
    (lambda q: q.update(embed_min_bits=12), "embed_min_bits"),
    (lambda q: q.update(colour=1), "unknown key"),
    (lambda q: q.pop("bits"), "'bits'"),
    (lambda q: q.update(qat_fraction=[0.99]), "fewer FP updates than the warmup"),
])
def test_bad_qat_specs(edit, match):
    spec = copy.deepcopy(SPEC)
    edit(spec["qat"])
    with pytest.raises(SpecError, match=match):
        load_spec(spec)


def test_a_qat_ladder_needs_wsd_schedules():
    with pytest.raises(SpecError, match="needs wsd schedules"):
        load_spec({**SPEC, "schedules": [{"kind": "cosine", "peak": 3e-3}]})


@pytest.fixture(scope="module")
def ladder(tmp_path_factory):
    """The SPEC ladder trained in this process, counting the updates each run dispatches."""
    out = tmp_path_factory.mktemp("qat") / "shared"
    counts = {}
    real = ladders.train.dispatch

    def counting(train_steps, params, opt_state, corpus, mixture, config, lrs, step, n, mesh):
        counts[config.run] = counts.get(config.run, 0) + n
        return real(train_steps, params, opt_state, corpus, mixture, config, lrs, step, n, mesh)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ladders.train, "dispatch", counting)
        status = run_ladder(SPEC, out, max_workers=1, progress=False)
    return out, status, counts


def test_trunk_is_trained_once_and_forks_equal_training_from_scratch(ladder, tmp_path):
    out, status, counts = ladder
    assert (status.status == "done").all(), status
    runs = load_spec(SPEC).runs()
    trunk = by_kind(runs)["trunk"][0]
    assert counts[trunk.run] == trunk.steps == 48
    for r in runs:                                    # every run trains only from its fork on
        assert counts[r.run] == r.steps - (r.parent["step"] if r.parent else 0)
    assert sum(counts.values()) == branches.compute(runs)["trained"] == 180 < branches.compute(runs)["from_scratch"]
    # the same ladder without shared trunks gives the same final validation losses, bit for bit
    # (the `train` rows average the updates since the previous evaluation or the fork: they differ)
    plain = run_ladder(with_qat(share_trunks=False), tmp_path, max_workers=1, progress=False)
    assert (plain.status == "done").all()
    final = lambda rows: (rows[(rows.step == rows.steps_total) & (rows.dataset != "train")]
                          .set_index(["run", "dataset"]).loss.sort_index())
    pd.testing.assert_series_equal(final(read_ladder_runs(tmp_path)),
                                   final(read_ladder_runs(out).query("run_kind != 'trunk'")))


def test_rows_carry_bits_and_qat_fraction(ladder):
    out, _, _ = ladder
    rows = read_ladder_runs(out)
    for col in ("bits", "qat_fraction", "qat_fraction_target", "embed_bits", "qat_pipeline", "run_kind", "parent"):
        assert col in rows.columns
    fp = rows[rows.run_kind != "qat"]
    assert (fp.bits == 16).all() and (fp.qat_fraction == 0).all() and (fp.embed_bits == 16).all()
    qat = rows[(rows.run_kind == "qat") & (rows.step == rows.steps_total)]
    assert len(qat) == 4 * 5 and (qat.bits == 2).all() and (qat.embed_bits == 4).all()
    np.testing.assert_allclose(qat.qat_fraction, qat.qat_fraction_target)   # 16 of 64 and 32 of 64 updates
    assert set(qat.qat_fraction) == {0.25, 0.5} and set(qat.qat_pipeline) == {"classic", "fused"}
    # rows logged before a run's QAT phase measure the FP model
    early = rows[(rows.run_kind == "qat") & (rows.step < rows.steps_total)]
    assert (early.bits == 16).all() and (early.qat_fraction == 0).all()
    # the logged learning rate is the schedule's, per step
    for run, r in rows.groupby("run"):
        np.testing.assert_array_equal(r.lr, lr_array(r.schedule.iloc[0], int(r.steps_total.iloc[0]))[r.step - 1])
    # QAT costs loss at 2 bits: every QAT run ends above the FP reference
    val = rows[(rows.dataset == "validation") & (rows.step == rows.steps_total) & (rows.tokens == 64 * 4 * 16)]
    ref = val[val.run_kind == "fp"].loss.iloc[0]
    assert (val[val.run_kind == "qat"].loss > ref).all()


def test_a_killed_ladder_resumes_where_it_stopped(ladder, tmp_path):
    out, _, _ = ladder
    runs = load_spec(SPEC).runs()
    kinds = by_kind(runs)
    # killed in the trunk, after its first fork point
    partial = train_run(kinds["trunk"][0], tmp_path, progress=False, stop_at_step=24)
    assert partial["status"] == "running" and partial["step"] == 24
    assert ladder_status(tmp_path).status.tolist() == ["partial"]
    # ... then a QAT run killed in its QAT phase (fused, f = 0.5: QAT from step 32, evaluations at 48)
    fused = next(r for r in kinds["fused"] if r.quant["fraction"] == 0.5)
    cut = RunConfig.from_dict({**fused.to_dict(), "eval_every": 8})
    # (another eval_every is another run: train it under its own folder, from scratch)
    cut = RunConfig.from_dict({**cut.to_dict(), "parent": None})
    assert train_run(cut, tmp_path / "cut", progress=False, stop_at_step=48)["step"] == 48
    resumed = train_run(cut, tmp_path / "cut", progress=False)
    assert resumed["status"] == "done"
    rows = read_rows(tmp_path / "cut" / cut.run)
    assert rows.step.tolist() == sorted(rows.step) and not rows.duplicated(["step", "dataset"]).any()
    assert rows.groupby("step").bits.first().to_dict() == {8: 16, 16: 16, 24: 16, 32: 16, 40: 2, 48: 2, 56: 2, 64: 2}
    # killed-and-resumed, from scratch, equals the ladder's run forked from the trunk
    done = read_rows(out / fused.run)
    final = lambda r: r[(r.step == 64) & (r.dataset != "train")].set_index("dataset").loss.sort_index()
    pd.testing.assert_series_equal(final(rows), final(done))
    # the whole ladder now resumes: it finishes the trunk and trains the rest; rows as uninterrupted
    status = run_ladder(SPEC, tmp_path, max_workers=1, progress=False)
    assert (status.status == "done").all()
    key = ["run", "step", "dataset"]
    pd.testing.assert_frame_equal(read_ladder_runs(tmp_path).sort_values(key).reset_index(drop=True),
                                  read_ladder_runs(out).sort_values(key).reset_index(drop=True))
    # finished runs are skipped
    assert run_ladder(SPEC, tmp_path, max_workers=1, progress=False).status.eq("done").all()


def test_a_diverged_trunk_fails_its_children_with_a_reason(tmp_path):
    spec = copy.deepcopy(SPEC)
    spec["schedules"][0]["peak"] = 1e8
    spec["qat"]["qat_peak"] = 1e8
    status = run_ladder(spec, tmp_path, max_workers=1, progress=False).set_index("run")
    trunk = by_kind(load_spec(spec).runs())["trunk"][0].run
    assert status.status[trunk] == "diverged"
    children = status.drop(trunk)
    assert (children.status == "failed").all()
    assert children.error.str.contains("parent run").all() and children.error.str.contains("diverged").any()


def test_the_shipped_cpu_qat_ladder_spans_the_issue_grid():
    """scaling.qat_ladder() (data/qat_ladder.md): S = D / (N B / 8) from about 50 to 20,000 with
    N and B varied, bits {2, 4, 6}, six fractions, both pipelines, two seeds or more, FP rows."""
    import scaling
    rows = scaling.qat_ladder()
    final = rows[(rows.dataset == "validation") & (rows.step == rows.steps_total)]
    qat = final[final.run_kind == "qat"]
    s = qat.tokens / (qat.params * qat.bits / 8)
    assert 40 < s.min() < 60 and 15_000 < s.max() < 25_000
    assert qat.params.nunique() >= 3 and set(qat.bits) == {2, 4, 6} and qat.qat_fraction_target.nunique() == 6
    assert set(qat.qat_pipeline) == {"classic", "fused"} and qat.seed.nunique() >= 2
    cells = qat.groupby(["params", "tokens", "bits", "qat_pipeline", "seed"]).qat_fraction_target.nunique()
    assert (cells == 6).all()
    np.testing.assert_allclose(qat.qat_fraction, qat.qat_fraction_target, atol=0.002)
    fp = final[final.run_kind == "fp"]
    assert (fp.qat_fraction == 0).all() and (fp.bits == 16).all()
    assert set(map(tuple, qat[["params", "tokens"]].values)) <= set(map(tuple, fp[["params", "tokens"]].values))
    assert (rows.status == "done").all() and np.isfinite(rows.loss).all()
