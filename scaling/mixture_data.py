"""Reader of the RegMix mixture runs (Liu et al. 2024, arXiv:2407.01492; github.com/sail-sg/regmix, MIT):
17 Pile domains, final validation losses on 13 Pile domains, as a long runs table.

Files in the data folder (see its PROVENANCE.txt): ``{train,test}_mixture_<size>.csv`` (one row
per run ``index``, column ``train_the_pile_<domain>`` = that domain's share of the training
tokens) and ``{train,test}_pile_loss_<size>.csv`` (column ``metric/the_pile_<domain>_val_loss``).
Sizes and token counts from the paper: 1M-parameter models on 1B tokens (512 train and 256 test
mixtures), 60M on 1B (the same 256 test mixtures), 1B on 25B (64 test mixtures).  One row per
(run, validation domain): ``dataset`` is the Pile domain (e.g. ``pile_cc``), ``mix.<domain>`` the
training weights; the losses are nats per token as published.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .errors import InputError

SIZES = {"1m": (1e6, 1e9), "60m": (6e7, 1e9), "1B": (1e9, 25e9)}
MIX_PREFIX, LOSS_PREFIX, LOSS_SUFFIX = "train_the_pile_", "metric/the_pile_", "_val_loss"


def read_regmix(root, split: str = "train", size: str = "1m") -> pd.DataFrame:
    """The runs of one split (``train``: 1m only; ``test``: 1m, 60m, 1B) as a long runs table."""
    if size not in SIZES or (split, size) not in {("train", "1m")} | {("test", s) for s in SIZES}:
        raise InputError(f"RegMix has train/1m and test/{{1m, 60m, 1B}} runs; not {split}/{size}")
    root = Path(root)
    mix_path, loss_path = root / f"{split}_mixture_{size}.csv", root / f"{split}_pile_loss_{size}.csv"
    for p in (mix_path, loss_path):
        if not p.exists():
            raise InputError(f"RegMix file not found: {p}")
    mix = pd.read_csv(mix_path).set_index("index")
    loss = pd.read_csv(loss_path).set_index("index")
    mix = mix.loc[loss.index]
    params, tokens = SIZES[size]
    wide = pd.DataFrame({"run": [f"{split}-{size}-{i}" for i in loss.index], "params": params, "tokens": tokens})
    for c in mix.columns:
        wide[f"mix.{c.removeprefix(MIX_PREFIX)}"] = mix[c].to_numpy()
    frames = []
    for c in loss.columns:
        frames.append(wide.assign(dataset=c.removeprefix(LOSS_PREFIX).removesuffix(LOSS_SUFFIX), loss=loss[c].to_numpy()))
    return pd.concat(frames, ignore_index=True)
