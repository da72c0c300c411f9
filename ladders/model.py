"""A decoder-only transformer in pure JAX: parameters are a dict of arrays, the model is functions.

Architecture (GPT-2 layout with modern defaults, cf. nanoGPT / nanodo / Llama):

    x_0   = E[tokens]                                  token embedding, no position embedding
    x'    = x + Attn(RMSNorm(x))                       pre-norm residual blocks, ``depth`` of them
    x''   = x' + MLP(RMSNorm(x'))
    logits = RMSNorm(x_L) @ E^T   (tied)   or  @ W_head (untied)

* ``RMSNorm(x) = g * x / sqrt(mean(x^2) + eps)`` (Zhang & Sennrich 2019), computed in float32.
* Attention is causal multi-head attention with rotary position embeddings applied to queries and
  keys (RoPE; Su et al. 2021), ``head_dim = width / heads``, softmax in float32.
* ``MLP(x) = act(x W_in) W_out`` with hidden width ``mlp_ratio * width``; the default activation
  is ``relu^2`` (So et al. 2021, "Primer"), which measured 13 % faster than tanh-GELU on our
  2-core CPU; ``"gelu"`` is available.
* No biases.  Weights are stored in float32; with ``compute_dtype="bfloat16"`` they are cast
  to bfloat16 for the matmuls (mixed precision; norms, softmax and the loss stay float32).
  Every matmul goes through :func:`contract`: inputs in the compute dtype, products accumulated
  in float32, the result rounded to the compute dtype, and the same for the two matmuls of the
  gradient.  That is the arithmetic of a plain bf16 ``x @ w``, written so XLA:CPU sees
  ``bf16 x bf16 -> f32`` dots, which it runs natively (AMX / AVX512-BF16 in its YNNPACK fusions:
  4-5x its float32 rate on our CPU; the d128 train step went from 13.8k to 25.6k tokens/s,
  1.6x its float32 rate, ``benchmarks/trainer_speed.py``); a plain bf16 ``x @ w`` is upcast to
  a float32 dot, and so are the gradient's dots under plain autodiff (their cotangents are
  float32).  The attention einsums compute their ``dk`` / ``dv`` gradients (a batched
  contraction over the leading token axis of both operands) from float32 copies
  (``upcast_db``): XLA:CPU has no bf16 kernel for that layout (``DotThunk: Unsupported element type BF16 x BF16 = F32``).
* Initialisation: normal(0, 0.02) for every matrix, residual output projections scaled by
  ``1 / sqrt(2 depth)`` (GPT-2), norm gains 1.

Parameter counts (:func:`param_counts`), with ``d = width``, ``f = mlp_ratio * d``, ``V = vocab``:

    per block       = 4 d^2 (q, k, v, out)  +  2 d f (MLP)  +  2 d (two norm gains)
    non_embedding   = depth * per block + d (final norm gain)
    total           = non_embedding + V d (token embedding) [+ V d for an untied output head]

``non_embedding`` is the ``N`` of Kaplan et al. (2020) and of our runs table: it excludes the
token embedding and, when untied, the output head (there are no position embeddings).
"""
from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp

ACTIVATIONS = ("relu2", "gelu")
COMPUTE_DTYPES = ("float32", "bfloat16")


