"""``scaling.fit``: a law fitted to a runs table, with its uncertainty, as a :class:`FitResult`.

The point estimate minimises the summed Huber loss (delta 1e-3) of log residuals from the law's
whole start grid (Hoffmann et al. 2022, App. D.2; a *sum*, not a mean, which makes L-BFGS stop
early - Besiroglu et al. 2024).  Uncertainty comes from a row bootstrap
(:mod:`fitters.bootstrap`) when ``bootstrap > 0``, else from the Gauss-Newton covariance
(:mod:`fitters.uncertainty`) with draws from the implied normal in fit space.  On a table of more
than ``COARSE_ROWS`` rows (a loss logged at every step) the grid runs on a thinned copy and its best
basins are polished on every row (:func:`_multistart`).
"""
from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd

from fitters import bootstrap as boot
from fitters import engine, get_law
from fitters.law import Law, Observations, expand, fix, fixed_values
from fitters.objectives import HUBER_DELTA
from fitters.uncertainty import ILL_CONDITIONED, gauss_newton
from ladders.train import enable_compilation_cache

from .errors import InputError
from .curves import is_curve_law, logged_rates
from .result import FitResult, check_level, design, percentile_interval
from .runs import read_runs, row_label

REACHED_RTOL = 1e-5         # a start "reached the best" when its objective is within this of the best
COARSE_ROWS = 4096          # larger tables: the start grid runs on about this many rows first (see _multistart)
POLISHED_BASINS = 2         # ... and the best basins found there are polished on every row
MIN_ROWS_PER_RUN = 256      # a run keeps at least this many rows (or all of its own) in the thinned table
ASYMPTOTIC_DRAWS = 2000
ONE_RATIO_SPAN = 2.0         # runs whose D/N spans less than this factor do not separate the N and D terms
POLISH_BASINS = 8           # the best distinct end points of the multistart run on in float64 (see _polish) ...
POLISH_EVALS = 5000          # ... for at most this many evaluations each ...
POLISH_ELEMENTS = 20000      # ... on inputs of at most this many numbers (larger: no polish, see _polish)
POLISH_GAIN = 0.5            # ... kept where it ends below this share of the objective the engine stopped at


