"""Inputs of the whole-curve laws, computed exactly from per-step learning rates (NumPy only).

The whole-curve laws (:mod:`fitters.tissue`, :mod:`fitters.multipower`) predict the loss at step
``s`` of a run from the learning rates of every update before it.  This module turns a run's
per-step learning rates into those inputs; it knows nothing of schedule *descriptions*: turning
``"wsd:peak=3e-4,decay_fraction=0.2"`` or a logged ``lr`` column into per-step arrays is done by
:mod:`scaling.curves` with the trainer's own :func:`ladders.schedules.lr_array` (one
implementation of schedules; ``fitters`` imports neither ``ladders`` nor ``scaling``).

Conventions (the same as :mod:`ladders.schedules`): ``lr[i]`` is the rate of update ``i``, the one
that takes the model from step ``i`` to step ``i + 1``; the loss logged at step ``s`` has seen
updates ``0 .. s-1``.  So, for a row at step ``s``:

* forward area ``S1(s) = sum_{i<s} lr[i]`` - warmup included (Tissue et al. 2024 count the warmup
  area in S1; Luo et al. 2025 write it ``S1 + S_W``, the same number);
* drops ``delta_i = lr[i-1] - lr[i]`` (positive while the rate falls);
* warmup: every update before the learning rate first *decreases* (the non-decreasing prefix).
  Its increases are not counted as (negative) drops: both papers start the annealing terms after
  warmup.  Later increases (re-warming) do count, with their sign.
* warmup area in ``S1``: ``warmup="actual"`` (default) sums the warmup's own rates - Luo et al.'s
  ``S_W``; ``warmup="peak"`` counts every update before the rate first reaches its peak *at* the
  peak - the convention of Tissue et al. 2024 (their Sec. 3.4 and released code: the warmup's rates
  are taken as the maximal LR in ``S1`` and ``S2``).  Only ``S1`` changes (no drops in warmup).  On
  Luo et al.'s curves (authors' split) ``"actual"`` predicts better at 25M and 100M, ``"peak"`` at
  400M (README, "Measured").
* Tissue et al. 2024 annealing area with momentum (decay factor ``lam``, 0.999 in the paper):
  ``m_i = lam m_{i-1} + delta_i`` after warmup (0 before), ``S2(s) = sum_{i<s} m_i``;
* Luo et al. 2025 loss reduction ``LD(s) = B sum_{i=i0}^{s-1} delta_i G(C lr[i]^-gamma S_i(s))``,
  ``S_i(s) = sum_{t=i}^{s-1} lr[t]`` (the area from update ``i`` on, its own rate included),
  ``G(x) = 1 - (1 + x)^-beta``.

``LD`` depends on the fitted ``C, beta, gamma``, so it is evaluated inside the law; this module
gives it, per row, the drops grouped by their distance ``d = s - i`` before the row: each of the
last ``EXACT`` drops on its own, older ones in bins whose width grows geometrically (ratio
``1 + RATIO``).  A bin carries its summed drop and the drop-weighted means of ``log lr`` and of
``S_i(s)``: a single drop (a step decay) is exact, and a smooth decay is integrated to second
order in the bin's relative width (at most 1e-4 in loss on the Luo et al. schedules; up to 3.3e-4 for
a short decay to a zero rate at ``B * peak = 0.12``, always over-stated, ``G`` being concave; see the
tests).  A drop to a zero rate with no update since it adds ``G(0) = 0`` (:func:`_idle_drop`).
Where a rate rises again after warmup (restarts, re-warming) its rises are binned apart from its falls
(within 2e-4 nats on restart schedules, tests); a rate that swings up and down at many steps is warned
about.  That keeps the law's input at (rows x ~100) numbers whatever the number of steps.
"""
from __future__ import annotations

import math
import warnings
from typing import Mapping, Sequence

import numpy as np

TISSUE_DECAY = 0.999      # Tissue et al. 2024's momentum decay factor lambda
EXACT = 8                 # the last EXACT drops before a row are kept one by one
RATIO = 0.25              # then bins of relative width RATIO in the distance to the row
TINY_LR = 1e-30           # stands in for a zero learning rate inside a logarithm
ROUNDING = 1e-12          # drops below this share of a run's summed |drops| are rounding, not schedule
CHOPPY = 20.0             # a rate whose summed |drops| after warmup exceed CHOPPY x its peak gets a warning
# Stopping rules of the whole-curve fits: their objectives are small (1e-4 on real curves, 1e-7 on
# clean ones) and flat along ridges of (B, C, beta, gamma), where scipy's default ftol (2.2e-9,
# absolute below 1) stops L-BFGS long before the optimum; these tolerances reach it (see the tests).
FIT_DEFAULTS = {"gtol": 1e-8, "ftol": 1e-13}
WARMUP_RULES = ("actual", "peak")   # how the warmup's updates enter S1 (module docstring)


