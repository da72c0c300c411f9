"""The transformer: shapes, parameter counts, causality, numerics."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ladders import model as model_lib
from ladders.model import ModelConfig, count_leaves, init_params, param_counts

forward = jax.jit(model_lib.forward, static_argnums=2)
loss_fn = jax.jit(model_lib.loss_fn, static_argnums=2)

TINY = ModelConfig(width=32, depth=2, heads=2, context=32, compute_dtype="float32")


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("width,depth,heads", [(32, 2, 2), (48, 3, 4), (64, 1, 8)])
def test_param_counts_match_formula_and_arrays(width, depth, heads, tied):
    cfg = ModelConfig(width=width, depth=depth, heads=heads, context=16, tied=tied)
    counts = param_counts(cfg)
    d, f, v = width, 4 * width, 256
    assert counts["non_embedding"] == depth * (4 * d * d + 2 * d * f + 2 * d) + d
    assert counts["total"] == counts["non_embedding"] + (1 if tied else 2) * v * d
    assert count_leaves(jax.eval_shape(init_params, cfg, jax.random.key(0))) == counts["total"]


def test_forward_shapes_and_initial_loss_near_uniform():
    params = init_params(TINY, jax.random.key(0))
    tokens = jax.random.randint(jax.random.key(1), (3, TINY.context), 0, 256)
    logits = forward(params, tokens, TINY)
    assert logits.shape == (3, TINY.context, 256) and logits.dtype == jnp.float32
    batch = jax.random.randint(jax.random.key(2), (4, TINY.context + 1), 0, 256)
    assert abs(float(loss_fn(params, batch, TINY)) - math.log(256)) < 0.05


def test_causal_future_tokens_do_not_change_past_logits():
    params = init_params(TINY, jax.random.key(0))
    a = jax.random.randint(jax.random.key(1), (1, 16), 0, 256)
    b = a.at[0, 10:].set((a[0, 10:] + 7) % 256)
    la, lb = forward(params, a, TINY), forward(params, b, TINY)
    np.testing.assert_allclose(la[0, :10], lb[0, :10], atol=1e-5)
    assert not np.allclose(la[0, 10:], lb[0, 10:])


def test_bf16_compute_close_to_float32():
    params = init_params(TINY, jax.random.key(0))
    batch = jax.random.randint(jax.random.key(2), (4, TINY.context + 1), 0, 256)
    l32 = float(loss_fn(params, batch, TINY))
    l16 = float(loss_fn(params, batch, ModelConfig(**{**TINY.to_dict(), "compute_dtype": "bfloat16"})))
    assert abs(l32 - l16) < 0.02


def test_gelu_option_and_untied_head_shapes():
    cfg = ModelConfig(width=32, depth=1, heads=2, context=8, activation="gelu", tied=False)
    params = jax.eval_shape(init_params, cfg, jax.random.key(0))
    assert params["head"].shape == (32, 256)
    out = jax.eval_shape(forward, params, jax.ShapeDtypeStruct((1, 8), jnp.int32), cfg)
    assert out.shape == (1, 8, 256)


@pytest.mark.parametrize("kwargs,match", [
    ({"width": 30, "heads": 4}, "divisible"),
    ({"width": -32}, "positive"),
    ({"width": 24, "heads": 8}, "even"),
    ({"activation": "swish"}, "activation"),
    ({"compute_dtype": "float16"}, "compute_dtype"),
])
def test_bad_model_config_is_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**kwargs)


@pytest.mark.parametrize("spec,sa,sb,upcast", [
    ("btk,kn->btn", (2, 5, 8), (8, 6), False), ("btd,vd->btv", (2, 5, 8), (7, 8), False),
    ("bqhc,bkhc->bhqk", (2, 5, 3, 4), (2, 5, 3, 4), True), ("bhqk,bkhc->bqhc", (2, 3, 5, 5), (2, 5, 3, 4), True)])
def test_contract_is_einsum_with_its_gradient(spec, sa, sb, upcast):
    """The mixed-precision matmul: float32 in, the plain einsum and its gradient (to rounding);
    bfloat16 in, a bfloat16 result and gradients of the input dtypes."""
    a, b = jax.random.normal(jax.random.key(0), sa), jax.random.normal(jax.random.key(1), sb)
    f = lambda fn: jax.grad(lambda a, b: jnp.sum(jnp.sin(fn(a, b).astype(jnp.float32))), (0, 1))
    ours = f(lambda a, b: model_lib.contract(spec, a, b, upcast))(a, b)
    plain = f(lambda a, b: jnp.einsum(spec, a, b, precision="highest"))(a, b)
    for x, y in zip(ours, plain):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    a16, b16 = a.astype(jnp.bfloat16), b.astype(jnp.bfloat16)
    assert model_lib.contract(spec, a16, b16).dtype == jnp.bfloat16
    g16 = f(lambda a, b: model_lib.contract(spec, a, b, upcast))(a16, b16)
    assert [g.dtype for g in g16] == [jnp.bfloat16, jnp.bfloat16]
    for x, y in zip(g16, plain):
        np.testing.assert_allclose(np.asarray(x, np.float32), y, atol=0.1)
