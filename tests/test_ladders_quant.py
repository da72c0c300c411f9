"""Fake quantization: levels per bit width, straight-through and LSQ gradients, scale init,
optimizer state carried into QAT, quantized evaluation against full precision."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ladders import checkpoint, quant
from ladders.config import RunConfig
from ladders.model import ModelConfig, init_params, loss_fn
from ladders.train import make_optimizer, train_run

W = jax.random.normal(jax.random.key(0), (64, 6)) * jnp.linspace(0.5, 2.0, 6)   # (fan-in, channels)


@pytest.mark.parametrize("bits,expected", [
    (1, [-0.5, 0.5]), (2, [-1.5, -0.5, 0.5, 1.5]), (3, list(range(-4, 4))), (4, list(range(-8, 8))),
    (8, list(range(-128, 128))),
])
def test_levels_per_bit_width(bits, expected):
    np.testing.assert_array_equal(quant.levels(bits), expected)
    assert len(expected) == 2 ** bits
    s = jnp.full((1, 6), 0.3 / 2 ** (bits - 1))
    values = np.unique(np.asarray(quant.quantize(W, s, bits)) / np.asarray(s))
    assert set(np.round(values, 4)) <= set(expected)          # every output is a level
    if bits <= 4:
        assert len(values) == 2 ** bits                       # and every level is reached here
    # the training path computes the same values
    np.testing.assert_allclose(quant.fake_quant(W, s, bits), quant.quantize(W, s, bits), rtol=1e-6)


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
def test_straight_through_gradient(bits):
    s = quant.mse_scale(W, bits, 0) * 0.7                     # some weights fall outside the range
    c = jax.random.normal(jax.random.key(1), W.shape)
    grad = jax.grad(lambda w: jnp.sum(c * quant.fake_quant(w, s, bits)))(W)
    lo, hi, offset = quant.grid(bits)
    v = W / s
    inside = (v >= lo) & (v <= (hi + 1 if offset else hi))
    assert 0 < float(inside.mean()) < 1
    np.testing.assert_allclose(grad, np.where(inside, c, 0.0), atol=1e-6)


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
def test_lsq_scale_gradient(bits):
    """dL/ds = g * sum_channel dL/dw_q * (q - v inside the range, q outside), g = 1/sqrt(n_w Q_p)
    (Esser et al. 2020)."""
    s = quant.mse_scale(W, bits, 0) * 0.7
    c = jax.random.normal(jax.random.key(2), W.shape)
    grad = jax.grad(lambda s: jnp.sum(c * quant.fake_quant(W, s, bits)))(s)
    v = np.asarray(W / s, dtype=np.float64)
    q = np.asarray(quant.quantize(W, s, bits) / s, dtype=np.float64)
    lo, hi, offset = quant.grid(bits)
    inside = (v >= lo) & (v <= (hi + 1 if offset else hi))
    g = 1 / math.sqrt(W.shape[0] * quant.q_max(bits))
    expected = g * np.sum(np.asarray(c) * np.where(inside, q - v, q), axis=0, keepdims=True)
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6)


def test_scales_start_at_the_least_squares_quantizer():
    for bits in (1, 2, 4):
        s = quant.mse_scale(W, bits, 0)
        err = lambda s: np.sum(np.square(np.asarray(quant.quantize(W, s, bits) - W)), axis=0)
        absmax = jnp.max(jnp.abs(W), axis=0, keepdims=True) / quant.q_max(bits)
        lsq = 2 * jnp.mean(jnp.abs(W), axis=0, keepdims=True) / math.sqrt(quant.q_max(bits))
        assert np.all(err(s) <= err(absmax) + 1e-6) and np.all(err(s) <= err(lsq) + 1e-6)
    # 1 bit: levels +-s/2 with s/2 = mean|w| minimise the error; the candidate grid lands close
    np.testing.assert_allclose(quant.mse_scale(W, 1, 0) / 2, jnp.mean(jnp.abs(W), axis=0, keepdims=True), rtol=0.08)


def test_start_carries_the_optimizer_state_of_the_weights():
    cfg = ModelConfig(width=16, depth=1, heads=2, context=16, tied=False)
    params = init_params(cfg, jax.random.key(0))
    optimizer = make_optimizer(1.0, 0.9, 0.95, 1e-8, 0.1)
    state = optimizer.init(params)
    batch = jax.random.randint(jax.random.key(1), (4, 17), 0, 256)
    grads = jax.jit(jax.grad(loss_fn), static_argnums=2)(params, batch, cfg)
    _, state = jax.jit(optimizer.update)(grads, state, params)
    qc = quant.QuantConfig(bits=3, embed_bits=4)
    qstate, qopt = quant.start(params, state, qc, optimizer)
    assert qstate["model"] is params
    assert set(qstate["scales"]) == {"blocks", "embed", "head"}
    assert qstate["scales"]["embed"].shape == (256, 1) and qstate["scales"]["head"].shape == (1, 256)
    assert qstate["scales"]["blocks"][0]["wqkv"].shape == (1, 48)
    adam, new = state[1], qopt[1]
    assert int(new.count) == int(adam.count) == 1
    for old_tree, new_tree in ((adam.mu, new.mu), (adam.nu, new.nu)):
        jax.tree_util.tree_map(np.testing.assert_array_equal, new_tree["model"], old_tree)
        assert all(float(jnp.abs(x).max()) == 0 for x in jax.tree_util.tree_leaves(new_tree["scales"]))
    # embeddings in full precision: no scales for them
    assert set(quant.init_scales(params, quant.QuantConfig(3, 16))) == {"blocks"}


def test_bad_bit_widths_are_errors():
    for bits, embed in ((0, 4), (9, 9), (4, 12), (2.5, 4)):
        with pytest.raises(ValueError, match="bits"):
            quant.QuantConfig(bits, embed)


def test_quantized_evaluation_differs_from_fp_and_approaches_it_with_bits(tmp_path):
    cfg = ModelConfig(width=32, depth=2, heads=2, context=32)
    run = RunConfig(run="fp", model=cfg, tokens=96 * 8 * 32, batch_size=8, eval_every=96, eval_windows=8,
                    steps_per_dispatch=8, schedule={"kind": "cosine", "peak": 3e-3, "warmup": 8}, forks=(96,))
    train_run(run, tmp_path, progress=False)
    like = init_params(cfg, jax.random.key(0))
    optimizer = make_optimizer(1.0, 0.9, 0.95, 1e-8, 0.1)
    (params, _), _ = checkpoint.load(tmp_path / "fp", (like, optimizer.init(like)), checkpoint.fork_name(96))
    from ladders.corpus import load_corpus
    from ladders.data import validation_windows
    batch = jnp.asarray(validation_windows(load_corpus("default"), "prose", 32, 32))
    fp = float(loss_fn(params, batch, cfg))
    gaps = {}
    for bits in range(1, 9):
        qc = quant.QuantConfig(bits, bits)
        state = {"model": params, "scales": quant.init_scales(params, qc)}
        gaps[bits] = float(loss_fn(quant.quantize_params(state, qc), batch, cfg)) - fp
    # (measured: fp 3.20; gaps 0.074, 0.018, 0.0066 at 1-3 bits, |gap| < 0.001 from 4 bits on)
    assert fp < 3.5                                            # the model has learned something
    assert gaps[1] > gaps[2] > gaps[3] > 0.003                 # fewer bits, worse model
    assert max(abs(gaps[b]) for b in range(5, 9)) < min(0.002, gaps[3] / 2)   # 5-8 bits nearly lossless
