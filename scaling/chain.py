"""Chained predictions: one fit's prediction feeds the next (N, D -> loss -> task loss -> accuracy).

A :class:`ChainedFit` holds fits whose laws connect: the first reads runs-table columns (e.g.
``params`` and ``tokens``), each later one reads the previous one's response (``loss``).  Examples:

- the two-step task prediction of model ladders (Bhagia et al. 2024): step 1 a Chinchilla-form law
  of the task loss in N and D, step 2 the sigmoid from task loss to accuracy -
  ``scaling.fit("task", runs, task="hellaswag")`` fits both and returns their chain;
- Gadre et al. 2024: the over-training law for the C4 loss, then the error law (their Eq. 4 and 5) -
  ``scaling.chain(loss_fit, error_fit)``;
- a loss-to-loss law after a scaling law: the loss on another dataset at a new (N, D).

Intervals propagate through every step: parameter sample ``s`` of step 1 gives a prediction that
step 2 evaluates with its own sample ``s`` (fits are independent, so pairing their samples index by
index is a draw from the joint; a step with fewer samples is cycled, one without samples - a
published law - contributes its point estimate).  The interval of each step's output is the
percentile interval over those chained samples, at the chain's ``level``.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from fitters.predict import predict_paired

from .errors import InputError
from .result import FORMAT_VERSION, FitResult, check_domain, design, json_safe, json_text, prediction_rows
from .runs import read_runs

TASK_SKIP = 0.1      # step 2 drops each run's checkpoints before this fraction of its final tokens
TASK_WINDOW = 5      # and smooths loss and accuracy with a trailing moving average over this many checkpoints


def _produces(fit: FitResult) -> str | None:
    """The dataset whose loss (or task whose metric) a fit predicts, when its options say."""
    o = fit.options.get("law_options", {}) or {}
    return o.get("y") or fit.options.get("dataset") or o.get("task_dataset")


def _reads(fit: FitResult) -> str | None:
    """The dataset whose loss a fit reads as input, when its options say."""
    o = fit.options.get("law_options", {}) or {}
    return o.get("x") or (fit.options.get("dataset") if fit.law.inputs == ("loss",) else None)


def _label(fit: FitResult, i: int) -> str:
    return str(_produces(fit) or f"step{i + 1}")


class ChainedFit:
    """Fits applied one after another; ``predict``, ``summary`` and JSON like a :class:`FitResult`."""

    kind = "chain"

    def __init__(self, stages: Sequence[FitResult], name: str = "chain", level: float | None = None,
                 options: Mapping | None = None, labels: Sequence[str] | None = None):
        stages = list(stages)
        if len(stages) < 2:
            raise InputError("a chain needs at least two fits")
        for i, (a, b) in enumerate(zip(stages, stages[1:]), start=2):
            if tuple(b.law.inputs) != (a.law.response,):
                raise InputError(f"cannot chain: step {i} ({b.law.name}) reads {list(b.law.inputs)} but step {i - 1} "
                                 f"({a.law.name}) predicts {a.law.response!r}")
            made, read = _produces(a), _reads(b)
            if made is not None and read is not None and str(made) != str(read):
                raise InputError(f"cannot chain: step {i - 1} ({a.law.name}) predicts the loss on {made!r} but step {i} "
                                 f"({b.law.name}) was fitted to losses on {read!r}")
        self.stages = stages
        self.name = name
        self.level = float(level if level is not None else stages[-1].level)
        self.options = dict(options or {})
        self.labels = list(labels) if labels is not None else [_label(f, i) for i, f in enumerate(stages)]

    # -- the FitResult-like surface --------------------------------------------------------
    @property
    def law(self):
        """The first step's law (what the chain reads); ``response`` is the last step's."""
        return self.stages[0].law

    @property
    def response(self) -> str:
        return self.stages[-1].law.response

    @property
    def uncertainty(self) -> str:
        kinds = {s.uncertainty for s in self.stages}
        return kinds.pop() if len(kinds) == 1 else "+".join(s.uncertainty for s in self.stages)

    @property
    def converged(self) -> bool:
        return all(s.converged for s in self.stages)

    @property
    def params(self) -> dict[str, float]:
        return {f"{lab}.{k}": v for lab, s in zip(self.labels, self.stages) for k, v in s.params.items()}

    @property
    def se(self) -> dict:
        return {f"{lab}.{k}": v for lab, s in zip(self.labels, self.stages) for k, v in s.se.items()}

    @property
    def ci(self) -> dict:
        return {f"{lab}.{k}": v for lab, s in zip(self.labels, self.stages) for k, v in s.ci.items()}

    def columns(self) -> list[str]:
        """Output column stem of each step: its response, qualified by its label when a later step reuses the name."""
        out = []
        for i, s in enumerate(self.stages):
            later = [t.law.response for t in self.stages[i + 1:]]
            out.append(f"{s.law.response}_{self.labels[i]}" if s.law.response in later else s.law.response)
        return out

    def propagate(self, rows, **law_options):
        """(the rows as given plus the law's filled columns, [(point (n,), samples (S, n) or None) for each step])."""
        first = self.stages[0]
        rows, table = prediction_rows(rows, first.law)
        options = law_options or first.stored_law_options()
        X = design(first.law, table, options)
        check_domain(first.law, first.params, X)
        sizes = [len(s.samples) for s in self.stages if s.samples is not None and len(s.samples)]
        S = max(sizes) if sizes else 0
        point = first.point_loss(X)
        samples = first.loss_samples(X)
        if samples is not None and S:
            samples = samples[np.arange(S) % len(samples)]
        out = [(point, samples)]
        for i, stage in enumerate(self.stages[1:], start=2):
            name = stage.law.inputs[0]
            try:
                check_domain(stage.law, stage.params, {name: point})
            except InputError as e:
                raise InputError(f"step {i} of the chain: {e}") from None
            new_point = stage.point_loss({name: point})
            new_samples = None
            if S:
                if stage.samples is not None and len(stage.samples):
                    thetas = stage.law.from_natural(stage.samples[np.arange(S) % len(stage.samples)])
                else:
                    thetas = np.repeat(stage.law.theta_from_dict(stage.params)[None, :], S, axis=0)
                prev = samples if samples is not None else np.broadcast_to(point, (S, point.size))
                with np.errstate(invalid="ignore"):
                    new_samples = predict_paired(stage.law, thetas, {name: prev})
            point, samples = new_point, new_samples
            out.append((point, samples))
        return rows, out

    def predict(self, rows, level: float | None = None, **law_options) -> pd.DataFrame:
        """The input rows (same order) plus ``<response>_pred``, ``_lo``, ``_hi`` for every step.

        For the two-step task chain: ``loss_pred`` (task loss) and ``accuracy_pred``; the interval
        of each step carries the uncertainty of every step before it.
        """
        out, steps = self.propagate(rows, **law_options)
        tail = 50.0 * (1.0 - (self.level if level is None else level))
        for stem, (point, samples) in zip(self.columns(), steps):
            out[f"{stem}_pred"] = point
            if samples is None:
                out[f"{stem}_lo"], out[f"{stem}_hi"] = np.nan, np.nan
                continue
            bad = ~np.isfinite(samples)
            if bad.mean() > 0.05:
                warnings.warn(f"{stem}: {100 * bad.mean():.0f}% of the chained samples fall outside a law's domain "
                              "(e.g. below a shift); the interval uses the rest", stacklevel=2)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out[f"{stem}_lo"] = np.fmin(np.nanpercentile(samples, tail, axis=0), point)      # holds the point,
                out[f"{stem}_hi"] = np.fmax(np.nanpercentile(samples, 100.0 - tail, axis=0), point)  # as FitResult.predict
        return out

    # -- reporting -------------------------------------------------------------------------
    def summary(self) -> str:
        arrow = " -> ".join([", ".join(self.law.columns)] + [f"{s.law.response} ({lab})" for s, lab in
                                                                zip(self.stages, self.labels)])
        parts = [f"{self.name} chain: {arrow}"]
        for i, (s, lab) in enumerate(zip(self.stages, self.labels), start=1):
            parts.append(f"\nstep {i} ({lab}):\n{s.summary()}")
        return "\n".join(parts)

    def __repr__(self) -> str:
        return f"ChainedFit({self.name}: " + " -> ".join(s.law.name for s in self.stages) + ")"

    def to_dict(self, full: bool = True) -> dict:
        return json_safe({"format": FORMAT_VERSION, "kind": self.kind, "name": self.name, "level": self.level,
                           "labels": self.labels, "options": self.options,
                           "stages": [s.to_dict(full=full) for s in self.stages]})

    def to_json(self, path: str | Path | None = None, full: bool = True) -> str:
        return json_text(self.to_dict(full=full), path)

    @classmethod
    def from_dict(cls, d: Mapping) -> "ChainedFit":
        if not d.get("stages"):
            raise InputError("chain file has no stages")
        return cls([FitResult.from_dict(s) for s in d["stages"]], name=d.get("name", "chain"),
                   level=d.get("level"), options=d.get("options"), labels=d.get("labels"))

    @classmethod
    def from_json(cls, source) -> "ChainedFit":
        from .result import load_fit
        result = load_fit(source)
        if not isinstance(result, ChainedFit):
            raise InputError(f"{source} holds a single fit, not a chain")
        return result


def chain(*fits, level: float | None = None) -> ChainedFit:
    """Chain fits (FitResults, ChainedFits or paths of saved fits): each predicts the next one's input."""
    from .result import load_fit
    stages = []
    for f in fits:
        f = load_fit(f) if isinstance(f, (str, Path)) else f
        stages.extend(f.stages if isinstance(f, ChainedFit) else [f])
    return ChainedFit(stages, level=level)


# -- the two-step task prediction (Bhagia et al. 2024) -------------------------------------------
def _final_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Each run's last checkpoint (largest tokens); every row when there is no run column."""
    if "run" not in rows.columns:
        return rows
    order = "step" if "step" in rows.columns else "tokens"
    return rows.loc[rows.groupby("run")[order].idxmax().to_numpy()]


def step2_rows(rows: pd.DataFrame, checkpoints: str = "intermediate", skip: float = TASK_SKIP,
               window: int = TASK_WINDOW) -> pd.DataFrame:
    """Step 2's (loss, accuracy) points: checkpoints after ``skip`` of each run, moving-averaged over ``window``.

    ``checkpoints="final"``: each run's final checkpoint only (no smoothing).
    """
    if checkpoints == "final":
        return _final_rows(rows)
    if checkpoints != "intermediate":
        raise InputError(f"checkpoints={checkpoints!r}; choose 'intermediate' or 'final'")
    if not 0 <= skip < 1:
        raise InputError(f"skip={skip}: the share of each run's checkpoints to drop is in [0, 1)")
    if int(window) < 1:
        raise InputError(f"window={window}: a moving average needs at least 1 checkpoint")
    if "run" not in rows.columns:
        return rows
    parts = []
    for _, g in rows.groupby("run", sort=False):
        g = g.sort_values("tokens")
        g = g.assign(loss=g["loss"].rolling(int(window), min_periods=1).mean(),
                     accuracy=g["accuracy"].rolling(int(window), min_periods=1).mean())
        parts.append(g[g["tokens"] >= skip * g["tokens"].max()])
    return pd.concat(parts)


def fit_task(runs, *, task: str | None = None, columns=None, dataset: str | None = None, step1_law: str = "chinchilla",
             step1: str = "final", checkpoints: str = "intermediate", skip: float = TASK_SKIP,
             window: int = TASK_WINDOW, loss=None, space=None, delta=None, bootstrap: int = 0,
             bootstrap_starts: str = "basins", seed: int = 0, level: float = 0.95, max_evals: int = 15000,
             progress=None, **options) -> ChainedFit:
    """Two-step task prediction of model ladders (Bhagia et al. 2024, Sec. 3).

    Step 1: ``step1_law`` (Chinchilla form, their Eq. 1) fitted to the task loss of each run's final
    checkpoint (``step1="all"``: every checkpoint).  Step 2: the sigmoid from task loss to accuracy
    (their Eq. 2) fitted on intermediate checkpoints: each run's checkpoints from ``skip`` (10 %) of
    its tokens on, loss and accuracy smoothed by a trailing moving average over ``window``
    checkpoints (``checkpoints="final"``: final checkpoints only).  Task rows of the runs table:
    ``dataset`` = the task, ``loss`` = its task loss, ``accuracy`` in [0, 1].
    ``loss``/``space`` apply to step 1 (step 2 uses the sigmoid's least squares on accuracy).
    """
    from fitters.pairing import dataset_rows

    from .fit import fit
    if options:
        raise InputError(f"fit('task') got unknown option(s) {sorted(options)}")
    task = task or dataset
    if task is None:
        raise InputError("say which task to predict: task=NAME (the dataset name of its rows)")
    table = read_runs(runs, columns, required=("params", "tokens", "loss", "accuracy", "dataset"))
    try:
        rows = dataset_rows(table, task, "loss")
        dataset_rows(table, task, "accuracy")
    except ValueError as e:
        raise InputError(str(e)) from None
    if step1 not in ("final", "all"):
        raise InputError(f"step1={step1!r}; choose 'final' or 'all'")
    common = dict(bootstrap=bootstrap, bootstrap_starts=bootstrap_starts, level=level, max_evals=max_evals,
                  progress=progress)
    rows1 = _final_rows(rows) if step1 == "final" else rows
    extra = {} if delta is None else {"delta": delta}
    fit1 = fit(step1_law, rows1.reset_index(drop=True), dataset=task, loss=loss, space=space, seed=seed,
               **extra, **common)
    rows2 = step2_rows(rows, checkpoints, skip, window)
    fit2 = fit("sigmoid", rows2.reset_index(drop=True)[["run", "params", "tokens", "dataset", "loss", "accuracy"]
                                                       if "run" in rows2.columns else
                                                       ["params", "tokens", "dataset", "loss", "accuracy"]],
               dataset=task, seed=seed + 1, **common)
    keep = [c for c in ("run", "step", "params", "tokens", "loss", "accuracy") if c in rows.columns]
    fit1.data = rows1[[c for c in keep if c != "accuracy"]].reset_index(drop=True)      # runs kept for the plots
    fit2.data = rows2[keep].reset_index(drop=True)
    opts = {"task": task, "step1_law": step1_law, "step1": step1, "checkpoints": checkpoints, "skip": skip,
            "window": int(window), "step1_points": int(len(rows1)), "step2_points": int(len(rows2))}
    return ChainedFit([fit1, fit2], name="task", level=level, options=opts, labels=[f"{task} loss", f"{task} accuracy"])


COMPOSITES = {"task": fit_task}
