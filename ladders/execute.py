"""Run a ladder: every run of a spec through a ``concurrent.futures.Executor``, resumably.

:func:`run_ladder` expands the spec, records it in ``<out>/ladder.json``, skips runs that are
finished (``done`` or ``diverged``), and submits the others as ``train_run(config_dict, out)``
calls (plain, picklable arguments), so any executor works unchanged: the default local
``ProcessPoolExecutor`` (``spawn`` start method, safe with JAX), a ``ThreadPoolExecutor``, or a
cluster's executor (``dask.distributed.Client.get_executor()``, Ray's ``RayExecutor``) whose
workers see the same ``out`` directory.  With ``max_workers=1`` and no executor the runs go
one after another in this process (with a progress bar per run).  A run that raises is recorded
as ``failed`` (with the error) and the ladder goes on; a diverged run is recorded as such and
the ladder goes on.  Unfinished runs resume from their checkpoints.  A run with a ``parent``
(a QAT ladder's forks, :mod:`ladders.branches`) is started only once its parent has finished;
if the parent failed or diverged, the child is recorded as failed saying so.

:func:`ladder_status` summarises a ladder directory; :func:`read_ladder_runs` returns the rows
of all its runs as one runs-table DataFrame.
"""
from __future__ import annotations

import concurrent.futures as cf
import concurrent.futures.process  # noqa: F401 - BrokenProcessPool
import json
import multiprocessing
import os
import traceback
from pathlib import Path

import pandas as pd

from . import runlog
from .model import param_counts
from .progress import progress_bar
from .spec import SpecError, load_spec
from .train import train_run

LADDER_FILE = "ladder.json"
FINISHED = ("done", "diverged")


def _run_dirs(out_dir: Path) -> list:
    return sorted(p.parent for p in Path(out_dir).glob("*/config.json"))


def _record_failure(out_dir: Path, run: str, error: BaseException) -> None:
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    message = f"{type(error).__name__}: {error}"
    if isinstance(error, cf.process.BrokenProcessPool):
        message += (" (a worker process died: out of memory, killed, or, in a script run with the 'spawn' start"
                    " method, a missing `if __name__ == '__main__':` guard; max_workers=1 runs in-process)")
    run_dir = Path(out_dir) / run
    run_dir.mkdir(parents=True, exist_ok=True)
    runlog.write_status(run_dir, status="failed", error=message, traceback=text)


