"""What every data-mixture law shares: the ``mix.<domain>`` weights, the target loss, the per-domain-set law.

A mixture law predicts a loss from the training-mixture weights ``h`` (columns ``mix.<domain>`` of
the runs table, shares of the training tokens summing to 1) and, for some laws, the model size N
(``params``) and tokens D (``tokens``).  Its parameters depend on the domains (one ``C_j`` per
domain...), so each law is a *family* (:class:`fitters.law.Law` with ``specialize``): the registered
law reads the data in ``observe`` and fits the law built for their domains, ``specialize(inputs)``
(cached per input set, so the engine compiles it once per process; a saved fit rebuilds it from its
``inputs``).

Inputs, as the laws read them:

- weights: every ``mix.`` column of the law, finite and non-negative in every row, summing to 1
  within ``SUM_TOL`` (published mixtures are rounded: RegMix's sum to 1 +- 0.003); each row is then
  divided by its sum.  A domain with weight 0 in every fitted row is an error (its parameters would
  be undetermined).
- the response, ``target=``: a dataset name (the rows whose ``dataset`` is that name), or a mapping
  dataset -> weight: the weighted mean of those datasets' losses (weights normalised to sum to 1),
  rows of one checkpoint paired by run and step (:mod:`fitters.pairing`).  Without ``target`` a
  table holding one dataset (or no ``dataset`` column) is fitted as it is.
- the rows, ``rows=``: a mixture law relates a run's mixture to the loss it *reached*, so by default
  (``rows="final"``) a run logged at several steps (a ladder table evaluates each run along the way)
  contributes its final row only - the highest ``step`` (``tokens`` without a ``step`` column) of
  each run and dataset; an intermediate loss of a decaying schedule lies above what a run of that
  length reaches (Hoffmann et al. 2022, Sec. 3), and the varying tokens of the steps would keep a D
  term the final rows do not have.  The fit says how many runs had earlier rows dropped.
  ``rows="all"`` fits every row (the D term then follows the tokens of each step, and the fit says
  so).  Tables of one row per run and dataset (or without a ``run`` column: every row is a run) are
  fitted as they are.
- the scale terms: a law with N and D terms keeps the N term only where the fitted rows have at
  least two distinct ``params`` and the D term only where they have two distinct ``tokens``; a term
  that does not vary is constant, absorbed in the irreducible term E, and the fit says so (its
  ``diagnostics["observations"]["note"]``) instead of returning unidentifiable parameters.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from .law import Law, Observations
from .pairing import dataset_rows, pair_rows

PREFIX = "mix."
SUM_TOL = 1e-2          # |sum of a row's weights - 1| allowed before the row is an error
SCALE = ("params", "tokens")
ROWS = ("final", "all")  # rows= : each run's final row (default), or every row
MAX_STARTS = 64         # data-dependent starts per fit (heuristic + random), solved together by the engine
FIT_DEFAULTS = {"gtol": 1e-8, "ftol": 1e-13}   # Huber sums of well-fitted mixtures are ~1e-6: scipy's gtol 1e-5 stops early


def domain_columns(table: pd.DataFrame) -> list[str]:
    """The ``mix.<domain>`` columns of a table, in its column order."""
    return [c for c in map(str, table.columns) if c.startswith(PREFIX) and len(c) > len(PREFIX)]


def split_inputs(inputs) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Law inputs -> (domains, scale columns): ``("mix.a", "mix.b", "params")`` -> ``(("a", "b"), ("params",))``."""
    inputs = tuple(inputs)
    domains = tuple(c[len(PREFIX):] for c in inputs if c.startswith(PREFIX))
    scale = tuple(c for c in inputs if not c.startswith(PREFIX))
    if len(domains) < 2 or any(c not in SCALE for c in scale) or inputs != tuple(PREFIX + d for d in domains) + scale:
        raise ValueError(f"inputs {list(inputs)}: a mixture law reads two or more mix.<domain> columns, "
                         f"then optionally {list(SCALE)}")
    return domains, scale


