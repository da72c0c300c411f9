"""QAT ladders: the runs of a spec's ``[qat]`` axes, and the FP trunks they share.

For every cell of the spec (size x token budget x schedule x mixture x seed; the schedule must be
a ``wsd``, whose ``T`` updates cover the budget) the ladder holds:

* the FP reference run: the schedule over all ``T`` updates (rows: ``bits`` 16,
  ``qat_fraction`` 0);
* for every pipeline, QAT fraction ``f`` and bit width ``B`` a QAT run of ``T`` updates whose
  last ``round(f T)`` are quantization-aware (Dremov et al. 2025, "Compute-Optimal
  Quantization-Aware Training"):

  - ``fused``: schedule ``wsd`` with ``decay_fraction = f``: FP at the peak LR until the cooldown
    would begin, then QAT starting at the peak LR and carrying the decay;
  - ``classic``: schedule ``rewarm`` with ``rewarm_fraction = f``: the FP phase is a complete
    WSD over ``T1 = T - round(f T)`` updates (its own cooldown), then QAT re-warms to
    ``qat_peak`` over ``qat_warmup`` (of the QAT updates) and decays to the floor;

* for ``classic``, the FP run of ``T1`` updates (the same WSD over ``T1``): an FP model at
  ``D = (1 - f) D_cell`` in its own right (more FP rows for the Chinchilla part of a fit), and the
  parent of the classic QAT runs of every bit width, which start from its last step.

Shared trunks (``share_trunks = true``, the default).  Every WSD run above is, until its
cooldown begins, the same constant-LR run (warmup ``W`` updates, then the peak): the fused run
for ``f`` leaves it at ``T - round(f T)``, the FP runs at ``T - round(d T)`` for the schedule's
``decay_fraction`` ``d``.  So for each group of runs with the same model, data, seed, optimizer,
peak LR and warmup updates, the ladder trains one trunk (a ``constant`` schedule, ``trunk =
true``) up to the latest such step, keeping a checkpoint at each of them, and starts every WSD
run from its step (``parent``).  Trunks are shared across fractions, bit widths and pipelines,
and, when the warmup is given in updates (an integer), across token budgets of one size too.
The trunk's steps are trained once instead of once per run: for six fractions, three bit widths
and both pipelines that is 1 trunk + 7 FP cooldowns + 36 QAT phases per cell instead of 43
runs of ``T`` updates each (:func:`compute` counts the updates).  A fork is only made where the
child's learning rates equal the parent's up to the fork (checked here), so a forked run
computes exactly what it would from scratch (bit for bit on CPU, where batches are a function
of ``(seed, step)``).
"""
from __future__ import annotations

import json

import numpy as np

from .config import RunConfig, tokens_label
from .quant import QuantConfig, default_embed_bits
from .schedules import (Constant, Rewarm, WSD, lr_array, parse_schedule, rewarm_cycles, schedule_to_dict, split_steps,
                        warmup_steps)

PIPELINES = ("classic", "fused")
QAT_KEYS = {"bits", "qat_fraction", "qat_pipeline", "embed_min_bits", "qat_peak", "qat_warmup", "share_trunks"}
QAT_DEFAULTS = {"qat_pipeline": ["classic", "fused"], "embed_min_bits": 4, "qat_peak": None, "qat_warmup": 0.1,
                "share_trunks": True}


class QATSpecError(ValueError):
    """A bad ``[qat]`` table (re-raised as :class:`ladders.spec.SpecError`)."""


