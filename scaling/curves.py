"""Learning-rate schedules for the whole-curve laws (``tissue``, ``multipower``): where a run's
per-step learning rates come from, and whole-curve prediction.

One implementation of schedules: a schedule *description* (``"wsd:peak=3e-4,decay_fraction=0.2"``,
a dict, a :mod:`ladders.schedules` object) becomes per-step rates through the trainer's own
:func:`ladders.schedules.lr_array`; the areas the laws need are computed from those arrays by
:mod:`fitters.curves` (which imports no ``ladders``).  :func:`learning_rates` is called for every
whole-curve fit and prediction (from :func:`scaling.result.design`), so ``schedules=`` may be:

* ``None``: the rows' own ``schedule`` column where every run has one (the ladder trainer logs each run's
  schedule description and length, ``steps_total``: the exact rates); else the table's own ``lr`` column
  (``lr`` at row ``step`` is the rate of update ``step``).
  A log of every step from 0 is used as is.  A sparse log (every k-th step, or starting after
  warmup) is expanded to every step by this rule, with a warning: linear interpolation between
  logged steps; before the first logged step ``s0``, a linear warmup from 0
  (``lr[i] = lr[s0] (i + 1) / (s0 + 1)`` for ``i < s0``) where the log shows one unlogged - it rises
  after ``s0``, or starts later than one logging interval (``s0 > s1 - s0``: a log kept from the end
  of warmup) - else the first logged rate held back to step 0 (a log every k steps from step k of a
  run without warmup; a ramp there had the Tissue fit 2-11 % off); the array ends at the last logged step, or
  holds that rate up to a later row of the run (an evaluation after the last training log).
  Pass the schedule itself when that rule is wrong for your runs (e.g. a step decay between logs).
  A rate belongs to the run, not to a dataset: a fit to one dataset's rows reads the ``lr`` of every
  row of its runs (training rows may carry it for evaluation rows that do not); rows of several
  datasets at one step must agree, and a row without a rate is a gap the rule fills.
* a DataFrame (or file) with columns ``run, step, lr``: the same, per run.
* a mapping run -> schedule: a per-step array (``lr[i]`` for update ``i``), or a description.
  A description's length is the run's last row's step unless given: ``(description, total_steps)``,
  ``{"kind": ..., "total_steps": T}`` or ``"...,total_steps=T"`` in the string form (a warning says so
  when the schedule's shape depends on its length, as a cosine's does).
* one description (not a mapping): the same schedule for every run.

Errors (``InputError``, naming the run): no ``lr`` column and no schedules, a run missing from
``schedules``, a run with no rate in any row, negative rates, two rates at one step, a step logged
twice within a run's rows of one dataset, and a schedule shorter than the run's rows.
"""
from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from fitters import curves as fc
from ladders import schedules as ls

from .errors import InputError

LR_AGREEMENT = 0.01        # a logged rate this far (of the run's peak) from the schedule given contradicts it
CURVE_POINTS = 200          # default number of steps predicted along a curve


def is_curve_law(law) -> bool:
    """Whether ``law`` is a whole-curve law (its inputs come from per-step learning rates)."""
    return bool(getattr(law.prepare, "takes_learning_rates", False))


def resolve_options(law, table: pd.DataFrame, options: Mapping, log: pd.DataFrame | None = None) -> dict:
    """The law options with ``schedules`` resolved to per-step arrays (whole-curve laws only; ``log``: the
    rows an ``lr`` column is read from, :func:`learning_rates`)."""
    options = dict(options or {})
    if is_curve_law(law):
        options["schedules"] = learning_rates(table, options.get("schedules"), log=log)
    return options


# -- descriptions -----------------------------------------------------------------------------
def _split_total(desc):
    """(schedule object, total_steps or None) from a description with an optional total_steps."""
    total = None
    if isinstance(desc, tuple) and len(desc) == 2 and not isinstance(desc[1], str):
        desc, total = desc
    if isinstance(desc, Mapping):
        desc = dict(desc)
        total = desc.pop("total_steps", total)
    elif isinstance(desc, str):
        items = [it for it in desc.partition(":")[2].split(",") if it]
        keep = []
        for it in items:
            k, _, v = it.partition("=")
            if k.strip() == "total_steps":
                total = v.strip()
            else:
                keep.append(it)
        desc = desc.partition(":")[0] + ":" + ",".join(keep)
    try:
        sched = ls.parse_schedule(desc)
    except (ValueError, TypeError) as e:
        raise InputError(f"schedule {desc!r}: {e}") from None
    if total is not None:
        try:
            total = float(total)
        except (TypeError, ValueError):
            raise InputError(f"schedule {desc!r}: total_steps={total!r} is not a number") from None
        if not (total >= 1 and total == int(total)):
            raise InputError(f"schedule {desc!r}: total_steps={total!r} must be a whole number >= 1")
        total = int(total)
    return sched, total