def weights(table: pd.DataFrame, domains) -> np.ndarray:
    """(n, K) mixture weights of the table's rows, each row divided by its sum; bad rows are errors naming them."""
    cols = [PREFIX + d for d in domains]
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}: the mixture weights of domains {list(domains)} are needed "
                         f"(0 for a domain a run did not use); columns are {list(table.columns)}")
    H = np.column_stack([pd.to_numeric(table[c], errors="coerce").to_numpy(float) for c in cols])
    for test, what in ((~np.isfinite(H), "is not a number"), (H < 0, "is negative")):
        bad = np.argwhere(test)
        if bad.size:
            i, j = bad[0]
            raise ValueError(f"row {table.index[i]}, column {cols[j]!r}: weight {H[i, j]:g} {what}; "
                             f"mixture weights are shares of the training tokens in [0, 1] ({len(bad)} such value(s))")
    sums = H.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1) > SUM_TOL + 1e-9)       # 1.01 of weights rounded to 0.01 is within it
    if bad.size:
        percent = " - percentages? divide them by 100" if np.all(np.abs(sums - 100) <= 100 * SUM_TOL) else ""
        raise ValueError(f"row {table.index[bad[0]]}: the weights {cols} sum to {sums[bad[0]]:.6g}, not 1 "
                         f"(tolerance {SUM_TOL}; {bad.size} such row(s)); give every domain's share of the training "
                         f"tokens, summing to 1{percent}")
    return H / sums[:, None]


def run_rows(table: pd.DataFrame, rows: str = "final") -> tuple[pd.DataFrame, str]:
    """The rows a mixture law fits (original index kept) and a note on runs logged at several steps.

    ``rows="final"``: each run's final row per dataset (highest ``step``, else ``tokens``);
    ``rows="all"``: every row.  (Not :func:`scaling.runs.final_rows`: that keeps one row per run of
    one dataset and renumbers the rows, and errors here name rows of the caller's table.)
    """
    if rows not in ROWS:
        raise ValueError(f"rows={rows!r}; choose 'final' (each run's final row, the default) or 'all' (every row, "
                         f"intermediate steps included)")
    if "run" not in table.columns:
        return table, ""
    keys = [table["run"]] + ([table["dataset"]] if "dataset" in table.columns else [])
    several = table.groupby(keys, sort=False)["run"].transform("size") > 1
    if not several.any():
        return table, ""
    runs = table.loc[several, "run"].nunique()
    if rows == "all":
        return table, (f"rows='all': every row fitted, including the intermediate steps of {runs} run(s) logged at "
                       f"several steps")
    order = "step" if "step" in table.columns else "tokens"     # a runs table has one of them (scaling.runs)
    at = pd.to_numeric(table[order], errors="coerce")
    final = table[at == at.groupby(keys, sort=False).transform("max")]
    return final, (f"each run's final row (highest {order}) fitted: the earlier rows of {runs} run(s) logged at "
                   f"several steps dropped (rows='all' keeps them)")


def response(table: pd.DataFrame, target) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """The rows whose mixture is fitted, the target loss of each, and how it was formed (JSON-safe)."""
    if isinstance(target, Mapping):
        if not target:
            raise ValueError("target={}: name at least one dataset")
        w = {str(k): float(v) for k, v in target.items()}
        bad = [k for k, v in w.items() if not (np.isfinite(v) and v >= 0)]
        if bad or sum(w.values()) <= 0:
            raise ValueError(f"target={dict(target)}: the weights of a weighted target are non-negative numbers, "
                             f"not all 0 (bad: {bad or list(w)})")
        total = sum(w.values())
        w = {k: v / total for k, v in w.items() if v > 0}
        names = list(w)
        first = dataset_rows(table, names[0])
        index = first.index.to_numpy()
        y = w[names[0]] * first["loss"].to_numpy(float)
        for name in names[1:]:
            ia, ib = pair_rows(table, names[0], name)[:2]
            if len(ia) != len(index) or set(ia) != set(index):
                raise ValueError(f"dataset {name!r} lacks rows paired with some {names[0]!r} rows")
            other = pd.Series(table.loc[ib, "loss"].to_numpy(float), index=ia)
            y = y + w[name] * other.loc[index].to_numpy()
        return first, y, {"target": w, "response": "weighted mean of the target datasets' losses"}
    if target is not None:
        rows = dataset_rows(table, str(target))
        return rows, rows["loss"].to_numpy(float), {"target": str(target)}
    if "dataset" in table.columns and table["dataset"].nunique() > 1:
        raise ValueError(f"the table holds losses on several datasets {sorted(map(str, table['dataset'].unique()))}; "
                         f"say which is the response: target=NAME, or target={{NAME: weight, ...}} for a weighted loss")
    y = pd.to_numeric(table["loss"], errors="coerce").to_numpy(float)
    return table, y, {"target": None}


