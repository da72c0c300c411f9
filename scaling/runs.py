"""The runs table: read, map columns, fill FLOPs/tokens, validate (see DESIGN.md, "The runs table").

FLOP accounting: C = 6 N D by default (Kaplan et al. 2020, Sec. 2.1; Hoffmann et al. 2022), so a
table with ``flops`` but no ``tokens`` gets ``tokens = flops / (6 params)`` and vice versa.
Nothing is silently dropped: any NaN/inf, non-positive value or duplicated row is an error
naming the row (0-based, as in the file's data rows) and the column.  ``accuracy`` (a task row's
downstream accuracy) must lie in [0, 1] where given; a task row that measured only an accuracy may
leave ``loss`` empty (a law that fits losses then says so).  Losses are nats per token; a file in bits
or per byte is converted on reading when its unit is named (``loss_unit=``, ``--loss-unit``), never guessed.
"""
from __future__ import annotations

import difflib
import warnings
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .errors import InputError

FLOPS_PER_PARAM_TOKEN = 6.0
POSITIVE = ("params", "tokens", "flops", "loss")
LOSS_UNITS = ("nats", "bits", "nats_per_byte", "bits_per_byte")     # units of a file's loss (:func:`loss_scale`)
MAX_NATS = 50.0            # a loss above this is not per-token cross-entropy in nats: ln(vocabulary) is far below
NUMERIC = ("step", "lr", "bits", "qat_fraction")     # numbers where given (an empty cell may be allowed)
KEY = ("run", "params", "tokens", "step", "dataset", "bits", "qat_fraction")   # what tells two rows apart
NAMES = ("run", "dataset")                  # label columns: every row must have one
TEXT_LABELS = (".csv", ".jsonl", ".ndjson", ".json")     # formats that do not type a column: labels read as text
READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet,     # file formats of a runs table
           ".jsonl": lambda p, **kw: pd.read_json(p, lines=True, **kw), ".ndjson": lambda p, **kw: pd.read_json(p, lines=True, **kw),
           ".json": pd.read_json}


def _load(source, labels=NAMES) -> pd.DataFrame:
    """The table of ``source``; in a file, the columns named ``labels`` are read as text as written
    (a run id ``007`` stays ``'007'``, not the number 7)."""
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    if not path.exists():
        raise InputError(f"runs file not found: {path}")
    if path.is_dir() and (path / "ladder.json").exists():    # a ladder's --out folder: every run's logged rows
        from ladders import SpecError
        from ladders.execute import read_ladder_runs
        try:
            table = read_ladder_runs(path)
        except SpecError as e:
            raise InputError(str(e)) from None
        if table.empty:
            raise InputError(f"{path}: the ladder has no logged rows yet (`scaling ladder status {path}`)")
        return table
    if path.is_dir():
        return read_folder(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(f"cannot read {path.name}: use .csv, .parquet, .jsonl, a folder of them (one file per run) "
                         "or a pandas DataFrame")
    try:
        df = reader(path, dtype={c: str for c in labels}) if path.suffix.lower() in TEXT_LABELS else reader(path)
    except (ValueError, OSError) as e:     # empty, ragged, truncated, not UTF-8, not the format its suffix says
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"cannot read {path}: {reason} (is it a valid {path.suffix.lower()[1:]} table?)") from None
    if df.empty:
        raise InputError(f"{path} holds no rows (columns: {list(df.columns)})")
    df.columns = [c.strip() if isinstance(c, str) else c for c in df.columns]   # ' loss ' is 'loss'
    if path.suffix.lower() == ".csv":
        _check_csv_header(df, path)
    return df


def _check_csv_header(df: pd.DataFrame, path: Path) -> None:
    """What pandas' CSV reader does quietly with a malformed header, as an error: rows with one field more than
    the header (a trailing comma) make the first column the index; a repeated name ``a`` becomes ``a.1``."""
    if not isinstance(df.index, pd.RangeIndex):
        raise InputError(f"{path}: the rows have one field more than the header (a trailing comma, or an unnamed "
                         "first column?); give every column a name")
    names = [str(c) for c in df.columns]
    copies = [c for c in names if "." in c and c.rsplit(".", 1)[1].isdigit() and c.rsplit(".", 1)[0] in names]
    if copies:
        raise InputError(f"{path}: column {copies[0].rsplit('.', 1)[0]!r} appears more than once in the header "
                         f"(the reader named a copy {copies[0]!r}); keep one")