def is_description(value) -> bool:
    """A schedule description (string, dict with ``kind``, schedule object, or (description, total) pair)."""
    if isinstance(value, tuple) and len(value) == 2 and not isinstance(value[1], str):
        return is_description(value[0])
    return (isinstance(value, str) or isinstance(value, tuple(ls.KINDS.values()))
            or (isinstance(value, Mapping) and "kind" in value))


def schedule_array(description, total_steps: int | None = None) -> np.ndarray:
    """Per-step learning rates of a description (its own ``total_steps`` wins over the argument)."""
    sched, total = _split_total(description)
    total = total if total is not None else total_steps
    if total is None:
        raise InputError(f"schedule {description!r}: give its length (total_steps=T)")
    try:
        return ls.lr_array(sched, int(total))
    except ValueError as e:             # e.g. a warmup as long as the run
        raise InputError(f"schedule {describe(description)!r}: {e}") from None


def total_steps(description) -> int | None:
    """The length a description carries (``total_steps``), or None."""
    return _split_total(description)[1]


def describe(description) -> str:
    """The canonical string form of a description, with ``total_steps`` when it has one."""
    sched, total = _split_total(description)
    text = ls.schedule_to_string(sched)
    return text + (f",total_steps={total}" if total is not None else "")


# -- logs -----------------------------------------------------------------------------------
def _expand(steps, lr, run: str):
    """(per-step rates, whether the log was sparse) from one run's ``(step, lr)`` pairs."""
    steps = np.asarray(steps, float)
    lr = np.asarray(pd.to_numeric(pd.Series(lr), errors="coerce"), float)
    bad = np.flatnonzero(~np.isfinite(lr))
    if bad.size:
        raise InputError(f"run {run!r}: no learning rate at step {steps[bad[0]]:g} ({bad.size} such row(s)); "
                         "every row of a whole-curve fit needs its lr, or give schedules= (--schedule RUN=S / --schedules FILE)")
    neg = np.flatnonzero(lr < 0)
    if neg.size:
        raise InputError(f"run {run!r}: negative learning rate {float(lr[neg[0]]):g} at step {steps[neg[0]]:g}")
    _check_order(steps, run)
    order = np.argsort(steps, kind="stable")
    s, lr = steps[order].astype(np.int64), lr[order]
    if s.size and s[0] == 0 and np.array_equal(s, np.arange(s.size)):
        return lr.copy(), False
    out = np.interp(np.arange(int(s[-1]) + 1), s, lr)
    unlogged_warmup = s.size < 2 or lr[1] > lr[0] or s[0] > s[1] - s[0]
    out[:s[0]] = lr[0] * (np.arange(s[0]) + 1) / (s[0] + 1) if unlogged_warmup else lr[0]
    return out, True


def _check_order(steps: np.ndarray, run: str) -> None:
    """Whole steps >= 0, each logged once (in any row order), else an InputError naming the run."""
    steps = np.sort(np.asarray(steps, float))
    if np.any(~np.isfinite(steps)) or np.any(steps < 0) or np.any(steps != np.round(steps)):
        raise InputError(f"run {run!r}: steps must be whole numbers >= 0")
    if steps.size > 1 and np.any(np.diff(steps) == 0):
        i = int(np.flatnonzero(np.diff(steps) == 0)[0])
        raise InputError(f"run {run!r}: step {steps[i]:g} is logged twice; a run's log has one row per step and dataset "
                         "(a run resumed from a checkpoint repeats the steps since it: keep the rows of the resumed run)")


