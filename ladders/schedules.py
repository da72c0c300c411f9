"""Learning-rate schedules as plain data, and the one function that turns them into per-step LRs.

A schedule is a small frozen dataclass (``Constant``, ``Cosine``, ``Linear``, ``WSD``,
``MultiStep``, ``Rewarm``) that round-trips through a plain dict (``to_dict`` / :func:`schedule_from_dict`)
or a compact string (``str(s)`` / :func:`parse_schedule`, e.g.
``"wsd:peak=0.003,warmup=100,decay_fraction=0.2,decay_shape=linear,floor=0"``).
:func:`lr_array` is the single implementation of "the learning rate at update ``i``": the
trainer feeds it to the optimizer, the runs table logs it, and whole-curve laws
(Tissue et al. 2024; Luo et al. 2025) integrate it.

Conventions (``T`` total updates, indexed ``i = 0 .. T-1``; ``lr[i]`` is the rate of update
``i``, the one that takes the model from step ``i`` to step ``i + 1``):

* warmup ``W`` (all kinds): ``lr[i] = peak * (i + 1) / W`` for ``i < W``, so the last warmup
  update is at ``peak``.
* A decay phase of ``D`` updates starting at ``i0`` has progress ``p = (i - i0 + 1) / D`` in
  ``(0, 1]``; its last update is exactly at ``floor``.
* decay shapes ``f(p)`` (from 1 at ``p = 0`` to 0 at ``p = 1``), ``lr = floor + (peak - floor) f(p)``:
  ``linear`` ``1 - p``; ``cosine`` ``(1 + cos(pi p)) / 2`` (Loshchilov & Hutter 2017);
  ``sqrt`` ``1 - sqrt(p)`` (Hägele et al. 2024); ``exponential`` is geometric instead:
  ``lr = peak * (floor / peak) ** p`` (needs ``floor > 0``).
* ``Cosine`` / ``Linear``: decay over every update after warmup.  ``WSD``
  (warmup-stable-decay; Zhai et al. 2022, Hu et al. 2024 "MiniCPM"): ``peak`` until the last
  ``D = round(decay_fraction * T)`` updates, then decay.  ``MultiStep``: ``peak * gamma ** k``
  after ``k`` milestones have passed (update ``i`` uses the decayed rate once ``i >= milestone``).
* ``Rewarm``: a ``WSD`` over the first ``T1 = T - round(rewarm_fraction * T)`` updates (its
  warmup, if a fraction, is a fraction of ``T1``), then a second cycle over the last
  ``T2 = round(rewarm_fraction * T)`` updates: a linear re-warmup to ``rewarm_peak`` over
  ``rewarm_warmup`` updates (a float in (0, 1): a fraction of ``T2``) and a ``decay_shape``
  decay to ``floor`` (the ``classic`` FP-then-QAT pipeline: the FP phase has its own cooldown,
  the QAT phase re-warms; Dremov et al. 2025, "Compute-Optimal Quantization-Aware Training").
* ``warmup`` and ``milestones`` given as floats in ``(0, 1)`` are fractions of ``T``
  (rounded to whole updates), so one schedule fits every run of a ladder; integers are updates
  (a warmup in updates must be shorter than the run: :func:`lr_array` raises otherwise).
* ``floor`` is an absolute learning rate; :func:`scale_rates` multiplies every absolute rate
  (``peak``, ``floor``, ``rewarm_peak``) by one factor (a ladder's per-width learning rates).
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

import numpy as np

DECAY_SHAPES = ("linear", "cosine", "exponential", "sqrt")


def _is_fraction(value) -> bool:
    """Whether an update count (warmup, milestone) is given as a fraction of the run: a float in (0, 1)."""
    return isinstance(value, float) and 0.0 < value < 1.0


def _steps(value, total: int) -> int:
    """An update count given either as a whole number or as a fraction (:func:`_is_fraction`) of ``total``
    (:func:`_validate` has checked it is one of the two)."""
    return int(round(value * total)) if _is_fraction(value) else int(value)


@dataclass(frozen=True)
class Constant:
    """``peak`` after a linear warmup."""
    peak: float
    warmup: float = 0
    kind = "constant"


@dataclass(frozen=True)
class Cosine:
    """Warmup, then cosine decay from ``peak`` to ``floor`` over the remaining updates."""
    peak: float
    warmup: float = 0
    floor: float = 0.0
    kind = "cosine"


@dataclass(frozen=True)
class Linear:
    """Warmup, then linear decay from ``peak`` to ``floor`` over the remaining updates."""
    peak: float
    warmup: float = 0
    floor: float = 0.0
    kind = "linear"


@dataclass(frozen=True)
class WSD:
    """Warmup-stable-decay: ``peak`` until the last ``decay_fraction`` of updates, then decay."""
    peak: float
    warmup: float = 0
    decay_fraction: float = 0.2
    decay_shape: str = "linear"
    floor: float = 0.0
    kind = "wsd"


@dataclass(frozen=True)
class MultiStep:
    """Warmup, then ``peak * gamma ** k`` once ``k`` milestones have been passed."""
    peak: float
    warmup: float = 0
    milestones: tuple = (0.5, 0.75)
    gamma: float = 0.1
    kind = "multistep"


@dataclass(frozen=True)
class Rewarm:
    """A WSD cycle, then a second cycle (re-warmup to ``rewarm_peak``, decay) over the last
    ``rewarm_fraction`` of updates; ``rewarm_peak`` defaults to ``peak``."""
    peak: float
    warmup: float = 0
    decay_fraction: float = 0.2
    decay_shape: str = "linear"
    floor: float = 0.0
    rewarm_fraction: float = 0.2
    rewarm_peak: float | None = None
    rewarm_warmup: float = 0
    kind = "rewarm"

    def __post_init__(self):
        if self.rewarm_peak is None:
            object.__setattr__(self, "rewarm_peak", self.peak)


KINDS = {cls.kind: cls for cls in (Constant, Cosine, Linear, WSD, MultiStep, Rewarm)}


def split_steps(total: int, fraction: float) -> int:
    """The number of updates in the last ``fraction`` of ``total``: ``round(fraction * total)``
    (the WSD decay, the second cycle of ``Rewarm``, the QAT phase of a run)."""
    return int(round(fraction * total))


def decay_factor(p: np.ndarray, shape: str, peak: float, floor: float) -> np.ndarray:
    """Learning rate at decay progress ``p`` in ``[0, 1]`` for a decay ``shape`` (module docstring)."""
    p = np.asarray(p, dtype=np.float64)
    if shape == "linear":
        return floor + (peak - floor) * (1.0 - p)
    if shape == "cosine":
        return floor + (peak - floor) * 0.5 * (1.0 + np.cos(np.pi * p))
    if shape == "sqrt":
        return floor + (peak - floor) * (1.0 - np.sqrt(p))
    if shape == "exponential":
        if floor <= 0:
            raise ValueError("an exponential (geometric) decay needs floor > 0")
        return peak * (floor / peak) ** p
    raise ValueError(f"unknown decay_shape {shape!r}; expected one of {DECAY_SHAPES}")


def _decay(lr: np.ndarray, start: int, total: int, shape: str, peak: float, floor: float) -> None:
    """Overwrite ``lr[start:total]`` with a decay from ``peak`` to ``floor`` (in place)."""
    length = total - start
    if length > 0:
        p = np.arange(1, length + 1) / length
        lr[start:] = decay_factor(p, shape, peak, floor)


def warmup_steps(schedule, total_steps: int) -> int:
    """The number of warmup updates of ``schedule`` in a run of ``total_steps`` updates.

    A warmup given in updates must be shorter than a (non-empty) run: a ValueError says so.
    """
    s = parse_schedule(schedule)
    total = int(total_steps)
    warmup = _steps(s.warmup, total)
    if not _is_fraction(s.warmup) and 0 < total <= warmup:
        raise ValueError(f"{s.kind} schedule: warmup={s.warmup!r} updates is not shorter than the run "
                         f"({total} updates); give fewer updates or a fraction in (0, 1)")
    return min(warmup, total)


def rewarm_cycles(schedule) -> tuple[WSD, WSD]:
    """The two cycles of a ``Rewarm`` (module docstring): the WSD of its first ``T1`` updates (the
    classic pipeline's FP run) and the re-warmup and decay of its last ``T2``."""
    s = parse_schedule(schedule)
    return (WSD(s.peak, s.warmup, s.decay_fraction, s.decay_shape, s.floor),
            WSD(s.rewarm_peak, s.rewarm_warmup, 1.0, s.decay_shape, s.floor))


def lr_array(schedule, total_steps: int) -> np.ndarray:
    """The learning rate of every update ``0 .. total_steps - 1`` (float64 array).

    ``schedule`` is a schedule object, a dict (:func:`schedule_from_dict`) or a string
    (:func:`parse_schedule`).  See the module docstring for the exact definitions.
    """
    s = parse_schedule(schedule)
    total = int(total_steps)
    if total < 0:
        raise ValueError(f"total_steps must be >= 0, got {total_steps}")
    warmup = warmup_steps(s, total)
    lr = np.full(total, float(s.peak), dtype=np.float64)
    if s.kind in ("cosine", "linear"):
        _decay(lr, warmup, total, s.kind, s.peak, s.floor)
    elif s.kind == "wsd":
        n_decay = split_steps(total, s.decay_fraction)
        _decay(lr, max(total - n_decay, warmup), total, s.decay_shape, s.peak, s.floor)
    elif s.kind == "rewarm":
        second = split_steps(total, s.rewarm_fraction)
        first, again = rewarm_cycles(s)
        return np.concatenate([lr_array(first, total - second), lr_array(again, second)])
    elif s.kind == "multistep":
        i = np.arange(total)
        passed = sum((i >= _steps(m, total)).astype(np.int64) for m in s.milestones)
        lr = s.peak * float(s.gamma) ** np.asarray(passed, dtype=np.float64)
        lr = np.broadcast_to(lr, (total,)).astype(np.float64)
    if warmup > 0:
        lr[:warmup] = s.peak * np.arange(1, warmup + 1) / warmup
    return lr


STEP_FIELDS = ("warmup", "rewarm_warmup")       # update counts: whole numbers >= 0 or fractions in (0, 1)


def _check_number(kind: str, key: str, value) -> None:
    """A ValueError naming ``key`` unless ``value`` is a finite real number (not a bool, not a string)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{kind} schedule: {key}={value!r} is not a number")
    if not math.isfinite(value):
        raise ValueError(f"{kind} schedule: {key}={value!r} is not a finite number")


def _check_steps(kind: str, key: str, value) -> None:
    """A ValueError naming ``key`` unless ``value`` is a whole number of updates >= 0 or a fraction in (0, 1)."""
    _check_number(kind, key, value)
    if value < 0 or not (_is_fraction(value) or float(value) == int(value)):
        raise ValueError(f"{kind} schedule: {key}={value!r} must be a whole number of updates >= 0 "
                         "or a fraction in (0, 1) of the run")


def _check_fields(s) -> None:
    """Every field of ``s`` but ``decay_shape`` holds numbers of the right form; errors name the key."""
    for f in dataclasses.fields(s):
        value = getattr(s, f.name)
        if f.name == "milestones":
            for m in value:
                _check_steps(s.kind, "milestones", m)
        elif f.name in STEP_FIELDS:
            _check_steps(s.kind, f.name, value)
        elif f.name != "decay_shape":
            _check_number(s.kind, f.name, value)


def _validate(s):
    """``s`` itself when its fields make a schedule; else a ValueError naming the bad key and value."""
    _check_fields(s)
    if not s.peak > 0:
        raise ValueError(f"{s.kind} schedule: peak must be a positive finite number, got {s.peak!r}")
    floor = getattr(s, "floor", 0.0)
    if floor < 0 or floor > s.peak:
        raise ValueError(f"{s.kind} schedule: floor must be in [0, peak], got {floor!r}")
    if s.kind in ("wsd", "rewarm"):
        if not 0.0 <= s.decay_fraction <= 1.0:
            raise ValueError(f"{s.kind} schedule: decay_fraction must be in [0, 1], got {s.decay_fraction!r}")
        if s.decay_shape not in DECAY_SHAPES:
            raise ValueError(f"{s.kind} schedule: unknown decay_shape {s.decay_shape!r}; expected one of {DECAY_SHAPES}")
        if s.decay_shape == "exponential" and floor <= 0:
            raise ValueError(f"{s.kind} schedule: an exponential (geometric) decay needs floor > 0")
    if s.kind == "rewarm":
        if not 0.0 <= s.rewarm_fraction <= 1.0:
            raise ValueError(f"rewarm schedule: rewarm_fraction must be in [0, 1], got {s.rewarm_fraction!r}")
        if not s.rewarm_peak > 0 or s.rewarm_peak < floor:
            raise ValueError(f"rewarm schedule: rewarm_peak must be a finite number >= floor and > 0, got {s.rewarm_peak!r}")
    if s.kind == "multistep" and s.gamma < 0:
        raise ValueError(f"multistep schedule: gamma must be >= 0 (the factor per milestone), got {s.gamma!r}")
    return s


RATE_FIELDS = ("peak", "floor", "rewarm_peak")   # absolute learning rates (gamma, fractions are relative)


def scale_rates(schedule, factor: float) -> dict:
    """The schedule (as a dict) with every absolute learning rate (:data:`RATE_FIELDS`) times ``factor``
    (rounded to 12 significant digits, so 3e-3 * 4/3 is logged as 0.004)."""
    d = schedule_to_dict(parse_schedule(schedule))
    return schedule_to_dict(schedule_from_dict({k: float(f"{v * factor:.12g}") if k in RATE_FIELDS and v is not None
                                                else v for k, v in d.items()}))


def schedule_from_dict(d: dict):
    """Build a schedule from a plain dict such as ``{"kind": "cosine", "peak": 1e-3, "warmup": 100}``."""
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in KINDS:
        raise ValueError(f"unknown schedule kind {kind!r}; expected one of {sorted(KINDS)}")
    cls = KINDS[kind]
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"{kind} schedule: unknown key(s) {unknown}; allowed: {sorted(names)}")
    if "peak" not in d:
        raise ValueError(f"{kind} schedule: 'peak' (the peak learning rate) is required")
    if "milestones" in d:
        m = d["milestones"]
        d["milestones"] = tuple(m) if isinstance(m, (list, tuple)) else (m,)   # one milestone: "milestones=8000"
    return _validate(cls(**d))


def schedule_to_dict(s) -> dict:
    """The plain-dict form of a schedule (inverse of :func:`schedule_from_dict`)."""
    s = parse_schedule(s)
    out = {"kind": s.kind}
    for f in dataclasses.fields(s):
        v = getattr(s, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def _parse_value(text: str):
    if text.startswith("[") or ";" in text:
        return tuple(_parse_value(t) for t in text.strip("[]").split(";") if t)
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def parse_schedule(obj):
    """A schedule object from a schedule, a dict, or a string ``"kind:key=value,..."``.

    In the string form, list values (multistep milestones) are separated by ``;``:
    ``"multistep:peak=0.001,milestones=0.5;0.75,gamma=0.3"``.
    """
    if isinstance(obj, tuple(KINDS.values())):
        return _validate(obj)     # built directly (not from a dict or string): checked here
    if isinstance(obj, dict):
        return schedule_from_dict(obj)
    if isinstance(obj, str):
        kind, _, rest = obj.partition(":")
        d = {"kind": kind.strip()}
        for item in filter(None, rest.split(",")):
            key, eq, value = item.partition("=")
            if not eq:
                raise ValueError(f"bad schedule item {item!r} in {obj!r}; expected key=value")
            if key.strip() in d:
                raise ValueError(f"{d['kind']} schedule: key {key.strip()!r} is given more than once")
            d[key.strip()] = _parse_value(value.strip())
        return schedule_from_dict(d)
    raise TypeError(f"cannot make a schedule from {type(obj).__name__}")


def schedule_to_string(s) -> str:
    """Compact string form, e.g. ``"cosine:peak=0.001,warmup=0.1,floor=0"``."""
    d = schedule_to_dict(s)
    kind = d.pop("kind")
    items = []
    for k, v in d.items():
        v = ";".join(repr(x) for x in v) if isinstance(v, list) else (v if isinstance(v, str) else repr(v))
        items.append(f"{k}={v}")
    return kind + ":" + ",".join(items)