@dataclass(frozen=True)
class Family:
    """How one mixture law is built for a domain set.

    params(domains, scale) -> (names, fit_names, n_log); log_predict(domains, scale) -> f(theta, X);
    starts(H, y, S, law, rng) -> (n_starts, P) fit-space starts from the data (``S`` the (n, k)
    scale columns); scale: ``"none"`` (a law at fixed N and D), ``"optional"`` (terms kept where they
    vary), ``"required"`` (the law needs N or D to vary); notes(H, y, law) -> extra JSON-safe facts.
    """
    name: str
    formula: str
    citation: str
    params: Callable
    log_predict: Callable
    starts: Callable
    scale: str = "optional"
    defaults: Mapping = None
    notes: Callable | None = None


def family(spec: Family) -> Law:
    """The registered law of a mixture family: ``observe`` reads the data and builds the law to fit."""

    @functools.lru_cache(maxsize=64)
    def specialize(inputs: tuple[str, ...]) -> Law:
        domains, scale = split_inputs(inputs)
        if spec.scale == "none" and scale:
            raise ValueError(f"law {spec.name!r} is a law at fixed N and D; it reads no {list(scale)}")
        names, fit_names, n_log = spec.params(domains, scale)
        return Law(name=spec.name, formula=spec.formula, names=tuple(names), fit_names=tuple(fit_names),
                   inputs=tuple(inputs), log_predict=spec.log_predict(domains, scale), n_log=n_log,
                   grid=lambda: np.zeros((1, len(names))), citation=spec.citation,
                   prepare=functools.partial(prepare, domains, scale), observe=observe,
                   defaults=dict(spec.defaults or {}), specialize=specialize)

    def observe(table: pd.DataFrame, target=None, rows: str = "final") -> Observations:
        domains = tuple(c[len(PREFIX):] for c in domain_columns(table))
        if len(domains) < 2:
            raise ValueError(f"no mixture weights: a mixture law reads two or more mix.<domain> columns (each "
                             f"domain's share of the training tokens); columns are {list(table.columns)}")
        table, rows_note = run_rows(table, rows)
        fitted, y, notes = response(table, target)
        H = weights(fitted, domains)
        unused = [d for d, used in zip(domains, (H > 0).any(axis=0)) if not used]
        if unused:
            raise ValueError(f"column(s) {[PREFIX + d for d in unused]}: weight 0 in every fitted row, so the law "
                             f"cannot learn their effect; drop the column(s) or add runs that use them")
        scale, note = _scale_terms(spec, fitted)
        law = specialize(tuple(PREFIX + d for d in domains) + scale)
        X = prepare(domains, scale, fitted)
        distinct = len(np.unique(np.column_stack(list(X.values())), axis=0))
        if distinct < law.n_params:
            raise ValueError(f"only {distinct} distinct mixtures{' and sizes' if scale else ''} for the {law.n_params} "
                             f"parameters of law {spec.name!r} over {len(domains)} domains; add runs (mixtures) "
                             f"or merge domains")
        S = np.column_stack([X[c] for c in scale]) if scale else np.empty((len(y), 0))
        starts = spec.starts(H, y, S, law, np.random.default_rng(0))
        keep = [c for c in ("run", "step", "params", "tokens") if c in fitted.columns]
        data = fitted[keep].reset_index(drop=True)
        for j, d in enumerate(domains):
            data[PREFIX + d] = H[:, j]
        data["loss"] = y
        notes = {**notes, "domains": list(domains), "scale_terms": list(scale), "rows": rows}
        note = "; ".join(n for n in (rows_note, note) if n)
        if note:
            notes["note"] = note
        if spec.notes is not None:
            notes.update(spec.notes(H, y, law))
        return Observations(X=X, y=y, data=data, starts=starts, notes=notes, law=law)

    return Law(name=spec.name, formula=spec.formula, names=(), fit_names=(), inputs=(), log_predict=_unbuilt,
               n_log=0, grid=lambda: np.zeros((0, 0)), citation=spec.citation, requires=("loss",),
               observe=observe, specialize=specialize, defaults=dict(spec.defaults or {}))


