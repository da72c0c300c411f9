"""Fake quantization of the weights (QAT): learned per-output-channel scales, straight-through
gradients, pure JAX.

Quantizer (weight-only; the activations stay in the compute dtype).  For a weight ``w`` with a
scale ``s > 0`` shared by one output channel, ``v = w / s`` and

* ``B >= 3`` bits, integer grid:  ``q(v) = round(clip(v, -2^(B-1), 2^(B-1) - 1))``;
* ``B <= 2`` bits, symmetric grid without zero:
  ``q(v) = clip(floor(clip(v, -2^(B-1), 2^(B-1))), -2^(B-1), 2^(B-1) - 1) + 1/2``,
  i.e. the levels ``{-1.5, -0.5, 0.5, 1.5} s`` for 2 bits and ``{-s/2, s/2}`` for 1 bit
  (``sign(w) * alpha`` with ``alpha = s / 2``; ``s`` is always the spacing of adjacent levels),
  as ParetoQ's stretched grids (Liu et al. 2025) that Dremov et al. (2025) train with;

and the fake-quantized weight is ``w_q = s * q(w / s)``.  Gradients (LSQ, Esser et al. 2020,
"Learned Step Size Quantization"): the rounding is a straight-through estimator, so

    dL/dw = dL/dw_q * 1[v inside the clipping range]
    dL/ds = g * sum over the channel of dL/dw_q * (q - v if inside else q),
    g     = 1 / sqrt(n_w * Q_p)

with ``n_w`` the number of weights sharing the scale (the fan-in) and ``Q_p`` the largest
positive level in units of ``s`` (``2^(B-1) - 1``; ``2^(B-1) - 1/2`` without zero).  It is
written with ``stop_gradient`` (``v_c + stop_gradient(q - v_c)``, and ``s g + stop_gradient(s - s g)``
for the scale) so autodiff produces exactly these gradients; ``|s|`` is used, so an optimizer
step cannot make a scale negative.

What is quantized (:func:`quantize_params`): the four matrices of every block (``wqkv``,
``wo``, ``w_in``, ``w_out``; one scale per output column) at ``bits``; the token embedding (one
scale per row: per output channel of the tied head) and an untied ``head`` (per column) at
``embed_bits``, by default ``max(bits, 4)`` as in Dremov et al. (2025) (``16`` keeps them in
full precision).  Norm gains stay in float32.  The fake-quantized float32 weights then go
through the model's usual path (:func:`ladders.model.forward`: cast to the compute dtype, bf16 x
bf16 -> f32 contractions), so QAT composes with the bf16 matmuls; the values ``s q`` are the
quantized model up to the rounding of ``s q`` to bf16.

Scales start (:func:`init_scales`, when QAT begins) at the per-channel minimiser of the squared
quantization error ``sum (w_q - w)^2`` over 48 candidates ``c * max|w| / Q_p``,
``c`` in ``[0.05, 1]`` (log-spaced); for 1 bit that is close to ``2 mean|w|``.

A QAT training state is ``{"model": params, "scales": scales}``; :func:`start` turns an FP state
(parameters and optimizer state) into one, keeping the Adam moments and step count of the
weights and starting the scales' moments at zero.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

LINEAR = ("wqkv", "wo", "w_in", "w_out")
FULL_PRECISION = 16
CANDIDATES = np.geomspace(0.05, 1.0, 48)


@dataclass(frozen=True)
class QuantConfig:
    """Bit widths of the block matrices (``bits``, 1..8) and of the embedding / head (``embed_bits``,
    1..8, or 16 for full precision)."""
    bits: int
    embed_bits: int

    def __post_init__(self):
        if not isinstance(self.bits, int) or not 1 <= self.bits <= 8:
            raise ValueError(f"quantization bits must be an integer in 1..8, got {self.bits!r}")
        if not isinstance(self.embed_bits, int) or not (1 <= self.embed_bits <= 8 or self.embed_bits == FULL_PRECISION):
            raise ValueError(f"embedding bits must be an integer in 1..8 or 16 (full precision), got {self.embed_bits!r}")


def default_embed_bits(bits: int, min_bits: int = 4) -> int:
    """``max(bits, min_bits)``: the embedding and head width of Dremov et al. (2025) (``min_bits = 4``)."""
    return max(int(bits), int(min_bits))


def grid(bits: int) -> tuple[int, int, float]:
    """``(lo, hi, offset)``: levels are ``(k + offset) s`` for integers ``k`` in ``[lo, hi]``."""
    half = 2 ** (bits - 1)
    return -half, half - 1, (0.5 if bits <= 2 else 0.0)


def levels(bits: int) -> np.ndarray:
    """The quantization levels in units of the scale ``s`` (e.g. ``[-1.5, -0.5, 0.5, 1.5]`` for 2 bits)."""
    lo, hi, offset = grid(bits)
    return np.arange(lo, hi + 1) + offset


def q_max(bits: int) -> float:
    """``Q_p``: the largest positive level in units of ``s``."""
    _, hi, offset = grid(bits)
    return hi + offset


def _clip_and_round(v, bits: int):
    """``(v_c, q)``: ``v`` clipped to the grid's range and its level index plus offset."""
    lo, hi, offset = grid(bits)
    if offset:
        v_c = jnp.clip(v, lo, hi + 1)
        return v_c, jnp.clip(jnp.floor(v_c), lo, hi) + offset
    v_c = jnp.clip(v, lo, hi)
    return v_c, jnp.round(v_c)