def fit(law: str | Law, runs, *, columns=None, dataset: str | None = None, loss: str | None = None,
        space: str | None = None, delta: float = HUBER_DELTA, starts=None, bootstrap: int = 0,
        bootstrap_starts: str = "basins", seed: int = 0, level: float = 0.95, max_evals: int = 15000,
        progress: bool | None = None, fixed: dict | None = None, **law_options) -> FitResult:
    """Fit ``law`` (a name from ``fitters.LAWS`` or a :class:`Law`) to ``runs``; returns a
    :class:`~scaling.result.FitResult` (a :class:`~scaling.chain.ChainedFit` for ``"task"``).

    The laws, their equations and sources: ``scaling laws`` on the command line, or each module's
    docstring under ``fitters/``.  Losses are nats per token (``read_runs(..., loss_unit=)`` converts).

    runs: a DataFrame or anything :func:`read_runs` reads (``columns`` maps names).
    dataset: which ``dataset`` rows to fit when the table holds several.
    loss, space, delta: the objective (``"huber"`` or ``"squared"`` on ``"log"`` or ``"linear"`` residuals);
        by default the law's ``defaults``, else Huber on log residuals.
    fixed: parameters held at given values, e.g. ``{"E": 1.69}`` (reported with no interval).
    starts: (S, P) fit-space starting points; default the law's grid (moved to the data's scales by its
        ``data_grid`` where it has one).
    bootstrap: number of row resamples (0: asymptotic intervals instead - draws from a multivariate t with
        n - p degrees of freedom and the Gauss-Newton covariance, Seber & Wild 1989 Sec. 5.1).
    bootstrap_starts: ``"basins"``, ``"grid"`` or ``"warm"`` (see :mod:`fitters.bootstrap`).
    law_options: passed to the law's ``prepare`` or ``observe`` (e.g. ``schedules=`` for whole-curve laws,
        ``x=``/``y=`` for loss-to-loss laws).  Composite fits (``"task"``: two steps chained) return a
        :class:`scaling.chain.ChainedFit`.
    level: confidence level of every interval.  max_evals: objective evaluations allowed per start.
    progress: a progress bar (default: when stderr is a terminal).
    """
    from .chain import COMPOSITES
    if isinstance(law, str) and law in COMPOSITES:
        return COMPOSITES[law](runs, columns=columns, dataset=dataset, loss=loss, space=space, delta=delta,
                               bootstrap=bootstrap, bootstrap_starts=bootstrap_starts, seed=seed, level=level,
                               max_evals=max_evals, progress=progress, **law_options)
    try:
        law = get_law(law)
        loss = loss or law.defaults.get("loss", "huber")
        space = space or law.defaults.get("space", "log")
        objective = engine.Objective(loss=loss, space=space, delta=delta)
    except (KeyError, ValueError) as e:
        raise InputError(str(e.args[0])) from None
    if bootstrap_starts not in boot.MODES:
        raise InputError(f"bootstrap_starts={bootstrap_starts!r}; choose one of {boot.MODES}")
    check_level(level)
    if int(bootstrap) < 0 or int(bootstrap) == 1:
        raise InputError(f"bootstrap={bootstrap}: give 0 (asymptotic intervals) or at least 2 resamples (1 has no spread)")
    if int(seed) < 0:
        raise InputError(f"seed={seed}: a random seed is a whole number >= 0")
    enable_compilation_cache()      # repeated fits (CLI calls, notebooks) reuse compiled engine code
    if law.observe is None:
        everything = read_runs(runs, columns, required=law.columns + (law.response,), unmeasured=is_curve_law(law))
        table = select_dataset(_measured(everything) if is_curve_law(law) else everything, dataset)
        if dataset is None and "dataset" in table.columns and len(table):
            dataset = str(table["dataset"].iloc[0])       # the table's one dataset: recorded (a chain checks it)
        _check_identifiable(law, table)
        _note_checkpoints(law, table)
        X = design(law, table, law_options, log=everything)      # a run's lr may be logged on another dataset's rows
        y = _response(law, table)
        data = table[list(law.columns) + [law.response]].reset_index(drop=True)
        if is_curve_law(law) and law_options.get("schedules") is None:     # the rates it was fitted with, kept
            if "lr" in everything.columns:                                # for its figure and predictions
                data["lr"] = logged_rates(table, everything)
            for k in ("schedule", "steps_total"):            # the trainer's rows name their exact schedule
                if k in table.columns:
                    data[k] = table[k].to_numpy()
        obs = Observations(X=X, y=y, data=data, starts=None if law.data_grid is None else law.data_grid(X, y))
    else:
        table = read_runs(runs, columns, required=law.columns)
        obs = observe(law, table if dataset is None else select_dataset(table, dataset), law_options)
        X, y = obs.X, np.asarray(obs.y, float)
        law = obs.law or law        # a family built for these data (e.g. one parameter per mixture domain)
    fixed = {**obs.fixed, **(fixed or {})}
    full_law = law
    if fixed:
        try:
            law = fix(full_law, list(fixed))
            X = {**X, "_fixed": fixed_values(full_law, fixed)}
        except ValueError as e:
            raise InputError(str(e.args[0])) from None
    if full_law.observe is not None:
        _check_points(law, X, y)
    if starts is not None:
        grid = np.atleast_2d(np.asarray(starts, float))
    elif obs.starts is not None:
        free = [full_law.names.index(n) for n in law.names]
        grid = np.unique(np.atleast_2d(np.asarray(obs.starts, float))[:, free], axis=0)
    else:
        grid = law.grid()
    if grid.shape[1] != law.n_params:
        raise InputError(f"starts have {grid.shape[1]} columns; law {law.name!r} has {law.n_params} ({law.fit_names})")

    tolerances = {k: law.defaults[k] for k in ("gtol", "ftol") if k in law.defaults}   # e.g. tiny objectives
    lanes, explored, thinned = _multistart(law, objective, X, y, grid, obs.data, max_evals=max_evals, **tolerances)
    best = int(np.argmin(lanes.f))
    theta, f_best = lanes.x[best], float(lanes.f[best])
    if not np.isfinite(f_best):
        raise InputError(f"law {law.name!r}: every start failed (non-finite objective); check the data's scale")
    if sum(int(np.size(v)) for v in X.values()) <= POLISH_ELEMENTS:
        theta, f_best = _polish(law, objective, X, y, boot.basin_starts(lanes.x, lanes.f, max_basins=POLISH_BASINS), f_best)
    params = full_law.natural_dict(expand(full_law, theta, fixed))
    cov, cond, residuals = gauss_newton(law, objective, X, y, theta)
    warn = []
    stop = "converged" if lanes.converged[best] else "evaluation limit" if lanes.exhausted[best] else "stalled"
    if stop == "evaluation limit":
        warn.append(f"the best start stopped at the evaluation limit (max_evals={max_evals}) without converging")
    if cond > ILL_CONDITIONED:
        warn.append(f"parameters are poorly identified (condition number {cond:.2g}); "
                    "the data do not pin down every parameter - see the intervals")
    rng_seed = int(seed)
    if bootstrap:
        starts_b = {"basins": lambda: boot.basin_starts(lanes.x, lanes.f),
                    "grid": lambda: grid, "warm": lambda: theta[None, :]}[bootstrap_starts]()
        weights = boot.resample_weights(len(y), int(bootstrap), rng_seed)
        with _progress_bar(int(bootstrap), f"bootstrap {law.name}", progress) as bar:
            thetas, _, conv_b = boot.refit(law, objective, X, y, weights, starts_b, progress=bar,
                                              max_evals=max_evals)
        samples = full_law.to_natural(expand(full_law, thetas, fixed))
        uncertainty = "bootstrap"
        if not conv_b.all():
            warn.append(f"{int((~conv_b).sum())} of {len(conv_b)} bootstrap refits stopped without converging")
    else:
        dof = len(y) - law.n_params
        if dof > 0:
            rng = np.random.default_rng(rng_seed)   # multivariate t (n - p dof): small-sample t intervals
            with warnings.catch_warnings():         # a covariance not PSD to rounding: eigh clips it, as intended
                warnings.simplefilter("ignore", RuntimeWarning)
                z = rng.multivariate_normal(np.zeros_like(theta), cov, size=ASYMPTOTIC_DRAWS, method="eigh")
            draws = theta + z * np.sqrt(dof / rng.chisquare(dof, size=(ASYMPTOTIC_DRAWS, 1)))
        else:                                       # the law passes through every point: no residual is left
            draws = np.full((ASYMPTOTIC_DRAWS, law.n_params), np.nan)   # to estimate the noise from
            warn.append(f"{len(y)} points for {law.n_params} free parameters: the law passes through every point and "
                        "no residual is left to estimate the noise from, so every interval is unbounded; add runs")
        with np.errstate(over="ignore", under="ignore"):
            samples = full_law.to_natural(expand(full_law, draws, fixed))
        uncertainty = "asymptotic"
        unbounded = unbounded_parameters(full_law, samples)
        if unbounded and dof > 0:
            warn.append(f"the asymptotic intervals of {', '.join(unbounded)} are unbounded (draws from the covariance "
                        f"overflow: the data do not pin {'it' if len(unbounded) == 1 else 'them'} down, condition number "
                        f"{cond:.2g}); bootstrap=B resamples instead, fixed={{...}} holds a parameter")
    warn.extend(_one_ratio(full_law, obs.data))
    if full_law.diagnose is not None:
        warn.extend(full_law.diagnose(params))
    for w in warn:
        warnings.warn(f"{law.name} fit: {w}", stacklevel=2)
    law = full_law
    with np.errstate(invalid="ignore", over="ignore"):
        spread = np.where(np.all(np.isfinite(samples), axis=0), np.std(samples, axis=0, ddof=1), np.inf)
    se = dict(zip(law.names, map(float, spread)))
    lo, hi = percentile_interval(samples, level)
    ci = {n: (float(a), float(b)) for n, a, b in zip(law.names, lo, hi)}
    for n in fixed:
        se[n], ci[n] = None, None
    derived = _derived(law, params)
    derived_samples = [_derived(law, dict(zip(law.names, s))) for s in samples]
    derived_ci = {}
    for k in derived:
        v = np.array([d[k] for d in derived_samples], float)
        derived_ci[k] = tuple(map(float, percentile_interval(v, level)))

    f_explored = float(np.min(explored.f))
    reached = int(np.sum(explored.f <= f_explored * (1 + REACHED_RTOL) + 1e-300))
    return FitResult(
        law=law, params=params, se=se, ci=ci, level=level,
        objective=f_best, n_points=len(y), n_starts=len(grid), n_converged=reached,
        converged=stop != "evaluation limit", derived=derived, derived_ci=derived_ci,
        uncertainty=uncertainty, samples=samples, residuals=residuals, data=obs.data,
        options={"loss": loss, "space": space, "delta": delta, "bootstrap": int(bootstrap), "max_evals": max_evals,
                 "bootstrap_starts": bootstrap_starts, "seed": rng_seed, "dataset": dataset,
                 "law_options": _json_options(law_options),
                 **({"fixed": {k: float(v) for k, v in fixed.items()}} if fixed else {})},
        diagnostics={"condition_number": cond, "best_start": int(np.argmin(explored.f)), "stop": stop,
                     "distinct_optima": int(len(boot.basin_starts(explored.x, explored.f, max_basins=10**9))),
                     "evaluations": int(lanes.evals.sum() + (explored.evals.sum() if thinned else 0)), "warnings": warn,
                     **({"thinned_rows": thinned} if thinned else {}),
                     **({"observations": obs.notes} if obs.notes else {})},
    )


