"""`scaling demo` end to end on a tiny ladder (the real demo takes minutes; `run_demo(spec=...)`
swaps in a ladder that trains in seconds): report files and their numbers, resume without
retraining, the CLI path with spawned workers, exit codes."""
import json
import subprocess
import sys

import pytest

from scaling.demo import run_demo

TINY = {
    "name": "tiny-demo",
    "sizes": [{"width": 16, "depth": 1, "heads": 2}, {"width": 32, "depth": 1, "heads": 2},
              {"width": 32, "depth": 2, "heads": 2}],
    "model": {"context": 32},
    "budget": {"tokens": [8 * 8 * 32, 16 * 8 * 32]},
    "train": {"batch_size": 8, "eval_every": 8, "eval_windows": 16, "steps_per_dispatch": 4},
}
HELD_OUT = [{"width": 48, "depth": 2, "heads": 2}]


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "scaling.cli", *args], capture_output=True, text=True, timeout=timeout)


def _files(out):
    """mtime of every file a run writes (rows, status, config) of every run directory."""
    return {p: p.stat().st_mtime_ns for p in out.glob("*/*/**/*") if p.is_file()}


@pytest.mark.slow
def test_tiny_demo_report_and_resume(tmp_path):
    out = tmp_path / "demo"
    report = run_demo(out, spec=TINY, held_out_sizes=HELD_OUT, workers=1, progress=False, bootstrap=40)
    for name in ("report.md", "report.json", "fit.json", "ladder/ladder.json"):
        assert (out / name).is_file(), name
    for name in ("fit", "residuals", "isoflops", "extrapolation", "loss_curves"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000, name
    assert json.loads((out / "report.json").read_text()) == report

    # the ladder: 6 runs, all finished and fitted, the held-out run not among them
    ladder, held = report["ladder"], report["held_out"]
    assert ladder["n_runs"] == ladder["n_fitted"] == 6 and ladder["not_fitted"] == []
    assert held["run"] not in {r["run"] for r in ladder["runs"]}
    assert report["fit"]["n_points"] == 6 and report["fit"]["uncertainty"] == "bootstrap"
    assert report["fit"]["n_samples"] == 40
    assert held["status"] == "done" and held["flops_multiple_of_largest_fitted"] >= 4
    assert held["params"] > max(r["params"] for r in ladder["runs"])
    # final validation points only: each fitted loss is the run's last validation row
    from ladders import read_ladder_runs
    rows = read_ladder_runs(out / "ladder")
    for r in ladder["runs"]:
        last = rows[(rows.run == r["run"]) & (rows.dataset == "validation")].sort_values("step").iloc[-1]
        assert r["loss"] == pytest.approx(last["loss"]) and r["step"] == r["steps"] == last["step"]

    # prediction vs measurement, with the interval and the relative error
    p = report["prediction"]
    lo, hi = p["interval"]
    assert lo <= p["loss"] <= hi and p["level"] == 0.95
    assert p["measured"] == pytest.approx(held["loss"]) and p["measured"] > 0
    assert p["relative_error"] == pytest.approx((p["loss"] - p["measured"]) / p["measured"])
    assert p["inside_interval"] == (lo <= p["measured"] <= hi)
    # the plan at 10x and 100x the held-out run's FLOPs
    assert [q["multiple_of_held_out"] for q in report["plan"]] == [10, 100]
    for q in report["plan"]:
        assert q["flops"] == pytest.approx(q["multiple_of_held_out"] * held["flops"])
        if "error" not in q:
            assert q["params"] > 0 and q["tokens"] > 0 and len(q["loss_interval"]) == 2

    md = (out / "report.md").read_text()
    for text in ("## Ladder", "## Fit", "## Held-out run", "## Plan", "![extrapolation](figures/extrapolation.png)",
                 f"{100 * p['relative_error']:+.2f} %", f"{p['loss']:.4f}", held["run"]):
        assert text in md, text

    # a second call reuses every finished run: nothing is retrained or rewritten
    before = _files(out / "ladder") | _files(out / "held-out")
    again = run_demo(out, spec=TINY, held_out_sizes=HELD_OUT, workers=1, progress=False, bootstrap=40)
    assert again["demo"]["runs_trained_now"] == [] and len(report["demo"]["runs_trained_now"]) == 7
    assert again["demo"]["seconds"]["train"] < 5
    assert before == _files(out / "ladder") | _files(out / "held-out")
    assert again["prediction"] == report["prediction"] and again["plan"] == report["plan"]

    # another training seed: other runs beside the first seed's, which are neither retrained nor read
    other = run_demo(out, spec=TINY, held_out_sizes=HELD_OUT, workers=1, progress=False, bootstrap=40, ladder_seed=1)
    assert other["demo"]["seed"] == 1 and report["demo"]["seed"] == 0
    assert len(other["demo"]["runs_trained_now"]) == 7 and other["ladder"]["n_fitted"] == 6
    assert {r["run"] for r in other["ladder"]["runs"]}.isdisjoint({r["run"] for r in ladder["runs"]})
    assert before.items() <= (_files(out / "ladder") | _files(out / "held-out")).items()

    # the ladder CLI reads the demo's ladder
    status = _cli("ladder", "status", str(out / "ladder"), "--json")
    assert status.returncode == 0, status.stderr
    runs = json.loads(status.stdout)["runs"]
    assert len(runs) == 12 and {r["status"] for r in runs} == {"done"}


@pytest.mark.slow
def test_demo_cli_spawned_workers_json(tmp_path):
    """The console path: `python -m scaling.cli demo` with 2 spawned worker processes (the held-out
    run shares the pool with the ladder); stdout is exactly report.json."""
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(TINY))
    out = tmp_path / "demo"
    done = _cli("demo", "--spec", str(spec), "--out", str(out), "--workers", "2", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout) == json.loads((out / "report.json").read_text())
    assert len(done.stdout.strip().splitlines()) == 1
    report = json.loads(done.stdout)
    assert report["ladder"]["n_fitted"] == 6 and report["held_out"]["status"] == "done"
    assert report["prediction"]["relative_error"] is not None
    # text summary on a re-run (nothing trained)
    text = _cli("demo", "--spec", str(spec), "--out", str(out), "--workers", "2")
    assert text.returncode == 0, text.stderr[-3000:]
    assert "0 runs trained now" in text.stdout and "relative error" in text.stdout


