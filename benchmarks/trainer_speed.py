"""Tokens/s of the ladder trainer's jitted train step against a naive JAX step, same process.

Model: byte-level GPT, d_model 128, 4 layers, 4 heads, context 128, batch 16 (as in DESIGN.md).

* ``ladders``: :func:`ladders.train.make_train_steps`: ``--k`` updates per dispatch in one
  ``lax.scan`` (8 by default), donated buffers, bf16 matmuls, relu^2 MLP.
* ``naive``: the textbook JAX step: ``jax.jit(value_and_grad + optax.adamw)``, one update per
  dispatch, float32, tanh-GELU, no donation.
* ``ladders-f32-gelu``: our step with the naive numerics, isolating the effect of dispatch.
* ``torch-eager`` (only when PyTorch is installed; an optional benchmark dependency): the same
  model math written in PyTorch (RMSNorm, rotary, causal attention, relu^2, tied embeddings,
  AdamW + clipping), float32, eager; ``--torch-compile`` adds ``torch.compile`` of it.

Each is warmed up (compiled) first; then ``--seconds`` of steps are timed with
``block_until_ready``.  Prints tokens/s, the ratio to the naive step, the achieved model
FLOP/s (6 N_total tokens/s plus attention 12 L T d per token; Kaplan et al. 2020) and the
compile time.  Run:  ``python benchmarks/train_step.py [--seconds 10] [--k 8]``.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ladders.model import ModelConfig, init_params, loss_fn, param_counts
from ladders.train import make_optimizer, make_train_steps


def flops_per_token(cfg: ModelConfig) -> float:
    """6 N (all weights, incl. the tied head matmul) + 6 L T d (attention scores and values, fwd+bwd)."""
    return 6 * param_counts(cfg)["total"] + 6 * cfg.depth * cfg.context * cfg.width


def bench_ladders(cfg: ModelConfig, batch: int, k: int, seconds: float):
    step = make_train_steps(cfg, 1.0, 0.9, 0.95, 1e-8, 0.1)
    params = init_params(cfg, jax.random.key(0))
    opt_state = make_optimizer(1.0, 0.9, 0.95, 1e-8, 0.1).init(params)
    rng = np.random.default_rng(0)
    batches = jnp.asarray(rng.integers(0, 256, (k, batch, cfg.context + 1)), dtype=jnp.int32)
    lrs, active = jnp.full((k,), 1e-3, jnp.float32), jnp.ones((k,), bool)
    t0 = time.perf_counter()
    params, opt_state, losses = step(params, opt_state, batches, lrs, active)
    losses.block_until_ready()
    compile_s = time.perf_counter() - t0
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        params, opt_state, losses = step(params, opt_state, batches, lrs, active)
        n += k
    losses.block_until_ready()
    return n * batch * cfg.context / (time.perf_counter() - t0), compile_s


def bench_naive(cfg: ModelConfig, batch: int, seconds: float):
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-3, b1=0.9, b2=0.95, weight_decay=0.1))

    @jax.jit
    def step(params, opt_state, batch_tokens):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch_tokens, cfg)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    params = init_params(cfg, jax.random.key(0))
    opt_state = optimizer.init(params)
    tokens = jnp.asarray(np.random.default_rng(0).integers(0, 256, (batch, cfg.context + 1)), dtype=jnp.int32)
    t0 = time.perf_counter()
    params, opt_state, loss = step(params, opt_state, tokens)
    loss.block_until_ready()
    compile_s = time.perf_counter() - t0
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        params, opt_state, loss = step(params, opt_state, tokens)
        n += 1
    loss.block_until_ready()
    return n * batch * cfg.context / (time.perf_counter() - t0), compile_s


def bench_torch(cfg: ModelConfig, batch: int, seconds: float, compile_model: bool = False):
    """The same transformer and update in PyTorch (float32), one step per Python call."""
    import math

    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    d, h, L, T, V = cfg.width, cfg.heads, cfg.depth, cfg.context, cfg.vocab
    hd = d // h

    def normal(*shape, std=0.02):
        return torch.nn.Parameter(torch.randn(*shape) * std)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = normal(V, d)
            self.blocks = torch.nn.ModuleList()
            for _ in range(L):
                blk = torch.nn.Module()
                blk.attn_norm, blk.mlp_norm = torch.nn.Parameter(torch.ones(d)), torch.nn.Parameter(torch.ones(d))
                blk.wqkv, blk.wo = normal(d, 3 * d), normal(d, d, std=0.02 / math.sqrt(2 * L))
                blk.w_in, blk.w_out = normal(d, 4 * d), normal(4 * d, d, std=0.02 / math.sqrt(2 * L))
                self.blocks.append(blk)
            self.final_norm = torch.nn.Parameter(torch.ones(d))
            inv = 10000.0 ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)
            ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]
            self.register_buffer("cos", ang.cos()[None, :, None, :])
            self.register_buffer("sin", ang.sin()[None, :, None, :])
            self.register_buffer("mask", torch.ones(T, T, dtype=torch.bool).tril())

        @staticmethod
        def norm(x, g):
            return g * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)

        def rot(self, x):
            x1, x2 = x.chunk(2, dim=-1)
            return torch.cat([x1 * self.cos - x2 * self.sin, x1 * self.sin + x2 * self.cos], dim=-1)

        def forward(self, tokens):
            b, t = tokens.shape
            x = self.embed[tokens]
            for blk in self.blocks:
                q, k, v = (self.norm(x, blk.attn_norm) @ blk.wqkv).split(d, dim=-1)
                q, k = self.rot(q.view(b, t, h, hd)), self.rot(k.view(b, t, h, hd))
                scores = torch.einsum("bqhc,bkhc->bhqk", q, k) / math.sqrt(hd)
                w = scores.masked_fill(~self.mask, float("-inf")).softmax(-1)
                x = x + torch.einsum("bhqk,bkhc->bqhc", w, v.view(b, t, h, hd)).reshape(b, t, d) @ blk.wo
                x = x + F.relu(self.norm(x, blk.mlp_norm) @ blk.w_in).square() @ blk.w_out
            return self.norm(x, self.final_norm) @ self.embed.T

    model = Model()
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    fwd = torch.compile(model) if compile_model else model
    tokens = torch.from_numpy(np.random.default_rng(0).integers(0, V, (batch, T + 1)))

    def step():
        logits = fwd(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, V), tokens[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    t0 = time.perf_counter()
    step()
    compile_s = time.perf_counter() - t0
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 1
    return n * batch * T / (time.perf_counter() - t0), compile_s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--k", type=int, default=8, help="updates per dispatch for the ladders step")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--only-ladders", action="store_true", help="time only our step (for other shapes)")
    ap.add_argument("--torch-compile", action="store_true", help="also time torch.compile of the PyTorch reference")
    args = ap.parse_args(argv)
    ours = ModelConfig(width=args.width, depth=args.depth, heads=args.heads, context=args.context, vocab=256,
                       activation="relu2", compute_dtype="bfloat16")
    plain = replace(ours, activation="gelu", compute_dtype="float32")
    print(f"devices: {jax.devices()}  model: {ours}  batch {args.batch}")
    results = {}
    if not args.only_ladders:
        results["naive"] = bench_naive(plain, args.batch, args.seconds)
        results["ladders-f32-gelu"] = bench_ladders(plain, args.batch, args.k, args.seconds)
    results["ladders"] = bench_ladders(ours, args.batch, args.k, args.seconds)
    if not args.only_ladders:
        try:
            import torch  # noqa: F401 - optional benchmark dependency
        except ImportError:
            print("PyTorch not installed: no torch reference")
        else:
            results["torch-eager"] = bench_torch(ours, args.batch, args.seconds)
            if args.torch_compile:
                results["torch-compile"] = bench_torch(ours, args.batch, args.seconds, compile_model=True)
    base = results.get("naive", results["ladders"])[0]
    for name, (tps, compile_s) in results.items():
        cfg = plain if name in ("naive", "ladders-f32-gelu") else ours
        gflops = tps * flops_per_token(cfg) / 1e9
        print(f"{name:18s} {tps:9.0f} tokens/s  x{tps / base:4.2f} vs naive  {gflops:6.1f} GFLOP/s  compile {compile_s:5.1f} s")
    if "torch-eager" in results:
        print(f"ladders / torch-eager = {results['ladders'][0] / results['torch-eager'][0]:.2f}")
    if "torch-compile" in results:
        print(f"ladders / torch-compile = {results['ladders'][0] / results['torch-compile'][0]:.2f}")


if __name__ == "__main__":
    main()
