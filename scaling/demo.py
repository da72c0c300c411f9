"""``scaling demo``: the toolkit's main job end to end on the embedded default corpus.

1. Train the demo ladder (:func:`ladders.presets.demo_spec`: 4 sizes x 3 token budgets) and one
   held-out larger run (:func:`ladders.presets.held_out_run`: >= 4x the FLOPs of the largest
   ladder run) into ``<out>/ladder/`` and ``<out>/held-out/``.  Finished runs are reused, so a
   second call with the same ``out_dir`` retrains nothing; an interrupted one resumes.
2. Take each finished run's final validation loss (nats/token; ``dataset="validation"``, the
   domain losses averaged with the training mixture's weights).
3. Fit the Chinchilla law ``L = E + A/N^alpha + B/D^beta`` to the ladder's final points (not the
   held-out run) with a row bootstrap, predict the held-out run with an interval, compare.
4. Plan compute-optimal N and D at 10x and 100x the held-out run's FLOPs.
5. Write ``report.md``, ``report.json`` (the same numbers) and PNG figures in ``figures/``.

Layout of ``out_dir``::

    ladder/<run>/...       the ladder's runs (``scaling ladder status <out>/ladder``)
    held-out/<run>/...     the held-out run (``scaling ladder status <out>/held-out``)
    figures/*.png          fit, residuals, isoflops, extrapolation (scaling.plots), loss_curves
    report.md, report.json, fit.json (the full FitResult, for ``scaling predict/plan fit.json``)

The worker processes use the ``spawn`` start method; this module has no import-time side effects,
so it is safe in ``scaling demo`` and in scripts (which still need ``if __name__ == "__main__":``).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd

from .errors import InputError
from .runs import final_rows

PLAN_MULTIPLES = (10, 100)          # plan at these multiples of the held-out run's FLOPs
BOOTSTRAP = 200
DATASET = "validation"
REPORT_JSON, REPORT_MD, FIT_JSON, FIGURES = "report.json", "report.md", "fit.json", "figures"


def run_demo(out_dir="demo-out", quick: bool = False, workers: int | None = None, progress: bool = True, *,
             spec=None, held_out_sizes=None, bootstrap: int = BOOTSTRAP, seed: int = 0,
             ladder_seed: int | None = None) -> dict:
    """Train, fit, predict, compare, plan, report (module docstring); return the report dict.

    out_dir: where runs, figures and the report go (created; reused runs are not retrained).
    quick: the quick preset (smaller token budgets; < 3 min on 2 CPU cores).
    workers: worker processes (default: one per CPU core, at most 8; 1 trains in this process).
    progress: progress bars on stderr.
    spec, held_out_sizes: for tests and experiments: a ladder spec (dict, TOML path or text)
    replacing the preset, and the candidate sizes of the held-out run (see ``held_out_run``).
    bootstrap, seed: of the Chinchilla fit.
    ladder_seed: the training seed of every run, ladder and held-out (default: the spec's, 0 for the
        presets); runs of other seeds in ``out_dir`` are kept and not read.
    """
    from ladders import SpecError, load_spec
    from ladders.presets import demo_spec, held_out_run

    started = time.time()
    out = _prepare_out(out_dir)
    try:
        ladder_spec = load_spec(spec if spec is not None else demo_spec(quick))
        if ladder_seed is not None:
            ladder_spec.seeds = [int(ladder_seed)]
        held = held_out_run(ladder_spec, sizes=held_out_sizes, run=None)
    except (SpecError, ValueError) as e:
        raise InputError(f"demo ladder: {e}") from None
    if workers is not None and int(workers) < 1:
        raise InputError(f"--workers {workers}: give a positive number of worker processes")

    seconds = {}
    t = time.time()
    trained = _train(ladder_spec, held, out, workers, progress)
    seconds["train"] = time.time() - t

    ladder, held_row = _read(out, ladder_spec, held)
    used = ladder[ladder["used_in_fit"]]
    if len(used) < 5:
        raise InputError(f"only {len(used)} ladder runs finished (need >= 5 for the 5 Chinchilla parameters); "
                         f"not finished: {_not_finished(ladder)}; see `scaling ladder status {out / 'ladder'}`")

    from .fit import fit
    from .plan import plan
    t = time.time()
    # the fit's warnings go to stderr as usual and are kept in fit.diagnostics["warnings"] (the report)
    result = fit("chinchilla", used[["run", "params", "tokens", "flops", "loss"]], bootstrap=bootstrap,
                 seed=seed, progress=progress)
    result.to_json(out / FIT_JSON)
    seconds["fit"] = time.time() - t

    prediction = _predict(result, held_row)
    plans = []
    for multiple in PLAN_MULTIPLES:
        budget = multiple * held_row["flops"]
        try:
            plans.append({"multiple_of_held_out": multiple, **plan(result, flops=budget)})
        except InputError as e:
            plans.append({"multiple_of_held_out": multiple, "flops": budget, "error": str(e)})

    t = time.time()
    figures = _figures(result, out, ladder, used, held_row)
    seconds["figures"] = time.time() - t
    seconds["total"] = time.time() - started

    largest = float(used["flops"].max())
    from .result import json_safe
    report = json_safe({
        "demo": {"preset": None if spec is not None else ("quick" if quick else "default"),
                 "ladder": ladder_spec.name, "seed": ladder_spec.seeds[0], "out_dir": str(out),
                 "python": sys.version.split()[0],
                 "dataset": DATASET, "loss_units": "nats per token", "flops_accounting": "C = 6 N D",
                 "runs_trained_now": trained, "seconds": seconds},
        "ladder": {"runs": ladder.to_dict(orient="records"), "n_runs": len(ladder), "n_fitted": len(used),
                   "not_fitted": _not_finished(ladder)},
        "held_out": {**held_row, "flops_multiple_of_largest_fitted": held_row["flops"] / largest},
        "fit": {**result.to_dict(full=False), "summary": result.summary()},
        "prediction": prediction,
        "plan": plans,
        "figures": {k: str(Path(v).relative_to(out)) for k, v in figures.items()},
    })
    _write_atomic(out / REPORT_JSON, json.dumps(report, indent=1) + "\n")
    _write_atomic(out / REPORT_MD, report_markdown(report))
    return report


# -- steps ----------------------------------------------------------------------------------------

def _prepare_out(out_dir) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory; give a directory (created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise InputError(f"--out {out}: cannot create or write the directory ({e.strerror or e})") from None
    return out


def _finished(run_dir: Path) -> bool:
    from ladders import runlog
    from ladders.execute import FINISHED
    status = runlog.read_status(run_dir)
    return bool(status) and status["status"] in FINISHED


def _train(spec, held, out: Path, workers, progress: bool) -> list:
    """Train every unfinished ladder run and the held-out run; return the ids trained now.

    With several workers the held-out run (the longest) goes first into the same process pool
    as the ladder, so it trains while the ladder's runs fill the other workers.
    """
    import concurrent.futures as cf
    import multiprocessing

    from ladders import run_ladder, train_run
    from ladders.corpus import load_corpus
    from ladders.execute import _init_worker, _record_failure, default_workers

    ladder_dir, held_dir = out / "ladder", out / "held-out"
    todo = [r.run for r in spec.runs() if not _finished(ladder_dir / r.run)]
    held_todo = not _finished(held_dir / held.run)
    if held_todo:
        todo.append(held.run)
    if not todo:
        run_ladder(spec, ladder_dir, max_workers=1, progress=False)    # records ladder.json only
        return []
    corpus = load_corpus(spec.corpus_spec())        # built (or checked) once, before any worker starts
    workers = int(workers or default_workers())
    if workers == 1 or len(todo) == 1:
        run_ladder(spec, ladder_dir, max_workers=1, progress=progress, corpus=corpus)
        if held_todo:
            try:
                train_run(held, held_dir, progress=progress, corpus=corpus)
            except Exception as e:  # noqa: BLE001 - recorded like a ladder run's failure, reported
                _record_failure(held_dir, held.run, e)
        return todo
    pool = cf.ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                                  mp_context=multiprocessing.get_context("spawn"))
    try:
        future = pool.submit(train_run, held.to_dict(), str(held_dir), False) if held_todo else None
        if progress and held_todo:
            print(f"held-out run {held.run} trains in a worker beside the ladder", file=sys.stderr)
        run_ladder(spec, ladder_dir, executor=pool, progress=progress, corpus=corpus)
        if future is not None:
            _wait_with_bar(future, held_dir / held.run, held.run, held.steps, progress)
            try:
                future.result()
            except Exception as e:  # noqa: BLE001
                _record_failure(held_dir, held.run, e)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return todo


def _wait_with_bar(future, run_dir: Path, name: str, steps: int, progress: bool) -> None:
    """Wait for a run in a worker, showing its steps from its status file."""
    import concurrent.futures as cf

    from ladders import runlog
    from ladders.progress import progress_bar
    if not progress:
        cf.wait([future])
        return
    status = runlog.read_status(run_dir) or {}
    bar = progress_bar(total=steps, initial=status.get("step", 0), desc=name, unit="step")
    try:
        while not future.done():
            cf.wait([future], timeout=1.0)
            status = runlog.read_status(run_dir) or {}
            bar.update(max(0, status.get("step", 0) - bar.n))
    finally:
        bar.close()


def _final_rows(out: Path, ids: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(status of each run in ``ids``, the last validation row of each run with rows)."""
    from ladders import ladder_status, read_ladder_runs
    status = ladder_status(out).set_index("run").reindex(ids)
    status["status"] = status["status"].fillna("pending")
    rows = read_ladder_runs(out)
    if rows.empty:
        return status, rows
    rows = rows[rows["run"].isin(ids) & (rows["dataset"] == DATASET)]
    # Final points only: under a cosine schedule the LR has not decayed at intermediate steps, so
    # an intermediate loss is not the loss of a run trained for that many tokens (it is above it);
    # only the end of each run is a compute-optimal-style point (see scaling.runs.final_rows).
    final = final_rows(rows).set_index("run")
    return status, final


