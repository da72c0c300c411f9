"""What a scaling law is, for the engine: a pure prediction function plus metadata.

A law predicts ``log L`` from a dictionary of input columns (``params``, ``tokens``, ...) and a
parameter vector ``theta`` in *fit space* (e.g. ``log A`` instead of ``A``), written in
``jax.numpy`` so the engine can differentiate and ``vmap`` it.  ``to_natural`` maps fit space to
the reported parameters (``E, A, B, alpha, beta`` for Chinchilla) by exponentiating the first
``n_log`` coordinates; ``grid`` gives the default starting points (``data_grid``, where a law has one,
moves them to a table's own scales: ``(X, y) -> starts``), ``derived`` the quantities
computed from the natural parameters.  ``prepare`` (optional) builds ``X`` from a runs table
when the inputs are not plain columns; ``response`` names the predicted column (``loss`` by default).

Laws whose observations are not one per table row (a pair of losses of one checkpoint on two
datasets, a loss paired with a task accuracy) build them in ``observe`` (table, **options) ->
:class:`Observations`; ``validate`` (params, X) raises ``ValueError`` naming the first input where
the law is undefined (e.g. a loss below a fitted shift); ``defaults`` sets the objective a law is
fitted with unless told otherwise (e.g. ``{"space": "linear"}`` for a response near 0).
:func:`fix` gives the law with some parameters held at given values (passed in ``X["_fixed"]``).

A *family* (e.g. a mixture law, one parameter per ``mix.<domain>`` column) is registered once and
built per input set: ``specialize(inputs)`` returns the law for those input columns (cached, so the
engine compiles each once), and its ``observe`` hands the law it built in ``Observations.law``.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np


@dataclass(frozen=True, eq=False)
class Law:
    name: str
    formula: str
    names: tuple[str, ...]                      # natural (reported) parameter names
    fit_names: tuple[str, ...]                  # names of the fit-space coordinates
    inputs: tuple[str, ...]                     # runs-table columns read by log_predict
    log_predict: Callable                       # (theta, X: Mapping[str, array]) -> log L
    n_log: int                                  # the first n_log fit coordinates are logs of positive parameters
    grid: Callable[[], np.ndarray]              # default starts, fit space, shape (S, P)
    data_grid: Callable | None = None           # (X, y) -> starts moved to the data's scales; used instead of grid
    derived: Callable[[Mapping[str, float]], dict] = field(default=lambda p: {})
    citation: str = ""
    min_distinct: Mapping[str, int] = field(default_factory=dict)  # column -> distinct values needed
    response: str = "loss"                      # the runs-table column the law predicts
    requires: tuple[str, ...] = ()              # runs-table columns ``prepare`` reads (default: ``inputs``)
    prepare: Callable | None = None             # (table, **options) -> X dict; default: the ``inputs`` columns
    observe: Callable | None = None             # (table, **options) -> Observations, for fits not one per row
    validate: Callable | None = None            # (params, X) -> None; ValueError naming an input outside the domain
    defaults: Mapping[str, Any] = field(default_factory=dict)  # objective defaults, e.g. {"space": "linear"}
    specialize: Callable | None = None          # (inputs) -> Law: a family whose parameters depend on the data
    diagnose: Callable | None = None            # (params) -> [str]: what a fitted law's parameters say to warn about

    @property
    def columns(self) -> tuple[str, ...]:
        """Runs-table columns needed to evaluate the law (besides the response)."""
        return self.requires or self.inputs

    def design(self, table, options: Mapping | None = None) -> dict:
        """The inputs ``X`` of ``log_predict`` for the rows of a runs table.

        Laws whose inputs are not plain columns (e.g. areas under a learning-rate schedule) build
        them in ``prepare``, which also receives the law's options (e.g. ``schedules=``).
        """
        options = dict(options or {})
        if self.prepare is None:
            if options:
                raise ValueError(f"law {self.name!r} takes no options; got {sorted(options)}")
            return {k: np.asarray(table[k], float) for k in self.inputs}
        return self.prepare(table, **options)

    def to_natural(self, theta) -> np.ndarray:
        """Fit space -> reported parameters (exponentiate the first ``n_log`` coordinates)."""
        t = np.asarray(theta, float)
        return np.concatenate([np.exp(t[..., :self.n_log]), t[..., self.n_log:]], axis=-1)

    def from_natural(self, p) -> np.ndarray:
        """Reported parameters -> fit space; a coefficient drawn to 0 (underflow) is log 0 = -inf, not a warning."""
        p = np.asarray(p, float)
        with np.errstate(divide="ignore"):
            return np.concatenate([np.log(p[..., :self.n_log]), p[..., self.n_log:]], axis=-1)

    @property
    def n_params(self) -> int:
        return len(self.names)

    def natural_dict(self, theta) -> dict[str, float]:
        return dict(zip(self.names, map(float, np.asarray(self.to_natural(np.asarray(theta, float))))))

    def theta_from_dict(self, params: Mapping[str, float]) -> np.ndarray:
        missing = [n for n in self.names if n not in params]
        if missing:
            raise KeyError(f"law {self.name!r} needs parameters {missing}")
        return np.asarray(self.from_natural(np.array([params[n] for n in self.names], float)))


def falling_exponents(*names: str) -> Callable[[Mapping[str, float]], list[str]]:
    """A ``diagnose`` hook for a law whose terms fall with scale (``A / N^alpha``): a negative exponent
    ``names`` fitted makes its term grow instead, so predictions beyond the data run away (a ladder at
    one tokens-per-parameter ratio fitted alpha = -5.2 and predicted 1,391 nats at 10x N)."""
    def diagnose(params) -> list[str]:
        return [f"the exponent {n} = {params[n]:.3g} is negative: its term grows with scale instead of falling, so "
                "the data do not pin that term down (e.g. runs that never vary it apart from the others) and "
                "predictions beyond them run away; fixed={...} holds a parameter at a value from another fit"
                for n in names if params[n] < 0]
    return diagnose


def product_grid(*axes: Sequence[float]) -> np.ndarray:
    """Cartesian product of per-coordinate start values, shape (prod(len), len(axes))."""
    return np.array(list(itertools.product(*axes)), dtype=float)


@dataclass
class Observations:
    """What a law with an ``observe`` hook fits: inputs ``X``, responses ``y`` and their record.

    data: a DataFrame with one row per observation (kept in the result; plots draw it).
    fixed: natural parameters held at these values (e.g. shifts from per-dataset fits).
    starts: data-dependent starting points in fit space (S, P) (all parameters; fixed ones ignored).
    notes: JSON-safe facts about how the observations were built (kept in the result's diagnostics).
    law: the law to fit when a family builds it from the data (``Law.specialize``); None: the law observed with.
    """
    X: dict
    y: np.ndarray
    data: Any = None
    fixed: dict = field(default_factory=dict)
    starts: np.ndarray | None = None
    notes: dict = field(default_factory=dict)
    law: Any = None


def fix(law: Law, names: Sequence[str]) -> Law:
    """``law`` with the parameters ``names`` held fixed: their fit-space values come from ``X["_fixed"]``.

    The reduced law has the remaining parameters (same order); the same ``(law, names)`` gives the
    same object, so the engine compiles it once per process.  :func:`fixed_values` builds ``X["_fixed"]``.
    """
    return _fix(law, tuple(sorted(names, key=law.names.index)))


@functools.lru_cache(maxsize=64)
def _fix(law: Law, names: tuple[str, ...]) -> Law:
    import jax.numpy as jnp
    unknown = [n for n in names if n not in law.names]
    if unknown:
        raise ValueError(f"law {law.name!r} has no parameter(s) {unknown}; its parameters are {list(law.names)}")
    fixed_idx = [law.names.index(n) for n in names]
    free = [i for i in range(law.n_params) if i not in fixed_idx]
    if not free:
        raise ValueError(f"every parameter of law {law.name!r} is fixed; nothing to fit")
    P = law.n_params

    def log_predict(theta, X):
        held = X["_fixed"]
        full = jnp.stack([theta[free.index(i)] if i in free else held[fixed_idx.index(i)] for i in range(P)])
        return law.log_predict(full, X)

    def grid():
        return np.unique(np.asarray(law.grid())[:, free], axis=0)

    return Law(name=f"{law.name}|fixed:{','.join(names)}", formula=law.formula,
               names=tuple(law.names[i] for i in free), fit_names=tuple(law.fit_names[i] for i in free),
               inputs=law.inputs, log_predict=log_predict, n_log=sum(i < law.n_log for i in free), grid=grid,
               citation=law.citation, response=law.response, requires=law.requires, defaults=law.defaults)


def fixed_values(law: Law, fixed: Mapping[str, float]) -> np.ndarray:
    """Fit-space values of the fixed parameters, in the law's parameter order (``X["_fixed"]`` of :func:`fix`)."""
    out = []
    for n in sorted(fixed, key=law.names.index):
        v = float(fixed[n])
        if law.names.index(n) < law.n_log:
            if not v > 0:
                raise ValueError(f"parameter {n} of law {law.name!r} is positive; cannot fix it at {v}")
            v = float(np.log(v))
        out.append(v)
    return np.asarray(out, float)


def expand(law: Law, free_theta, fixed: Mapping[str, float]) -> np.ndarray:
    """Full fit-space vectors (..., P) from the free coordinates of :func:`fix` and the fixed values."""
    free_theta = np.asarray(free_theta, float)
    names = sorted(fixed, key=law.names.index)
    idx = [law.names.index(n) for n in names]
    free = [i for i in range(law.n_params) if i not in idx]
    out = np.empty(free_theta.shape[:-1] + (law.n_params,))
    out[..., free] = free_theta
    out[..., idx] = fixed_values(law, fixed)
    return out
