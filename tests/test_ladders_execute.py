"""Running ladders: executors, skipping finished runs, status, SIGKILL + resume, divergence."""
import concurrent.futures as cf
import json
import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from ladders import ladder_status, read_ladder_runs, run_ladder
from ladders.runlog import read_rows

TRAIN = {"batch_size": 8, "eval_every": 8, "eval_windows": 16, "steps_per_dispatch": 4}
SPEC = {
    "name": "test",
    "sizes": [{"width": 32, "depth": 2, "heads": 2}, {"width": 32, "depth": 1, "heads": 2}],
    "model": {"context": 32},
    "budget": {"tokens": [8 * 8 * 32, 16 * 8 * 32]},
    "train": TRAIN,
}


def test_sequential_ladder_status_rows_and_skip(tmp_path):
    status = run_ladder(SPEC, tmp_path, max_workers=1, progress=False)
    assert len(status) == 4 and (status.status == "done").all()
    assert set(status.steps) == {8, 16} and status.loss.notna().all()
    rows = read_ladder_runs(tmp_path)
    assert set(rows.run) == set(status.run)
    assert len(rows) == 5 * (1 + 2 + 1 + 2)  # 5 datasets per evaluation
    for col in ["run", "params", "tokens", "flops", "step", "lr", "dataset", "loss", "mix.code", "status"]:
        assert col in rows.columns
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/rows/*.parquet")}
    start = time.time()
    again = run_ladder(SPEC, tmp_path, max_workers=1, progress=False)
    assert time.time() - start < 2 and (again.status == "done").all()
    assert mtimes == {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/rows/*.parquet")}
    # a grown spec only trains the new runs; pending runs show up in the status first
    grown = {**SPEC, "budget": {"tokens": [8 * 8 * 32, 16 * 8 * 32, 24 * 8 * 32]}}
    from ladders.spec import load_spec
    import ladders.execute as ex
    (tmp_path / ex.LADDER_FILE).write_text(json.dumps({"runs": [r.run for r in load_spec(grown).runs()]}))
    assert (ladder_status(tmp_path).status == "pending").sum() == 2


def test_custom_executor_and_divergence(tmp_path):
    """Any concurrent.futures.Executor works (here a ThreadPoolExecutor; a Dask cluster's in
    test_dask_local_cluster_executor).  A diverged run is marked and the ladder goes on."""
    spec = {**SPEC, "sizes": SPEC["sizes"][:1], "budget": {"tokens": [8 * 8 * 32]},
            "schedules": [{"kind": "cosine", "peak": 3e-3}, {"kind": "constant", "peak": 1e8}]}
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        status = run_ladder(spec, tmp_path, executor=pool, progress=False)
    assert sorted(status.status) == ["diverged", "done"]
    rows = read_ladder_runs(tmp_path)
    assert np.isfinite(rows.loss).all()
    assert (read_ladder_runs(tmp_path, include_unfinished=False).status == "done").all()


def test_sigkill_mid_ladder_then_resume_matches_uninterrupted(tmp_path):
    spec = {**SPEC, "sizes": SPEC["sizes"][:1], "budget": {"tokens": [256 * 8 * 32]}}
    run_ladder(spec, tmp_path / "ref", max_workers=1, progress=False)
    out = tmp_path / "killed"
    code = ("import json, sys; from ladders import run_ladder; "
            "run_ladder(json.loads(sys.argv[1]), sys.argv[2], max_workers=1, progress=False)")
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}  # share an accelerator, if any
    proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(spec), str(out)], env=env)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("*/rows/step-*.parquet"))) < 3:
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    status = ladder_status(out)
    assert status.status.tolist() == ["partial"] and 0 < status.step[0] < 256
    # resume in a worker process (spawned, as the default executor does)
    import multiprocessing
    from ladders.execute import _init_worker
    with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker) as pool:
        final = run_ladder(spec, out, executor=pool, progress=False)
    assert final.status.tolist() == ["done"]
    (ref_dir,) = (tmp_path / "ref").glob("w*")
    ref, resumed = read_rows(ref_dir), read_rows(out / ref_dir.name)
    assert not resumed.duplicated(["step", "dataset"]).any()
    pd.testing.assert_frame_equal(ref, resumed)


def test_failing_run_is_recorded_and_the_ladder_goes_on(tmp_path):
    texts = tmp_path / "texts"
    texts.mkdir()
    for i in range(6):
        (texts / f"f{i}.txt").write_text("some text " * 100)
    from ladders.spec import load_spec
    spec = load_spec({**SPEC, "data": {"text": {"notes": [str(p) for p in sorted(texts.glob("*.txt"))]}},
                      "sizes": SPEC["sizes"][:1], "budget": {"tokens": [8 * 8 * 32]}})
    (texts / "f0.txt").unlink()  # checked when the spec was loaded; gone when the run starts
    status = run_ladder(spec, tmp_path / "out", max_workers=1, progress=False)
    assert status.status.tolist() == ["failed"]
    assert "No such file" in status.error[0] or "FileNotFound" in status.error[0]


ABSURD_FIRST = {**SPEC, "sizes": SPEC["sizes"][:1], "budget": {"tokens": [8 * 8 * 32]},
                "schedules": [{"kind": "constant", "peak": 1e8}, {"kind": "cosine", "peak": 3e-3}]}