def check_qat(table: dict, schedules: list) -> dict:
    """The validated ``[qat]`` table with defaults filled in; errors name the key."""
    unknown = sorted(set(table) - QAT_KEYS)
    if unknown:
        raise QATSpecError(f"[qat]: unknown key(s) {unknown}; allowed: {sorted(QAT_KEYS)}")
    q = {**QAT_DEFAULTS, **table}
    for key in ("bits", "qat_fraction"):
        if key not in q:
            raise QATSpecError(f"[qat]: '{key}' (a list) is required")
    for key in ("bits", "qat_fraction", "qat_pipeline"):
        q[key] = q[key] if isinstance(q[key], list) else [q[key]]
        if not q[key]:
            raise QATSpecError(f"[qat]: '{key}' is empty")
    for b in q["bits"]:
        if not isinstance(b, int) or isinstance(b, bool) or not 1 <= b <= 8:
            raise QATSpecError(f"[qat]: bits must be integers in 1..8 (16 is full precision: the FP runs), got {b!r}")
    for f in q["qat_fraction"]:
        if not isinstance(f, (int, float)) or isinstance(f, bool) or not 0 < f < 1:
            raise QATSpecError(f"[qat]: qat_fraction must be numbers in (0, 1) (0 is the FP run), got {f!r}")
    for p in q["qat_pipeline"]:
        if p not in PIPELINES:
            raise QATSpecError(f"[qat]: qat_pipeline must be among {list(PIPELINES)}, got {p!r}")
    e = q["embed_min_bits"]
    try:
        QuantConfig(1, e if isinstance(e, int) and not isinstance(e, bool) else None)
    except ValueError:
        raise QATSpecError(f"[qat]: embed_min_bits must be an integer in 1..8, or 16 (embeddings in full "
                           f"precision), got {e!r}") from None
    if q["qat_peak"] is not None and not (isinstance(q["qat_peak"], (int, float)) and q["qat_peak"] > 0):
        raise QATSpecError(f"[qat]: qat_peak must be a positive learning rate, got {q['qat_peak']!r}")
    if not isinstance(q["qat_warmup"], (int, float)) or q["qat_warmup"] < 0:
        raise QATSpecError(f"[qat]: qat_warmup must be >= 0 (updates, or a fraction of the QAT phase), got {q['qat_warmup']!r}")
    if not isinstance(q["share_trunks"], bool):
        raise QATSpecError(f"[qat]: share_trunks must be true or false, got {q['share_trunks']!r}")
    for i, s in enumerate(schedules):
        if s["kind"] != "wsd":
            raise QATSpecError(f"schedules[{i}]: a QAT ladder needs wsd schedules (the fused pipeline starts QAT "
                               f"where the cooldown would begin), got {s['kind']!r}")
    return q


def qat_schedule(schedule: dict, pipeline: str, fraction: float, qat_peak, qat_warmup) -> dict:
    """The schedule of a QAT run of ``pipeline`` from the cell's WSD ``schedule`` (module docstring)."""
    s = parse_schedule(schedule)
    if pipeline == "fused":
        return schedule_to_dict(WSD(s.peak, s.warmup, fraction, s.decay_shape, s.floor))
    return schedule_to_dict(Rewarm(s.peak, s.warmup, s.decay_fraction, s.decay_shape, s.floor, fraction,
                                   qat_peak if qat_peak is not None else s.peak, qat_warmup))


def cell_runs(spec, size: dict, budget: dict, schedule: dict, mixture, seed: int, q: dict) -> list:
    """The FP reference, the classic FP prefixes and the QAT runs of one cell (no parents yet)."""
    make = lambda **kw: spec.make_run(size["width"], size["depth"], size["heads"], mixture=mixture, seed=seed, **kw)
    reference = make(schedule=schedule, **budget)
    steps, per_step = reference.steps, reference.tokens_per_step
    runs = [reference]
    for pipeline in q["qat_pipeline"]:
        for f in q["qat_fraction"]:
            qat_steps = split_steps(steps, f)
            fp_steps = steps - qat_steps
            if qat_steps < 1 or fp_steps < warmup_steps(schedule, steps):
                raise QATSpecError(f"qat_fraction {f} of the {steps} updates of {reference.run} leaves {qat_steps} QAT "
                                   "updates and fewer FP updates than the warmup: use a larger budget or another fraction")
            if pipeline == "classic":
                runs.append(make(schedule=schedule, tokens=fp_steps * per_step))
            sched = qat_schedule(schedule, pipeline, f, q["qat_peak"], q["qat_warmup"])
            for b in q["bits"]:
                quant = {"bits": b, "embed_bits": default_embed_bits(b, q["embed_min_bits"]), "fraction": float(f),
                         "pipeline": pipeline}
                runs.append(make(schedule=sched, tokens=reference.tokens, quant=quant))
    return runs


def _base_key(config: RunConfig) -> str:
    """What runs must share to share updates: the config but its length, schedule and roles."""
    d = config.to_dict()
    for name in ("run", "tokens", "schedule", "eval_every", "quant", "parent", "forks", "trunk"):
        d.pop(name, None)
    return json.dumps(d, sort_keys=True, default=str)


