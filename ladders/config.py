"""``RunConfig``: everything that defines one training run, as plain JSON-able data.

A run trains ``model`` on ``tokens`` tokens (``steps = ceil(tokens / (batch_size * context))``
optimizer updates of ``batch_size`` windows of ``context`` predicted tokens each) drawn from
``corpus`` with domain weights ``mixture``, under learning-rate ``schedule``
(:mod:`ladders.schedules`), with AdamW (``b1``, ``b2``, ``eps``, decoupled ``weight_decay``)
and global-norm clipping at ``clip``.  Every ``eval_every`` updates (and at the end) the run
evaluates ``eval_windows`` fixed validation windows per domain and logs rows; it checkpoints at
every evaluation.  ``steps_per_dispatch`` updates run inside one compiled ``lax.scan``.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields

from .model import ModelConfig
from .schedules import parse_schedule, schedule_to_dict


@dataclass(frozen=True)
class RunConfig:
    run: str
    model: ModelConfig
    tokens: int
    schedule: dict = field(default_factory=lambda: {"kind": "cosine", "peak": 3e-3, "warmup": 0.05, "floor": 3e-4})
    mixture: dict = field(default_factory=lambda: {"code": 1 / 3, "prose": 1 / 3, "comments": 1 / 3})
    corpus: object = "default"
    batch_size: int = 16
    seed: int = 0
    eval_every: int = 100
    eval_windows: int = 64
    steps_per_dispatch: int = 8
    weight_decay: float = 0.1
    clip: float = 1.0
    b1: float = 0.9
    b2: float = 0.95
    eps: float = 1e-8

    def __post_init__(self):
        object.__setattr__(self, "schedule", schedule_to_dict(parse_schedule(self.schedule)))
        for name in ("tokens", "batch_size", "eval_every", "eval_windows", "steps_per_dispatch"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"run {self.run!r}: {name} must be a positive integer, got {value!r}")
        for name in ("weight_decay", "clip", "b1", "b2", "eps"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"run {self.run!r}: {name} must be a finite number >= 0, got {value!r}")

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.model.context

    @property
    def steps(self) -> int:
        return max(1, math.ceil(self.tokens / self.tokens_per_step))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        d = dict(d)
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"run config: unknown key(s) {unknown}; allowed: {sorted(names)}")
        model = d.get("model", {})
        d["model"] = model if isinstance(model, ModelConfig) else ModelConfig(**model)
        return cls(**d)

    def fingerprint(self) -> str:
        """Short hash of everything but the run id: equal configs give equal fingerprints."""
        d = self.to_dict()
        d.pop("run")
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:8]


def as_run_config(obj) -> RunConfig:
    return obj if isinstance(obj, RunConfig) else RunConfig.from_dict(obj)