def _read(out: Path, spec, held) -> tuple[pd.DataFrame, dict]:
    """The ladder table (one row per run, finished or not) and the held-out run's row."""
    ids = [r.run for r in spec.runs()]
    status, final = _final_rows(out / "ladder", ids)
    table = []
    for run in ids:
        s = status.loc[run]
        done = s["status"] == "done" and run in final.index and int(final.loc[run, "step"]) == int(s["steps"])
        row = {"run": run, "status": s["status"], "width": _int(s["width"]), "depth": _int(s["depth"]),
               "heads": _int(s["heads"]), "params": _num(s["params"]), "tokens": _num(s["tokens"]),
               "flops": None, "loss": None, "step": _int(s["step"]), "steps": _int(s["steps"]),
               "used_in_fit": bool(done), "error": s["error"] if isinstance(s["error"], str) else None}
        if done:
            f = final.loc[run]
            row.update(params=float(f["params"]), tokens=float(f["tokens"]), flops=float(f["flops"]),
                       loss=float(f["loss"]))
        elif s["status"] == "diverged":
            row["error"] = row["error"] or f"diverged at step {row['step']} (non-finite loss)"
        if row["params"] and row["tokens"]:
            row["tokens_per_param"] = row["tokens"] / row["params"]
        table.append(row)
    ladder = pd.DataFrame(table)

    hstatus, hfinal = _final_rows(out / "held-out", [held.run])
    s = hstatus.loc[held.run]
    from ladders.model import param_counts
    n = float(param_counts(held.model)["non_embedding"])
    d = float(held.steps * held.tokens_per_step)
    held_row = {"run": held.run, "status": s["status"], "width": held.model.width, "depth": held.model.depth,
                "heads": held.model.heads, "params": n, "tokens": d, "flops": 6.0 * n * d, "loss": None,
                "error": s["error"] if isinstance(s["error"], str) else None}
    if s["status"] == "done" and held.run in hfinal.index:
        f = hfinal.loc[held.run]
        held_row.update(params=float(f["params"]), tokens=float(f["tokens"]), flops=float(f["flops"]),
                        loss=float(f["loss"]))
    return ladder, held_row