def _group_key(config: RunConfig) -> tuple:
    """Runs that can share one constant-LR trunk: same base, peak LR and warmup updates."""
    return _base_key(config), parse_schedule(config.schedule).peak, warmup_steps(config.schedule, config.steps)


def _fp_prefix_key(config: RunConfig) -> tuple:
    """The FP run a classic QAT run starts from: its first phase's WSD over ``qat_start`` updates."""
    fp = schedule_to_dict(rewarm_cycles(config.schedule)[0])
    return _base_key(config), json.dumps(fp, sort_keys=True), config.qat_start


def _constant_prefix(config: RunConfig, peak: float, warmup: int) -> int:
    """The number of leading updates of ``config`` at the trunk's learning rates (and before QAT)."""
    lr = lr_array(config.schedule, config.steps)
    same = lr == lr_array(Constant(peak, warmup), config.steps)
    k = int(np.argmin(same)) if not same.all() else config.steps
    return k if config.quant is None else min(k, config.qat_start)


def with_trunks(spec, runs: list) -> list:
    """``runs`` with classic QAT runs forked from their FP prefix run and every WSD run forked from
    its group's trunk; the trunks first, then the FP runs, then the QAT runs."""
    by_id = {}
    for r in runs:
        by_id.setdefault(r.run, r)
    runs = list(by_id.values())
    parents, forks = {}, {}
    fp_runs = {(_base_key(r), json.dumps(r.schedule, sort_keys=True), r.steps): r.run for r in runs if r.quant is None}
    for r in runs:
        if r.quant is not None and r.quant["pipeline"] == "classic":
            parent = fp_runs[_fp_prefix_key(r)]
            parents[r.run] = (parent, r.qat_start)
            forks.setdefault(parent, set()).add(r.qat_start)
    trunks = []
    if spec.qat["share_trunks"]:
        groups = {}
        for r in runs:
            if r.run not in parents:
                groups.setdefault(_group_key(r), []).append(r)
        for (_, peak, warmup), members in groups.items():
            points = {r.run: _constant_prefix(r, peak, warmup) for r in members}
            points = {run: k for run, k in points.items() if k > warmup}
            if not points:
                continue
            first = members[0]
            length = max(points.values())
            trunk = RunConfig.from_dict({**first.to_dict(), "run": "pending", "quant": None, "parent": None,
                                         "tokens": length * first.tokens_per_step, "eval_every": length,
                                         "schedule": schedule_to_dict(Constant(peak, warmup)), "trunk": True,
                                         "forks": sorted(set(points.values()))})
            size = first.model
            label = f"w{size.width}-d{size.depth}-h{size.heads}-trunk-t{tokens_label(trunk.tokens)}"
            trunk = RunConfig.from_dict({**trunk.to_dict(), "run": f"{label}-{trunk.fingerprint()}"})
            trunks.append(trunk)
            for run, k in points.items():
                parents[run] = (trunk.run, k)
    out = []
    for r in trunks + [r for r in runs if r.quant is None] + [r for r in runs if r.quant is not None]:
        d = r.to_dict()
        if r.run in parents:
            d["parent"] = {"run": parents[r.run][0], "step": parents[r.run][1]}
        if r.run in forks:
            d["forks"] = sorted(set(r.forks) | forks[r.run])
        out.append(RunConfig.from_dict(d))
    check_forks(out)
    return out


def check_forks(runs: list) -> None:
    """Every forked run's learning rates equal its parent's up to the fork, and the parent keeps
    a checkpoint there (an internal consistency check)."""
    by_id = {r.run: r for r in runs}
    for r in runs:
        if r.parent is None:
            continue
        p, k = by_id[r.parent["run"]], r.parent["step"]
        if k not in p.forks or k > p.steps:
            raise QATSpecError(f"run {r.run}: forks from {p.run} at step {k}, where it keeps no checkpoint")
        if not np.array_equal(lr_array(r.schedule, r.steps)[:k], lr_array(p.schedule, p.steps)[:k]):
            raise QATSpecError(f"run {r.run}: its learning rates before step {k} differ from its parent {p.run}'s")


def compute(runs: list) -> dict:
    """Updates the ladder trains (``trained``, each run from its fork on) and would train
    without forks (``from_scratch``, every non-trunk run from step 0)."""
    trained = sum(r.steps - (r.parent["step"] if r.parent else 0) for r in runs)
    return {"trained": trained, "from_scratch": sum(r.steps for r in runs if not r.trunk)}
