"""Schedule planner for the whole-curve laws (``tissue``, ``multipower``): which learning-rate schedule
reaches the lowest final loss in a step budget, and the best WSD decay fraction.

Given a fit and a budget of ``steps`` updates at a peak rate ``peak`` (after ``warmup`` updates;
decays end at ``floor``), the planner predicts the final loss - the loss after the last update -
of every candidate:

* one schedule per family: ``constant``, ``cosine``, ``linear``, ``multistep`` (x0.316 at 80 % and
  90 % of training, as in DeepSeek LLM, Bi et al. 2024) and ``wsd`` (warmup-stable-decay) with each
  decay shape (``linear``, ``cosine``, ``sqrt``; ``exponential`` when ``floor > 0``);
* for WSD, every decay fraction of ``decay_fractions`` (default 0.05, 0.10, ..., 1.0, then every 0.01
  within 0.05 of the best for its shape) for each shape: ``wsd.scan`` holds the predicted final loss of
  each, ``wsd.decay_fraction`` the best;
* ``candidates``: any further schedules (descriptions; with their own ``total_steps`` they are
  ranked at their own length, e.g. to compare runs of different lengths).

Schedules are ranked by predicted final loss; each has the percentile interval over the fit's
parameter samples and ``p_best``, the share of samples under which it is the best of all candidates.
Intervals reflect parameter uncertainty only (curve residuals are correlated in time, so treat
them as a lower bound).  Defaults for ``peak``, ``warmup`` and ``floor`` come from the schedules
the fit was made with when they were descriptions.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from ladders import schedules as ls

from . import curves
from .errors import InputError
from .result import FitResult, design

DECAY_FRACTIONS = tuple(np.round(np.arange(0.05, 1.0001, 0.05), 2))
FINE_STEP = 0.01            # the default scan is refined to this around its best fraction
WSD_SHAPES = ("linear", "cosine", "sqrt", "exponential")
MULTISTEP = {"milestones": (0.8, 0.9), "gamma": 0.316}


def _fit_defaults(fit: FitResult) -> dict:
    """peak, warmup, floor of the schedules the fit was made with (when stored as descriptions)."""
    stored = (fit.options.get("law_options") or {}).get("schedules")
    if isinstance(stored, dict):
        descs = [v for v in stored.values() if curves.is_description(v)]
    elif stored is not None and curves.is_description(stored):
        descs = [stored]
    else:
        descs = []
    scheds = []
    for d in descs:
        try:
            scheds.append(curves._split_total(d)[0])
        except InputError:
            pass
    if not scheds:
        return {}
    out = {"peak": max(s.peak for s in scheds),
           "warmup": Counter(s.warmup for s in scheds).most_common(1)[0][0]}
    floors = [s.floor for s in scheds if getattr(s, "floor", 0) > 0]
    out["floor"] = Counter(floors).most_common(1)[0][0] if floors else 0.0
    return out


def _candidates(steps, peak, warmup, floor, families, fractions) -> list[tuple[str, str, object]]:
    """(family, label, schedule object) for every candidate of the families."""
    base = {"peak": peak, "warmup": warmup}
    out = []
    shapes = [s for s in WSD_SHAPES if s != "exponential" or floor > 0]
    for fam in families:
        if fam == "constant":
            out.append((fam, None, ls.Constant(**base)))
        elif fam in ("cosine", "linear"):
            out.append((fam, None, ls.KINDS[fam](**base, floor=floor)))
        elif fam == "multistep":
            out.append((fam, None, ls.MultiStep(**base, **MULTISTEP)))
        elif fam == "wsd":
            for shape in shapes:
                for f in fractions:
                    out.append((fam, shape, ls.WSD(**base, decay_fraction=float(f), decay_shape=shape, floor=floor)))
        else:
            raise InputError(f"unknown schedule family {fam!r}; choose from constant, cosine, linear, multistep, wsd")
    return out


def plan_schedule(fit: FitResult, flops=None, steps: int | None = None, peak: float | None = None,
                  warmup: float | None = None, floor: float | None = None, families=None,
                  decay_fractions=None, candidates=None, level: float | None = None, **unused) -> dict:
    """Best schedule among families, best WSD decay fraction, and a ranking (module docstring)."""
    unknown = sorted(k for k, v in unused.items() if v is not None)
    if unknown:
        raise InputError(f"plan for law {fit.law.name!r}: unknown option(s) {unknown}; the schedule planner takes "
                         "steps=, peak=, warmup=, floor=, families=, decay_fractions=, candidates=, level=")
    if flops is not None:
        raise InputError(f"law {fit.law.name!r} plans learning-rate schedules for a step budget: give steps=T, not flops")
    if not curves.is_curve_law(fit.law):
        raise InputError(f"law {fit.law.name!r} is not a whole-curve law")
    defaults = _fit_defaults(fit)
    peak = defaults.get("peak") if peak is None else float(peak)
    warmup = defaults.get("warmup", 0) if warmup is None else warmup
    floor = defaults.get("floor", 0.0) if floor is None else float(floor)
    families = ("constant", "cosine", "linear", "multistep", "wsd") if families is None else tuple(families)
    fractions = DECAY_FRACTIONS if decay_fractions is None else tuple(float(f) for f in decay_fractions)
    cand = dict(candidates) if isinstance(candidates, dict) else {curves.describe(c): c for c in (candidates or [])}
    if steps is None and cand:          # the candidates' own length, when they all carry the same one
        lengths = {len(c) if not curves.is_description(c) else curves.total_steps(c) for c in cand.values()}
        steps = lengths.pop() if len(lengths) == 1 and None not in lengths else None
    if families and steps is None:
        raise InputError("give the step budget: steps=T (scaling plan FIT.json --steps T)")
    if families and peak is None:
        raise InputError("give the peak learning rate: peak=LR (--peak); the fit does not record its schedules")
    if not families and not cand:
        raise InputError("nothing to plan: no families and no candidate schedules")
    if steps is not None and not (float(steps) >= 2 and float(steps) == int(steps)):
        raise InputError(f"steps={steps}: the budget is a whole number of updates >= 2")
    if peak is not None and not (np.isfinite(peak) and peak > 0):
        raise InputError(f"peak={peak}: the peak learning rate is a number > 0 (--peak)")
    if not (np.isfinite(floor) and floor >= 0) or (peak is not None and floor >= peak):
        raise InputError(f"floor={floor}: the final learning rate lies in [0, peak={peak}) (--floor)")
    if not (np.isfinite(float(warmup)) and float(warmup) >= 0):
        raise InputError(f"warmup={warmup}: a number of steps (or a share of the budget below 1) >= 0 (--warmup)")
    if isinstance(warmup, float) and warmup >= 1:
        warmup = int(warmup)
    if steps is not None and float(warmup) >= 1 and int(warmup) >= int(steps):
        raise InputError(f"warmup={warmup}: as long as the budget of {int(steps)} steps or longer (--warmup)")
    if any(not 0 < f <= 1 for f in fractions):
        raise InputError("decay fractions lie in (0, 1]")

    entries = []          # (label, family, shape, fraction, lr array)
    try:
        for fam, shape, s in _candidates(int(steps or 0), peak, warmup, floor, families, fractions):
            entries.append((ls.schedule_to_string(s), fam, shape, getattr(s, "decay_fraction", None),
                            ls.lr_array(s, int(steps))))
    except ValueError as e:
        raise InputError(f"schedule planner: {e}") from None
    for label, c in cand.items():
        lr = curves.schedule_array(c, steps) if curves.is_description(c) else np.asarray(c, float)
        entries.append((str(label), "candidate", None, None, lr))

    loss, samples = _final_losses(fit, entries)
    if decay_fractions is None and "wsd" in families:      # the default scan, refined around its best fraction
        fine = _refined(entries, loss, steps, peak, warmup, floor)
        if fine:
            more, more_samples = _final_losses(fit, fine)
            entries, loss = entries + fine, np.concatenate([loss, more])
            samples = None if samples is None else np.concatenate([samples, more_samples], axis=1)
    lo, hi = fit.interval(samples, level, point=loss)
    lo, hi = np.broadcast_to(lo, loss.shape), np.broadcast_to(hi, loss.shape)
    p_best = (np.bincount(np.argmin(samples, axis=1), minlength=len(entries)) / len(samples)
              if samples is not None else np.full(len(entries), np.nan))

    def entry(i):
        label, fam, shape, frac, lr = entries[i]
        return {"schedule": label, "family": fam, "steps": int(len(lr)), "loss": float(loss[i]),
                "interval": None if np.isnan(lo[i]) else [float(lo[i]), float(hi[i])], "p_best": float(p_best[i])}

    order = np.argsort(loss, kind="stable")
    # one row per family (WSD: its best fraction per shape), the candidates, then the WSD scan
    ranked = []
    seen = set()
    for i in order:
        label, fam, shape, frac, _ = entries[i]
        key = (fam, shape) if fam != "candidate" else ("candidate", label)
        if key in seen:
            continue
        seen.add(key)
        ranked.append(entry(i))
    out = {"law": fit.law.name, "steps": None if steps is None else int(steps), "peak": peak, "warmup": warmup,
           "floor": floor, "level": fit.level if level is None else level, "uncertainty": fit.uncertainty,
           "weakly_identified": fit.weakly_identified()}
    best = ranked[0]
    out.update({"best": best["schedule"], "loss": best["loss"], "interval": best["interval"], "ranking": ranked})
    if "wsd" in families:
        scan = {}
        for shape in dict.fromkeys(e[2] for e in entries if e[1] == "wsd"):
            idx = sorted((i for i, e in enumerate(entries) if e[1] == "wsd" and e[2] == shape), key=lambda i: entries[i][3])
            scan[shape] = {"decay_fractions": [entries[i][3] for i in idx], "loss": [float(loss[i]) for i in idx]}
        wi = min((i for i, e in enumerate(entries) if e[1] == "wsd"), key=lambda i: loss[i])
        w = entry(wi)
        out["wsd"] = {"decay_shape": entries[wi][2], "decay_fraction": entries[wi][3], "schedule": w["schedule"],
                      "loss": w["loss"], "interval": w["interval"], "scan": scan}
    return out


def _final_losses(fit: FitResult, entries) -> tuple[np.ndarray, np.ndarray | None]:
    """Predicted loss after the last update of each entry's schedule, and its samples (S, len(entries))."""
    names = [f"c{i}" for i in range(len(entries))]
    rows = pd.DataFrame({"run": names, "step": [len(e[4]) for e in entries]})
    X = design(fit.law, rows, {**fit.stored_law_options(), "schedules": {n: e[4] for n, e in zip(names, entries)}})   # its warmup=, lam=
    return fit.point_loss(X), fit.loss_samples(X)