def _polish(law: Law, objective, X: dict, y: np.ndarray, starts: np.ndarray, f: float) -> tuple[np.ndarray, float]:
    """``starts`` (the multistart's ``POLISH_BASINS`` best distinct end points, best first) run on in float64 until
    no step lowers the objective, for at most ``POLISH_EVALS`` evaluations; the best end is kept where it at
    least halves the objective the engine stopped at, else the best start stands.

    The engine stops as scipy's L-BFGS-B does, on ``ftol * max(|f|, 1)``: an absolute 2.2e-9 for the small
    objectives of log-space fits, the size of the objective itself when the data are (nearly) exact, where it
    stopped a Kaplan fit with A 79 % off (objective 5e-8; 5e-31 polished) and left a mixture law with N and D
    terms in the wrong basin (its float32 stage cannot rank lanes that close to 0; 5e-7 -> 5e-10 and the
    right basin from the 8 best).  On noisy data the engine's stop leaves a fraction of a percent of the
    objective, and running on walks the parameters the data do not pin down along their ridge (a
    multi-power fit's C and beta to 1e-7 and 1e7 for 0.5 % of its objective): that is not taken.  Called
    only where the law's inputs hold at most ``POLISH_ELEMENTS`` numbers: on a whole-curve law's rows x drop
    bins one float64 lane cost more than its whole multistart, for the exact-data case alone."""
    lanes = engine.minimize(law, objective, X, y, starts, gtol=0.0, ftol=0.0, max_evals=POLISH_EVALS,
                            mixed_precision=False)
    best = int(np.argmin(lanes.f))
    if np.isfinite(lanes.f[best]) and lanes.f[best] < POLISH_GAIN * f:
        return lanes.x[best], float(lanes.f[best])
    return starts[0], f


