"""Ready-made ladder specs for the demo and for quick checks on a 2-core CPU.

:func:`demo_spec` returns a spec dict (feed it to :func:`ladders.run_ladder` or dump it as
TOML): four sizes x three token budgets (tokens-per-parameter multipliers) on the embedded
corpus, byte-level, context 64, batch 16 (quick: 8), one cosine schedule with per-width rates,
the uniform mixture.
:func:`held_out_run` adds one larger run with at least ``flops_multiple`` times the FLOPs
(``6 N D``) of the largest run of the ladder, for checking a prediction.
"""
from __future__ import annotations

import math

from .model import ModelConfig, param_counts
from .spec import load_spec

SIZES = [  # N (non-embedding) = 12384, 24736, 55536, 98624
    {"width": 32, "depth": 1, "heads": 2},
    {"width": 32, "depth": 2, "heads": 2},
    {"width": 48, "depth": 2, "heads": 2},
    {"width": 64, "depth": 2, "heads": 2},
]
HELD_OUT_SIZES = [  # N = 332448, 590720, 787584
    {"width": 96, "depth": 3, "heads": 3},
    {"width": 128, "depth": 3, "heads": 4},
    {"width": 128, "depth": 4, "heads": 4},
]


def demo_spec(quick: bool = False) -> dict:
    """The demo ladder: 4 sizes x 3 budgets (``quick``: 8, 16, 32 tokens/param at batch 8; else 16, 32,
    64 at batch 16), each width at its own learning rate (``lr_base_width = 64``: peak 3e-3 at width
    64, ``64 / width`` times it elsewhere - muP's Adam rule, see :mod:`ladders.spec`).

    Why these choices - measured on the 2-core CPU, ``scaling demo`` (the held-out run at 4x the
    largest ladder run's FLOPs; 95 % bootstrap intervals), relative error of the predicted held-out loss:

    ====================================  ===============  =============================
    ladder (tokens per parameter)         one rate (3e-3)  rate ~ 1 / width (seeds 0, 1, 2)
    ====================================  ===============  =============================
    4, 8, 16  (the former ``--quick``)    +2.7 %           +6.1 % (outside the interval)
    6, 12, 24 (the former default)        -3.3 %           +0.1 %
    8, 16, 32                                              -2.0 %, +1.3 %, -8.3 %
    8, 16, 32 at batch 8 (``--quick``)                     -2.3 %, +0.1 %, +1.3 %
    10, 20, 40                                             -7.5 %, -0.2 %
    12, 24, 48                            -11.4 %          -1.9 %, -3.7 %
    16, 32, 64 (default)                                   -0.6 %, -0.6 %, -1.5 %
    ====================================  ===============  =============================

    At one rate the small models train too cautiously (at 1.2M tokens width 32 reaches 1.71 nats at
    1e-2 against 1.87 at 3e-3, width 128 1.38 at 3e-3 and 1.75 at 1e-2: data/lr_width_sweep.toml),
    which steepens the fitted size term and makes the larger held-out run look better than it trains.
    Longer runs leave the first few hundred updates, where the loss is not yet a power law in data:
    at 16-64 tokens per parameter the fitted ``E`` is 0.7 and the error stays within 2 % over three seeds.  Half as many
    tokens at batch 16 leave ``E`` unidentified (one seed of three fits ``E = 0`` and a flat size
    term: -8 %); the quick ladder keeps the token budgets but halves the batch, so its runs take as
    many updates as the default's (small batches are the token-efficient ones this early in
    training; McCandlish et al. 2018, "An Empirical Model of Large-Batch Training"), and its error
    stays within 2.4 % over three seeds - a preview, less sure than the default.  (Four smaller
    sizes, widths 24-48, at 16-64 tokens per parameter with a width-64 held-out run: -7.6 %.)
    Wall clock of ``scaling demo`` (2 worker processes, corpus cached): quick 103 s, default 160 s.
    """
    return {
        "name": "demo-quick" if quick else "demo",
        "seed": 0,
        "sizes": [dict(s) for s in SIZES],
        "model": {"context": 64, "compute_dtype": "bfloat16", "activation": "relu2", "tied": True},
        "budget": {"tokens_per_param": [8, 16, 32] if quick else [16, 32, 64]},
        "train": {"batch_size": 8 if quick else 16, "evals": 8, "eval_windows": 64, "steps_per_dispatch": 8,
                  "lr_base_width": 64},
        "schedules": [{"kind": "cosine", "peak": 3e-3, "warmup": 0.05, "floor": 3e-4}],
        "data": {"corpus": "default"},
    }


def held_out_run(spec, flops_multiple: float = 4.0, sizes=None, run: str = "held-out"):
    """A run of the first of ``sizes`` (default :data:`HELD_OUT_SIZES`) larger than every ladder
    size, with ``D`` chosen so that its ``6 N D`` is ``flops_multiple`` times the largest ladder
    run's."""
    spec = load_spec(spec)
    runs = spec.runs()
    n_of = lambda cfg: param_counts(cfg.model)["non_embedding"]
    biggest = max(runs, key=lambda r: 6 * n_of(r) * r.tokens)
    max_n = max(n_of(r) for r in runs)
    target = flops_multiple * 6 * n_of(biggest) * biggest.tokens
    for size in sizes or HELD_OUT_SIZES:
        n = param_counts(spec.model_config(**size))["non_embedding"]
        if n > max_n:
            return spec.make_run(**size, tokens=math.ceil(target / (6 * n)), run=run)
    raise ValueError("no held-out size is larger than the ladder's sizes")