def fake_quant(w, s, bits: int):
    """``s * q(w / s)`` with the LSQ gradients of the module docstring; ``s`` broadcasts against
    ``w`` (shape ``(1, n)`` for a ``(k, n)`` matrix, ``(V, 1)`` for the embedding)."""
    g = 1.0 / math.sqrt((w.size // s.size) * q_max(bits))
    s = jnp.abs(s)
    s = s * g + jax.lax.stop_gradient(s - s * g)
    v_c, q = _clip_and_round(w / s, bits)
    return (v_c + jax.lax.stop_gradient(q - v_c)) * s


def quantize(w, s, bits: int):
    """The quantized values ``s * q(w / s)`` (no gradient tricks; for evaluation and initialisation)."""
    return jnp.abs(s) * _clip_and_round(w / jnp.abs(s), bits)[1]


def mse_scale(w, bits: int, axis: int):
    """Per-channel scale (``keepdims`` along ``axis``, the input axis) minimising
    ``sum (quantize(w, s) - w)^2`` over the candidates ``c * max|w| / Q_p`` (scanned: memory of one ``w``)."""
    unit = jnp.maximum(jnp.max(jnp.abs(w), axis=axis, keepdims=True), 1e-12) / q_max(bits)

    def better(best, c):
        s = c * unit
        err = jnp.sum(jnp.square(quantize(w, s, bits) - w), axis=axis, keepdims=True)
        keep = best[1] <= err
        return (jnp.where(keep, best[0], s), jnp.where(keep, best[1], err)), None

    (scale, _), _ = jax.lax.scan(better, (unit, jnp.full_like(unit, jnp.inf)), jnp.asarray(CANDIDATES, w.dtype))
    return scale


@functools.partial(jax.jit, static_argnums=1)
def init_scales(params, qc: QuantConfig) -> dict:
    """Scales of every quantized array of ``params`` (the FP weights) by :func:`mse_scale`:
    ``{"blocks": [{"wqkv": (1, 3d), ...}, ...], "embed": (V, 1)[, "head": (1, V)]}`` (no
    embedding / head entries when ``embed_bits`` is 16)."""
    out = {"blocks": [{name: mse_scale(block[name], qc.bits, 0) for name in LINEAR} for block in params["blocks"]]}
    if qc.embed_bits != FULL_PRECISION:
        out["embed"] = mse_scale(params["embed"], qc.embed_bits, 1)
        if "head" in params:
            out["head"] = mse_scale(params["head"], qc.embed_bits, 0)
    return out


def quantize_params(state: dict, qc: QuantConfig) -> dict:
    """Model parameters with every quantized array replaced by :func:`fake_quant` of it, from a QAT
    state ``{"model": params, "scales": scales}``."""
    params, scales = state["model"], state["scales"]
    out = {name: (fake_quant(w, scales[name], qc.embed_bits) if name in scales else w)
           for name, w in params.items() if name != "blocks"}
    out["blocks"] = [{**block, **{name: fake_quant(block[name], s[name], qc.bits) for name in LINEAR}}
                     for block, s in zip(params["blocks"], scales["blocks"])]
    return out


def start(params, opt_state, qc: QuantConfig, optimizer):
    """``(state, opt_state)`` of a QAT phase from an FP ``params`` / ``opt_state``: scales from
    :func:`init_scales`; the optimizer state of the weights (and its step count) carried over,
    fresh (zero) state for the scales.  Works for any optax optimizer whose state mirrors the
    parameter tree."""
    state = {"model": params, "scales": init_scales(params, qc)}
    fresh = optimizer.init(state)
    old = dict(jax.tree_util.tree_flatten_with_path(opt_state)[0])
    model_key = jax.tree_util.DictKey("model")

    def carry(path, leaf):
        if model_key in path:  # mirrors a weight: the same path without the "model" level
            i = path.index(model_key)
            return old[path[:i] + path[i + 1:]]
        return old.get(path, leaf)  # step counts carry over; the scales' moments start fresh

    return state, jax.tree_util.tree_map_with_path(carry, fresh)
