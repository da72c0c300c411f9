"""Hoffmann et al. 2022 Approaches 1 and 2 from the front door: any runs table in, results out.

Thin wrappers over :mod:`fitters.approaches` that read and validate the table like
:func:`scaling.fit` (column mapping, dataset choice) and turn a bad table into an
:class:`InputError`.
"""
from __future__ import annotations

import numpy as np

from fitters import approaches as _approaches

from .errors import InputError
from .fit import select_dataset
from .result import check_level
from .runs import read_runs

APPROACHES = {"approach1": _approaches.approach1, "approach2": _approaches.approach2}


def isoflop_fit(approach: str, runs, *, columns=None, dataset: str | None = None, **options):
    """Run ``approach`` ("approach1" or "approach2") on a runs table; options go to it
    (e.g. ``n_bins=30``; ``budget_rtol=0.3``, ``loss_window=0.1``, ``level=0.95``)."""
    check_level(options.get("level"))
    bad = [f"{k}={v}" for k, v in options.items() if isinstance(v, float) and not np.isfinite(v)]
    if bad:
        raise InputError(f"{approach}: {bad[0]} is not a number")
    table = select_dataset(read_runs(runs, columns, required=("params", "tokens", "loss")), dataset)
    try:
        return APPROACHES[approach](table, **options)
    except TypeError as e:
        raise InputError(f"{approach}: {e}") from None
    except ValueError as e:
        raise InputError(str(e)) from None


def approach1(runs, **options):
    """Approach 1: the minimum-loss envelope over FLOPs -> N_opt ~ C^a, D_opt ~ C^b (see :func:`isoflop_fit`)."""
    return isoflop_fit("approach1", runs, **options)


def approach2(runs, **options):
    """Approach 2: isoFLOP parabolas -> N_opt ~ C^a, D_opt ~ C^b (see :func:`isoflop_fit`)."""
    return isoflop_fit("approach2", runs, **options)