@dataclass(frozen=True)
class ModelConfig:
    """Shape and numerics of one transformer."""
    width: int = 128
    depth: int = 4
    heads: int = 4
    context: int = 128
    vocab: int = 256
    mlp_ratio: int = 4
    tied: bool = True
    activation: str = "relu2"
    compute_dtype: str = "bfloat16"
    rope_base: float = 10000.0

    def __post_init__(self):
        for name in ("width", "depth", "heads", "context", "vocab", "mlp_ratio"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"model {name} must be a positive integer, got {value!r}")
        if self.width % self.heads:
            raise ValueError(f"model width {self.width} is not divisible by heads {self.heads}")
        if (self.width // self.heads) % 2:
            raise ValueError(f"head dimension width/heads = {self.width // self.heads} must be even (rotary embeddings)")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; expected one of {ACTIVATIONS}")
        if self.compute_dtype not in COMPUTE_DTYPES:
            raise ValueError(f"unknown compute_dtype {self.compute_dtype!r}; expected one of {COMPUTE_DTYPES}")

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    def to_dict(self) -> dict:
        return asdict(self)


def param_counts(config: ModelConfig) -> dict:
    """``{"total": ..., "non_embedding": ..., "embedding": ...}`` (formulas in the module docstring)."""
    d, f, v = config.width, config.mlp_ratio * config.width, config.vocab
    per_block = 4 * d * d + 2 * d * f + 2 * d
    non_embedding = config.depth * per_block + d
    embedding = v * d if config.tied else 2 * v * d
    return {"total": non_embedding + embedding, "non_embedding": non_embedding, "embedding": embedding}


@functools.partial(jax.jit, static_argnums=0)
def init_params(config: ModelConfig, key) -> dict:
    """Random float32 parameters: ``{"embed", "blocks": [...], "final_norm"[, "head"]}`` (jitted)."""
    d, f = config.width, config.mlp_ratio * config.width
    std, out_std = 0.02, 0.02 / math.sqrt(2 * config.depth)
    keys = jax.random.split(key, config.depth + 2)

    def normal(k, shape, s):
        return s * jax.random.normal(k, shape, jnp.float32)

    blocks = []
    for k in keys[:config.depth]:
        kq, ko, ki, kw = jax.random.split(k, 4)
        blocks.append({
            "attn_norm": jnp.ones((d,), jnp.float32),
            "wqkv": normal(kq, (d, 3 * d), std),
            "wo": normal(ko, (d, d), out_std),
            "mlp_norm": jnp.ones((d,), jnp.float32),
            "w_in": normal(ki, (d, f), std),
            "w_out": normal(kw, (f, d), out_std),
        })
    params = {
        "embed": normal(keys[-2], (config.vocab, d), std),
        "blocks": blocks,
        "final_norm": jnp.ones((d,), jnp.float32),
    }
    if not config.tied:
        params["head"] = normal(keys[-1], (d, config.vocab), std)
    return params


def count_leaves(params) -> int:
    """Number of scalars in a parameter pytree (checks :func:`param_counts`)."""
    return sum(x.size for x in jax.tree_util.tree_leaves(params))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 3))
def contract(spec: str, a, b, upcast_db: bool = False):
    """``einsum(spec, a, b)`` accumulated in float32 and returned in ``a``'s dtype.

    ``spec`` is an explicit two-operand einsum (``"ab,bc->ac"``) whose every input index also
    appears in the other input or the output (no index summed inside one operand), so the
    gradient is two more contractions of the same kind:
    ``da = einsum("out,b->a", g, b)``, ``db = einsum("a,out->b", a, g)``.  ``upcast_db``
    computes ``db`` from float32 copies of ``a`` and ``g`` (for layouts without a bf16 kernel).
    """
    return jnp.einsum(spec, a, b, preferred_element_type=jnp.float32).astype(a.dtype)


def _contract_fwd(spec, a, b, upcast_db=False):
    return contract(spec, a, b, upcast_db), (a, b)


def _contract_bwd(spec, upcast_db, residuals, g):
    a, b = residuals
    ins, out = spec.split("->")
    sa, sb = ins.split(",")
    g = g.astype(a.dtype)
    da = jnp.einsum(f"{out},{sb}->{sa}", g, b, preferred_element_type=jnp.float32).astype(a.dtype)
    if upcast_db:
        a, g = a.astype(jnp.float32), g.astype(jnp.float32)
    db = jnp.einsum(f"{sa},{out}->{sb}", a, g, preferred_element_type=jnp.float32).astype(b.dtype)
    return da, db


contract.defvjp(_contract_fwd, _contract_bwd)