def unbounded_parameters(law: Law, samples: np.ndarray) -> list[str]:
    """Parameters with a sample that is not finite, or 0 for a positive one (its log is -inf): the draw from
    the covariance overflowed, so the data bound it on no side the covariance can express."""
    bad = ~np.all(np.isfinite(samples), axis=0)
    bad[:law.n_log] |= np.any(samples[:, :law.n_log] <= 0, axis=0)
    return [n for n, b in zip(law.names, bad) if b]


def thin_rows(data: pd.DataFrame | None, n: int, target: int = COARSE_ROWS) -> np.ndarray:
    """Indices of about ``target`` of ``n`` rows, evenly spread along each run (``run`` column) and
    keeping at least ``MIN_ROWS_PER_RUN`` rows of every run, first and last rows included."""
    groups = (data["run"].astype(str).to_numpy() if data is not None and "run" in data.columns and len(data) == n
              else np.zeros(n, int))
    keep = []
    for g in pd.unique(groups):
        idx = np.flatnonzero(groups == g)
        m = min(idx.size, max(MIN_ROWS_PER_RUN, int(round(target * idx.size / n))))
        keep.append(idx[np.unique(np.round(np.linspace(0, idx.size - 1, m)).astype(int))])
    return np.sort(np.concatenate(keep))


