"""What a scaling law is, for the engine: a pure prediction function plus metadata.

A law predicts ``log L`` from a dictionary of input columns (``params``, ``tokens``, ...) and a
parameter vector ``theta`` in *fit space* (e.g. ``log A`` instead of ``A``), written in
``jax.numpy`` so the engine can differentiate and ``vmap`` it.  ``to_natural`` maps fit space to
the reported parameters (``E, A, B, alpha, beta`` for Chinchilla) by exponentiating the first
``n_log`` coordinates; ``grid`` gives the default starting points, ``derived`` the quantities
computed from the natural parameters.  ``prepare`` (optional) builds ``X`` from a runs table
when the inputs are not plain columns; ``response`` names the predicted column (``loss`` by default).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

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
    derived: Callable[[Mapping[str, float]], dict] = field(default=lambda p: {})
    citation: str = ""
    min_distinct: Mapping[str, int] = field(default_factory=dict)  # column -> distinct values needed
    response: str = "loss"                      # the runs-table column the law predicts
    requires: tuple[str, ...] = ()              # runs-table columns ``prepare`` reads (default: ``inputs``)
    prepare: Callable | None = None             # (table, **options) -> X dict; default: the ``inputs`` columns

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
        p = np.asarray(p, float)
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


def product_grid(*axes: Sequence[float]) -> np.ndarray:
    """Cartesian product of per-coordinate start values, shape (prod(len), len(axes))."""
    return np.array(list(itertools.product(*axes)), dtype=float)
