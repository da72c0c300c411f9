"""A run's directory on disk: its config, its rows of the runs table, its status.

    <out>/<run>/config.json          the RunConfig (written first; a different config under the
                                     same id is an error)
    <out>/<run>/rows/step-00000100.parquet
                                     the rows of one evaluation (one file per evaluation, named
                                     by step, so a crash loses at most the current interval and a
                                     re-done evaluation overwrites its own file: no duplicates)
    <out>/<run>/status.json          {"status": "running" | "done" | "diverged" | "failed",
                                      "step": ..., "steps": ..., "loss": ..., ...}
    <out>/<run>/checkpoint.npz       see :mod:`ladders.checkpoint`
    <out>/<run>/.lock                held (``flock``) by the process training the run, so two
                                     processes never train the same run at once

All files are written to a temporary name and renamed into place (atomic on POSIX).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path

import pandas as pd

from .spec import SpecError

ROWS = "rows"


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_json_object(path: Path, where: str, fix: str) -> dict | None:
    """The JSON object in ``path`` (None if there is no such file).

    A file that cannot be read, is not JSON or holds no object is a :class:`ladders.spec.SpecError`
    ``"<where>: <path> <what is wrong>; <fix>"``.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise SpecError(f"{where}: {path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); {fix}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{where}: cannot read {path} ({e}); {fix}") from None
    if not isinstance(value, dict):
        raise SpecError(f"{where}: {path} holds {json.dumps(value)[:60]}, not a JSON object; {fix}")
    return value


def write_config(run_dir: Path, config: dict) -> None:
    """Write ``config.json``; refuse to reuse a directory that holds a different config."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    old = read_config(run_dir)
    if old is not None:
        if old != json.loads(json.dumps(config)):
            raise ValueError(f"{run_dir} already holds a run with a different config; use another run id or out dir")
        return
    _atomic_write_text(run_dir / "config.json", json.dumps(config, indent=2))


def read_config(run_dir: Path) -> dict | None:
    """The run's ``config.json`` (None before it is written); a SpecError names a broken file."""
    return read_json_object(Path(run_dir) / "config.json", f"run {Path(run_dir).name}",
                            "delete the run's folder to train it again")


def write_status(run_dir: Path, **status) -> None:
    """``status.json`` (valid JSON: a non-finite loss is written as null)."""
    clean = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in status.items()}
    _atomic_write_text(Path(run_dir) / "status.json", json.dumps(clean, indent=2))


def read_status(run_dir: Path) -> dict | None:
    """The run's ``status.json`` (None before the run starts); a SpecError names a broken file
    or one without a ``status``.  (Written atomically: a run killed while writing it leaves the
    previous, complete file.)"""
    path = Path(run_dir) / "status.json"
    where, fix = f"run {Path(run_dir).name}", "delete it to train the run again (from its checkpoint, if any)"
    status = read_json_object(path, where, fix)
    if status is not None and not isinstance(status.get("status"), str):
        raise SpecError(f"{where}: {path} has no 'status' (running, done, diverged or failed); {fix}")
    return status


def write_rows(run_dir: Path, step: int, rows: pd.DataFrame) -> Path:
    """Write one evaluation's rows as ``rows/step-<step>.parquet`` (atomically)."""
    directory = Path(run_dir) / ROWS
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"step-{step:08d}.parquet"
    tmp = directory / f".step-{step:08d}.parquet.tmp"
    rows.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return path


def drop_rows_after(run_dir: Path, step: int) -> None:
    """Remove row files of evaluations after ``step`` (they are redone after a resume)."""
    directory = Path(run_dir) / ROWS
    if directory.exists():
        for path in directory.glob("step-*.parquet"):
            if int(path.stem.split("-")[1]) > step:
                path.unlink()


def read_rows(run_dir: Path) -> pd.DataFrame:
    """All rows of one run, in step order (empty DataFrame if none yet)."""
    directory = Path(run_dir) / ROWS
    paths = sorted(directory.glob("step-*.parquet")) if directory.exists() else []
    if not paths:
        return pd.DataFrame()
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)


@contextlib.contextmanager
def exclusive(run_dir: Path):
    """Hold an exclusive, non-blocking ``flock`` on ``run_dir/.lock``; yields whether we got it.

    The lock dies with its process (a SIGKILLed run leaves no stale lock).  On systems without
    ``fcntl`` (Windows) it always yields True.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        yield True
        return
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(run_dir) / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