def read_folder(folder, pattern: str = "*") -> pd.DataFrame:
    """One table from a folder of per-run files (a W&B export, Luo et al.'s curves): every file matching
    ``pattern`` whose suffix is a table format (:data:`READERS`; others, e.g. a README, are not read),
    in name order, its ``run`` the file's stem unless the file has a ``run`` column.  Each file's values
    are checked on their own first, so an error names the file and its row."""
    folder = Path(folder)
    files = sorted(f for f in folder.glob(pattern) if f.is_file() and f.suffix.lower() in READERS)
    if not files:
        raise InputError(f"no runs files ({pattern}, one of {', '.join(READERS)}) in {folder}")
    parts = []
    for f in files:
        try:
            part = read_runs(f, required=())
        except InputError as e:
            raise InputError(f"{f.name}: {e}") from None
        if "run" not in part.columns:
            part.insert(0, "run", f.stem)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def loss_scale(loss_unit: str = "nats", bytes_per_token: float | None = None) -> float:
    """The factor that turns a loss in ``loss_unit`` into nats per token (the runs table's unit).

    ``nats`` (per token) 1; ``bits`` (per token) ln 2; ``nats_per_byte`` and ``bits_per_byte`` (per byte of
    text, e.g. a byte-level or tokenizer-free evaluation) also times ``bytes_per_token``, the mean bytes
    per token of the tokenizer on that text - which must be given: a unit is never guessed."""
    if loss_unit not in LOSS_UNITS:
        raise InputError(f"loss unit {loss_unit!r}: choose one of {', '.join(LOSS_UNITS)}")
    per_byte = loss_unit.endswith("_per_byte")
    if per_byte and bytes_per_token is None:
        raise InputError(f"a loss in {loss_unit} needs the tokenizer's mean bytes per token on that text "
                         "(bytes_per_token=, --bytes-per-token) to become nats per token")
    if not per_byte and bytes_per_token is not None:
        raise InputError(f"bytes_per_token={bytes_per_token} goes with a per-byte loss unit; the loss unit is {loss_unit!r}")
    if per_byte and not (np.isfinite(bytes_per_token) and bytes_per_token > 0):
        raise InputError(f"bytes_per_token={bytes_per_token}: give a positive number (about 4 for English BPE text)")
    return (np.log(2.0) if loss_unit.startswith("bits") else 1.0) * (float(bytes_per_token) if per_byte else 1.0)