def _multistart(law: Law, objective, X: dict, y: np.ndarray, grid: np.ndarray, data, **options):
    """``(lanes, explored, thinned)``: the fit from every start of ``grid``.

    Up to ``COARSE_ROWS`` rows every start runs on every row (``explored`` is ``lanes``, ``thinned`` 0).
    A larger table (a loss logged at every step: the cost of each start grows with the rows) runs the
    grid on :func:`thin_rows` (``thinned`` rows; ``explored`` holds those lanes), then polishes the
    ``POLISHED_BASINS`` best distinct end points on every row: the estimate is the full objective's
    optimum, reached from the basins the thinned table found.
    """
    n = len(y)
    if n <= COARSE_ROWS or not engine.is_rowwise(X, n) or len(grid) <= POLISHED_BASINS:
        lanes = engine.minimize(law, objective, X, y, grid, **options)
        return lanes, lanes, 0
    keep = thin_rows(data, n)
    explored = engine.minimize(law, objective, engine.take_rows(X, keep), y[keep], grid, **options)
    starts = boot.basin_starts(explored.x, explored.f, max_basins=POLISHED_BASINS)
    return engine.minimize(law, objective, X, y, starts, **options), explored, int(keep.size)


def observe(law: Law, table: pd.DataFrame, law_options: dict) -> Observations:
    """The observations of a law with an ``observe`` hook; a bad option or input is an InputError."""
    try:
        return law.observe(table, **law_options)
    except (ValueError, KeyError, TypeError) as e:
        if isinstance(e, InputError):
            raise
        raise InputError(f"law {law.name!r}: {e.args[0] if e.args else e}") from None


