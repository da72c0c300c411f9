"""``RunConfig``: everything that defines one training run, as plain JSON-able data.

A run trains ``model`` on ``tokens`` tokens (``steps = ceil(tokens / (batch_size * context))``
optimizer updates of ``batch_size`` windows of ``context`` predicted tokens each) drawn from
``corpus`` with domain weights ``mixture``, under learning-rate ``schedule``
(:mod:`ladders.schedules`), with AdamW (``b1``, ``b2``, ``eps``, decoupled ``weight_decay``)
and global-norm clipping at ``clip``.  Every ``eval_every`` updates (and at the end) the run
evaluates ``eval_windows`` fixed validation windows per domain and logs rows; it checkpoints at
every evaluation.  ``steps_per_dispatch`` updates run inside one compiled ``lax.scan``.

Quantization-aware training and shared trunks (absent from :meth:`RunConfig.to_dict` when unset,
so configs without them keep their fingerprints):

* ``quant = {"bits": B, "embed_bits": E, "fraction": f, "pipeline": "classic" | "fused"}``: the
  last ``round(f * steps)`` updates train with fake-quantized weights (:mod:`ladders.quant`)
  and evaluations from then on measure the quantized model.  The schedule must be the
  pipeline's: ``fused`` a ``wsd`` whose ``decay_fraction`` is ``f`` (QAT starts at the peak LR
  and carries the decay), ``classic`` a ``rewarm`` whose ``rewarm_fraction`` is ``f`` (the FP
  phase has its own cooldown, QAT re-warms).
* ``parent = {"run": id, "step": k}``: the run starts from the checkpoint that run ``id`` (in the
  same output folder) kept at step ``k`` instead of from step 0; its updates before ``k`` are
  the parent's.  A ladder only forks where the two runs' configs give the same first ``k``
  updates (same model, data, seed, optimizer and learning rates), so the result equals
  training from scratch, and ``parent`` is left out of the fingerprint.
* ``forks``: steps at which the run keeps a checkpoint for children (``fork-<step>.npz``; they
  are evaluation points too), also left out of the fingerprint.
* ``trunk``: the run is a shared FP trunk (constant learning rate), not a result of its own.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields

from .model import ModelConfig
from .quant import QuantConfig
from .schedules import parse_schedule, schedule_to_dict, split_steps

OPTIONAL = {"quant": None, "parent": None, "forks": [], "trunk": False}  # left out of to_dict when unset


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
    quant: dict | None = None
    parent: dict | None = None
    forks: tuple = ()
    trunk: bool = False

    def __post_init__(self):
        object.__setattr__(self, "schedule", schedule_to_dict(parse_schedule(self.schedule)))
        object.__setattr__(self, "forks", tuple(sorted({int(k) for k in self.forks})))
        if self.quant is not None:
            object.__setattr__(self, "quant", check_quant(self.run, self.quant, self.schedule))
        if self.parent is not None:
            if set(self.parent) != {"run", "step"} or not isinstance(self.parent["step"], int) or self.parent["step"] < 1:
                raise ValueError(f"run {self.run!r}: parent must be {{'run': id, 'step': k >= 1}}, got {self.parent!r}")
            if self.quant is not None and self.parent["step"] > self.qat_start:
                raise ValueError(f"run {self.run!r}: forks from its parent at step {self.parent['step']}, after its "
                                 f"QAT phase starts ({self.qat_start})")
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

    @property
    def qat_start(self) -> int | None:
        """The first update of the QAT phase (``steps - round(f * steps)``), or None without QAT."""
        if self.quant is None:
            return None
        return self.steps - split_steps(self.steps, self.quant["fraction"])

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        d["forks"] = list(self.forks)
        for name, default in OPTIONAL.items():
            if d[name] == default:
                del d[name]
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
        for name in ("run", "parent", "forks"):
            d.pop(name, None)
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:8]


def tokens_label(tokens: int) -> str:
    """A short token count for run ids: ``1.23M``, ``20k``."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if tokens >= scale:
            return f"{tokens / scale:.3g}{suffix}"
    return str(tokens)


def check_quant(run: str, quant: dict, schedule: dict) -> dict:
    """The validated ``quant`` setting of a run (see the module docstring); errors name the run."""
    keys = {"bits", "embed_bits", "fraction", "pipeline"}
    if not isinstance(quant, dict) or set(quant) != keys:
        raise ValueError(f"run {run!r}: quant must have exactly the keys {sorted(keys)}, got {quant!r}")
    QuantConfig(quant["bits"], quant["embed_bits"])  # checks the bit widths
    f = quant["fraction"]
    if not (isinstance(f, (int, float)) and 0 < f <= 1):
        raise ValueError(f"run {run!r}: QAT fraction must be in (0, 1], got {f!r}")
    need = {"fused": ("wsd", "decay_fraction"), "classic": ("rewarm", "rewarm_fraction")}
    if quant["pipeline"] not in need:
        raise ValueError(f"run {run!r}: QAT pipeline must be one of {sorted(need)}, got {quant['pipeline']!r}")
    kind, key = need[quant["pipeline"]]
    if schedule["kind"] != kind or schedule[key] != f:
        raise ValueError(f"run {run!r}: a {quant['pipeline']} QAT run needs a {kind} schedule with {key} = {f} "
                         f"(the QAT fraction), got {schedule}")
    return dict(quant, fraction=float(f))


def as_run_config(obj) -> RunConfig:
    return obj if isinstance(obj, RunConfig) else RunConfig.from_dict(obj)