def read_runs(source, columns: Mapping[str, str] | None = None, required=("loss",),
              check_duplicates: bool = True, unmeasured: bool = False, loss_unit: str = "nats",
              bytes_per_token: float | None = None) -> pd.DataFrame:
    """Read a runs table from CSV/parquet/JSON lines/DataFrame, a folder of per-run files
    (:func:`read_folder`) or a ladder's output folder (its runs' logged rows, with their ``status``),
    and validate it.

    ``columns`` maps our names to the file's, e.g. ``{"params": "Model Size"}``; ``required``
    names the columns that must be present (after the mapping and the 6ND fill; default ``loss``
    alone - a whole-curve export has no ``params``; each law asks for its own columns when fitted).
    Returns the table with ``tokens`` filled from ``flops`` / (6 ``params``) or ``flops`` from 6 ND
    (Kaplan et al. 2020, Sec. 2.1) where one is missing, every value checked, the index 0..n-1.
    ``params`` is whatever count the table gives (the shipped ladders log non-embedding N as
    ``params`` and the total as ``params_total``: ``columns={"params": "params_total"}`` switches).
    ``check_duplicates=False`` allows repeated rows (e.g. rows to predict at).  ``unmeasured=True``: rows
    to predict at, whose ``loss`` may be empty (a run not trained yet); a loss that is given is checked.
    ``loss_unit``: the unit of the file's ``loss`` - ``nats`` (per token, the table's unit), ``bits``,
    ``nats_per_byte`` or ``bits_per_byte`` (with ``bytes_per_token``); converted to nats per token on
    reading (:func:`loss_scale`).
    """
    df = _load(source, labels=NAMES + tuple(theirs for ours, theirs in (columns or {}).items() if ours in NAMES))
    twice = df.columns[df.columns.duplicated()]
    if len(twice):
        raise InputError(f"column {twice[0]!r} appears more than once; keep one")
    for ours, theirs in (columns or {}).items():
        if theirs not in df.columns:
            raise InputError(f"column mapping {ours}={theirs!r}: no column {theirs!r}; columns are {list(df.columns)}")
        if ours in df.columns and ours != theirs:      # e.g. a W&B export's train 'loss' beside the 'eval/loss' mapped
            warnings.warn(f"column mapping {ours}={theirs!r}: the table's own {ours!r} column is set aside (not read); "
                          f"{theirs!r} is read as {ours!r}", stacklevel=2)
            df = df.drop(columns=[ours])
        df = df.rename(columns={theirs: ours})
    if "accuracy" in df.columns:            # a task row's accuracy; rows that measured no task leave it empty
        acc = pd.to_numeric(df["accuracy"], errors="coerce").to_numpy(float)
        given = df["accuracy"].notna().to_numpy()
        bad = np.flatnonzero(given & ~((acc >= 0) & (acc <= 1)))
        if bad.size:
            raise InputError(f"column 'accuracy', {row_label(df, bad[0])}: value {_shown(df['accuracy'].iloc[bad[0]])} is not an accuracy "
                             f"in [0, 1] ({bad.size} such row(s)); give accuracies as fractions (percentages / 100)")
        df["accuracy"] = acc
    scale = loss_scale(loss_unit, bytes_per_token)
    for col in [c for c in POSITIVE if c in df.columns]:
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(float) * (scale if col == "loss" else 1.0)
        missing_ok = np.zeros(len(df), bool)
        if col == "loss" and unmeasured:
            missing_ok = np.isnan(values)
        elif col == "loss" and "accuracy" in df.columns:    # a task row that measured only an accuracy
            missing_ok = np.isnan(values) & np.isfinite(df["accuracy"].to_numpy(float))
        bad = np.flatnonzero((~np.isfinite(values) | (values <= 0)) & ~missing_ok)
        if bad.size:
            hint = ("; an export whose rows log different metrics (W&B) leaves the loss empty on the others: keep the "
                    "rows that have one, e.g. table[table['loss'].notna()]") if col == "loss" and np.isnan(values[bad[0]]) else ""
            raise InputError(f"column {col!r}, {row_label(df, bad[0])}: value {_shown(df[col].iloc[bad[0]])} is not a positive finite number"
                             f" ({bad.size} such row(s)); fix or remove them{hint}")
        high = np.flatnonzero(values > MAX_NATS) if col == "loss" else []
        if len(high):
            raise InputError(f"column 'loss', {row_label(df, high[0])}: value {_shown(df[col].iloc[high[0]])} is not a cross-entropy in "
                             f"nats per token (above {MAX_NATS:g}, the log of a vocabulary of 5e21); a perplexity? give its "
                             f"log. A per-sequence sum? divide by the tokens ({len(high)} such row(s)); bits or per-byte "
                             f"losses: loss_unit= (--loss-unit)")
        df[col] = values
    for col in [c for c in df.columns if (c in NUMERIC or str(c).startswith("mix.")) and not pd.api.types.is_numeric_dtype(df[c])]:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy() & df[col].notna().to_numpy())
        if bad.size:
            raise InputError(f"column {col!r}, {row_label(df, bad[0])}: value {_shown(df[col].iloc[bad[0]])} is not a number "
                             f"({bad.size} such row(s)); fix or remove them")
        df[col] = values.to_numpy(float)
    for col in [c for c in NAMES if c in df.columns]:      # a row without a name would fall out of every grouping
        bad = np.flatnonzero(df[col].isna().to_numpy())
        if bad.size:
            raise InputError(f"column {col!r}, {row_label(df, bad[0])}: no {col} name ({bad.size} such row(s)); every row names "
                             f"its {col} - fill or remove them")
        df[col] = df[col].astype(str)          # ids are labels: 7 and '7' name the same run
    if "tokens" not in df.columns and {"flops", "params"} <= set(df.columns):
        df["tokens"] = df["flops"] / (FLOPS_PER_PARAM_TOKEN * df["params"])
    if "flops" not in df.columns and {"tokens", "params"} <= set(df.columns):
        df["flops"] = FLOPS_PER_PARAM_TOKEN * df["params"] * df["tokens"]
    missing = [c for c in required if c not in df.columns]
    if missing:
        close = [] if missing[0].startswith("mix.") else difflib.get_close_matches(missing[0], [str(c) for c in df.columns], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InputError(f"missing column(s) {missing}; columns are {list(df.columns)}; {hint}"
                         f"(map a differently named column with columns={{'{missing[0]}': 'Name'}} or --map {missing[0]}=NAME)")
    key = duplicate_key(df)
    dup = np.array([], int) if not (check_duplicates and key) else np.flatnonzero(df.duplicated(subset=key, keep="first").to_numpy())
    if dup.size:
        raise InputError(f"{row_label(df, dup[0])} duplicates an earlier row on {key} ({dup.size} duplicate(s)); remove them")
    return df.reset_index(drop=True)


def duplicate_key(df: pd.DataFrame) -> list[str]:
    """The columns on which two rows of ``df`` are the same measurement (:data:`KEY` and the mixture weights).

    Without a ``run`` column, rows at the same point that measured different losses are replicates (seeds)
    and both are kept: only a row equal to an earlier one in ``loss`` too is a duplicate.  With ``run``,
    one run measured twice at one step is a duplicate whatever the losses say."""
    key = [c for c in df.columns if c in KEY or str(c).startswith("mix.")]
    if key and "run" not in df.columns and "loss" in df.columns:
        key.append("loss")
    return key


def row_label(df: pd.DataFrame, i: int) -> str:
    """``row i`` (0-based position among the data rows), with the DataFrame's index label when the index is
    not the default 0..n-1 (a filtered or re-indexed table: ``df.loc[label]`` finds it), and the row's run
    and step where the table has them (a folder of per-run files is one table: they say which file)."""
    index = df.index
    where = []
    if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        where.append(f"index {_shown(index[i])}")
    for col in ("run", "step"):
        if col in df.columns and pd.notna(df[col].iloc[i]):
            where.append(f"{col} {_shown(df[col].iloc[i])}")
    return f"row {i}" + (f" ({', '.join(where)})" if where else "")


def _shown(value) -> str:
    """A cell as Python writes it: ``-20000000.0``, not ``np.float64(-20000000.0)``."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def final_rows(table: pd.DataFrame, dataset: str | None = None) -> pd.DataFrame:
    """The last logged row (highest ``step``) of each ``run``, optionally of one ``dataset``.

    Laws of (N, D) such as Chinchilla's are fitted to the *final* loss of each run: with a decaying
    schedule (cosine, WSD) an intermediate loss is above what a run of that length would reach
    (Hoffmann et al. 2022, Sec. 3; Approach 3 uses final losses).
    """
    missing = [c for c in ("run", "step") if c not in table.columns]
    if missing:
        raise InputError(f"final_rows needs columns {missing}; columns are {list(table.columns)}")
    if dataset is not None:
        if "dataset" not in table.columns or not (table["dataset"] == dataset).any():
            raise InputError(f"no rows of dataset {dataset!r}")
        table = table[table["dataset"] == dataset]
    return table.sort_values(["run", "step"], kind="stable").groupby("run", sort=False).tail(1).reset_index(drop=True)