def _refined(entries, loss, steps, peak, warmup, floor) -> list:
    """WSD entries of the best shape at every ``FINE_STEP`` of decay fraction within one coarse step of the best
    fraction (down to ``FINE_STEP``: the best of the coarse grid may be its first point, 0.05)."""
    wsd = [i for i, e in enumerate(entries) if e[1] == "wsd"]
    if not wsd:
        return []
    best = min(wsd, key=lambda i: loss[i])
    shape, f = entries[best][2], entries[best][3]
    have = {e[3] for e in entries if e[1] == "wsd" and e[2] == shape}
    span = DECAY_FRACTIONS[1] - DECAY_FRACTIONS[0]
    grid = np.round(np.arange(FINE_STEP, 1 + 1e-9, FINE_STEP), 2)
    fine = [float(g) for g in grid[(np.abs(grid - f) < span - 1e-9)] if float(g) not in have]
    out = []
    for fam, s_shape, sched in _candidates(int(steps), peak, warmup, floor, ("wsd",), fine):
        if s_shape != shape:
            continue
        try:
            out.append((ls.schedule_to_string(sched), fam, shape, sched.decay_fraction, ls.lr_array(sched, int(steps))))
        except ValueError:          # a decay shorter than one update at this budget
            continue
    return out


# -- command line (called from scaling.cli) ------------------------------------------------------
def _floats(text, flag):
    try:
        return [float(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise InputError(f"{flag} {text!r}: give comma-separated numbers, e.g. {flag} 0.1,0.2,0.3") from None


def cli_plan(args, fit, emit) -> None:
    """``scaling plan FIT.json --steps T [--peak LR --warmup W --floor F] [--schedule S ...]``."""
    from .plan import plan, weak_note
    options = {"steps": args.steps, "peak": args.peak, "warmup": args.warmup, "floor": args.floor, "level": args.level}
    if args.warmup is not None and float(args.warmup) >= 1:
        options["warmup"] = int(args.warmup)
    if args.families is not None:
        options["families"] = [f.strip() for f in args.families.split(",") if f.strip()]
    if args.decay_fractions is not None:
        options["decay_fractions"] = _floats(args.decay_fractions, "--decay-fractions")
    if args.schedule:
        options["candidates"] = {curves.describe(s): s for s in args.schedule}
    out = plan(fit, **{k: v for k, v in options.items() if v is not None})
    lines = [f"schedule plan from {fit.law.name}: {out['steps']} steps, peak {out['peak']}, warmup {out['warmup']}, "
             f"floor {out['floor']} (predicted final loss, {100 * out['level']:g}% interval, share of samples where best)"]
    for r in out["ranking"]:
        span = "" if not r["interval"] else f"[{r['interval'][0]:.5g}, {r['interval'][1]:.5g}]"
        lines.append(f"  {r['loss']:>9.5g} {span:<22} {r['p_best']:>5.2f}  {r['schedule']}")
    if "wsd" in out:
        w = out["wsd"]
        lines.append(f"best WSD: decay_fraction {w['decay_fraction']:g} ({w['decay_shape']} decay), loss {w['loss']:.5g}")
    lines += weak_note(out)
    emit(args, out, "\n".join(lines))
