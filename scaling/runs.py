"""The runs table: read, map columns, fill FLOPs/tokens, validate (see DESIGN.md, "The runs table").

FLOP accounting: C = 6 N D by default (Kaplan et al. 2020, Sec. 2.1; Hoffmann et al. 2022), so a
table with ``flops`` but no ``tokens`` gets ``tokens = flops / (6 params)`` and vice versa.
Nothing is silently dropped: any NaN/inf, non-positive value or duplicated row is an error
naming the row (0-based, as in the file's data rows) and the column.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .errors import InputError

FLOPS_PER_PARAM_TOKEN = 6.0
POSITIVE = ("params", "tokens", "flops", "loss")
KEY = ("run", "params", "tokens", "step", "dataset")


def _load(source) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    if not path.exists():
        raise InputError(f"runs file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return pd.read_json(path, lines=suffix != ".json")
    raise InputError(f"cannot read {path.name}: use .csv, .parquet, .jsonl or a pandas DataFrame")


def read_runs(source, columns: Mapping[str, str] | None = None, required=("params", "tokens", "loss"),
              check_duplicates: bool = True) -> pd.DataFrame:
    """Read a runs table from CSV/parquet/JSON lines/DataFrame and validate it.

    ``columns`` maps our names to the file's, e.g. ``{"params": "Model Size"}``; ``required``
    names the columns that must be present (after the mapping and the 6ND fill).
    ``check_duplicates=False`` allows repeated rows (e.g. rows to predict at).
    """
    df = _load(source)
    for ours, theirs in (columns or {}).items():
        if theirs not in df.columns:
            raise InputError(f"column mapping {ours}={theirs!r}: no column {theirs!r}; columns are {list(df.columns)}")
        df = df.rename(columns={theirs: ours})
    if "tokens" not in df.columns and {"flops", "params"} <= set(df.columns):
        df["tokens"] = df["flops"] / (FLOPS_PER_PARAM_TOKEN * df["params"])
    if "flops" not in df.columns and {"tokens", "params"} <= set(df.columns):
        df["flops"] = FLOPS_PER_PARAM_TOKEN * df["params"] * df["tokens"]
    missing = [c for c in required if c not in df.columns]
    if missing:
        close = difflib.get_close_matches(missing[0], [str(c) for c in df.columns], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InputError(f"missing column(s) {missing}; columns are {list(df.columns)}; {hint}"
                         f"(map a differently named column with columns={{'{missing[0]}': 'Name'}} or --map {missing[0]}=NAME)")
    for col in [c for c in POSITIVE if c in df.columns]:
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
        bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
        if bad.size:
            raise InputError(f"column {col!r}, row {bad[0]}: value {df[col].iloc[bad[0]]!r} is not a positive finite number"
                             f" ({bad.size} such row(s)); fix or remove them")
        df[col] = values
    key = [c for c in KEY if c in df.columns]
    dup = np.array([], int) if not check_duplicates else np.flatnonzero(df.duplicated(subset=key, keep="first").to_numpy())
    if dup.size:
        raise InputError(f"row {dup[0]} duplicates an earlier row on {key} ({dup.size} duplicate(s)); remove them")
    return df.reset_index(drop=True)
