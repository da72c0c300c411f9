"""Datasets shipped in ``data/`` (installed as ``scaling._data``), for notebooks and tests that
should not have to train first."""
from __future__ import annotations

from importlib import resources

import pandas as pd


def reference_ladder() -> pd.DataFrame:
    """The runs of the default ``scaling demo`` ladder plus its held-out run (column ``role``);
    provenance in ``data/reference_ladder.md``."""
    with resources.as_file(resources.files("scaling._data") / "reference_ladder.parquet") as path:
        return pd.read_parquet(path)


def mixture_ladder() -> pd.DataFrame:
    """The mixture ladder on the embedded corpus (2 sizes x 41 mixtures of code, prose and
    comments, plus the planned optimum and repeats at other seeds; column ``role``: ``fit``,
    ``held-out``, ``optimum``, ``repeat``); spec in ``data/mixture_ladder.toml``, provenance in
    ``data/mixture_ladder.md``."""
    with resources.as_file(resources.files("scaling._data") / "mixture_ladder.parquet") as path:
        return pd.read_parquet(path)


def qat_ladder() -> pd.DataFrame:
    """The CPU QAT ladder on the embedded corpus (S = D / (N B / 8) from 53 to 20,000, bits 2/4/6,
    six QAT fractions, the classic and fused pipelines, seeds 0-3; column ``run_kind``: ``fp``,
    ``qat``, ``trunk``); spec in ``data/qat_ladder.toml``, provenance in ``data/qat_ladder.md``."""
    with resources.as_file(resources.files("scaling._data") / "qat_ladder.parquet") as path:
        return pd.read_parquet(path)
