"""FitResult: what a fit (or a published law) gives back, and its JSON file format.

Parameter uncertainty is carried as ``samples``: one row of natural parameters per bootstrap
resample (``uncertainty="bootstrap"``), or draws from the asymptotic normal in fit space
(``"asymptotic"``), or none (``"none"``, e.g. a published law typed without a covariance).
Every interval - of a parameter, a derived quantity, a prediction or a plan - is the percentile
interval of that quantity over the samples at the result's ``level``.  With asymptotic draws a
predicted response goes through the law linearised at the estimate (the delta method, in log space:
:meth:`FitResult.loss_samples`), as the covariance the draws come from is itself a linearisation.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from fitters import get_law
from fitters.law import Law
from fitters.predict import predict_many

from .errors import InputError
from .runs import read_runs

FORMAT_VERSION = 1
LINEAR_STEP = 1e-4     # the delta method's directional step, a fraction of each draw's distance from the estimate
WEAK_WIDTH = 0.5       # an exponent whose interval is wider than this is reported as weakly identified


def check_level(level) -> None:
    """An InputError unless ``level`` (None: the default) is a confidence level in (0, 1)."""
    if level is not None and not 0 < float(level) < 1:
        raise InputError(f"level={level}: a confidence level is between 0 and 1, e.g. 0.95")


def percentile_interval(values: np.ndarray, level: float, axis: int = 0, point=None):
    """Equal-tailed percentile interval at ``level`` (e.g. 0.95 -> 2.5 % and 97.5 %).

    ``point`` (the point estimate of each quantity): the interval is widened to hold it - where the
    samples' percentiles miss it (a quantity far from linear in parameters the data do not pin down)
    the nearer end moves to the point; predictions and plans report intervals this way.

    A sample that is not finite (a parameter draw so far out that the law overflows or is undefined) is
    unbounded, not dropped: NaN counts as ``-inf`` for the lower end and ``+inf`` for the upper, so an
    interval the samples do not bound reads ``-inf`` or ``inf`` - never NaN, never narrowed by the
    draws it left out."""
    tail = 50.0 * (1.0 - level)
    v = np.asarray(values, float)
    ends = []
    for q, fill in ((tail, -np.inf), (100.0 - tail, np.inf)):
        w = np.where(np.isnan(v), fill, v)
        with np.errstate(invalid="ignore"):
            end = np.percentile(w, q, axis=axis)           # inf - inf between two infinite neighbours: NaN
        ends.append(np.where(np.isnan(end), np.percentile(w, q, axis=axis, method="nearest"), end))
    if point is not None:
        point = np.asarray(point, float)
        ends = [np.where(np.isnan(ends[0]), ends[0], np.fmin(ends[0], point)),
                np.where(np.isnan(ends[1]), ends[1], np.fmax(ends[1], point))]
    return ends[0], ends[1]


@dataclass(eq=False)
class FitResult:
    law: Law
    params: dict[str, float]
    se: dict[str, float | None]
    ci: dict[str, tuple[float, float] | None]
    level: float = 0.95
    objective: float | None = None
    n_points: int = 0
    n_starts: int = 0
    n_converged: int = 0
    converged: bool = True
    derived: dict[str, float] = field(default_factory=dict)
    derived_ci: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    uncertainty: str = "none"                 # "bootstrap" | "asymptotic" | "none"
    samples: np.ndarray | None = None         # (S, P) natural parameters
    residuals: np.ndarray | None = None       # (n_points,) in the objective's space
    data: pd.DataFrame | None = None          # the rows fitted: the law's inputs and loss
    options: dict = field(default_factory=dict)
    diagnostics: dict = field(default_factory=dict)
    source: str = ""                          # citation of a published law

    # -- prediction ------------------------------------------------------------------------
    def loss_samples(self, X: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """Predicted loss at ``X`` for every parameter sample, (S, n); None without samples.  A sample whose
        parameters overflowed (an unbounded interval) may predict inf or NaN: :func:`percentile_interval`
        reads those as unbounded.

        Asymptotic draws ``theta_s`` (multivariate t around the estimate ``theta`` with the Gauss-Newton
        covariance) predict through the law linearised at ``theta`` in log space (the delta method,
        Seber & Wild 1989, Sec. 5.1): ``log L_s = log L(theta) + g . (theta_s - theta)``, ``g`` the gradient
        of ``log L`` in fit space, taken along each draw as the difference quotient over ``LINEAR_STEP`` of
        its way.  Pushed through the law itself, draws along a direction the data barely constrain land
        where its curvature lifts nearly all of them above the estimate, and the percentile interval
        misses the truth below (a 20-run ladder's 95 % interval held Chinchilla's true loss 61 % of the time;
        linearised, 95-98 %).  Bootstrap samples are refits and go through the law as they are."""
        if self.samples is None or len(self.samples) == 0:
            return None
        thetas = self.law.from_natural(self.samples)
        with np.errstate(all="ignore"):
            if self.uncertainty != "asymptotic":
                return predict_many(self.law, thetas, X)
            centre = self.law.theta_from_dict(self.params)
            log_point = np.log(predict_many(self.law, centre, X))
            log_near = np.log(predict_many(self.law, centre + LINEAR_STEP * (thetas - centre), X))
            return np.exp(log_point + (log_near - log_point) / LINEAR_STEP)

    def point_loss(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        theta = self.law.theta_from_dict(self.params)
        return predict_many(self.law, theta, X)[0]

    def predict(self, rows, level: float | None = None, **law_options) -> pd.DataFrame:
        """The input rows (same order, same index) plus ``loss_pred``, ``loss_lo``, ``loss_hi``.

        ``rows`` is a DataFrame, a dict of columns, a list of row dicts, or a file :func:`scaling.read_runs`
        reads (:func:`prediction_rows`); it needs the law's inputs (e.g. ``params`` and ``tokens``, or
        ``params`` and ``flops``); a measured ``loss`` may be there, or empty (a run not trained yet).
        The interval reflects parameter uncertainty (NaN when the result has no samples), and the law's
        own error when the fit carries one (:func:`scaling.curves.add_model_error`).  It always holds the
        point prediction: where the samples' percentiles miss it (a law far from linear in parameters the
        data do not pin down) the nearer end is moved to it; an end the samples do not bound is inf.
        ``law_options`` go to the law's ``prepare`` (e.g. ``schedules=``); the fit's own options fill
        those not given (e.g. a whole-curve law's ``warmup=`` or ``lam=`` with new ``schedules=``).
        The columns are named after the law's response (``loss`` by default).
        """
        out, table = prediction_rows(rows, self.law)
        options = {**self.stored_law_options(), **law_options}
        X = design(self.law, table, options)
        check_domain(self.law, self.params, X)
        name = self.law.response
        pred = self.point_loss(X)
        out[f"{name}_pred"] = pred
        lo, hi = self.interval(self.loss_samples(X), level, point=pred)
        if self.diagnostics.get("model_error"):
            lo, hi = with_model_error(pred, lo, hi, self.diagnostics["model_error"]["sigma"],
                                      self.level if level is None else level)
        out[f"{name}_lo"], out[f"{name}_hi"] = lo, hi
        return out

    def stored_law_options(self) -> dict:
        """The law options the fit was made with that its record holds (those JSON cannot hold, such as
        per-step learning-rate arrays, are stored as ``"<type>"`` and left out)."""
        return {k: v for k, v in self.options.get("law_options", {}).items()
                if not (isinstance(v, str) and v.startswith("<"))}

    def interval(self, samples: np.ndarray | None, level: float | None = None, point=None):
        """Percentile interval of the law's response over the sample axis (widened to hold ``point`` when
        given; a lower end below 0 is 0: a loss, an error or an accuracy is never negative), or NaNs when
        there are no samples."""
        if samples is None:
            return np.nan, np.nan
        lo, hi = percentile_interval(samples, self.level if level is None else level, point=point)
        return np.where(lo < 0, 0.0, lo), hi

    # -- reporting -------------------------------------------------------------------------
    def summary(self) -> str:
        """A statsmodels-style table of the fit: the law and formula, objective, points and starts (how
        many reached the best), the kind of uncertainty; each parameter's estimate, standard error and
        interval at ``level``; derived quantities (e.g. Chinchilla's a, b, G) with intervals; the condition
        number of the scaled normal matrix and the parameters the data leave weakly identified."""
        pct = f"{100 * self.level:g}%"
        head = [f"{self.law.name} law   {self.law.formula}"]
        if self.source:
            head.append(f"source: {self.source}")
        for note in (self.diagnostics.get("note"), (self.diagnostics.get("observations") or {}).get("note")):
            if note:
                head.append(f"note: {note}")
        if self.objective is not None:
            loss = self.options.get("loss", "huber")
            head.append(f"objective ({loss}, {self.options.get('space', 'log')} residuals): {self.objective:.6e}   "
                        f"points: {self.n_points}   starts: {self.n_starts} ({self.n_converged} reached the best"
                        + (f" on {self.diagnostics['thinned_rows']} thinned rows; best basins polished on all)"
                           if self.diagnostics.get("thinned_rows") else ")"))
        head.append(f"uncertainty: {self.uncertainty}" + (f" ({len(self.samples)} samples)" if self.samples is not None else ""))
        me = self.diagnostics.get("model_error")
        if me:
            head.append(f"model error: {100 * me['sigma']:.3g} % ({me['method']}; in every interval)")
        if not self.converged:
            head.append("WARNING: the best start did not converge (iteration limit); treat the estimates with care")
        elif self.diagnostics.get("stop") == "stalled":
            head.append("stop: no step lowered the objective at float64 rounding before the gradient test was met "
                        "(an optimum to working precision; the condition number says how well it fixes the parameters)")
        for w in self.diagnostics.get("warnings", []):
            head.append(f"WARNING: {w}")
        width = max(len(n) for n in list(self.params) + list(self.derived) + ["parameter"]) + 2
        lines = [f"{'parameter':<{width}}{'estimate':>14}{'std err':>14}{pct + ' lo':>14}{pct + ' hi':>14}"]
        rule = "-" * len(lines[0])

        def row(name, value, se, ci):
            cells = [f"{value:>14.6g}", f"{se:>14.4g}" if se is not None else f"{'-':>14}"]
            cells += [f"{c:>14.6g}" for c in ci] if ci is not None else [f"{'-':>14}"] * 2
            return f"{name:<{width}}" + "".join(cells)

        lines += [rule] + [row(n, v, self.se.get(n), self.ci.get(n)) for n, v in self.params.items()]
        if self.derived:
            lines += [rule] + [row(n, v, None, self.derived_ci.get(n)) for n, v in self.derived.items()]
        return "\n".join(head + [rule] + lines + [rule] + self._identification())

    def _identification(self) -> list[str]:
        """The condition number and the parameters the data pin down only loosely (:meth:`weakly_identified`)."""
        out = []
        cond = self.diagnostics.get("condition_number")
        if cond is not None:
            out.append(f"condition number of the scaled normal matrix: {cond:.3g}")
        if self.samples is not None and len(self.samples) > 1:
            weak = self.weakly_identified()
            out.append(f"weakly identified ({100 * self.level:g}% interval wider than a factor 10 for a coefficient, "
                       f"{WEAK_WIDTH} for another parameter): " + (", ".join(weak) if weak else "none"))
        return out

    def weakly_identified(self) -> list[str]:
        """Parameters whose interval in fit space is wide: for a positive coefficient (fitted as its log)
        the interval spans more than a factor 10, for any other parameter (an exponent) it is wider
        than ``WEAK_WIDTH``; so is a free parameter whose samples are not all finite or do not vary at all
        (the data do not depend on it, and the covariance's pseudo-inverse gives it no spread)."""
        if self.samples is None or len(self.samples) < 2:
            return []
        with np.errstate(all="ignore"):
            t = self.law.from_natural(self.samples)
        finite = np.all(np.isfinite(t), axis=0)
        lo, hi = percentile_interval(np.where(np.isfinite(t), t, 0.0), self.level)
        limit = np.where(np.arange(self.law.n_params) < self.law.n_log, np.log(10.0), WEAK_WIDTH)
        free = [self.se.get(n) is not None or not self.se for n in self.law.names]   # held-fixed ones have se None
        return [n for n, ok, w, m, f in zip(self.law.names, finite, hi - lo, limit, free)
                if f and (not ok or w > m or w < 1e-9)]      # no spread: the parameter has no effect on these data

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        return f"FitResult({self.law.name}: {ps}; uncertainty={self.uncertainty})"

    # -- JSON ------------------------------------------------------------------------------
    def to_dict(self, full: bool = True) -> dict:
        """JSON-safe dict; ``full=False`` leaves out samples, residuals and data (the stdout summary: loaded
        again, it warns and gives no intervals)."""
        d = {
            "format": FORMAT_VERSION, "law": self.law.name, "formula": self.law.formula, "inputs": list(self.law.inputs),
            "params": self.params, "se": self.se, "ci": _lists(self.ci), "level": self.level,
            "objective": self.objective, "n_points": self.n_points, "n_starts": self.n_starts,
            "n_converged": self.n_converged, "converged": self.converged,
            "derived": self.derived, "derived_ci": _lists(self.derived_ci),
            "uncertainty": self.uncertainty,
            "n_samples": 0 if self.samples is None else int(len(self.samples)),
            "options": self.options, "diagnostics": self.diagnostics, "source": self.source,
        }
        if full:
            d["samples"] = None if self.samples is None else self.samples.tolist()
            d["residuals"] = None if self.residuals is None else self.residuals.tolist()
            d["data"] = None if self.data is None else self.data.to_dict(orient="list")
        return json_safe(d)

    def to_json(self, path: str | Path | None = None, full: bool = True) -> str:
        """The result as JSON text; also written to ``path`` when given (``full`` as in :meth:`to_dict`:
        keep the default for a file to predict and plan from, with intervals)."""
        return json_text(self.to_dict(full=full), path)

    @classmethod
    def from_dict(cls, d: Mapping) -> "FitResult":
        """A result from its :meth:`to_dict`; a hand-edited or foreign record is an InputError naming the field."""
        if not isinstance(d, Mapping) or "law" not in d:
            raise InputError("fit file: not a fit record (a JSON object with a 'law', from `scaling fit ... --out`)")
        if d["law"] in ("approach1", "approach2"):
            raise InputError(f"fit file: an {d['law']} result (Hoffmann et al.'s IsoFLOP analysis: exponents and "
                             "optima, no law to predict or plan with); fit 'chinchilla' for that")
        try:
            return cls._from_dict(d)
        except (TypeError, ValueError, AttributeError, IndexError, KeyError) as e:
            if isinstance(e, InputError):
                raise
            raise InputError(f"fit file: a field is malformed ({type(e).__name__}: {e}); write it with "
                             "`scaling fit ... --out` rather than by hand") from None

    @classmethod
    def _from_dict(cls, d: Mapping) -> "FitResult":
        try:
            law = get_law(d["law"])
        except KeyError as e:
            raise InputError(f"fit file: {e.args[0]}") from None
        if law.specialize is not None:      # a family: the law for the inputs it was fitted with
            try:
                law = law.specialize(tuple(d.get("inputs") or ()))
            except ValueError as e:
                raise InputError(f"fit file: law {law.name!r}: {e.args[0]}") from None
        params = {n: float(d["params"][n]) for n in law.names if n in d.get("params", {})}
        missing = [n for n in law.names if n not in params]
        if missing:
            raise InputError(f"fit file: law {law.name!r} needs parameters {missing}")
        bad = [n for n, v in params.items() if not np.isfinite(v)]
        if bad:
            raise InputError(f"fit file: parameter {bad[0]} is {params[bad[0]]}; a fit's parameters are finite numbers")
        bad = [n for n in law.names[:law.n_log] if not params[n] >= 0]       # 0: a fitted value that underflowed
        if bad:
            raise InputError(f"fit file: parameter {bad[0]} is {params[bad[0]]}; law {law.name!r} has it positive")
        if not 0 < float(d.get("level", 0.95)) < 1:
            raise InputError(f"fit file: level {d.get('level')} is not a confidence level in (0, 1)")
        samples = d.get("samples")
        uncertainty = d.get("uncertainty", "none")
        if not samples and int(d.get("n_samples") or 0):
            warnings.warn(f"fit file: the record says {d['n_samples']} parameter samples but holds none (the summary "
                          "`scaling fit --json` prints, not the file `--out` writes): predictions and plans from it "
                          "have no intervals", stacklevel=4)
            uncertainty = "none"
        if samples and np.shape(samples)[-1:] != (len(law.names),):
            raise InputError(f"fit file: samples have shape {np.shape(samples)}; law {law.name!r} has "
                             f"{len(law.names)} parameters per sample")
        return cls(
            law=law, params=params,
            se={n: _se(d, n) for n in law.names},
            ci={n: _pair(d.get("ci", {}).get(n)) for n in law.names},
            level=float(d.get("level", 0.95)), objective=d.get("objective"),
            n_points=int(d.get("n_points", 0)), n_starts=int(d.get("n_starts", 0)),
            n_converged=int(d.get("n_converged", 0)), converged=bool(d.get("converged", True)),
            derived=dict(d.get("derived") or law.derived(params)),
            derived_ci={k: _pair(v) for k, v in (d.get("derived_ci") or {}).items()},
            uncertainty=uncertainty,
            samples=None if not samples else np.asarray(samples, float),
            residuals=None if d.get("residuals") is None else np.asarray(d["residuals"], float),
            data=None if d.get("data") is None else pd.DataFrame(d["data"]),
            options=dict(d.get("options") or {}), diagnostics=dict(d.get("diagnostics") or {}),
            source=d.get("source", ""),
        )

    @classmethod
    def from_json(cls, source: str | Path) -> "FitResult":
        """Read a result from a JSON file path or a JSON string."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            path = Path(source)
            if not path.exists():
                raise InputError(f"fit file not found: {path}")
            text = path.read_text()
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise InputError(f"fit file is not valid JSON: {e}") from None


def prediction_rows(rows, law: Law) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(out, table)`` for a prediction at ``rows``: ``out`` the rows as the caller gave them (their index
    kept, so ``df["pred"] = fit.predict(df)["loss_pred"]`` aligns) plus the law's filled columns (e.g.
    ``tokens`` from ``flops``), ``table`` the validated runs table the law reads.

    A measured ``loss`` that the law does not read may be empty (a run not trained yet).  A dict of
    columns may mix scalars and lists (scalars broadcast)."""
    if isinstance(rows, (str, Path)):
        rows = read_runs(rows, required=(), check_duplicates=False, unmeasured=True)
    elif isinstance(rows, Mapping):
        scalar = all(np.ndim(v) == 0 for v in rows.values())
        try:
            rows = pd.DataFrame({k: np.atleast_1d(v) if scalar else v for k, v in rows.items()})
        except ValueError as e:
            raise InputError(f"rows to predict: the columns of the dict have different lengths ({e})") from None
    elif isinstance(rows, list) and all(isinstance(r, Mapping) for r in rows):
        rows = pd.DataFrame(rows)
    if not isinstance(rows, pd.DataFrame):
        raise InputError(f"rows to predict: a DataFrame, a dict of columns, a list of row dicts or a runs file; "
                         f"got {type(rows).__name__}")
    table = read_runs(rows, required=law.columns, check_duplicates=False, unmeasured="loss" not in law.columns)
    out = rows.copy()
    for k in law.columns:          # e.g. tokens filled from flops
        if k not in out.columns:
            out[k] = table[k].to_numpy()
    return out, table


def design(law: Law, table: pd.DataFrame, law_options: dict, log: pd.DataFrame | None = None) -> dict:
    """The law's inputs for ``table``; a bad law option or input is an InputError.

    Whole-curve laws get their ``schedules=`` resolved to per-step learning rates first
    (:func:`scaling.curves.resolve_options`: descriptions, run/step/lr tables, the ``lr`` column - of
    ``log``'s rows when given, e.g. every dataset's rows of a fit to one).
    """
    from .curves import resolve_options
    try:
        return law.design(table, resolve_options(law, table, law_options, log))
    except (ValueError, KeyError, TypeError) as e:
        if isinstance(e, InputError):
            raise
        raise InputError(f"law {law.name!r}: {e.args[0] if e.args else e}") from None


def check_domain(law: Law, params: Mapping[str, float], X: Mapping) -> None:
    """The law's ``validate`` hook (e.g. a loss below a fitted shift) as an InputError."""
    if law.validate is not None:
        try:
            law.validate(params, X)
        except ValueError as e:
            raise InputError(f"law {law.name!r}: {e.args[0] if e.args else e}") from None


def json_text(d: Mapping, path: str | Path | None = None) -> str:
    """``d`` as indented JSON text, also written to ``path`` (with a final newline) when given."""
    text = json.dumps(d, indent=1)
    if path is not None:
        Path(path).write_text(text + "\n")
    return text


def load_fit(path: str | Path) -> FitResult:
    """Read a fit saved with :meth:`FitResult.to_json` (or a chain saved by :meth:`ChainedFit.to_json`)."""
    text = str(path)
    if not text.lstrip().startswith("{") and Path(path).is_dir():
        raise InputError(f"fit file {path}: is a folder; give the JSON file `scaling fit ... --out` wrote")
    if not text.lstrip().startswith("{") and Path(path).exists():
        text = Path(path).read_text()
    if text.lstrip().startswith("{"):
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"fit file is not valid JSON: {e}") from None
        if isinstance(d, dict) and d.get("kind") == "chain":
            from .chain import ChainedFit
            return ChainedFit.from_dict(d)
        return FitResult.from_dict(d)
    return FitResult.from_json(path)


def _se(d: Mapping, name: str):
    """A parameter's standard error from a record: JSON writes an infinite one as null, like a held parameter's;
    a parameter with an interval is not held, so its null is inf (unbounded: still weakly identified)."""
    se = (d.get("se") or {}).get(name)
    return float("inf") if se is None and (d.get("ci") or {}).get(name) is not None else se


def _pair(v):
    """An interval from JSON, where an unbounded end was written as null."""
    if v is None:
        return None
    return (-np.inf if v[0] is None else float(v[0]), np.inf if v[1] is None else float(v[1]))


def _lists(d):
    return {k: None if v is None else [v[0], v[1]] for k, v in d.items()}


def json_safe(x):
    """What ``json.dumps`` can write: NaN/inf -> None, numpy scalars, arrays and pandas Series -> Python
    numbers and lists, dates -> ISO 8601 text, recursively (JSON has no NaN)."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, (np.ndarray, pd.Series)):
        return json_safe(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, (pd.Timestamp, pd.Timedelta)):      # a date column of the user's rows: ISO 8601 text
        return x.isoformat()
    if x is pd.NaT or x is pd.NA:
        return None
    return x


def with_model_error(pred, lo, hi, sigma: float, level: float):
    """``(lo, hi)`` widened by a model error ``sigma`` (sd of log residuals): in log space each side's
    half-width ``h`` becomes ``sqrt(h^2 + (z sigma)^2)``, ``z`` the normal quantile of ``level``
    (a missing parameter interval counts as ``h = 0``)."""
    from scipy.stats import norm
    pred = np.asarray(pred, float)
    z = float(norm.ppf(0.5 + level / 2))
    h_lo = np.nan_to_num(np.log(pred / np.asarray(lo, float)), nan=0.0)
    h_hi = np.nan_to_num(np.log(np.asarray(hi, float) / pred), nan=0.0)
    return (pred * np.exp(-np.hypot(h_lo, z * sigma)), pred * np.exp(np.hypot(h_hi, z * sigma)))
