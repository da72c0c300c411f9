"""Pairing rows of a long runs table: one checkpoint's losses on two datasets, or two runs of one size.

Loss-to-loss and downstream laws fit observations made of two rows of the runs table (DESIGN.md,
"The runs table": one row per evaluation of one run on one dataset):

- ``"checkpoint"``: the same model at the same point of training - rows with equal ``run`` and
  ``step`` (or ``tokens`` when there is no ``step`` column).  Train-to-test and test-to-test
  pairs (Brandfonbrener et al. 2024), a loss and a task accuracy (Gadre et al. 2024).
- ``"size"``: equal ``(params, tokens)`` - two runs of one configuration trained on different data
  (train-to-train pairs).
- ``"compute"``: equal training FLOPs (to a relative 1e-6).

Every row of the two datasets must find exactly one partner: an unpaired or ambiguous row is an
error naming it, unless ``unpaired="drop"`` is asked for (the count dropped is reported).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

PAIRINGS = ("checkpoint", "size", "compute")
UNPAIRED = ("error", "drop")


def dataset_rows(table: pd.DataFrame, name: str, column: str = "loss") -> pd.DataFrame:
    """The rows of dataset ``name`` (original index kept), each with a finite ``column``."""
    if "dataset" not in table.columns:
        raise ValueError("the table needs a 'dataset' column saying where each loss (or accuracy) was measured "
                         "(map one with --map dataset=NAME)")
    names = sorted(table["dataset"].astype(str).unique())
    if str(name) not in names:
        raise ValueError(f"dataset {name!r} not in the table; it has {names}")
    rows = table[table["dataset"].astype(str) == str(name)]
    if column not in rows.columns:
        raise ValueError(f"dataset {name!r}: the table has no {column!r} column")
    values = pd.to_numeric(rows[column], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(f"row {rows.index[bad[0]]} (dataset {name!r}) has no {column} ({bad.size} such row(s)); "
                         f"every {name!r} row needs one")
    return rows


def key_columns(table: pd.DataFrame, how: str) -> list[str]:
    if how not in PAIRINGS:
        raise ValueError(f"pair={how!r}; choose one of {PAIRINGS}")
    if how == "checkpoint":
        if "run" not in table.columns:
            raise ValueError("pair='checkpoint' pairs rows of the same run and step; the table has no 'run' column "
                             "(add one, or pair='size' / pair='compute')")
        for c in ("step", "tokens"):
            if c in table.columns:
                return ["run", c]
        return ["run"]
    need = ["params", "tokens"] if how == "size" else ["flops"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise ValueError(f"pair={how!r} needs column(s) {missing}")
    return need


def _keys(rows: pd.DataFrame, cols: list[str], how: str) -> pd.Series:
    if how == "compute":
        return pd.Series(np.round(np.log(rows["flops"].to_numpy(float)), 6), index=rows.index).astype(str)
    return rows[cols].astype(str).agg("|".join, axis=1)


def _describe(rows: pd.DataFrame, i, cols) -> str:
    return ", ".join(f"{c}={rows.at[i, c]}" for c in cols)


def pair_rows(table: pd.DataFrame, a: str, b: str, how: str = "checkpoint", unpaired: str = "error",
              a_column: str = "loss", b_column: str = "loss") -> tuple[np.ndarray, np.ndarray, int]:
    """Row labels ``(ia, ib)`` of matched rows of datasets ``a`` and ``b``, and how many were dropped."""
    if unpaired not in UNPAIRED:
        raise ValueError(f"unpaired={unpaired!r}; choose one of {UNPAIRED}")
    if str(a) == str(b):
        raise ValueError(f"the two datasets are the same ({a!r}); pair two different datasets")
    cols = key_columns(table, how)
    ra, rb = dataset_rows(table, a, a_column), dataset_rows(table, b, b_column)
    ka, kb = _keys(ra, cols, how), _keys(rb, cols, how)
    what = {"checkpoint": "checkpoint", "size": "(params, tokens)", "compute": "compute budget"}[how]
    for rows, keys, name in ((ra, ka, a), (rb, kb, b)):
        dup = keys.duplicated(keep=False)
        if dup.any():
            i, j = keys.index[dup][:2]
            raise ValueError(f"rows {i} and {j} of dataset {name!r} have the same {what} ({_describe(rows, i, cols)}); "
                             f"pair={how!r} needs one row per {what} - remove duplicates or choose another pairing")
    common = ka[ka.isin(set(kb))]
    dropped = 0
    for rows, keys, other, name, other_name in ((ra, ka, kb, a, b), (rb, kb, ka, b, a)):
        lone = keys.index[~keys.isin(set(other))]
        if lone.size and unpaired == "error":
            raise ValueError(f"row {lone[0]} (dataset {name!r}, {_describe(rows, lone[0], cols)}) has no {other_name!r} "
                             f"row with the same {what} ({lone.size} unpaired row(s) of {name!r}); add the missing "
                             f"evaluations, filter the table, or pass unpaired='drop'")
        dropped += int(lone.size)
    if common.empty:
        raise ValueError(f"no {what} has rows of both {a!r} and {b!r}; nothing to pair")
    lookup = pd.Series(kb.index, index=kb.values)
    return common.index.to_numpy(), lookup.loc[common.values].to_numpy(), dropped