def default_workers() -> int:
    """Processes for the default executor: on CPU one per core, at most 8 (small models use
    XLA's intra-op threads poorly: on 2 cores, 2 processes ran a 12-run ladder in 81 s against
    120 s for one); on a GPU/TPU 1, i.e. the runs go one after another in this process."""
    import jax
    if jax.default_backend() != "cpu":
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def _init_worker() -> None:
    """In a worker process: let several processes share an accelerator (no 75 % preallocation)."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def run_ladder(spec, out_dir, executor: cf.Executor | None = None, progress: bool = True,
               max_workers: int | None = None, corpus=None) -> pd.DataFrame:
    """Train every unfinished run of ``spec`` (path, TOML text, dict or LadderSpec) into ``out_dir``.

    ``executor``: any ``concurrent.futures.Executor`` (not shut down here).  Without one, a local
    ``ProcessPoolExecutor(max_workers)`` is used, or, when ``max_workers == 1``, the runs go
    sequentially in this process (``corpus`` may then pass an already loaded Corpus).  A broken
    ``config.json`` / ``status.json`` in ``out_dir`` is a SpecError before any run starts.
    Returns :func:`ladder_status` of ``out_dir`` at the end.
    """
    spec = load_spec(spec)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = spec.runs()
    tmp = out_dir / (LADDER_FILE + ".tmp")
    tmp.write_text(json.dumps({"spec": spec.to_dict(), "runs": [r.run for r in runs]}, indent=2))
    os.replace(tmp, out_dir / LADDER_FILE)

    status = ladder_status(out_dir).set_index("run")["status"]   # a SpecError names a broken file, before any run
    todo = [r for r in runs if status.get(r.run) not in FINISHED]
    if todo and corpus is None:
        # build (or check) each corpus once here, not concurrently in every worker
        from .corpus import load_corpus
        for spec_value in {json.dumps(r.corpus, sort_keys=True, default=str) for r in todo}:
            try:
                load_corpus(json.loads(spec_value))
            except Exception:  # noqa: BLE001 - the run itself reports it as failed
                pass
    workers = max_workers or (default_workers() if executor is None and len(todo) > 1 else 1)
    bar = progress_bar(total=len(runs), initial=len(runs) - len(todo), desc=f"ladder {spec.name}", unit="run",
               disable=not progress)
    try:
        if executor is None and (workers == 1 or len(todo) <= 1):
            for r in todo:  # the spec lists parents before their children
                try:
                    train_run(r, out_dir, progress=progress, corpus=corpus)
                except Exception as e:  # noqa: BLE001 - recorded, the ladder goes on
                    _record_failure(out_dir, r.run, e)
                bar.update(1)
        else:
            own = executor is None
            if own:
                executor = cf.ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                                                  mp_context=multiprocessing.get_context("spawn"))
            try:
                # longest first (by 6 N D, counting from the fork), so no worker is left with a big
                # run at the end; a child once its parent has finished
                cost = lambda r: param_counts(r.model)["total"] * (r.steps - (r.parent["step"] if r.parent else 0))
                waiting = sorted(todo, key=lambda r: -cost(r))
                unfinished = {r.run for r in todo}
                futures, pending = {}, set()
                while waiting or pending:
                    is_ready = lambda r: not r.parent or r.parent["run"] not in unfinished
                    ready, waiting = [r for r in waiting if is_ready(r)], [r for r in waiting if not is_ready(r)]
                    for r in ready:
                        try:
                            future = executor.submit(train_run, r.to_dict(), str(out_dir), False)
                        except Exception as e:  # noqa: BLE001 - e.g. a broken pool: recorded, the ladder goes on
                            _record_failure(out_dir, r.run, e)
                            unfinished.discard(r.run)
                            bar.update(1)
                            continue
                        futures[future] = r.run
                        pending.add(future)
                    finished, pending = cf.wait(pending, timeout=2.0, return_when=cf.FIRST_COMPLETED)
                    for future in finished:
                        try:
                            future.result()
                        except Exception as e:  # noqa: BLE001
                            _record_failure(out_dir, futures[future], e)
                        unfinished.discard(futures[future])
                        bar.update(1)
                    if progress and pending:  # show the steps of the runs in flight
                        steps = {futures[f]: (runlog.read_status(out_dir / futures[f]) or {}) for f in pending}
                        bar.set_postfix_str(", ".join(f"{s.get('step', 0)}/{s.get('steps', '?')}"
                                                      for s in steps.values() if s.get("status") == "running"))
            finally:
                if own:
                    executor.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()
    return ladder_status(out_dir)


STATUS_COLUMNS = ["run", "status", "step", "steps", "tokens", "params", "params_total", "loss",
                  "width", "depth", "heads", "error"]


def _listed_runs(out_dir: Path) -> list:
    """The run ids ``ladder.json`` lists (``[]`` without one); a SpecError names a broken file."""
    path = out_dir / LADDER_FILE
    where, fix = f"ladder {out_dir}", f"run `scaling ladder run SPEC --out {out_dir}` again to rewrite it"
    ladder = runlog.read_json_object(path, where, fix)
    if ladder is None:
        return []
    runs = ladder.get("runs")
    if not (isinstance(runs, list) and all(isinstance(r, str) and r for r in runs)):
        raise SpecError(f"{where}: {path} has no 'runs' list of run ids (got {runs!r:.60}); {fix}")
    return runs


def ladder_status(out_dir) -> pd.DataFrame:
    """One row per run of the ladder in ``out_dir``: ``status`` is ``done``, ``partial`` (started,
    unfinished: running now or killed), ``pending`` (not started), ``diverged`` or ``failed``;
    ``step`` of ``steps`` done, ``loss`` the last logged validation loss (nats/token).  A broken
    ``ladder.json``, ``config.json`` or ``status.json`` is a :class:`ladders.spec.SpecError` naming it."""
    out_dir = Path(out_dir)
    listed = _listed_runs(out_dir)
    names = listed + [p.name for p in _run_dirs(out_dir) if p.name not in listed]
    rows = []
    for name in names:
        run_dir = out_dir / name
        config = runlog.read_config(run_dir) or {}
        status = runlog.read_status(run_dir) or {}
        state = status.get("status", "pending")
        if state == "running":
            state = "partial"
        model = config.get("model", {})
        if not isinstance(model, dict):
            raise SpecError(f"run {name}: {run_dir / 'config.json'}: 'model' is not an object, got {model!r:.60}; "
                            "delete the run's folder to train it again")
        rows.append({
            "run": name, "status": state, "step": status.get("step", 0), "steps": status.get("steps"),
            "tokens": status.get("tokens", config.get("tokens")), "params": status.get("params"),
            "params_total": status.get("params_total"), "loss": status.get("loss"),
            "width": model.get("width"), "depth": model.get("depth"), "heads": model.get("heads"),
            "error": status.get("error"),
        })
    table = pd.DataFrame(rows, columns=STATUS_COLUMNS)
    for c in ("step", "steps", "tokens", "params", "params_total", "width", "depth", "heads"):
        table[c] = _whole_numbers(table[c])
    return table


def _whole_numbers(column: pd.Series) -> pd.Series:
    """A count column as whole numbers with <NA> where a pending run has none yet (not floats and NaN); left as
    it is when a value is not a whole number a 64-bit integer holds (a spec's tokens=1e300 that failed)."""
    values = pd.to_numeric(column, errors="coerce")
    given = values.dropna()
    if given.size and not ((given.abs() < 2 ** 62) & (given == given.round())).all():
        return column
    return values.astype("Int64")


def read_ladder_runs(out_dir, include_unfinished: bool = True) -> pd.DataFrame:
    """All logged rows of all runs in ``out_dir`` (runs-table columns, see :mod:`ladders.train`).

    The ``status`` column is set to each run's current status (``done``, ``partial``,
    ``diverged``, ``failed``).  Rows of a diverged run are those logged before it diverged (all
    finite).  ``include_unfinished=False`` keeps only ``done`` runs.
    """
    status = ladder_status(out_dir).set_index("run")["status"]
    frames = []
    for run_dir in _run_dirs(out_dir):
        rows = runlog.read_rows(run_dir)
        if rows.empty:
            continue
        state = status.get(run_dir.name, "partial")
        if include_unfinished or state == "done":
            frames.append(rows.assign(status=state))
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)