def check_lr(lr, name: str = "run") -> np.ndarray:
    """A 1-D float array of finite, non-negative learning rates (ValueError naming the first bad step)."""
    lr = np.asarray(lr, dtype=float)
    if lr.ndim != 1:
        raise ValueError(f"{name}: the learning rates must be a 1-D array (one per step), got shape {lr.shape}")
    bad = np.flatnonzero(~np.isfinite(lr) | (lr < 0))
    if bad.size:
        raise ValueError(f"{name}: learning rate at step {bad[0]} is {lr[bad[0]]!r}; learning rates are finite and >= 0")
    return lr


def warmup_end(lr: np.ndarray) -> int:
    """Index of the first update whose rate is below the previous one (``len(lr)`` if it never decreases)."""
    lr = np.asarray(lr, float)
    down = np.flatnonzero(np.diff(lr) < 0)
    return int(down[0] + 1) if down.size else len(lr)


def warmup_at_peak(lr: np.ndarray) -> np.ndarray:
    """A copy of ``lr`` with every update before the first one at the warmup's peak raised to that peak
    (the peak: the largest rate of the non-decreasing prefix; Tissue et al. 2024's warmup convention)."""
    lr = np.array(lr, dtype=float)
    head = lr[:warmup_end(lr)]
    if head.size:
        first = int(np.argmax(head >= head.max()))
        lr[:first] = head.max()
    return lr


def check_warmup(warmup: str) -> str:
    if warmup not in WARMUP_RULES:
        raise ValueError(f"warmup={warmup!r}: use one of {WARMUP_RULES} (how warmup updates enter S1)")
    return warmup


def drops(lr: np.ndarray) -> np.ndarray:
    """``delta_i = lr[i-1] - lr[i]`` after warmup, 0 in warmup and at ``i = 0`` (shape of ``lr``)."""
    lr = np.asarray(lr, float)
    d = np.zeros_like(lr)
    d[1:] = lr[:-1] - lr[1:]
    d[:warmup_end(lr)] = 0.0
    return d


def area(lr: np.ndarray) -> np.ndarray:
    """Cumulative area ``a[s] = sum_{i<s} lr[i]``, ``s = 0 .. len(lr)`` (length ``len(lr) + 1``)."""
    return np.concatenate([[0.0], np.cumsum(np.asarray(lr, float))])


def check_steps(lr: np.ndarray, steps, name: str = "run") -> np.ndarray:
    """Integer steps within the schedule (a row at step ``s`` needs ``lr[0 .. s-1]``)."""
    steps = np.asarray(steps, dtype=float)
    if steps.size and (np.any(~np.isfinite(steps)) or np.any(steps < 0) or np.any(steps != np.round(steps))):
        bad = steps[~np.isfinite(steps) | (steps < 0) | (steps != np.round(steps))][0]
        raise ValueError(f"{name}: step {bad!r} is not a whole number >= 0")
    steps = steps.astype(np.int64)
    if steps.size and steps.max() > len(lr):
        raise ValueError(f"{name}: the schedule covers {len(lr)} steps but a row is at step {int(steps.max())}; "
                         "give the run's learning rate for every step up to its last row (a longer schedule or total_steps)")
    return steps


def forward_area(lr, steps) -> np.ndarray:
    """``S1`` at each step (warmup included)."""
    lr = check_lr(lr)
    return area(lr)[check_steps(lr, steps)]


def annealing_area(lr, steps, lam: float = TISSUE_DECAY) -> np.ndarray:
    """Tissue et al. 2024's ``S2`` (annealing area with momentum ``lam``) at each step, exactly."""
    lr = check_lr(lr)
    steps = check_steps(lr, steps)
    if not 0.0 <= lam < 1.0:
        raise ValueError(f"momentum decay factor lambda={lam}: use a number in [0, 1), e.g. 0.999")
    d = drops(lr)
    if lam == 0.0:
        m = d
    else:
        from scipy.signal import lfilter       # m_i = lam m_{i-1} + d_i, exactly
        m = lfilter([1.0], [1.0, -lam], d)
    return np.concatenate([[0.0], np.cumsum(m)])[steps]