def dense(x, w):
    """``x @ w`` for ``x`` (B, T, k) and ``w`` (k, n) through :func:`contract`."""
    return contract("btk,kn->btn", x, w)


def rms_norm(x, gain, eps: float = 1e-6):
    """``gain * x / sqrt(mean(x^2) + eps)`` over the last axis, in float32, returned in x's dtype."""
    x32 = x.astype(jnp.float32)
    y = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + eps)
    return (y * gain).astype(x.dtype)


def rotary_tables(context: int, head_dim: int, base: float):
    """cos/sin tables ``(context, head_dim / 2)`` for rotary embeddings: angle ``t / base^(2i/h)``."""
    inv_freq = base ** (-jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim)
    angles = jnp.arange(context, dtype=jnp.float32)[:, None] * inv_freq[None, :]
    return jnp.cos(angles), jnp.sin(angles)


def apply_rotary(x, cos, sin):
    """Rotate pairs (first half, second half) of the last axis of ``x`` (B, T, H, h) by the angles."""
    x1, x2 = jnp.split(x, 2, axis=-1)
    cos = cos[None, :, None, :].astype(x.dtype)
    sin = sin[None, :, None, :].astype(x.dtype)
    return jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


def attention(block, x, cos, sin, config: ModelConfig):
    """Causal multi-head self-attention of ``x`` (B, T, d)."""
    b, t, d = x.shape
    h, hd = config.heads, config.head_dim
    q, k, v = jnp.split(dense(x, block["wqkv"]), 3, axis=-1)
    q = apply_rotary(q.reshape(b, t, h, hd), cos[:t], sin[:t])
    k = apply_rotary(k.reshape(b, t, h, hd), cos[:t], sin[:t])
    v = v.reshape(b, t, h, hd)
    scores = contract("bqhc,bkhc->bhqk", q, k, True).astype(jnp.float32) / math.sqrt(hd)
    causal = jnp.tril(jnp.ones((t, t), dtype=bool))
    scores = jnp.where(causal, scores, jnp.finfo(jnp.float32).min)
    weights = jax.nn.softmax(scores, axis=-1).astype(x.dtype)
    out = contract("bhqk,bkhc->bqhc", weights, v, True).reshape(b, t, d)
    return dense(out, block["wo"])


def mlp(block, x, activation: str):
    """``act(x W_in) W_out`` with ``act`` = relu^2 or tanh-GELU."""
    hidden = dense(x, block["w_in"])
    if activation == "relu2":
        hidden = jnp.square(jax.nn.relu(hidden))
    else:
        hidden = jax.nn.gelu(hidden, approximate=True)
    return dense(hidden, block["w_out"])


def forward(params, tokens, config: ModelConfig):
    """Logits (B, T, vocab) in float32 for integer ``tokens`` (B, T), T <= context."""
    dtype = jnp.dtype(config.compute_dtype)
    p = jax.tree_util.tree_map(lambda w: w.astype(dtype), params)
    cos, sin = rotary_tables(config.context, config.head_dim, config.rope_base)
    x = p["embed"][tokens]
    for block in p["blocks"]:
        x = x + attention(block, rms_norm(x, block["attn_norm"]), cos, sin, config)
        x = x + mlp(block, rms_norm(x, block["mlp_norm"]), config.activation)
    x = rms_norm(x, p["final_norm"])
    if config.tied:
        return contract("btd,vd->btv", x, p["embed"]).astype(jnp.float32)
    return dense(x, p["head"]).astype(jnp.float32)


def cross_entropy(logits, targets):
    """Mean next-token cross-entropy in nats per token: ``mean(logsumexp(z) - z[target])``."""
    logz = jax.nn.logsumexp(logits, axis=-1)
    picked = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    return jnp.mean(logz - picked)


def loss_fn(params, batch, config: ModelConfig):
    """Loss of a batch of windows (B, context + 1): predict tokens 1..T from tokens 0..T-1."""
    batch = batch.astype(jnp.int32)
    return cross_entropy(forward(params, batch[:, :-1], config), batch[:, 1:])