def _predict(result, held_row: dict) -> dict:
    pred = result.predict(pd.DataFrame({"params": [held_row["params"]], "tokens": [held_row["tokens"]]})).iloc[0]
    p, lo, hi = float(pred["loss_pred"]), float(pred["loss_lo"]), float(pred["loss_hi"])
    out = {"loss": p, "interval": [lo, hi] if np.isfinite(lo) and np.isfinite(hi) else None,
           "level": result.level, "uncertainty": f"{result.uncertainty} (parameter uncertainty only)",
           "measured": held_row["loss"], "error": None, "relative_error": None, "inside_interval": None}
    measured = held_row["loss"]
    if measured is not None:
        out.update(error=p - measured, relative_error=(p - measured) / measured,
                   inside_interval=None if out["interval"] is None else bool(lo <= measured <= hi))
    return out


def _not_finished(ladder: pd.DataFrame) -> list:
    return [{"run": r.run, "status": r.status, "error": r.error} for r in ladder.itertuples() if not r.used_in_fit]


def _figures(result, out: Path, ladder: pd.DataFrame, used: pd.DataFrame, held_row: dict) -> dict:
    """The report figures: scaling.plots' four (when that module is present) and the loss curves."""
    fig_dir = out / FIGURES
    fig_dir.mkdir(exist_ok=True)
    written = {}
    held = None
    if held_row["loss"] is not None:
        held = pd.DataFrame([{k: held_row[k] for k in ("params", "tokens", "flops", "loss")}])
    try:
        from .plots import save_report_figures
    except ImportError:
        save_report_figures = None
    if save_report_figures is not None:
        written.update(save_report_figures(result, fig_dir, runs=used[["params", "tokens", "flops", "loss"]],
                                           held_out=held))
    written["loss_curves"] = _loss_curves(out, fig_dir / "loss_curves.png", ladder, held_row)
    return written