def test_diverged_run_then_the_ladder_goes_on_sequentially(tmp_path):
    """One after another in this process: the absurd-LR run comes first, diverges, is marked so,
    and the next run still trains to the end; a re-run retries neither."""
    from ladders.spec import load_spec
    first, second = (r.run for r in load_spec(ABSURD_FIRST).runs())
    assert "constant" in first
    status = run_ladder(ABSURD_FIRST, tmp_path, max_workers=1, progress=False).set_index("run")
    assert status.status[first] == "diverged" and status.status[second] == "done"
    assert read_rows(tmp_path / second).step.max() == 8
    assert np.isfinite(read_ladder_runs(tmp_path).loss).all()
    again = run_ladder(ABSURD_FIRST, tmp_path, max_workers=1, progress=False).set_index("run")
    assert again.status.to_dict() == status.status.to_dict()


def test_dask_local_cluster_executor(tmp_path):
    """A Dask cluster's executor is used unchanged: a local cluster with one worker process
    (functions and arguments pickled to another interpreter, as on a real cluster)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
        status = run_ladder(ABSURD_FIRST, tmp_path, executor=client.get_executor(), progress=False)
    assert sorted(status.status) == ["diverged", "done"]
    done = read_ladder_runs(tmp_path, include_unfinished=False)
    assert done.run.nunique() == 1 and done.step.max() == 8 and np.isfinite(done.loss).all()


def test_a_domain_without_text_is_a_clear_error(tmp_path):
    """A text domain whose files hold no text: the run is marked failed with a message naming it."""
    texts = tmp_path / "texts"
    texts.mkdir()
    for i in range(2):
        (texts / f"empty{i}.txt").write_text("")
    spec = {**SPEC, "sizes": SPEC["sizes"][:1], "budget": {"tokens": [8 * 8 * 32]},
            "data": {"text": {"notes": [str(p) for p in sorted(texts.glob("*.txt"))]}}}
    status = run_ladder(spec, tmp_path / "out", max_workers=1, progress=False)
    assert status.status.tolist() == ["failed"]
    assert "domain 'notes'" in status.error[0] and "empty" in status.error[0]


def _ladder_dir(tmp_path, ladder=None, config=None, status=None):
    """A ladder folder with ``ladder.json`` and run ``r1``'s files holding the given texts (None: absent)."""
    (tmp_path / "r1").mkdir(parents=True)
    for path, text in ((tmp_path / "ladder.json", ladder), (tmp_path / "r1" / "config.json", config),
                       (tmp_path / "r1" / "status.json", status)):
        if text is not None:
            path.write_text(text)
    return tmp_path


@pytest.mark.parametrize("files,names", [
    ({"ladder": '{"runs": ['}, ["ladder.json", "not valid JSON (line 1, column 11"]),
    ({"ladder": "[1, 2]"}, ["ladder.json", "not a JSON object"]),
    ({"ladder": '{"x": 1}'}, ["ladder.json", "'runs'"]),
    ({"ladder": '{"runs": "r1"}'}, ["ladder.json", "'runs'"]),
    ({"config": "nope"}, ["r1/config.json", "not valid JSON"]),
    ({"config": '{"model": 3}'}, ["r1/config.json", "'model'"]),
    ({"config": "{}", "status": "{bad"}, ["r1/status.json", "not valid JSON (line 1, column 2"]),
    ({"config": "{}", "status": '"done"'}, ["r1/status.json", "not a JSON object"]),
    ({"config": "{}", "status": '{"step": 3}'}, ["r1/status.json", "no 'status'"]),
])
def test_a_broken_ladder_folder_is_a_spec_error_naming_the_file(tmp_path, files, names):
    from ladders.spec import SpecError
    out = _ladder_dir(tmp_path / "lad", **files)
    with pytest.raises(SpecError) as e:
        ladder_status(out)
    assert all(n in str(e.value) for n in names), str(e.value)
    assert str(out) in str(e.value)


def test_a_corrupt_run_file_stops_the_ladder_before_any_run(tmp_path):
    """run_ladder reads every run's config.json and status.json before training: a corrupt one is a
    SpecError naming it, and nothing trains."""
    from ladders.spec import SpecError, load_spec
    spec = {**SPEC, "sizes": SPEC["sizes"][:1], "budget": {"tokens": [8 * 8 * 32, 16 * 8 * 32]}}
    first, second = (r.run for r in load_spec(spec).runs())
    for name, text, out in (("status.json", "{bad", tmp_path / "a"), ("config.json", "", tmp_path / "b")):
        (out / second).mkdir(parents=True)
        (out / second / name).write_text(text)
        with pytest.raises(SpecError, match=f"run {second}: .*{name} is not valid JSON"):
            run_ladder(spec, out, max_workers=1, progress=False)
        assert not (out / first).exists()


def test_a_ladder_folder_is_a_runs_table(tmp_path, capsys):
    """`scaling fit LAW DIR` and read_runs(DIR) on a ladder's --out folder read its runs' logged rows."""
    import scaling
    from scaling.cli import main
    out = tmp_path / "lad"
    run_ladder({**SPEC, "sizes": SPEC["sizes"][:1]}, out, max_workers=1, progress=False)
    rows = scaling.read_runs(out)
    assert set(rows["status"]) == {"done"} and {"run", "step", "lr", "loss", "schedule"} <= set(rows.columns)
    assert len(rows) == len(read_ladder_runs(out))
    main(["fit", "chinchilla", str(out), "--dataset", "validation", "--json"])
    err = capsys.readouterr().err
    assert "cannot read" not in err and "ladder.json" not in err and "Traceback" not in err