def prepare(domains, scale, table: pd.DataFrame, **_options) -> dict:
    """The law's inputs for the rows of a table: normalised weights per domain (+ params, tokens)."""
    H = weights(table, domains)
    X = {PREFIX + d: H[:, j] for j, d in enumerate(domains)}
    for c in scale:
        if c not in table.columns:
            raise ValueError(f"missing column {c!r}: this mixture law was fitted across model sizes and token counts")
        X[c] = pd.to_numeric(table[c], errors="coerce").to_numpy(float)
    return X


def _scale_terms(spec: Family, rows: pd.DataFrame) -> tuple[tuple[str, ...], str]:
    """Which of params, tokens the law keeps for these rows, and a note on what was dropped."""
    distinct = {c: (np.unique(rows[c].to_numpy(float)) if c in rows.columns else np.array([])) for c in SCALE}
    varying = tuple(c for c in SCALE if distinct[c].size >= 2)
    fixed = ", ".join(f"{c}={distinct[c][0]:g}" for c in SCALE if distinct[c].size == 1)
    if spec.scale == "none":
        if varying:
            raise ValueError(f"law {spec.name!r} holds at one model size and token count, but the rows have "
                             + ", ".join(f"{distinct[c].size} distinct {c}" for c in varying)
                             + "; fit the rows of one (params, tokens) at a time, or use mixture-additive / mixture-joint")
        return (), f"a law at fixed N and D ({fixed or 'not given'})"
    if spec.scale == "required" and not varying:
        raise ValueError(f"law {spec.name!r} relates the mixture to N and D, but every row has the same "
                         f"({fixed or 'no params/tokens columns'}); use mixture-additive (its N and D terms are then "
                         f"absorbed in E)")
    dropped = [c for c in SCALE if c not in varying]
    if not dropped:
        return varying, ""
    what = {"params": "A/N^alpha", "tokens": "B/D^beta"}
    return varying, (f"{' and '.join(what[c] for c in dropped)} dropped: every fitted row has the same "
                     f"{' and '.join(dropped)} ({fixed or 'not given'}), so the term is a constant absorbed in E; "
                     f"predictions hold at that {' and '.join(dropped)}")


def masked_log_power(H, log_c, gamma):
    """``log(C_j h_j^gamma_j)`` per row and domain, ``-inf`` where ``h_j = 0`` (finite gradients in C, gamma there)."""
    import jax.numpy as jnp
    pos = H > 0
    log_h = jnp.log(jnp.where(pos, H, 1.0))
    return jnp.where(pos, log_c + gamma * log_h, -jnp.inf)


def stack(X, domains):
    """(n, K) weights from the law's inputs."""
    import jax.numpy as jnp
    return jnp.stack([X[PREFIX + d] for d in domains], axis=-1)


def _unbuilt(theta, X):
    raise ValueError("a mixture law is built per domain set: fit it to data (scaling.fit) or call law.specialize(inputs)")
