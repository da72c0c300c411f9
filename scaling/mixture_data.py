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


def regmix_table(root, laws=("mixture-linear", "mixture-ye", "mixture-additive"), target: str = "pile_cc") -> pd.DataFrame:
    """Fit each law on the 512 train mixtures (1M models) and rank the unseen mixtures at 1M, 60M and 1B:
    one row per law with the Spearman correlation of predicted and actual ``target`` loss at each size."""
    from scipy.stats import spearmanr

    from .fit import fit as fit_law
    train = read_regmix(root, "train", "1m")
    tests = {s: read_regmix(root, "test", s) for s in ("1m", "60m", "1B")}
    rows = []
    for law in laws:
        f = fit_law(law, train, target=target)
        row = {"law": law, "parameters": len(f.params)}
        for s, t in tests.items():
            t = t[t.dataset == target]
            row[f"spearman_{s}"] = float(spearmanr(f.predict(t)["loss_pred"], t["loss"]).statistic)
        rows.append(row)
    return pd.DataFrame(rows)


if __name__ == "__main__":       # python -m scaling.mixture_data ../shared/data/regmix2024
    import sys
    print(regmix_table(sys.argv[1]).to_string(index=False, float_format="%.4f"))