def _run_log(rows: pd.DataFrame, run: str) -> tuple[np.ndarray, np.ndarray]:
    """One run's ``(step, lr)`` log from its rows: the rate at a step is the run's, whichever dataset a row
    measures, so rows of several datasets at one step are one entry (their rates must agree), and a row
    without a rate (an eval row logged apart from the training metrics) adds no entry - its step is filled
    by the expansion rule like any step between logs.  Each dataset's rows must be in step order."""
    by = rows["dataset"].astype(str) if "dataset" in rows.columns else pd.Series("", index=rows.index)
    for _, part in rows.groupby(by, sort=False):
        _check_order(part["step"].to_numpy(float), run)
    lr = pd.to_numeric(rows["lr"], errors="coerce")
    logged = pd.DataFrame({"step": rows["step"].to_numpy(float), "lr": lr.to_numpy(float)})[lr.notna().to_numpy()]
    if logged.empty:
        raise InputError(f"run {run!r}: no learning rate in any of its {len(rows)} row(s) (the lr column is empty "
                         "for it); give its rates in the lr column, or schedules= (--schedule RUN=S / --schedules FILE)")
    per_step = logged.groupby("step", sort=True)["lr"].agg(["min", "max"])
    clash = per_step[per_step["max"] - per_step["min"] > 1e-9 * per_step["max"].abs()]
    if len(clash):
        s, row = clash.index[0], clash.iloc[0]
        raise InputError(f"run {run!r}, step {s:g}: its rows give learning rates {row['min']:g} and {row['max']:g}; "
                         "a run has one rate per step (a restarted run is a new run)")
    return per_step.index.to_numpy(float), per_step["min"].to_numpy(float)


def expand_log(steps, lr, run: str = "run") -> np.ndarray:
    """Per-step rates from ``(step, lr)`` pairs of one run (module docstring: the expansion rule)."""
    return _expand(steps, lr, run)[0]


def _logs(df: pd.DataFrame, what: str) -> dict[str, np.ndarray]:
    missing = [c for c in ("run", "step", "lr") if c not in df.columns]
    if missing:
        raise InputError(f"{what} needs columns run, step, lr; missing {missing}")
    out, sparse = {}, []
    for run, g in df.groupby(df["run"].astype(str), sort=False):
        out[run], was_sparse = _expand(*_run_log(g, run), run)
        if was_sparse:
            sparse.append(run)
    if sparse:
        names = ", ".join(repr(r) for r in sparse[:3]) + (f" and {len(sparse) - 3} more" if len(sparse) > 3 else "")
        warnings.warn(f"{what}: the learning rates of run(s) {names} are not logged at every step from 0; expanded "
                      "to every step by linear interpolation, with a linear warmup from 0 before the first logged "
                      "step - pass schedules= (--schedule RUN=S / --schedules FILE) for the exact schedules", stacklevel=4)
    return out


def logged_rates(table: pd.DataFrame, log: pd.DataFrame) -> np.ndarray:
    """The ``lr`` logged at each row's ``(run, step)`` on any row of ``log`` (NaN where none), read as
    :func:`_run_log` reads a run's log: kept with a whole-curve fit's data, so that its figure and its
    predictions at the fitted rows need nothing else."""
    out = np.full(len(table), np.nan)
    runs, steps = table["run"].astype(str).to_numpy(), table["step"].to_numpy(float)
    for run, g in log.groupby(log["run"].astype(str), sort=False):
        rows = np.flatnonzero(runs == run)
        if rows.size:
            logged_steps, lr = _run_log(g, run)
            at = np.clip(np.searchsorted(logged_steps, steps[rows]), 0, logged_steps.size - 1)
            out[rows] = np.where(logged_steps[at] == steps[rows], lr[at], np.nan)
    return out