def _response(law: Law, table: pd.DataFrame) -> np.ndarray:
    """The response column, finite (a task row may lack a loss: fitting a loss law to it is an error)."""
    y = pd.to_numeric(table[law.response], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise InputError(f"column {law.response!r}, row {bad[0]}: no value to fit ({bad.size} such row(s)); "
                         f"law {law.name!r} fits {law.response} - choose rows that have it (dataset=NAME)")
    return y


def _check_points(law: Law, X: dict, y) -> None:
    """At least as many distinct input points as free parameters (laws with an ``observe`` hook)."""
    cols = [np.asarray(v, float).ravel() for k, v in X.items() if k != "_fixed" and np.ndim(v) == 1]
    distinct = len(np.unique(np.column_stack(cols), axis=0)) if cols else len(y)
    if distinct < law.n_params:
        raise InputError(f"only {distinct} distinct observations for the {law.n_params} free parameters of law "
                         f"{law.name!r} ({', '.join(law.names)}); add runs or checkpoints")


def _json_options(options: dict) -> dict:
    """The law options that JSON can hold (strings, numbers, lists, dicts); others are named, not stored."""
    import json
    out = {}
    for k, v in options.items():
        try:        # e.g. a dict of per-step learning-rate arrays is named, not stored
            ok = isinstance(v, (str, int, float, bool, list, dict, type(None))) and bool(json.dumps(v))
        except (TypeError, ValueError):
            ok = False
        out[k] = v if ok else f"<{type(v).__name__}>"
    return out


def _derived(law: Law, params: dict) -> dict:
    """The law's derived quantities in float64 arithmetic (a degenerate point gives inf/nan, not an exception)."""
    with np.errstate(all="ignore"):
        return {k: float(v) for k, v in law.derived({n: np.float64(v) for n, v in params.items()}).items()}


def select_dataset(table: pd.DataFrame, dataset: str | None) -> pd.DataFrame:
    """The rows of one evaluation dataset; several datasets without a choice is an error."""
    if "dataset" not in table.columns:
        if dataset is not None:
            raise InputError(f"dataset={dataset!r} given but the table has no 'dataset' column")
        return table
    names = sorted(table["dataset"].astype(str).unique())
    if dataset is None:
        if len(names) > 1:
            raise InputError(f"the table holds losses on several datasets {names}; choose one with dataset=NAME (--dataset)")
        return table
    if dataset not in names:
        raise InputError(f"dataset {dataset!r} not in the table; it has {names}")
    return table[table["dataset"].astype(str) == dataset].reset_index(drop=True)


def _check_identifiable(law: Law, table: pd.DataFrame) -> None:
    """Enough distinct values of each input, and at least as many distinct points as parameters."""
    if table.empty:
        raise InputError(f"no rows to fit law {law.name!r} to")
    for col, need in law.min_distinct.items():
        values = np.unique(table[col].to_numpy())
        if values.size < need:
            raise InputError(f"all {len(table)} rows have the same {col} ({values[0]:g}); law {law.name!r} cannot "
                             f"separate the terms in {col} without at least {need} distinct {col} values")
    distinct = len(table.drop_duplicates(subset=list(law.columns)))
    if distinct < law.n_params:
        raise InputError(f"only {distinct} distinct ({', '.join(law.columns)}) points for the {law.n_params} parameters "
                         f"of law {law.name!r} ({', '.join(law.names)}); add runs")


def _measured(everything: pd.DataFrame) -> pd.DataFrame:
    """The rows of a whole-curve table that measured a loss; a row without one is read for its learning rate
    alone (a W&B export logs ``lr`` every step and the loss every k-th), and a row with neither is an error."""
    empty = everything["loss"].isna().to_numpy()
    if not empty.any():
        return everything
    rates = pd.to_numeric(everything["lr"], errors="coerce").to_numpy(float) if "lr" in everything.columns else None
    blank = np.flatnonzero(empty & (True if rates is None else np.isnan(rates)))
    if blank.size:
        raise InputError(f"column 'loss', {row_label(everything, blank[0])}: no loss and no learning rate ({blank.size} such "
                         "row(s)); a whole-curve fit reads a row for its loss, or for its lr alone - fill or remove them")
    warnings.warn(f"{int(empty.sum())} row(s) without a loss are read for their learning rate only", stacklevel=3)
    return everything[~empty].reset_index(drop=True)


def _one_ratio(law: Law, data: pd.DataFrame | None) -> list[str]:
    """A warning when every run of a law of N and D has nearly one tokens-per-parameter ratio: N and D then
    move together and the law cannot tell their terms apart (at D = r N, Chinchilla's (A, alpha, B, beta) and
    (B r^-beta, beta, A r^alpha, alpha) predict every run alike), so the compute-optimal split rests on nothing."""
    if not {"params", "tokens"} <= set(law.inputs) or data is None or not {"params", "tokens"} <= set(data.columns):
        return []
    ratio = data["tokens"].to_numpy(float) / data["params"].to_numpy(float)
    if ratio.max() >= ONE_RATIO_SPAN * ratio.min():
        return []
    lo, hi = f"{ratio.min():.3g}", f"{ratio.max():.3g}"
    return [f"every run has D/N {'= ' + lo if lo == hi else f'between {lo} and {hi}'}: N and D grow together, so the data "
            "cannot tell the N term from the D term, and the compute-optimal split (scaling.plan) rests on nothing; "
            "runs at several tokens-per-parameter ratios (an isoFLOP design) pin it down"]


def _note_checkpoints(law: Law, table: pd.DataFrame) -> None:
    """A warning when a law of (N, D) is given several logged steps of one run: each is fitted as a run of
    its own, though under a decaying schedule an intermediate loss sits above what a run trained for that
    many tokens reaches (Hoffmann et al. 2022 fit final losses; :func:`scaling.runs.final_rows`)."""
    if "tokens" not in law.columns or is_curve_law(law) or not {"run", "step"} <= set(table.columns):
        return
    per_run = table.groupby("run").size()
    if per_run.max() > 1:
        warnings.warn(f"{law.name} fit: {len(table)} rows from {len(per_run)} runs (up to {per_run.max()} steps of one "
                      "run) - every logged step is fitted as a run of its own; under a decaying learning rate an "
                      "intermediate loss sits above a run trained for that many tokens. To fit final losses: "
                      "scaling.runs.final_rows(runs)", stacklevel=3)


class _progress_bar:
    """A tqdm bar on stderr (only when it is a terminal, unless forced); yields an ``update`` callable."""

    def __init__(self, total: int, desc: str, enabled: bool | None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.total, self.desc, self.bar = total, desc, None

    def __enter__(self):
        if not self.enabled:
            return None
        from tqdm import tqdm          # the text bar: tqdm.auto warns in notebooks without ipywidgets
        self.bar = tqdm(total=self.total, desc=self.desc, unit="resample", file=sys.stderr)
        return self.bar.update

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