def _loss_curves(out: Path, path: Path, ladder: pd.DataFrame, held_row: dict) -> Path:
    """Validation loss vs tokens of every run (ladder coloured by N; the held-out run in red)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ladders import read_ladder_runs

    from .plots import STYLE, plot_loss_curves
    curves = []
    for directory, runs in ((out / "ladder", list(ladder["run"])), (out / "held-out", [held_row["run"]])):
        rows = read_ladder_runs(directory)
        if not rows.empty:
            curves.append(rows[rows["run"].isin(runs)])
    with mpl.rc_context(STYLE):
        fig = Figure(layout="constrained")
        FigureCanvasAgg(fig)
        plot_loss_curves(pd.concat(curves), dataset=DATASET, highlight={held_row["run"]: "held-out run"}, ax=fig.add_subplot())
        fig.axes[0].set_title("loss curves (cosine schedule; only final points are fitted)")
        fig.savefig(path, dpi=120)
    return path


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _int(v):
    return None if v is None or (isinstance(v, float) and not np.isfinite(v)) or pd.isna(v) else int(v)


def _num(v):
    return None if v is None or pd.isna(v) else float(v)


# -- text -----------------------------------------------------------------------------------------

def _g(v, fmt=".4g") -> str:
    return "-" if v is None else format(v, fmt)


def _interval(v, fmt=".4g") -> str:
    return "-" if not v else f"[{v[0]:{fmt}}, {v[1]:{fmt}}]"


def _prediction_line(report: dict) -> str:
    p, h = report["prediction"], report["held_out"]
    line = f"predicted {p['loss']:.4f} {_interval(p['interval'])}"
    if p["measured"] is None:
        return line + f"; measured: none (held-out run {h['status']}{': ' + h['error'] if h.get('error') else ''})"
    inside = {True: "inside", False: "OUTSIDE", None: "no"}[p["inside_interval"]]
    return (line + f"; measured {p['measured']:.4f}; relative error {100 * p['relative_error']:+.2f} %"
            f" ({inside} the {100 * p['level']:g} % interval)")


def summary_text(report: dict) -> str:
    """A few lines for the terminal."""
    d, lad, h, fit = report["demo"], report["ladder"], report["held_out"], report["fit"]
    params = ", ".join(f"{k}={v:.4g}" for k, v in fit["params"].items())
    lines = [f"scaling demo ({d['preset'] or d['ladder']}): {lad['n_fitted']} of {lad['n_runs']} ladder runs fitted, "
             f"{len(d['runs_trained_now'])} runs trained now, {d['seconds']['total']:.0f} s; report in {d['out_dir']}",
             f"chinchilla fit ({fit['uncertainty']}, {fit['n_samples']} resamples): {params}"]
    for r in lad["not_fitted"]:
        lines.append(f"  not fitted: {r['run']} ({r['status']}{': ' + r['error'] if r['error'] else ''})")
    lines.append(f"held-out run {h['run']} (N={h['params']:.4g}, D={h['tokens']:.4g}, "
                 f"{h['flops_multiple_of_largest_fitted']:.1f}x the largest fitted run's FLOPs): " + _prediction_line(report))
    for p in report["plan"]:
        if p.get("error"):
            lines.append(f"plan at {p['multiple_of_held_out']}x: {p['error']}")
        else:
            lines.append(f"plan at {p['multiple_of_held_out']}x ({p['flops']:.3g} FLOPs): N={p['params']:.3g} "
                         f"{_interval(p['params_interval'], '.3g')}, D={p['tokens']:.3g} "
                         f"{_interval(p['tokens_interval'], '.3g')}, loss {p['loss']:.4f} {_interval(p['loss_interval'])}")
    return "\n".join(lines)


def report_markdown(report: dict) -> str:
    """report.md: the ladder table, the fit, prediction vs measurement, the plan, the figures."""
    d, lad, h, fit, p = report["demo"], report["ladder"], report["held_out"], report["fit"], report["prediction"]
    out = [f"# Scaling demo: {d['ladder']}", "",
           f"Ladder trained on the embedded default corpus (Python {d['python']} standard library) on "
           f"{'this machine' if d['runs_trained_now'] else 'an earlier call (runs reused)'}; loss is the "
           f"final `{d['dataset']}` loss in {d['loss_units']}; FLOPs: {d['flops_accounting']} (N non-embedding "
           f"parameters, D tokens).  Wall time of this call: {d['seconds']['total']:.0f} s "
           f"(training {d['seconds']['train']:.0f} s, fit {d['seconds']['fit']:.0f} s).", "",
           "## Ladder", "",
           "Only each run's final point is fitted: under the cosine schedule an intermediate point has not "
           "had its learning rate decayed, so it sits above the loss of a run trained for that many tokens "
           "(Hoffmann et al. 2022, Approach 3, also fits final losses).", "",
           "| run | width x depth | N | D | D/N | FLOPs | final loss | status |",
           "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in lad["runs"]:
        out.append(f"| `{r['run']}` | {r['width']} x {r['depth']} | {_g(r['params'])} | {_g(r['tokens'])} | "
                   f"{_g(r.get('tokens_per_param'), '.3g')} | {_g(r['flops'], '.3g')} | {_g(r['loss'], '.4f')} | "
                   f"{r['status'] + ('' if r['used_in_fit'] else ' (not fitted)')} |")
    if lad["not_fitted"]:
        out += ["", "Runs not fitted (diverged, failed or unfinished):", ""]
        out += [f"- `{r['run']}`: {r['status']}" + (f" - {r['error']}" if r["error"] else "") for r in lad["not_fitted"]]
    out += ["", "## Fit", "", "```", fit["summary"], "```", "",
            "## Held-out run: prediction vs measurement", "",
            f"`{h['run']}`: width {h['width']}, depth {h['depth']}, N = {h['params']:.4g}, D = {h['tokens']:.4g}, "
            f"C = {h['flops']:.3g} FLOPs ({h['flops_multiple_of_largest_fitted']:.1f}x the largest fitted run), "
            f"status {h['status']}.", "",
            "| predicted | interval | measured | relative error | inside interval |", "|---:|---|---:|---:|---|",
            f"| {p['loss']:.4f} | {_interval(p['interval'])} ({100 * p['level']:g} %, {p['uncertainty']}) | "
            f"{_g(p['measured'], '.4f')} | "
            f"{'-' if p['relative_error'] is None else format(100 * p['relative_error'], '+.2f') + ' %'} | "
            f"{ {True: 'yes', False: 'no', None: '-'}[p['inside_interval']] } |", "",
            "## Plan", "", "Compute-optimal allocation (C = 6 N D) from the fit, with intervals over its bootstrap.", "",
            "| budget | FLOPs | N | D | D/N | loss |", "|---|---:|---|---|---:|---|"]
    for q in report["plan"]:
        if q.get("error"):
            out.append(f"| {q['multiple_of_held_out']}x held-out | {q['flops']:.3g} | {q['error']} | | | |")
        else:
            out.append(f"| {q['multiple_of_held_out']}x held-out | {q['flops']:.3g} | {q['params']:.3g} "
                       f"{_interval(q['params_interval'], '.3g')} | {q['tokens']:.3g} {_interval(q['tokens_interval'], '.3g')} | "
                       f"{q['tokens_per_param']:.3g} | {q['loss']:.4f} {_interval(q['loss_interval'])} |")
    if report["figures"]:
        out += ["", "## Figures", ""]
        out += [f"![{name}]({path})" for name, path in report["figures"].items()]
    out += ["", f"Numbers: `{REPORT_JSON}`; full fit: `{FIT_JSON}` (`scaling predict {FIT_JSON} --params N --tokens D`).", ""]
    return "\n".join(out)