def learning_rates(table: pd.DataFrame, schedules=None, log: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
    """Per-run arrays of per-step learning rates for the runs of ``table`` (module docstring).

    ``log``: the rows whose ``lr`` column is read when ``schedules`` is None (default ``table``) - a fit to
    one dataset's rows passes every row of the table, so that rates logged on training rows serve the
    evaluation rows of the same runs."""
    if "run" not in table.columns or "step" not in table.columns:
        raise InputError("whole-curve laws need the columns 'run' and 'step' (which run, at which optimizer step); "
                         "one run's file without a 'run' column: put it in a folder and read the folder (each file "
                         "is a run, named after the file), or add the column")
    runs = table["run"].astype(str)
    last = table.groupby(runs, sort=False)["step"].max()
    if schedules is None:
        if "lr" not in table.columns and "schedule" not in (log if log is not None else table).columns:
            raise InputError("no learning rates: the table has no 'lr' column; give schedules= (--schedule RUN=S / --schedules FILE: a schedule per run, "
                             "e.g. {'run1': 'cosine:peak=3e-4,warmup=100,total_steps=10000'}, or a table run, step, lr)")
        if log is not None:
            log = log[log["run"].astype(str).isin(set(runs))]
        source = table if log is None or "lr" not in log.columns else log
        described = _described(log if log is not None else table, last)
        if described is not None:
            return described
        lrs = _logs(source, "the table's lr column")
        held = [run for run in last.index if run in lrs and len(lrs[run]) < last[run]]
        for run in held:          # an evaluation row after the last logged rate: the rate is held at it
            lrs[run] = np.r_[lrs[run], np.full(int(last[run]) - len(lrs[run]), lrs[run][-1])]
        if held:
            warnings.warn(f"the table's lr column: run(s) {', '.join(map(repr, held[:3]))} have rows after their last "
                          "logged rate; the rate is held at that value up to them - pass schedules= (--schedules FILE) for the exact "
                          "schedules", stacklevel=2)
        return lrs
    if isinstance(schedules, Path) or (isinstance(schedules, str) and ":" not in schedules):
        schedules = read_schedules(schedules)       # a file: run, step, lr table or JSON run -> description
    if isinstance(schedules, pd.DataFrame):
        lrs = _logs(schedules, "schedules")
    elif is_description(schedules):
        lrs = {run: _rows_length(schedules, run, int(last[run])) for run in last.index}
    elif isinstance(schedules, Mapping):
        lrs = {}
        given = {str(k): v for k, v in schedules.items()}
        for run in last.index:
            if run not in given:
                raise InputError(f"run {run!r} has no schedule in schedules= (it has {sorted(given)[:5]}...); "
                                 "give every run's schedule")
            v = given[run]
            if is_description(v):
                lrs[run] = _rows_length(v, run, int(last[run]))
            else:
                arr = np.asarray(v, float)
                if arr.ndim != 1:
                    raise InputError(f"run {run!r}: a schedule is a description or a 1-D array of per-step rates")
                lrs[run] = arr
    else:
        raise InputError(f"schedules= takes a mapping run -> schedule, a table run, step, lr, or one schedule; "
                         f"got {type(schedules).__name__}")
    absent = [run for run in last.index if run not in lrs]
    if absent:
        raise InputError(f"run {absent[0]!r} has no learning rates in schedules= ({len(absent)} such run(s)); "
                         "give every run's schedule")
    for run, arr in lrs.items():
        if run not in last.index:
            continue
        try:
            fc.check_lr(arr, f"run {run!r}")
        except ValueError as e:
            raise InputError(str(e)) from None
        if len(arr) < last[run]:
            raise InputError(f"run {run!r}: its schedule covers {len(arr)} steps but the table has a row at step "
                             f"{int(last[run])}; the schedule is shorter than the data (give total_steps >= {int(last[run])})")
    _note_disagreement(log if log is not None else table, lrs)
    return lrs


def _note_disagreement(rows: pd.DataFrame, lrs: Mapping[str, np.ndarray]) -> None:
    """A warning when the table's own ``lr`` column contradicts the ``schedules=`` given (which are used):
    a rate more than ``LR_AGREEMENT`` of the run's peak from the schedule's at that step and at the one before
    (a trainer may log the rate of the update just made)."""
    if "lr" not in rows.columns:
        return
    lr = pd.to_numeric(rows["lr"], errors="coerce").to_numpy(float)
    steps = pd.to_numeric(rows["step"], errors="coerce").to_numpy(float)
    runs = rows["run"].astype(str).to_numpy()
    for run, arr in lrs.items():
        at = np.flatnonzero((runs == run) & np.isfinite(lr) & (steps >= 1) & (steps < len(arr)))
        if not at.size:
            continue
        s = steps[at].astype(np.int64)
        tol = LR_AGREEMENT * max(float(np.max(arr)), 1e-300)
        off = (np.abs(lr[at] - arr[s]) > tol) & (np.abs(lr[at] - arr[s - 1]) > tol)
        if off.any():
            i = int(np.flatnonzero(off)[0])
            warnings.warn(f"run {run!r}: the table's lr column gives {lr[at][i]:.4g} at step {s[i]} where schedules= gives "
                          f"{arr[s[i]]:.4g} ({int(off.sum())} such row(s)); schedules= is used", stacklevel=3)


def _described(rows: pd.DataFrame, last: pd.Series) -> dict[str, np.ndarray] | None:
    """The exact per-step rates of runs whose rows name their schedule (the ladder trainer's rows: a
    ``schedule`` description and ``steps_total``), or None when not every run of ``last`` does."""
    if "schedule" not in rows.columns:
        return None
    out = {}
    for run, g in rows[rows["run"].astype(str).isin(set(last.index))].groupby(rows["run"].astype(str)):
        names = g["schedule"].dropna().astype(str).unique()
        total = g["steps_total"].dropna().unique() if "steps_total" in g.columns else []
        if len(names) != 1 or not is_description(names[0]) or len(total) > 1:
            return None
        try:
            out[run] = schedule_array(names[0], int(total[0]) if len(total) else int(last[run]))
        except InputError:          # a column of that name in another export's language: the lr column serves
            return None
    return out if set(out) == set(last.index) else None


def _rows_length(description, run: str, last: int) -> np.ndarray:
    """The per-step rates of ``description`` for ``run``; without its own ``total_steps`` the run's last row's
    step is its length - said with a warning when the shape depends on the length (a cosine, a WSD, a
    fractional milestone: a run logged part way would get a compressed schedule)."""
    lr = schedule_array(description, last)
    if total_steps(description) is None and not np.array_equal(schedule_array(description, last + 1)[:last], lr):
        warnings.warn(f"run {run!r}: its schedule {describe(description)!r} has no total_steps, so its "
                      f"length is taken from its last row (step {last}); if the run went on past its last row, give "
                      f"total_steps=T - the schedule's shape depends on it", stacklevel=4)
    return lr


def read_schedules(path) -> pd.DataFrame | dict:
    """Schedules from a file: CSV/parquet with ``run, step, lr``, or JSON mapping run -> description."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"schedules file not found: {path}")
    if path.suffix.lower() == ".json":
        try:
            d = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise InputError(f"schedules file {path.name} is not valid JSON: {e}") from None
        if not isinstance(d, dict):
            raise InputError(f"schedules file {path.name}: expected an object run -> schedule")
        return d
    from .runs import _load
    return _load(path)


# -- prediction -----------------------------------------------------------------------------
def predict_curve(fit, schedule, total_steps: int | None = None, steps=None, level: float | None = None) -> pd.DataFrame:
    """The predicted loss curve of a run trained with ``schedule`` for ``total_steps`` steps.

    schedule: a schedule in the trainer's language (``"wsd:peak=3e-4,warmup=2160,decay_fraction=0.2"``,
    :mod:`ladders.schedules`), whose length is ``total_steps=`` in the string or the argument here; or
    the learning rate of every update as an array (its length is the run's; ``total_steps`` unused).
    Returns a DataFrame ``step, lr, loss_pred, loss_lo, loss_hi`` (nats per token) at ``steps``
    (default: ``CURVE_POINTS`` steps evenly spread up to the end); the interval is the fit's parameter
    uncertainty, plus the law's own error when the fit carries one (:func:`add_model_error`).
    ``lr`` is the rate of the update at that step (the last update's at the final step).
    """
    if not is_curve_law(fit.law):
        raise InputError(f"law {fit.law.name!r} is not a whole-curve law; predict_curve needs tissue or multipower")
    lr = schedule if not is_description(schedule) else schedule_array(schedule, total_steps)
    lr = np.asarray(lr, float)
    T = len(lr)
    if steps is None:
        steps = np.unique(np.round(np.linspace(0, T, CURVE_POINTS + 1)[1:]).astype(int))
    steps = np.asarray(steps, int)
    if steps.size == 0 or steps.min() < 1 or steps.max() > T:
        raise InputError(f"steps must lie in 1..{T} (the schedule's length)")
    rows = pd.DataFrame({"run": "curve", "step": steps})
    out = fit.predict(rows, level=level, schedules={"curve": lr})
    out.insert(2, "lr", lr[np.minimum(steps, T - 1)])
    return out.drop(columns=["run"])


def final_losses(fit, candidates: Mapping[str, object], level: float | None = None) -> pd.DataFrame:
    """Predicted loss at the last step of each candidate schedule (name -> description with total_steps, or array)."""
    names = list(candidates)
    lrs = {n: (schedule_array(v) if is_description(v) else np.asarray(v, float)) for n, v in candidates.items()}
    rows = pd.DataFrame({"run": names, "step": [len(lrs[n]) for n in names]})
    return fit.predict(rows, level=level, schedules=lrs)


# -- data and metrics -------------------------------------------------------------------------
def read_curves(folder, pattern: str = "*.csv", columns=None) -> pd.DataFrame:
    """A runs table from a folder of per-run loss curves (one file per run, ``run`` = file stem; see
    :func:`scaling.runs.read_folder`); every file needs ``step`` and ``loss``."""
    from .runs import read_folder, read_runs
    return read_runs(read_folder(folder, pattern), columns, required=("step", "loss"))


# Luo et al. 2025's released curves (../shared/data/multipower_luo2025, PROVENANCE.txt there):
# 2160 warmup steps to peak 3e-4, cosine/WSD floors 3e-5, two-stage ("wsdcon_X") runs drop to X e-5
# at step 8000 and stop at 16000.  The WSD decay (last 4000 of 24000 steps) is geometric for "wsd",
# linear for "wsdld".  Warmup is linear here as in ladders.schedules (lr[i] = peak (i+1)/2160; the
# authors' linspace(0, peak, 2160) differs by one step's rate).
LUO2025_SCHEDULES = {
    "constant_24000": "constant:peak=0.0003,warmup=2160,total_steps=24000",
    "constant_72000": "constant:peak=0.0003,warmup=2160,total_steps=72000",
    "cosine_24000": "cosine:peak=0.0003,warmup=2160,floor=3e-05,total_steps=24000",
    "cosine_72000": "cosine:peak=0.0003,warmup=2160,floor=3e-05,total_steps=72000",
    "wsd_20000_24000": "wsd:peak=0.0003,warmup=2160,decay_fraction=0.16666666666666666,decay_shape=exponential,"
                       "floor=3e-05,total_steps=24000",
    "wsdld_20000_24000": "wsd:peak=0.0003,warmup=2160,decay_fraction=0.16666666666666666,decay_shape=linear,"
                         "floor=3e-05,total_steps=24000",
    "wsdcon_3": "multistep:peak=0.0003,warmup=2160,milestones=8000,gamma=0.1,total_steps=16000",
    "wsdcon_9": "multistep:peak=0.0003,warmup=2160,milestones=8000,gamma=0.3,total_steps=16000",
    "wsdcon_18": "multistep:peak=0.0003,warmup=2160,milestones=8000,gamma=0.6,total_steps=16000",
}
LUO2025_TRAIN = ("cosine_24000", "constant_24000", "wsdcon_9")     # the authors' split (their Table 6)
LUO2025_TEST = ("constant_72000", "cosine_72000", "wsd_20000_24000", "wsdld_20000_24000", "wsdcon_3", "wsdcon_18")


def read_luo2025(root, size: int) -> pd.DataFrame:
    """Luo et al. 2025's curves of the ``size`` M model (25, 100 or 400) from ``root`` (the folder
    ``multipower_luo2025``): a runs table ``run, step, lr, loss`` (``lr`` is logged sparsely;
    :data:`LUO2025_SCHEDULES` holds the exact schedules)."""
    if int(size) not in (25, 100, 400):
        raise InputError(f"size={size}: Luo et al. 2025 released 25, 100 and 400 (M parameters)")
    return read_curves(Path(root) / f"csv_{int(size)}")


def curve_metrics(pred: pd.DataFrame, response: str = "loss") -> pd.DataFrame:
    """Per run: mean and final relative error and R^2 of ``{response}_pred`` against ``response``,
    plus a row ``all`` (pooled over every row; its final error is the mean over runs).

    ``curve_mean_rel_error`` of the row ``all`` is the mean over runs of each run's mean relative
    error - Luo et al. 2025's "PredE" averaged over the test curves, as their released evaluation
    reports it (each curve counts once, whatever its number of logged steps); for a run it is its own
    ``mean_rel_error``."""
    rows = []
    for run, g in pred.sort_values(["run", "step"], kind="stable").groupby("run", sort=False):
        y, p = g[response].to_numpy(float), g[f"{response}_pred"].to_numpy(float)
        rel = np.abs(p - y) / y
        rows.append({"run": run, "points": len(y), "mean_rel_error": rel.mean(), "curve_mean_rel_error": rel.mean(),
                     "final_rel_error": rel[-1],
                     "max_rel_error": rel.max(), "r2": 1 - np.sum((p - y) ** 2) / np.sum((y - y.mean()) ** 2)})
    out = pd.DataFrame(rows)
    y, p = pred[response].to_numpy(float), pred[f"{response}_pred"].to_numpy(float)
    rel = np.abs(p - y) / y
    pooled = {"run": "all", "points": len(y), "mean_rel_error": rel.mean(),
              "curve_mean_rel_error": out["mean_rel_error"].mean(), "final_rel_error": out["final_rel_error"].mean(),
              "max_rel_error": rel.max(), "r2": 1 - np.sum((p - y) ** 2) / np.sum((y - y.mean()) ** 2)}
    return pd.concat([out, pd.DataFrame([pooled])], ignore_index=True)


# -- command line (called from scaling.cli) ------------------------------------------------------
def _cli_schedules(args, data_runs=None):
    """``schedules=`` from ``--schedules FILE`` and ``--schedule RUN=SCHEDULE`` (None when neither is given)."""
    given = getattr(args, "schedules", None)
    pairs = getattr(args, "schedule", None) or []
    if given and pairs:
        raise InputError("give either --schedules FILE or --schedule RUN=SCHEDULE ..., not both")
    if given:
        return read_schedules(given)
    if not pairs:
        return None
    out = {}
    for item in pairs:
        run, sep, desc = item.partition("=")
        if not sep or ":" in run or not desc.strip():
            raise InputError(f"--schedule {item!r}: write RUN=SCHEDULE, e.g. --schedule "
                             "run1=cosine:peak=3e-4,warmup=100,total_steps=10000")
        out[run.strip()] = desc.strip()
    return out


def cli_fit(fit_fn, args):
    """``scaling.fit`` with the whole-curve laws' ``schedules=`` and ``warmup=`` from the command line, when given."""
    import functools
    options = {"schedules": _cli_schedules(args), "warmup": getattr(args, "warmup", None)}
    options = {k: v for k, v in options.items() if v is not None}
    return functools.partial(fit_fn, **options) if options else fit_fn


def _cli_fit_file(args):
    from .published import published
    from .result import load_fit
    fits = args.fit if isinstance(args.fit, list) else ([args.fit] if args.fit else [])
    if getattr(args, "published", None):
        return published(args.published)
    if len(fits) != 1:
        raise InputError("give one fit file of a whole-curve law (from `scaling fit tissue|multipower ... --out FIT.json`)")
    return load_fit(fits[0])


def cli_predict(args, emit) -> None:
    """``scaling predict FIT.json --schedule S [--steps T]`` (a curve) or ``--data RUNS --schedules S``."""
    fit = _cli_fit_file(args)
    if not is_curve_law(fit.law):
        raise InputError(f"--schedule/--schedules are options of the whole-curve laws; {fit.law.name!r} is not one")
    if args.data:
        from .cli import predict_rows
        return predict_rows(args, lambda rows: fit.predict(rows, schedules=_cli_schedules(args)))
    items = args.schedule or []
    if len(items) != 1 or "=" in items[0].partition(":")[0]:
        raise InputError("predict a curve with one --schedule SCHEDULE (e.g. 'wsd:peak=3e-4,decay_fraction=0.2') "
                         "and --steps T, or predict runs with --data RUNS --schedules FILE")
    total = getattr(args, "steps", None)
    points = CURVE_POINTS if getattr(args, "points", None) is None else args.points
    if total is not None and total < 1:
        raise InputError(f"--steps {total}: a run's length is a whole number of steps >= 1")
    if points < 1:
        raise InputError(f"--points {points}: the number of steps along the curve is >= 1")
    own = total_steps(items[0])
    if total is not None and own is not None and own != total:
        raise InputError(f"--steps {total} and total_steps={own} in the schedule disagree on the run's length; give one")
    lr = schedule_array(items[0], total)
    steps = np.unique(np.round(np.linspace(0, len(lr), points + 1)[1:]).astype(int))
    curve = predict_curve(fit, lr, steps=steps)
    if args.out:
        curve.to_csv(args.out, index=False)
    last = curve.iloc[-1]
    interval = None if not np.isfinite(last["loss_lo"]) else [float(last["loss_lo"]), float(last["loss_hi"])]
    obj = {"schedule": describe(items[0]) if total is None else describe((items[0], int(total))), "steps": int(len(lr)),
           "loss": float(last["loss_pred"]), "interval": interval, "level": fit.level,
           "curve": {"step": curve["step"].astype(int).tolist(), "lr": curve["lr"].tolist(),
                     "loss": curve["loss_pred"].tolist(), "lo": curve["loss_lo"].tolist(), "hi": curve["loss_hi"].tolist()}}
    span = "" if interval is None else f"   [{interval[0]:.6g}, {interval[1]:.6g}]"
    emit(args, obj, f"predicted loss after {len(lr)} steps of {obj['schedule']}: {obj['loss']:.6g}{span}"
         + ("" if args.out else f"\n{curve.to_string(index=False, max_rows=12)}"))


def evaluate_split(law, runs: pd.DataFrame, train, test, schedules=None, **fit_options):
    """Fit ``law`` to the runs named in ``train`` and predict those in ``test``: ``(fit, predictions, metrics)``
    with :func:`curve_metrics` of the test runs (e.g. Luo et al. 2025's split of their curves)."""
    from .fit import fit as fit_law
    missing = [r for r in list(train) + list(test) if r not in set(runs["run"].astype(str))]
    if missing:
        raise InputError(f"runs {missing} are not in the table")
    options = {} if schedules is None else {"schedules": schedules}
    result = fit_law(law, runs[runs["run"].astype(str).isin(list(train))], **options, **fit_options)
    pred = result.predict(runs[runs["run"].astype(str).isin(list(test))].reset_index(drop=True), **options)
    return result, pred, curve_metrics(pred)


# -- model error --------------------------------------------------------------------------------
def add_model_error(fit, runs, schedules=None):
    """``fit`` with a model-error term estimated by leave-one-run-out prediction; its intervals then
    cover the law's own error, not only its parameter uncertainty.

    For each run of ``runs`` (the table ``fit`` was fitted to; ``schedules=`` as given to the fit) the
    law is refitted, with the fit's options, to the other runs and predicts the held-out run's rows.
    ``sigma`` is the root mean square of those log residuals, ``log(loss_pred / loss)``, over every
    held-out row - a run-level jackknife (cf. the jackknife+ of Barber et al. 2021, Ann. Statist. 49(1),
    which calibrates prediction intervals on held-out residuals).  Every later interval of the fit
    (:meth:`FitResult.predict`, :func:`predict_curve`, ``scaling predict``) has the log half-width
    ``sqrt(h^2 + (z sigma)^2)``, ``h`` the parameter-uncertainty half-width and ``z`` the normal
    quantile of the level.  The schedule planner's rankings and intervals stay parameter-only (they
    compare schedules under one law, whose error they share).  Recorded in
    ``fit.diagnostics["model_error"]`` with each run's own rms; needs two runs or more (three or more to
    mean much).  On Luo et al.'s curves (authors' split) the 95 % intervals held 7-41 % of the test
    rows without it and 75-100 % with it (README, "Measured").
    """
    from .fit import fit as fit_law
    from .runs import read_runs
    if not is_curve_law(fit.law):
        raise InputError(f"add_model_error is for the whole-curve laws (tissue, multipower), not {fit.law.name!r}")
    table = read_runs(runs, required=("run", "step", fit.law.response), check_duplicates=False)
    names = list(dict.fromkeys(table["run"].astype(str)))
    if len(names) < 2:
        raise InputError(f"add_model_error needs two runs or more to hold one out; the table has {names}")
    options = {**fit.stored_law_options(), **({} if schedules is None else {"schedules": schedules})}
    settings = {k: fit.options[k] for k in ("loss", "space", "delta", "max_evals", "fixed") if fit.options.get(k) is not None}
    per_run, squares = {}, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # refits on fewer runs are often poorly identified: expected here
        for name in names:
            held = table["run"].astype(str) == name
            refit = fit_law(fit.law, table[~held], progress=False, **settings, **options)
            rows = table[held].reset_index(drop=True)
            pred = refit.predict(rows, **options)[f"{fit.law.response}_pred"].to_numpy(float)
            r = np.log(pred / rows[fit.law.response].to_numpy(float))
            per_run[name] = float(np.sqrt(np.mean(r ** 2)))
            squares.append(r ** 2)
    sigma = float(np.sqrt(np.mean(np.concatenate(squares))))
    diagnostics = {**fit.diagnostics, "model_error": {"sigma": sigma, "per_run": per_run,
                                                      "method": "leave-one-run-out rms of log residuals"}}
    return dataclasses.replace(fit, diagnostics=diagnostics)