def _bin_of_distance(dist: np.ndarray, exact: int, ratio: float) -> np.ndarray:
    """Bin index of distances ``d >= 1``: ``d - 1`` for the first ``exact``, then geometric bins."""
    dist = np.asarray(dist, np.int64)
    far = np.floor(np.log(np.maximum(dist, exact) / exact) / math.log1p(ratio) + 1e-9).astype(np.int64)
    return np.where(dist <= exact, dist - 1, exact + far)


def n_bins(max_distance: int, exact: int | None = None, ratio: float | None = None) -> int:
    """Number of bins needed for distances up to ``max_distance`` (at least 1)."""
    exact, ratio = EXACT if exact is None else exact, RATIO if ratio is None else ratio
    return int(_bin_of_distance(np.array([max(int(max_distance), 1)]), exact, ratio)[0]) + 1


def _bin_edges(K: int, exact: int, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest distance of each of the ``K`` bins (``lo > hi`` for a bin no distance falls in)."""
    top = exact
    while _bin_of_distance(np.array([top]), exact, ratio)[0] < K:     # the first distance past bin K - 1
        top *= 2
    b = _bin_of_distance(np.arange(1, top + 1), exact, ratio)
    lo = np.searchsorted(b, np.arange(K), side="left") + 1
    hi = np.searchsorted(b, np.arange(K), side="right")
    return lo, hi


def rises(lr) -> bool:
    """Whether the rate rises again after warmup (re-warming, restarts): drops of both signs."""
    return bool(np.any(drops(lr) < 0))


def drop_bins(lr, steps, K: int | None = None, exact: int | None = None, ratio: float | None = None,
              split_signs: bool | None = None) -> dict:
    """Per row: the drops before it, grouped by distance, for :mod:`fitters.multipower`.

    Returns arrays of shape (rows, K): ``D`` (summed drop of the bin), ``log_eta`` (drop-weighted mean
    of ``log lr[i]``) and ``S`` (drop-weighted mean of ``S_i(s)``); empty bins have ``D = 0``.
    ``split_signs`` (default: when the rate rises after warmup, :func:`rises`) groups falls and rises
    apart - (rows, 2K), the falls' K bins first - so that no bin nets a rise against a fall: mixed, the
    weighted means of a bin stand for neither (a restart's bins were off by 5e-3 nats; tests).  A drop to
    a zero rate with no update since it (:func:`_idle_drop`) is left out: its share is 0.

    Every bin of every row is a range of updates ``i``, so each sum is a difference of two prefix sums
    over the run (``S_i(s) = a[s] - a[i]`` makes its weighted mean ``a[s] - sum w a[i] / sum w``):
    O(rows x K) whatever the number of steps, for runs logged at every step.  Rounding in the prefix
    sums moves the loss reduction by < 1e-11 nats on the Luo et al. schedules (tests).
    """
    lr = check_lr(lr)
    steps = check_steps(lr, steps)
    exact, ratio = EXACT if exact is None else exact, RATIO if ratio is None else ratio
    need = n_bins(max(int(steps.max(initial=1)), 1), exact, ratio)
    K = need if K is None else int(K)
    if need > K:
        raise ValueError(f"step {int(steps.max())}: needs {need} bins, have {K}")
    d = drops(lr)
    split_signs = rises(lr) if split_signs is None else split_signs
    parts = (np.maximum(d, 0.0), np.minimum(d, 0.0)) if split_signs else (d,)
    a = area(np.where(np.arange(lr.size) < warmup_end(lr), 0.0, lr))   # S_i(s) has no warmup update in it
    log_lr = np.log(np.maximum(lr, TINY_LR))
    lo, hi = _bin_edges(K, exact, ratio)
    start = np.clip(steps[:, None] - hi[None, :], 0, None)     # updates start .. stop - 1 lie in the bin
    stop = np.maximum(np.clip(steps[:, None] - lo[None, :] + 1, 0, None), start)
    # A bin whose drops sum to less than the rounding of the prefix sums (1-ulp wiggles of a logged rate) is
    # left out: its means would be noise, and its share of the loss reduction is below 1e-12 of the run's.
    floor = ROUNDING * np.abs(d).sum()
    idle = _idle_drop(lr, steps)
    rows = np.flatnonzero(idle >= 0)
    idle_bin = _bin_of_distance(steps[rows] - idle[rows], exact, ratio)
    out = {"D": [], "log_eta": [], "S": []}
    for k, part in enumerate(parts):
        w = np.abs(part)
        sums = {}
        for name, x in (("D", part), ("w", w), ("wle", w * log_lr), ("wa", w * a[:-1]), ("n", part != 0)):
            sums[name] = _range_sums(x, start, stop)
            if k == 0:                                  # the falls: leave out each row's idle drop
                sums[name][rows, idle_bin] -= x[idle[rows]]
        ok = (sums["n"] > 0) & (sums["w"] > floor)
        wsum = np.where(ok, sums["w"], 1.0)
        out["D"].append(np.where(ok, sums["D"], 0.0))
        out["log_eta"].append(np.where(ok, sums["wle"] / wsum, 0.0))
        out["S"].append(np.where(ok, np.maximum(a[steps][:, None] - sums["wa"] / wsum, 0.0), 0.0))
    return {k: np.concatenate(v, axis=1) for k, v in out.items()}


def _idle_drop(lr: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Per row ``s``: the update ``i`` whose drop took the rate to zero, when every update from ``i`` to
    ``s - 1`` ran at rate 0 (-1 where there is none).

    No update has been made since that drop: ``S_i(s) = 0`` and its share ``G(eta_i^-gamma S_i(s))`` is
    ``G(0) = 0``, the limit of a rate decayed to ``eps -> 0`` (``x <= C s eps^(1 - gamma) -> 0``), and
    :func:`loss_drop_exact`'s value.  :func:`drop_bins` leaves it out: binned, its ``eta = 0`` against an
    area that is 0 only up to the prefix sums' rounding gave ``inf * 1e-12`` (NaN losses for every run
    decayed to zero, tests).
    """
    positive = np.where(lr > 0, np.arange(lr.size), -1)
    last = np.concatenate([[-1], np.maximum.accumulate(positive)])[steps]   # last positive update before s
    i = last + 1
    return np.where((last >= 0) & (i < steps), i, -1)


def _range_sums(x: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """``sum(x[start:stop])`` for every pair of the index arrays, from one prefix sum."""
    prefix = np.concatenate([[0.0], np.cumsum(x, dtype=float)])
    return prefix[stop] - prefix[start]


def _warn_if_choppy(lr: np.ndarray, d: np.ndarray, run) -> None:
    """Warn when a rate (drops ``d``) moves up and down at many steps: the loss reduction is then a difference
    of large sums over rises and falls, which the grouping of drops by distance cannot keep to its 1e-4 (and
    the law was not made for)."""
    total = np.abs(d).sum()
    if lr.size and total > CHOPPY * lr.max():
        warnings.warn(f"run {run!r}: its learning rate rises and falls by {total / lr.max():.0f}x its peak in all "
                      "(a noisy or cyclic rate); the multi-power law's grouped loss reduction may be off by more "
                      "than 1e-4 nats for it - pass the schedule itself rather than a noisy log", stacklevel=5)


def loss_drop_exact(lr, steps, C: float, beta: float, gamma: float) -> np.ndarray:
    """``LD(s) / B`` summed over every drop, no grouping (reference for tests; O(rows x steps))."""
    lr = check_lr(lr)
    steps = check_steps(lr, steps)
    d = drops(lr)
    a = area(lr)
    out = np.zeros(steps.size)
    for r, s in enumerate(steps):
        i = np.flatnonzero(d[:s])
        x = C * np.maximum(lr[i], TINY_LR) ** (-gamma) * (a[s] - a[i])
        out[r] = np.sum(d[i] * (1.0 - (1.0 + x) ** (-beta)))
    return out


def curve_inputs(lrs: Mapping[str, np.ndarray], runs: Sequence, steps: Sequence, kind: str,
                 lam: float = TISSUE_DECAY, K: int | None = None, warmup: str = "actual") -> dict:
    """The law inputs ``X`` for rows ``(runs[j], steps[j])`` given per-run learning rates ``lrs``.

    kind: ``"tissue"`` -> ``S1``, ``S2`` (rows,); ``"multipower"`` -> ``S1`` (rows,) and the
    drop bins ``D``, ``log_eta``, ``S`` (rows, K; rows, 2K when a run's rate rises after warmup: falls
    and rises binned apart, :func:`drop_bins`).  ``K`` defaults to what the longest row needs,
    rounded up to a multiple of 8 (fewer distinct shapes to compile).  ``warmup``: ``"actual"`` or
    ``"peak"`` (module docstring).
    """
    check_warmup(warmup)
    if kind not in ("tissue", "multipower"):
        raise ValueError(f"unknown whole-curve law kind {kind!r}")
    runs = np.asarray(runs, dtype=object)
    steps = np.asarray(steps)
    n = len(runs)
    rates = {}
    for run in dict.fromkeys(runs.tolist()):
        if run not in lrs:
            raise ValueError(f"run {run!r}: no learning-rate schedule for it")
        lr = check_lr(lrs[run], f"run {run!r}")
        rates[run] = warmup_at_peak(lr) if warmup == "peak" else lr
    S1 = np.zeros(n)
    if kind == "tissue":
        S2 = np.zeros(n)
    else:
        split = False
        for run, lr in rates.items():               # one pass over each run's drops: warning and sign split
            d = drops(lr)
            _warn_if_choppy(lr, d, run)
            split |= bool(np.any(d < 0))
        if K is None:
            K = n_bins(int(np.max(np.asarray(steps, float), initial=1)))
            K = 8 * -(-K // 8)
        D, LE, S = (np.zeros((n, 2 * K if split else K)) for _ in range(3))
    for run, lr in rates.items():
        rows = np.flatnonzero(runs == run)
        st = check_steps(lr, steps[rows], f"run {run!r}")
        S1[rows] = area(lr)[st]
        if kind == "tissue":
            S2[rows] = annealing_area(lr, st, lam)
        else:
            bins = drop_bins(lr, st, K, split_signs=split)
            D[rows], LE[rows], S[rows] = bins["D"], bins["log_eta"], bins["S"]
    if kind == "tissue":
        return {"S1": S1, "S2": S2}
    return {"S1": S1, "D": D, "log_eta": LE, "S": S}


def prepare(table, schedules=None, kind: str = "multipower", lam: float = TISSUE_DECAY, warmup: str = "actual") -> dict:
    """The inputs of a whole-curve law for the rows of ``table`` (columns ``run``, ``step``).

    schedules: a mapping run -> per-step learning rates (array, ``lr[i]`` for update ``i``), or None to
    take them from the table's own ``lr`` column, which must then hold every step of each run from 0.
    Schedule descriptions (``"cosine:peak=1e-3"``), a ``run, step, lr`` table and sparse ``lr`` logs are
    turned into such arrays by :func:`scaling.curves.learning_rates` before they reach this function.
    """
    missing = [c for c in ("run", "step") if c not in table.columns]
    if missing:
        raise ValueError(f"whole-curve laws need columns {missing}: the run and the step of every row")
    runs = table["run"].astype(str).to_numpy(object)
    steps = np.asarray(table["step"], float)
    if schedules is None:
        schedules = lr_column(table)
    elif not isinstance(schedules, Mapping):
        raise TypeError(f"schedules must map run -> per-step learning rates, got {type(schedules).__name__}")
    lrs = {str(k): v for k, v in schedules.items()}
    X = curve_inputs(lrs, runs, steps, kind, lam=lam, warmup=warmup)
    zero = np.flatnonzero(X["S1"] <= 0)
    if zero.size:
        j = zero[0]
        raise ValueError(f"row {j} (run {runs[j]!r}, step {int(steps[j])}): no learning-rate area before it (step 0, or "
                         "only zero rates); the whole-curve laws start after the first update - drop such rows")
    return X


def lr_column(table) -> dict:
    """Per-run arrays from an ``lr`` column that logs every step ``0 .. last`` of each run (else ValueError)."""
    if "lr" not in table.columns:
        raise ValueError("no learning rates: the table has no 'lr' column; give schedules= (a schedule per run, "
                         "or a table run, step, lr)")
    out = {}
    for run, g in table.groupby(table["run"].astype(str), sort=False):
        steps = np.asarray(g["step"], float)
        if not (steps.size and np.array_equal(np.sort(steps), np.arange(steps.size))):
            raise ValueError(f"run {run!r}: the 'lr' column does not hold every step from 0; give schedules= or "
                             "expand the log (scaling.curves.learning_rates)")
        out[run] = check_lr(np.asarray(g["lr"], float)[np.argsort(steps)], f"run {run!r}")
    return out
