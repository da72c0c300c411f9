"""The train loop: rows of the runs table, reproducibility, exact resume, divergence."""
import numpy as np
import pandas as pd
import pytest

from ladders.config import RunConfig
from ladders.model import ModelConfig, param_counts
from ladders.runlog import read_rows, read_status
from ladders.schedules import lr_array
from ladders.train import train_run

MODEL = ModelConfig(width=32, depth=2, heads=2, context=32)
BASE = dict(model=MODEL, tokens=24 * 8 * 32, batch_size=8, eval_every=8, eval_windows=16, steps_per_dispatch=4,
            schedule={"kind": "cosine", "peak": 3e-3, "warmup": 4, "floor": 3e-4},
            mixture={"code": 0.5, "prose": 0.3, "comments": 0.2})


def config(run="r", **kw):
    return RunConfig(run=run, **{**BASE, **kw})


def test_rows_have_runs_table_columns(tmp_path):
    cfg = config()
    status = train_run(cfg, tmp_path, progress=False)
    assert status["status"] == "done" and status["step"] == cfg.steps == 24
    rows = read_rows(tmp_path / "r")
    for col in ["run", "params", "tokens", "flops", "step", "lr", "dataset", "loss", "mix.code", "mix.prose",
                "mix.comments", "status"]:
        assert col in rows.columns, col
    assert len(rows) == 3 * 5
    assert set(rows.dataset) == {"train", "code", "prose", "comments", "validation"}
    n = param_counts(MODEL)["non_embedding"]
    assert (rows.params == n).all() and (rows.params_total == param_counts(MODEL)["total"]).all()
    np.testing.assert_array_equal(rows.tokens, rows.step * 8 * 32)
    np.testing.assert_allclose(rows.flops, 6.0 * n * rows.tokens)
    lrs = lr_array(cfg.schedule, 24)
    np.testing.assert_array_equal(rows.lr, lrs[rows.step - 1])
    # each row carries what is needed to rebuild the whole LR series of its run
    np.testing.assert_array_equal(lr_array(rows.schedule[0], int(rows.steps_total[0])), lrs)
    assert rows[["mix.code", "mix.prose", "mix.comments"]].iloc[0].tolist() == pytest.approx([0.5, 0.3, 0.2])
    assert np.isfinite(rows.loss).all()
    val = rows[rows.dataset == "validation"].loss.to_numpy()
    assert val[-1] < val[0] < np.log(256)
    assert rows[rows.step == 24].status.eq("done").all() and rows[rows.step < 24].status.eq("running").all()
    assert not (tmp_path / "r" / "checkpoint.npz").exists()  # a finished run drops its checkpoint
    # the same call again is a no-op: the run is done
    assert train_run(cfg, tmp_path, progress=False)["status"] == "done"
    assert len(read_rows(tmp_path / "r")) == 15


def test_seeds_make_runs_reproducible(tmp_path):
    train_run(config(), tmp_path / "a", progress=False)
    train_run(config(), tmp_path / "b", progress=False)
    train_run(config(seed=1), tmp_path / "c", progress=False)
    a, b, c = (read_rows(tmp_path / x / "r") for x in "abc")
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.loss, c.loss)


def test_killed_run_resumes_exactly(tmp_path):
    train_run(config(), tmp_path / "full", progress=False)
    partial = train_run(config(), tmp_path / "cut", progress=False, stop_at_step=8)
    assert partial["status"] == "running" and partial["step"] == 8
    assert (tmp_path / "cut" / "r" / "checkpoint.npz").exists()
    # a kill after the rows of step 16 were written but before the checkpoint: the stale
    # row file is removed on resume and redone, never duplicated
    read_rows(tmp_path / "full" / "r").query("step == 16").to_parquet(tmp_path / "cut" / "r" / "rows" / "step-00000016.parquet")
    done = train_run(config(), tmp_path / "cut", progress=False)
    assert done["status"] == "done"
    full, cut = read_rows(tmp_path / "full" / "r"), read_rows(tmp_path / "cut" / "r")
    pd.testing.assert_frame_equal(full, cut)


def test_huge_learning_rate_diverges(tmp_path):
    cfg = config(schedule={"kind": "constant", "peak": 1e8})
    status = train_run(cfg, tmp_path, progress=False)
    assert status["status"] == "diverged"
    assert read_status(tmp_path / "r")["status"] == "diverged"
    assert status["step"] <= cfg.steps
    rows = read_rows(tmp_path / "r")
    assert rows.empty or np.isfinite(rows.loss).all()
    assert train_run(cfg, tmp_path, progress=False)["status"] == "diverged"  # not retried


def test_config_clash_is_an_error(tmp_path):
    train_run(config(tokens=8 * 8 * 32), tmp_path, progress=False)
    with pytest.raises(ValueError, match="different config"):
        train_run(config(tokens=16 * 8 * 32), tmp_path, progress=False)


def test_a_run_held_by_another_process_is_left_alone(tmp_path):
    import fcntl
    from ladders.runlog import write_config
    cfg = config()
    write_config(tmp_path / "r", cfg.to_dict())
    with open(tmp_path / "r" / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # flock locks are per open file: this one blocks train_run's
        status = train_run(cfg, tmp_path, progress=False)
    assert status["busy"] and not (tmp_path / "r" / "rows").exists()
    assert train_run(cfg, tmp_path, progress=False)["status"] == "done"


def test_a_finite_blow_up_is_diverged_and_its_status_is_valid_json(tmp_path):
    """A loss far above the uniform guess's ln(vocab) (hundreds of nats, still finite) is divergence, not 'done';
    the status file stays standard JSON (a non-finite loss is null there, not NaN)."""
    import json
    cfg = config(schedule={"kind": "constant", "peak": 10.0})
    status = train_run(cfg, tmp_path, progress=False)
    assert status["status"] == "diverged"
    text = (tmp_path / "r" / "status.json").read_text()
    assert "NaN" not in text and json.loads(text)["status"] == "diverged"
    rows = read_rows(tmp_path / "r")
    assert rows.empty or (rows.loss <= 2 * np.log(cfg.model.vocab)).all()