def test_demo_help_and_bad_out(tmp_path):
    helped = _cli("demo", "--help", timeout=60)
    assert helped.returncode == 0 and "--quick" in helped.stdout and "--out" in helped.stdout
    assert "--spec" not in helped.stdout        # the test hook stays hidden
    a_file = tmp_path / "report.txt"
    a_file.write_text("not a directory")
    bad = _cli("demo", "--quick", "--out", str(a_file), timeout=60)
    assert bad.returncode == 2 and bad.stdout == ""
    assert "error:" in bad.stderr and "not a directory" in bad.stderr and str(a_file) in bad.stderr
    assert a_file.read_text() == "not a directory"
    below = _cli("demo", "--out", str(a_file / "sub"), timeout=60)
    assert below.returncode == 2 and "cannot create" in below.stderr


def test_ladder_status_cli_missing_dir(tmp_path):
    done = _cli("ladder", "status", str(tmp_path / "nope"), timeout=60)
    assert done.returncode == 2 and "no ladder directory" in done.stderr


def test_demo_bad_spec_and_workers(tmp_path):
    from scaling import InputError
    with pytest.raises(InputError, match="sizes"):
        run_demo(tmp_path / "a", spec={**TINY, "sizes": []}, progress=False)
    with pytest.raises(InputError, match="workers"):
        run_demo(tmp_path / "b", spec=TINY, held_out_sizes=HELD_OUT, workers=0, progress=False)


def test_ladder_run_and_status_cli(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text('name = "cli"\nsizes = [{width = 16, depth = 1, heads = 2}]\n[model]\ncontext = 32\n'
                    '[budget]\ntokens = [2048, 4096]\n'
                    '[train]\nbatch_size = 8\neval_every = 8\neval_windows = 16\nsteps_per_dispatch = 4\n')
    out = tmp_path / "ladder"
    done = _cli("ladder", "run", str(spec), "--out", str(out), "--workers", "1", "--json", timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads(done.stdout)["runs"]
    assert len(runs) == 2 and {r["status"] for r in runs} == {"done"} and sorted(r["steps"] for r in runs) == [8, 16]
    status = _cli("ladder", "status", str(out), timeout=60)
    assert status.returncode == 0 and all(r["run"] in status.stdout for r in runs) and "done" in status.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('sizes = [{width = 16, depth = 1, heads = 2}]\ncolour = "red"\n[budget]\ntokens = [2048]\n')
    refused = _cli("ladder", "run", str(bad), "--out", str(tmp_path / "x"), timeout=60)
    assert refused.returncode == 2 and "colour" in refused.stderr
